// Integration tests of thaw-vmm on this machine's real KVM: each test boots
// the freestanding test guest (tests/guest/*.c) in the real thaw-vmm binary
// with one scenario (thaw.test=...) and checks the guest's serial lines and
// thaw-vmm's exit code. This file: serial, CPU, interrupts, faults and the
// control socket; blk and vsock have their own files. Skips only when
// /dev/kvm is absent.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include "tests/guest/control_client.h"
#include "tests/guest/guest_fixture.h"

namespace thaw::testguest {
namespace {

using std::chrono::seconds;

TEST_F(GuestTest, HelloOverSerialAndCleanExit) {
  VmmExit e = run("thaw.test=hello");
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_TRUE(has_line(e, "hello: Hello from the thaw test guest")) << describe(e);
  EXPECT_TRUE(has_line(e, "user: running scenario hello at CPL3")) << describe(e);
  EXPECT_NE(e.serial.find("thaw-test-guest: done hello ok"), std::string::npos) << describe(e);
  EXPECT_EQ(e.serial.find("FAIL"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, CounterSequenceMatchesHostComputation) {
  constexpr int kRounds = 4;
  constexpr uint64_t kStep = 200000;
  VmmExit e = run("thaw.test=counter thaw.rounds=4 thaw.step=200000");
  ASSERT_EQ(e.exit_code, 0) << describe(e);
  uint64_t x = 1;
  for (int round = 1; round <= kRounds; round++) {
    for (uint64_t i = 0; i < kStep; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    char line[64];
    std::snprintf(line, sizeof line, "counter: %d lcg=%016" PRIx64, round, x);
    EXPECT_TRUE(has_line(e, line)) << "missing \"" << line << "\"\n" << describe(e);
  }
}

// Checks every complete "counter: K lcg=X" line: K runs 1, 2, 3, ...
// without a gap and X is the LCG after K*step iterations. A pause or stop
// can land mid-line, so the unterminated tail is ignored. Returns the last K.
int check_counter_lines(const std::string& serial, uint64_t step) {
  std::istringstream in(serial.substr(0, serial.rfind('\n') + 1));
  std::string line;
  uint64_t x = 1;
  int expected = 1;
  while (std::getline(in, line)) {
    int round = 0;
    uint64_t lcg = 0;
    if (std::sscanf(line.c_str(), "counter: %d lcg=%" SCNx64, &round, &lcg) != 2) continue;
    for (uint64_t i = 0; i < step; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    EXPECT_EQ(round, expected) << "counter skipped or repeated a round:\n" << serial;
    EXPECT_EQ(lcg, x) << "round " << round << " has the wrong LCG value";
    expected = round + 1;
  }
  return expected - 1;
}

TEST_F(GuestTest, ApicTimerInterruptsUserCode) {
  VmmExit e = run("thaw.test=timer thaw.ticks=3");
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_NE(e.serial.find("timer: at least 3 APIC timer interrupts at CPL3 (took "),
            std::string::npos)
      << describe(e);
}

// CONTRACT.md's guest physical layout, seen from inside the guest: the
// e820 ranges thaw-vmm reports exist and keep writes at both ends.
TEST_F(GuestTest, MemoryMapOfSmallGuest) {
  VmmExit e = run("thaw.test=memory-map");  // --mem 64
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(missing_lines(e, {"e820: 0 [0x0, 0x9fc00) type 1",
                              "memory-map: RAM [0x0, 0x9fc00) first and last page ok",
                              "e820: 1 [0x100000, 0x4000000) type 1",
                              "memory-map: RAM [0x100000, 0x4000000) first and last page ok"}),
            "")
      << describe(e);
  EXPECT_EQ(e.serial.find("e820: 2 "), std::string::npos) << describe(e);
}

TEST_F(GuestTest, MemoryMapSplitsAroundTheMmioGap) {
  // 4 GiB of RAM: 3.25 GiB below the virtio window at 0xd0000000, the
  // remaining 0.75 GiB from 4 GiB up. The memfd is sparse; only the pages
  // the guest touches are allocated.
  VmmExit e = run("thaw.test=memory-map", {"--mem", "4096"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(missing_lines(e, {"e820: 1 [0x100000, 0xd0000000) type 1",
                              "memory-map: RAM [0x100000, 0xd0000000) first and last page ok",
                              "e820: 2 [0x100000000, 0x130000000) type 1",
                              "memory-map: RAM [0x100000000, 0x130000000) first and last page ok"}),
            "")
      << describe(e);
}

TEST_F(GuestTest, SerialThrEmptyInterruptDrivesOutput) {
  VmmExit e = run("thaw.test=serial-irq");
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_TRUE(has_line(e, "serial-irq: this line was sent one byte per THR-empty interrupt"))
      << describe(e);
  // 16550: one interrupt when IER enables it with THR empty, then one per byte.
  EXPECT_TRUE(has_line(e, "serial-irq: took 65 THR-empty interrupts on gsi 4 for 64 bytes"))
      << describe(e);
}

TEST_F(GuestTest, ApplicationProcessorsStartAndSendIpis) {
  // INIT-SIPI-SIPI through the in-kernel LAPIC, a real-mode trampoline into
  // long mode on each AP, and a fixed IPI from each AP back to the boot CPU.
  VmmExit e = run("thaw.test=smp thaw.cpus=4", {"--vcpus", "4"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(
      missing_lines(
          e, {"smp: cpu with apic id 1 online in long mode", "smp: cpu 1 online, its IPI taken",
              "smp: cpu with apic id 2 online in long mode", "smp: cpu 2 online, its IPI taken",
              "smp: cpu with apic id 3 online in long mode", "smp: cpu 3 online, its IPI taken",
              "smp: 4 cpus online"}),
      "")
      << describe(e);
}

TEST_F(GuestTest, SecondVcpuWaitsForSipiWithoutBlockingExit) {
  // vCPU 1 stays in wait-for-SIPI (the guest never starts it); the
  // i8042 reset from vCPU 0 must still end the whole VM cleanly.
  VmmExit e = run("thaw.test=hello", {"--vcpus", "2"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_NE(e.serial.find("thaw-test-guest: done hello ok"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, TripleFaultEndsVmWithExit3) {
  VmmExit e = run("thaw.test=triple-fault");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_TRUE(has_line(e, "triple-fault: loading an empty IDT and raising #UD")) << describe(e);
  // The reason must name the KVM exit, so an operator can tell it from a host error.
  EXPECT_NE(e.stderr_text.find("KVM_EXIT_SHUTDOWN"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, UserModeFaultIsReportedByGuestKernel) {
  VmmExit e = run("thaw.test=user-fault");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_NE(e.serial.find("FAIL: #PF page fault (vector 14) at CPL3"), std::string::npos)
      << describe(e);
  EXPECT_NE(e.serial.find("cr2 8000000000"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, UnemulatedInstructionEndsOnlyThisVm) {
  bool pvm = std::filesystem::exists("/sys/module/kvm_pvm");
  VmmExit e = run("thaw.test=bad-insn");
  EXPECT_TRUE(has_line(e, "bad-insn: executing FNCLEX at CPL0")) << describe(e);
  if (pvm) {
    // ENVIRONMENT.md: PVM's CPL0 emulator lacks FNCLEX -> KVM internal error.
    EXPECT_EQ(e.exit_code, 3) << describe(e);
    EXPECT_NE(e.stderr_text.find("emulation failure"), std::string::npos) << describe(e);
  } else {
    EXPECT_EQ(e.exit_code, 0) << describe(e);
    EXPECT_TRUE(has_line(e, "bad-insn: FNCLEX ran natively")) << describe(e);
  }
  // The host test process is still here and can start the next VM.
  VmmExit again = run("thaw.test=hello");
  EXPECT_EQ(again.exit_code, 0) << describe(again);
}

TEST_F(GuestTest, UnknownScenarioFailsWithReason) {
  VmmExit e = run("thaw.test=no-such-scenario");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_NE(e.serial.find("FAIL: unknown scenario \"no-such-scenario\""), std::string::npos)
      << describe(e);
}

TEST_F(GuestTest, BlkScenarioWithoutDiskFailsWithReason) {
  VmmExit e = run("thaw.test=blk");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_NE(e.serial.find("FAIL: blk: no virtio-blk disk 0"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, ControlSocketPausesAndResumesExactly) {
  constexpr uint64_t kStep = 20000000;  // ~40 ms of native CPL3 work per round here
  std::string api = dir_->file("api.sock");
  auto vmm = start_guest("thaw.test=counter thaw.rounds=0 thaw.step=20000000", {"--api-sock", api});
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("counter: 3 ", seconds(30)).ok()) << vmm->serial();

  auto paused = control_request(api, R"({"op":"pause"})");
  ASSERT_TRUE(paused.ok()) << paused.error().message;
  std::string at_pause = vmm->serial();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ~7 rounds if it were running
  EXPECT_EQ(vmm->serial(), at_pause) << "the guest printed while paused";

  auto stats = control_request(api, R"({"op":"stats"})");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->at("state").as_string(), "paused") << boost::json::serialize(*stats);
  ASSERT_TRUE(stats->contains("exits") && stats->at("exits").is_object())
      << boost::json::serialize(*stats);
  const auto& exits = stats->at("exits").as_object();
  ASSERT_TRUE(exits.contains("io")) << boost::json::serialize(*stats);
  // At least one port write per serial byte printed so far.
  EXPECT_GE(exits.at("io").to_number<uint64_t>(), at_pause.size())
      << boost::json::serialize(*stats);

  int last = check_counter_lines(at_pause, kStep);
  auto resumed = control_request(api, R"({"op":"resume"})");
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  // Round last+4 has begun printing, so round last+3 is complete.
  ASSERT_TRUE(vmm->wait_for_serial("counter: " + std::to_string(last + 4) + " ", seconds(30)).ok())
      << vmm->serial();
  auto stopped = control_request(api, R"({"op":"stop"})");
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  auto e = vmm->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  // The rounds run on without a gap or a wrong value across the pause.
  EXPECT_GE(check_counter_lines(e->serial, kStep), last + 3);
}

// Two VMs side by side: one dies of a triple fault and another of an
// emulation failure while a third keeps counting, untouched, and is then
// stopped cleanly through its control socket.
TEST_F(GuestTest, FaultingGuestsLeaveANeighbourRunning) {
  constexpr uint64_t kStep = 20000000;
  std::string api = dir_->file("api.sock");
  auto survivor = VmmProcess::start(
      bin_.vmm,
      guest_args(bin_, "thaw.test=counter thaw.rounds=0 thaw.step=20000000", {"--api-sock", api}),
      dir_->file("survivor.log"), dir_->file("survivor.err"));
  ASSERT_TRUE(survivor.ok()) << survivor.error().message;
  ASSERT_TRUE(survivor->wait_for_serial("counter: 2 ", seconds(30)).ok()) << survivor->serial();

  VmmExit fault = run("thaw.test=triple-fault");
  EXPECT_EQ(fault.exit_code, 3) << describe(fault);
  VmmExit bad = run("thaw.test=bad-insn");
  EXPECT_NE(bad.exit_code, 1) << describe(bad);  // 3 on PVM, 0 where FNCLEX runs natively

  int before = check_counter_lines(survivor->serial(), kStep);
  ASSERT_TRUE(
      survivor->wait_for_serial("counter: " + std::to_string(before + 3) + " ", seconds(30)).ok())
      << survivor->serial();
  auto stopped = control_request(api, R"({"op":"stop"})");
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  auto e = survivor->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_GE(check_counter_lines(e->serial, kStep), before + 2);
}

}  // namespace
}  // namespace thaw::testguest
