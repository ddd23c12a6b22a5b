// thawctl's HTTP/1.1 client for thawd's API: one request per connection,
// over the agent's Unix socket (--socket, THAW_SOCKET, default
// /run/thaw/thaw.sock) or a TCP endpoint (--endpoint-url http://HOST:PORT),
// with Boost.Beast. Used by every thawctl verb.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http/verb.hpp>

#include "common/result.h"

namespace thaw::thawctl {

struct Endpoint {
  bool tcp = false;
  std::string socket_path;  // when !tcp
  std::string host;         // when tcp
  std::string port;
  std::string describe() const;  // for errors: the socket path or the URL
};

// "http://127.0.0.1:9000" (https is refused: thawd speaks plain HTTP on loopback).
Result<Endpoint> parse_endpoint_url(std::string_view url);

struct ApiResponse {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The first header of that name (case-insensitive), or "".
  std::string header(std::string_view name) const;
};

class ApiClient {
 public:
  ApiClient(Endpoint endpoint, std::chrono::seconds read_timeout)
      : endpoint_(std::move(endpoint)), read_timeout_(read_timeout) {}

  // Sends one request and reads the whole response. An error means no HTTP
  // answer (cannot connect, connection dropped, timeout): exit status 255.
  Result<ApiResponse> call(boost::beast::http::verb method, const std::string& target,
                           const std::string& body = "",
                           const std::vector<std::pair<std::string, std::string>>& headers = {});
  const Endpoint& endpoint() const { return endpoint_; }

 private:
  Endpoint endpoint_;
  std::chrono::seconds read_timeout_;
};

// Percent-encodes a path segment or query value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);

}  // namespace thaw::thawctl
