// thaw-vmm: one microVM per process (CONTRACT.md "thaw-vmm command line").
// Parses the command line, builds and boots the machine (or restores a
// snapshot of one), serves the control socket and exits with the VM's exit
// code.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sandbox/kvm/cpuid.h"
#include "sandbox/vmm/control_socket.h"
#include "sandbox/vmm/machine.h"
#include "sandbox/vmm/vmm_control.h"
#include "snapshot/snapshot_control.h"
#include "snapshot/standby_control.h"
#include "snapshot/vm_snapshot.h"

namespace {

using thaw::sandbox::DiskConfig;
using thaw::sandbox::VmmConfig;

// "--disk path[,ro]"; the path itself may contain commas only if it does
// not end in ",ro".
DiskConfig parse_disk(const std::string& spec) {
  DiskConfig disk{spec, false};
  constexpr std::string_view kRo = ",ro";
  if (spec.size() > kRo.size() && spec.compare(spec.size() - kRo.size(), kRo.size(), kRo) == 0) {
    disk.path = spec.substr(0, spec.size() - kRo.size());
    disk.read_only = true;
  }
  return disk;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace thaw::sandbox;
  CLI::App app{
      "thaw-vmm: run one KVM microVM (bzImage or ELF kernel, 8250 console, i8042, virtio-mmio "
      "disks and vsock).\nExit codes: 0 clean reset/stop, 1 usage or config error, 2 host error, "
      "3 guest fault, 4 guest broke a device contract.",
      "thaw-vmm"};
  VmmConfig config;
  std::vector<std::string> disks;
  std::string cpu_model;
  std::string restore_dir;
  bool no_prefetch = false;
  bool standby = false;
  auto* kernel = app.add_option("--kernel", config.kernel_path,
                                "Kernel: bzImage, vmlinux or a 64-bit ELF guest")
                     ->check(CLI::ExistingFile);
  auto* initrd = app.add_option("--initrd", config.initrd_path,
                                "Initramfs loaded at the top of low RAM")
                     ->check(CLI::ExistingFile);
  auto* cmdline = app.add_option("--cmdline", config.cmdline,
                                 "Kernel command line (virtio_mmio.device= is added)");
  app.add_option("--restore", restore_dir,
                 "Restore the snapshot in DIR instead of booting a kernel; --mem, --vcpus and "
                 "--cpu-model default to the snapshot's and must match it when given; disks and "
                 "sockets are the ones given here")
      ->check(CLI::ExistingDirectory)
      ->excludes(kernel)
      ->excludes(initrd)
      ->excludes(cmdline);
  app.add_flag("--no-prefetch", no_prefetch,
               "With --restore: do not prefetch the snapshot's recorded working set");
  app.add_flag("--standby", standby,
               "Create the VM, vCPUs and IO ring for --mem/--vcpus/--cpu-model now and wait on "
               "--api-sock for {\"op\":\"restore\",\"dir\":DIR,\"disks\":[{\"path\":P}],"
               "\"vsock_uds\":S} (a pre-spawned VMM: the restore pays no process or VM set-up)")
      ->excludes(kernel)
      ->excludes(initrd)
      ->excludes(cmdline)
      ->excludes("--restore");
  app.add_option("--mem", config.mem_mib, "Guest RAM in MiB")
      ->default_val(256)
      ->check(CLI::Range(uint64_t{2}, kMaxMemMib));
  app.add_option("--vcpus", config.vcpus, "Number of vCPUs")
      ->default_val(1)
      ->check(CLI::Range(1u, kMaxVcpus));
  app.add_option("--disk", disks, "virtio-blk disk image, PATH or PATH,ro (repeatable, in order)");
  app.add_option("--vsock-uds", config.vsock_uds,
                 "Host Unix socket of the virtio-vsock device (hybrid vsock: CONNECT <port>)");
  app.add_option("--vsock-cid", config.vsock_cid, "Guest vsock CID")
      ->default_val(3)
      ->check(CLI::Range(3u, 0xFFFFFFFEu));
  app.add_option("--serial", config.serial_path, "Console output file, or - for stdout")
      ->default_val("-");
  app.add_option("--api-sock", config.api_sock,
                 "Control socket: JSON lines {\"op\":\"pause|resume|stats|stop|snapshot|restore\"}");
  app.add_option("--cpu-model", cpu_model,
                 "CPU model: standard (host CPUID) or pvm (conservative, for the PVM KVM module); "
                 "default pvm when /sys/module/kvm_pvm exists")
      ->check(CLI::IsMember({"pvm", "standard"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (standby && config.api_sock.empty()) {
    fmt::print(stderr, "thaw-vmm: --standby needs --api-sock: the restore op arrives there\n");
    return kExitUsage;
  }
  if (!standby && restore_dir.empty() && config.kernel_path.empty()) {
    fmt::print(stderr, "thaw-vmm: --kernel is required to boot (or --restore DIR to restore a "
                       "snapshot)\n");
    return kExitUsage;
  }
  config.cpu_model = cpu_model.empty() ? default_cpu_model() : *parse_cpu_model(cpu_model);
  for (const std::string& spec : disks) config.disks.push_back(parse_disk(spec));

  // Sockets (vsock, control) report a vanished peer as EPIPE, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  // SIGTERM/SIGINT stop the VM like the "stop" op (disks flushed by their
  // backends, exit 0): blocked in every thread (threads inherit the mask)
  // and read from a signalfd on the IO loop.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  thaw::UniqueFd signal_fd(::signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!signal_fd) {
    fmt::print(stderr, "thaw-vmm: signalfd for SIGTERM/SIGINT: {}\n", std::strerror(errno));
    return kExitHostError;
  }
  // Declared before the Vmm so it outlives the IO loop that may complete it.
  thaw::IoOp signal_op;

  int failure_code = kExitHostError;
  thaw::Result<std::unique_ptr<Vmm>> vmm = thaw::Error::format("no machine");
  if (standby) {
    config.kernel_path = "(standby)";  // nothing is loaded; validate_config wants a name
    failure_code = kExitHostError;
    vmm = Vmm::create_standby(config);
  } else if (restore_dir.empty()) {
    vmm = build_machine(config, failure_code);
  } else {
    thaw::snapshot::RestoreOptions options;
    options.prefetch_working_set = !no_prefetch;
    options.machine_from_snapshot =
        app.count("--mem") == 0 && app.count("--vcpus") == 0 && app.count("--cpu-model") == 0;
    auto restored = thaw::snapshot::restore_machine(config, restore_dir, options, failure_code);
    if (restored) {
      vmm = std::move(restored->vmm);
    } else {
      vmm = thaw::Error(restored.error()).context(fmt::format("--restore {}", restore_dir));
    }
  }
  if (!vmm) {
    fmt::print(stderr, "thaw-vmm: {}\n", vmm.error().message);
    return failure_code;
  }
  std::unique_ptr<thaw::snapshot::SnapshotControl> control =
      standby ? std::make_unique<thaw::snapshot::StandbyControl>(**vmm)
              : std::make_unique<thaw::snapshot::SnapshotControl>(**vmm);
  std::unique_ptr<ControlSocket> server;
  if (!config.api_sock.empty()) {
    auto s = ControlSocket::create(config.api_sock, (*vmm)->io_loop(), *control);
    if (!s) {
      fmt::print(stderr, "thaw-vmm: {}\n", s.error().message);
      return kExitUsage;
    }
    server = std::move(*s);
  }
  Vmm* raw = vmm->get();
  signal_op.done = [raw, &signal_fd](int res, uint32_t) {
    signalfd_siginfo info{};
    if (res < 0 || ::read(signal_fd.get(), &info, sizeof(info)) != sizeof(info)) return;
    raw->request_stop(kExitClean, fmt::format("stopped by signal {} ({})", info.ssi_signo,
                                              ::strsignal(static_cast<int>(info.ssi_signo))));
  };
  raw->io_loop().post([raw, &signal_fd, &signal_op] {
    raw->io_loop().watch(signal_fd.get(), signal_op);
  });
  // A standby starts its vCPUs when the restore op has set their state.
  if (!standby) {
    if (auto r = (*vmm)->start(); !r) {
      fmt::print(stderr, "thaw-vmm: {}\n", r.error().message);
      return kExitHostError;
    }
  }
  int code = (*vmm)->wait();
  fmt::print(stderr, "thaw-vmm: {} (exit {})\n", (*vmm)->stop_reason(), code);
  return code;
}
