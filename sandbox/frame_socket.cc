#include "sandbox/frame_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>

namespace thaw {
namespace {

using Clock = std::chrono::steady_clock;

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

FrameSocket::FrameSocket(UniqueFd fd, std::string peer) : fd_(std::move(fd)), peer_(std::move(peer)) {
  int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

Result<void> FrameSocket::send(const Frame& frame, int timeout_ms) {
  if (!fd_) return Error::format("{}: channel is not connected", peer_);
  auto bytes = encode_frame(frame);
  if (!bytes) return std::move(bytes).error();
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::span<const uint8_t> rest(*bytes);
  while (!rest.empty()) {
    // MSG_NOSIGNAL: a dead peer is EPIPE here, not SIGPIPE for the agent.
    ssize_t n = ::send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) {
      rest = rest.subspan(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) {
      return Error::from_errno("{}: sending a {} frame", peer_, frame_type_name(frame.type));
    }
    pollfd p{fd_.get(), POLLOUT, 0};
    int left = ms_until(deadline);
    if (left == 0 || ::poll(&p, 1, left) == 0) {
      return Error::format("{} did not read the {} frame within {} ms ({} of {} bytes sent); "
                           "kill and replace the sandbox",
                           peer_, frame_type_name(frame.type), timeout_ms,
                           bytes->size() - rest.size(), bytes->size());
    }
  }
  return Ok();
}

Result<std::optional<Frame>> FrameSocket::receive(int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
  for (;;) {
    auto f = decoder_.next();
    if (!f) return std::move(f).error().context(fmt::format("frame from {}", peer_));
    if (f->has_value()) return std::move(*f);
    if (!fd_) return Error::format("{}: channel is not connected", peer_);
    // timeout 0 is the agent's loop draining a readable channel: the socket
    // is non-blocking, so recv alone says whether more has arrived.
    if (timeout_ms != 0) {
      pollfd p{fd_.get(), POLLIN, 0};
      int rc = ::poll(&p, 1, timeout_ms < 0 ? -1 : ms_until(deadline));
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return Error::from_errno("poll on {}", peer_);
      if (rc == 0) return std::optional<Frame>{};
    }
    uint8_t buf[65536];
    ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN && timeout_ms == 0) return std::optional<Frame>{};
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : 0;
      fd_.reset();
      return Error::format("{} closed the channel ({})", peer_,
                           err ? Error::errno_text(err) : std::string("end of stream"));
    }
    if (auto ok = decoder_.feed({buf, static_cast<size_t>(n)}); !ok) {
      return std::move(ok).error().context(fmt::format("frame from {}", peer_));
    }
  }
}

}  // namespace thaw
