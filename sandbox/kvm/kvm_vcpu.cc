#include "sandbox/kvm/kvm_vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "sandbox/kvm/kvm_abi.h"

namespace thaw::sandbox {

namespace {
constexpr size_t kMaxCpuidEntries = 256;
}

Result<std::unique_ptr<KvmVcpu>> KvmVcpu::adopt(UniqueFd fd, uint32_t id, size_t mmap_size) {
  std::unique_ptr<KvmVcpu> vcpu(new KvmVcpu());
  auto run = Mapping::map(mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (!run) return std::move(run).error().context(fmt::format("mapping kvm_run of vCPU {}", id));
  vcpu->fd_ = std::move(fd);
  vcpu->id_ = id;
  vcpu->run_ = std::move(*run);
  return vcpu;
}

Result<KvmVcpu::RunResult> KvmVcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
    if (errno == EINTR || errno == EAGAIN) return RunResult::kInterrupted;
    return Error::from_errno("KVM_RUN on vCPU {}", id_);
  }
  return RunResult::kExited;
}

template <typename T>
Result<T> KvmVcpu::get(unsigned long request, const char* what) const {
  T value{};
  if (::ioctl(fd_.get(), request, &value) < 0) {
    return Error::from_errno("{} on vCPU {}", what, id_);
  }
  return value;
}

template <typename T>
Result<void> KvmVcpu::set(unsigned long request, const T& value, const char* what) {
  T copy = value;  // some KVM setters take a non-const pointer
  if (::ioctl(fd_.get(), request, &copy) < 0) {
    return Error::from_errno("{} on vCPU {}", what, id_);
  }
  return Ok();
}

Result<kvm_regs> KvmVcpu::get_regs() const { return get<kvm_regs>(KVM_GET_REGS, "KVM_GET_REGS"); }
Result<void> KvmVcpu::set_regs(const kvm_regs& v) { return set(KVM_SET_REGS, v, "KVM_SET_REGS"); }
Result<kvm_sregs> KvmVcpu::get_sregs() const {
  return get<kvm_sregs>(KVM_GET_SREGS, "KVM_GET_SREGS");
}
Result<void> KvmVcpu::set_sregs(const kvm_sregs& v) {
  return set(KVM_SET_SREGS, v, "KVM_SET_SREGS");
}
Result<kvm_fpu> KvmVcpu::get_fpu() const { return get<kvm_fpu>(KVM_GET_FPU, "KVM_GET_FPU"); }
Result<void> KvmVcpu::set_fpu(const kvm_fpu& v) { return set(KVM_SET_FPU, v, "KVM_SET_FPU"); }
Result<kvm_lapic_state> KvmVcpu::get_lapic() const {
  return get<kvm_lapic_state>(KVM_GET_LAPIC, "KVM_GET_LAPIC");
}
Result<void> KvmVcpu::set_lapic(const kvm_lapic_state& v) {
  return set(KVM_SET_LAPIC, v, "KVM_SET_LAPIC");
}
Result<kvm_mp_state> KvmVcpu::get_mp_state() const {
  return get<kvm_mp_state>(KVM_GET_MP_STATE, "KVM_GET_MP_STATE");
}
Result<void> KvmVcpu::set_mp_state(const kvm_mp_state& v) {
  return set(KVM_SET_MP_STATE, v, "KVM_SET_MP_STATE");
}
Result<kvm_vcpu_events> KvmVcpu::get_vcpu_events() const {
  return get<kvm_vcpu_events>(KVM_GET_VCPU_EVENTS, "KVM_GET_VCPU_EVENTS");
}
Result<void> KvmVcpu::set_vcpu_events(const kvm_vcpu_events& v) {
  return set(KVM_SET_VCPU_EVENTS, v, "KVM_SET_VCPU_EVENTS");
}
Result<std::vector<uint8_t>> KvmVcpu::get_xsave(size_t size) const {
  bool v2 = size > sizeof(kvm_abi::Xsave);
  std::vector<uint8_t> area(v2 ? size : sizeof(kvm_abi::Xsave));
  if (::ioctl(fd_.get(), v2 ? kvm_abi::kGetXsave2 : kvm_abi::kGetXsave, area.data()) < 0) {
    return Error::from_errno("{} ({} bytes) on vCPU {}", v2 ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE",
                             area.size(), id_);
  }
  return area;
}
Result<void> KvmVcpu::set_xsave(std::span<const uint8_t> xsave) {
  if (xsave.size() < sizeof(kvm_abi::Xsave)) {
    return Error::format("XSAVE area of {} bytes on vCPU {} is smaller than struct kvm_xsave ({})",
                         xsave.size(), id_, sizeof(kvm_abi::Xsave));
  }
  // KVM_SET_XSAVE reads as many bytes as the guest's XSAVE size; the copy
  // keeps the caller's buffer const.
  std::vector<uint8_t> copy(xsave.begin(), xsave.end());
  if (::ioctl(fd_.get(), kvm_abi::kSetXsave, copy.data()) < 0) {
    return Error::from_errno("KVM_SET_XSAVE ({} bytes) on vCPU {}", xsave.size(), id_);
  }
  return Ok();
}
Result<kvm_xcrs> KvmVcpu::get_xcrs() const { return get<kvm_xcrs>(KVM_GET_XCRS, "KVM_GET_XCRS"); }
Result<void> KvmVcpu::set_xcrs(const kvm_xcrs& v) { return set(KVM_SET_XCRS, v, "KVM_SET_XCRS"); }
Result<kvm_debugregs> KvmVcpu::get_debugregs() const {
  return get<kvm_debugregs>(KVM_GET_DEBUGREGS, "KVM_GET_DEBUGREGS");
}
Result<void> KvmVcpu::set_debugregs(const kvm_debugregs& v) {
  return set(KVM_SET_DEBUGREGS, v, "KVM_SET_DEBUGREGS");
}

Result<void> KvmVcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  std::vector<uint8_t> buf(sizeof(kvm_abi::CpuidHeader) + entries.size() * sizeof(kvm_cpuid_entry2));
  reinterpret_cast<kvm_abi::CpuidHeader*>(buf.data())->nent = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.data() + sizeof(kvm_abi::CpuidHeader), entries.data(),
              entries.size() * sizeof(kvm_cpuid_entry2));
  if (::ioctl(fd_.get(), kvm_abi::kSetCpuid2, buf.data()) < 0) {
    return Error::from_errno("KVM_SET_CPUID2 with {} entries on vCPU {}", entries.size(), id_);
  }
  return Ok();
}

Result<std::vector<kvm_cpuid_entry2>> KvmVcpu::get_cpuid() const {
  std::vector<uint8_t> buf(sizeof(kvm_abi::CpuidHeader) + kMaxCpuidEntries * sizeof(kvm_cpuid_entry2));
  auto* header = reinterpret_cast<kvm_abi::CpuidHeader*>(buf.data());
  header->nent = kMaxCpuidEntries;
  if (::ioctl(fd_.get(), kvm_abi::kGetCpuid2, buf.data()) < 0) {
    return Error::from_errno("KVM_GET_CPUID2 on vCPU {}", id_);
  }
  size_t n = std::min<size_t>(header->nent, kMaxCpuidEntries);
  std::vector<kvm_cpuid_entry2> entries(n);
  std::memcpy(entries.data(), buf.data() + sizeof(kvm_abi::CpuidHeader),
              n * sizeof(kvm_cpuid_entry2));
  return entries;
}

Result<std::vector<kvm_msr_entry>> KvmVcpu::get_msrs(std::span<const uint32_t> indices) const {
  std::vector<kvm_msr_entry> entries(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) entries[i].index = indices[i];
  std::vector<uint8_t> buf(sizeof(kvm_abi::MsrsHeader) + entries.size() * sizeof(kvm_msr_entry));
  reinterpret_cast<kvm_abi::MsrsHeader*>(buf.data())->nmsrs = static_cast<uint32_t>(indices.size());
  std::memcpy(buf.data() + sizeof(kvm_abi::MsrsHeader), entries.data(),
              entries.size() * sizeof(kvm_msr_entry));
  int n = ::ioctl(fd_.get(), kvm_abi::kGetMsrs, buf.data());
  if (n < 0) return Error::from_errno("KVM_GET_MSRS ({} MSRs) on vCPU {}", indices.size(), id_);
  // KVM stops at the first MSR it cannot read and returns how many it did.
  if (static_cast<size_t>(n) != indices.size()) {
    return Error::format("KVM_GET_MSRS on vCPU {}: KVM read {} of {} MSRs; MSR {:#x} is refused",
                         id_, n, indices.size(), indices[static_cast<size_t>(n)]);
  }
  std::memcpy(entries.data(), buf.data() + sizeof(kvm_abi::MsrsHeader),
              entries.size() * sizeof(kvm_msr_entry));
  return entries;
}

Result<void> KvmVcpu::set_msrs(std::span<const kvm_msr_entry> entries) {
  std::vector<uint8_t> buf(sizeof(kvm_abi::MsrsHeader) + entries.size() * sizeof(kvm_msr_entry));
  reinterpret_cast<kvm_abi::MsrsHeader*>(buf.data())->nmsrs = static_cast<uint32_t>(entries.size());
  std::memcpy(buf.data() + sizeof(kvm_abi::MsrsHeader), entries.data(),
              entries.size() * sizeof(kvm_msr_entry));
  int n = ::ioctl(fd_.get(), kvm_abi::kSetMsrs, buf.data());
  if (n < 0) return Error::from_errno("KVM_SET_MSRS ({} MSRs) on vCPU {}", entries.size(), id_);
  if (static_cast<size_t>(n) != entries.size()) {
    const kvm_msr_entry& bad = entries[static_cast<size_t>(n)];
    return Error::format(
        "KVM_SET_MSRS on vCPU {}: KVM took {} of {} MSRs; MSR {:#x} = {:#x} is refused", id_, n,
        entries.size(), bad.index, bad.data);
  }
  return Ok();
}

Result<void> KvmVcpu::kvmclock_ctrl() {
  if (::ioctl(fd_.get(), KVM_KVMCLOCK_CTRL, 0) < 0) {
    return Error::from_errno("KVM_KVMCLOCK_CTRL on vCPU {}", id_);
  }
  return Ok();
}

}  // namespace thaw::sandbox
