// A blocking HTTP/1.1 keep-alive client on a Unix socket, the way a
// scheduler talks to thawd: one request outstanding per connection,
// Content-Length bodies. thaw-bench runs one per load thread; it is also
// what drives thaw-native, so both targets see identical traffic.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::bench {

struct HttpResult {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The value of a header (case-insensitive name), empty when absent.
  std::string header(std::string_view name) const;
};

class UdsHttpClient {
 public:
  static Result<UdsHttpClient> connect(const std::string& socket_path);

  // Sends one request and reads its response. An error means the connection
  // is unusable (closed, malformed response); reconnect to go on.
  Result<HttpResult> call(std::string_view method, std::string_view target, std::string_view body,
                          const std::vector<std::pair<std::string, std::string>>& headers = {});
  int fd() const { return fd_.get(); }

 private:
  explicit UdsHttpClient(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<void> fill();

  UniqueFd fd_;
  std::string path_;
  std::string in_;
  std::string out_;
};

// Parses one response head ("HTTP/1.1 200 OK\r\nName: v\r\n..."), without
// the blank line. Pure, for the tests.
Result<HttpResult> parse_response_head(std::string_view head);

}  // namespace thaw::bench
