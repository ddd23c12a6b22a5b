#include "sandbox/vmm/vmm.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <future>

#include <fmt/format.h>

#include "common/file_util.h"
#include "sandbox/boot/boot_params.h"
#include "sandbox/boot/long_mode.h"
#include "sandbox/kvm/msrs.h"
#include "sandbox/vmm/irqfd_line.h"

namespace thaw::sandbox {

Result<void> validate_config(const VmmConfig& c) {
  if (c.kernel_path.empty()) return Error::format("--kernel is required: a bzImage or ELF path");
  if (c.mem_mib < 2 || c.mem_mib > kMaxMemMib) {
    return Error::format("--mem {} MiB is outside 2..{} MiB", c.mem_mib, kMaxMemMib);
  }
  if (c.vcpus < 1 || c.vcpus > kMaxVcpus) {
    return Error::format("--vcpus {} is outside 1..{}", c.vcpus, kMaxVcpus);
  }
  size_t virtio_count = c.disks.size() + (c.vsock_uds.empty() ? 0 : 1);
  // Each device takes a 4 KiB window below 4 GiB and one GSI; the IOAPIC
  // has 24 pins and GSIs 5.. are ours.
  constexpr size_t kMaxVirtio = 24 - kVirtioFirstGsi;
  if (virtio_count > kMaxVirtio) {
    return Error::format("{} virtio devices (--disk + --vsock-uds) exceed the {} IOAPIC pins left",
                         virtio_count, kMaxVirtio);
  }
  if (c.vsock_cid < 3) {
    return Error::format("--vsock-cid {} is reserved (0-2 are hypervisor, local and host); use 3 "
                         "or more",
                         c.vsock_cid);
  }
  for (const DiskConfig& d : c.disks) {
    if (d.path.empty()) return Error::format("--disk needs a path (--disk PATH[,ro])");
  }
  return Ok();
}

Vmm::Vmm(VmmConfig config, KvmSystem kvm, GuestMemory memory, KvmVm vm)
    : config_(std::move(config)),
      kvm_(std::move(kvm)),
      memory_(std::move(memory)),
      vm_(std::move(vm)) {}

Result<std::unique_ptr<Vmm>> Vmm::create(const VmmConfig& config) {
  if (auto r = validate_config(config); !r) return std::move(r).error();
  auto memory = GuestMemory::create_memfd(config.mem_mib << 20);
  if (!memory) return std::move(memory).error();
  return create(config, std::move(*memory));
}

Result<std::unique_ptr<Vmm>> Vmm::create(const VmmConfig& config, GuestMemory memory_in) {
  if (auto r = validate_config(config); !r) return std::move(r).error();
  if (memory_in.size() != config.mem_mib << 20) {
    return Error::format("guest memory is {} bytes but the configuration says {} MiB",
                         memory_in.size(), config.mem_mib);
  }
  return assemble(config, std::move(memory_in));
}

Result<std::unique_ptr<Vmm>> Vmm::create_standby(const VmmConfig& config) {
  if (auto r = validate_config(config); !r) return std::move(r).error();
  // Untouched anonymous RAM (MAP_NORESERVE: no memory is committed) whose
  // host addresses become the memory slots now; the restore remaps the
  // snapshot's file over the same addresses.
  auto stand_in = GuestMemory::create_anonymous(config.mem_mib << 20);
  if (!stand_in) return std::move(stand_in).error();
  auto vmm = assemble(config, std::move(*stand_in));
  if (!vmm) return vmm;
  (*vmm)->standby_ = true;
  // The vCPU threads too: they wait at the closed gate until start() opens
  // it, so the restore pays no thread creation.
  (*vmm)->gate_.request_pause();
  for (auto& r : (*vmm)->runners_) r->start();
  (*vmm)->threads_waiting_ = true;
  return vmm;
}

Result<void> Vmm::complete_standby(const VmmConfig& bindings) {
  if (!standby_) return Error::format("this VM is not a standby VM, or already completed");
  config_.disks = bindings.disks;
  config_.vsock_uds = bindings.vsock_uds;
  config_.vsock_cid = bindings.vsock_cid;
  config_.serial_path = bindings.serial_path;
  standby_ = false;
  return Ok();
}

Result<std::unique_ptr<Vmm>> Vmm::assemble(const VmmConfig& config, GuestMemory memory_in) {
  auto kvm = KvmSystem::open();
  if (!kvm) return std::move(kvm).error();
  std::optional<GuestMemory> memory(std::move(memory_in));
  auto vm = KvmVm::create(*kvm);
  if (!vm) return std::move(vm).error();
  if (auto r = vm->set_memory(*memory); !r) return std::move(r).error();
  if (auto r = vm->create_irqchip_and_pit(); !r) return std::move(r).error();

  std::unique_ptr<Vmm> vmm(new Vmm(config, std::move(*kvm), std::move(*memory), std::move(*vm)));
  // vCPUs first: the IO thread may call request_stop(), which walks them.
  if (auto r = vmm->create_vcpus(); !r) return std::move(r).error();
  if (auto r = vmm->start_io_thread(); !r) return std::move(r).error();
  return vmm;
}

Vmm::~Vmm() {
  shutdown_threads();
  // Devices may refer to the interrupt lines and guest memory: drop every
  // holder of a device first, while those still exist.
  io_events_.clear();
  contract_checks_.clear();
  stats_sources_.clear();
  pio_bus_ = Bus();
  mmio_bus_ = Bus();
}

void Vmm::shutdown_threads() {
  gate_.stop();
  for (auto& r : runners_) r->kick();
  for (auto& r : runners_) r->join();
  if (loop_) loop_->stop();
  if (io_thread_.joinable()) io_thread_.join();
}

Result<void> Vmm::start_io_thread() {
  // The IoLoop is created on the thread that runs it (SINGLE_ISSUER rings).
  std::promise<Result<IoLoop*>> ready;
  auto ready_future = ready.get_future();
  io_thread_ = std::thread([this, &ready] {
    ::pthread_setname_np(::pthread_self(), "vmm-io");
    auto loop = IoLoop::create();
    if (!loop) {
      ready.set_value(std::move(loop).error().context("creating the VMM's io_uring loop"));
      return;
    }
    loop_ = std::move(*loop);
    ready.set_value(loop_.get());
    auto r = loop_->run();
    if (!r) request_stop(kExitHostError, r.error().message);
  });
  auto loop = ready_future.get();
  if (!loop) {
    io_thread_.join();
    return std::move(loop).error();
  }
  return Ok();
}

Result<void> Vmm::create_vcpus() {
  VcpuRunner::install_kick_signal();
  auto supported = kvm_.supported_cpuid();
  if (!supported) return std::move(supported).error();
  supported_cpuid_ = *supported;
  for (uint32_t id = 0; id < config_.vcpus; ++id) {
    auto vcpu = vm_.create_vcpu(id);
    if (!vcpu) return std::move(vcpu).error();
    auto cpuid = apply_cpu_model(*supported, config_.cpu_model, id, config_.vcpus);
    if (!cpuid) return std::move(cpuid).error();
    if (auto r = (*vcpu)->set_cpuid(*cpuid); !r) return std::move(r).error();
    if (auto r = (*vcpu)->set_msrs(boot_msrs()); !r) return std::move(r).error();
    auto lapic = (*vcpu)->get_lapic();
    if (!lapic) return std::move(lapic).error();
    boot::setup_lint_pins(*lapic);
    if (auto r = (*vcpu)->set_lapic(*lapic); !r) return std::move(r).error();

    VcpuRunner::Env env;
    env.pio = &pio_bus_;
    env.mmio = &mmio_bus_;
    env.stats = &exit_stats_;
    env.stop = [this](int code, std::string reason) { request_stop(code, std::move(reason)); };
    env.after_mmio = [this](uint64_t) { check_contracts(); };
    runners_.push_back(std::make_unique<VcpuRunner>(std::move(*vcpu), std::move(env), gate_));
  }
  return Ok();
}

Result<void> Vmm::add_pio_device(uint64_t base, uint64_t size, std::shared_ptr<Device> device) {
  if (started_) return Error::format("device {} added after the VM started", device->name());
  return pio_bus_.insert(base, size, std::move(device));
}

Result<void> Vmm::add_mmio_device(uint64_t base, uint64_t size, std::shared_ptr<Device> device) {
  if (started_) return Error::format("device {} added after the VM started", device->name());
  return mmio_bus_.insert(base, size, std::move(device));
}

Result<std::shared_ptr<InterruptLine>> Vmm::interrupt_line(uint32_t gsi) {
  for (size_t i = 0; i < line_gsis_.size(); ++i) {
    if (line_gsis_[i] == gsi) return lines_[i];
  }
  auto line = IrqfdLine::create(vm_, gsi);
  if (!line) return std::move(line).error();
  lines_.push_back(*line);
  line_gsis_.push_back(gsi);
  return std::shared_ptr<InterruptLine>(*line);
}

Result<void> Vmm::add_ioevent(uint64_t address, uint32_t datamatch,
                              std::function<void()> on_signal) {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Error::from_errno("eventfd for ioevent at {:#x}", address);
  auto event = std::make_unique<IoEvent>();
  event->fd.reset(fd);
  event->on_signal = std::move(on_signal);
  if (auto r = vm_.add_ioeventfd(address, 4, datamatch, fd); !r) return std::move(r).error();
  IoEvent* raw = event.get();
  raw->op.done = [this, raw](int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE) && !loop_->stopping()) {
      loop_->watch(raw->fd.get(), raw->op);  // multishot poll ended: re-arm
    }
    if (res < 0) return;
    uint64_t count;
    if (::read(raw->fd.get(), &count, sizeof(count)) != sizeof(count)) return;
    raw->on_signal();
    check_contracts();
  };
  // IoLoop::watch prepares an SQE: only the loop thread may do that.
  loop_->post([this, raw] { loop_->watch(raw->fd.get(), raw->op); });
  io_events_.push_back(std::move(event));
  return Ok();
}

void Vmm::add_stats_source(std::function<DeviceStats()> source) {
  stats_sources_.push_back(std::move(source));
}

void Vmm::add_contract_check(std::function<std::string()> check) {
  contract_checks_.push_back(std::move(check));
}

void Vmm::check_contracts() {
  for (const auto& check : contract_checks_) {
    std::string reason = check();
    if (!reason.empty()) {
      request_stop(kExitDeviceContract, std::move(reason));
      return;
    }
  }
}

Result<void> Vmm::boot(const std::string& extra_cmdline) {
  auto kernel = read_file(config_.kernel_path, kMaxKernelBytes);
  if (!kernel) return std::move(kernel).error().context("reading --kernel");
  std::vector<uint8_t> initrd;
  if (!config_.initrd_path.empty()) {
    auto bytes = read_file(config_.initrd_path, kMaxInitrdBytes);
    if (!bytes) return std::move(bytes).error().context("reading --initrd");
    initrd = std::move(*bytes);
  }
  std::string cmdline = config_.cmdline;
  if (!extra_cmdline.empty()) {
    if (!cmdline.empty()) cmdline += ' ';
    cmdline += extra_cmdline;
  }
  auto plan = boot::prepare_boot(memory_, *kernel, initrd, cmdline, config_.vcpus);
  if (!plan) return std::move(plan).error().context(config_.kernel_path);

  // Only the boot vCPU gets entry state; the others wait for INIT/SIPI in
  // the in-kernel LAPIC, as on a PC (Linux's SMP bring-up starts them).
  KvmVcpu& bsp = runners_.front()->vcpu();
  auto sregs = bsp.get_sregs();
  if (!sregs) return std::move(sregs).error();
  boot::setup_long_mode_sregs(*sregs);
  if (auto r = bsp.set_sregs(*sregs); !r) return std::move(r).error();
  if (auto r = bsp.set_regs(boot::boot_regs(plan->entry)); !r) return std::move(r).error();
  if (auto r = bsp.set_fpu(boot::boot_fpu()); !r) return std::move(r).error();
  return Ok();
}

Result<void> Vmm::start() {
  if (started_) return Error::format("VM already started");
  if (standby_) return Error::format("a standby VM has no guest yet; restore a snapshot into it");
  started_ = true;
  if (threads_waiting_) {
    threads_waiting_ = false;
    gate_.resume();
    return Ok();
  }
  for (auto& r : runners_) r->start();
  return Ok();
}

int Vmm::wait() {
  {
    std::unique_lock lock(stop_mu_);
    stop_cv_.wait(lock, [&] { return stop_requested_; });
  }
  shutdown_threads();
  std::lock_guard lock(stop_mu_);
  return exit_code_;
}

Result<void> Vmm::pause() {
  if (!started_) return Error::format("cannot pause: the VM has not started");
  if (gate_.stopping()) return Error::format("cannot pause: the VM is stopping");
  gate_.request_pause();
  for (auto& r : runners_) r->kick();
  gate_.wait_parked(runners_.size());
  if (gate_.stopping()) return Error::format("the VM stopped while pausing");
  return Ok();
}

Result<void> Vmm::resume() {
  if (gate_.stopping()) return Error::format("cannot resume: the VM is stopping");
  if (!gate_.paused()) return Ok();
  // Tell the guest's kvmclock it was paused so its soft-lockup watchdog does
  // not fire; EINVAL just means the guest has not enabled kvmclock yet.
  for (auto& r : runners_) (void)r->vcpu().kvmclock_ctrl();
  gate_.resume();
  return Ok();
}

void Vmm::request_stop(int exit_code, std::string reason) {
  {
    std::lock_guard lock(stop_mu_);
    if (stop_requested_) return;
    stop_requested_ = true;
    exit_code_ = exit_code;
    stop_reason_ = std::move(reason);
  }
  gate_.stop();
  for (auto& r : runners_) r->kick();
  stop_cv_.notify_all();
}

std::string Vmm::stop_reason() const {
  std::lock_guard lock(stop_mu_);
  return stop_reason_;
}

std::vector<Vmm::AttachedDevice> Vmm::devices() const {
  std::vector<AttachedDevice> out;
  for (const auto& e : pio_bus_.entries()) out.push_back({false, e.base, e.device});
  for (const auto& e : mmio_bus_.entries()) out.push_back({true, e.base, e.device});
  return out;
}

std::vector<DeviceStats> Vmm::device_stats() const {
  std::vector<DeviceStats> out;
  for (const auto& source : stats_sources_) out.push_back(source());
  return out;
}

}  // namespace thaw::sandbox
