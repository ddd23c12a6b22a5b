// Refusals of restore_machine (snapshot/vm_snapshot.h): a truncated,
// corrupt, foreign or mismatched snapshot is rejected with an error that
// names the problem, and - for everything checkable up front - before any
// VM exists (the restore's serial log is never even opened).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <fstream>

#include "snapshot/memory_file.h"
#include "snapshot/state_file.h"
#include "snapshot/vm_snapshot.h"
#include "tests/snapshot/snapshot_fixture.h"

namespace thaw::snapshot::testing {
namespace {

class RestoreRefusal : public SnapshotTest {
 protected:
  void SetUp() override {
    SnapshotTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    snap_ = path("snap");
    auto made = make_counter_snapshot(snap_, 1);
    ASSERT_TRUE(made.ok()) << made.error().message;
  }

  // Restores with `config` (default: the snapshot's own) and expects an
  // error containing `needle`; returns the message.
  std::string refused(const std::string& needle, std::optional<sandbox::VmmConfig> config = {}) {
    sandbox::VmmConfig c = config ? *config : counter_config(path("restored"));
    auto r = restore_machine(c, snap_);
    EXPECT_FALSE(r.ok()) << "restore was accepted";
    if (r.ok()) return {};
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
    return r.error().message;
  }
  bool serial_opened() const { return ::access(path("restored").c_str(), F_OK) == 0; }

  std::string state_path() const { return snap_ + "/" + kStateFileName; }
  std::string memory_path() const { return snap_ + "/" + kMemoryFileName; }

  std::vector<uint8_t> state_bytes() const {
    std::string s = read_text(state_path());
    return {s.begin(), s.end()};
  }
  void write_state_bytes(const std::vector<uint8_t>& bytes) const {
    std::ofstream out(state_path(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  // Decodes, edits and re-encodes the state with a valid checksum: what a
  // snapshot made elsewhere (another host, build or machine) looks like.
  template <typename Edit>
  void rewrite_state(Edit edit) const {
    auto state = read_state_file(state_path());
    ASSERT_TRUE(state.ok()) << state.error().message;
    edit(*state);
    ASSERT_TRUE(write_state_file(state_path(), *state).ok());
  }

  std::string snap_;
};

TEST_F(RestoreRefusal, TheUntouchedSnapshotRestores) {
  auto r = restore_machine(counter_config(path("restored")), snap_);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST_F(RestoreRefusal, TruncatedMemoryFile) {
  ASSERT_EQ(::truncate(memory_path().c_str(), (64 << 20) - 4096), 0);
  refused("is 67104768 bytes, the snapshot needs 67108864");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, MemoryFileOfAnotherSnapshotSize) {
  ASSERT_EQ(::truncate(memory_path().c_str(), 128 << 20), 0);
  refused("is 134217728 bytes, the snapshot needs 67108864");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, MemoryFileOfAnotherSave) {
  uint8_t id[16];
  if (::getxattr(memory_path().c_str(), kSnapshotIdXattr, id, sizeof id) < 0 && errno == ENOTSUP) {
    GTEST_SKIP() << "/tmp keeps no user xattrs: memory files carry no snapshot id here";
  }
  ASSERT_EQ(::getxattr(memory_path().c_str(), kSnapshotIdXattr, id, sizeof id), 16);
  std::string other = path("other");
  ASSERT_TRUE(make_counter_snapshot(other, 1).ok());
  ASSERT_EQ(::rename((other + "/" + kMemoryFileName).c_str(), memory_path().c_str()), 0);
  refused("belongs to another save than the state file next to it");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, MissingMemoryFile) {
  ASSERT_EQ(::unlink(memory_path().c_str()), 0);
  refused(kMemoryFileName);
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, MissingStateFile) {
  ASSERT_EQ(::unlink(state_path().c_str()), 0);
  refused(kStateFileName);
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, TamperedState) {
  auto bytes = state_bytes();
  ASSERT_GT(bytes.size(), 200u);
  bytes[bytes.size() / 2] ^= 0x40;  // one bit inside the body
  write_state_bytes(bytes);
  refused("checksum mismatch");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, TruncatedState) {
  auto bytes = state_bytes();
  bytes.resize(bytes.size() - 100);
  write_state_bytes(bytes);
  refused("truncated");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, StateOfAnotherFormatVersion) {
  auto bytes = state_bytes();
  bytes[8] = static_cast<uint8_t>(kStateFormatVersion + 1);  // little-endian u32 after the magic
  write_state_bytes(bytes);
  refused("format version " + std::to_string(kStateFormatVersion + 1) + ", this build reads " +
          std::to_string(kStateFormatVersion));
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, NotASnapshot) {
  std::vector<uint8_t> junk(4096, 'x');
  write_state_bytes(junk);
  refused("bad magic");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, StateFromAnotherCpuModel) {
  // Leaf 1 ECX as another CPU would report it (a feature bit the guest may
  // have used, here SSE4.2's neighbour POPCNT).
  rewrite_state([](SnapshotState& s) {
    for (auto& leaf : s.machine.cpuid) {
      if (leaf.function == 1) leaf.ecx ^= 1u << 23;
    }
  });
  refused("snapshot was made for another CPU model: CPUID leaf 0x1 index 0 ecx");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, StateFromAHostWithALeafThisOneLacks) {
  rewrite_state([](SnapshotState& s) {
    kvm_cpuid_entry2 leaf{};
    leaf.function = 0x4000'0100;
    s.machine.cpuid.push_back(leaf);
  });
  refused("this host has no CPUID leaf 0x40000100");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, OtherNamedCpuModel) {
  sandbox::VmmConfig c = counter_config(path("restored"));
  c.cpu_model = c.cpu_model == sandbox::CpuModel::kPvm ? sandbox::CpuModel::kStandard
                                                        : sandbox::CpuModel::kPvm;
  refused("but this restore uses", c);
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, OtherMemorySize) {
  sandbox::VmmConfig c = counter_config(path("restored"));
  c.mem_mib = 128;
  refused("restore with --mem 64", c);
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, OtherVcpuCount) {
  sandbox::VmmConfig c = counter_config(path("restored"));
  c.vcpus = 2;
  refused("restore with --vcpus 1", c);
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, ADeviceTheSnapshotLacks) {
  sandbox::VmmConfig c = counter_config(path("restored"));
  c.vsock_uds = path("v.sock");
  refused("the snapshot has no state for device mmio@0xd0000000:vsock", c);
}

TEST_F(RestoreRefusal, ADeviceStateTheRestoreLacks) {
  rewrite_state([](SnapshotState& s) { s.devices.push_back({"mmio@0xd0000000:vsock", {1, 2}}); });
  refused("has state for device mmio@0xd0000000:vsock that this restore does not create");
}

TEST_F(RestoreRefusal, CorruptDeviceBlobUnderAValidChecksum) {
  rewrite_state([](SnapshotState& s) {
    for (auto& d : s.devices) {
      if (d.name == "pio@0x3f8:serial") d.blob.resize(d.blob.size() / 2);
    }
  });
  refused("pio@0x3f8:serial: serial state is");
}

TEST_F(RestoreRefusal, VcpuStateForAVcpuThatDoesNotExist) {
  rewrite_state([](SnapshotState& s) { s.vcpus[0].index = 5; });
  refused("vcpu section for index 5 is duplicate or beyond the 1 vcpus");
  EXPECT_FALSE(serial_opened());
}

TEST_F(RestoreRefusal, MemoryLayoutOfAnotherBuild) {
  rewrite_state([](SnapshotState& s) {
    s.machine.regions = {{0, 32ull << 20, 0}, {1ull << 32, 32ull << 20, 32ull << 20}};
  });
  refused("guest memory layout (2 regions) differs");
  EXPECT_FALSE(serial_opened());
}

}  // namespace
}  // namespace thaw::snapshot::testing
