// virtio-vsock end to end: a fake guest on the rx/tx/event rings and real
// Unix sockets on the host side (hybrid vsock, CONTRACT.md): connections
// from both ends, data both ways, credit flow control, shutdown, reset,
// bogus packets, limits and the transport reset event.
#include "sandbox/devices/virtio/vsock_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::CountingInterrupt;
using testing::FakeQueue;
using testing::GuestAllocator;
using testing::MmioDriver;

constexpr uint64_t kGuestCid = 3;
constexpr uint32_t kRxBuf = kVsockHeaderSize + 4096;

struct Packet {
  VsockHeader h;
  std::string payload;
};

class VsockDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("thaw-vsock-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    uds_ = (dir_ / "v.sock").string();
    auto loop = IoLoop::create();
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    auto m = GuestMemory::create_anonymous(16 << 20);
    ASSERT_TRUE(m.ok());
    mem_.emplace(std::move(*m));
  }
  void TearDown() override {
    t_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start(VsockConfig cfg = {}) {
    cfg.guest_cid = kGuestCid;
    cfg.uds_path = uds_;
    auto dev = VsockDevice::create(cfg, *loop_);
    ASSERT_TRUE(dev.ok()) << dev.error().message;
    dev_ = dev->get();
    t_ = std::make_unique<MmioTransport>(std::move(*dev), *mem_, irq_);
    drv_.emplace(*t_);
    rx_.emplace(*mem_, alloc_, 64);
    tx_.emplace(*mem_, alloc_, 64);
    ev_.emplace(*mem_, alloc_, 4);
    ASSERT_TRUE(drv_->init(drv_->device_features(), {&*rx_, &*tx_, &*ev_}));
    pump([&] { return t_->is_active(); });
    ASSERT_TRUE(t_->is_active());
    post_rx(32);
  }

  void pump(const std::function<bool()>& done, int ms = 3000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!done() && std::chrono::steady_clock::now() < end) {
      ASSERT_TRUE(loop_->run_once(5).ok());
    }
  }
  // Spins the loop for `ms` regardless (to show something does NOT happen).
  void idle(int ms) {
    pump([] { return false; }, ms);
  }

  void post_rx(int n) {
    for (int i = 0; i < n; ++i) {
      uint64_t buf = alloc_.alloc(kRxBuf);
      uint16_t head = rx_->add_chain({{buf, kRxBuf, true}});
      rx_buf_[head] = buf;
      rx_->publish(head);
    }
    t_->notify_queue(0);
  }

  void send(VsockHeader h, std::string_view payload = {}) {
    h.src_cid = h.src_cid ? h.src_cid : kGuestCid;
    h.dst_cid = h.dst_cid ? h.dst_cid : kVsockHostCid;
    if (h.op == VsockOp::kRw && h.len == 0) h.len = uint32_t(payload.size());
    uint64_t buf = alloc_.alloc(kVsockHeaderSize + payload.size() + 1);
    auto bytes = encode_vsock_header(h);
    ASSERT_TRUE(mem_->write(buf, bytes).ok());
    if (!payload.empty()) {
      ASSERT_TRUE(mem_->write(buf + kVsockHeaderSize,
                              {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()})
                      .ok());
    }
    tx_->publish(tx_->add_chain({{buf, uint32_t(kVsockHeaderSize + payload.size()), false}}));
    t_->notify_queue(1);
  }

  VsockHeader guest_hdr(VsockOp op, uint32_t guest_port, uint32_t host_port,
                        uint32_t buf_alloc = 65536, uint32_t fwd_cnt = 0) {
    VsockHeader h;
    h.src_port = guest_port;
    h.dst_port = host_port;
    h.op = op;
    h.buf_alloc = buf_alloc;
    h.fwd_cnt = fwd_cnt;
    return h;
  }

  std::optional<Packet> try_rx() {
    auto used = rx_->next_used();
    if (!used) return std::nullopt;
    uint64_t buf = rx_buf_.at(uint16_t(used->id));
    std::array<uint8_t, kVsockHeaderSize> raw;
    EXPECT_TRUE(mem_->read(buf, raw).ok());
    Packet p{*decode_vsock_header(raw), {}};
    EXPECT_EQ(used->len, kVsockHeaderSize + p.h.len);
    p.payload.resize(p.h.len);
    EXPECT_TRUE(mem_->read(buf + kVsockHeaderSize,
                           {reinterpret_cast<uint8_t*>(p.payload.data()), p.h.len})
                    .ok());
    // Give the buffer back, like a driver refilling its rx ring.
    uint16_t head = rx_->add_chain({{buf, kRxBuf, true}});
    rx_buf_[head] = buf;
    rx_->publish(head);
    t_->notify_queue(0);
    return p;
  }
  Packet rx() {
    std::optional<Packet> p;
    pump([&] { return (p = try_rx()).has_value(); });
    EXPECT_TRUE(p.has_value()) << "no packet reached the guest";
    return p.value_or(Packet{});
  }

  UniqueFd host_connect(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << path;
    return fd;
  }
  UniqueFd host_listen(const std::string& path) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    return fd;
  }
  void host_write(const UniqueFd& fd, std::string_view s) {
    ASSERT_EQ(::write(fd.get(), s.data(), s.size()), ssize_t(s.size()));
  }
  // Reads until `n` bytes arrived or EOF/timeout.
  std::string host_read(const UniqueFd& fd, size_t n, bool* eof = nullptr) {
    std::string out;
    pump([&] {
      char buf[4096];
      ssize_t r = ::read(fd.get(), buf, std::min(sizeof buf, n - out.size()));
      if (r > 0) out.append(buf, size_t(r));
      if (r == 0 && eof) *eof = true;
      return out.size() >= n || r == 0;
    });
    return out;
  }
  bool host_sees_eof(const UniqueFd& fd) {
    bool eof = false;
    host_read(fd, 1 << 20, &eof);
    return eof;
  }

  // Host connects to guest port `port`; the guest accepts with `buf_alloc`.
  // Returns the host socket and the host-side port.
  std::pair<UniqueFd, uint32_t> open_from_host(uint32_t port, uint32_t buf_alloc = 65536) {
    UniqueFd fd = host_connect(uds_);
    host_write(fd, "CONNECT " + std::to_string(port) + "\n");
    Packet req = rx();
    EXPECT_EQ(req.h.op, VsockOp::kRequest);
    EXPECT_EQ(req.h.dst_port, port);
    EXPECT_EQ(req.h.dst_cid, kGuestCid);
    send(guest_hdr(VsockOp::kResponse, port, req.h.src_port, buf_alloc));
    std::string ok = "OK " + std::to_string(req.h.src_port) + "\n";
    EXPECT_EQ(host_read(fd, ok.size()), ok);
    return {std::move(fd), req.h.src_port};
  }

  std::filesystem::path dir_;
  std::string uds_;
  std::unique_ptr<IoLoop> loop_;
  std::optional<GuestMemory> mem_;
  CountingInterrupt irq_;
  VsockDevice* dev_ = nullptr;
  std::unique_ptr<MmioTransport> t_;
  std::optional<MmioDriver> drv_;
  GuestAllocator alloc_{0x10000};
  std::optional<FakeQueue> rx_, tx_, ev_;
  std::map<uint16_t, uint64_t> rx_buf_;
};

TEST_F(VsockDeviceTest, ConfigSpaceHoldsGuestCid) {
  start();
  EXPECT_EQ(drv_->read32(0x100), kGuestCid);
  EXPECT_EQ(drv_->read32(0x104), 0u);
  EXPECT_EQ(drv_->read32(0x008), 19u);
}

TEST_F(VsockDeviceTest, HostConnectsAndDataFlowsBothWays) {
  start();
  auto [fd, hport] = open_from_host(1024);
  EXPECT_GE(hport, 1u << 30);
  host_write(fd, "ping from host");
  Packet p = rx();
  EXPECT_EQ(p.h.op, VsockOp::kRw);
  EXPECT_EQ(p.h.src_port, hport);
  EXPECT_EQ(p.h.dst_port, 1024u);
  EXPECT_EQ(p.payload, "ping from host");
  send(guest_hdr(VsockOp::kRw, 1024, hport), "pong from guest");
  EXPECT_EQ(host_read(fd, 15), "pong from guest");
  auto st = dev_->stats();
  EXPECT_EQ(st.bytes_to_guest, 14u);
  EXPECT_EQ(st.bytes_to_host, 15u);
  EXPECT_EQ(st.active_connections, 1u);
}

TEST_F(VsockDeviceTest, PayloadPipelinedAfterConnectLineIsKept) {
  start();
  UniqueFd fd = host_connect(uds_);
  host_write(fd, "CONNECT 99\nearly bytes");
  Packet req = rx();
  ASSERT_EQ(req.h.op, VsockOp::kRequest);
  send(guest_hdr(VsockOp::kResponse, 99, req.h.src_port));
  Packet p = rx();
  EXPECT_EQ(p.h.op, VsockOp::kRw);
  EXPECT_EQ(p.payload, "early bytes");
}

TEST_F(VsockDeviceTest, GuestRefusalClosesHostSocket) {
  start();
  UniqueFd fd = host_connect(uds_);
  host_write(fd, "CONNECT 7\n");
  Packet req = rx();
  send(guest_hdr(VsockOp::kRst, 7, req.h.src_port));
  EXPECT_TRUE(host_sees_eof(fd));
  pump([&] { return dev_->stats().active_connections == 0; });
  EXPECT_EQ(dev_->stats().active_connections, 0u);
}

TEST_F(VsockDeviceTest, HostGivingUpBeforeGuestAnswersResetsGuestSide) {
  start();
  UniqueFd fd = host_connect(uds_);
  host_write(fd, "CONNECT 8\n");
  Packet req = rx();
  ASSERT_EQ(req.h.op, VsockOp::kRequest);
  fd.reset();  // the host program times out and closes
  Packet rst = rx();
  EXPECT_EQ(rst.h.op, VsockOp::kRst);
  EXPECT_EQ(rst.h.src_port, req.h.src_port);
  pump([&] { return dev_->stats().active_connections == 0; });
  EXPECT_EQ(dev_->stats().active_connections, 0u);
  // A late RESPONSE from the guest finds no connection and is refused.
  send(guest_hdr(VsockOp::kResponse, 8, req.h.src_port));
  EXPECT_EQ(rx().h.op, VsockOp::kRst);
}

TEST_F(VsockDeviceTest, HostHalfCloseBeforeGuestAnswersIsNotAHangup) {
  start();
  UniqueFd fd = host_connect(uds_);
  host_write(fd, "CONNECT 9\nrequest");
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);  // one-shot client: sends, then waits
  Packet req = rx();
  ASSERT_EQ(req.h.op, VsockOp::kRequest);
  idle(20);
  EXPECT_FALSE(try_rx().has_value());  // no RST for a half-close
  send(guest_hdr(VsockOp::kResponse, 9, req.h.src_port));
  std::string ok = "OK " + std::to_string(req.h.src_port) + "\n";
  EXPECT_EQ(host_read(fd, ok.size()), ok);
  EXPECT_EQ(rx().payload, "request");
  EXPECT_EQ(rx().h.op, VsockOp::kShutdown);
  send(guest_hdr(VsockOp::kRw, 9, req.h.src_port), "answer");
  EXPECT_EQ(host_read(fd, 6), "answer");
}

TEST_F(VsockDeviceTest, GuestConnectsToHostListener) {
  start();
  UniqueFd listener = host_listen(uds_ + "_5000");
  send(guest_hdr(VsockOp::kRequest, 777, 5000));
  Packet resp = rx();
  EXPECT_EQ(resp.h.op, VsockOp::kResponse);
  EXPECT_EQ(resp.h.src_port, 5000u);
  EXPECT_EQ(resp.h.dst_port, 777u);
  UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK));
  ASSERT_TRUE(conn.valid());
  send(guest_hdr(VsockOp::kRw, 777, 5000), "hello host");
  EXPECT_EQ(host_read(conn, 10), "hello host");
  host_write(conn, "hello guest");
  Packet p = rx();
  EXPECT_EQ(p.payload, "hello guest");
}

TEST_F(VsockDeviceTest, SlowHostReaderIsBufferedThenFlushedInOrder) {
  start();
  UniqueFd listener = host_listen(uds_ + "_5001");
  send(guest_hdr(VsockOp::kRequest, 779, 5001));
  ASSERT_EQ(rx().h.op, VsockOp::kResponse);
  UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK));
  ASSERT_TRUE(conn.valid());
  // 240 KB within the 256 KiB credit while the host reads nothing: more
  // than the Unix socket holds, so the rest waits in the device.
  std::string all;
  for (int i = 0; i < 60; ++i) {
    std::string chunk(4000, char('A' + i % 26));
    all += chunk;
    send(guest_hdr(VsockOp::kRw, 779, 5001), chunk);
  }
  pump([&] { return dev_->stats().bytes_to_host > 0; });
  EXPECT_LT(dev_->stats().bytes_to_host, all.size()) << "socket unexpectedly took everything";
  EXPECT_EQ(host_read(conn, all.size()), all);  // POLLOUT flushes the rest, in order
  EXPECT_EQ(dev_->stats().bytes_to_host, all.size());
  // The guest heard about the freed space: after the drain its view of our
  // buffer has at least half of buf_alloc free (it never stalls).
  bool credit_seen = false;
  uint32_t fwd = 0, buf_alloc = 0;
  for (std::optional<Packet> p; (p = try_rx()) || (idle(100), p = try_rx());) {
    if (p->h.op == VsockOp::kCreditUpdate) credit_seen = true;
    fwd = p->h.fwd_cnt;
    buf_alloc = p->h.buf_alloc;
  }
  EXPECT_TRUE(credit_seen);
  EXPECT_GE(buf_alloc - (all.size() - fwd), buf_alloc / 2) << "fwd_cnt " << fwd;
}

TEST_F(VsockDeviceTest, GuestConnectWithoutListenerGetsRst) {
  start();
  send(guest_hdr(VsockOp::kRequest, 778, 6000));
  Packet p = rx();
  EXPECT_EQ(p.h.op, VsockOp::kRst);
  EXPECT_EQ(p.h.dst_port, 778u);
}

TEST_F(VsockDeviceTest, CreditStopsHostToGuestAtZeroAndResumesOnUpdate) {
  start();
  auto [fd, hport] = open_from_host(1024, /*buf_alloc=*/100);
  host_write(fd, std::string(300, 'x'));
  size_t got = 0;
  while (got < 100) {
    Packet p = rx();
    ASSERT_EQ(p.h.op, VsockOp::kRw);
    got += p.payload.size();
  }
  EXPECT_EQ(got, 100u);
  idle(100);
  EXPECT_FALSE(try_rx().has_value()) << "device sent beyond the guest's credit";
  // The guest consumed 60 bytes.
  send(guest_hdr(VsockOp::kCreditUpdate, 1024, hport, 100, 60));
  Packet p = rx();
  EXPECT_EQ(p.payload.size(), 60u);
  idle(50);
  EXPECT_FALSE(try_rx().has_value());
}

TEST_F(VsockDeviceTest, GuestBeyondOurCreditIsReset) {
  start({.buf_alloc = 4096});
  auto [fd, hport] = open_from_host(1024);
  // The host does not read; the guest pushes past the 4096 bytes granted.
  // (The socket buffer absorbs it, so count what the device accepted.)
  std::string chunk(4000, 'a');
  send(guest_hdr(VsockOp::kRw, 1024, hport), chunk);
  send(guest_hdr(VsockOp::kRw, 1024, hport), chunk);  // 8000 bytes in flight > 4096
  Packet p = rx();
  // Either the socket took the first chunk (credit refilled) or not; a
  // guest that ignores fwd_cnt eventually hits the limit:
  for (int i = 0; i < 200 && p.h.op != VsockOp::kRst; ++i) {
    send(guest_hdr(VsockOp::kRw, 1024, hport), chunk);
    std::optional<Packet> q;
    pump([&] { return (q = try_rx()).has_value(); }, 20);
    if (q) p = *q;
  }
  EXPECT_EQ(p.h.op, VsockOp::kRst);
}

TEST_F(VsockDeviceTest, HostHalfCloseThenGuestCloses) {
  start();
  auto [fd, hport] = open_from_host(1024);
  ASSERT_EQ(::shutdown(fd.get(), SHUT_WR), 0);
  Packet sd = rx();
  EXPECT_EQ(sd.h.op, VsockOp::kShutdown);
  EXPECT_EQ(sd.h.flags, kVsockShutdownSend);
  // The host can still read what the guest answers.
  send(guest_hdr(VsockOp::kRw, 1024, hport), "last words");
  EXPECT_EQ(host_read(fd, 10), "last words");
  VsockHeader bye = guest_hdr(VsockOp::kShutdown, 1024, hport);
  bye.flags = kVsockShutdownRcv | kVsockShutdownSend;
  send(bye);
  Packet rst = rx();
  EXPECT_EQ(rst.h.op, VsockOp::kRst);
  EXPECT_TRUE(host_sees_eof(fd));
}

TEST_F(VsockDeviceTest, GuestResetClosesHostSide) {
  start();
  auto [fd, hport] = open_from_host(1024);
  send(guest_hdr(VsockOp::kRst, 1024, hport));
  EXPECT_TRUE(host_sees_eof(fd));
}

TEST_F(VsockDeviceTest, BogusPacketsAreAnsweredOrDroppedNotFatal) {
  start();
  // RW on a connection that does not exist: RST back.
  send(guest_hdr(VsockOp::kRw, 1, 2), "zz");
  Packet p = rx();
  EXPECT_EQ(p.h.op, VsockOp::kRst);
  // Spoofed source CID, wrong type, len beyond the buffer: dropped,
  // counted, and refused with an RST addressed to this guest.
  VsockHeader spoof = guest_hdr(VsockOp::kRequest, 1, 2);
  spoof.src_cid = 99;
  send(spoof);
  VsockHeader seq = guest_hdr(VsockOp::kRequest, 1, 2);
  seq.type = 2;
  send(seq);
  VsockHeader lying = guest_hdr(VsockOp::kRw, 1, 2);
  lying.len = 5000;
  send(lying, "abc");
  for (int i = 0; i < 3; ++i) {
    Packet rst = rx();
    EXPECT_EQ(rst.h.op, VsockOp::kRst);
    EXPECT_EQ(rst.h.dst_cid, kGuestCid);
    EXPECT_EQ(rst.h.dst_port, 1u);
  }
  EXPECT_EQ(dev_->stats().bad_packets, 3u);
  EXPECT_FALSE(t_->is_broken());
  // Still works afterwards.
  auto [fd, hport] = open_from_host(1024);
  EXPECT_TRUE(fd.valid());
}

TEST_F(VsockDeviceTest, MalformedPacketOnLiveConnectionResetsIt) {
  start();
  auto [fd, hport] = open_from_host(1024);
  VsockHeader lying = guest_hdr(VsockOp::kRw, 1024, hport);
  lying.len = 100;  // the buffer holds 3 bytes of payload
  send(lying, "abc");
  Packet rst = rx();
  EXPECT_EQ(rst.h.op, VsockOp::kRst);
  EXPECT_EQ(rst.h.src_port, hport);
  EXPECT_TRUE(host_sees_eof(fd));
  pump([&] { return dev_->stats().active_connections == 0; });
  EXPECT_EQ(dev_->stats().active_connections, 0u);
}

TEST_F(VsockDeviceTest, MalformedConnectLinesAreClosed) {
  start();
  for (std::string bad : {std::string("HELLO 1\n"), std::string("CONNECT abc\n"),
                          std::string("CONNECT 99999999999\n"), std::string(40, 'C')}) {
    UniqueFd fd = host_connect(uds_);
    host_write(fd, bad);
    EXPECT_TRUE(host_sees_eof(fd)) << bad;
  }
  idle(20);
  EXPECT_FALSE(try_rx().has_value());
}

TEST_F(VsockDeviceTest, ConnectionLimitIsEnforced) {
  start({.max_connections = 1});
  auto [fd, hport] = open_from_host(1024);
  UniqueFd second = host_connect(uds_);
  host_write(second, "CONNECT 1025\n");
  EXPECT_TRUE(host_sees_eof(second));
  send(guest_hdr(VsockOp::kRequest, 800, 7000));
  EXPECT_EQ(rx().h.op, VsockOp::kRst);
}

TEST_F(VsockDeviceTest, SilentHostClientsAreEvictedOldestFirst) {
  start({.max_pending_handshakes = 2});
  UniqueFd a = host_connect(uds_), b = host_connect(uds_);
  idle(20);
  UniqueFd c = host_connect(uds_);  // third silent client: `a` goes
  EXPECT_TRUE(host_sees_eof(a));
  host_write(c, "CONNECT 3\n");
  EXPECT_EQ(rx().h.op, VsockOp::kRequest);
}

TEST_F(VsockDeviceTest, TransportResetEventDropsConnections) {
  start();
  uint64_t evbuf = alloc_.alloc(4);
  ASSERT_TRUE(mem_->write_obj<uint32_t>(evbuf, 0xffffffff).ok());
  ev_->publish(ev_->add_chain({{evbuf, 4, true}}));
  t_->notify_queue(2);
  auto [fd, hport] = open_from_host(1024);
  dev_->send_transport_reset();
  std::optional<testing::UsedElem> used;
  pump([&] { return (used = ev_->next_used()).has_value(); });
  ASSERT_TRUE(used.has_value());
  EXPECT_EQ(used->len, 4u);
  EXPECT_EQ(*mem_->read_obj<uint32_t>(evbuf), 0u);  // VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
  EXPECT_TRUE(host_sees_eof(fd));
  EXPECT_EQ(dev_->stats().active_connections, 0u);
}

TEST_F(VsockDeviceTest, StateBlobRoundTripAndRejection) {
  start();
  auto blob = t_->save_state();
  ASSERT_TRUE(blob.ok()) << blob.error().message;
  auto& dev = t_->device();
  // The backend part is the last 16 bytes: magic, version, CID.
  std::span<const uint8_t> backend(blob->data() + blob->size() - 16, 16);
  EXPECT_TRUE(dev.restore_state(backend).ok());
  std::vector<uint8_t> bad(backend.begin(), backend.end());
  bad[4] = 9;  // version
  auto r = dev.restore_state(bad);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("version"), std::string::npos);
  EXPECT_FALSE(dev.restore_state(std::span<const uint8_t>(bad.data(), 8)).ok());
}

TEST_F(VsockDeviceTest, RxBufferWithoutRoomForHeaderBreaksDevice) {
  start();
  uint64_t tiny = alloc_.alloc(8);
  // Replace the ring content: a fresh queue whose only buffer is 8 bytes.
  drv_->write32(0x070, 0);
  pump([&] { return !t_->is_active(); });
  FakeQueue rx2(*mem_, alloc_, 8), tx2(*mem_, alloc_, 8), ev2(*mem_, alloc_, 4);
  ASSERT_TRUE(drv_->init(drv_->device_features(), {&rx2, &tx2, &ev2}));
  pump([&] { return t_->is_active(); });
  rx2.publish(rx2.add_chain({{tiny, 8, true}}));
  t_->notify_queue(0);
  UniqueFd fd = host_connect(uds_);
  host_write(fd, "CONNECT 5\n");
  pump([&] { return t_->is_broken(); });
  EXPECT_TRUE(t_->is_broken());
}

}  // namespace
}  // namespace thaw::sandbox::virtio
