// The control socket server: a Unix stream socket on the VMM's IoLoop that
// reads JSON request lines and answers through handle_control_request().
// Several clients may be connected; each is served in order.
#pragma once

#include <list>
#include <memory>
#include <string>

#include "common/io_loop.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "sandbox/vmm/control_protocol.h"

namespace thaw::sandbox {

class ControlSocket {
 public:
  // Binds `path` (replacing a stale socket file) and starts accepting on
  // `loop`. Call from any thread; the work runs on the loop thread. The
  // target and loop must outlive the server; destroy it after the loop
  // stopped.
  static Result<std::unique_ptr<ControlSocket>> create(const std::string& path, IoLoop& loop,
                                                       ControlTarget& target);
  ~ControlSocket();
  ControlSocket(const ControlSocket&) = delete;
  ControlSocket& operator=(const ControlSocket&) = delete;

  // Handled for tests: how many requests were answered.
  uint64_t requests() const { return requests_; }

 private:
  struct Client {
    UniqueFd fd;
    IoOp op;
    std::string buffer;
    bool closed = false;
  };
  ControlSocket(std::string path, IoLoop& loop, ControlTarget& target)
      : path_(std::move(path)), loop_(loop), target_(target) {}
  void on_accept(int res, uint32_t flags);
  void on_readable(Client* client, int res, uint32_t flags);
  void close_client(Client* client);

  std::string path_;
  IoLoop& loop_;
  ControlTarget& target_;
  UniqueFd listen_fd_;
  IoOp accept_op_;
  std::list<Client> clients_;
  uint64_t requests_ = 0;
};

}  // namespace thaw::sandbox
