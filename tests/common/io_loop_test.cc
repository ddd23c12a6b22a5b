#include "common/io_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

namespace thaw {
namespace {

TEST(IoLoop, ReadCompletesThroughCallback) {
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop.ok()) << loop.error().message;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);

  char buf[16] = {};
  int got = -1;
  IoOp op;
  op.done = [&](int res, uint32_t) { got = res; };
  io_uring_prep_recv((*loop)->prepare(op), a.get(), buf, sizeof buf, 0);
  ASSERT_EQ(::write(b.get(), "hello", 5), 5);
  while (got < 0) ASSERT_TRUE((*loop)->run_once(1000).ok());
  EXPECT_EQ(got, 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_FALSE(op.in_flight);
}

TEST(IoLoop, MultishotWatchFiresPerReadiness) {
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop.ok());
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  int fired = 0;
  IoOp op;
  op.done = [&](int, uint32_t) {
    char c;
    while (::read(a.get(), &c, 1) == 1) ++fired;
  };
  (*loop)->watch(a.get(), op);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(::write(b.get(), "x", 1), 1);
    ASSERT_TRUE((*loop)->run_once(1000).ok());
  }
  EXPECT_EQ(fired, 3);
  EXPECT_TRUE(op.in_flight);
}

TEST(IoLoop, PostFromAnotherThreadAndStop) {
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop.ok());
  IoLoop* l = loop->get();
  bool ran = false;
  std::thread t([&] { l->post([&] { ran = true; l->stop(); }); });
  ASSERT_TRUE(l->run().ok());
  t.join();
  EXPECT_TRUE(ran);
}

}  // namespace
}  // namespace thaw
