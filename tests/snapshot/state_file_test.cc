#include "snapshot/state_file.h"

#include <gtest/gtest.h>

#include <cstring>

namespace thaw::snapshot {
namespace {

SnapshotState sample_state() {
  SnapshotState s;
  s.machine.kind = SnapshotKind::kFunction;
  s.machine.memory_size = 256ull << 20;
  s.machine.regions = {{0, 256ull << 20, 0}};
  s.machine.vcpu_count = 2;
  s.machine.cpu_model = "pvm";
  kvm_cpuid_entry2 leaf{};
  leaf.function = 0x1;
  leaf.ecx = 0x80202001;
  s.machine.cpuid = {leaf};
  s.machine.snapshot_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  for (uint32_t i = 0; i < 2; ++i) {
    VcpuState v;
    v.index = i;
    v.regs.rip = 0x100000 + i;
    v.regs.rax = 0xdeadbeef;
    v.sregs.cr3 = 0x9000;
    v.xsave.assign(4096, static_cast<uint8_t>(i + 1));
    v.msrs = {{0x10, 0, 123456789}, {0xc0000080, 0, 0x500}};
    v.lapic.regs[0x20] = static_cast<char>(i);
    s.vcpus.push_back(v);
  }
  s.vm.clock.clock = 987654321;
  s.vm.pit.channels[0].count = 0x1234;
  s.devices = {{"serial0", {1, 2, 3}}, {"virtio-blk0", std::vector<uint8_t>(300, 7)}};
  return s;
}

std::string decode_error(const std::vector<uint8_t>& bytes) {
  auto r = decode_state(bytes);
  return r.ok() ? std::string("decoded") : r.error().message;
}

TEST(StateFile, RoundTripsEveryField) {
  auto s = sample_state();
  auto decoded = decode_state(encode_state(s));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(decoded->machine.kind, SnapshotKind::kFunction);
  EXPECT_EQ(decoded->machine.memory_size, s.machine.memory_size);
  EXPECT_EQ(decoded->machine.cpu_model, "pvm");
  EXPECT_EQ(decoded->machine.snapshot_id, sample_state().machine.snapshot_id);
  ASSERT_EQ(decoded->machine.cpuid.size(), 1u);
  EXPECT_EQ(decoded->machine.cpuid[0].ecx, 0x80202001u);
  ASSERT_EQ(decoded->vcpus.size(), 2u);
  EXPECT_EQ(decoded->vcpus[1].regs.rip, 0x100001u);
  EXPECT_EQ(decoded->vcpus[1].xsave, s.vcpus[1].xsave);
  ASSERT_EQ(decoded->vcpus[0].msrs.size(), 2u);
  EXPECT_EQ(decoded->vcpus[0].msrs[0].data, 123456789u);
  EXPECT_EQ(decoded->vcpus[1].lapic.regs[0x20], 1);
  EXPECT_EQ(decoded->vm.clock.clock, 987654321u);
  EXPECT_EQ(decoded->vm.pit.channels[0].count, 0x1234u);
  ASSERT_EQ(decoded->devices.size(), 2u);
  EXPECT_EQ(decoded->devices[1].name, "virtio-blk0");
  EXPECT_EQ(decoded->devices[1].blob.size(), 300u);
}

TEST(StateFile, RefusesEveryTruncation) {
  auto bytes = encode_state(sample_state());
  for (size_t len : {size_t{0}, size_t{7}, size_t{12}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<long>(len));
    EXPECT_NE(decode_error(cut), "decoded") << "length " << len;
  }
  std::vector<uint8_t> cut(bytes.begin(), bytes.end() - 1);
  EXPECT_NE(decode_error(cut).find("truncated"), std::string::npos);
}

TEST(StateFile, RefusesCorruptBody) {
  auto bytes = encode_state(sample_state());
  bytes[bytes.size() - 10] ^= 0x40;
  EXPECT_NE(decode_error(bytes).find("checksum mismatch"), std::string::npos);
}

TEST(StateFile, RefusesForeignMagicAndOtherVersion) {
  auto bytes = encode_state(sample_state());
  auto foreign = bytes;
  std::memcpy(foreign.data(), "QEVMSNAP", 8);
  EXPECT_NE(decode_error(foreign).find("bad magic"), std::string::npos);
  auto newer = bytes;
  newer[8] = 3;
  EXPECT_NE(decode_error(newer).find("format version 3, this build reads 2"), std::string::npos);
}

// Version 1 files (before the snapshot id joined the machine section) are
// refused by their version, before any of their body is looked at.
TEST(StateFile, RefusesTheFormatBeforeTheSnapshotId) {
  EXPECT_EQ(kStateFormatVersion, 2u);
  auto bytes = encode_state(sample_state());
  bytes[8] = 1;
  EXPECT_NE(decode_error(bytes).find("has format version 1, this build reads 2; re-create the "
                                     "snapshot"),
            std::string::npos)
      << decode_error(bytes);
}

TEST(StateFile, RefusesInconsistentContentEvenWithValidChecksum) {
  auto s = sample_state();
  s.vcpus.pop_back();  // machine says 2 vcpus
  EXPECT_NE(decode_error(encode_state(s)).find("1 vcpu sections for 2 vcpus"), std::string::npos);

  s = sample_state();
  s.vcpus[1].index = 0;
  EXPECT_NE(decode_error(encode_state(s)).find("duplicate"), std::string::npos);

  s = sample_state();
  s.machine.regions[0].size = 128ull << 20;
  EXPECT_NE(decode_error(encode_state(s)).find("add up to"), std::string::npos);

  s = sample_state();
  s.devices.push_back(s.devices[0]);
  EXPECT_NE(decode_error(encode_state(s)).find("appears twice"), std::string::npos);
}

TEST(StateFile, WritesAtomicallyAndReadsBack) {
  char tmpl[] = "/tmp/thaw-state-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/vm.state";
  ASSERT_TRUE(write_state_file(path, sample_state()).ok());
  auto back = read_state_file(path);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->vcpus.size(), 2u);
  auto missing = read_state_file(std::string(tmpl) + "/absent.state");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("No such file"), std::string::npos);
  std::remove(path.c_str());
  ::rmdir(tmpl);
}

}  // namespace
}  // namespace thaw::snapshot
