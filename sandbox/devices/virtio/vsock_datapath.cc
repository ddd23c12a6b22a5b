// The vsock data path: guest TX packets to host sockets and host socket
// bytes / control packets into guest RX buffers. Split from
// vsock_device.cc (lifecycle, listener, handshake) to keep both readable.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "sandbox/devices/virtio/chain_io.h"
#include "sandbox/devices/virtio/vsock_device.h"

namespace thaw::sandbox::virtio {

namespace {
constexpr size_t kRxQueue = 0, kTxQueue = 1;
constexpr uint32_t kMaxPacketPayload = 64 * 1024;  // Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE
constexpr size_t kMaxRstReplies = 64;
using Action = VsockConnection::GuestInput::Action;
}  // namespace

void VsockDevice::process_tx() {
  const GuestMemory& mem = host_->memory();
  Virtqueue& q = host_->queue(kTxQueue);
  bool used = false;
  while (!host_->broken()) {
    auto chain = q.pop(mem);
    if (!chain) return host_->mark_broken(chain.error().context("vsock tx queue"));
    if (!*chain) {
      auto more = q.arm_notification(mem);
      if (!more) return host_->mark_broken(more.error());
      if (*more) continue;
      break;
    }
    const DescriptorChain& c = **chain;
    std::array<uint8_t, kVsockHeaderSize> raw;
    Result<VsockHeader> h = c.readable_bytes < kVsockHeaderSize
                                ? Result<VsockHeader>(Error::format(
                                      "tx buffer of {} bytes cannot hold a 44-byte header",
                                      c.readable_bytes))
                                : read_from_chain(mem, c, 0, raw).ok()
                                      ? decode_vsock_header(raw)
                                      : Result<VsockHeader>(Error::format("unreadable header"));
    Result<void> valid = h ? validate_guest_header(*h, config_.guest_cid,
                                                   c.readable_bytes - kVsockHeaderSize,
                                                   kMaxPacketPayload)
                           : Result<void>(h.error());
    if (!valid) {
      // A bad packet costs the guest that packet, not the device (the
      // driver may be fine and the socket layer confused).
      ++bad_packets_;
      if (log_budget_.take()) {
        spdlog::warn("vsock: dropping guest packet: {}", valid.error().message);
      }
      // Refuse it with an RST so the guest socket fails fast instead of
      // timing out. The RST only ever goes to this guest (dst_cid is its
      // own CID whatever the packet claimed) and the queue of them is bounded.
      if (h && h->op != VsockOp::kRst) {
        auto it = conns_.find(static_cast<uint64_t>(h->dst_port) << 32 | h->src_port);
        if (it != conns_.end() && h->src_cid == config_.guest_cid) {
          // The connection it belongs to is reset too, or its host socket
          // would stay open with the guest side gone.
          Conn& conn = *it->second;
          conn.sm->on_host_error();
          ++resets_;
          close_host(conn);
          schedule_rx(conn);
        } else {
          send_control_rst(*h);
        }
      }
    } else {
      handle_guest_packet(*h, c);
    }
    auto r = q.push_used(mem, c.head, 0);
    if (!r) return host_->mark_broken(r.error());
    used = true;
  }
  if (used) host_->signal_used(kTxQueue);
  fill_rx();
}

void VsockDevice::handle_guest_packet(const VsockHeader& h, const DescriptorChain& chain) {
  auto it = conns_.find(static_cast<uint64_t>(h.dst_port) << 32 | h.src_port);
  if (it == conns_.end()) {
    if (h.op == VsockOp::kRequest) return open_guest_connection(h);
    if (h.op != VsockOp::kRst) send_control_rst(h);  // §5.10.6.4: unknown connection
    return;
  }
  Conn& c = *it->second;
  VsockConnection::GuestInput in = c.sm->on_guest_packet(h);
  if (in.action == Action::kDeliver) deliver_to_host(c, chain, in.bytes);
  apply(c, in);
}

void VsockDevice::apply(Conn& c, VsockConnection::GuestInput in) {
  switch (in.action) {
    case Action::kEstablished: {
      // The guest accepted: answer the host program (hybrid vsock).
      std::string ok = fmt::format("OK {}\n", c.sm->host_port());
      c.out.insert(c.out.end(), ok.begin(), ok.end());
      c.preamble += ok.size();
      flush_to_host(c);
      break;
    }
    case Action::kShutdownHostWrite:
      c.shut_wr_pending = true;
      flush_to_host(c);
      break;
    case Action::kClose:
      return retire(c);
    case Action::kReset:
      ++resets_;
      close_host(c);
      break;
    case Action::kDeliver:
    case Action::kNone:
      break;
  }
  if (c.retired) return;
  if (c.sm->guest_credit() > 0 && c.fd) {
    if (c.readable) schedule_rx(c); else arm_read(c);
  }
  if (c.sm->owes_control()) schedule_rx(c);
}

void VsockDevice::open_guest_connection(const VsockHeader& h) {
  if (conns_.size() >= config_.max_connections) {
    if (log_budget_.take()) {
      spdlog::warn("vsock: refusing guest connection to port {}: {} connections open (limit {})",
                   h.dst_port, conns_.size(), config_.max_connections);
    }
    return (void)send_control_rst(h);
  }
  auto c = std::make_unique<Conn>();
  Conn* raw = c.get();
  c->sm = std::make_unique<VsockConnection>(config_.guest_cid, h.dst_port, h.src_port,
                                            config_.buf_alloc,
                                            VsockConnection::State::kConnectingHost);
  c->sm->on_guest_packet(h);  // records the guest's credit from the REQUEST
  std::string path = fmt::format("{}_{}", config_.uds_path, h.dst_port);
  c->addr.sun_family = AF_UNIX;
  std::memcpy(c->addr.sun_path, path.data(), path.size());  // length checked in create()
  c->fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  init_ops(*raw);
  conns_.emplace(static_cast<uint64_t>(h.dst_port) << 32 | h.src_port, std::move(c));
  active_ = conns_.size();
  ++opened_;
  if (!raw->fd) {
    raw->sm->on_host_connect_failed();
    return schedule_rx(*raw);
  }
  raw->connect_op.done = [this, raw](int res, uint32_t) {
    std::lock_guard lock(host_->mutex());
    if (raw->retired) return schedule_reap();
    if (res < 0) {
      if (log_budget_.take()) {
        spdlog::info("vsock: guest connection to {} failed: {}", raw->addr.sun_path,
                     Error::errno_text(-res));
      }
      raw->sm->on_host_connect_failed();
      close_host(*raw);
    } else {
      raw->sm->on_host_connected();
      arm_read(*raw);
    }
    schedule_rx(*raw);
    fill_rx();
  };
  io_uring_prep_connect(loop_.prepare(raw->connect_op), raw->fd.get(),
                        reinterpret_cast<const sockaddr*>(&raw->addr), sizeof raw->addr);
}

void VsockDevice::deliver_to_host(Conn& c, const DescriptorChain& chain, uint32_t len) {
  const GuestMemory& mem = host_->memory();
  uint32_t sent = 0;
  if (c.out_size() == 0 && c.fd) {
    // Zero-copy fast path: straight from guest memory into the socket.
    auto r = chain_iovecs(mem, chain, false, kVsockHeaderSize, len, tx_iov_);
    if (r) {
      msghdr msg{};
      msg.msg_iov = tx_iov_.data();
      msg.msg_iovlen = tx_iov_.size();
      ssize_t n = ::sendmsg(c.fd.get(), &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        c.sm->on_host_error();
        close_host(c);
        return;
      }
      sent = n > 0 ? static_cast<uint32_t>(n) : 0;
    }
  }
  if (sent < len && c.fd) {
    if (c.out_head > 0 && c.out_head == c.out.size()) c.out.clear(), c.out_head = 0;
    size_t at = c.out.size();
    c.out.resize(at + (len - sent));
    auto r = read_from_chain(mem, chain, kVsockHeaderSize + sent, {c.out.data() + at, len - sent});
    if (!r) c.out.resize(at);
  }
  if (sent > 0) {
    bytes_to_host_ += sent;
    c.sm->on_forwarded(sent);
  }
  flush_to_host(c);
}

void VsockDevice::flush_to_host(Conn& c) {
  while (c.fd && c.out_size() > 0) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_head, c.out_size(),
                       MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return arm_write(c);
      c.sm->on_host_error();
      close_host(c);
      break;
    }
    size_t sent = static_cast<size_t>(n);
    c.out_head += sent;
    size_t ours = std::min(sent, c.preamble);  // our OK line is not guest credit
    c.preamble -= ours;
    if (sent > ours) {
      bytes_to_host_ += sent - ours;
      c.sm->on_forwarded(static_cast<uint32_t>(sent - ours));
    }
  }
  if (c.out_size() == 0) {
    c.out.clear();
    c.out_head = 0;
    if (c.shut_wr_pending && c.fd) {
      ::shutdown(c.fd.get(), SHUT_WR);
      c.shut_wr_pending = false;
    }
  } else if (c.out_head > c.out.size() / 2) {
    c.out.erase(c.out.begin(), c.out.begin() + static_cast<ptrdiff_t>(c.out_head));
    c.out_head = 0;
  }
  if (c.sm->owes_control()) schedule_rx(c);
}

bool VsockDevice::send_control_rst(const VsockHeader& to_answer) {
  if (rst_replies_.size() >= kMaxRstReplies) return false;  // the guest floods: drop
  VsockHeader h;
  h.src_cid = kVsockHostCid;
  h.dst_cid = config_.guest_cid;
  h.src_port = to_answer.dst_port;
  h.dst_port = to_answer.src_port;
  h.op = VsockOp::kRst;
  rst_replies_.push_back(h);
  ++resets_;
  return true;
}

// Fills guest RX buffers: stray RSTs first, then connections round-robin,
// each getting one packet (a control packet or up to 64 KiB of host data)
// per turn so one busy socket cannot starve the others.
void VsockDevice::fill_rx() {
  if (!host_->active()) return;
  const GuestMemory& mem = host_->memory();
  Virtqueue& q = host_->queue(kRxQueue);
  bool used = false;
  size_t misses = 0;
  while ((!rst_replies_.empty() || !rx_wanted_.empty()) && !host_->broken()) {
    auto chain = q.pop(mem);
    if (!chain) return host_->mark_broken(chain.error().context("vsock rx queue"));
    if (!*chain) {
      auto more = q.arm_notification(mem);
      if (!more) return host_->mark_broken(more.error());
      if (*more) continue;
      break;  // resumed by the guest's rx notification
    }
    const DescriptorChain& rx = **chain;
    if (rx.readable_bytes != 0 || rx.writable_bytes < kVsockHeaderSize) {
      return host_->mark_broken(Error::format(
          "vsock rx buffer (head {}) has {} readable and {} writable bytes; it must be "
          "device-writable and hold at least a 44-byte header",
          rx.head, rx.readable_bytes, rx.writable_bytes));
    }
    std::optional<VsockHeader> out;
    if (!rst_replies_.empty()) {
      out = rst_replies_.front();
      rst_replies_.pop_front();
    } else {
      Conn& c = *rx_wanted_.front();
      rx_wanted_.pop_front();
      c.in_rx_list = false;
      out = c.sm->take_control();
      if (!out && c.readable && c.fd && c.sm->guest_credit() > 0) out = read_host(c, rx);
      if (c.sm->state() == VsockConnection::State::kClosed) {
        retire(c);
      } else if (c.sm->owes_control() || (c.readable && c.fd && c.sm->guest_credit() > 0)) {
        schedule_rx(c);  // more to send: back of the line
      }
      if (!out) {
        q.undo_pop();
        // Nothing came of this turn (EAGAIN, a buffer too small for data):
        // stop once every waiting connection had a fruitless turn.
        if (++misses > rx_wanted_.size()) break;
        continue;
      }
    }
    misses = 0;
    auto bytes = encode_vsock_header(*out);
    auto r = write_to_chain(mem, rx, 0, bytes);
    if (r) r = q.push_used(mem, rx.head, static_cast<uint32_t>(kVsockHeaderSize + out->len));
    if (!r) return host_->mark_broken(r.error().context("vsock rx buffer"));
    bytes_to_guest_ += out->len;
    used = true;
  }
  if (used) host_->signal_used(kRxQueue);
}

// Reads host socket bytes straight into the guest buffer after the header
// space. Returns the RW header, or nullopt when nothing was read (EOF and
// errors turn into owed control packets).
std::optional<VsockHeader> VsockDevice::read_host(Conn& c, const DescriptorChain& rx) {
  uint64_t room = rx.writable_bytes - kVsockHeaderSize;
  uint32_t want = static_cast<uint32_t>(
      std::min<uint64_t>({room, c.sm->guest_credit(), kMaxPacketPayload}));
  if (want == 0) return std::nullopt;
  auto r = chain_iovecs(host_->memory(), rx, true, kVsockHeaderSize, want, tx_iov_);
  if (!r) return std::nullopt;
  msghdr msg{};
  msg.msg_iov = tx_iov_.data();
  msg.msg_iovlen = tx_iov_.size();
  ssize_t n = ::recvmsg(c.fd.get(), &msg, MSG_DONTWAIT);
  if (n > 0) return c.sm->take_rw(static_cast<uint32_t>(n));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    c.readable = false;
    arm_read(c);
    return std::nullopt;
  }
  c.readable = false;
  if (n == 0) {
    c.sm->on_host_eof();  // keep the socket: the host may still read
  } else {
    c.sm->on_host_error();
    close_host(c);
  }
  return std::nullopt;
}

}  // namespace thaw::sandbox::virtio
