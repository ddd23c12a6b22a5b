#include "snapshot/pre_fault.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

namespace thaw::snapshot {

namespace {

// include/uapi/linux/kvm.h (6.10): struct kvm_pre_fault_memory and its ioctl.
struct KvmPreFaultMemory {
  uint64_t gpa;
  uint64_t size;
  uint64_t flags;
  uint64_t padding[5];
};
static_assert(sizeof(KvmPreFaultMemory) == 64);
constexpr unsigned long kPreFaultMemory = _IOWR(KVMIO, 0xd5, KvmPreFaultMemory);
constexpr uint64_t kPage = 4096;

}  // namespace

PreFaultSupport pre_fault_support(int vm_fd) {
  int r = ::ioctl(vm_fd, KVM_CHECK_EXTENSION, kCapPreFaultMemory);
  if (r > 0) return {true, {}};
  utsname u{};
  ::uname(&u);
  return {false, fmt::format("KVM_CAP_PRE_FAULT_MEMORY is not reported for this VM (host kernel "
                             "{}; it needs Linux 6.10+ and a TDP MMU: EPT/NPT, not shadow "
                             "paging such as PVM); the working set is prefetched with "
                             "MADV_POPULATE_* only",
                             u.release)};
}

Result<std::vector<GuestRange>> working_set_guest_ranges(
    const std::vector<sandbox::GuestRegion>& regions, const WorkingSet& set) {
  std::vector<GuestRange> out;
  for (const PageRun& run : set.runs) {
    uint64_t offset = run.file_offset, left = uint64_t{run.pages} * kPage;
    while (left > 0) {
      auto it = std::find_if(regions.begin(), regions.end(), [&](const sandbox::GuestRegion& r) {
        return offset >= r.file_offset && offset - r.file_offset < r.size;
      });
      if (it == regions.end()) {
        return Error::format("working-set run at file offset {:#x} lies outside guest memory; "
                             "delete the working-set file to record it again",
                             offset);
      }
      uint64_t in_region = std::min(left, it->file_offset + it->size - offset);
      GuestRange range{it->guest_base + (offset - it->file_offset), in_region};
      if (!out.empty() && out.back().gpa + out.back().size == range.gpa) {
        out.back().size += range.size;
      } else {
        out.push_back(range);
      }
      offset += in_region;
      left -= in_region;
    }
  }
  return out;
}

Result<PreFaultStats> pre_fault_ranges(int vcpu_fd, const std::vector<GuestRange>& ranges) {
  PreFaultStats stats;
  for (const GuestRange& range : ranges) {
    KvmPreFaultMemory arg{};
    arg.gpa = range.gpa;
    arg.size = range.size;
    // KVM advances gpa/size as it goes; an interrupted call is resumed
    // with what is left (Documentation/virt/kvm/api.rst, 4.143).
    while (arg.size > 0) {
      ++stats.ioctls;
      if (::ioctl(vcpu_fd, kPreFaultMemory, &arg) == 0) break;
      if (errno == EINTR || errno == EAGAIN) continue;
      return Error::from_errno("KVM_PRE_FAULT_MEMORY [{:#x}, +{:#x})", arg.gpa, arg.size);
    }
    stats.pages += range.size / kPage;
  }
  return stats;
}

}  // namespace thaw::snapshot
