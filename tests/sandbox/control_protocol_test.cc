// Tests of sandbox/vmm/control_protocol (pure request handling) and
// control_socket (the same over a real Unix socket on an IoLoop).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

#include "common/unique_fd.h"
#include "sandbox/vmm/control_protocol.h"
#include "sandbox/vmm/control_socket.h"

namespace thaw::sandbox {
namespace {

namespace json = boost::json;

class FakeTarget : public ControlTarget {
 public:
  Result<void> pause() override {
    if (paused) return Error::format("already paused");
    paused = true;
    return Ok();
  }
  Result<void> resume() override {
    paused = false;
    return Ok();
  }
  void stop() override { stopped = true; }
  json::object stats() override {
    json::object o;
    o["state"] = paused ? "paused" : "running";
    o["exits"] = json::object{{"io", 7}};
    return o;
  }
  bool paused = false;
  bool stopped = false;
};

json::object reply(std::string_view line, ControlTarget& t) {
  return json::parse(handle_control_request(line, t)).as_object();
}

TEST(ControlProtocol, PauseResumeStopAndStats) {
  FakeTarget t;
  EXPECT_EQ(reply(R"({"op":"pause"})", t)["ok"], true);
  EXPECT_TRUE(t.paused);
  auto stats = reply(R"({"op":"stats"})", t);
  EXPECT_EQ(stats["ok"], true);
  EXPECT_EQ(stats["state"], "paused");
  EXPECT_EQ(stats["exits"].as_object()["io"], 7);
  EXPECT_EQ(reply(R"({"op":"resume"})", t)["ok"], true);
  EXPECT_FALSE(t.paused);
  EXPECT_EQ(reply(R"( {"op":"stop","extra":1} )", t)["ok"], true);
  EXPECT_TRUE(t.stopped);
}

TEST(ControlProtocol, TargetErrorsAreReportedNotThrown) {
  FakeTarget t;
  t.paused = true;
  auto r = reply(R"({"op":"pause"})", t);
  EXPECT_EQ(r["ok"], false);
  EXPECT_EQ(r["error"], "already paused");
}

TEST(ControlProtocol, MalformedRequestsGetPreciseErrors) {
  FakeTarget t;
  auto check = [&](std::string_view line, std::string_view expected) {
    auto r = reply(line, t);
    EXPECT_EQ(r["ok"], false) << line;
    std::string error(r["error"].as_string());
    EXPECT_NE(error.find(expected), std::string::npos) << line << " -> " << error;
  };
  check("not json", "not valid JSON");
  check(R"({"op":"pause")", "not valid JSON");
  check("[1,2]", "JSON object");
  check(R"({"cmd":"pause"})", "\"op\"");
  check(R"({"op":5})", "\"op\"");
  check(R"({"op":"reboot"})", "unknown op \"reboot\"");
  check(std::string(kMaxControlLine + 1, ' '), "limit is 4096");
  EXPECT_FALSE(t.paused);
  EXPECT_FALSE(t.stopped);
}

// --- over a socket ------------------------------------------------------------

UniqueFd connect_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  for (int i = 0; i < 100; ++i) {
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return UniqueFd(fd);
    ::usleep(10000);
  }
  ::close(fd);
  return UniqueFd();
}

std::string read_line(int fd) {
  std::string line;
  char c;
  while (::read(fd, &c, 1) == 1 && c != '\n') line += c;
  return line;
}

struct SocketFixture : ::testing::Test {
  void SetUp() override {
    path = fmt::format("/tmp/thaw-control-test-{}.sock", ::getpid());
    loop_thread = std::thread([this] {
      auto l = IoLoop::create();
      ASSERT_TRUE(l);
      loop = std::move(*l);
      ready.store(true);
      (void)loop->run();
    });
    while (!ready.load()) std::this_thread::yield();
    auto s = ControlSocket::create(path, *loop, target);
    ASSERT_TRUE(s) << s.error().message;
    server = std::move(*s);
  }
  void TearDown() override {
    loop->stop();
    loop_thread.join();
    server.reset();
  }
  std::string path;
  FakeTarget target;
  std::unique_ptr<IoLoop> loop;
  std::atomic<bool> ready{false};
  std::thread loop_thread;
  std::unique_ptr<ControlSocket> server;
};

TEST_F(SocketFixture, AnswersOneLinePerRequestInOrder) {
  UniqueFd c = connect_to(path);
  ASSERT_TRUE(c.valid());
  std::string requests = "{\"op\":\"pause\"}\n{\"op\":\"stats\"}\r\n\n{\"op\":\"bogus\"}\n";
  ASSERT_EQ(::write(c.get(), requests.data(), requests.size()),
            static_cast<ssize_t>(requests.size()));
  EXPECT_EQ(read_line(c.get()), R"({"ok":true})");
  auto stats = json::parse(read_line(c.get())).as_object();
  EXPECT_EQ(stats["state"], "paused");
  auto bogus = json::parse(read_line(c.get())).as_object();
  EXPECT_EQ(bogus["ok"], false);
}

TEST_F(SocketFixture, RequestSplitAcrossWritesIsReassembled) {
  UniqueFd c = connect_to(path);
  ASSERT_TRUE(c.valid());
  ASSERT_EQ(::write(c.get(), "{\"op\":", 6), 6);
  ::usleep(20000);
  ASSERT_EQ(::write(c.get(), "\"stop\"}\n", 8), 8);
  EXPECT_EQ(read_line(c.get()), R"({"ok":true})");
  EXPECT_TRUE(target.stopped);
}

TEST_F(SocketFixture, OverlongLineIsAnsweredAndTheClientDropped) {
  UniqueFd c = connect_to(path);
  ASSERT_TRUE(c.valid());
  std::string junk(kMaxControlLine * 3, 'x');
  (void)::send(c.get(), junk.data(), junk.size(), MSG_NOSIGNAL);
  auto r = json::parse(read_line(c.get())).as_object();
  EXPECT_EQ(r["ok"], false);
  char byte;
  // EOF, or ECONNRESET because the server closed with our bytes unread.
  EXPECT_LE(::read(c.get(), &byte, 1), 0) << "server closed the connection";
  // The server still serves others.
  UniqueFd d = connect_to(path);
  ASSERT_EQ(::write(d.get(), "{\"op\":\"resume\"}\n", 16), 16);
  EXPECT_EQ(read_line(d.get()), R"({"ok":true})");
}

TEST(ControlSocket, OverlongPathIsRejected) {
  FakeTarget t;
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop);
  auto s = ControlSocket::create(std::string(200, 'p'), **loop, t);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("1 to 107"), std::string::npos) << s.error().message;
}

}  // namespace
}  // namespace thaw::sandbox
