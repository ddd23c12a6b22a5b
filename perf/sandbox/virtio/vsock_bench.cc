// The vsock guest->host packet path: an RW packet on the TX ring, parsed,
// validated, sent zero-copy from guest memory into a Unix socket, the used
// entry returned, and the bytes read by the host program; and the reverse
// direction into guest RX buffers. Reports bytes/s for 4 KiB and 64 KiB.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtio_spec.h"
#include "sandbox/devices/virtio/vsock_device.h"
#include "tests/sandbox/virtio/fake_driver.h"

namespace thaw::sandbox::virtio {
namespace {

using testing::CountingInterrupt;
using testing::FakeQueue;
using testing::GuestAllocator;
using testing::MmioDriver;

// What both directions need: a scratch directory for the device's Unix
// sockets, an IO loop, guest memory, and a fake guest that has activated a
// vsock device (CID 3) through its rx/tx/event rings.
struct VsockRig {
  std::filesystem::path dir;
  std::string uds;
  std::unique_ptr<IoLoop> loop;
  std::optional<GuestMemory> mem;
  CountingInterrupt irq;
  std::optional<MmioTransport> transport;
  std::optional<MmioDriver> driver;
  GuestAllocator alloc{0x10000};
  std::optional<FakeQueue> rx, tx, ev;

  ~VsockRig() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  // Returns why the rig could not be set up, or "" once the device is active.
  std::string start(const std::string& tag, uint64_t mem_bytes) {
    dir = std::filesystem::temp_directory_path() / (tag + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    uds = (dir / "v.sock").string();
    auto l = IoLoop::create();
    auto m = GuestMemory::create_anonymous(mem_bytes);
    if (!l || !m) return "setup";
    loop = std::move(*l);
    mem.emplace(std::move(*m));
    auto dev = VsockDevice::create({.guest_cid = 3, .uds_path = uds}, *loop);
    if (!dev) return dev.error().message;
    transport.emplace(std::move(*dev), *mem, irq);
    driver.emplace(*transport);
    rx.emplace(*mem, alloc, 256);
    tx.emplace(*mem, alloc, 256);
    ev.emplace(*mem, alloc, 4);
    driver->init(driver->device_features(), {&*rx, &*tx, &*ev});
    while (!transport->is_active()) (void)loop->run_once(5);
    return "";
  }
};

void BM_VsockGuestToHost(benchmark::State& state) {
  const uint32_t payload = static_cast<uint32_t>(state.range(0));
  VsockRig rig;
  if (std::string why = rig.start("thaw-vsock-bench-", 8 << 20); !why.empty()) {
    return state.SkipWithError(why.c_str());
  }

  // Host listener at "<uds>_5000"; the guest connects to it.
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::string lpath = rig.uds + "_5000";
  std::memcpy(a.sun_path, lpath.data(), lpath.size());
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listener.get(), 1) != 0) {
    return state.SkipWithError("host listener");
  }
  auto send = [&](VsockOp op, uint32_t len) {
    VsockHeader h;
    h.src_cid = 3;
    h.dst_cid = kVsockHostCid;
    h.src_port = 777;
    h.dst_port = 5000;
    h.op = op;
    h.len = len;
    h.buf_alloc = 1 << 20;
    static uint64_t buf = rig.alloc.alloc(kVsockHeaderSize + (64 << 10));
    auto bytes = encode_vsock_header(h);
    (void)rig.mem->write(buf, bytes);
    uint32_t chain_len = static_cast<uint32_t>(kVsockHeaderSize + len);
    rig.tx->publish(rig.tx->add_chain({{buf, chain_len, false}}));
    rig.transport->notify_queue(1);
  };
  send(VsockOp::kRequest, 0);
  UniqueFd conn;
  while (!conn) {
    (void)rig.loop->run_once(5);
    conn.reset(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK));
  }
  for (int i = 0; i < 20; ++i) (void)rig.loop->run_once(1);  // connect completion
  std::vector<char> sink(payload);
  for (auto _ : state) {
    send(VsockOp::kRw, payload);
    size_t got = 0;
    while (got < payload) {
      ssize_t n = ::read(conn.get(), sink.data(), payload - got);
      if (n > 0) got += static_cast<size_t>(n);
      else (void)rig.loop->run_once(0);  // flush path (socket was full)
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * payload);
}
BENCHMARK(BM_VsockGuestToHost)->Arg(4096)->Arg(65536);

// Host -> guest: the host program writes `payload` bytes, the device reads
// them from the socket straight into guest RX buffers (4 KiB each, as
// Linux posts them), and the fake guest recycles the buffers and returns
// credit once per round.
void BM_VsockHostToGuest(benchmark::State& state) {
  const uint32_t payload = static_cast<uint32_t>(state.range(0));
  VsockRig rig;
  if (std::string why = rig.start("thaw-vsock-bench-rx-", 16 << 20); !why.empty()) {
    return state.SkipWithError(why.c_str());
  }

  constexpr uint32_t kRxBuf = kVsockHeaderSize + 4096;
  std::vector<uint64_t> rx_buf(256);
  for (uint16_t i = 0; i < 256; ++i) {
    rx_buf[i] = rig.alloc.alloc(kRxBuf);
    rig.rx->write_desc(i, rx_buf[i], kRxBuf, kDescFWrite, 0);
    rig.rx->publish(i);
  }
  uint64_t txbuf = rig.alloc.alloc(kVsockHeaderSize);
  uint32_t host_port = 0;
  uint64_t received = 0;
  auto send = [&](VsockOp op) {
    VsockHeader h;
    h.src_cid = 3;
    h.dst_cid = kVsockHostCid;
    h.src_port = 1024;
    h.dst_port = host_port;
    h.op = op;
    h.buf_alloc = 1 << 20;
    h.fwd_cnt = static_cast<uint32_t>(received);
    (void)rig.mem->write(txbuf, encode_vsock_header(h));
    rig.tx->publish(rig.tx->add_chain({{txbuf, kVsockHeaderSize, false}}));
    rig.transport->notify_queue(1);
  };
  // Drains used RX entries back into the ring; returns payload bytes seen.
  auto drain = [&]() -> uint64_t {
    uint64_t bytes = 0;
    while (auto used = rig.rx->next_used()) {
      auto len = rig.mem->read_obj<uint32_t>(rx_buf[used->id] + 24);
      if (len) bytes += *len;
      if (!host_port) host_port = *rig.mem->read_obj<uint32_t>(rx_buf[used->id] + 16);
      rig.rx->publish(static_cast<uint16_t>(used->id));
    }
    rig.transport->notify_queue(0);
    return bytes;
  };

  UniqueFd host(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, rig.uds.data(), rig.uds.size());
  if (::connect(host.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    return state.SkipWithError("connect");
  }
  const char hello[] = "CONNECT 1024\n";
  if (::write(host.get(), hello, sizeof hello - 1) != sizeof hello - 1) {
    return state.SkipWithError("CONNECT");
  }
  while (!host_port) {
    (void)rig.loop->run_once(5);
    drain();
  }
  send(VsockOp::kResponse);
  char ok[32];
  if (::read(host.get(), ok, sizeof ok) <= 0) return state.SkipWithError("no OK line");

  std::vector<char> data(payload, 'x');
  for (auto _ : state) {
    if (::write(host.get(), data.data(), payload) != ssize_t(payload)) {
      return state.SkipWithError("host write");
    }
    uint64_t want = received + payload;
    while (received < want) {
      (void)rig.loop->run_once(0);
      received += drain();
    }
    send(VsockOp::kCreditUpdate);  // the guest application consumed it all
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * payload);
}
BENCHMARK(BM_VsockHostToGuest)->Arg(4096)->Arg(65536);

}  // namespace
}  // namespace thaw::sandbox::virtio

BENCHMARK_MAIN();
