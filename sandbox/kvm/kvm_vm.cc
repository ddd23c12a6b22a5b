#include "sandbox/kvm/kvm_vm.h"

#include <sys/ioctl.h>

#include "sandbox/kvm/kvm_vcpu.h"

namespace thaw::sandbox {

Result<KvmVm> KvmVm::create(const KvmSystem& kvm) {
  KvmVm vm;
  auto mmap_size = kvm.vcpu_mmap_size();
  if (!mmap_size) return std::move(mmap_size).error();
  vm.vcpu_mmap_size_ = *mmap_size;
  // Retry EINTR: KVM_CREATE_VM can be interrupted while it allocates.
  int fd;
  do {
    fd = ::ioctl(kvm.fd(), KVM_CREATE_VM, 0);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return Error::from_errno("KVM_CREATE_VM");
  vm.fd_.reset(fd);
  return vm;
}

Result<void> KvmVm::set_memory(const GuestMemory& memory) {
  uint32_t slot = 0;
  for (const GuestRegion& r : memory.regions()) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = r.guest_base;
    region.memory_size = r.size;
    region.userspace_addr = reinterpret_cast<uint64_t>(r.host);
    if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) {
      return Error::from_errno("KVM_SET_USER_MEMORY_REGION slot {} [{:#x}, +{:#x})", slot,
                               r.guest_base, r.size);
    }
    ++slot;
  }
  return Ok();
}

Result<void> KvmVm::create_irqchip_and_pit() {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, kTssAddress) < 0) {
    return Error::from_errno("KVM_SET_TSS_ADDR {:#x}", kTssAddress);
  }
  uint64_t identity = kIdentityMapAddress;
  if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) {
    return Error::from_errno("KVM_SET_IDENTITY_MAP_ADDR {:#x}", identity);
  }
  if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) {
    return Error::from_errno("KVM_CREATE_IRQCHIP");
  }
  // KVM_PIT_SPEAKER_DUMMY: port 0x61 is answered in the kernel, so the
  // guest's speaker probing does not cost exits (Firecracker does the same).
  kvm_pit_config pit{};
  pit.flags = KVM_PIT_SPEAKER_DUMMY;
  if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &pit) < 0) {
    return Error::from_errno("KVM_CREATE_PIT2");
  }
  return Ok();
}

Result<void> KvmVm::add_irqfd(uint32_t gsi, int eventfd) {
  kvm_irqfd irqfd{};
  irqfd.fd = static_cast<uint32_t>(eventfd);
  irqfd.gsi = gsi;
  if (::ioctl(fd_.get(), KVM_IRQFD, &irqfd) < 0) {
    return Error::from_errno("KVM_IRQFD gsi {}", gsi);
  }
  return Ok();
}

namespace {
kvm_ioeventfd make_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch,
                             int eventfd) {
  kvm_ioeventfd io{};
  io.addr = addr;
  io.len = len;
  io.fd = eventfd;
  if (datamatch) {
    io.datamatch = *datamatch;
    io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  }
  return io;
}
}  // namespace

Result<void> KvmVm::add_ioeventfd(uint64_t addr, uint32_t len, std::optional<uint64_t> datamatch,
                                  int eventfd) {
  kvm_ioeventfd io = make_ioeventfd(addr, len, datamatch, eventfd);
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &io) < 0) {
    return Error::from_errno("KVM_IOEVENTFD at MMIO {:#x} len {}", addr, len);
  }
  return Ok();
}

Result<void> KvmVm::remove_ioeventfd(uint64_t addr, uint32_t len,
                                     std::optional<uint64_t> datamatch, int eventfd) {
  kvm_ioeventfd io = make_ioeventfd(addr, len, datamatch, eventfd);
  io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &io) < 0) {
    return Error::from_errno("KVM_IOEVENTFD deassign at MMIO {:#x} len {}", addr, len);
  }
  return Ok();
}

Result<std::unique_ptr<KvmVcpu>> KvmVm::create_vcpu(uint32_t id) {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
  if (fd < 0) return Error::from_errno("KVM_CREATE_VCPU {}", id);
  return KvmVcpu::adopt(UniqueFd(fd), id, static_cast<size_t>(vcpu_mmap_size_));
}

Result<kvm_clock_data> KvmVm::get_clock() const {
  kvm_clock_data clock{};
  if (::ioctl(fd_.get(), KVM_GET_CLOCK, &clock) < 0) return Error::from_errno("KVM_GET_CLOCK");
  return clock;
}

Result<void> KvmVm::set_clock(const kvm_clock_data& clock) {
  kvm_clock_data copy = clock;
  // Only the clock value is meaningful on input (api.rst §4.56).
  copy.flags = 0;
  if (::ioctl(fd_.get(), KVM_SET_CLOCK, &copy) < 0) return Error::from_errno("KVM_SET_CLOCK");
  return Ok();
}

Result<kvm_irqchip> KvmVm::get_irqchip(uint32_t chip_id) const {
  kvm_irqchip chip{};
  chip.chip_id = chip_id;
  if (::ioctl(fd_.get(), KVM_GET_IRQCHIP, &chip) < 0) {
    return Error::from_errno("KVM_GET_IRQCHIP chip {}", chip_id);
  }
  return chip;
}

Result<void> KvmVm::set_irqchip(const kvm_irqchip& chip) {
  kvm_irqchip copy = chip;
  if (::ioctl(fd_.get(), KVM_SET_IRQCHIP, &copy) < 0) {
    return Error::from_errno("KVM_SET_IRQCHIP chip {}", chip.chip_id);
  }
  return Ok();
}

Result<kvm_pit_state2> KvmVm::get_pit() const {
  kvm_pit_state2 pit{};
  if (::ioctl(fd_.get(), KVM_GET_PIT2, &pit) < 0) return Error::from_errno("KVM_GET_PIT2");
  return pit;
}

Result<void> KvmVm::set_pit(const kvm_pit_state2& pit) {
  kvm_pit_state2 copy = pit;
  if (::ioctl(fd_.get(), KVM_SET_PIT2, &copy) < 0) return Error::from_errno("KVM_SET_PIT2");
  return Ok();
}

}  // namespace thaw::sandbox
