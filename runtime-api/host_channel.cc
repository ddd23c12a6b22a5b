#include "runtime-api/host_channel.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>

namespace thaw {

HostChannel::HostChannel(IoLoop& loop, FrameHandler on_frame, CloseHandler on_close)
    : loop_(loop), on_frame_(std::move(on_frame)), on_close_(std::move(on_close)) {}

void HostChannel::attach(UniqueFd fd) {
  if (recv_op_.in_flight || send_op_.in_flight) {
    pending_ = std::move(fd);  // settle() attaches it once the old ops are in
    return;
  }
  fd_ = std::move(fd);
  ++gen_;
  decoder_ = FrameDecoder();
  out_.clear();
  sending_.clear();
  sent_ = 0;
  start_recv();
}

void HostChannel::settle() {
  if (pending_ && !recv_op_.in_flight && !send_op_.in_flight) attach(std::move(pending_));
}

void HostChannel::listen(UniqueFd listen_fd) {
  listen_fd_ = std::move(listen_fd);
  arm_accept();
}

void HostChannel::arm_accept() {
  accept_op_.done = [this](int res, uint32_t) {
    if (res < 0) {
      if (res != -ECANCELED) arm_accept();
      return;
    }
    if (fd_.valid() || pending_.valid()) {
      // One host connection at a time: a second one is refused. After a
      // snapshot restore this is the host's new connection racing the
      // vsock transport reset that ends the snapshot-time one; the reset
      // would end this one too, so the host retries after it.
      ::close(res);
    } else {
      attach(UniqueFd(res));
    }
    arm_accept();
  };
  io_uring_prep_accept(loop_.prepare(accept_op_), listen_fd_.get(), nullptr, nullptr,
                       SOCK_CLOEXEC);
}

void HostChannel::start_recv() {
  recv_op_.done = [this, gen = gen_](int res, uint32_t) {
    if (gen != gen_) return settle();  // the completion of a dropped connection
    if (res <= 0) return drop(res == 0 ? "" : Error::errno_text(-res));
    if (auto ok = decoder_.feed({rbuf_.data(), static_cast<size_t>(res)}); !ok) {
      return drop(ok.error().message);
    }
    for (;;) {
      auto f = decoder_.next();
      if (!f) return drop(f.error().message);
      if (!f->has_value()) break;
      on_frame_(std::move(**f));
      if (!fd_.valid()) return;
    }
    start_recv();
  };
  io_uring_prep_recv(loop_.prepare(recv_op_), fd_.get(), rbuf_.data(), rbuf_.size(), 0);
}

void HostChannel::drop(const std::string& why) {
  // Closing does not end io_uring ops on the socket: cancel them, and let
  // their completions (now stale) arrive before a new connection attaches.
  if (recv_op_.in_flight) loop_.cancel(recv_op_);
  if (send_op_.in_flight) loop_.cancel(send_op_);
  ++gen_;
  fd_.reset();
  out_.clear();
  sending_.clear();
  sent_ = 0;
  on_close_(why);
}

Result<void> HostChannel::send(FrameType type, std::string_view request_id,
                               std::span<const uint8_t> payload, uint16_t flags) {
  auto header = encode_header(type, flags, request_id, payload.size());
  if (!header) return std::move(header).error();
  if (!fd_.valid()) return Error::format("host channel is not connected; {} frame dropped",
                                         frame_type_name(type));
  out_.insert(out_.end(), header->begin(), header->end());
  out_.insert(out_.end(), payload.begin(), payload.end());
  flush();
  return Ok();
}

void HostChannel::flush() {
  if (send_op_.in_flight || !fd_.valid()) return;
  if (sent_ == sending_.size()) {
    sending_.clear();
    sent_ = 0;
    if (out_.empty()) {
      if (on_drained_) on_drained_();
      return;
    }
    std::swap(sending_, out_);  // the kernel reads `sending_`; `out_` keeps growing
  }
  send_op_.done = [this, gen = gen_](int res, uint32_t) {
    if (gen != gen_) return settle();
    if (!fd_.valid()) return;
    if (res < 0) return drop(Error::errno_text(-res));
    sent_ += static_cast<size_t>(res);
    flush();
  };
  io_uring_prep_send(loop_.prepare(send_op_), fd_.get(), sending_.data() + sent_,
                     sending_.size() - sent_, MSG_NOSIGNAL);
}

void HostChannel::drain_blocking() {
  // Bounded: a host that stopped reading must not keep the guest from
  // powering off.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (fd_.valid() && (send_op_.in_flight || sent_ < sending_.size() || !out_.empty()) &&
         std::chrono::steady_clock::now() < deadline) {
    if (!loop_.run_once(100).ok()) return;
  }
}

}  // namespace thaw
