// Guest physical memory: host mappings of the guest's RAM regions and the
// only way any device touches it. Every access is bounds-checked against the
// regions; no device ever holds a raw guest pointer (crosvm/Cloud Hypervisor).
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

#include "common/mapping.h"
#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::sandbox {

// x86 layout: RAM from 0 up to the MMIO gap, the rest above 4 GiB.
inline constexpr uint64_t kMmioGapStart = 0xD000'0000;  // 3.25 GiB
inline constexpr uint64_t kMmioGapEnd = 0x1'0000'0000;  // 4 GiB

struct GuestRegion {
  uint64_t guest_base = 0;   // guest physical address of the first byte
  uint64_t size = 0;
  uint64_t file_offset = 0;  // offset of the region in the backing file
  uint8_t* host = nullptr;
};

class GuestMemory {
 public:
  // RAM backed by a fresh memfd (so a snapshot can write it out or a restore
  // can map a file instead). size must be a multiple of 4 KiB.
  static Result<GuestMemory> create_memfd(uint64_t size);
  // RAM mapped from an existing file (snapshot restore): MAP_PRIVATE makes
  // it lazy and copy-on-write, sharing clean pages through the page cache.
  static Result<GuestMemory> map_file(UniqueFd fd, uint64_t size, bool private_cow);
  // Anonymous RAM for unit tests and fake guests.
  static Result<GuestMemory> create_anonymous(uint64_t size);
  // Replaces the backing in place with `fd` (a file of size() bytes, mapped
  // from offset 0 like map_file): host addresses do not move, so a VM that
  // already has these regions as memory slots (a standby thaw-vmm) sees the
  // file's pages without a KVM_SET_USER_MEMORY_REGION, which costs
  // milliseconds once vCPUs exist. MAP_FIXED over this object's own mapping.
  Result<void> remap_file(UniqueFd fd, bool private_cow);

  GuestMemory(GuestMemory&&) = default;
  GuestMemory& operator=(GuestMemory&&) = default;

  // The layout of `size` bytes of RAM around the MMIO gap.
  static std::vector<GuestRegion> layout(uint64_t size);

  uint64_t size() const { return size_; }
  const std::vector<GuestRegion>& regions() const { return regions_; }
  int fd() const { return fd_.get(); }

  // A host view of [gpa, gpa+len): must lie within one region.
  Result<std::span<uint8_t>> slice(uint64_t gpa, uint64_t len) const;
  bool contains(uint64_t gpa, uint64_t len) const;

  Result<void> read(uint64_t gpa, std::span<uint8_t> out) const;
  Result<void> write(uint64_t gpa, std::span<const uint8_t> in) const;

  template <typename T>
  Result<T> read_obj(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    auto r = read(gpa, {reinterpret_cast<uint8_t*>(&value), sizeof(T)});
    if (!r) return std::move(r).error();
    return value;
  }
  template <typename T>
  Result<void> write_obj(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(gpa, {reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }

 private:
  GuestMemory() = default;
  Result<void> map_regions(int fd, int flags);
  const GuestRegion* find(uint64_t gpa, uint64_t len) const;

  uint64_t size_ = 0;
  UniqueFd fd_;
  Mapping mapping_;  // one reservation covering every region, in file order
  std::vector<GuestRegion> regions_;
};

}  // namespace thaw::sandbox
