#include "runtime-api/hybrid_vsock.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace thaw {
namespace {

TEST(HybridVsock, ParsesReplies) {
  EXPECT_EQ(*parse_hybrid_vsock_reply("OK 1073741824"), 1073741824u);
  EXPECT_FALSE(parse_hybrid_vsock_reply("").ok());
  EXPECT_FALSE(parse_hybrid_vsock_reply("OK ").ok());
  EXPECT_FALSE(parse_hybrid_vsock_reply("OK 12x").ok());
  EXPECT_FALSE(parse_hybrid_vsock_reply("OK 99999999999").ok());
  EXPECT_FALSE(parse_hybrid_vsock_reply("ERR no listener").ok());
}

// A fake VMM: accepts one connection, checks the CONNECT line, answers
// `reply` and then sends `after` (what the guest would send right away).
class FakeVmm {
 public:
  FakeVmm(std::string reply, std::string after) {
    path_ = fmt::format("/tmp/thaw-hvsock-{}-{}.sock", ::getpid(), counter_++);
    ::unlink(path_.c_str());
    listen_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path_.c_str());
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_.get(), 1), 0);
    thread_ = std::thread([this, reply, after] {
      UniqueFd c(::accept(listen_.get(), nullptr, nullptr));
      char buf[64] = {};
      ssize_t n = ::read(c.get(), buf, sizeof buf - 1);
      got_ = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
      std::string out = reply + after;
      if (!out.empty()) {
        EXPECT_EQ(::write(c.get(), out.data(), out.size()), ssize_t(out.size()));
      }
      ::usleep(reply.empty() ? 300000 : 50000);
    });
  }
  ~FakeVmm() {
    thread_.join();
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string got_;

 private:
  static inline int counter_ = 0;
  std::string path_;
  UniqueFd listen_;
  std::thread thread_;
};

TEST(HybridVsock, HandshakeLeavesFollowingBytesInTheSocket) {
  std::string got;
  {
    FakeVmm vmm("OK 1073741824\n", "THAW");
    auto fd = connect_hybrid_vsock(vmm.path(), 1024, 2000);
    ASSERT_TRUE(fd.ok()) << fd.error().message;
    char buf[4];
    ASSERT_EQ(::read(fd->get(), buf, 4), 4);
    EXPECT_EQ(std::string(buf, 4), "THAW");
    got = vmm.got_;
  }
  EXPECT_EQ(got, "CONNECT 1024\n");
}

TEST(HybridVsock, RefusalsAndSilenceAreErrors) {
  {
    FakeVmm vmm("", "");  // silent for 300 ms, then closes
    auto fd = connect_hybrid_vsock(vmm.path(), 1024, 100);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.error().message.find("within 100 ms"), std::string::npos)
        << fd.error().message;
  }
  {
    FakeVmm vmm("NO\n", "");
    auto fd = connect_hybrid_vsock(vmm.path(), 1024, 2000);
    ASSERT_FALSE(fd.ok());
    EXPECT_NE(fd.error().message.find("instead of 'OK <port>'"), std::string::npos);
  }
  auto none = connect_hybrid_vsock("/nonexistent/vmm.sock", 1024, 100);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("/nonexistent/vmm.sock"), std::string::npos);
}

}  // namespace
}  // namespace thaw
