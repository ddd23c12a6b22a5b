// thaw-vmm's virtio-blk on real KVM, driven by the test guest: data checked
// on both sides of the disk, read-only disks, interrupts per request, the
// device order of the command line, and hostile requests that must be
// refused without harm to the host.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "tests/guest/control_client.h"
#include "tests/guest/guest_fixture.h"
#include "tests/guest/vmm_process.h"

namespace thaw::testguest {
namespace {

using std::chrono::seconds;

// The blk scenarios run once per ring-feature set the guest can negotiate,
// so the device's indirect-descriptor and event-index paths see a real
// driver too (Linux negotiates both).
TEST_P(RingTest, BlkReadWriteFlushVerifiedOnBothSides) {
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk" + ring_arg(GetParam()), {"--disk", disk});
  ASSERT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_TRUE(has_line(e, std::string("virtio-blk: disk 0 at slot 0 gsi 5: 2048 sectors, flush") +
                              GetParam().suffix))
      << describe(e);
  EXPECT_EQ(missing_lines(e, {"blk: disk 0 has 2048 sectors", "blk: read sector 1 ok",
                              "blk: read sector 2047 ok", "blk: wrote sectors 8-15",
                              "blk: read back sectors 8-15 ok", "blk: flush ok",
                              "blk: read past the end refused with status 1 ok"}),
            "")
      << describe(e);
  EXPECT_NE(e.serial.find("blk: an interrupt for each of 7 requests ok ("), std::string::npos)
      << describe(e);
  // GET_ID (virtio 1.2 §5.2.6) answers a non-empty serial of up to 20 bytes.
  size_t id = e.serial.find("blk: device id \"");
  ASSERT_NE(id, std::string::npos) << describe(e);
  EXPECT_NE(e.serial[id + 16], '"') << "empty GET_ID serial\n" << describe(e);

  std::vector<uint8_t> image = read_disk(disk);
  ASSERT_EQ(image.size(), kDiskSectors * kSector);
  for (uint64_t s = kGuestWriteFirst; s < kGuestWriteFirst + kGuestWriteCount; s++)
    for (uint32_t i = 0; i < kSector; i++)
      ASSERT_EQ(image[s * kSector + i], guest_pattern(s, i)) << "sector " << s << " byte " << i;
  // Everything the guest did not write is as the host left it.
  for (uint32_t i = 0; i < kSector; i++) ASSERT_EQ(image[kSector + i], host_pattern(1, i));
  for (uint64_t b = (kGuestWriteFirst + kGuestWriteCount) * kSector;
       b < (kDiskSectors - 1) * kSector; b++)
    ASSERT_EQ(image[b], 0) << "byte " << b;
}

TEST_P(RingTest, BlkBatchesWrapTheRingAndLandOnDisk) {
  constexpr uint64_t kFirst = 64, kCount = 200;  // scenario_blk.c kStressFirst, thaw.sectors
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk-stress thaw.sectors=200" + ring_arg(GetParam()), {"--disk", disk});
  ASSERT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(missing_lines(e, {"blk-stress: wrote 200 sectors in batches of 4",
                              "blk-stress: read back 200 sectors ok"}),
            "")
      << describe(e);
  std::vector<uint8_t> image = read_disk(disk);
  ASSERT_EQ(image.size(), kDiskSectors * kSector);
  for (uint64_t s = kFirst; s < kFirst + kCount; s++)
    for (uint32_t i = 0; i < kSector; i++)
      ASSERT_EQ(image[s * kSector + i], static_cast<uint8_t>(s ^ (i * 29) ^ 0x3c))
          << "sector " << s << " byte " << i;
}

INSTANTIATE_TEST_SUITE_P(Blk, RingTest, ::testing::ValuesIn(kRingCases), ring_name);

// thaw-vmm's per-device counters (control socket "stats") against what the
// blk scenario is known to have done: 1+1+8 sectors read, 8 written, one
// flush, and the refused read past the end.
TEST_F(GuestTest, StatsCountWhatTheGuestDid) {
  std::string disk = make_disk("disk.img");
  std::string api = dir_->file("api.sock");
  auto vmm = start_guest("thaw.test=blk thaw.hold=1", {"--disk", disk, "--api-sock", api});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(
      vmm->wait_for_serial("thaw-test-guest: holding until the host stops the VM\n", seconds(30))
          .ok())
      << vmm->serial();
  auto stats = control_request(api, R"({"op":"stats"})");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  std::string text = boost::json::serialize(*stats);
  ASSERT_TRUE(stats->contains("devices")) << text;
  const auto& devices = stats->at("devices").as_object();
  ASSERT_TRUE(devices.contains("virtio-blk:disk.img")) << text;
  const auto& blk = devices.at("virtio-blk:disk.img").as_object();
  EXPECT_EQ(blk.at("bytes_read").to_number<uint64_t>(), 10 * kSector) << text;
  EXPECT_EQ(blk.at("bytes_written").to_number<uint64_t>(), 8 * kSector) << text;
  EXPECT_EQ(blk.at("flushes").to_number<uint64_t>(), 1u) << text;
  EXPECT_GE(blk.at("errors").to_number<uint64_t>(), 1u) << text;
  ASSERT_TRUE(devices.contains("serial")) << text;
  EXPECT_EQ(devices.at("serial").as_object().at("bytes_written").to_number<uint64_t>(),
            vmm->serial().size())
      << text;
  ASSERT_TRUE(control_request(api, R"({"op":"stop"})").ok());
  auto e = vmm->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
}

TEST_F(GuestTest, ReadOnlyDiskRefusesWrites) {
  std::string disk = make_disk("ro.img");
  std::vector<uint8_t> before = read_disk(disk);
  VmmExit e = run("thaw.test=blk-ro", {"--disk", disk + ",ro"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_TRUE(has_line(e, "blk-ro: device offers VIRTIO_BLK_F_RO")) << describe(e);
  EXPECT_TRUE(has_line(e, "blk-ro: write refused with status 1 ok")) << describe(e);
  EXPECT_EQ(read_disk(disk), before) << "the read-only image changed";
}

TEST_F(GuestTest, VirtioInterruptReachesGuestThroughIoapic) {
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk-irq", {"--disk", disk});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  // Disk 0 is virtio-mmio slot 0: GSI 5, routed by the guest to vector 0x25.
  EXPECT_TRUE(e.serial.find("irq: took virtio-blk interrupt on gsi 5 vector 0x25") !=
              std::string::npos)
      << describe(e);
}

// The two outcomes the device contract allows for a refused request: the
// device refuses (IOERR or DEVICE_NEEDS_RESET, as logged by the guest test
// `test`) and the guest ends cleanly, or thaw-vmm stops this VM with exit 4
// and a reason that mentions `reason`.
void expect_refused(const VmmExit& e, const std::string& test, const std::string& reason) {
  if (e.exit_code == 4) {
    EXPECT_NE(e.stderr_text.find(reason), std::string::npos)
        << "thaw-vmm's exit-4 reason does not mention \"" << reason << "\"\n"
        << describe(e);
  } else {
    EXPECT_EQ(e.exit_code, 0) << describe(e);
    EXPECT_TRUE(has_line(e, test + ": device answered IOERR ok") ||
                has_line(e, test + ": device set DEVICE_NEEDS_RESET ok"))
        << describe(e);
  }
}

TEST_F(GuestTest, BlkRequestOutsideGuestRamIsRefused) {
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk-bad-addr", {"--disk", disk});
  EXPECT_TRUE(has_line(e, "blk-bad-addr: reading sector 1 into guest address 0x30000000"))
      << describe(e);
  expect_refused(e, "blk-bad-addr", "0x30000000");  // the bad address
  // Nothing of the disk leaked anywhere and the image is untouched.
  std::vector<uint8_t> image = read_disk(disk);
  ASSERT_EQ(image.size(), kDiskSectors * kSector);
  for (uint32_t i = 0; i < kSector; i++) ASSERT_EQ(image[kSector + i], host_pattern(1, i));
}

// Each malformed request must end in a contract-conforming refusal: the
// device marks itself broken and thaw-vmm stops this VM with exit 4 and a
// reason naming the fault, or the guest sees IOERR / DEVICE_NEEDS_RESET.
// It must never hang (the run's deadline) nor take the host process down.
struct HostileCase {
  const char* kind;
  const char* reason;  // what thaw-vmm's exit-4 message must mention
};

// "avail-jump" -> "availjump": test names take only letters, digits and '_'.
std::string hostile_name(const ::testing::TestParamInfo<HostileCase>& info) {
  std::string name;
  for (const char* p = info.param.kind; *p; p++)
    if (*p != '-') name += *p;
  return name;
}

class HostileBlkTest : public GuestTest, public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostileBlkTest, RefusedWithoutHarmingHost) {
  std::string disk = make_disk("disk.img");
  std::vector<uint8_t> before = read_disk(disk);
  VmmExit e =
      run(std::string("thaw.test=blk-hostile thaw.kind=") + GetParam().kind, {"--disk", disk});
  EXPECT_TRUE(has_line(e, std::string("blk-hostile: posting a ") + GetParam().kind + " request"))
      << describe(e);
  expect_refused(e, "blk-hostile", GetParam().reason);
  EXPECT_EQ(read_disk(disk), before) << "a refused request changed the image";
}

INSTANTIATE_TEST_SUITE_P(Requests, HostileBlkTest,
                         ::testing::Values(HostileCase{"loop", "loop"},
                                           HostileCase{"avail-jump", "queue size"},
                                           HostileCase{"huge-length", "outside guest RAM"},
                                           HostileCase{"bad-head", "queue size"}),
                         hostile_name);

// Transport-register misuse: the device refuses (FEATURES_OK or QueueReady
// does not stick) and the guest ends cleanly, or thaw-vmm stops the VM with
// exit 4 and a reason naming the register.
class HostileTransportTest : public GuestTest, public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostileTransportTest, RefusedWithoutHarmingHost) {
  std::string disk = make_disk("disk.img");
  VmmExit e =
      run(std::string("thaw.test=mmio-hostile thaw.kind=") + GetParam().kind, {"--disk", disk});
  EXPECT_TRUE(has_line(e, std::string("mmio-hostile: ") + GetParam().kind)) << describe(e);
  if (e.exit_code == 4) {
    EXPECT_NE(e.stderr_text.find(GetParam().reason), std::string::npos)
        << "exit-4 reason does not mention \"" << GetParam().reason << "\"\n"
        << describe(e);
  } else {
    EXPECT_EQ(e.exit_code, 0) << describe(e);
    EXPECT_TRUE(has_line(e, std::string("mmio-hostile: device refused ") + GetParam().kind + " ok"))
        << describe(e);
  }
}

INSTANTIATE_TEST_SUITE_P(Registers, HostileTransportTest,
                         ::testing::Values(HostileCase{"no-version-1", "VERSION_1"},
                                           HostileCase{"queue-outside-ram", "QueueDesc"},
                                           HostileCase{"queue-num-3", "size 3"}),
                         hostile_name);

TEST_F(GuestTest, DisksTakeSlotsAndGsisInCommandLineOrder) {
  std::string a = make_disk("a.img"), b = make_disk("b.img"), c = make_disk("c.img");
  VmmExit e = run("thaw.test=multi-disk", {"--disk", a, "--disk", b + ",ro", "--disk", c,
                                           "--vsock-uds", dir_->file("v.sock")});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  // CONTRACT.md: disks first in command-line order, then vsock; GSI 5 + slot.
  // Sector 1 starts with host_pattern(1, 0..3) = 20 27 2e 35 (little-endian word 352e2720).
  EXPECT_EQ(
      missing_lines(
          e, {"virtio-blk: disk 0 at slot 0 gsi 5: 2048 sectors, flush",
              "virtio-blk: disk 1 at slot 1 gsi 6: 2048 sectors, read-only, flush",
              "virtio-blk: disk 2 at slot 2 gsi 7: 2048 sectors, flush",
              "virtio-vsock: slot 3 gsi 8: guest cid 3",
              "multi-disk: disk 0 slot 0 gsi 5: sector 1 starts 352e2720, own interrupt taken",
              "multi-disk: disk 1 slot 1 gsi 6 ro: sector 1 starts 352e2720, own interrupt taken",
              "multi-disk: disk 2 slot 2 gsi 7: sector 1 starts 352e2720, own interrupt taken",
              "multi-disk: 3 disk(s)"}),
      "")
      << describe(e);
}

}  // namespace
}  // namespace thaw::testguest
