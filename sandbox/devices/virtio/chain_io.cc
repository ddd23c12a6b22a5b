#include "sandbox/devices/virtio/chain_io.h"

#include <algorithm>
#include <cstring>

namespace thaw::sandbox::virtio {

namespace {

// Calls fn(host span) for each piece of [offset, offset+len) in the chosen
// part of the chain, in order.
template <typename Fn>
Result<void> for_range(const GuestMemory& mem, const DescriptorChain& chain, bool writable,
                       uint64_t offset, uint64_t len, Fn&& fn) {
  uint64_t total = writable ? chain.writable_bytes : chain.readable_bytes;
  if (offset > total || len > total - offset) {
    return Error::format("range [{}, +{}) is beyond the {} {} bytes of the chain", offset, len,
                         total, writable ? "device-writable" : "device-readable");
  }
  for (const ChainSegment& s : chain.segments) {
    if (len == 0) break;
    if (s.device_writable != writable) continue;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    uint64_t n = std::min<uint64_t>(s.len - offset, len);
    auto span = mem.slice(s.gpa + offset, n);
    if (!span) return std::move(span).error();
    fn(*span);
    offset = 0;
    len -= n;
  }
  return Ok();
}

}  // namespace

Result<void> read_from_chain(const GuestMemory& mem, const DescriptorChain& chain,
                             uint64_t offset, std::span<uint8_t> out) {
  size_t done = 0;
  return for_range(mem, chain, false, offset, out.size(), [&](std::span<uint8_t> s) {
    std::memcpy(out.data() + done, s.data(), s.size());
    done += s.size();
  });
}

Result<void> write_to_chain(const GuestMemory& mem, const DescriptorChain& chain,
                            uint64_t offset, std::span<const uint8_t> in) {
  size_t done = 0;
  return for_range(mem, chain, true, offset, in.size(), [&](std::span<uint8_t> s) {
    std::memcpy(s.data(), in.data() + done, s.size());
    done += s.size();
  });
}

Result<void> chain_iovecs(const GuestMemory& mem, const DescriptorChain& chain, bool writable,
                          uint64_t offset, uint64_t len, std::vector<iovec>& iov) {
  iov.clear();
  return for_range(mem, chain, writable, offset, len,
                   [&](std::span<uint8_t> s) { iov.push_back({s.data(), s.size()}); });
}

}  // namespace thaw::sandbox::virtio
