#include "sandbox/vmm/vcpu_runner.h"

#include <signal.h>

#include <atomic>
#include <cstring>

#include <fmt/format.h>

namespace thaw::sandbox {

namespace {
int kick_signal() { return SIGRTMIN; }
void on_kick(int) {}  // only there to make KVM_RUN return EINTR

const char* internal_error_name(uint32_t suberror) {
  switch (suberror) {
    case KVM_INTERNAL_ERROR_EMULATION:
      return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
      return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
      return "event delivery failed";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return "unexpected hardware exit reason";
    default:
      return "unknown suberror";
  }
}
}  // namespace

void RunGate::request_pause() {
  std::lock_guard lock(mu_);
  pause_ = true;
}

void RunGate::resume() {
  std::lock_guard lock(mu_);
  pause_ = false;
  cv_.notify_all();
}

void RunGate::stop() {
  std::lock_guard lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

bool RunGate::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

bool RunGate::paused() const {
  std::lock_guard lock(mu_);
  return pause_;
}

void RunGate::wait_parked(size_t total) {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return parked_ >= total || stop_; });
}

void VcpuRunner::install_kick_signal() {
  struct sigaction sa {};
  sa.sa_handler = on_kick;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the ioctl must return EINTR
  ::sigaction(kick_signal(), &sa, nullptr);
}

VcpuRunner::VcpuRunner(std::unique_ptr<KvmVcpu> vcpu, Env env, RunGate& gate)
    : vcpu_(std::move(vcpu)), env_(std::move(env)), gate_(gate) {}

VcpuRunner::~VcpuRunner() { join(); }

void VcpuRunner::start() {
  std::lock_guard lock(thread_mu_);
  thread_ = std::thread([this] { loop(); });
  handle_ = thread_.native_handle();
  signalable_ = true;
}

void VcpuRunner::set_immediate_exit(uint8_t value) {
  // kvm_run is shared with KVM and written here from several threads.
  std::atomic_ref<uint8_t>(vcpu_->run_state()->immediate_exit)
      .store(value, std::memory_order_release);
}

void VcpuRunner::kick() {
  set_immediate_exit(1);
  // Only a started, not yet joined thread may be signalled (pthread_kill on
  // a joined thread's handle is a use-after-free); one not yet started sees
  // the stop or pause flag before its first KVM_RUN. The lock keeps join()
  // from completing while a signal is being sent.
  std::lock_guard lock(thread_mu_);
  if (signalable_) ::pthread_kill(handle_, kick_signal());
}

void VcpuRunner::join() {
  {
    std::lock_guard lock(thread_mu_);
    signalable_ = false;
  }
  if (thread_.joinable()) thread_.join();
}

void VcpuRunner::complete_pending_io() {
  if (!io_pending_) return;
  io_pending_ = false;
  set_immediate_exit(1);
  auto r = vcpu_->run();  // returns EINTR at once, after finishing the I/O
  set_immediate_exit(0);
  if (!r) env_.stop(2, r.error().message);
}

void VcpuRunner::park() {
  std::unique_lock lock(gate_.mu_);
  if (!gate_.pause_ || gate_.stop_) return;
  lock.unlock();
  complete_pending_io();
  lock.lock();
  ++gate_.parked_;
  gate_.cv_.notify_all();
  gate_.cv_.wait(lock, [&] { return !gate_.pause_ || gate_.stop_; });
  --gate_.parked_;
}

void VcpuRunner::loop() {
  // "vcpu0", ... in top/perf/gdb (15 characters at most).
  ::pthread_setname_np(::pthread_self(), fmt::format("vcpu{}", vcpu_->id()).c_str());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kick_signal());
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);

  while (true) {
    park();
    {
      std::lock_guard lock(gate_.mu_);
      if (gate_.stop_) break;
      if (gate_.pause_) continue;  // paused again between park() and here
      // Cleared under the gate lock: a kick after this point sets it again
      // and KVM_RUN returns at once.
      set_immediate_exit(0);
    }
    auto r = vcpu_->run();
    if (!r) {
      env_.stop(2, r.error().message);
      break;
    }
    if (*r == KvmVcpu::RunResult::kInterrupted) {
      env_.stats->count(ExitKind::kInterrupted);
      continue;
    }
    if (!handle_exit()) break;
  }
  // Leaving counts as parked so a pause() racing with a stop cannot hang.
  std::lock_guard lock(gate_.mu_);
  ++gate_.parked_;
  gate_.cv_.notify_all();
}

std::string VcpuRunner::rip_text() {
  auto regs = vcpu_->get_regs();
  if (!regs) return "RIP unknown (" + regs.error().message + ")";
  return fmt::format("RIP {:#x}", regs->rip);
}

void VcpuRunner::handle_io(kvm_run* run) {
  auto* base = reinterpret_cast<uint8_t*>(run);
  // The data area lies inside the mmap'ed kvm_run page(s); KVM fills it.
  uint8_t* data = base + run->io.data_offset;
  bool handled = true;
  for (uint32_t i = 0; i < run->io.count; ++i) {
    std::span<uint8_t> item(data + static_cast<size_t>(i) * run->io.size, run->io.size);
    if (run->io.direction == KVM_EXIT_IO_OUT) {
      handled = env_.pio->write(run->io.port, item) && handled;
    } else if (!env_.pio->read(run->io.port, item)) {
      std::memset(item.data(), 0xff, item.size());  // an empty ISA bus reads all ones
      handled = false;
    }
  }
  env_.stats->count(handled ? ExitKind::kIo : ExitKind::kIoUnhandled);
}

void VcpuRunner::handle_mmio(kvm_run* run) {
  uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof(run->mmio.data));
  std::span<uint8_t> data(run->mmio.data, len);
  bool handled;
  if (run->mmio.is_write) {
    handled = env_.mmio->write(run->mmio.phys_addr, data);
  } else {
    handled = env_.mmio->read(run->mmio.phys_addr, data);
    if (!handled) std::memset(data.data(), 0xff, data.size());
  }
  env_.stats->count(handled ? ExitKind::kMmio : ExitKind::kMmioUnhandled);
  if (handled && env_.after_mmio) env_.after_mmio(run->mmio.phys_addr);
}

bool VcpuRunner::handle_exit() {
  kvm_run* run = vcpu_->run_state();
  uint32_t id = vcpu_->id();
  switch (run->exit_reason) {
    case KVM_EXIT_IO:
      handle_io(run);
      io_pending_ = true;
      return true;
    case KVM_EXIT_MMIO:
      handle_mmio(run);
      io_pending_ = true;
      return true;
    case KVM_EXIT_HLT:
      // Only without an in-kernel LAPIC; thaw always has one, so a HLT exit
      // means a vCPU stopped for good.
      env_.stats->count(ExitKind::kHlt);
      env_.stop(3, fmt::format("vCPU {} halted (KVM_EXIT_HLT) at {}", id, rip_text()));
      return false;
    case KVM_EXIT_SHUTDOWN:
      env_.stats->count(ExitKind::kShutdown);
      env_.stop(3, fmt::format("vCPU {}: guest shut down by a triple fault (KVM_EXIT_SHUTDOWN) "
                               "at {}",
                               id, rip_text()));
      return false;
    case KVM_EXIT_INTERNAL_ERROR: {
      env_.stats->count(ExitKind::kInternalError);
      std::string data;
      uint32_t n = std::min<uint32_t>(run->internal.ndata, 16);
      for (uint32_t i = 0; i < n; ++i) data += fmt::format(" {:#x}", run->internal.data[i]);
      env_.stop(3, fmt::format("vCPU {}: KVM internal error, suberror {} ({}) at {}; data:{}", id,
                               run->internal.suberror,
                               internal_error_name(run->internal.suberror), rip_text(),
                               data.empty() ? " none" : data));
      return false;
    }
    case KVM_EXIT_FAIL_ENTRY:
      env_.stats->count(ExitKind::kFailEntry);
      env_.stop(3, fmt::format("vCPU {}: VM entry failed (KVM_EXIT_FAIL_ENTRY), hardware reason "
                               "{:#x} on CPU {} at {}",
                               id, run->fail_entry.hardware_entry_failure_reason,
                               run->fail_entry.cpu, rip_text()));
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      env_.stats->count(ExitKind::kSystemEvent);
      if (run->system_event.type == KVM_SYSTEM_EVENT_RESET ||
          run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
        env_.stop(0, fmt::format("vCPU {}: guest requested {} (KVM_EXIT_SYSTEM_EVENT)", id,
                                 run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset"
                                                                                  : "power off"));
      } else {
        env_.stop(3, fmt::format("vCPU {}: guest system event type {} (crash) at {}", id,
                                 run->system_event.type, rip_text()));
      }
      return false;
    case KVM_EXIT_INTR:
      env_.stats->count(ExitKind::kInterrupted);
      return true;
    default:
      env_.stats->count(ExitKind::kOther);
      env_.stop(3, fmt::format("vCPU {}: unexpected KVM exit reason {} at {}", id,
                               run->exit_reason, rip_text()));
      return false;
  }
}

}  // namespace thaw::sandbox
