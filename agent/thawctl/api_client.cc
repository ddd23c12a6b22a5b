#include "agent/thawctl/api_client.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <cstring>

// GCC's -Wmaybe-uninitialized misfires inside Beast's boost::optional use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#pragma GCC diagnostic pop

#include <fmt/format.h>

namespace thaw::thawctl {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Responses carry at most a 6 MB Invoke payload or a log chunk; leave room.
constexpr uint64_t kMaxResponseBytes = 64u << 20;

template <typename Stream>
Result<ApiResponse> exchange(Stream& stream, const Endpoint& ep, std::chrono::seconds timeout,
                             http::request<http::string_body>& req) {
  if (timeout.count() > 0) {
    timeval tv{static_cast<time_t>(timeout.count()), 0};
    ::setsockopt(stream.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  boost::system::error_code ec;
  http::write(stream, req, ec);
  if (ec) return Error::format("sending the request to {}: {}", ep.describe(), ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  http::read(stream, buffer, parser, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    return Error::format("no answer from {} within {} s (--cli-read-timeout)", ep.describe(),
                         timeout.count());
  }
  if (ec) return Error::format("reading the answer from {}: {}", ep.describe(), ec.message());
  auto& res = parser.get();
  ApiResponse out;
  out.status = res.result_int();
  for (const auto& field : res) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace

std::string Endpoint::describe() const {
  return tcp ? fmt::format("http://{}:{}", host, port) : socket_path;
}

Result<Endpoint> parse_endpoint_url(std::string_view url) {
  if (url.starts_with("https://")) {
    return Error::format("--endpoint-url {}: thawd serves plain HTTP on loopback; use http://", url);
  }
  if (!url.starts_with("http://")) {
    return Error::format("--endpoint-url '{}' must look like http://127.0.0.1:PORT", url);
  }
  std::string_view rest = url.substr(7);
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (rest.substr(slash) != "/") {
      return Error::format("--endpoint-url {}: a path is not supported; give http://HOST:PORT", url);
    }
    rest = rest.substr(0, slash);
  }
  Endpoint ep;
  ep.tcp = true;
  size_t colon = rest.rfind(':');
  if (rest.starts_with('[')) {  // [::1]:9000
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Error::format("--endpoint-url {}: unclosed '['", url);
    ep.host = std::string(rest.substr(1, close - 1));
    colon = rest.size() > close + 1 && rest[close + 1] == ':' ? close + 1 : std::string_view::npos;
  } else {
    ep.host = std::string(rest.substr(0, colon));
  }
  ep.port = colon == std::string_view::npos ? "80" : std::string(rest.substr(colon + 1));
  if (ep.host.empty() || ep.port.empty() ||
      ep.port.find_first_not_of("0123456789") != std::string::npos) {
    return Error::format("--endpoint-url '{}' must look like http://127.0.0.1:PORT", url);
  }
  return ep;
}

std::string ApiResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return v;
  }
  return "";
}

std::string url_encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

Result<ApiResponse> ApiClient::call(http::verb method, const std::string& target,
                                    const std::string& body,
                                    const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, endpoint_.tcp ? endpoint_.host : "thaw");
  req.set(http::field::user_agent, "thawctl");
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == http::verb::post || method == http::verb::put) {
    if (req[http::field::content_type].empty()) req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  asio::io_context ioc;
  boost::system::error_code ec;
  if (endpoint_.tcp) {
    asio::ip::tcp::resolver resolver(ioc);
    auto found = resolver.resolve(endpoint_.host, endpoint_.port, ec);
    if (ec) return Error::format("Could not connect to the endpoint URL: \"{}\" ({})",
                                 endpoint_.describe(), ec.message());
    asio::ip::tcp::socket sock(ioc);
    asio::connect(sock, found, ec);
    if (ec) return Error::format("Could not connect to the endpoint URL: \"{}\" ({})",
                                 endpoint_.describe(), ec.message());
    return exchange(sock, endpoint_, read_timeout_, req);
  }
  asio::local::stream_protocol::socket sock(ioc);
  sock.connect(asio::local::stream_protocol::endpoint(endpoint_.socket_path), ec);
  if (ec) {
    return Error::format("Could not connect to thawd's socket {} ({}); is thawd running? Point "
                         "--socket or THAW_SOCKET at its socket, or use --endpoint-url",
                         endpoint_.socket_path, ec.message());
  }
  return exchange(sock, endpoint_, read_timeout_, req);
}

}  // namespace thaw::thawctl
