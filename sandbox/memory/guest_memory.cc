#include "sandbox/memory/guest_memory.h"

#include <sys/mman.h>
#include <unistd.h>

namespace thaw::sandbox {

namespace {
constexpr uint64_t kPageSize = 4096;
}

std::vector<GuestRegion> GuestMemory::layout(uint64_t size) {
  std::vector<GuestRegion> regions;
  uint64_t low = size < kMmioGapStart ? size : kMmioGapStart;
  regions.push_back({0, low, 0, nullptr});
  if (size > low) regions.push_back({kMmioGapEnd, size - low, low, nullptr});
  return regions;
}

Result<void> GuestMemory::map_regions(int fd, int flags) {
  auto m = Mapping::map(size_, PROT_READ | PROT_WRITE, flags | MAP_NORESERVE, fd, 0);
  if (!m) return std::move(m).error().context("mapping guest memory");
  mapping_ = std::move(*m);
  regions_ = layout(size_);
  for (auto& r : regions_) r.host = mapping_.data() + r.file_offset;
  return Ok();
}

Result<GuestMemory> GuestMemory::create_memfd(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return Error::format("guest memory size {} is not a positive multiple of 4 KiB", size);
  }
  GuestMemory mem;
  mem.size_ = size;
  int fd = ::memfd_create("thaw-guest-ram", MFD_CLOEXEC);
  if (fd < 0) return Error::from_errno("memfd_create for guest memory");
  mem.fd_.reset(fd);
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    return Error::from_errno("sizing guest memory memfd to {} bytes", size);
  }
  auto r = mem.map_regions(fd, MAP_SHARED);
  if (!r) return std::move(r).error();
  return mem;
}

Result<GuestMemory> GuestMemory::map_file(UniqueFd fd, uint64_t size, bool private_cow) {
  if (size == 0 || size % kPageSize != 0) {
    return Error::format("guest memory size {} is not a positive multiple of 4 KiB", size);
  }
  GuestMemory mem;
  mem.size_ = size;
  mem.fd_ = std::move(fd);
  auto r = mem.map_regions(mem.fd_.get(), private_cow ? MAP_PRIVATE : MAP_SHARED);
  if (!r) return std::move(r).error();
  return mem;
}

Result<GuestMemory> GuestMemory::create_anonymous(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    return Error::format("guest memory size {} is not a positive multiple of 4 KiB", size);
  }
  GuestMemory mem;
  mem.size_ = size;
  auto r = mem.map_regions(-1, MAP_PRIVATE | MAP_ANONYMOUS);
  if (!r) return std::move(r).error();
  return mem;
}

Result<void> GuestMemory::remap_file(UniqueFd fd, bool private_cow) {
  if (mapping_.data() == nullptr) return Error::format("guest memory has no mapping to replace");
  int flags = (private_cow ? MAP_PRIVATE : MAP_SHARED) | MAP_FIXED | MAP_NORESERVE;
  void* at = ::mmap(mapping_.data(), size_, PROT_READ | PROT_WRITE, flags, fd.get(), 0);
  if (at == MAP_FAILED) return Error::from_errno("remapping {} bytes of guest memory", size_);
  fd_ = std::move(fd);
  return Ok();
}

const GuestRegion* GuestMemory::find(uint64_t gpa, uint64_t len) const {
  for (const auto& r : regions_) {
    // Written so that a hostile gpa/len cannot overflow past the check.
    if (gpa >= r.guest_base && gpa - r.guest_base <= r.size &&
        len <= r.size - (gpa - r.guest_base)) {
      return &r;
    }
  }
  return nullptr;
}

bool GuestMemory::contains(uint64_t gpa, uint64_t len) const { return find(gpa, len) != nullptr; }

Result<std::span<uint8_t>> GuestMemory::slice(uint64_t gpa, uint64_t len) const {
  if (const GuestRegion* r = find(gpa, len)) {
    return std::span<uint8_t>(r->host + (gpa - r->guest_base), len);
  }
  return Error::format("guest range [{:#x}, +{:#x}) is outside guest memory", gpa, len);
}

Result<void> GuestMemory::read(uint64_t gpa, std::span<uint8_t> out) const {
  auto s = slice(gpa, out.size());
  if (!s) return std::move(s).error();
  if (!out.empty()) std::memcpy(out.data(), s->data(), out.size());
  return Ok();
}

Result<void> GuestMemory::write(uint64_t gpa, std::span<const uint8_t> in) const {
  auto s = slice(gpa, in.size());
  if (!s) return std::move(s).error();
  if (!in.empty()) std::memcpy(s->data(), in.data(), in.size());
  return Ok();
}

}  // namespace thaw::sandbox
