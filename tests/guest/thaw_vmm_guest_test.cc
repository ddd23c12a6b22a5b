// Integration tests of thaw-vmm on this machine's real KVM: each test boots
// the freestanding test guest (tests/guest/*.c) in the real thaw-vmm binary
// with one scenario (thaw.test=...) and checks the guest's serial lines, the
// VMM's exit code, and the host-side effects (disk contents, vsock streams).
// Skips only when /dev/kvm is absent.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cinttypes>
#include <cstring>
#include <sstream>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <initializer_list>
#include <thread>
#include <vector>

#include "common/file_util.h"
#include "common/unique_fd.h"
#include "tests/guest/vmm_process.h"
#include "tests/guest/vsock_host.h"

namespace thaw::testguest {
namespace {

using std::chrono::seconds;

constexpr uint64_t kSector = 512;
constexpr uint64_t kDiskSectors = 2048;  // 1 MiB
constexpr uint64_t kGuestWriteFirst = 8, kGuestWriteCount = 8;

// The same patterns as scenario_blk.c: what the host pre-writes, and what
// the guest writes into sectors 8-15.
uint8_t host_pattern(uint64_t sector, uint32_t i) { return static_cast<uint8_t>(sector * 31 + i * 7 + 1); }
uint8_t guest_pattern(uint64_t sector, uint32_t i) { return static_cast<uint8_t>(0xa5 ^ (i * 13) ^ sector); }

class GuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm is absent or not usable: these tests need KVM";
    auto bin = binaries_from_env();
    ASSERT_TRUE(bin.ok()) << bin.error().message;
    bin_ = *bin;
    auto dir = TempDir::create();
    ASSERT_TRUE(dir.ok()) << dir.error().message;
    dir_.emplace(std::move(*dir));
  }

  VmmExit run(const std::string& cmdline, const std::vector<std::string>& extra = {}) {
    auto r = run_guest(bin_, *dir_, cmdline, extra);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? *r : VmmExit{};
  }

  // A 1 MiB disk image with host_pattern() in sector 1 and the last sector.
  std::string make_disk(const std::string& name) {
    std::vector<uint8_t> image(kDiskSectors * kSector, 0);
    for (uint64_t sector : {uint64_t{1}, kDiskSectors - 1})
      for (uint32_t i = 0; i < kSector; i++) image[sector * kSector + i] = host_pattern(sector, i);
    std::string path = dir_->file(name);
    auto w = write_file_atomic(path, image);
    EXPECT_TRUE(w.ok()) << w.error().message;
    return path;
  }

  std::vector<uint8_t> read_disk(const std::string& path) {
    auto bytes = read_file(path, 64 << 20);
    EXPECT_TRUE(bytes.ok()) << bytes.error().message;
    return bytes.ok() ? *bytes : std::vector<uint8_t>{};
  }

  TestBinaries bin_;
  std::optional<TempDir> dir_;
};

std::string describe(const VmmExit& e) {
  return "exit " + std::to_string(e.exit_code) + " signal " + std::to_string(e.signal) +
         "\n--- serial ---\n" + e.serial + "\n--- stderr ---\n" + e.stderr_text;
}

bool has_line(const VmmExit& e, const std::string& line) {
  return e.serial.find(line + "\n") != std::string::npos;
}

std::string missing_lines(const VmmExit& e, std::initializer_list<const char*> lines) {
  std::string missing;
  for (const char* line : lines)
    if (!has_line(e, line)) missing += std::string("  ") + line + "\n";
  return missing;
}

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
  EXPECT_NE(e.serial.find("timer: at least 3 APIC timer interrupts at CPL3 (took "), std::string::npos)
      << describe(e);
}

TEST_F(GuestTest, SerialThrEmptyInterruptDrivesOutput) {
  VmmExit e = run("thaw.test=serial-irq");
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_TRUE(has_line(e, "serial-irq: this line was sent one byte per THR-empty interrupt")) << describe(e);
  // 16550: one interrupt when IER enables it with THR empty, then one per byte.
  EXPECT_TRUE(has_line(e, "serial-irq: took 65 THR-empty interrupts on gsi 4 for 64 bytes")) << describe(e);
}

TEST_F(GuestTest, SecondVcpuWaitsForSipiWithoutBlockingExit) {
  // vCPU 1 stays in wait-for-SIPI (the guest never starts it); the
  // i8042 reset from vCPU 0 must still end the whole VM cleanly.
  VmmExit e = run("thaw.test=hello", {"--vcpus", "2"});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_NE(e.serial.find("thaw-test-guest: done hello ok"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, BlkReadWriteFlushVerifiedOnBothSides) {
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk", {"--disk", disk});
  ASSERT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(missing_lines(e, {"blk: disk 0 has 2048 sectors", "blk: read sector 1 ok",
                              "blk: read sector 2047 ok", "blk: wrote sectors 8-15",
                              "blk: read back sectors 8-15 ok", "blk: flush ok",
                              "blk: read past the end refused with status 1 ok",
                              "blk: 7 used-buffer interrupts for 7 requests ok"}),
            "")
      << describe(e);

  std::vector<uint8_t> image = read_disk(disk);
  ASSERT_EQ(image.size(), kDiskSectors * kSector);
  for (uint64_t s = kGuestWriteFirst; s < kGuestWriteFirst + kGuestWriteCount; s++)
    for (uint32_t i = 0; i < kSector; i++)
      ASSERT_EQ(image[s * kSector + i], guest_pattern(s, i)) << "sector " << s << " byte " << i;
  // Everything the guest did not write is as the host left it.
  for (uint32_t i = 0; i < kSector; i++) ASSERT_EQ(image[kSector + i], host_pattern(1, i));
  for (uint64_t b = (kGuestWriteFirst + kGuestWriteCount) * kSector; b < (kDiskSectors - 1) * kSector; b++)
    ASSERT_EQ(image[b], 0) << "byte " << b;
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
  EXPECT_TRUE(e.serial.find("irq: took virtio-blk interrupt on gsi 5 vector 0x25") != std::string::npos)
      << describe(e);
}

TEST_F(GuestTest, BlkRequestOutsideGuestRamIsRefused) {
  std::string disk = make_disk("disk.img");
  VmmExit e = run("thaw.test=blk-bad-addr", {"--disk", disk});
  EXPECT_TRUE(has_line(e, "blk-bad-addr: reading sector 1 into guest address 0x30000000")) << describe(e);
  // Either the device refuses (IOERR / NEEDS_RESET) and the guest ends
  // cleanly, or thaw-vmm stops this VM for breaking the device contract.
  if (e.exit_code == 4) {
    EXPECT_NE(e.stderr_text.find("0x30000000"), std::string::npos)
        << "thaw-vmm's reason for exit 4 does not name the bad address\n" << describe(e);
  } else {
    EXPECT_EQ(e.exit_code, 0) << describe(e);
    EXPECT_TRUE(has_line(e, "blk-bad-addr: device answered IOERR ok") ||
                has_line(e, "blk-bad-addr: device set DEVICE_NEEDS_RESET ok"))
        << describe(e);
  }
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

class HostileBlkTest : public GuestTest, public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostileBlkTest, RefusedWithoutHarmingHost) {
  std::string disk = make_disk("disk.img");
  std::vector<uint8_t> before = read_disk(disk);
  VmmExit e = run(std::string("thaw.test=blk-hostile thaw.kind=") + GetParam().kind, {"--disk", disk});
  EXPECT_TRUE(has_line(e, std::string("blk-hostile: posting a ") + GetParam().kind + " request")) << describe(e);
  if (e.exit_code == 4) {
    EXPECT_NE(e.stderr_text.find(GetParam().reason), std::string::npos)
        << "exit-4 reason does not mention \"" << GetParam().reason << "\"\n" << describe(e);
  } else {
    EXPECT_EQ(e.exit_code, 0) << describe(e);
    EXPECT_TRUE(has_line(e, "blk-hostile: device answered IOERR ok") ||
                has_line(e, "blk-hostile: device set DEVICE_NEEDS_RESET ok"))
        << describe(e);
  }
  EXPECT_EQ(read_disk(disk), before) << "a refused request changed the image";
}

INSTANTIATE_TEST_SUITE_P(
    Requests, HostileBlkTest,
    ::testing::Values(HostileCase{"loop", "loop"}, HostileCase{"avail-jump", "queue size"},
                      HostileCase{"huge-length", "outside guest RAM"},
                      HostileCase{"bad-head", "queue size"}),
    [](const ::testing::TestParamInfo<HostileCase>& info) {
      std::string name;
      for (const char* p = info.param.kind; *p; p++)
        if (*p != '-') name += *p;
      return name;
    });

TEST_F(GuestTest, DisksTakeSlotsAndGsisInCommandLineOrder) {
  std::string a = make_disk("a.img"), b = make_disk("b.img"), c = make_disk("c.img");
  VmmExit e = run("thaw.test=multi-disk",
                  {"--disk", a, "--disk", b + ",ro", "--disk", c, "--vsock-uds", dir_->file("v.sock")});
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  // CONTRACT.md: disks first in command-line order, then vsock; GSI 5 + slot.
  // Sector 1 starts with host_pattern(1, 0..3) = 20 27 2e 35 (little-endian word 352e2720).
  EXPECT_EQ(missing_lines(e, {"virtio-blk: disk 0 at slot 0 gsi 5: 2048 sectors, flush",
                              "virtio-blk: disk 1 at slot 1 gsi 6: 2048 sectors, read-only, flush",
                              "virtio-blk: disk 2 at slot 2 gsi 7: 2048 sectors, flush",
                              "virtio-vsock: slot 3 gsi 8: guest cid 3",
                              "multi-disk: disk 0 slot 0 gsi 5: sector 1 starts 352e2720, 1 interrupt(s)",
                              "multi-disk: disk 1 slot 1 gsi 6 ro: sector 1 starts 352e2720, 1 interrupt(s)",
                              "multi-disk: disk 2 slot 2 gsi 7: sector 1 starts 352e2720, 1 interrupt(s)",
                              "multi-disk: 3 disk(s)"}),
            "")
      << describe(e);
}

// One request/reply on thaw-vmm's control socket (JSON lines, CONTRACT.md).
Result<boost::json::object> control(const std::string& api_sock, const std::string& request) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, api_sock.c_str(), sizeof addr.sun_path - 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return Error::from_errno("connect to --api-sock {}", api_sock);
  std::string line = request + "\n";
  if (auto w = write_all(fd.get(), {reinterpret_cast<const uint8_t*>(line.data()), line.size()}, "request"); !w.ok())
    return std::move(w).error();
  auto reply = read_line(fd.get(), seconds(10));
  if (!reply.ok()) return reply.error().context(request);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*reply, ec);
  if (ec || !v.is_object()) return Error::format("reply to {} is not a JSON object: {}", request, *reply);
  auto& obj = v.as_object();
  if (!obj.contains("ok") || !obj.at("ok").is_bool() || !obj.at("ok").as_bool())
    return Error::format("{} failed: {}", request, *reply);
  return obj;
}

TEST_F(GuestTest, ControlSocketPausesAndResumesExactly) {
  constexpr uint64_t kStep = 20000000;  // ~40 ms of native CPL3 work per round here
  std::string api = dir_->file("api.sock");
  auto vmm = VmmProcess::start(
      bin_.vmm, guest_args(bin_, "thaw.test=counter thaw.rounds=0 thaw.step=20000000", {"--api-sock", api}),
      dir_->file("serial.log"), dir_->file("stderr.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("counter: 3 ", seconds(30)).ok()) << vmm->serial();

  auto paused = control(api, R"({"op":"pause"})");
  ASSERT_TRUE(paused.ok()) << paused.error().message;
  std::string at_pause = vmm->serial();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ~7 rounds if it were running
  EXPECT_EQ(vmm->serial(), at_pause) << "the guest printed while paused";

  auto stats = control(api, R"({"op":"stats"})");
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_EQ(stats->at("state").as_string(), "paused") << boost::json::serialize(*stats);
  ASSERT_TRUE(stats->contains("exits") && stats->at("exits").is_object()) << boost::json::serialize(*stats);
  const auto& exits = stats->at("exits").as_object();
  ASSERT_TRUE(exits.contains("io")) << boost::json::serialize(*stats);
  // At least one port write per serial byte printed so far.
  EXPECT_GE(exits.at("io").to_number<uint64_t>(), at_pause.size()) << boost::json::serialize(*stats);

  int last = check_counter_lines(at_pause, kStep);
  auto resumed = control(api, R"({"op":"resume"})");
  ASSERT_TRUE(resumed.ok()) << resumed.error().message;
  // Round last+4 has begun printing, so round last+3 is complete.
  ASSERT_TRUE(vmm->wait_for_serial("counter: " + std::to_string(last + 4) + " ", seconds(30)).ok())
      << vmm->serial();
  auto stopped = control(api, R"({"op":"stop"})");
  ASSERT_TRUE(stopped.ok()) << stopped.error().message;
  auto e = vmm->wait(seconds(30));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  // The rounds run on without a gap or a wrong value across the pause.
  EXPECT_GE(check_counter_lines(e->serial, kStep), last + 3);
}

// The host end of the guest's "vsock-connect" half: accepts thaw-vmm's
// connection on "<uds>_<port>", reads the guest's hello, answers, and waits
// for the guest's close.
class HostListener {
 public:
  HostListener(UniqueFd listen_fd) : fd_(std::move(listen_fd)), thread_([this] { serve(); }) {}
  ~HostListener() { join(); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  std::string error, guest_hello;

 private:
  void serve() {
    auto conn = unix_accept(fd_.get(), seconds(60));
    if (!conn.ok()) return void(error = conn.error().message);
    auto line = read_line(conn->get(), seconds(30));
    if (!line.ok()) return void(error = line.error().message);
    guest_hello = *line;
    std::string reply = "hello guest, this is the host\n";
    auto w = write_all(conn->get(), {reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}, "reply");
    if (!w.ok()) return void(error = w.error().message);
    // Keep the stream open until the guest closes it (EOF is the expected end).
    (void)read_line(conn->get(), seconds(30));
  }
  UniqueFd fd_;
  std::thread thread_;
};

// The host end of the "vsock-listen" half: CONNECT <port>, ping, expect pong.
void talk_to_guest(VmmProcess& vmm, const std::string& uds, uint32_t port) {
  auto listening = vmm.wait_for_serial("vsock: listening on port " + std::to_string(port), seconds(30));
  ASSERT_TRUE(listening.ok()) << listening.error().message;
  uint32_t host_port = 0;
  auto conn = vsock_connect_guest(uds, port, seconds(30), &host_port);
  ASSERT_TRUE(conn.ok()) << conn.error().message;
  std::string ping = "ping from host\n";
  ASSERT_TRUE(write_all(conn->get(), {reinterpret_cast<const uint8_t*>(ping.data()), ping.size()}, "ping").ok());
  auto pong = read_line(conn->get(), seconds(30));
  ASSERT_TRUE(pong.ok()) << pong.error().message;
  EXPECT_EQ(*pong, "pong: ping from host");
}

constexpr std::initializer_list<const char*> kListenLines = {
    "vsock: guest cid 3", "vsock: listening on port 5000", "vsock: accepted host connection on port 5000",
    "vsock: received from host: ping from host", "vsock: replied to host"};
constexpr std::initializer_list<const char*> kConnectLines = {
    "vsock: connected to host port 5001", "vsock: host answered: hello guest, this is the host",
    "vsock: closed"};

TEST_F(GuestTest, VsockHostConnectsToGuest) {
  std::string uds = dir_->file("vsock.sock");
  auto vmm = VmmProcess::start(bin_.vmm, guest_args(bin_, "thaw.test=vsock-listen thaw.port=5000", {"--vsock-uds", uds}),
                               dir_->file("serial.log"), dir_->file("stderr.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(missing_lines(*e, kListenLines), "") << describe(*e);
}

TEST_F(GuestTest, VsockBulkTransferRespectsCreditBothWays) {
  constexpr size_t kBytes = 32768;  // 4x the guest's 8 KiB buf_alloc
  std::string uds = dir_->file("vsock.sock");
  auto vmm = VmmProcess::start(bin_.vmm, guest_args(bin_, "thaw.test=vsock-bulk thaw.port=5000 thaw.bytes=32768", {"--vsock-uds", uds}),
                               dir_->file("serial.log"), dir_->file("stderr.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  ASSERT_TRUE(vmm->wait_for_serial("vsock: listening on port 5000", seconds(30)).ok()) << vmm->serial();
  auto conn = vsock_connect_guest(uds, 5000, seconds(30), nullptr);
  ASSERT_TRUE(conn.ok()) << conn.error().message;

  std::vector<uint8_t> out(kBytes);
  uint64_t sum = 0xcbf29ce484222325ull;  // FNV-1a 64, as scenario_vsock.c
  for (size_t i = 0; i < kBytes; i++) {
    out[i] = static_cast<uint8_t>(i * 7 + 3);
    sum = (sum ^ out[i]) * 0x100000001b3ull;
  }
  ASSERT_TRUE(write_all(conn->get(), out, "bulk to guest").ok());
  std::vector<uint8_t> back(kBytes);
  auto r = read_exact(conn->get(), back, "bulk from guest");
  ASSERT_TRUE(r.ok()) << r.error().message << "\n" << vmm->serial();
  for (size_t i = 0; i < kBytes; i++)
    ASSERT_EQ(back[i], static_cast<uint8_t>(i * 131 + (i >> 8))) << "byte " << i;

  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  char line[96];
  std::snprintf(line, sizeof line, "vsock-bulk: received %zu bytes, fnv1a %016" PRIx64, kBytes, sum);
  EXPECT_TRUE(has_line(*e, line)) << "missing \"" << line << "\"\n" << describe(*e);
  EXPECT_TRUE(has_line(*e, "vsock-bulk: sent 32768 bytes")) << describe(*e);
}

TEST_F(GuestTest, VsockMalformedRequestsAreRefusedWithoutHostSockets) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");  // must never see a connection
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  auto vmm = VmmProcess::start(
      bin_.vmm, guest_args(bin_, "thaw.test=vsock-hostile thaw.port=5000 thaw.host_port=5001", {"--vsock-uds", uds}),
      dir_->file("serial.log"), dir_->file("stderr.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);  // the device still works afterwards
  auto e = vmm->wait(seconds(60));
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(missing_lines(*e, {"vsock-hostile: spoofed src_cid refused with RST ok",
                               "vsock-hostile: REQUEST with payload refused with RST ok",
                               "vsock-hostile: SEQPACKET type refused with RST ok",
                               "vsock: received from host: ping from host"}),
            "")
      << describe(*e);
  auto stray = unix_accept(listener->get(), std::chrono::milliseconds(0));
  EXPECT_FALSE(stray.ok()) << "thaw-vmm opened a host connection for a malformed REQUEST";
}

TEST_F(GuestTest, VsockGuestConnectsToHost) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  HostListener host(std::move(*listener));
  auto e = run("thaw.test=vsock-connect thaw.host_port=5001", {"--vsock-uds", uds});
  host.join();
  EXPECT_EQ(e.exit_code, 0) << describe(e);
  EXPECT_EQ(host.error, "");
  EXPECT_EQ(host.guest_hello, "hello from guest cid 3");
  EXPECT_EQ(missing_lines(e, kConnectLines), "") << describe(e);
}

TEST_F(GuestTest, VsockBothWaysInOneBoot) {
  std::string uds = dir_->file("vsock.sock");
  auto listener = unix_listen(uds + "_5001");
  ASSERT_TRUE(listener.ok()) << listener.error().message;
  HostListener host(std::move(*listener));
  auto vmm = VmmProcess::start(
      bin_.vmm, guest_args(bin_, "thaw.test=vsock thaw.port=5000 thaw.host_port=5001", {"--vsock-uds", uds}),
      dir_->file("serial.log"), dir_->file("stderr.log"));
  ASSERT_TRUE(vmm.ok()) << vmm.error().message;
  talk_to_guest(*vmm, uds, 5000);
  auto e = vmm->wait(seconds(60));
  host.join();
  ASSERT_TRUE(e.ok()) << e.error().message;
  EXPECT_EQ(e->exit_code, 0) << describe(*e);
  EXPECT_EQ(host.guest_hello, "hello from guest cid 3") << host.error;
  EXPECT_EQ(missing_lines(*e, kListenLines), "") << describe(*e);
  EXPECT_EQ(missing_lines(*e, kConnectLines), "") << describe(*e);
}

TEST_F(GuestTest, TripleFaultEndsVmWithExit3) {
  VmmExit e = run("thaw.test=triple-fault");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_TRUE(has_line(e, "triple-fault: loading an empty IDT and raising #UD")) << describe(e);
  EXPECT_NE(e.stderr_text, "") << "thaw-vmm gave no reason for exit 3";
}

TEST_F(GuestTest, UserModeFaultIsReportedByGuestKernel) {
  VmmExit e = run("thaw.test=user-fault");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_NE(e.serial.find("FAIL: #PF page fault (vector 14) at CPL3"), std::string::npos) << describe(e);
  EXPECT_NE(e.serial.find("cr2 100000000"), std::string::npos) << describe(e);
}

TEST_F(GuestTest, UnemulatedInstructionEndsOnlyThisVm) {
  bool pvm = std::filesystem::exists("/sys/module/kvm_pvm");
  VmmExit e = run("thaw.test=bad-insn");
  EXPECT_TRUE(has_line(e, "bad-insn: executing FNCLEX at CPL0")) << describe(e);
  if (pvm) {
    // ENVIRONMENT.md: PVM's CPL0 emulator lacks FNCLEX -> KVM internal error.
    EXPECT_EQ(e.exit_code, 3) << describe(e);
    EXPECT_NE(e.stderr_text, "") << "thaw-vmm gave no reason for exit 3";
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
  EXPECT_NE(e.serial.find("FAIL: unknown scenario \"no-such-scenario\""), std::string::npos) << describe(e);
}

TEST_F(GuestTest, BlkScenarioWithoutDiskFailsWithReason) {
  VmmExit e = run("thaw.test=blk");
  EXPECT_EQ(e.exit_code, 3) << describe(e);
  EXPECT_NE(e.serial.find("FAIL: blk: no virtio-blk disk 0"), std::string::npos) << describe(e);
}

}  // namespace
}  // namespace thaw::testguest
