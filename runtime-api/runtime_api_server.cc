#include "runtime-api/runtime_api_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>

// GCC's -Wmaybe-uninitialized misfires inside Beast's boost::optional use
// (sanitizer and -O3 builds); the headers are not ours to change.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#pragma GCC diagnostic pop
#include <functional>

namespace thaw {
namespace http = boost::beast::http;
using Parser = http::request_parser<http::string_body>;

namespace {

constexpr size_t kRecvBufferBytes = 64u << 10;
constexpr uint32_t kHeaderLimit = 64u << 10;
// After an error that closes the connection we keep reading (and dropping)
// what the client still sends, so it sees our reply rather than an RST.
constexpr size_t kMaxDrainBytes = 64u << 20;
constexpr std::string_view kPrefix = "/2018-06-01/runtime/";

std::string_view state_name(RuntimeApiState s) {
  switch (s) {
    case RuntimeApiState::kInit: return "Init";
    case RuntimeApiState::kRestoreWait: return "RestoreWait";
    case RuntimeApiState::kRestoreHooks: return "Restoring";
    case RuntimeApiState::kIdle: return "Ready";
    case RuntimeApiState::kInvoking: return "Invoking";
  }
  return "Unknown";
}

std::string_view status_text(unsigned status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 500: return "Internal Server Error";
  }
  return "Unknown";
}

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// "/2018-06-01/runtime/invocation/{id}/{action}" -> {id, action}.
struct InvocationPath {
  std::string_view id;
  std::string_view action;
};
std::optional<InvocationPath> parse_invocation_path(std::string_view target) {
  if (size_t q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
  constexpr std::string_view kInvocation = "invocation/";
  if (!target.starts_with(kPrefix)) return std::nullopt;
  std::string_view rest = target.substr(kPrefix.size());
  if (!rest.starts_with(kInvocation)) return std::nullopt;
  rest = rest.substr(kInvocation.size());
  size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  return InvocationPath{rest.substr(0, slash), rest.substr(slash + 1)};
}

}  // namespace

bool is_valid_function_error_type(std::string_view t) {
  std::string_view rest;
  if (t.starts_with("Runtime.")) {
    rest = t.substr(8);
  } else if (t.starts_with("Function.")) {
    rest = t.substr(9);
  } else {
    return false;
  }
  if (rest.size() < 2 || rest[0] < 'A' || rest[0] > 'Z') return false;
  for (char c : rest) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) return false;
  }
  return true;
}

struct RuntimeApiServer::Connection {
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
  bool awaiting = false;  // parked in a long-poll
  bool close_after_write = false;
  bool draining = false;
  size_t drained = 0;
  bool closing = false;
  bool in_pump = false;
  bool destroy_posted = false;
  bool streaming = false;
  std::string stream_id;
  std::function<size_t(uint64_t, boost::beast::string_view, boost::system::error_code&)> chunk_cb;
};

Result<std::unique_ptr<RuntimeApiServer>> RuntimeApiServer::create(IoLoop& loop,
                                                                   const sockaddr_in& addr,
                                                                   RuntimeApiEvents& events) {
  std::unique_ptr<RuntimeApiServer> s(new RuntimeApiServer(loop, events));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error::from_errno("Runtime API socket");
  s->listen_fd_.reset(fd);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0) {
    return Error::from_errno("Runtime API bind {}:{} (is another server on that port?)", ip,
                             ntohs(addr.sin_port));
  }
  if (::listen(fd, 64) < 0) return Error::from_errno("Runtime API listen");
  sockaddr_in bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  s->port_ = ntohs(bound.sin_port);
  RuntimeApiServer* self = s.get();
  s->accept_op_.done = [self](int res, uint32_t) {
    if (self->shutting_down_) return;
    if (res >= 0) {
      auto c = std::make_unique<Connection>();
      c->fd.reset(res);
      Connection* raw = c.get();
      self->conns_.emplace(raw, std::move(c));
      self->start_recv(*raw);
    }
    self->arm_accept();  // EMFILE and friends: keep accepting the next one
  };
  s->arm_accept();
  return s;
}

RuntimeApiServer::RuntimeApiServer(IoLoop& loop, RuntimeApiEvents& events)
    : loop_(loop), events_(events) {}

// Destroy only once the loop will not run again (or after every connection
// closed): in-flight operations point into the connections.
RuntimeApiServer::~RuntimeApiServer() { shutting_down_ = true; }

void RuntimeApiServer::arm_accept() {
  io_uring_prep_accept(loop_.prepare(accept_op_), listen_fd_.get(), nullptr, nullptr,
                       SOCK_CLOEXEC);
}

void RuntimeApiServer::start_recv(Connection& c) {
  c.recv_op.done = [this, &c](int res, uint32_t) {
    if (shutting_down_) return;
    if (c.closing) return maybe_destroy(c);
    if (c.draining) {
      c.drained += res > 0 ? static_cast<size_t>(res) : 0;
      if (res <= 0 || c.drained > kMaxDrainBytes) return close(c);
      return start_recv(c);
    }
    if (res < 0) return close(c);
    if (res == 0) {
      // The peer finished sending. A half-read request is Lambda's
      // TruncatedHTTPRequest; anything else just ends the connection.
      if (c.parser && c.header_seen && !c.parser->is_done()) {
        boost::system::error_code ec;
        c.parser->put_eof(ec);
        if (ec) {
          return reply_error(c, 400, "TruncatedHTTPRequest", "HTTP request detected as truncated",
                             true);
        }
      } else if (!c.in.empty() || (c.parser && !c.parser->is_done() && c.parser->got_some())) {
        return reply_error(c, 400, "TruncatedHTTPRequest", "HTTP request detected as truncated",
                           true);
      }
      if (c.awaiting) return close(c);
      if (c.sending.empty() && c.out.empty()) return close(c);
      c.close_after_write = true;
      return;
    }
    c.in.append(c.rbuf.get(), static_cast<size_t>(res));
    pump(c);
    if (!c.closing && !c.recv_op.in_flight) start_recv(c);
  };
  io_uring_prep_recv(loop_.prepare(c.recv_op), c.fd.get(), c.rbuf.get(), kRecvBufferBytes, 0);
}

void RuntimeApiServer::pump(Connection& c) {
  // A reply inside dispatch() can hand this connection its invocation and
  // call pump() again; the outer loop carries on instead.
  if (c.in_pump) return;
  c.in_pump = true;
  struct Leave {
    Connection& c;
    ~Leave() { c.in_pump = false; }
  } leave{c};
  while (!c.closing && !c.awaiting && !c.close_after_write && !c.in.empty()) {
    if (!c.parser) {
      c.parser.emplace();
      c.parser->header_limit(kHeaderLimit);
      c.parser->body_limit(kMaxResponseBytes);
      c.parser->eager(false);  // stop after the header so on_header() can set up streaming
      c.header_seen = false;
      c.streaming = false;
    }
    boost::system::error_code ec;
    size_t n = c.parser->put(boost::asio::buffer(c.in.data(), c.in.size()), ec);
    c.in.erase(0, n);
    if (!c.header_seen && c.parser->is_header_done() && !ec) {
      c.header_seen = true;
      on_header(c);
      if (c.closing || c.close_after_write) return;
      c.parser->eager(true);
    }
    if (ec == http::error::need_more) {
      if (n == 0) return;
      continue;
    }
    if (ec == http::error::body_limit) {
      // Lambda fails the invocation (Function.ResponseSizeTooLarge) and
      // tells the runtime 413 RequestEntityTooLarge.
      auto& req = c.parser->get();
      std::string target(sv(req.target()));
      std::string id = c.streaming ? c.stream_id : std::string();
      auto path = parse_invocation_path(target);
      if (id.empty() && path && path->action == "response") id = std::string(path->id);
      if (state_ == RuntimeApiState::kInvoking && id == current_id_) {
        ErrorReport r;
        r.error_type = "Function.ResponseSizeTooLarge";
        r.body = error_body_json(r.error_type,
                                 fmt::format("Response payload size exceeded maximum allowed "
                                             "payload size ({} bytes).",
                                             c.streaming ? kMaxStreamedResponseBytes
                                                         : kMaxResponseBytes));
        state_ = RuntimeApiState::kIdle;
        finished_id_ = current_id_;
        current_id_.clear();
        events_.on_invocation_error(finished_id_, std::move(r));
      }
      return reply_error(c, 413, "RequestEntityTooLarge",
                         fmt::format("Exceeded maximum allowed payload size ({} bytes).",
                                     kMaxResponseBytes),
                         true);
    }
    if (ec) {
      return reply_error(c, 400, "InvalidRequestFormat",
                         fmt::format("malformed HTTP request: {}", ec.message()), true);
    }
    if (c.parser->is_done()) {
      dispatch(c);
      c.parser.reset();
    } else if (n == 0) {
      return;
    }
  }
}

void RuntimeApiServer::on_header(Connection& c) {
  auto& req = c.parser->get();
  std::string_view mode = sv(req["Lambda-Runtime-Function-Response-Mode"]);
  auto path = parse_invocation_path(sv(req.target()));
  bool is_response = req.method() == http::verb::post && path && path->action == "response";
  if (!mode.empty() && is_response) {
    if (mode != "streaming") {
      return reply_error(c, 400, "InvalidFunctionResponseMode", "Invalid function response mode",
                         true);
    }
    if (req.chunked()) {
      std::string id(path->id);
      if (!check_invocation_target(c, id, "response", true)) return;
      c.streaming = true;
      c.stream_id = id;
      c.parser->body_limit(kMaxStreamedResponseBytes);
      c.chunk_cb = [this, &c](uint64_t, boost::beast::string_view body,
                              boost::system::error_code&) {
        events_.on_response(c.stream_id,
                            {reinterpret_cast<const uint8_t*>(body.data()), body.size()}, true);
        return body.size();
      };
      c.parser->on_chunk_body(c.chunk_cb);
    }
  }
  if (sv(req[http::field::expect]) == "100-continue") {
    c.out += "HTTP/1.1 100 Continue\r\n\r\n";
    flush(c);
  }
}

void RuntimeApiServer::dispatch(Connection& c) {
  auto& req = c.parser->get();
  std::string target(sv(req.target()));
  if (size_t q = target.find('?'); q != std::string::npos) target.resize(q);
  if (!target.starts_with(kPrefix)) {
    return reply_error(c, 404, "NotFound", fmt::format("no Runtime API route {}", target));
  }
  std::string_view rest = std::string_view(target).substr(kPrefix.size());
  bool get = req.method() == http::verb::get;
  bool post = req.method() == http::verb::post;
  auto wrong_method = [&](std::string_view want) {
    reply_error(c, 405, "MethodNotAllowed",
                fmt::format("{} {} is not allowed; use {}", sv(req.method_string()), target, want));
  };
  if (rest == "invocation/next") return get ? handle_next(c) : wrong_method("GET");
  if (rest == "restore/next") {
    if (!get) return wrong_method("GET");
    if (state_ != RuntimeApiState::kInit) {
      return reply_error(c, 403, "InvalidStateTransition",
                         fmt::format("State transition from {} to RestoreWait failed for "
                                     "runtime. Error: State transition is not allowed",
                                     state_name(state_)));
    }
    state_ = RuntimeApiState::kRestoreWait;
    restore_waiter_ = &c;
    c.awaiting = true;
    events_.on_ready(ReadyKind::kSnapshotReady);
    return;
  }
  if (rest == "init/error" || rest == "restore/error") {
    if (!post) return wrong_method("POST");
    return handle_post(c, rest, {});
  }
  if (auto path = parse_invocation_path(target)) {
    if (path->action == "response" || path->action == "error") {
      if (!post) return wrong_method("POST");
      return handle_post(c, path->action, path->id);
    }
  }
  reply_error(c, 404, "NotFound", fmt::format("no Runtime API route {}", target));
}

void RuntimeApiServer::handle_next(Connection& c) {
  ReadyKind kind = ReadyKind::kInitDone;
  bool announce = false;
  switch (state_) {
    case RuntimeApiState::kInit: announce = true; break;
    case RuntimeApiState::kRestoreHooks:
      announce = true;
      kind = ReadyKind::kRestoreDone;
      break;
    case RuntimeApiState::kIdle: break;
    case RuntimeApiState::kRestoreWait:
    case RuntimeApiState::kInvoking:
      return reply_error(c, 403, "InvalidStateTransition",
                         fmt::format("State transition from {} to Ready failed for runtime. "
                                     "Error: State transition is not allowed",
                                     state_name(state_)));
  }
  state_ = RuntimeApiState::kIdle;
  c.awaiting = true;
  next_waiters_.push_back(&c);
  if (announce) events_.on_ready(kind);
  hand_out_invocation();
}

bool RuntimeApiServer::check_invocation_target(Connection& c, std::string_view id,
                                               std::string_view action, bool close_on_error) {
  if (state_ != RuntimeApiState::kInvoking) {
    reply_error(c, 403, "InvalidStateTransition",
                fmt::format("State transition from {} to {} failed for runtime. Error: State "
                            "transition is not allowed",
                            state_name(state_),
                            action == "response" ? "InvocationResponse" : "InvocationErrorResponse"),
                close_on_error);
    return false;
  }
  if (id != current_id_) {
    reply_error(c, 400, "InvalidRequestID", "Invalid request ID", close_on_error);
    return false;
  }
  return true;
}

void RuntimeApiServer::handle_post(Connection& c, std::string_view route, std::string_view id) {
  auto& req = c.parser->get();
  std::string& body = req.body();
  auto bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  auto error_report = [&](std::string_view header_type, std::string_view fallback_message) {
    ErrorReport r;
    // Lambda keeps the header only when it looks like a Lambda error type.
    r.error_type = is_valid_function_error_type(header_type) ? std::string(header_type)
                                                             : std::string("Runtime.Unknown");
    r.body = body.empty() ? error_body_json(r.error_type, fallback_message) : body;
    return r;
  };
  std::string_view type_header = sv(req["Lambda-Runtime-Function-Error-Type"]);
  if (route == "response" || route == "error") {
    if (c.streaming) {
      // End of a streamed response; error trailers turn it into an error.
      std::string_view trailer_type = type_header;
      state_ = RuntimeApiState::kIdle;
      finished_id_ = current_id_;
      current_id_.clear();
      if (!trailer_type.empty()) {
        ErrorReport r = error_report(trailer_type, "streamed response failed");
        std::string_view trailer_body = sv(req["Lambda-Runtime-Function-Error-Body"]);
        if (!trailer_body.empty()) r.body = std::string(trailer_body);  // base64, as sent
        events_.on_invocation_error(finished_id_, std::move(r));
      } else {
        events_.on_response(finished_id_, {}, false);
      }
    } else {
      if (!check_invocation_target(c, id, route, false)) return;
      state_ = RuntimeApiState::kIdle;
      finished_id_ = current_id_;
      current_id_.clear();
      if (route == "response") {
        events_.on_response(finished_id_, bytes, false);
      } else {
        events_.on_invocation_error(finished_id_, error_report(type_header, "function error"));
      }
    }
    reply(c, 202, "{\"status\":\"OK\"}\n");
    hand_out_invocation();
    return;
  }
  bool init = route == "init/error";
  RuntimeApiState allowed = init ? RuntimeApiState::kInit : RuntimeApiState::kRestoreHooks;
  if (state_ != allowed) {
    return reply_error(c, 403, "InvalidStateTransition",
                       fmt::format("State transition from {} to {} failed for runtime. Error: "
                                   "State transition is not allowed",
                                   state_name(state_), init ? "InitError" : "RestoreError"));
  }
  ErrorReport r = error_report(type_header, init ? "init failed" : "restore hook failed");
  if (init) {
    events_.on_init_error(std::move(r));
  } else {
    events_.on_restore_error(std::move(r));
  }
  reply(c, 202, "{\"status\":\"OK\"}\n");
}

void RuntimeApiServer::hand_out_invocation() {
  while (state_ == RuntimeApiState::kIdle && !queue_.empty() && !next_waiters_.empty()) {
    Connection* c = next_waiters_.front();
    next_waiters_.pop_front();
    auto [id, inv] = std::move(queue_.front());
    queue_.pop_front();
    // Lambda-Runtime-* headers only when non-empty (Runtime API 2018-06-01).
    std::string h = fmt::format("Lambda-Runtime-Aws-Request-Id: {}\r\n", id);
    h += fmt::format("Lambda-Runtime-Deadline-Ms: {}\r\n", inv.deadline_ms);
    auto add = [&h](std::string_view name, const std::string& v) {
      if (!v.empty()) h += fmt::format("{}: {}\r\n", name, v);
    };
    add("Lambda-Runtime-Invoked-Function-Arn", inv.invoked_function_arn);
    add("Lambda-Runtime-Trace-Id", inv.trace_id);
    add("Lambda-Runtime-Client-Context", inv.client_context);
    add("Lambda-Runtime-Cognito-Identity", inv.cognito_identity);
    state_ = RuntimeApiState::kInvoking;
    current_id_ = std::move(id);
    c->awaiting = false;
    // The event goes straight from the invocation into the socket buffer.
    reply(*c, 200, {reinterpret_cast<const char*>(inv.payload.data()), inv.payload.size()}, h);
    pump(*c);
  }
}

void RuntimeApiServer::deliver(std::string request_id, Invocation invocation) {
  queue_.emplace_back(std::move(request_id), std::move(invocation));
  hand_out_invocation();
}

void RuntimeApiServer::restored() {
  if (state_ != RuntimeApiState::kRestoreWait) return;
  state_ = RuntimeApiState::kRestoreHooks;
  if (Connection* c = std::exchange(restore_waiter_, nullptr)) {
    c->awaiting = false;
    reply(*c, 200, "");
    pump(*c);
  }
}

std::vector<std::string> RuntimeApiServer::reset_after_runtime_exit() {
  state_ = RuntimeApiState::kInit;
  current_id_.clear();
  std::vector<std::string> dropped;
  for (auto& [id, inv] : queue_) dropped.push_back(std::move(id));
  queue_.clear();
  return dropped;
}

void RuntimeApiServer::reply(Connection& c, unsigned status, std::string_view body,
                             std::string_view extra_headers, bool close) {
  bool keep_alive = !close && (!c.parser || c.parser->get().keep_alive());
  bool has_type = extra_headers.find("Content-Type:") != std::string_view::npos;
  c.out += fmt::format("HTTP/1.1 {} {}\r\n{}{}Content-Length: {}\r\n{}\r\n", status,
                       status_text(status), extra_headers,
                       has_type ? "" : "Content-Type: application/json\r\n", body.size(),
                       keep_alive ? "" : "Connection: close\r\n");
  c.out += body;
  if (!keep_alive) c.close_after_write = true;
  flush(c);
}

void RuntimeApiServer::reply_error(Connection& c, unsigned status, std::string_view type,
                                   std::string_view message, bool close) {
  // Lambda's Runtime API error body (rendered by go-chi: JSON + newline).
  reply(c, status,
        fmt::format("{{\"errorMessage\":\"{}\",\"errorType\":\"{}\"}}\n", json_escape(message),
                    json_escape(type)),
        {}, close);
}

void RuntimeApiServer::flush(Connection& c) {
  if (c.closing || c.send_op.in_flight) return;
  if (c.sending.size() == c.sent) {
    c.sending.clear();
    c.sent = 0;
    if (c.out.empty()) {
      if (c.close_after_write && !c.draining) {
        ::shutdown(c.fd.get(), SHUT_WR);
        c.draining = true;
        c.parser.reset();
        if (!c.recv_op.in_flight) start_recv(c);
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
    flush(c);
  };
  io_uring_prep_send(loop_.prepare(c.send_op), c.fd.get(), c.sending.data() + c.sent,
                     c.sending.size() - c.sent, MSG_NOSIGNAL);
}

void RuntimeApiServer::close(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  std::erase(next_waiters_, &c);
  if (restore_waiter_ == &c) restore_waiter_ = nullptr;
  // Only an operation still in flight needs waking; the common case (the
  // peer closed, our recv saw EOF) needs no extra syscall here.
  if (c.recv_op.in_flight || c.send_op.in_flight) ::shutdown(c.fd.get(), SHUT_RDWR);
  if (c.recv_op.in_flight) loop_.cancel(c.recv_op);
  if (c.send_op.in_flight) loop_.cancel(c.send_op);
  maybe_destroy(c);
}

void RuntimeApiServer::maybe_destroy(Connection& c) {
  if (c.recv_op.in_flight || c.send_op.in_flight || c.destroy_posted) return;
  c.destroy_posted = true;
  // Runs inside c's own completion callback: free it once that returns.
  Connection* p = &c;
  loop_.post([this, p] { conns_.erase(p); });
}

}  // namespace thaw
