// Byte-stream access to a descriptor chain (virtio 1.2 §2.6.4: devices make
// no assumption about how the driver framed a message across buffers).
// Used by the vsock device to read/write packet headers and build iovecs.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "common/result.h"
#include "sandbox/devices/virtio/virtqueue.h"

namespace thaw::sandbox::virtio {

// Copies out.size() bytes starting `offset` bytes into the chain's
// device-readable part.
Result<void> read_from_chain(const GuestMemory& mem, const DescriptorChain& chain,
                             uint64_t offset, std::span<uint8_t> out);
// Copies `in` to `offset` bytes into the chain's device-writable part.
Result<void> write_to_chain(const GuestMemory& mem, const DescriptorChain& chain,
                            uint64_t offset, std::span<const uint8_t> in);
// Appends host iovecs covering [offset, offset+len) of the readable or
// writable part to `iov` (cleared first). Fails if the range is not there.
Result<void> chain_iovecs(const GuestMemory& mem, const DescriptorChain& chain, bool writable,
                          uint64_t offset, uint64_t len, std::vector<iovec>& iov);

}  // namespace thaw::sandbox::virtio
