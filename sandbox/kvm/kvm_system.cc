#include "sandbox/kvm/kvm_system.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstring>
#include <algorithm>
#include <memory>

#include "sandbox/kvm/kvm_abi.h"

namespace thaw::sandbox {

namespace {
constexpr int kKvmApiVersion = 12;
// KVM_GET_SUPPORTED_CPUID fails with E2BIG when the buffer is too small;
// 256 entries covers every leaf/subleaf current hosts report.
constexpr uint32_t kMaxCpuidEntries = 256;
constexpr uint32_t kMaxMsrIndices = 1024;
}  // namespace

Result<KvmSystem> KvmSystem::open(const char* path) {
  KvmSystem sys;
  int fd = ::open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return Error::from_errno("opening {} (is the kvm module loaded and are you allowed to use it?)",
                             path);
  }
  sys.fd_.reset(fd);
  int version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  if (version != kKvmApiVersion) {
    return Error::format("{}: KVM API version {} is not the supported version {}", path, version,
                         kKvmApiVersion);
  }
  return sys;
}

int KvmSystem::check_extension(long cap) const {
  int r = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

Result<int> KvmSystem::vcpu_mmap_size() const {
  int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < 0) return Error::from_errno("KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(size) < sizeof(kvm_run)) {
    return Error::format("KVM_GET_VCPU_MMAP_SIZE returned {} bytes, less than struct kvm_run ({})",
                         size, sizeof(kvm_run));
  }
  return size;
}

Result<std::vector<kvm_cpuid_entry2>> KvmSystem::supported_cpuid() const {
  // struct kvm_cpuid2 ends in a flexible array; allocate header + entries.
  // Header + entries laid out as the C struct kvm_cpuid2 (see kvm_abi.h).
  std::vector<uint8_t> buf(sizeof(kvm_abi::CpuidHeader) +
                           kMaxCpuidEntries * sizeof(kvm_cpuid_entry2));
  auto* header = reinterpret_cast<kvm_abi::CpuidHeader*>(buf.data());
  header->nent = kMaxCpuidEntries;
  if (::ioctl(fd_.get(), kvm_abi::kGetSupportedCpuid, buf.data()) < 0) {
    return Error::from_errno("KVM_GET_SUPPORTED_CPUID with room for {} entries", kMaxCpuidEntries);
  }
  uint32_t n = std::min(header->nent, kMaxCpuidEntries);
  std::vector<kvm_cpuid_entry2> entries(n);
  std::memcpy(entries.data(), buf.data() + sizeof(kvm_abi::CpuidHeader),
              n * sizeof(kvm_cpuid_entry2));
  return entries;
}

Result<std::vector<uint32_t>> KvmSystem::msr_index_list() const {
  std::vector<uint8_t> buf(sizeof(kvm_abi::MsrListHeader) + kMaxMsrIndices * sizeof(uint32_t));
  auto* header = reinterpret_cast<kvm_abi::MsrListHeader*>(buf.data());
  header->nmsrs = kMaxMsrIndices;
  if (::ioctl(fd_.get(), kvm_abi::kGetMsrIndexList, buf.data()) < 0) {
    return Error::from_errno("KVM_GET_MSR_INDEX_LIST with room for {} indices", kMaxMsrIndices);
  }
  uint32_t n = std::min(header->nmsrs, kMaxMsrIndices);
  std::vector<uint32_t> indices(n);
  std::memcpy(indices.data(), buf.data() + sizeof(kvm_abi::MsrListHeader), n * sizeof(uint32_t));
  return indices;
}

bool KvmSystem::is_pvm() {
  struct stat st {};
  return ::stat("/sys/module/kvm_pvm", &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace thaw::sandbox
