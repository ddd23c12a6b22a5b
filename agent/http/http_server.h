// thawd's scheduler-facing HTTP/1.1 server: a Unix socket (0660, peers
// checked with SO_PEERCRED) served on the agent's IoLoop, requests parsed by
// Boost.Beast with per-route size limits, keep-alive, one request at a time
// per connection. Routing and Lambda semantics live in agent/api/.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

// GCC's -Wmaybe-uninitialized misfires inside Beast's boost::optional use.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#pragma GCC diagnostic pop

#include "agent/http/tcp_address.h"
#include "common/io_loop.h"
#include "common/result.h"

namespace thaw::agent {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct HttpResponse {
  unsigned status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // Content-Length is added
  std::string body;
};

// Answers one request. Call exactly once, on the loop thread; a reply for a
// connection that has gone away is dropped.
using HttpReply = std::function<void(HttpResponse)>;

struct HttpServerOptions {
  std::string socket_path;
  mode_t socket_mode = 0660;
  // Peers whose SO_PEERCRED uid is 0 or ours, or whose gid is this one, may
  // talk to the agent; everyone else gets 403 and the connection closes.
  std::optional<gid_t> allowed_gid;
  uint32_t header_limit = 64u << 10;
  // The largest body a request may carry, decided from its header (so an
  // Invoke can be capped at Lambda's 6 MB and a CreateFunction at its ZIP).
  std::function<uint64_t(const HttpRequest&)> body_limit;
  // Renders the server's own errors (malformed HTTP, too large, forbidden)
  // in the API's error shape. kind is a Lambda error type.
  std::function<HttpResponse(unsigned status, std::string_view kind, std::string_view message)>
      render_error;
};

// The pure part of the peer check, unit-tested on its own.
bool peer_allowed(uid_t peer_uid, gid_t peer_gid, uid_t our_uid, std::optional<gid_t> allowed_gid);

class HttpServer {
 public:
  using Handler = std::function<void(HttpRequest&, HttpReply)>;

  // Binds and listens (an existing socket file at the path is replaced;
  // anything else there is an error). The loop outlives the server.
  static Result<std::unique_ptr<HttpServer>> listen_unix(IoLoop& loop, HttpServerOptions options,
                                                         Handler handler);
  // The same server on TCP (agent/http/tcp_address.h checks the address):
  // no SO_PEERCRED there, so every peer is served; socket_path is unused.
  static Result<std::unique_ptr<HttpServer>> listen_tcp(IoLoop& loop, HttpServerOptions options,
                                                        Handler handler, const TcpAddress& address);
  // The bound TCP port (for PORT 0); 0 for a Unix socket.
  uint16_t tcp_port() const;
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Stops accepting; open connections finish their current request.
  void stop_accepting();
  size_t open_connections() const { return conns_.size(); }
  size_t requests_in_progress() const { return in_progress_; }

  struct Connection;

 private:
  HttpServer(IoLoop& loop, HttpServerOptions options, Handler handler);
  void start_accepting();
  void arm_accept();
  void on_accept(int fd);
  void start_recv(const std::shared_ptr<Connection>& c);
  void pump(const std::shared_ptr<Connection>& c);
  void send_response(Connection& c, const HttpResponse& r, bool keep_alive);
  void send_error(const std::shared_ptr<Connection>& c, unsigned status, std::string_view kind,
                  std::string_view message);
  void flush(const std::shared_ptr<Connection>& c);
  void close(Connection& c);
  void maybe_destroy(Connection& c);

  IoLoop& loop_;
  HttpServerOptions options_;
  Handler handler_;
  uid_t our_uid_;
  UniqueFd listen_fd_;
  IoOp accept_op_;
  bool tcp_ = false;
  bool accepting_ = true;
  bool shutting_down_ = false;
  size_t in_progress_ = 0;
  std::vector<std::shared_ptr<Connection>> conns_;
};

}  // namespace thaw::agent
