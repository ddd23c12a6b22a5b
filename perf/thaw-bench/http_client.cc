// Blocking keep-alive HTTP/1.1 over a Unix socket; see http_client.h.
#include "perf/thaw-bench/http_client.h"

#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <charconv>
#include <cstring>

namespace thaw::bench {
namespace {

// Lambda's 6 MB response plus headroom; a response head beyond 64 KB is
// not one thawd would send.
constexpr size_t kMaxBodyBytes = 8u << 20;
constexpr size_t kMaxHeadBytes = 64u << 10;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string HttpResult::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return {};
}

Result<HttpResult> parse_response_head(std::string_view head) {
  HttpResult r;
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    return Error::format("response status line '{}' is not 'HTTP/1.x NNN reason'",
                         status_line.substr(0, 64));
  }
  auto [p, ec] = std::from_chars(status_line.data() + 9, status_line.data() + 12, r.status);
  if (ec != std::errc() || p != status_line.data() + 12 || r.status < 100 || r.status > 599) {
    return Error::format("response status code '{}' is not a number in 100..599",
                         status_line.substr(9, 3));
  }
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 2);
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return Error::format("response header line '{}' has no 'Name:'", line.substr(0, 64));
    }
    r.headers.emplace_back(std::string(line.substr(0, colon)), std::string(trim(line.substr(colon + 1))));
  }
  return r;
}

Result<UdsHttpClient> UdsHttpClient::connect(const std::string& socket_path) {
  sockaddr_un a{};
  if (socket_path.size() >= sizeof a.sun_path) {
    return Error::format("socket path {} is longer than {} bytes; use a shorter --socket",
                         socket_path, sizeof a.sun_path - 1);
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket(AF_UNIX)");
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, socket_path.c_str(), socket_path.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return Error::from_errno("connect {}", socket_path);
  }
  return UdsHttpClient(std::move(fd), socket_path);
}

Result<void> UdsHttpClient::fill() {
  char buf[65536];
  ssize_t n;
  do {
    n = ::recv(fd_.get(), buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Error::from_errno("recv from {}", path_);
  if (n == 0) return Error::format("{} closed the connection mid-response", path_);
  in_.append(buf, static_cast<size_t>(n));
  return {};
}

Result<HttpResult> UdsHttpClient::call(std::string_view method, std::string_view target,
                                       std::string_view body,
                                       const std::vector<std::pair<std::string, std::string>>& headers) {
  out_.clear();
  out_.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: thaw\r\n");
  for (const auto& [k, v] : headers) out_.append(k).append(": ").append(v).append("\r\n");
  out_.append("Content-Type: application/json\r\nContent-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n\r\n")
      .append(body);
  size_t sent = 0;
  while (sent < out_.size()) {
    ssize_t n = ::send(fd_.get(), out_.data() + sent, out_.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("send to {}", path_);
    sent += static_cast<size_t>(n);
  }
  size_t end;
  while ((end = in_.find("\r\n\r\n")) == std::string::npos) {
    if (in_.size() > kMaxHeadBytes) {
      return Error::format("response head from {} exceeds {} bytes", path_, kMaxHeadBytes);
    }
    if (auto f = fill(); !f) return f.error();
  }
  auto parsed = parse_response_head(std::string_view(in_).substr(0, end + 2));
  if (!parsed) return parsed.error().context(path_);
  HttpResult r = std::move(*parsed);
  size_t length = 0;
  std::string cl = r.header("Content-Length");
  if (!cl.empty()) {
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), length);
    if (ec != std::errc() || p != cl.data() + cl.size()) {
      return Error::format("Content-Length '{}' from {} is not a number", cl, path_);
    }
  } else if (!r.header("Transfer-Encoding").empty()) {
    return Error::format("{} sent a chunked response; thaw-bench reads Content-Length bodies only",
                         path_);
  }
  if (length > kMaxBodyBytes) {
    return Error::format("response body of {} bytes from {} exceeds the {} byte limit", length,
                         path_, kMaxBodyBytes);
  }
  while (in_.size() < end + 4 + length) {
    if (auto f = fill(); !f) return f.error();
  }
  r.body = in_.substr(end + 4, length);
  in_.erase(0, end + 4 + length);
  return r;
}

}  // namespace thaw::bench
