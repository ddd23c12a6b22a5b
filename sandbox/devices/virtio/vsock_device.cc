#include "sandbox/devices/virtio/vsock_device.h"

#include <linux/virtio_ids.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "sandbox/devices/virtio/chain_io.h"
#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio {

namespace {

constexpr size_t kRxQueue = 0, kTxQueue = 1, kEventQueue = 2;
constexpr size_t kMaxConnectLine = 32;     // "CONNECT 4294967295\n" fits
constexpr uint32_t kStateMagic = 0x4b535356;  // "VSSK"
constexpr uint32_t kStateVersion = 1;

uint64_t conn_key(uint32_t host_port, uint32_t guest_port) {
  return static_cast<uint64_t>(host_port) << 32 | guest_port;
}

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return Error::format("Unix socket path '{}' must be 1..{} bytes", path,
                         sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(const VsockConfig& config,
                                                          IoLoop& loop) {
  if (config.guest_cid <= kVsockHostCid || config.guest_cid >= 0xffffffffu) {
    return Error::format("vsock guest CID {} must be between 3 and 2^32-2 (0-2 are reserved)",
                         config.guest_cid);
  }
  if (config.queue_size == 0 || (config.queue_size & (config.queue_size - 1)) != 0) {
    return Error::format("vsock queue size {} must be a power of two", config.queue_size);
  }
  if (config.buf_alloc < 4096 || config.max_connections == 0 ||
      config.max_pending_handshakes == 0) {
    return Error::format("vsock buf_alloc {} must be >= 4096, max_connections {} and "
                         "max_pending_handshakes {} >= 1",
                         config.buf_alloc, config.max_connections, config.max_pending_handshakes);
  }
  auto addr = unix_address(config.uds_path);
  if (!addr) return std::move(addr).error().context("vsock --vsock-uds");
  // Guest connections go to "<path>_<port>": leave room for the suffix.
  if (config.uds_path.size() + 11 >= sizeof addr->sun_path) {
    return Error::format("vsock Unix socket path '{}' is too long for '<path>_<port>' names "
                         "(max {} bytes)", config.uds_path, sizeof addr->sun_path - 12);
  }
  struct stat st {};
  if (::lstat(config.uds_path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Error::format("vsock path {} exists and is not a socket; refusing to replace it",
                           config.uds_path);
    }
    ::unlink(config.uds_path.c_str());  // stale socket of an earlier run
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for vsock listener");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    return Error::from_errno("bind vsock listener to {}", config.uds_path);
  }
  if (::listen(fd.get(), 128) != 0) return Error::from_errno("listen on {}", config.uds_path);
  std::unique_ptr<VsockDevice> dev(new VsockDevice(config, loop, std::move(fd)));
  VsockDevice* self = dev.get();
  loop.post([self] { self->start_listening(); });
  return dev;
}

VsockDevice::VsockDevice(const VsockConfig& config, IoLoop& loop, UniqueFd listener)
    : config_(config), loop_(loop), listener_(std::move(listener)) {
  tx_iov_.reserve(config_.queue_size);
  // Host ports start at a random point of [2^30, 2^31): a VM restored from a
  // snapshot still holds the snapshot-time connections until it handles the
  // TRANSPORT_RESET, and a REQUEST that reused one of their ports would be
  // taken as a stray packet of that connection and go unanswered.
  uint32_t r = 0;
  if (::getrandom(&r, sizeof r, GRND_NONBLOCK) == sizeof r) next_host_port_ = (1u << 30) | (r >> 2);
}

VsockDevice::~VsockDevice() { ::unlink(config_.uds_path.c_str()); }

uint32_t VsockDevice::device_id() const { return VIRTIO_ID_VSOCK; }

uint64_t VsockDevice::device_features() const {
  // STREAM only: VIRTIO_VSOCK_F_SEQPACKET is not offered.
  return (1ull << kFeatureIndirectDesc) | (1ull << kFeatureEventIdx);
}

void VsockDevice::read_config(uint64_t offset, std::span<uint8_t> data) const {
  uint64_t cid = config_.guest_cid;  // struct virtio_vsock_config, §5.10.4
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    data[i] = at < 8 ? static_cast<uint8_t>(cid >> (8 * at)) : 0;
  }
}

void VsockDevice::write_config(uint64_t, std::span<const uint8_t>) {}  // read-only

VsockStats VsockDevice::stats() const {
  return {bytes_to_host_.load(), bytes_to_guest_.load(), opened_.load(),
          resets_.load(),        bad_packets_.load(),    active_.load()};
}

// ---- loop thread from here on; the device lock is held -------------------

void VsockDevice::start_listening() {
  accept_op_.done = [this](int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE) && res != -ECANCELED) loop_.watch(listener_.get(), accept_op_);
    if (res < 0 || host_ == nullptr) return;
    std::lock_guard lock(host_->mutex());
    on_accept();
  };
  loop_.watch(listener_.get(), accept_op_);
}

void VsockDevice::on_accept() {
  for (;;) {
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno != EAGAIN && errno != EINTR) {
        spdlog::warn("vsock: accept on {}: {}", config_.uds_path, Error::errno_text(errno));
      }
      return;
    }
    if (conns_.size() >= config_.max_connections) {
      spdlog::warn("vsock: refusing host connection: {} connections open (limit {})",
                   conns_.size(), config_.max_connections);
      continue;  // closing it is the answer
    }
    if (handshakes_.size() >= config_.max_pending_handshakes) {
      // Evict the oldest silent client rather than refusing new ones, so a
      // few stuck clients cannot lock the listener.
      spdlog::warn("vsock: {} host connections have not sent CONNECT; dropping the oldest",
                   handshakes_.size());
      retire(*handshakes_.front());
    }
    auto c = std::make_unique<Conn>();
    c->fd = std::move(fd);
    init_ops(*c);
    Conn* raw = c.get();
    handshakes_.push_back(std::move(c));
    arm_read(*raw);
  }
}

void VsockDevice::init_ops(Conn& c) {
  Conn* raw = &c;
  c.read_op.done = [this, raw](int res, uint32_t) {
    std::lock_guard lock(host_->mutex());
    if (raw->retired) return schedule_reap();
    if (res < 0) return;
    raw->readable = true;
    if (raw->sm == nullptr) return on_handshake_readable(*raw);
    schedule_rx(*raw);
    fill_rx();
  };
  c.hangup_op.done = [this, raw](int res, uint32_t) {
    std::lock_guard lock(host_->mutex());
    if (raw->retired) return schedule_reap();
    // Only matters before the guest answered our REQUEST: afterwards the
    // read path sees EOF/errors itself.
    if (res <= 0 || !(res & (POLLHUP | POLLERR)) || raw->sm == nullptr ||
        raw->sm->state() != VsockConnection::State::kRequestToGuest) {
      return;
    }
    raw->sm->on_host_error();  // RST tells the guest to drop its half
    close_host(*raw);
    schedule_rx(*raw);
    fill_rx();
  };
  c.write_op.done = [this, raw](int, uint32_t) {
    std::lock_guard lock(host_->mutex());
    if (raw->retired) return schedule_reap();
    flush_to_host(*raw);
    fill_rx();
  };
}

void VsockDevice::on_handshake_readable(Conn& c) {
  auto drop = [&](std::string_view why) {
    spdlog::warn("vsock: closing host connection on {}: {}", config_.uds_path, why);
    retire(c);
  };
  char buf[kMaxConnectLine];
  size_t room = kMaxConnectLine - c.line.size();
  // Peek first so payload pipelined after the line stays in the socket.
  ssize_t n = ::recv(c.fd.get(), buf, room, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return arm_read(c);
  if (n <= 0) return drop(n == 0 ? "closed before CONNECT" : Error::errno_text(errno));
  auto* nl = static_cast<char*>(std::memchr(buf, '\n', static_cast<size_t>(n)));
  size_t take = nl ? static_cast<size_t>(nl - buf) + 1 : static_cast<size_t>(n);
  if (::recv(c.fd.get(), buf, take, MSG_DONTWAIT) != static_cast<ssize_t>(take)) {
    return drop("short read of the CONNECT line");
  }
  c.line.append(buf, take);
  if (!nl) {
    if (c.line.size() >= kMaxConnectLine) return drop("CONNECT line longer than 32 bytes");
    c.readable = false;
    return arm_read(c);
  }
  // "CONNECT <port>\n" (Firecracker hybrid vsock).
  std::string_view line(c.line);
  line.remove_suffix(1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  uint32_t port = 0;
  constexpr std::string_view kVerb = "CONNECT ";
  if (line.substr(0, kVerb.size()) != kVerb) return drop("expected 'CONNECT <port>\\n'");
  auto digits = line.substr(kVerb.size());
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return drop("CONNECT port is not a decimal number below 2^32");
  }
  if (conns_.size() >= config_.max_connections) return drop("connection limit reached");
  auto it = std::find_if(handshakes_.begin(), handshakes_.end(),
                         [&](const auto& p) { return p.get() == &c; });
  std::unique_ptr<Conn> owned = std::move(*it);
  handshakes_.erase(it);
  uint32_t host_port = allocate_host_port(port);
  c.sm = std::make_unique<VsockConnection>(config_.guest_cid, host_port, port, config_.buf_alloc,
                                           VsockConnection::State::kRequestToGuest);
  c.readable = false;  // host bytes wait until the guest accepted
  c.line.clear();
  conns_.emplace(conn_key(host_port, port), std::move(owned));
  active_ = conns_.size();
  ++opened_;
  watch_hangup(c);
  schedule_rx(c);
  fill_rx();
}

uint32_t VsockDevice::allocate_host_port(uint32_t guest_port) {
  for (;;) {
    uint32_t p = next_host_port_++;
    if (next_host_port_ == 0) next_host_port_ = 1u << 30;
    if (!conns_.contains(conn_key(p, guest_port))) return p;
  }
}

void VsockDevice::arm_read(Conn& c) {
  if (c.read_op.in_flight || !c.fd) return;
  io_uring_prep_poll_add(loop_.prepare(c.read_op), c.fd.get(), POLLIN);
}

void VsockDevice::watch_hangup(Conn& c) {
  if (c.hangup_op.in_flight || !c.fd) return;
  // POLLHUP alone: a full close by the host, not data and not a half-close
  // (a client may send, shut its write side and still wait for the answer).
  io_uring_prep_poll_add(loop_.prepare(c.hangup_op), c.fd.get(), POLLHUP);
}

void VsockDevice::arm_write(Conn& c) {
  if (c.write_op.in_flight || !c.fd) return;
  io_uring_prep_poll_add(loop_.prepare(c.write_op), c.fd.get(), POLLOUT);
}

void VsockDevice::schedule_rx(Conn& c) {
  if (c.in_rx_list || c.retired) return;
  c.in_rx_list = true;
  rx_wanted_.push_back(&c);
}

void VsockDevice::close_host(Conn& c) {
  for (IoOp* op : {&c.read_op, &c.write_op, &c.connect_op, &c.hangup_op}) {
    if (op->in_flight) loop_.cancel(*op);
  }
  c.fd.reset();  // an armed poll holds its own file reference until cancelled
  c.readable = false;
}

void VsockDevice::retire(Conn& c) {
  close_host(c);
  c.retired = true;
  std::unique_ptr<Conn> owned;
  if (c.sm) {
    auto it = conns_.find(conn_key(c.sm->host_port(), c.sm->guest_port()));
    if (it != conns_.end() && it->second.get() == &c) {
      owned = std::move(it->second);
      conns_.erase(it);
    }
  } else {
    auto it = std::find_if(handshakes_.begin(), handshakes_.end(),
                           [&](const auto& p) { return p.get() == &c; });
    if (it != handshakes_.end()) {
      owned = std::move(*it);
      handshakes_.erase(it);
    }
  }
  if (c.in_rx_list) {
    rx_wanted_.erase(std::remove(rx_wanted_.begin(), rx_wanted_.end(), &c), rx_wanted_.end());
    c.in_rx_list = false;
  }
  active_ = conns_.size();
  // Freed once the kernel returned every op (their callbacks refer to it).
  if (owned) graveyard_.push_back(std::move(owned));
  schedule_reap();
}

void VsockDevice::schedule_reap() {
  if (reap_posted_) return;
  reap_posted_ = true;
  loop_.post([this] {
    std::lock_guard lock(host_->mutex());
    reap_posted_ = false;
    std::erase_if(graveyard_, [](const auto& c) { return c->ops_idle(); });
  });
}

void VsockDevice::drop_all_connections() {
  while (!conns_.empty()) retire(*conns_.begin()->second);
  while (!handshakes_.empty()) retire(*handshakes_.front());
  rx_wanted_.clear();
  rst_replies_.clear();
}

Result<void> VsockDevice::activate() {
  for (size_t i = 0; i < 3; ++i) {
    if (!host_->queue(i).ready()) {
      return Error::format("vsock: driver set DRIVER_OK with queue {} (of rx, tx, event) not "
                           "ready", i);
    }
  }
  deliver_event();
  process_tx();
  return Ok();
}

void VsockDevice::reset() {
  drop_all_connections();
  event_pending_ = false;
}

void VsockDevice::process_queue(size_t index) {
  if (!host_->active()) return;
  if (index == kRxQueue) fill_rx();
  if (index == kTxQueue) process_tx();
  if (index == kEventQueue) deliver_event();
}

void VsockDevice::send_transport_reset() {
  loop_.post([this] {
    if (host_ == nullptr) return;
    std::lock_guard lock(host_->mutex());
    drop_all_connections();
    event_pending_ = true;
    if (!host_->active()) return;  // activate() delivers it
    deliver_event();
    process_tx();  // the guest may have queued packets before the snapshot
  });
}

void VsockDevice::deliver_event() {
  if (!event_pending_ || !host_->active()) return;
  const GuestMemory& mem = host_->memory();
  Virtqueue& q = host_->queue(kEventQueue);
  auto chain = q.pop(mem);
  if (!chain) return host_->mark_broken(chain.error().context("vsock event queue"));
  if (!*chain) return;  // delivered when the guest posts an event buffer
  // struct virtio_vsock_event { le32 id; }, §5.10.6.7.
  uint32_t id = 0;  // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
  auto r = write_to_chain(mem, **chain, 0, {reinterpret_cast<uint8_t*>(&id), 4});
  if (r) r = q.push_used(mem, (*chain)->head, 4);
  if (!r) return host_->mark_broken(r.error().context("vsock event buffer"));
  event_pending_ = false;
  host_->signal_used(kEventQueue);
}

Result<std::vector<uint8_t>> VsockDevice::save_state() const {
  // Connections never survive a snapshot (host sockets are not state):
  // after restore the guest gets a TRANSPORT_RESET and reconnects.
  uint32_t s[4] = {kStateMagic, kStateVersion, static_cast<uint32_t>(config_.guest_cid),
                   static_cast<uint32_t>(config_.guest_cid >> 32)};
  auto* p = reinterpret_cast<const uint8_t*>(s);
  return std::vector<uint8_t>(p, p + sizeof s);
}

Result<void> VsockDevice::restore_state(std::span<const uint8_t> state) {
  uint32_t s[4];
  if (state.size() != sizeof s) {
    return Error::format("vsock state is {} bytes, expected {}", state.size(), sizeof s);
  }
  std::memcpy(s, state.data(), sizeof s);
  if (s[0] != kStateMagic || s[1] != kStateVersion) {
    return Error::format("vsock state magic {:#x} version {}: this build reads version {}", s[0],
                         s[1], kStateVersion);
  }
  uint64_t cid = s[2] | static_cast<uint64_t>(s[3]) << 32;
  if (cid != config_.guest_cid) {
    // Fine: the TRANSPORT_RESET event after restore makes the guest re-read
    // its CID from config space (§5.10.6.7).
    spdlog::info("vsock: snapshot had guest CID {}, now {}", cid, config_.guest_cid);
  }
  return Ok();
}

}  // namespace thaw::sandbox::virtio
