// Unit tests of the pure parts of the pre-spawned restore path: the
// standby's "restore" request (snapshot/standby_control.h) and the
// working-set ranges and capability detection of KVM_PRE_FAULT_MEMORY
// (snapshot/pre_fault.h).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "sandbox/memory/guest_memory.h"
#include "snapshot/pre_fault.h"
#include "snapshot/standby_control.h"

namespace thaw::snapshot {
namespace {

namespace json = boost::json;

sandbox::VmmConfig standby_config() {
  sandbox::VmmConfig c;
  c.mem_mib = 64;
  c.serial_path = "/var/log/standby.log";
  c.vsock_cid = 7;
  return c;
}

Result<StandbyRestoreRequest> parse(std::string_view text) {
  return parse_restore_request(json::parse(text).as_object(), standby_config());
}

std::string error_of(std::string_view text) {
  auto r = parse(text);
  EXPECT_FALSE(r.ok()) << text << " was accepted";
  return r.ok() ? std::string() : r.error().message;
}

TEST(RestoreRequest, TakesBindingsAndKeepsTheStandbysOwnOtherwise) {
  auto r = parse(R"({"op":"restore","dir":"/snap","disks":[{"path":"/a.img"},
                    {"path":"/b.img","read_only":true}],"vsock_uds":"/v.sock","prefetch":false})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->dir, "/snap");
  ASSERT_EQ(r->bindings.disks.size(), 2u);
  EXPECT_EQ(r->bindings.disks[0].path, "/a.img");
  EXPECT_FALSE(r->bindings.disks[0].read_only);
  EXPECT_TRUE(r->bindings.disks[1].read_only);
  EXPECT_EQ(r->bindings.vsock_uds, "/v.sock");
  EXPECT_EQ(r->bindings.serial_path, "/var/log/standby.log");
  EXPECT_EQ(r->bindings.vsock_cid, 7u);
  EXPECT_FALSE(r->options.prefetch_working_set);
  EXPECT_TRUE(r->options.pre_fault);

  r = parse(R"({"op":"restore","dir":"/snap","serial":"/s.log","vsock_cid":9,"pre_fault":false})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->bindings.serial_path, "/s.log");
  EXPECT_EQ(r->bindings.vsock_cid, 9u);
  EXPECT_FALSE(r->options.pre_fault);
  EXPECT_TRUE(r->bindings.disks.empty());
}

TEST(RestoreRequest, RefusesEachMalformedFieldByName) {
  EXPECT_NE(error_of(R"({"op":"restore"})").find("needs a \"dir\""), std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":""})").find("\"dir\" must be a non-empty string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","disk":[]})").find("unknown field \"disk\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","disks":"/a.img"})").find("must be an array"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","disks":[{"read_only":true}]})")
                .find("\"disks\"[0] needs a \"path\""),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","disks":[{"path":"/a","ro":1}]})")
                .find("disks[0].ro\" is not a disk field"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","disks":[{"path":"/a","read_only":1}]})")
                .find("disks[0].read_only\" must be true or false"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","vsock_cid":2})").find("outside 3..4294967294"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","vsock_cid":-5})").find("must be an integer"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"op":"restore","dir":"/s","prefetch":"yes"})").find("true or false"),
            std::string::npos);
}

WorkingSet set_of(std::vector<PageRun> runs, uint64_t memory_size) {
  WorkingSet s;
  s.memory_size = memory_size;
  s.runs = std::move(runs);
  return s;
}

TEST(PreFaultRanges, FileOffsetsBecomeGuestAddressesAcrossTheMmioGap) {
  // 4 GiB of RAM: [0, 3.25 GiB) low, the rest from 4 GiB (guest_memory.h).
  uint64_t size = 4ull << 30;
  auto regions = sandbox::GuestMemory::layout(size);
  ASSERT_EQ(regions.size(), 2u);
  uint64_t low = sandbox::kMmioGapStart;
  auto r = working_set_guest_ranges(
      regions, set_of({{0, 2, false}, {2 * 4096, 1, true}, {low - 4096, 3, false}}, size));
  ASSERT_TRUE(r.ok()) << r.error().message;
  // The first two runs are adjacent: one range. The last crosses the gap.
  std::vector<GuestRange> want = {{0, 3 * 4096}, {low - 4096, 4096}, {4ull << 30, 2 * 4096}};
  EXPECT_EQ(*r, want);
}

TEST(PreFaultRanges, RefusesARunPastGuestMemory) {
  auto regions = sandbox::GuestMemory::layout(64ull << 20);
  auto r = working_set_guest_ranges(regions, set_of({{(64ull << 20) - 4096, 2, false}}, 64ull << 20));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("lies outside guest memory"), std::string::npos)
      << r.error().message;
}

// Detection agrees with the kernel's own answer for a VM; where the host
// lacks the capability (this PVM host: shadow paging), the reason says so.
TEST(PreFaultSupport, DetectionMatchesTheVmsCapability) {
  UniqueFd kvm(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm) GTEST_SKIP() << "/dev/kvm is not accessible";
  UniqueFd vm(::ioctl(kvm.get(), KVM_CREATE_VM, 0));
  ASSERT_TRUE(vm.valid());
  bool reported = ::ioctl(vm.get(), KVM_CHECK_EXTENSION, kCapPreFaultMemory) > 0;
  PreFaultSupport support = pre_fault_support(vm.get());
  EXPECT_EQ(support.available, reported);
  if (support.available) {
    EXPECT_TRUE(support.reason.empty());
  } else {
    EXPECT_NE(support.reason.find("KVM_CAP_PRE_FAULT_MEMORY is not reported"), std::string::npos);
    EXPECT_NE(support.reason.find("MADV_POPULATE_* only"), std::string::npos);
  }
}

}  // namespace
}  // namespace thaw::snapshot
