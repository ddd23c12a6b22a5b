// Tests of agent/doctor.{h,cc}: the parsers on fixed text, and the checks on
// fake /proc, /sys and /dev trees built in a temporary directory.
#include "agent/doctor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace thaw::doctor {
namespace {

namespace fs = std::filesystem;

constexpr char kPvmCpuinfo[] =
    "processor\t: 0\nvendor_id\t: GenuineIntel\n"
    "flags\t\t: fpu vme de pse tsc msr pae hypervisor lahf_lm\n\n"
    "processor\t: 1\nflags\t\t: fpu\n";
constexpr char kVmxCpuinfo[] = "processor\t: 0\nflags\t\t: fpu vmx sse2\n";
constexpr char kSvmCpuinfo[] = "processor\t: 0\nflags\t\t: fpu svm sse2\n";

constexpr char kHybridMounts[] =
    "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0\n"
    "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n"
    "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n"
    "cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0\n"
    "cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0\n"
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n";
constexpr char kProcCgroups[] =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpu\t1\t1\t1\nmemory\t4\t15\t1\npids\t8\t1\t1\nhugetlb\t0\t1\t1\n";

TEST(DoctorParse, CpuFlagsComeFromTheFirstCpu) {
  auto flags = cpu_flags(kPvmCpuinfo);
  ASSERT_EQ(flags.size(), 9u);
  EXPECT_EQ(flags.front(), "fpu");
  EXPECT_EQ(flags.back(), "lahf_lm");
  EXPECT_TRUE(cpu_flags("processor\t: 0\n").empty());
}

TEST(DoctorParse, ClassifiesKvmKind) {
  EXPECT_EQ(classify_kvm(cpu_flags(kPvmCpuinfo), true, true), KvmKind::pvm);
  EXPECT_EQ(classify_kvm(cpu_flags(kVmxCpuinfo), false, true), KvmKind::hardware_vmx);
  EXPECT_EQ(classify_kvm(cpu_flags(kSvmCpuinfo), false, true), KvmKind::hardware_svm);
  // kvm_pvm wins over a vmx flag: the pvm guest boots on both, the standard
  // one only on hardware.
  EXPECT_EQ(classify_kvm(cpu_flags(kVmxCpuinfo), true, true), KvmKind::pvm);
  EXPECT_EQ(classify_kvm(cpu_flags(kPvmCpuinfo), false, true), KvmKind::unknown);
  EXPECT_EQ(classify_kvm(cpu_flags(kPvmCpuinfo), false, false), KvmKind::absent);
  EXPECT_STREQ(guest_variant(KvmKind::pvm), "pvm");
  EXPECT_STREQ(guest_variant(KvmKind::hardware_vmx), "standard");
  EXPECT_STREQ(guest_variant(KvmKind::unknown), "standard");
}

TEST(DoctorParse, FilesystemListedMatchesWholeNames) {
  constexpr char kList[] = "nodev\tsysfs\nnodev\toverlay\n\text4\n\terofs\n";
  EXPECT_TRUE(filesystem_listed(kList, "overlay"));
  EXPECT_TRUE(filesystem_listed(kList, "erofs"));
  EXPECT_FALSE(filesystem_listed(kList, "over"));
  EXPECT_FALSE(filesystem_listed(kList, "squashfs"));
}

TEST(DoctorParse, CgroupHybridLayout) {
  CgroupLayout l = parse_cgroup_mounts(kHybridMounts, kProcCgroups);
  EXPECT_EQ(l.v2_mount, "/sys/fs/cgroup/unified");
  ASSERT_EQ(l.v1.size(), 3u);  // name=systemd is not a controller
  EXPECT_EQ(l.v1[0].controller, "cpu");
  EXPECT_EQ(l.v1[1].controller, "memory");
  EXPECT_EQ(l.v1[1].mount, "/sys/fs/cgroup/memory");
  EXPECT_EQ(l.v1[2].controller, "pids");
}

TEST(DoctorParse, CgroupMountPathsAreUnescaped) {
  CgroupLayout l = parse_cgroup_mounts("cgroup2 /sys/fs/my\\040cg cgroup2 rw 0 0\n", "");
  EXPECT_EQ(l.v2_mount, "/sys/fs/my cg");
  EXPECT_TRUE(l.v1.empty());
}

// A fake host root: proc/, sys/, dev/ filled per test.
class FakeHost : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-doctor-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    paths_ = {root_ + "/proc", root_ + "/sys", root_ + "/dev"};
    for (const auto& d : {paths_.proc, paths_.sys, paths_.dev}) fs::create_directories(d);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& rel, const std::string& text) {
    fs::path p = fs::path(root_) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void mkdir(const std::string& rel) { fs::create_directories(fs::path(root_) / rel); }

  std::string root_;
  HostPaths paths_;
};

TEST_F(FakeHost, KvmAbsentFailsWithTheFix) {
  write("proc/cpuinfo", kVmxCpuinfo);
  KvmKind kind = KvmKind::unknown;
  Check c = check_kvm(paths_, &kind);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_EQ(kind, KvmKind::absent);
  EXPECT_TRUE(c.microvm_needs);
  EXPECT_NE(c.summary.find(paths_.dev + "/kvm does not exist"), std::string::npos) << c.summary;
  EXPECT_NE(c.fix.find("modprobe kvm_intel"), std::string::npos) << c.fix;
}

TEST_F(FakeHost, KvmDeviceThatIsNotKvmIsRejected) {
  write("proc/cpuinfo", kPvmCpuinfo);
  mkdir("sys/module/kvm_pvm");
  write("dev/kvm", "");  // a regular file: the ioctl answers ENOTTY
  KvmKind kind = KvmKind::absent;
  Check c = check_kvm(paths_, &kind);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_EQ(kind, KvmKind::pvm);
  EXPECT_NE(c.summary.find("is not a KVM device: KVM_GET_API_VERSION"), std::string::npos) << c.summary;
}

TEST(DoctorLive, RealKvmReportsItsKind) {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is not usable on this host";
  KvmKind kind = KvmKind::absent;
  Check c = check_kvm(HostPaths{}, &kind);
  EXPECT_EQ(c.status, Status::ok) << c.summary;
  bool pvm = ::access("/sys/module/kvm_pvm", F_OK) == 0;
  EXPECT_EQ(kind == KvmKind::pvm, pvm);
  EXPECT_NE(c.summary.find("KVM_CREATE_VM works"), std::string::npos);
}

TEST_F(FakeHost, IoUringDisabledBySysctlFails) {
  write("proc/sys/kernel/io_uring_disabled", "2\n");
  Check c = check_io_uring(paths_);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.summary.find("io_uring_disabled = 2"), std::string::npos) << c.summary;
  EXPECT_NE(c.fix.find("kernel.io_uring_disabled=0"), std::string::npos);
}

TEST_F(FakeHost, IoUringRestrictedToAGroupWarns) {
  write("proc/sys/kernel/io_uring_disabled", "1\n");
  Check c = check_io_uring(paths_);
  if (c.status == Status::fail) GTEST_SKIP() << "io_uring unusable on this host: " << c.summary;
  EXPECT_EQ(c.status, Status::warn);
  EXPECT_NE(c.fix.find("io_uring_group"), std::string::npos);
}

TEST_F(FakeHost, FilesystemsFromProcFilesystems) {
  write("proc/filesystems", "nodev\toverlay\n");
  EXPECT_EQ(check_filesystem(paths_, "overlay").status, Status::ok);
  Check erofs = check_filesystem(paths_, "erofs");
  EXPECT_EQ(erofs.status, Status::fail);
  EXPECT_FALSE(erofs.microvm_needs);  // only the process backend mounts EROFS on the host
  EXPECT_TRUE(erofs.process_needs);
  EXPECT_NE(erofs.fix.find("modprobe erofs"), std::string::npos);
}

TEST_F(FakeHost, CgroupHybridIsUsableButWarns) {
  write("proc/self/mounts", kHybridMounts);
  write("proc/cgroups", kProcCgroups);
  write("sys/fs/cgroup/unified/cgroup.controllers", "\n");
  Check c = check_cgroups(paths_);
  EXPECT_EQ(c.status, Status::warn) << c.summary;
  EXPECT_NE(c.summary.find("v2 at /sys/fs/cgroup/unified (controllers: none)"), std::string::npos)
      << c.summary;
  EXPECT_NE(c.summary.find("v1 controllers: cpu memory pids"), std::string::npos) << c.summary;
}

TEST_F(FakeHost, CgroupPureV2IsOk) {
  write("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n");
  write("proc/cgroups", "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\n");
  write("sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
  Check c = check_cgroups(paths_);
  EXPECT_EQ(c.status, Status::ok) << c.summary;
}

TEST_F(FakeHost, CgroupWithoutMemoryControllerFails) {
  write("proc/self/mounts", "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n");
  write("proc/cgroups", "");
  write("sys/fs/cgroup/cgroup.controllers", "cpu pids\n");
  Check c = check_cgroups(paths_);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.summary.find("no hierarchy offers memory"), std::string::npos) << c.summary;
}

TEST_F(FakeHost, NamespacesNameWhatIsMissing) {
  for (const char* ns : {"mnt", "pid", "net", "ipc", "uts", "cgroup"}) write(std::string("proc/self/ns/") + ns, "");
  Check c = check_namespaces(paths_);
  EXPECT_EQ(c.status, Status::fail);
  EXPECT_NE(c.summary.find("lacks user"), std::string::npos) << c.summary;
  write("proc/self/ns/user", "");
  EXPECT_EQ(check_namespaces(paths_).status, Status::ok);
}

TEST_F(FakeHost, VsockIsInformationOnly) {
  Check absent = check_vsock(paths_);
  EXPECT_EQ(absent.status, Status::ok);
  EXPECT_NE(absent.summary.find("absent; not needed"), std::string::npos);
  write("dev/vhost-vsock", "");
  EXPECT_NE(check_vsock(paths_).summary.find("present"), std::string::npos);
}

TEST(DoctorLive, ReadsRealPseudoFiles) {
  // /proc files report size 0; the checks must read them to EOF.
  EXPECT_EQ(check_filesystem(HostPaths{}, "proc").status, Status::ok);
}

TEST(DoctorLive, MemfdWorks) { EXPECT_EQ(check_memfd().status, Status::ok); }

TEST(DoctorLive, OptionalProbesNeverFail) {
  // userfaultfd and MADV_POPULATE_READ are optimisations: missing means warn.
  EXPECT_NE(check_userfaultfd().status, Status::fail);
  EXPECT_NE(check_madv_populate_read().status, Status::fail);
}

TEST_F(FakeHost, ReportFailsOnlyForWhatTheMicrovmNeeds) {
  write("proc/cpuinfo", kVmxCpuinfo);  // no dev/kvm: the microvm backend cannot run
  write("proc/filesystems", "nodev\toverlay\n\terofs\n");
  Report r = run_all(paths_);
  EXPECT_FALSE(r.microvm_ready());
  EXPECT_EQ(exit_code(r), 1);
  EXPECT_NE(r.microvm_blockers().find("kvm: " + paths_.dev + "/kvm does not exist"), std::string::npos)
      << r.microvm_blockers();
  std::string text = render_text(r);
  EXPECT_NE(text.find("microvm backend: NOT READY: kvm:"), std::string::npos) << text;

  auto json = boost::json::parse(render_json(r)).as_object();
  EXPECT_EQ(json.at("microvm_ready").as_bool(), false);
  EXPECT_EQ(json.at("kvm_kind").as_string(), "absent");
  EXPECT_EQ(json.at("guest_variant").as_string(), "standard");
  EXPECT_EQ(json.at("checks").as_array().size(), r.checks.size());
  EXPECT_EQ(json.at("checks").as_array()[0].as_object().at("status").as_string(), "fail");
}

}  // namespace
}  // namespace thaw::doctor
