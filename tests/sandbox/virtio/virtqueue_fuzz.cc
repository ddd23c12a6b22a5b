// Fuzz target for what a hostile guest controls directly: the bytes of the
// descriptor table and available ring (virtqueue chain walking, indirect
// tables, index arithmetic), the chain byte-stream helpers over whatever
// chains come out, and vsock packet headers. Must never crash, hang or read
// outside guest memory (run under ASan+UBSan).
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "sandbox/devices/virtio/chain_io.h"
#include "sandbox/devices/virtio/virtqueue.h"
#include "sandbox/devices/virtio/vsock_packet.h"

using namespace thaw::sandbox;
using namespace thaw::sandbox::virtio;

namespace {
constexpr uint64_t kMemSize = 64 * 1024;
constexpr uint16_t kQueueSize = 16;
// Fixed ring placement; the input is copied over the start of RAM so it
// covers the descriptor table (0x0), avail ring (0x100), used ring (0x200)
// and the buffers they point at.
constexpr VirtqueueLayout kLayout{kQueueSize, 0x0, 0x100, 0x200};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::optional<GuestMemory> mem = [] {
    auto m = GuestMemory::create_anonymous(kMemSize);
    if (!m) __builtin_trap();
    return std::optional<GuestMemory>(std::move(*m));
  }();
  auto all = mem->slice(0, kMemSize);
  std::memset(all->data(), 0, kMemSize);
  std::memcpy(all->data(), data, size < kMemSize ? size : kMemSize);

  // The first two input bytes also pick the starting ring position, so
  // wrap-around near 65535 is reachable.
  VirtqueuePosition pos;
  if (size >= 2) pos.next_avail = pos.next_used = static_cast<uint16_t>(data[0] << 8 | data[1]);
  Virtqueue q(kQueueSize);
  bool event_idx = size > 2 && (data[2] & 1);
  if (!q.restore(*mem, kLayout, event_idx, pos)) __builtin_trap();  // layout is valid

  std::vector<iovec> iov;
  for (int i = 0; i < 2 * kQueueSize; ++i) {
    auto chain = q.pop(*mem);
    if (!chain || !*chain) break;
    const DescriptorChain& c = **chain;
    if (c.segments.size() > kQueueSize) __builtin_trap();  // the bound must hold
    uint8_t hdr[kVsockHeaderSize];
    if (c.readable_bytes >= sizeof hdr && read_from_chain(*mem, c, 0, hdr)) {
      auto h = decode_vsock_header(hdr);
      if (h) (void)validate_guest_header(*h, 3, c.readable_bytes - sizeof hdr, 65536);
    }
    (void)chain_iovecs(*mem, c, true, 0, c.writable_bytes, iov);
    for (const iovec& v : iov) {
      // Every iovec must lie inside guest RAM: touch its ends.
      auto* p = static_cast<volatile uint8_t*>(v.iov_base);
      if (v.iov_len) p[0] = p[v.iov_len - 1];
    }
    if (!q.push_used(*mem, c.head, static_cast<uint32_t>(c.writable_bytes))) break;
    (void)q.should_interrupt(*mem);
  }
  (void)q.arm_notification(*mem);
  return 0;
}
