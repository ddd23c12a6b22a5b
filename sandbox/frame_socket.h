// The host end of a sandbox channel: runtime-api frames over a connected
// stream socket, with bounded waits so a guest that stops reading or
// writing never hangs the agent. Both backends use it: the process
// sandbox's socketpair and the microVM's hybrid vsock stream to thaw-init.
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime-api/frame.h"

namespace thaw {

class FrameSocket {
 public:
  FrameSocket() = default;
  // Takes a connected socket (made non-blocking); `peer` names it in errors.
  FrameSocket(UniqueFd fd, std::string peer);

  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

  // Writes the whole frame within timeout_ms, else an error saying how much
  // went out (the sandbox is then unusable: kill it).
  Result<void> send(const Frame& frame, int timeout_ms);
  // The next frame, nullopt after timeout_ms (-1: wait forever); an error
  // when the stream ended, broke or carried a malformed frame.
  Result<std::optional<Frame>> receive(int timeout_ms);

 private:
  UniqueFd fd_;
  std::string peer_;
  FrameDecoder decoder_;
};

}  // namespace thaw
