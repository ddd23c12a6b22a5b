// The host checks of `thawd --doctor`; see doctor.h. Reports live in
// doctor_report.cc.
#include "agent/doctor.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/userfaultfd.h>
#include <liburing.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw::doctor {
namespace {

// Pseudo files are small; the cap only guards against a wrong path.
constexpr size_t kMaxProcFile = 4 << 20;

// Reads to EOF (pseudo files report size 0, so no stat-sized read); empty
// when the file is missing or unreadable, which each check reports itself.
std::string read_text(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  std::string out;
  if (!fd) return out;
  char buf[4096];
  while (out.size() < kMaxProcFile) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    size_t n = s.find(sep);
    std::string_view part = s.substr(0, n);
    if (!part.empty()) out.push_back(part);
    if (n == std::string_view::npos) break;
    s.remove_prefix(n + 1);
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// /proc/self/mounts escapes space, tab, newline and backslash as \ooo.
std::string unescape_mount_path(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() &&
        std::all_of(s.begin() + i + 1, s.begin() + i + 4, [](char c) { return c >= '0' && c <= '7'; })) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// A path the host's mount table names, seen through the injected roots.
std::string host_path(const HostPaths& paths, const std::string& abs) {
  if (abs.starts_with("/sys/")) return paths.sys + abs.substr(4);
  if (abs.starts_with("/proc/")) return paths.proc + abs.substr(5);
  return abs;
}

Check make(std::string name, bool microvm, bool process) {
  Check c;
  c.name = std::move(name);
  c.microvm_needs = microvm;
  c.process_needs = process;
  return c;
}

Check fail(Check c, std::string summary, std::string fix) {
  c.status = Status::fail;
  c.summary = std::move(summary);
  c.fix = std::move(fix);
  return c;
}

}  // namespace

const char* status_name(Status s) {
  switch (s) {
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
  }
  return "?";
}

const char* kvm_kind_name(KvmKind k) {
  switch (k) {
    case KvmKind::absent: return "absent";
    case KvmKind::hardware_vmx: return "hardware-vmx";
    case KvmKind::hardware_svm: return "hardware-svm";
    case KvmKind::pvm: return "pvm";
    case KvmKind::unknown: return "unknown";
  }
  return "?";
}

std::vector<std::string> cpu_flags(std::string_view cpuinfo) {
  for (std::string_view line : split(cpuinfo, '\n')) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || trim(line.substr(0, colon)) != "flags") continue;
    std::vector<std::string> out;
    for (std::string_view f : split(line.substr(colon + 1), ' ')) out.emplace_back(trim(f));
    std::erase_if(out, [](const std::string& f) { return f.empty(); });
    return out;
  }
  return {};
}

KvmKind classify_kvm(const std::vector<std::string>& flags, bool kvm_pvm_loaded, bool kvm_loaded) {
  auto has = [&](std::string_view f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
  if (kvm_pvm_loaded) return KvmKind::pvm;
  if (has("vmx")) return KvmKind::hardware_vmx;
  if (has("svm")) return KvmKind::hardware_svm;
  return kvm_loaded ? KvmKind::unknown : KvmKind::absent;
}

const char* guest_variant(KvmKind k) { return k == KvmKind::pvm ? "pvm" : "standard"; }

bool filesystem_listed(std::string_view proc_filesystems, std::string_view fs) {
  for (std::string_view line : split(proc_filesystems, '\n')) {
    size_t tab = line.rfind('\t');
    std::string_view name = tab == std::string_view::npos ? line : line.substr(tab + 1);
    if (trim(name) == fs) return true;
  }
  return false;
}

CgroupLayout parse_cgroup_mounts(std::string_view mounts, std::string_view proc_cgroups) {
  std::vector<std::string_view> known;
  for (std::string_view line : split(proc_cgroups, '\n')) {
    if (line.starts_with('#')) continue;
    auto cols = split(line, '\t');
    if (!cols.empty()) known.push_back(trim(cols[0]));
  }
  CgroupLayout layout;
  for (std::string_view line : split(mounts, '\n')) {
    auto cols = split(line, ' ');
    if (cols.size() < 4) continue;
    if (cols[2] == "cgroup2") {
      if (layout.v2_mount.empty()) layout.v2_mount = unescape_mount_path(cols[1]);
    } else if (cols[2] == "cgroup") {
      for (std::string_view opt : split(cols[3], ',')) {
        if (std::find(known.begin(), known.end(), opt) != known.end())
          layout.v1.push_back({std::string(opt), unescape_mount_path(cols[1])});
      }
    }
  }
  return layout;
}

Check check_kvm(const HostPaths& paths, KvmKind* kind_out) {
  Check c = make("kvm", true, false);
  KvmKind kind = classify_kvm(cpu_flags(read_text(paths.proc + "/cpuinfo")),
                              exists(paths.sys + "/module/kvm_pvm"), exists(paths.sys + "/module/kvm"));
  std::string dev = paths.dev + "/kvm";
  if (!exists(dev)) {
    if (kind_out) *kind_out = KvmKind::absent;
    return fail(c, fmt::format("{} does not exist", dev),
                "load the KVM module for this CPU (modprobe kvm_intel or kvm_amd; kvm_pvm on "
                "PVM hosts) and enable virtualization in the firmware; without it use the "
                "process backend");
  }
  if (kind == KvmKind::absent) kind = KvmKind::unknown;  // a device without a known module
  if (kind_out) *kind_out = kind;
  std::string kind_text = kind == KvmKind::pvm
      ? "PVM (kvm_pvm module: guest CPL0 code is emulated; the pvm guest kernel variant is used)"
      : kind == KvmKind::hardware_vmx ? "hardware (Intel VMX)"
      : kind == KvmKind::hardware_svm ? "hardware (AMD SVM)"
      : "unknown kind (no vmx/svm CPU flag and no kvm_pvm module)";
  UniqueFd kvm(::open(dev.c_str(), O_RDWR | O_CLOEXEC));
  if (!kvm) {
    int err = errno;
    return fail(c, fmt::format("{}: open {}: {}", kind_text, dev, Error::errno_text(err)),
                err == EACCES ? "run thawd as root or give its user access to /dev/kvm (group kvm)"
                              : "check that /dev/kvm is the KVM character device (10:232)");
  }
  int api = ::ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (api < 0) {
    return fail(c, fmt::format("{} is not a KVM device: KVM_GET_API_VERSION: {}", dev,
                               Error::errno_text(errno)),
                "check that /dev/kvm is the KVM character device (10:232)");
  }
  if (api != KVM_API_VERSION) {
    return fail(c, fmt::format("{} reports KVM API version {}, thaw needs {}", dev, api, KVM_API_VERSION),
                "use a Linux host kernel with the stable KVM API (2.6.22 or later)");
  }
  // What thaw-vmm cannot work without: the in-kernel irqchip and PIT,
  // irqfd interrupts and ioeventfd notifications, user memory slots.
  static constexpr std::pair<int, const char*> kNeeded[] = {
      {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},       {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
      {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"}, {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
      {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},           {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
      {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},   {KVM_CAP_ADJUST_CLOCK, "KVM_CAP_ADJUST_CLOCK"},
      {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
  };
  std::vector<std::string> missing;
  for (auto [cap, name] : kNeeded) {
    if (::ioctl(kvm.get(), KVM_CHECK_EXTENSION, cap) <= 0) missing.emplace_back(name);
  }
  if (!missing.empty()) {
    return fail(c, fmt::format("{}: missing {}", kind_text, fmt::join(missing, ", ")),
                "use a host kernel whose KVM offers these capabilities (any 5.x or later x86-64 KVM does)");
  }
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm) {
    return fail(c, fmt::format("{}: KVM_CREATE_VM: {}", kind_text, Error::errno_text(errno)),
                "another hypervisor may hold VMX/SVM, or a cgroup/seccomp policy forbids it; "
                "check dmesg for kvm errors");
  }
  c.summary = fmt::format("{}; API {}; KVM_CREATE_VM works", kind_text, api);
  return c;
}

Check check_io_uring(const HostPaths& paths) {
  Check c = make("io_uring", true, true);
  // io_uring_disabled (Linux 6.6+): 0 all, 1 only CAP_SYS_ADMIN or
  // io_uring_group members, 2 nobody. Older kernels lack the file.
  std::string sysctl = paths.proc + "/sys/kernel/io_uring_disabled";
  std::string setting(trim(read_text(sysctl)));
  if (setting == "2") {
    return fail(c, fmt::format("{} = 2: io_uring is disabled for every process", sysctl),
                "sysctl -w kernel.io_uring_disabled=0 (and persist it in /etc/sysctl.d)");
  }
  io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    return fail(c, fmt::format("io_uring_setup: {} ({} = {})", Error::errno_text(-rc), sysctl,
                               setting.empty() ? "absent" : setting),
                "allow io_uring: sysctl kernel.io_uring_disabled=0, and no seccomp or container "
                "policy blocking io_uring_setup");
  }
  io_uring_queue_exit(&ring);
  c.summary = fmt::format("a ring sets up ({} = {})", sysctl, setting.empty() ? "absent" : setting);
  if (setting == "1") {
    c.status = Status::warn;
    c.fix = "kernel.io_uring_disabled=1 limits io_uring to root and io_uring_group; keep "
            "thawd and thaw-vmm inside that group or set it to 0";
  }
  return c;
}

Check check_filesystem(const HostPaths& paths, std::string_view fs) {
  // The host mounts overlay and EROFS only for the process backend; microVM
  // guests mount their images inside the guest kernel.
  Check c = make(std::string(fs), false, true);
  std::string list = paths.proc + "/filesystems";
  if (!filesystem_listed(read_text(list), fs)) {
    return fail(c, fmt::format("{} is not listed in {}", fs, list),
                fmt::format("modprobe {} (CONFIG_{}_FS in the host kernel)", fs,
                            fs == "overlay" ? "OVERLAY" : "EROFS"));
  }
  c.summary = fmt::format("listed in {}", list);
  return c;
}

Check check_cgroups(const HostPaths& paths) {
  Check c = make("cgroups", true, true);
  CgroupLayout l = parse_cgroup_mounts(read_text(paths.proc + "/self/mounts"),
                                       read_text(paths.proc + "/cgroups"));
  if (!l.v2_mount.empty()) {
    std::string controllers = read_text(host_path(paths, l.v2_mount) + "/cgroup.controllers");
    for (std::string_view ctl : split(controllers, ' '))
      l.v2_controllers.emplace_back(trim(ctl));
    std::erase_if(l.v2_controllers, [](const std::string& s) { return s.empty(); });
  }
  auto v2_has = [&](std::string_view ctl) {
    return std::find(l.v2_controllers.begin(), l.v2_controllers.end(), ctl) != l.v2_controllers.end();
  };
  auto v1_has = [&](std::string_view ctl) {
    return std::any_of(l.v1.begin(), l.v1.end(), [&](const auto& e) { return e.controller == ctl; });
  };
  std::vector<std::string> v1_names;
  for (const auto& e : l.v1) v1_names.push_back(e.controller);
  std::string layout = fmt::format(
      "v2 {}; v1 controllers: {}",
      l.v2_mount.empty() ? std::string("not mounted")
                         : fmt::format("at {} (controllers: {})", l.v2_mount,
                                       l.v2_controllers.empty() ? "none" : fmt::to_string(fmt::join(l.v2_controllers, " "))),
      v1_names.empty() ? "none" : fmt::to_string(fmt::join(v1_names, " ")));
  std::vector<std::string> missing;
  for (std::string_view ctl : {"memory", "cpu", "pids"}) {
    if (!v2_has(ctl) && !v1_has(ctl)) missing.emplace_back(ctl);
  }
  if (!missing.empty()) {
    return fail(c, fmt::format("{}; no hierarchy offers {}", layout, fmt::join(missing, ", ")),
                "mount cgroup2 with those controllers enabled (cgroup_no_v1=all, or systemd's "
                "unified hierarchy) or mount the v1 controllers");
  }
  c.summary = layout;
  if (!l.v1.empty()) {
    c.status = Status::warn;
    c.fix = "v1 controllers in use: Firecracker measured KVM_CREATE_VM at 27 ms inside a v1 "
            "memory cgroup vs 0.35 ms outside; prefer the unified (v2) hierarchy";
  }
  return c;
}

Check check_namespaces(const HostPaths& paths) {
  Check c = make("namespaces", true, true);
  std::vector<std::string> missing;
  for (const char* ns : {"mnt", "pid", "net", "ipc", "uts", "user", "cgroup"}) {
    if (!exists(fmt::format("{}/self/ns/{}", paths.proc, ns))) missing.emplace_back(ns);
  }
  if (!missing.empty()) {
    return fail(c, fmt::format("{}/self/ns lacks {}", paths.proc, fmt::join(missing, ", ")),
                "use a host kernel with CONFIG_NAMESPACES and each of those namespaces");
  }
  c.summary = "mnt pid net ipc uts user cgroup";
  return c;
}

Check check_vsock(const HostPaths& paths) {
  Check c = make("vsock", false, false);
  std::string dev = paths.dev + "/vhost-vsock";
  c.summary = exists(dev) ? fmt::format("{} present (unused: thaw-vmm implements virtio-vsock itself)", dev)
                          : fmt::format("{} absent; not needed: thaw-vmm implements virtio-vsock itself", dev);
  return c;
}

Check check_userfaultfd() {
  // Optional: lazy snapshot loading can use it; MAP_PRIVATE restore does not.
  Check c = make("userfaultfd", false, false);
  UniqueFd fd(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY)));
  if (!fd) fd.reset(static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC)));
  if (!fd) {
    c.status = Status::warn;
    c.summary = fmt::format("userfaultfd(): {}", Error::errno_text(errno));
    c.fix = "sysctl vm.unprivileged_userfaultfd=1 or run as root; only lazy-restore needs it";
    return c;
  }
  c.summary = "userfaultfd() works";
  return c;
}

Check check_memfd() {
  // Guest memory is a memfd so snapshots can map it later (DESIGN.md).
  Check c = make("memfd", true, false);
  UniqueFd fd(::memfd_create("thaw-doctor", MFD_CLOEXEC));
  if (!fd) {
    return fail(c, fmt::format("memfd_create: {}", Error::errno_text(errno)),
                "use a host kernel with CONFIG_MEMFD_CREATE (3.17+) and no seccomp policy blocking it");
  }
  c.summary = "memfd_create works";
  return c;
}

Check check_madv_populate_read() {
  // Optional: prefetching a restored sandbox's working set (Linux 5.14+).
  Check c = make("madv_populate_read", false, false);
  long page = ::sysconf(_SC_PAGESIZE);
  void* p = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    c.status = Status::warn;
    c.summary = fmt::format("mmap of one page: {}", Error::errno_text(errno));
    c.fix = "the host is out of memory or address space";
    return c;
  }
  int rc = ::madvise(p, page, MADV_POPULATE_READ);
  int err = errno;
  ::munmap(p, page);
  if (rc != 0) {
    c.status = Status::warn;
    c.summary = fmt::format("madvise(MADV_POPULATE_READ): {}", Error::errno_text(err));
    c.fix = "Linux 5.14+ prefetches restored working sets in one call; without it thaw touches pages one by one";
    return c;
  }
  c.summary = "madvise(MADV_POPULATE_READ) works";
  return c;
}

}  // namespace thaw::doctor
