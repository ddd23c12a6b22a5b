// VM create-to-first-instruction: KVM_CREATE_VM through the first exit of a
// guest whose first instruction is `out`, with the phases thaw-vmm pays on
// a cold boot reported as counters (ns per VM): create VM, guest memory
// (memfd + KVM memory slot), irqchip + PIT, vCPU (create, CPUID, MSRs,
// long-mode registers), boot structures, first KVM_RUN to the exit. Also
// the port-I/O exit round trip through the Bus, the cost of every serial
// byte and legacy device access.
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <optional>

#include "sandbox/boot/long_mode.h"
#include "sandbox/devices/bus.h"
#include "sandbox/kvm/cpuid.h"
#include "sandbox/kvm/kvm_system.h"
#include "sandbox/kvm/kvm_vcpu.h"
#include "sandbox/kvm/kvm_vm.h"
#include "sandbox/kvm/msrs.h"

namespace thaw::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

double ns_since(Clock::time_point& t) {
  auto now = Clock::now();
  double ns = std::chrono::duration<double, std::nano>(now - t).count();
  t = now;
  return ns;
}

void BM_VmCreateToFirstInstruction(benchmark::State& state) {
  auto kvm = KvmSystem::open();
  if (!kvm) {
    state.SkipWithError(("no usable KVM: " + kvm.error().message).c_str());
    return;
  }
  auto supported = kvm->supported_cpuid();
  if (!supported) {
    state.SkipWithError(supported.error().message.c_str());
    return;
  }
  const uint64_t mem_size = static_cast<uint64_t>(state.range(0)) << 20;
  const std::array<uint8_t, 3> code{0xe6, 0x80, 0xf4};  // out 0x80, al ; hlt
  double create_vm = 0, memory = 0, irqchip = 0, vcpu_setup = 0, boot_structs = 0, first_run = 0;

  // Last iteration's VM, destroyed with the timer paused: tear-down (which
  // takes milliseconds on PVM) is not part of a cold start.
  std::optional<KvmVm> old_vm;
  std::optional<GuestMemory> old_mem;
  std::unique_ptr<KvmVcpu> old_vcpu;
  for (auto _ : state) {
    state.PauseTiming();
    old_vcpu.reset();
    old_vm.reset();
    old_mem.reset();
    state.ResumeTiming();
    auto t = Clock::now();
    auto vm = KvmVm::create(*kvm);
    if (!vm) return state.SkipWithError(vm.error().message.c_str());
    create_vm += ns_since(t);

    auto mem = GuestMemory::create_memfd(mem_size);
    if (!mem) return state.SkipWithError(mem.error().message.c_str());
    if (auto r = vm->set_memory(*mem); !r) return state.SkipWithError(r.error().message.c_str());
    memory += ns_since(t);

    if (auto r = vm->create_irqchip_and_pit(); !r) {
      return state.SkipWithError(r.error().message.c_str());
    }
    irqchip += ns_since(t);

    auto vcpu = vm->create_vcpu(0);
    if (!vcpu) return state.SkipWithError(vcpu.error().message.c_str());
    auto cpuid = apply_cpu_model(*supported, default_cpu_model(), 0, 1);
    bool ok = cpuid && (*vcpu)->set_cpuid(*cpuid) && (*vcpu)->set_msrs(boot_msrs());
    auto sregs = (*vcpu)->get_sregs();
    if (!ok || !sregs) return state.SkipWithError("vCPU setup failed");
    boot::setup_long_mode_sregs(*sregs);
    ok = (*vcpu)->set_sregs(*sregs) && (*vcpu)->set_regs(boot::boot_regs(0x100000)) &&
         (*vcpu)->set_fpu(boot::boot_fpu());
    if (!ok) return state.SkipWithError("vCPU register setup failed");
    vcpu_setup += ns_since(t);

    ok = boot::write_gdt_and_idt(*mem) && boot::write_identity_page_tables(*mem) &&
         mem->write(0x100000, code);
    if (!ok) return state.SkipWithError("writing boot structures failed");
    boot_structs += ns_since(t);

    auto run = (*vcpu)->run();
    if (!run || (*vcpu)->run_state()->exit_reason != KVM_EXIT_IO) {
      return state.SkipWithError("the guest's first exit was not its `out`");
    }
    first_run += ns_since(t);

    old_vcpu = std::move(*vcpu);
    old_vm.emplace(std::move(*vm));
    old_mem.emplace(std::move(*mem));
  }
  auto per_vm = benchmark::Counter::kAvgIterations;
  state.counters["create_vm_ns"] = benchmark::Counter(create_vm, per_vm);
  state.counters["memory_ns"] = benchmark::Counter(memory, per_vm);
  state.counters["irqchip_ns"] = benchmark::Counter(irqchip, per_vm);
  state.counters["vcpu_ns"] = benchmark::Counter(vcpu_setup, per_vm);
  state.counters["boot_structs_ns"] = benchmark::Counter(boot_structs, per_vm);
  state.counters["first_run_ns"] = benchmark::Counter(first_run, per_vm);
}
// Guest RAM in MiB: the memory phase should not grow with it (memfd +
// NORESERVE mapping, nothing touched up front).
BENCHMARK(BM_VmCreateToFirstInstruction)->Arg(128)->Arg(1024)->Unit(benchmark::kMillisecond);

// Port-I/O exit round trip as thaw-vmm's vCPU loop pays it: KVM_RUN, the
// exit, dispatch through the Bus to a device, back into the guest, whose
// loop is `out 0x80, al ; jmp back`. ns per exit (items/s = exits/s).
class SinkDevice : public Device {
 public:
  std::string_view name() const override { return "sink"; }
  void read(uint64_t, std::span<uint8_t> d) override { std::fill(d.begin(), d.end(), 0); }
  void write(uint64_t, std::span<const uint8_t> d) override { bytes += d.size(); }
  void reset() override {}
  Result<std::vector<uint8_t>> save_state() const override { return std::vector<uint8_t>{}; }
  Result<void> restore_state(std::span<const uint8_t>) override { return Ok(); }
  uint64_t bytes = 0;
};

void BM_PortIoExitRoundTrip(benchmark::State& state) {
  auto kvm = KvmSystem::open();
  if (!kvm) return state.SkipWithError(("no usable KVM: " + kvm.error().message).c_str());
  auto supported = kvm->supported_cpuid();
  auto vm = KvmVm::create(*kvm);
  auto mem = GuestMemory::create_memfd(4 << 20);
  if (!supported || !vm || !mem || !vm->set_memory(*mem) || !vm->create_irqchip_and_pit()) {
    return state.SkipWithError("VM setup failed");
  }
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return state.SkipWithError(vcpu.error().message.c_str());
  auto cpuid = apply_cpu_model(*supported, default_cpu_model(), 0, 1);
  auto sregs = (*vcpu)->get_sregs();
  if (!cpuid || !(*vcpu)->set_cpuid(*cpuid) || !sregs) return state.SkipWithError("vCPU setup");
  boot::setup_long_mode_sregs(*sregs);
  const std::array<uint8_t, 4> code{0xe6, 0x80, 0xeb, 0xfc};  // out 0x80, al ; jmp -4
  bool ok = (*vcpu)->set_sregs(*sregs) && (*vcpu)->set_regs(boot::boot_regs(0x100000)) &&
            boot::write_gdt_and_idt(*mem) && boot::write_identity_page_tables(*mem) &&
            mem->write(0x100000, code);
  if (!ok) return state.SkipWithError("boot state");
  Bus bus;
  auto sink = std::make_shared<SinkDevice>();
  if (!bus.insert(0x80, 1, sink)) return state.SkipWithError("bus");
  kvm_run* run = (*vcpu)->run_state();
  for (auto _ : state) {
    auto r = (*vcpu)->run();
    if (!r || run->exit_reason != KVM_EXIT_IO) return state.SkipWithError("unexpected exit");
    auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
    bus.write(run->io.port, {data, run->io.size});
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  benchmark::DoNotOptimize(sink->bytes);
}
BENCHMARK(BM_PortIoExitRoundTrip)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace thaw::sandbox

BENCHMARK_MAIN();
