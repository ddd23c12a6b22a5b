// save_snapshot(): pause, drain, capture, write (vm_snapshot.h).
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "sandbox/devices/virtio/mmio_transport.h"
#include "sandbox/kvm/msrs.h"
#include "snapshot/machine_state.h"
#include "snapshot/memory_file.h"
#include "snapshot/state_file.h"
#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot {

namespace {

uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// A virtio request still in the kernel (an io_uring read for the guest)
// would complete into guest memory after the memory file was written, and
// its used-ring entry would be lost: wait for every backend to be idle. The
// vCPUs are paused, so no new request can start meanwhile.
Result<void> drain_virtio(sandbox::Vmm& vmm, SaveCaller caller) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kDrainTimeoutMs);
  if (caller == SaveCaller::kIoLoopThread) deadline = std::chrono::steady_clock::now();
  for (const auto& d : vmm.devices()) {
    auto* transport = dynamic_cast<sandbox::virtio::MmioTransport*>(d.device.get());
    if (transport == nullptr) continue;
    while (size_t n = transport->in_flight()) {
      if (caller == SaveCaller::kIoLoopThread) {
        // Only this thread could complete them: let it, and have the
        // client ask again (the vCPUs stay paused, so they will finish).
        return Error::format("{} has {} request(s) in flight; the VM stays paused, retry the "
                             "snapshot",
                             device_key(d), n);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Error::format("{} still has {} request(s) in flight after {} ms; the backing "
                             "file or socket is stuck, retry the snapshot later",
                             device_key(d), n, kDrainTimeoutMs);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  return Ok();
}

// Device backends run on the VMM's IO loop and can still write guest
// memory while the vCPUs are paused (host bytes arriving for a vsock RX
// buffer). Device state and the memory file are therefore taken in one task
// on that loop: nothing moves between the two. The job is shared so a task
// that runs late (the caller gave up) never touches a dead stack frame.
struct LoopJob {
  std::string memory_path;
  SnapshotId id{};
  std::vector<DeviceState> devices;
  MemoryFileStats memory;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<void>> result;
};

Result<void> run_job(sandbox::Vmm& vmm, LoopJob& job) {
  for (const auto& d : vmm.devices()) {
    auto* transport = dynamic_cast<sandbox::virtio::MmioTransport*>(d.device.get());
    if (transport != nullptr && transport->in_flight() != 0) {
      return Error::format("{} started a request while the VM was paused", device_key(d));
    }
    auto blob = d.device->save_state();
    if (!blob) return std::move(blob).error().context(device_key(d));
    job.devices.push_back({device_key(d), std::move(*blob)});
  }
  auto mem = write_memory_file(vmm.memory(), job.memory_path, job.id);
  if (!mem) return std::move(mem).error();
  job.memory = *mem;
  return Ok();
}

Result<void> on_io_loop(sandbox::Vmm& vmm, const std::shared_ptr<LoopJob>& job,
                        SaveCaller caller) {
  if (caller == SaveCaller::kIoLoopThread) return run_job(vmm, *job);
  sandbox::Vmm* raw = &vmm;
  vmm.io_loop().post([raw, job] {
    auto r = run_job(*raw, *job);
    std::lock_guard lock(job->mu);
    job->result = std::move(r);
    job->cv.notify_all();
  });
  std::unique_lock lock(job->mu);
  while (!job->result) {
    // The loop stops only when the VM does; then the task never runs.
    if (vmm.stopping()) return Error::format("the VM stopped while its snapshot was being taken");
    job->cv.wait_for(lock, std::chrono::milliseconds(50));
  }
  return std::move(*job->result);
}

Result<MachineInfo> describe_machine(sandbox::Vmm& vmm, SnapshotKind kind) {
  MachineInfo info;
  info.kind = kind;
  info.memory_size = vmm.memory().size();
  for (const auto& r : vmm.memory().regions()) {
    info.regions.push_back({r.guest_base, r.size, r.file_offset});
  }
  info.vcpu_count = static_cast<uint32_t>(vmm.vcpu_count());
  info.cpu_model = std::string(sandbox::cpu_model_name(vmm.config().cpu_model));
  // vCPU 0's table as thaw-vmm gave it to KVM (KVM_GET_CPUID2 would add
  // runtime bits such as OSXSAVE that the guest flips itself). Restore
  // recomputes it on the new host and refuses any difference.
  auto supported = vmm.kvm().supported_cpuid();
  if (!supported) return std::move(supported).error();
  auto cpuid = sandbox::apply_cpu_model(*supported, vmm.config().cpu_model, 0, info.vcpu_count);
  if (!cpuid) return std::move(cpuid).error();
  info.cpuid = std::move(*cpuid);
  return info;
}

}  // namespace

std::string device_key(const sandbox::Vmm::AttachedDevice& device) {
  // The device's kind only: a disk's name also carries its image's file
  // name ("virtio-blk:rootfs.img"), and a restore may rebind it to another.
  std::string_view name = device.device->name();
  return fmt::format("{}@{:#x}:{}", device.mmio ? "mmio" : "pio", device.base,
                     name.substr(0, name.find(':')));
}

Result<SaveStats> save_snapshot(sandbox::Vmm& vmm, const std::string& dir, SnapshotKind kind,
                                SaveCaller caller) {
  SaveStats stats;
  uint64_t t0 = now_ns();
  if (!vmm.paused()) {
    if (auto r = vmm.pause(); !r) return std::move(r).error().context("pausing for a snapshot");
  }
  if (auto r = drain_virtio(vmm, caller); !r) return std::move(r).error();
  uint64_t t1 = now_ns();
  stats.pause_ns = t1 - t0;

  SnapshotState state;
  auto machine = describe_machine(vmm, kind);
  if (!machine) return std::move(machine).error();
  state.machine = std::move(*machine);

  auto index_list = vmm.kvm().msr_index_list();
  if (!index_list) return std::move(index_list).error();
  // KVM_CAP_XSAVE2 reports the guest's XSAVE size when it exceeds the
  // legacy 4 KiB struct kvm_xsave (AMX); 0 or less means "use the legacy".
  int xsave2 = vmm.kvm().check_extension(KVM_CAP_XSAVE2);
  size_t xsave_size = xsave2 > 4096 ? static_cast<size_t>(xsave2) : 0;
  for (size_t i = 0; i < vmm.vcpu_count(); ++i) {
    auto indices = sandbox::snapshot_msr_indices(*index_list, vmm.vcpu(i));
    if (!indices) return std::move(indices).error();
    auto vcpu = capture_vcpu(vmm.vcpu(i), *indices, xsave_size);
    if (!vcpu) return std::move(vcpu).error().context(fmt::format("vCPU {}", i));
    state.vcpus.push_back(std::move(*vcpu));
  }
  auto vm = capture_vm(vmm.vm());
  if (!vm) return std::move(vm).error();
  state.vm = *vm;
  uint64_t t2 = now_ns();
  stats.capture_ns = t2 - t1;

  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::from_errno("creating snapshot directory {}", dir);
  }
  // Memory first, state last: a reader that finds `state` finds a complete
  // snapshot. An older `state` goes first, so a crash in between leaves a
  // directory restore refuses rather than old state over new memory.
  std::string state_path = dir + "/" + kStateFileName;
  if (::unlink(state_path.c_str()) != 0 && errno != ENOENT) {
    return Error::from_errno("removing the previous {}", state_path);
  }
  auto job = std::make_shared<LoopJob>();
  job->memory_path = dir + "/" + kMemoryFileName;
  if (::getrandom(state.machine.snapshot_id.data(), state.machine.snapshot_id.size(), 0) !=
      static_cast<ssize_t>(state.machine.snapshot_id.size())) {
    return Error::from_errno("getrandom for the snapshot id");
  }
  job->id = state.machine.snapshot_id;
  if (auto r = on_io_loop(vmm, job, caller); !r) return std::move(r).error();
  state.devices = std::move(job->devices);
  stats.memory_bytes = job->memory.bytes_total;
  stats.memory_bytes_written = job->memory.bytes_written;
  if (auto r = write_state_file(state_path, state); !r) return std::move(r).error();
  struct stat st {};
  if (::stat(state_path.c_str(), &st) == 0) stats.state_bytes = static_cast<uint64_t>(st.st_size);
  stats.write_ns = now_ns() - t2;
  return stats;
}

}  // namespace thaw::snapshot
