// Save and restore of a whole microVM: the orchestration over machine_state
// (vCPU/VM KVM state), the devices' own blobs, memory_file and state_file.
// thaw-vmm's `snapshot` op and `--restore DIR` use it; so do the tests.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.h"
#include "sandbox/vmm/vmm.h"
#include "snapshot/snapshot_state.h"
#include "snapshot/working_set.h"

namespace thaw::snapshot {

// A snapshot directory holds these files. `state` is renamed into place
// last, so a directory with a `state` file is complete.
inline constexpr char kStateFileName[] = "state";
inline constexpr char kMemoryFileName[] = "memory";

// How long save waits for virtio requests the backends still have in the
// kernel (a disk write on a slow device) before giving up.
inline constexpr int kDrainTimeoutMs = 5000;

struct SaveStats {
  uint64_t memory_bytes = 0;          // guest RAM (logical size of `memory`)
  uint64_t memory_bytes_written = 0;  // non-zero pages actually written
  uint64_t state_bytes = 0;
  uint64_t pause_ns = 0;    // pause + drain
  uint64_t capture_ns = 0;  // vCPU and VM state
  uint64_t write_ns = 0;    // device state, then both files fsync'ed
};

// Where save_snapshot is called from. Device state must be taken on the
// VMM's IO loop; from that very thread (a control-socket op) the loop
// cannot also complete outstanding requests, so there a request in flight
// refuses the snapshot (retry) instead of being waited for.
enum class SaveCaller { kOtherThread, kIoLoopThread };

// Pauses `vmm` (if it runs), waits until no virtio request is in flight,
// captures every vCPU, the VM and every device, and writes `dir`/memory and
// `dir`/state (the directory is created if missing). The VM stays paused:
// the caller resumes or stops it.
Result<SaveStats> save_snapshot(sandbox::Vmm& vmm, const std::string& dir, SnapshotKind kind,
                                SaveCaller caller = SaveCaller::kOtherThread);

// Phases of a restore in nanoseconds (CLOCK_MONOTONIC), for the benchmark
// and the agent's cold-start metrics.
struct RestoreTimings {
  uint64_t read_state_ns = 0;   // read + checksum + decode + checks
  uint64_t map_memory_ns = 0;   // open + mmap of the memory file
  uint64_t create_vm_ns = 0;    // KVM VM, irqchip, vCPUs, IO thread
  uint64_t devices_ns = 0;      // device creation and wiring
  uint64_t prefetch_ns = 0;     // working-set readahead + page-table population
  uint64_t set_state_ns = 0;    // VM, vCPU and device state
  uint64_t pre_fault_ns = 0;    // KVM_PRE_FAULT_MEMORY of the working set
};

struct RestoreOptions {
  // Prefetch DIR/working-set (when present) before the vCPUs run. Off, the
  // guest faults every page in on first touch (the benchmark's baseline).
  bool prefetch_working_set = true;
  // Take guest RAM size, vCPU count and CPU model from the snapshot instead
  // of checking the config's against it (thaw-vmm --restore without --mem,
  // --vcpus or --cpu-model).
  bool machine_from_snapshot = false;
  // With a prefetched working set, also map it into KVM's stage-2 page
  // tables (KVM_PRE_FAULT_MEMORY, pre_fault.h) where the VM supports it;
  // elsewhere the restore goes on and says why in pre_fault_skipped.
  bool pre_fault = true;
};

struct RestoreReport {
  SnapshotKind kind = SnapshotKind::kTest;
  RestoreTimings timings;
  PrefetchStats prefetched;     // zero when nothing was prefetched
  uint64_t pre_faulted_pages = 0;
  std::string pre_fault_skipped;  // why KVM_PRE_FAULT_MEMORY was not used, if asked for
};

struct RestoredMachine : RestoreReport {
  std::unique_ptr<sandbox::Vmm> vmm;  // not started: call start()
};

// Restores the snapshot in `dir` into a new Vmm. `config` supplies the
// host-side bindings chosen at restore time (disk paths, vsock socket,
// serial, control socket); its mem_mib, vcpus and cpu_model must match the
// snapshot's, and kernel_path/initrd_path/cmdline are ignored. A truncated,
// corrupt, foreign or mismatched snapshot is refused before any VM exists.
// After the state is set, every vsock device sends the guest a transport
// reset and every disk re-reads its size (the guest is told if it changed).
// A working-set file that is corrupt or recorded for another memory size
// refuses the restore (delete it, or restore with prefetch off).
// The restore notice (fresh entropy, wall clock, new sandbox id) is not
// sent here nor by thaw-vmm, which never speaks the frame protocol: the
// agent sends it as the first frame on the re-connected vsock channel, the
// sandbox id in the frame's request id (tests/snapshot/restore_notice_host.h
// plays that part against the test guest).
Result<RestoredMachine> restore_machine(const sandbox::VmmConfig& config, const std::string& dir,
                                        const RestoreOptions& options = {});
// The same; on failure `failure_code` says whose fault it was, as
// build_machine does: kExitUsage for a refused snapshot or a bad option,
// kExitHostError for KVM and other host failures.
Result<RestoredMachine> restore_machine(const sandbox::VmmConfig& config, const std::string& dir,
                                        const RestoreOptions& options, int& failure_code);

// Restores the snapshot in `dir` into `standby` (Vmm::create_standby, as
// made by thaw-vmm --standby), which keeps its VM, vCPUs and IO ring; its
// RAM size, vCPU count and CPU model must be the snapshot's. `bindings`
// supplies the host side (disks, vsock socket and CID, serial). A refusal
// (bad or mismatched snapshot) leaves the standby untouched and
// `standby_spent` false: it can take another restore. A failure after the
// memory was installed sets `standby_spent`: end that process. The VM is
// not started; create_vm_ns stays 0 (the snapshot's memory file is mapped
// in place over the standby's stand-in RAM: its KVM memory slots stay).
Result<RestoreReport> restore_into_standby(sandbox::Vmm& standby, const sandbox::VmmConfig& bindings,
                                           const std::string& dir, const RestoreOptions& options,
                                           bool& standby_spent);

// Records the pages `vmm`'s guest touched since it was restored (call it at
// the sandbox's first response, on a restore made without prefetch) and
// writes them to DIR/working-set for later restores. Returns the set.
Result<WorkingSet> save_working_set(const sandbox::Vmm& vmm, const std::string& dir);

// The key a device's blob is stored under: bus, window base and the kind of
// device (its name up to any ':'), e.g. "pio@0x3f8:serial" or
// "mmio@0xd0000000:virtio-blk", so a disk rebound to another image at
// restore still finds its state.
std::string device_key(const sandbox::Vmm::AttachedDevice& device);

}  // namespace thaw::snapshot
