// restore_machine() and restore_into_standby(): check, map, create (or take
// the standby's VM), wire, set state, notify, pre-fault (vm_snapshot.h).
// Every check that can refuse the snapshot runs before a KVM VM exists or
// the standby is touched, so a bad snapshot starts nothing.
#include <time.h>
#include <unistd.h>

#include <optional>

#include <fmt/format.h>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/devices/virtio/virtio_blk.h"
#include "sandbox/devices/virtio/vsock_device.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/vmm/machine.h"
#include "snapshot/machine_state.h"
#include "snapshot/memory_file.h"
#include "snapshot/pre_fault.h"
#include "snapshot/state_file.h"
#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot {

namespace {

using sandbox::Vmm;
using sandbox::VmmConfig;

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The machine the restore config asks for must be the one in the snapshot:
// guest RAM size and layout, vCPU count, CPU model and the CPUID table this
// host would present. Each refusal names both values and the fix.
Result<void> check_machine(const MachineInfo& saved, const VmmConfig& config,
                           const std::vector<kvm_cpuid_entry2>& supported) {
  if (saved.memory_size != config.mem_mib << 20) {
    return Error::format("snapshot has {} bytes of guest RAM but the restore asks for --mem {} "
                         "MiB; restore with --mem {}",
                         saved.memory_size, config.mem_mib, saved.memory_size >> 20);
  }
  if (saved.vcpu_count != config.vcpus) {
    return Error::format("snapshot has {} vCPU(s) but the restore asks for --vcpus {}; restore "
                         "with --vcpus {}",
                         saved.vcpu_count, config.vcpus, saved.vcpu_count);
  }
  std::string_view model = sandbox::cpu_model_name(config.cpu_model);
  if (saved.cpu_model != model) {
    return Error::format("snapshot was made with CPU model '{}' but this restore uses '{}'; "
                         "restore with --cpu-model {} or re-create the snapshot",
                         saved.cpu_model, model, saved.cpu_model);
  }
  auto current = sandbox::apply_cpu_model(supported, config.cpu_model, 0, config.vcpus);
  if (!current) return std::move(current).error();
  return check_cpuid_compatible(saved.cpuid, *current);
}

Result<void> check_layout(const MachineInfo& saved, const sandbox::GuestMemory& memory) {
  const auto& have = memory.regions();
  bool same = have.size() == saved.regions.size();
  for (size_t i = 0; same && i < have.size(); ++i) {
    same = have[i].guest_base == saved.regions[i].guest_base &&
           have[i].size == saved.regions[i].size &&
           have[i].file_offset == saved.regions[i].file_offset;
  }
  if (same) return Ok();
  return Error::format("snapshot's guest memory layout ({} regions) differs from the one this "
                       "build gives {} bytes of RAM ({} regions); re-create the snapshot with "
                       "this build",
                       saved.regions.size(), memory.size(), have.size());
}

// Every device the restored machine has must find its blob, and every
// blob its device: a half-restored machine would run with power-on
// devices under a guest that believes they are configured.
Result<void> restore_devices(Vmm& vmm, const std::vector<DeviceState>& saved) {
  auto attached = vmm.devices();
  std::vector<bool> used(saved.size(), false);
  for (const auto& d : attached) {
    std::string key = device_key(d);
    const DeviceState* blob = nullptr;
    for (size_t i = 0; i < saved.size(); ++i) {
      if (!used[i] && saved[i].name == key) {
        blob = &saved[i];
        used[i] = true;
        break;
      }
    }
    if (blob == nullptr) {
      return Error::format("the snapshot has no state for device {}; restore with the same "
                           "devices (--disk count, --vsock-uds) as when it was made",
                           key);
    }
    if (auto r = d.device->restore_state(blob->blob); !r) return std::move(r).error().context(key);
  }
  for (size_t i = 0; i < saved.size(); ++i) {
    if (!used[i]) {
      return Error::format("the snapshot has state for device {} that this restore does not "
                           "create; restore with the same devices (--disk count, --vsock-uds)",
                           saved[i].name);
    }
  }
  return Ok();
}

// After the state is in: vsock connections did not survive (their host
// sockets belong to the old process), so the guest is told to drop them
// (virtio 1.2 §5.10.6.7); a disk rebound to another image may have another
// size, which the guest learns through a config-change interrupt.
Result<void> rebind_devices(Vmm& vmm) {
  for (const auto& d : vmm.devices()) {
    auto* transport = dynamic_cast<sandbox::virtio::MmioTransport*>(d.device.get());
    if (transport == nullptr) continue;
    auto& device = transport->device();
    if (auto* vsock = dynamic_cast<sandbox::virtio::VsockDevice*>(&device)) {
      vsock->send_transport_reset();
    } else if (auto* blk = dynamic_cast<sandbox::virtio::VirtioBlk*>(&device)) {
      if (auto r = blk->refresh_capacity(); !r) return std::move(r).error().context(device_key(d));
    }
  }
  return Ok();
}


// What load_snapshot read and mapped: everything a VM needs, before one exists.
struct LoadedSnapshot {
  SnapshotState state;
  std::optional<sandbox::GuestMemory> memory;  // none when mapped into a standby's
  std::optional<WorkingSet> working_set;
};

// Reads the working-set file beside the snapshot, when prefetch is on and
// the file exists.
Result<std::optional<WorkingSet>> read_working_set_for(const std::string& dir,
                                                       const MachineInfo& machine,
                                                       const RestoreOptions& options) {
  std::string path = dir + "/" + kWorkingSetFileName;
  if (!options.prefetch_working_set || ::access(path.c_str(), F_OK) != 0) {
    return std::optional<WorkingSet>();
  }
  auto set = read_working_set(path);
  if (!set) {
    return std::move(set).error().context(
        "delete the working-set file to record it again, or restore without prefetch");
  }
  if (set->memory_size != machine.memory_size) {
    return Error::format("{} was recorded for {} bytes of guest memory, the snapshot has {}; "
                         "delete it to record it again",
                         path, set->memory_size, machine.memory_size);
  }
  return std::optional<WorkingSet>(std::move(*set));
}

// Every check that can refuse the snapshot, then the memory file mapped and
// the working set prefetched into the host page tables. The file is mapped
// anew, or with `into` (a standby's RAM) remapped in place over it; only
// from that remap on is the standby touched, and then `*touched` is set.
// `machine_fix`, when given, prefixes a machine mismatch (the standby's).
struct StandbyTarget {
  sandbox::GuestMemory* memory = nullptr;
  bool* touched = nullptr;
  std::string machine_fix;
};
Result<LoadedSnapshot> load_snapshot(SnapshotState state, VmmConfig& config,
                                     const std::string& dir, const RestoreOptions& options,
                                     const std::vector<kvm_cpuid_entry2>& supported,
                                     RestoreReport& out, const StandbyTarget& standby = {}) {
  sandbox::GuestMemory* into = standby.memory;
  uint64_t t0 = now_ns();
  out.kind = state.machine.kind;
  // A restore loads no kernel; validate_config still wants a name for it.
  config.kernel_path = dir;
  config.initrd_path.clear();
  if (auto r = sandbox::validate_config(config); !r) return std::move(r).error();
  if (auto r = check_machine(state.machine, config, supported); !r) {
    Error e = std::move(r).error().context(dir);
    return standby.machine_fix.empty() ? e : e.context(standby.machine_fix);
  }
  auto working_set = read_working_set_for(dir, state.machine, options);
  if (!working_set) return std::move(working_set).error();
  if (state.vcpus.size() != state.machine.vcpu_count) {
    return Error::format("{}: state file holds {} vCPU states for {} vCPUs (corrupt snapshot)",
                         dir, state.vcpus.size(), state.machine.vcpu_count);
  }
  uint64_t t1 = now_ns();
  out.timings.read_state_ns += t1 - t0;

  LoadedSnapshot loaded{std::move(state), std::nullopt, std::move(*working_set)};
  const MachineInfo& machine = loaded.state.machine;
  std::string memory_path = dir + "/" + kMemoryFileName;
  if (into == nullptr) {
    auto memory = map_memory_file(memory_path, machine.memory_size, machine.snapshot_id);
    if (!memory) return std::move(memory).error();
    loaded.memory.emplace(std::move(*memory));
  }
  sandbox::GuestMemory& memory = into != nullptr ? *into : *loaded.memory;
  if (auto r = check_layout(machine, memory); !r) return std::move(r).error().context(dir);
  if (into != nullptr) {
    if (into->size() != machine.memory_size) {
      return Error::format("{}: snapshot has {} bytes of guest RAM, the standby {}", dir,
                           machine.memory_size, into->size());
    }
    if (standby.touched != nullptr) *standby.touched = true;
    if (auto r = map_memory_file_into(*into, memory_path, machine.snapshot_id); !r) {
      return std::move(r).error();
    }
  }
  uint64_t t2 = now_ns();
  out.timings.map_memory_ns = t2 - t1;
  if (loaded.working_set) {
    // Before the vCPUs run: the guest's first accesses then find their
    // pages mapped instead of faulting them in one by one.
    auto stats = prefetch_working_set(memory, *loaded.working_set);
    if (!stats) return std::move(stats).error().context(dir + "/" + kWorkingSetFileName);
    out.prefetched = *stats;
    out.timings.prefetch_ns = now_ns() - t2;
  }
  return loaded;
}

// KVM_PRE_FAULT_MEMORY over the working set, where the VM has it.
Result<void> pre_fault(Vmm& vmm, const LoadedSnapshot& loaded, const RestoreOptions& options,
                       RestoreReport& out) {
  if (!loaded.working_set || !options.pre_fault) return Ok();
  PreFaultSupport support = pre_fault_support(vmm.vm().fd());
  if (!support.available) {
    out.pre_fault_skipped = std::move(support.reason);
    return Ok();
  }
  uint64_t t = now_ns();
  auto ranges = working_set_guest_ranges(vmm.memory().regions(), *loaded.working_set);
  if (!ranges) return std::move(ranges).error();
  auto stats = pre_fault_ranges(vmm.vcpu(0).fd(), *ranges);
  if (!stats) return std::move(stats).error();
  out.pre_faulted_pages = stats->pages;
  out.timings.pre_fault_ns = now_ns() - t;
  return Ok();
}

// Devices wired, VM, vCPU and device state set in KVM's order, devices told
// of the new host side, working set pre-faulted: the VM can start.
Result<void> apply_snapshot(Vmm& vmm, const LoadedSnapshot& loaded, const VmmConfig& config,
                            const std::vector<kvm_cpuid_entry2>& supported, const std::string& dir,
                            const RestoreOptions& options, RestoreReport& out) {
  uint64_t t3 = now_ns();
  auto virtio_count = sandbox::attach_machine_devices(vmm, config);
  if (!virtio_count) return std::move(virtio_count).error();
  uint64_t t4 = now_ns();
  out.timings.devices_ns = t4 - t3;

  const SnapshotState& state = loaded.state;
  // A saved state KVM will not take is a snapshot problem, not the host's.
  // VM and vCPUs before devices: a device that raises an interrupt as it
  // re-activates must find the IOAPIC and LAPIC already routing it.
  if (auto r = restore_vm(vmm.vm(), state.vm); !r) return std::move(r).error();
  std::vector<bool> seen(state.machine.vcpu_count, false);
  for (const VcpuState& vcpu : state.vcpus) {
    if (vcpu.index >= state.machine.vcpu_count || seen[vcpu.index]) {
      return Error::format("{}: vCPU state for index {} of a {}-vCPU machine is out of range or "
                           "repeated (corrupt snapshot)",
                           dir, vcpu.index, state.machine.vcpu_count);
    }
    seen[vcpu.index] = true;
    // Each vCPU gets its own table (APIC ids differ), from the same model
    // that check_machine compared against the snapshot.
    auto cpuid = sandbox::apply_cpu_model(supported, config.cpu_model, vcpu.index, config.vcpus);
    if (!cpuid) return std::move(cpuid).error();
    if (auto r = restore_vcpu(vmm.vcpu(vcpu.index), vcpu, *cpuid); !r) {
      return std::move(r).error().context(fmt::format("vCPU {}", vcpu.index));
    }
  }
  if (auto r = restore_devices(vmm, state.devices); !r) return std::move(r).error();
  if (auto r = rebind_devices(vmm); !r) return std::move(r).error();
  out.timings.set_state_ns = now_ns() - t4;
  return pre_fault(vmm, loaded, options, out);
}

}  // namespace

Result<WorkingSet> save_working_set(const Vmm& vmm, const std::string& dir) {
  auto set = record_working_set(vmm.memory());
  if (!set) return std::move(set).error();
  if (auto r = write_working_set(dir + "/" + kWorkingSetFileName, *set); !r) {
    return std::move(r).error();
  }
  return set;
}

Result<RestoredMachine> restore_machine(const VmmConfig& config, const std::string& dir,
                                        const RestoreOptions& options) {
  int failure_code = 0;
  return restore_machine(config, dir, options, failure_code);
}

Result<RestoredMachine> restore_machine(const VmmConfig& config_in, const std::string& dir,
                                        const RestoreOptions& options, int& failure_code) {
  failure_code = sandbox::kExitUsage;
  uint64_t t0 = now_ns();
  auto state = read_state_file(dir + "/" + kStateFileName);
  if (!state) return std::move(state).error();
  VmmConfig config = config_in;
  if (options.machine_from_snapshot) {
    const MachineInfo& m = state->machine;
    auto model = sandbox::parse_cpu_model(m.cpu_model);
    if (!model || m.memory_size % (1 << 20) != 0) {
      return Error::format("{}: snapshot names CPU model '{}' and {} bytes of RAM, which this "
                           "build cannot run; re-create the snapshot",
                           dir, m.cpu_model, m.memory_size);
    }
    config.mem_mib = m.memory_size >> 20;
    config.vcpus = m.vcpu_count;
    config.cpu_model = *model;
  }
  std::vector<kvm_cpuid_entry2> supported;
  {
    auto kvm = sandbox::KvmSystem::open();
    if (!kvm) {
      failure_code = sandbox::kExitHostError;
      return std::move(kvm).error();
    }
    // Kept for the vCPUs' tables: the ioctl costs ~0.2 ms here.
    auto queried = kvm->supported_cpuid();
    if (!queried) return std::move(queried).error();
    supported = std::move(*queried);
  }
  RestoredMachine out;
  out.timings.read_state_ns = now_ns() - t0;  // load_snapshot adds its checks
  auto loaded = load_snapshot(std::move(*state), config, dir, options, supported, out);
  if (!loaded) return std::move(loaded).error();
  uint64_t t1 = now_ns();

  failure_code = sandbox::kExitHostError;
  auto vmm = Vmm::create(config, std::move(*loaded->memory));
  if (!vmm) return std::move(vmm).error();
  // Device backing files and sockets are the user's paths again.
  failure_code = sandbox::kExitUsage;
  out.timings.create_vm_ns = now_ns() - t1;
  if (auto r = apply_snapshot(**vmm, *loaded, config, supported, dir, options, out); !r) {
    return std::move(r).error();
  }
  out.vmm = std::move(*vmm);
  return out;
}

Result<RestoreReport> restore_into_standby(Vmm& standby, const VmmConfig& bindings,
                                           const std::string& dir, const RestoreOptions& options,
                                           bool& standby_spent) {
  standby_spent = false;
  if (!standby.standby()) {
    return Error::format("this thaw-vmm has restored a snapshot already; start another "
                         "--standby process for the next one");
  }
  uint64_t t0 = now_ns();
  auto state = read_state_file(dir + "/" + kStateFileName);
  if (!state) return std::move(state).error();
  // The machine is the standby's: only the host bindings come from the request.
  VmmConfig config = standby.config();
  config.disks = bindings.disks;
  config.vsock_uds = bindings.vsock_uds;
  config.vsock_cid = bindings.vsock_cid;
  config.serial_path = bindings.serial_path;
  RestoreReport out;
  out.timings.read_state_ns = now_ns() - t0;
  // Once the memory file is remapped over the standby's RAM, a failure
  // spends the standby (standby_spent). The fix for a machine mismatch is
  // another standby, not other options.
  StandbyTarget target{standby.standby_memory(), &standby_spent,
                       fmt::format("this standby thaw-vmm was started with --mem {} --vcpus {} "
                                   "--cpu-model {}; send the snapshot to a standby started with "
                                   "the snapshot's",
                                   config.mem_mib, config.vcpus,
                                   sandbox::cpu_model_name(config.cpu_model))};
  auto loaded = load_snapshot(std::move(*state), config, dir, options, standby.supported_cpuid(),
                              out, target);
  if (!loaded) return std::move(loaded).error();
  standby_spent = true;
  if (auto r = standby.complete_standby(config); !r) return std::move(r).error();
  if (auto r = apply_snapshot(standby, *loaded, config, standby.supported_cpuid(), dir, options,
                              out);
      !r) {
    return std::move(r).error();
  }
  return out;
}

}  // namespace thaw::snapshot
