#include "agent/http/http_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <cstring>
#include <limits>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/parser.hpp>
#pragma GCC diagnostic pop

namespace thaw::agent {
namespace http = boost::beast::http;
using Parser = http::request_parser<http::string_body>;

namespace {

constexpr size_t kRecvBufferBytes = 64u << 10;
// After an error that closes the connection we keep reading (and dropping)
// what the client still sends, so it sees our reply rather than an RST.
constexpr size_t kMaxDrainBytes = 128u << 20;

std::string_view status_text(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
  }
  return "Unknown";
}

}  // namespace

bool peer_allowed(uid_t peer_uid, gid_t peer_gid, uid_t our_uid, std::optional<gid_t> allowed_gid) {
  if (peer_uid == 0 || peer_uid == our_uid) return true;
  return allowed_gid && peer_gid == *allowed_gid;
}

struct HttpServer::Connection {
  UniqueFd fd;
  IoOp recv_op;
  IoOp send_op;
  std::unique_ptr<char[]> rbuf = std::make_unique<char[]>(kRecvBufferBytes);
  std::string in;       // received, not yet parsed
  std::string out;      // replies waiting for the socket
  std::string sending;  // the buffer the kernel is sending from (stable)
  size_t sent = 0;
  std::optional<Parser> parser;
  bool header_seen = false;
  bool awaiting = false;  // a request is with the handler
  bool peer_eof = false;
  bool close_after_write = false;
  bool draining = false;
  size_t drained = 0;
  bool closing = false;
  bool destroy_posted = false;
};

Result<std::unique_ptr<HttpServer>> HttpServer::listen_unix(IoLoop& loop, HttpServerOptions options,
                                                            Handler handler) {
  const std::string path = options.socket_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Error::format("socket path '{}' must be 1..{} bytes long; pick a shorter path", path,
                         sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error::format("{} exists and is not a socket; refusing to replace it", path);
    }
    // A socket someone still accepts on belongs to a running agent: taking
    // its path would silently orphan it. Only a stale one is replaced.
    UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
      return Error::format("{} is in use by a running server (another thawd?); stop it or pick "
                           "another --socket",
                           path);
    }
    if (::unlink(path.c_str()) < 0) return Error::from_errno("removing the old socket {}", path);
  }
  std::unique_ptr<HttpServer> s(new HttpServer(loop, std::move(options), std::move(handler)));
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket(AF_UNIX)");
  s->listen_fd_.reset(fd);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return Error::from_errno("bind {}", path);
  }
  // chmod after bind: the umask applied at bind time must not widen or narrow it.
  if (::chmod(path.c_str(), s->options_.socket_mode) < 0) return Error::from_errno("chmod {}", path);
  if (s->options_.allowed_gid && ::chown(path.c_str(), static_cast<uid_t>(-1),
                                         *s->options_.allowed_gid) < 0) {
    return Error::from_errno("chown {} to group {}", path, *s->options_.allowed_gid);
  }
  if (::listen(fd, 128) < 0) return Error::from_errno("listen {}", path);
  s->start_accepting();
  return s;
}

Result<std::unique_ptr<HttpServer>> HttpServer::listen_tcp(IoLoop& loop, HttpServerOptions options,
                                                           Handler handler,
                                                           const TcpAddress& address) {
  options.socket_path.clear();
  std::unique_ptr<HttpServer> s(new HttpServer(loop, std::move(options), std::move(handler)));
  s->tcp_ = true;
  int fd = ::socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("socket for --tcp-listen {}", address.text);
  s->listen_fd_.reset(fd);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&address.addr), address.len) < 0) {
    return Error::from_errno("bind --tcp-listen {} (is the port taken?)", address.text);
  }
  if (::listen(fd, 128) < 0) return Error::from_errno("listen on {}", address.text);
  s->start_accepting();
  return s;
}

uint16_t HttpServer::tcp_port() const {
  if (!tcp_) return 0;
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (::getsockname(listen_fd_.get(), reinterpret_cast<sockaddr*>(&a), &len) < 0) return 0;
  return ntohs(a.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&a)->sin6_port
                                       : reinterpret_cast<sockaddr_in*>(&a)->sin_port);
}

void HttpServer::start_accepting() {
  accept_op_.done = [this](int res, uint32_t) {
    if (shutting_down_ || !accepting_) return;
    if (res >= 0) on_accept(res);
    arm_accept();  // EMFILE and friends: keep accepting the next one
  };
  arm_accept();
}

HttpServer::HttpServer(IoLoop& loop, HttpServerOptions options, Handler handler)
    : loop_(loop), options_(std::move(options)), handler_(std::move(handler)),
      our_uid_(::geteuid()) {}

// Destroy only once the loop will not run again: in-flight operations point
// into the connections.
HttpServer::~HttpServer() {
  shutting_down_ = true;
  // After stop_accepting() the path may already belong to a successor agent.
  if (listen_fd_ && accepting_ && !tcp_) ::unlink(options_.socket_path.c_str());
}

void HttpServer::stop_accepting() {
  if (!accepting_) return;
  accepting_ = false;
  if (accept_op_.in_flight) loop_.cancel(accept_op_);
  if (!tcp_) ::unlink(options_.socket_path.c_str());
}

void HttpServer::arm_accept() {
  io_uring_prep_accept(loop_.prepare(accept_op_), listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC);
}

void HttpServer::on_accept(int fd) {
  auto c = std::make_shared<Connection>();
  c->fd.reset(fd);
  conns_.push_back(c);
  if (tcp_) return start_recv(c);  // loopback (or --tcp-allow-remote): no peer credentials
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
      !peer_allowed(cred.uid, cred.gid, our_uid_, options_.allowed_gid)) {
    send_error(c, 403, "AccessDeniedException",
               fmt::format("peer uid {} gid {} may not use this socket; add it to the agent's "
                           "group (thawd --socket-group)",
                           cred.uid, cred.gid));
    return;
  }
  start_recv(c);
}

void HttpServer::start_recv(const std::shared_ptr<Connection>& cp) {
  Connection& c = *cp;
  c.recv_op.done = [this, &c](int res, uint32_t) {
    if (shutting_down_) return;
    if (c.closing) return maybe_destroy(c);
    auto self = std::find_if(conns_.begin(), conns_.end(),
                             [&c](const auto& p) { return p.get() == &c; });
    std::shared_ptr<Connection> cp = *self;
    if (c.draining) {
      c.drained += res > 0 ? static_cast<size_t>(res) : 0;
      if (res <= 0 || c.drained > kMaxDrainBytes) return close(c);
      return start_recv(cp);
    }
    if (res < 0) return close(c);
    if (res == 0) {
      c.peer_eof = true;
      bool partial = !c.in.empty() || (c.parser && c.parser->got_some() && !c.parser->is_done());
      if (partial && !c.awaiting) {
        return send_error(cp, 400, "InvalidRequestContentException",
                          "the HTTP request ended before its header or its Content-Length body "
                          "was complete");
      }
      if (c.awaiting || !c.sending.empty() || !c.out.empty()) {
        c.close_after_write = true;  // answer what was asked, then close
        return;
      }
      return close(c);
    }
    c.in.append(c.rbuf.get(), static_cast<size_t>(res));
    pump(cp);
    if (!c.closing && !c.draining && !c.recv_op.in_flight) start_recv(cp);
  };
  io_uring_prep_recv(loop_.prepare(c.recv_op), c.fd.get(), c.rbuf.get(), kRecvBufferBytes, 0);
}

void HttpServer::pump(const std::shared_ptr<Connection>& cp) {
  Connection& c = *cp;
  while (!c.closing && !c.awaiting && !c.close_after_write && !c.in.empty()) {
    if (!c.parser) {
      c.parser.emplace();
      c.parser->header_limit(options_.header_limit);
      // Beast's default (1 MB) would apply while the header is parsed; the
      // real limit is set once the header says which operation this is.
      c.parser->body_limit(std::numeric_limits<uint64_t>::max());
      c.parser->eager(false);  // stop after the header to pick the body limit
      c.header_seen = false;
    }
    boost::system::error_code ec;
    size_t n = c.parser->put(boost::asio::buffer(c.in.data(), c.in.size()), ec);
    c.in.erase(0, n);
    if (!c.header_seen && c.parser->is_header_done() && !ec) {
      c.header_seen = true;
      uint64_t limit = options_.body_limit ? options_.body_limit(c.parser->get()) : (1u << 20);
      c.parser->body_limit(limit);
      c.parser->eager(true);
      auto length = c.parser->content_length();
      if (length && *length > limit) ec = http::error::body_limit;
    }
    if (ec == http::error::need_more) {
      if (n == 0) return;
      continue;
    }
    if (ec == http::error::body_limit) {
      return send_error(cp, 413, "RequestTooLargeException",
                        fmt::format("Request must be smaller than {} bytes for the {} operation",
                                    options_.body_limit ? options_.body_limit(c.parser->get()) : 0,
                                    std::string_view(c.parser->get().target())));
    }
    if (ec == http::error::header_limit) {
      return send_error(cp, 400, "InvalidRequestContentException",
                        fmt::format("the request header is over {} bytes", options_.header_limit));
    }
    if (ec) {
      return send_error(cp, 400, "InvalidRequestContentException",
                        fmt::format("malformed HTTP/1.1 request: {}", ec.message()));
    }
    if (!c.parser->is_done()) {
      if (n == 0) return;
      continue;
    }
    HttpRequest req = c.parser->release();
    c.parser.reset();
    c.awaiting = true;
    ++in_progress_;
    bool keep_alive = req.keep_alive();
    std::weak_ptr<Connection> weak = cp;
    handler_(req, [this, weak, keep_alive](HttpResponse r) {
      --in_progress_;
      auto c = weak.lock();
      if (!c || c->closing || shutting_down_) return;
      c->awaiting = false;
      send_response(*c, r, keep_alive && !c->peer_eof);
      flush(c);
      if (!c->closing && !c->close_after_write) pump(c);
    });
  }
}

void HttpServer::send_response(Connection& c, const HttpResponse& r, bool keep_alive) {
  c.out += fmt::format("HTTP/1.1 {} {}\r\n", r.status, status_text(r.status));
  bool has_type = false;
  for (const auto& [name, value] : r.headers) {
    has_type = has_type || strcasecmp(name.c_str(), "Content-Type") == 0;
    c.out += fmt::format("{}: {}\r\n", name, value);
  }
  if (!has_type && !r.body.empty()) c.out += "Content-Type: application/json\r\n";
  c.out += fmt::format("Content-Length: {}\r\n{}\r\n", r.body.size(),
                       keep_alive ? "" : "Connection: close\r\n");
  c.out += r.body;
  if (!keep_alive) c.close_after_write = true;
}

void HttpServer::send_error(const std::shared_ptr<Connection>& cp, unsigned status,
                            std::string_view kind, std::string_view message) {
  Connection& c = *cp;
  HttpResponse r;
  if (options_.render_error) {
    r = options_.render_error(status, kind, message);
  } else {
    r.status = status;
    r.body = std::string(message);
  }
  c.parser.reset();
  c.in.clear();
  send_response(c, r, false);
  flush(cp);
}

void HttpServer::flush(const std::shared_ptr<Connection>& cp) {
  Connection& c = *cp;
  if (c.closing || c.send_op.in_flight) return;
  if (c.sending.size() == c.sent) {
    c.sending.clear();
    c.sent = 0;
    if (c.out.empty()) {
      if (c.close_after_write && !c.draining) {
        if (c.peer_eof) return close(c);
        ::shutdown(c.fd.get(), SHUT_WR);
        c.draining = true;
        if (!c.recv_op.in_flight) start_recv(cp);
      }
      return;
    }
    std::swap(c.sending, c.out);
  }
  c.send_op.done = [this, &c](int res, uint32_t) {
    if (shutting_down_) return;
    if (c.closing) return maybe_destroy(c);
    if (res < 0) return close(c);
    c.sent += static_cast<size_t>(res);
    auto self = std::find_if(conns_.begin(), conns_.end(),
                             [&c](const auto& p) { return p.get() == &c; });
    flush(*self);
  };
  io_uring_prep_send(loop_.prepare(c.send_op), c.fd.get(), c.sending.data() + c.sent,
                     c.sending.size() - c.sent, MSG_NOSIGNAL);
}

void HttpServer::close(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  if (c.recv_op.in_flight || c.send_op.in_flight) ::shutdown(c.fd.get(), SHUT_RDWR);
  if (c.recv_op.in_flight) loop_.cancel(c.recv_op);
  if (c.send_op.in_flight) loop_.cancel(c.send_op);
  maybe_destroy(c);
}

void HttpServer::maybe_destroy(Connection& c) {
  if (c.recv_op.in_flight || c.send_op.in_flight || c.destroy_posted) return;
  c.destroy_posted = true;
  // Runs inside c's own completion callback: free it once that returns.
  Connection* p = &c;
  loop_.post([this, p] {
    std::erase_if(conns_, [p](const auto& q) { return q.get() == p; });
  });
}

}  // namespace thaw::agent
