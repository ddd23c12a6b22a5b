// The plain-data content of a snapshot's state file: machine layout, every
// vCPU's and the VM's KVM state, and each device's own versioned blob. The
// vCPU/VM capture code fills these; state_file.{h,cc} encodes them. No host
// pointer or fd is ever stored (STYLE.md: snapshot state).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace thaw::snapshot {

enum class SnapshotKind : uint32_t {
  kBase = 1,      // booted guest, thaw-init ready, no function
  kFunction = 2,  // after the function's Init phase
  kTest = 3,      // the project's test guest
};

struct MemoryRegionInfo {
  uint64_t guest_base = 0;
  uint64_t size = 0;
  uint64_t file_offset = 0;
};

struct MachineInfo {
  SnapshotKind kind = SnapshotKind::kTest;
  uint64_t memory_size = 0;
  std::vector<MemoryRegionInfo> regions;
  uint32_t vcpu_count = 0;
  std::string cpu_model;  // "standard" or "pvm"
  // The CPUID table the guest saw (vCPU 0); a restore on a host that would
  // present a different one is refused.
  std::vector<kvm_cpuid_entry2> cpuid;
  // Random per save, also stamped on the memory file (memory_file.h), so a
  // directory that mixes the state of one save with the memory of another
  // is refused. All zero: not stamped.
  std::array<uint8_t, 16> snapshot_id{};
};

struct VcpuState {
  uint32_t index = 0;
  kvm_mp_state mp_state{};
  kvm_regs regs{};
  kvm_sregs sregs{};
  std::vector<uint8_t> xsave;  // KVM_GET_XSAVE(2) area, size as reported
  bool has_xcrs = false;
  kvm_xcrs xcrs{};
  kvm_debugregs debugregs{};
  kvm_lapic_state lapic{};
  std::vector<kvm_msr_entry> msrs;
  kvm_vcpu_events events{};
};

struct VmState {
  kvm_pit_state2 pit{};
  kvm_clock_data clock{};
  kvm_irqchip pic_master{};
  kvm_irqchip pic_slave{};
  kvm_irqchip ioapic{};
};

struct DeviceState {
  std::string name;  // unique per VM, e.g. "serial0", "virtio-blk0"
  std::vector<uint8_t> blob;
};

struct SnapshotState {
  MachineInfo machine;
  std::vector<VcpuState> vcpus;
  VmState vm;
  std::vector<DeviceState> devices;
};

}  // namespace thaw::snapshot
