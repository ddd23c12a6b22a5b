// Shared fixture of the thaw-vmm integration tests: a private temporary
// directory, the thaw-vmm and guest paths from the environment, disk images
// with known patterns, and helpers that check the guest's serial lines.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "tests/guest/vmm_process.h"

namespace thaw::testguest {

inline constexpr uint64_t kSector = 512;
inline constexpr uint64_t kDiskSectors = 2048;  // 1 MiB
inline constexpr uint64_t kGuestWriteFirst = 8, kGuestWriteCount = 8;

// The same patterns as scenario_blk.c: what the host pre-writes, and what
// the guest writes into sectors 8-15.
inline uint8_t host_pattern(uint64_t sector, uint32_t i) {
  return static_cast<uint8_t>(sector * 31 + i * 7 + 1);
}
inline uint8_t guest_pattern(uint64_t sector, uint32_t i) {
  return static_cast<uint8_t>(0xa5 ^ (i * 13) ^ sector);
}

class GuestTest : public ::testing::Test {
 protected:
  // Skips without /dev/kvm; fails when the meson test environment is missing.
  void SetUp() override;
  // Boots the guest with `cmdline` and waits for thaw-vmm to exit.
  VmmExit run(const std::string& cmdline, const std::vector<std::string>& extra = {});
  // Boots it in the background (serial.log and stderr.log in dir_), for
  // tests that talk to the running guest.
  Result<VmmProcess> start_guest(const std::string& cmdline,
                                 const std::vector<std::string>& extra = {});
  // A 1 MiB disk image with host_pattern() in sector 1 and the last sector.
  std::string make_disk(const std::string& name);
  std::vector<uint8_t> read_disk(const std::string& path);

  TestBinaries bin_;
  std::optional<TempDir> dir_;
};

// Ring features the guest's virtio drivers negotiate (thaw.ring=...): the
// split ring alone, indirect descriptors, event-index suppression, or both.
struct RingCase {
  const char* name;    // test-name suffix
  const char* option;  // thaw.ring value, "" for none
  const char* suffix;  // what the guest's device line ends with
};
extern const RingCase kRingCases[4];
std::string ring_name(const ::testing::TestParamInfo<RingCase>& info);
// " thaw.ring=<option>" or "".
std::string ring_arg(const RingCase& ring);

class RingTest : public GuestTest, public ::testing::WithParamInterface<RingCase> {};

// Exit status, serial log and stderr, for failure messages.
std::string describe(const VmmExit& e);
// True when the serial log holds exactly this line.
bool has_line(const VmmExit& e, const std::string& line);
// The lines (one per row) that the serial log lacks; empty when none.
std::string missing_lines(const VmmExit& e, std::initializer_list<const char*> lines);

}  // namespace thaw::testguest
