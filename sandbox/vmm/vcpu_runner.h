// The thread that runs one vCPU: KVM_RUN in a loop, port-I/O and MMIO exits
// dispatched to the VM's buses, guest faults turned into a stop of this VM
// with a precise reason, and a park point where the Vmm pauses it (for a
// snapshot) after kicking it out of KVM_RUN with a signal + immediate_exit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <pthread.h>
#include <string>
#include <thread>

#include "sandbox/devices/bus.h"
#include "sandbox/kvm/kvm_vcpu.h"
#include "sandbox/vmm/exit_stats.h"

namespace thaw::sandbox {

// Shared by all vCPU runners of a VM: the pause/stop state and how many
// vCPUs are parked.
class RunGate {
 public:
  void request_pause();
  void resume();
  void stop();
  bool stopping() const;
  bool paused() const;
  // Blocks until `total` vCPUs are parked (or have left their loop).
  void wait_parked(size_t total);

 private:
  friend class VcpuRunner;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool pause_ = false;
  bool stop_ = false;
  size_t parked_ = 0;
};

class VcpuRunner {
 public:
  struct Env {
    const Bus* pio = nullptr;
    const Bus* mmio = nullptr;
    ExitStats* stats = nullptr;
    // Ends the VM with an exit code (CONTRACT.md) and a reason for stderr.
    std::function<void(int exit_code, std::string reason)> stop;
    // Runs after each MMIO exit a device handled (the Vmm checks virtio
    // transports for broken rings there).
    std::function<void(uint64_t address)> after_mmio;
  };

  VcpuRunner(std::unique_ptr<KvmVcpu> vcpu, Env env, RunGate& gate);
  ~VcpuRunner();
  VcpuRunner(const VcpuRunner&) = delete;
  VcpuRunner& operator=(const VcpuRunner&) = delete;

  // Installs the process-wide kick signal handler; call once before start().
  static void install_kick_signal();

  void start();
  // Gets the vCPU out of KVM_RUN soon: immediate_exit plus a signal that
  // interrupts the ioctl (api.rst, "immediate_exit").
  void kick();
  void join();
  KvmVcpu& vcpu() { return *vcpu_; }

 private:
  void loop();
  // False when the VM must stop.
  bool handle_exit();
  void handle_io(kvm_run* run);
  void handle_mmio(kvm_run* run);
  std::string rip_text();
  // Re-enters KVM_RUN with immediate_exit so the last I/O exit's results
  // reach guest registers before someone saves them (api.rst KVM_RUN note).
  void complete_pending_io();
  void park();
  void set_immediate_exit(uint8_t value);

  std::unique_ptr<KvmVcpu> vcpu_;
  Env env_;
  RunGate& gate_;
  std::thread thread_;
  pthread_t handle_{};
  std::mutex thread_mu_;     // guards handle_ and signalable_ between kick() and join()
  bool signalable_ = false;  // started and not yet joined
  bool io_pending_ = false;
};

}  // namespace thaw::sandbox
