// Tests of agent/ops/watchdog: with systemd's WATCHDOG_USEC the agent's
// loop pings WATCHDOG=1 at half the interval (read from a NOTIFY_SOCKET the
// test owns); without it, or for another WATCHDOG_PID, nothing is armed.
#include "agent/ops/watchdog.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace thaw::agent::ops {
namespace {

using Clock = std::chrono::steady_clock;

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/tmp/thaw-notify-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path_.c_str(), path_.size());
    ASSERT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
  }
  void TearDown() override {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  // Datagrams waiting on the notify socket, with when they were read.
  void collect(std::vector<std::pair<Clock::time_point, std::string>>& got) {
    char buf[256];
    ssize_t n;
    while ((n = ::recv(fd_, buf, sizeof buf, 0)) > 0) {
      got.emplace_back(Clock::now(), std::string(buf, static_cast<size_t>(n)));
    }
  }
  std::string path_;
  int fd_ = -1;
};

TEST_F(WatchdogTest, PingsAtHalfTheIntervalSystemdAsksFor) {
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto loop = IoLoop::create(16);
  ASSERT_TRUE(loop);
  WatchdogPinger pinger;
  auto interval = pinger.start(**loop);
  ASSERT_TRUE(interval.has_value());
  EXPECT_EQ(interval->count(), 100000);

  std::vector<std::pair<Clock::time_point, std::string>> got;
  auto start = Clock::now();
  while (Clock::now() - start < std::chrono::milliseconds(1050)) {
    (void)(*loop)->run_once(5);
    collect(got);
  }
  pinger.stop();
  (void)(*loop)->run_once(10);
  ASSERT_FALSE(got.empty()) << "no WATCHDOG=1 reached NOTIFY_SOCKET";
  for (const auto& [t, msg] : got) EXPECT_EQ(msg, "WATCHDOG=1");
  // ~10 pings in 1.05 s at 100 ms; allow for a loaded machine, but a ping
  // per full interval (5) or fewer means the interval was not halved.
  EXPECT_GE(got.size(), 7u);
  EXPECT_LE(got.size(), 12u);
  EXPECT_EQ(pinger.pings(), got.size());
  // systemd kills the service when 200 ms pass without a ping.
  auto gap = got.front().first - start;
  for (size_t i = 1; i < got.size(); ++i) gap = std::max(gap, got[i].first - got[i - 1].first);
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(gap).count(), 200);
}

TEST_F(WatchdogTest, NothingIsArmedWithoutTheWatchdog) {
  EXPECT_FALSE(watchdog_ping_interval().has_value());
  ::setenv("WATCHDOG_USEC", "200000", 1);
  ::setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  EXPECT_FALSE(watchdog_ping_interval().has_value());
  auto loop = IoLoop::create(16);
  ASSERT_TRUE(loop);
  WatchdogPinger pinger;
  EXPECT_FALSE(pinger.start(**loop).has_value());
  (void)(*loop)->run_once(150);
  std::vector<std::pair<Clock::time_point, std::string>> got;
  collect(got);
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace thaw::agent::ops
