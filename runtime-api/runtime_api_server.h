// The Lambda Runtime API (2018-06-01) that thaw-init serves to the
// function's runtime on 127.0.0.1:9001: long-poll /next, responses, errors,
// init and restore. HTTP/1.1 parsed by Boost.Beast, sockets on IoLoop.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/io_loop.h"
#include "common/result.h"
#include "runtime-api/messages.h"

namespace thaw {

// Lambda's limit on a buffered invoke response (and the 413 threshold).
inline constexpr size_t kMaxResponseBytes = 6291556;
// Streamed responses (Lambda-Runtime-Function-Response-Mode: streaming).
inline constexpr size_t kMaxStreamedResponseBytes = 20u << 20;
inline constexpr uint16_t kRuntimeApiPort = 9001;

// Where the runtime is in its life, as the Runtime API sees it.
enum class RuntimeApiState {
  kInit,           // started, has not called /next yet
  kRestoreWait,    // blocked in GET /runtime/restore/next (snapshot point)
  kRestoreHooks,   // restore/next returned; after-restore hooks running
  kIdle,           // called /next, no invocation handed out
  kInvoking,       // an invocation is out; waiting for response or error
};

enum class ReadyKind {
  kInitDone,       // first GET /next after start
  kSnapshotReady,  // GET /runtime/restore/next: runtime parked, snapshot now
  kRestoreDone,    // first GET /next after a restore
};

// What the server reports to its owner (thaw-init). Called on the loop thread.
class RuntimeApiEvents {
 public:
  virtual ~RuntimeApiEvents() = default;
  virtual void on_ready(ReadyKind kind) = 0;
  // A whole buffered response (more = false), or one streamed chunk.
  virtual void on_response(const std::string& request_id, std::span<const uint8_t> body,
                           bool more) = 0;
  virtual void on_invocation_error(const std::string& request_id, ErrorReport report) = 0;
  virtual void on_init_error(ErrorReport report) = 0;
  virtual void on_restore_error(ErrorReport report) = 0;
};

class RuntimeApiServer {
 public:
  // Listens on addr (port 0 picks one; see port()). The loop and events
  // outlive the server.
  static Result<std::unique_ptr<RuntimeApiServer>> create(IoLoop& loop, const sockaddr_in& addr,
                                                          RuntimeApiEvents& events);
  ~RuntimeApiServer();
  RuntimeApiServer(const RuntimeApiServer&) = delete;
  RuntimeApiServer& operator=(const RuntimeApiServer&) = delete;

  uint16_t port() const { return port_; }
  RuntimeApiState state() const { return state_; }
  const std::string& current_request_id() const { return current_id_; }
  size_t waiting_next_calls() const { return next_waiters_.size(); }

  // Queues an invocation; a waiting GET /next receives it at once.
  void deliver(std::string request_id, Invocation invocation);
  // Ends the snapshot wait: the parked GET /runtime/restore/next returns 200.
  void restored();
  // The runtime died: forget its state so a restarted runtime starts clean.
  // Returns the ids of invocations that were queued but never handed out.
  std::vector<std::string> reset_after_runtime_exit();

  struct Connection;

 private:
  RuntimeApiServer(IoLoop& loop, RuntimeApiEvents& events);
  void arm_accept();
  void start_recv(Connection& c);
  void pump(Connection& c);
  void on_header(Connection& c);
  void dispatch(Connection& c);
  void handle_next(Connection& c);
  void handle_post(Connection& c, std::string_view route, std::string_view id);
  void hand_out_invocation();
  void reply(Connection& c, unsigned status, std::string_view body, std::string_view extra_headers = {},
             bool close = false);
  void reply_error(Connection& c, unsigned status, std::string_view type, std::string_view message,
                   bool close = false);
  void flush(Connection& c);
  void close(Connection& c);
  void maybe_destroy(Connection& c);
  bool check_invocation_target(Connection& c, std::string_view id, std::string_view action,
                               bool close_on_error);

  IoLoop& loop_;
  RuntimeApiEvents& events_;
  UniqueFd listen_fd_;
  IoOp accept_op_;
  uint16_t port_ = 0;
  bool shutting_down_ = false;
  RuntimeApiState state_ = RuntimeApiState::kInit;
  std::string current_id_;
  std::string finished_id_;  // last answered invocation: a repeat is 403
  std::deque<std::pair<std::string, Invocation>> queue_;
  std::deque<Connection*> next_waiters_;
  Connection* restore_waiter_ = nullptr;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> conns_;
};

// True when `type` matches (Runtime|Function)\.[A-Z][a-zA-Z]+, the only
// Lambda-Runtime-Function-Error-Type values Lambda keeps.
bool is_valid_function_error_type(std::string_view type);

}  // namespace thaw
