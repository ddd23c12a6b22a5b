// Host readiness checks behind `thawd --doctor`: which kind of KVM the host
// has, and whether io_uring, cgroups, namespaces, memfd, userfaultfd and the
// filesystems the backends use work. tools/test.sh asks it which guest
// kernel variant to build; thawd will run it at start-up.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace thaw::doctor {

// Where the checks look. Tests point these at fake /proc, /sys and /dev trees.
struct HostPaths {
  std::string proc = "/proc";
  std::string sys = "/sys";
  std::string dev = "/dev";
};

enum class Status { ok, warn, fail };
const char* status_name(Status s);

// One finding. `fix` says what to do and is empty when status is ok.
struct Check {
  std::string name;
  Status status = Status::ok;
  std::string summary;
  std::string fix;
  bool microvm_needs = false;  // a fail here makes the microvm backend unusable
  bool process_needs = false;  // ... or the process backend
};

// Hardware VMX/SVM, or PVM (pagetable-based virtualization, the kvm_pvm
// module: guest CPL0 code is emulated; see guest/PLATFORM.md).
enum class KvmKind { absent, hardware_vmx, hardware_svm, pvm, unknown };
const char* kvm_kind_name(KvmKind k);

// --- pure parsers (unit-tested on fixed text) ------------------------------

// Flags of the first CPU in /proc/cpuinfo text.
std::vector<std::string> cpu_flags(std::string_view cpuinfo);
// The rule the guest build follows: a loaded kvm_pvm module means PVM, even
// beside a vmx/svm flag, because the PVM guest also boots on hardware KVM
// while the standard one stops on PVM. kvm_loaded: /sys/module/kvm exists.
KvmKind classify_kvm(const std::vector<std::string>& flags, bool kvm_pvm_loaded,
                     bool kvm_loaded);
// "pvm" or "standard": the guest kernel variant tools/build-guest.sh builds.
const char* guest_variant(KvmKind k);
// Whether `fs` is a line of /proc/filesystems ("nodev\toverlay", "\terofs").
bool filesystem_listed(std::string_view proc_filesystems, std::string_view fs);

struct CgroupLayout {
  struct V1 {
    std::string controller;
    std::string mount;
  };
  std::vector<V1> v1;            // one entry per controller on a v1 hierarchy
  std::string v2_mount;          // empty when no cgroup2 mount
  std::vector<std::string> v2_controllers;  // from <v2>/cgroup.controllers
};
// From /proc/self/mounts text and /proc/cgroups text (controller names).
CgroupLayout parse_cgroup_mounts(std::string_view mounts, std::string_view proc_cgroups);

// --- checks -----------------------------------------------------------------
// Each reads only through HostPaths except where it must make a live syscall
// (KVM ioctls on <dev>/kvm, io_uring_setup, memfd_create, userfaultfd, madvise).

Check check_kvm(const HostPaths& paths, KvmKind* kind_out = nullptr);
Check check_io_uring(const HostPaths& paths);
Check check_filesystem(const HostPaths& paths, std::string_view fs);
Check check_cgroups(const HostPaths& paths);
Check check_namespaces(const HostPaths& paths);
Check check_vsock(const HostPaths& paths);
Check check_userfaultfd();
Check check_memfd();
Check check_madv_populate_read();

struct Report {
  KvmKind kvm_kind = KvmKind::absent;
  std::vector<Check> checks;
  bool microvm_ready() const;
  bool process_ready() const;
  // "kvm: <summary>; ..." for every failed check the backend needs.
  std::string microvm_blockers() const;
  std::string process_blockers() const;
};

Report run_all(const HostPaths& paths);
std::string render_text(const Report& report);
std::string render_json(const Report& report);
// 0 when the microvm backend can run, 1 otherwise.
int exit_code(const Report& report);

}  // namespace thaw::doctor
