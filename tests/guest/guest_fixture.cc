// Shared fixture of the thaw-vmm integration tests.
#include "tests/guest/guest_fixture.h"

#include <unistd.h>

#include "common/file_util.h"

namespace thaw::testguest {

void GuestTest::SetUp() {
  if (::access("/dev/kvm", R_OK | W_OK) != 0)
    GTEST_SKIP() << "/dev/kvm is absent or not usable: these tests need KVM";
  auto bin = binaries_from_env();
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  bin_ = *bin;
  auto dir = TempDir::create();
  ASSERT_TRUE(dir.ok()) << dir.error().message;
  dir_.emplace(std::move(*dir));
}

VmmExit GuestTest::run(const std::string& cmdline, const std::vector<std::string>& extra) {
  auto r = run_guest(bin_, *dir_, cmdline, extra);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : VmmExit{};
}

Result<VmmProcess> GuestTest::start_guest(const std::string& cmdline,
                                          const std::vector<std::string>& extra) {
  return VmmProcess::start(bin_.vmm, guest_args(bin_, cmdline, extra), dir_->file("serial.log"),
                           dir_->file("stderr.log"));
}

std::string GuestTest::make_disk(const std::string& name) {
  std::vector<uint8_t> image(kDiskSectors * kSector, 0);
  for (uint64_t sector : {uint64_t{1}, kDiskSectors - 1})
    for (uint32_t i = 0; i < kSector; i++) image[sector * kSector + i] = host_pattern(sector, i);
  std::string path = dir_->file(name);
  auto w = write_file_atomic(path, image);
  EXPECT_TRUE(w.ok()) << w.error().message;
  return path;
}

std::vector<uint8_t> GuestTest::read_disk(const std::string& path) {
  auto bytes = read_file(path, 64 << 20);
  EXPECT_TRUE(bytes.ok()) << bytes.error().message;
  return bytes.ok() ? *bytes : std::vector<uint8_t>{};
}

const RingCase kRingCases[4] = {
    {"SplitRing", "", ""},
    {"Indirect", "indirect", ", indirect"},
    {"EventIdx", "event-idx", ", event-idx"},
    {"IndirectEventIdx", "indirect,event-idx", ", indirect, event-idx"}};

std::string ring_name(const ::testing::TestParamInfo<RingCase>& info) { return info.param.name; }

std::string ring_arg(const RingCase& ring) {
  return *ring.option ? std::string(" thaw.ring=") + ring.option : std::string();
}

std::string describe(const VmmExit& e) {
  return "exit " + std::to_string(e.exit_code) + " signal " + std::to_string(e.signal) +
         "\n--- serial ---\n" + e.serial + "\n--- stderr ---\n" + e.stderr_text;
}

bool has_line(const VmmExit& e, const std::string& line) {
  std::string needle = line + "\n";
  for (size_t at = e.serial.find(needle); at != std::string::npos;
       at = e.serial.find(needle, at + 1))
    if (at == 0 || e.serial[at - 1] == '\n') return true;
  return false;
}

std::string missing_lines(const VmmExit& e, std::initializer_list<const char*> lines) {
  std::string missing;
  for (const char* line : lines)
    if (!has_line(e, line)) missing += std::string("  ") + line + "\n";
  return missing;
}

}  // namespace thaw::testguest
