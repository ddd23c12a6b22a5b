#include "agent/async/destination.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "common/file_util.h"
#include "common/unique_fd.h"

namespace thaw::agent {
namespace json = boost::json;

namespace {

// The payload or response as JSON when it is JSON, else as a string.
json::value as_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return json::string(text);
  return v;
}

Result<void> post_unix(const Destination& d, std::string_view record,
                       std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for destination unix://{}", d.path);
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, d.path.c_str(), d.path.size());  // length checked by parse_destination
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return Error::from_errno("connecting to the destination socket {}", d.path);
  }
  std::string msg = fmt::format(
      "POST {} HTTP/1.1\r\nHost: thaw\r\nContent-Type: application/json\r\nUser-Agent: thawd\r\n"
      "Content-Length: {}\r\nConnection: close\r\n\r\n",
      d.http_path, record.size());
  msg += record;
  std::string_view out = msg;
  while (!out.empty()) {
    ssize_t n = ::send(fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("sending the record to unix://{}:{}", d.path, d.http_path);
    out.remove_prefix(static_cast<size_t>(n));
  }
  std::string in;
  char buf[4096];
  while (in.find("\r\n") == std::string::npos && in.size() < sizeof buf) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return Error::from_errno("waiting {} ms for unix://{}:{} to answer", timeout.count(), d.path,
                               d.http_path);
    }
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  // "HTTP/1.1 204 No Content": any 2xx is a delivery.
  if (in.size() < 12 || !in.starts_with("HTTP/1.") || in[9] != '2') {
    return Error::format("unix://{}:{} answered '{}' instead of a 2xx status", d.path, d.http_path,
                         in.substr(0, std::min(in.find("\r\n"), size_t{80})));
  }
  return Ok();
}

}  // namespace

std::string iso8601_utc(uint64_t epoch_ms) {
  std::time_t secs = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}Z", tm, static_cast<int>(epoch_ms % 1000));
}

std::string destination_record(const QueuedEvent& e, std::string_view condition,
                               const AttemptOutcome* last, std::string_view function_arn,
                               uint64_t now_ms) {
  json::object r{
      {"version", "1.0"},
      {"timestamp", iso8601_utc(now_ms)},
      {"requestContext", json::object{{"requestId", e.request_id},
                                      {"functionArn", function_arn},
                                      {"condition", condition},
                                      {"approximateInvokeCount", e.attempts}}},
      {"requestPayload", as_json(e.payload)}};
  if (last != nullptr) {
    json::object rc{{"statusCode", last->status_code},
                    {"executedVersion", last->executed_version}};
    if (!last->function_error.empty()) rc["functionError"] = last->function_error;
    r["responseContext"] = std::move(rc);
    r["responsePayload"] = as_json(last->body);
  }
  return json::serialize(r);
}

Result<void> deliver_record(const Destination& d, const std::string& request_id,
                            std::string_view record, std::chrono::milliseconds timeout) {
  if (d.kind == Destination::Kind::kUnixHttp) return post_unix(d, record, timeout);
  // The directory must exist: thawd never creates directories a caller names.
  std::string path = d.path + "/" + request_id + ".json";
  auto written = write_file_atomic(
      path, {reinterpret_cast<const uint8_t*>(record.data()), record.size()}, 0640);
  if (!written) return written.error().context("writing to the destination directory " + d.path);
  return Ok();
}

}  // namespace thaw::agent
