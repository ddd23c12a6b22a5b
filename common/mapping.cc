#include "common/mapping.h"

namespace thaw {

Result<Mapping> Mapping::map(size_t size, int prot, int flags, int fd, off_t offset) {
  void* addr = ::mmap(nullptr, size, prot, flags, fd, offset);
  if (addr == MAP_FAILED) return Error::from_errno("mmap of {} bytes", size);
  return Mapping(addr, size);
}

void Mapping::reset() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
  addr_ = nullptr;
  size_ = 0;
}

}  // namespace thaw
