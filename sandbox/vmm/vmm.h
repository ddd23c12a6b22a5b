// The microVM monitor: one KVM VM with its guest memory, buses, devices,
// vCPU threads and the IO thread for device backends and the control socket.
// thaw-vmm's main builds one from the command line; the snapshot code pauses
// it and reads its vCPUs, VM and devices.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/io_loop.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "sandbox/devices/bus.h"
#include "sandbox/devices/device.h"
#include "sandbox/kvm/cpuid.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/kvm/kvm_vm.h"
#include "sandbox/memory/guest_memory.h"
#include "sandbox/vmm/exit_stats.h"
#include "sandbox/vmm/vcpu_runner.h"

namespace thaw::sandbox {

// thaw-vmm exit codes (CONTRACT.md).
enum VmmExitCode : int {
  kExitClean = 0,           // i8042 reset, guest power-off, "stop" op
  kExitUsage = 1,           // bad command line or configuration
  kExitHostError = 2,       // the host failed us (KVM, files, memory)
  kExitGuestFault = 3,      // triple fault, KVM internal error, failed entry
  kExitDeviceContract = 4,  // the guest broke a device contract (broken virtqueue)
};

struct DiskConfig {
  std::string path;
  bool read_only = false;
};

struct VmmConfig {
  std::string kernel_path;
  std::string initrd_path;  // empty: none
  std::string cmdline;
  uint64_t mem_mib = 256;
  uint32_t vcpus = 1;
  std::vector<DiskConfig> disks;
  std::string vsock_uds;  // empty: no vsock device
  uint32_t vsock_cid = 3;
  std::string serial_path;  // empty or "-": stdout
  std::string api_sock;     // empty: no control socket
  CpuModel cpu_model = CpuModel::kStandard;
};

inline constexpr uint32_t kMaxVcpus = 32;
inline constexpr uint64_t kMaxMemMib = 64 * 1024;
inline constexpr uint64_t kVirtioMmioBase = 0xD000'0000;
inline constexpr uint64_t kVirtioMmioStride = 0x1000;
inline constexpr uint32_t kVirtioFirstGsi = 5;
// Inputs larger than this are refused before they are read into memory.
inline constexpr size_t kMaxKernelBytes = 512u << 20;
inline constexpr size_t kMaxInitrdBytes = 1024u << 20;

// Checks ranges and combinations before anything is created; the message
// names the option and its limit.
Result<void> validate_config(const VmmConfig& config);

struct DeviceStats {
  std::string name;
  std::vector<std::pair<std::string, uint64_t>> counters;  // bytes_read, bytes_written, ...
};

class Vmm {
 public:
  // Creates KVM VM, memory, irqchip, vCPUs, the IO thread and the legacy
  // devices; does not load a kernel (boot()) nor run (start()).
  static Result<std::unique_ptr<Vmm>> create(const VmmConfig& config);
  // The same over existing guest RAM (a snapshot's memory file mapped with
  // GuestMemory::map_file); its size must equal config.mem_mib MiB.
  static Result<std::unique_ptr<Vmm>> create(const VmmConfig& config, GuestMemory memory);
  // A standby VM (thaw-vmm --standby, DESIGN.md "Lessons"): the KVM VM,
  // irqchip, PIT, config.vcpus vCPUs with their CPUID and their threads
  // (parked until start()), the IO thread's io_uring ring, and memory slots over an untouched anonymous stand-in
  // for guest RAM exist; the RAM's real backing (a snapshot's memory file,
  // remapped in place into standby_memory()), devices and state come later,
  // so a restore into it pays none of that creation.
  static Result<std::unique_ptr<Vmm>> create_standby(const VmmConfig& config);
  ~Vmm();
  Vmm(const Vmm&) = delete;
  Vmm& operator=(const Vmm&) = delete;

  bool standby() const { return standby_; }
  // A standby's guest RAM, to remap in place (GuestMemory::remap_file);
  // nullptr once the standby is completed.
  GuestMemory* standby_memory() { return standby_ ? &memory_ : nullptr; }
  // Takes the host bindings chosen now (disks, vsock socket and CID,
  // serial) from `bindings`; the Vmm is then an ordinary unstarted one.
  // Call after remapping standby_memory(), before wiring devices.
  Result<void> complete_standby(const VmmConfig& bindings);
  // The host's KVM_GET_SUPPORTED_CPUID, queried once when the vCPUs were made.
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return supported_cpuid_; }

  // --- wiring, before start() ---
  Result<void> add_pio_device(uint64_t base, uint64_t size, std::shared_ptr<Device> device);
  Result<void> add_mmio_device(uint64_t base, uint64_t size, std::shared_ptr<Device> device);
  // An irqfd-backed line on `gsi`, created once and shared.
  Result<std::shared_ptr<InterruptLine>> interrupt_line(uint32_t gsi);
  // KVM signals `eventfd` for a 4-byte guest write of `datamatch` at MMIO
  // `address` instead of exiting; `on_signal` then runs on the IO thread.
  Result<void> add_ioevent(uint64_t address, uint32_t datamatch, std::function<void()> on_signal);
  // Reports a device's counters in the "stats" op.
  void add_stats_source(std::function<DeviceStats()> source);
  // Checked after every MMIO exit and ioevent: a non-empty reason stops the
  // VM with kExitDeviceContract (a virtio transport marked broken).
  void add_contract_check(std::function<std::string()> check);
  // Keeps an fd (a serial log file) open as long as the VM lives.
  void keep_fd(UniqueFd fd) { kept_fds_.push_back(std::move(fd)); }

  // Loads kernel/initrd/cmdline from the config and sets up vCPU 0 for the
  // 64-bit entry (CONTRACT.md "Direct 64-bit entry"); `extra_cmdline` is
  // appended (the virtio_mmio.device= parameters).
  Result<void> boot(const std::string& extra_cmdline);
  // Starts the vCPU threads.
  Result<void> start();
  // Blocks until the VM ends; returns its exit code.
  int wait();

  // --- control, any thread ---
  // Returns once every vCPU is out of KVM_RUN and parked (with its last
  // I/O completed), so vCPU state can be saved. Idempotent.
  Result<void> pause();
  Result<void> resume();
  bool paused() const { return gate_.paused(); }
  // Ends the VM; the first reason wins. Thread-safe, callable from devices.
  void request_stop(int exit_code, std::string reason);
  bool stopping() const { return gate_.stopping(); }

  const ExitStats& exit_stats() const { return exit_stats_; }
  std::vector<DeviceStats> device_stats() const;
  std::string stop_reason() const;

  // --- access for the snapshot code and tests ---
  IoLoop& io_loop() { return *loop_; }
  const GuestMemory& memory() const { return memory_; }
  KvmVm& vm() { return vm_; }
  const KvmSystem& kvm() const { return kvm_; }
  size_t vcpu_count() const { return runners_.size(); }
  KvmVcpu& vcpu(size_t index) { return runners_.at(index)->vcpu(); }
  const VmmConfig& config() const { return config_; }
  // Every device on the port-I/O then the MMIO bus, in address order, with
  // its window base: what a snapshot saves (save_state) and restores.
  struct AttachedDevice {
    bool mmio;
    uint64_t base;
    std::shared_ptr<Device> device;
  };
  std::vector<AttachedDevice> devices() const;

 private:
  Vmm(VmmConfig config, KvmSystem kvm, GuestMemory memory, KvmVm vm);
  // The VM with `memory` as its memory slots, irqchip, vCPUs, IO thread.
  static Result<std::unique_ptr<Vmm>> assemble(const VmmConfig& config, GuestMemory memory);
  Result<void> start_io_thread();
  Result<void> create_vcpus();
  void check_contracts();
  void shutdown_threads();

  struct IoEvent {
    UniqueFd fd;
    IoOp op;
    std::function<void()> on_signal;
  };

  VmmConfig config_;
  KvmSystem kvm_;
  GuestMemory memory_;
  KvmVm vm_;
  Bus pio_bus_;
  Bus mmio_bus_;
  ExitStats exit_stats_;
  RunGate gate_;
  std::vector<std::unique_ptr<VcpuRunner>> runners_;
  std::vector<std::shared_ptr<InterruptLine>> lines_;
  std::vector<uint32_t> line_gsis_;
  std::vector<std::unique_ptr<IoEvent>> io_events_;
  std::vector<std::function<DeviceStats()>> stats_sources_;
  std::vector<std::function<std::string()>> contract_checks_;
  std::vector<UniqueFd> kept_fds_;
  std::vector<kvm_cpuid_entry2> supported_cpuid_;
  bool started_ = false;
  bool standby_ = false;
  bool threads_waiting_ = false;  // a standby's vCPU threads exist, parked

  std::unique_ptr<IoLoop> loop_;
  std::thread io_thread_;

  mutable std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_requested_ = false;
  int exit_code_ = kExitClean;
  std::string stop_reason_;
};

}  // namespace thaw::sandbox
