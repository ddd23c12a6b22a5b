// Tests of agent/http/http_server: keep-alive, replies given later (from
// another thread through the loop), per-request body limits decided from
// the header, malformed and truncated requests, and the SO_PEERCRED rule.
#include "agent/http/http_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <future>
#include <thread>

#include <gtest/gtest.h>

namespace thaw::agent {
namespace {

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-http-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // The ring is single-issuer: the loop thread creates it and the server.
    std::promise<std::string> ready;
    thread_ = std::thread([this, &ready] {
      auto loop = IoLoop::create();
      if (!loop) return ready.set_value(loop.error().message);
      loop_ = std::move(*loop);
      auto server = HttpServer::listen_unix(*loop_, options(), [this](HttpRequest& req,
                                                                      HttpReply reply) {
        handle(req, std::move(reply));
      });
      if (!server) return ready.set_value(server.error().message);
      server_ = std::move(*server);
      ready.set_value("");
      (void)loop_->run();
      server_.reset();
    });
    std::string error = ready.get_future().get();
    ASSERT_EQ(error, "");
  }
  HttpServerOptions options() {
    HttpServerOptions o;
    o.socket_path = dir_ + "/s.sock";
    o.body_limit = [](const HttpRequest& r) -> uint64_t {
      return r.target() == "/big" ? 1000 : 10;
    };
    o.render_error = [](unsigned status, std::string_view kind, std::string_view message) {
      return HttpResponse{status, {{"x-kind", std::string(kind)}}, std::string(message)};
    };
    return o;
  }
  void handle(HttpRequest& req, HttpReply reply) {
    ++handled_;
    if (req.target() == "/later") {
      // Answer from another thread, as the agent's workers do.
      std::thread([this, reply = std::move(reply)]() mutable {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        loop_->post([reply = std::move(reply)] { reply(HttpResponse{200, {}, "late"}); });
      }).detach();
      return;
    }
    reply(HttpResponse{200, {{"x-target", std::string(req.target())}}, req.body()});
  }
  void TearDown() override {
    if (loop_) loop_->stop();
    if (thread_.joinable()) thread_.join();
    std::filesystem::remove_all(dir_);
  }
  int connect_client() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string p = dir_ + "/s.sock";
    std::memcpy(a.sun_path, p.c_str(), p.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  // Reads until `count` complete responses (by Content-Length) or EOF.
  static std::string read_responses(int fd, int count) {
    std::string in;
    char buf[4096];
    for (;;) {
      int complete = 0;
      size_t pos = 0;
      while (true) {
        size_t end = in.find("\r\n\r\n", pos);
        if (end == std::string::npos) break;
        size_t cl = in.find("Content-Length: ", pos);
        size_t len = cl < end ? std::stoul(in.substr(cl + 16)) : 0;
        if (in.size() < end + 4 + len) break;
        pos = end + 4 + len;
        ++complete;
      }
      if (complete >= count) return in;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return in;
      in.append(buf, static_cast<size_t>(n));
    }
  }
  static void send_text(int fd, const std::string& s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
  }

  std::string dir_;
  std::unique_ptr<IoLoop> loop_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  std::atomic<int> handled_{0};
};

TEST_F(HttpServerTest, SocketIsCreated0660) {
  struct stat st{};
  ASSERT_EQ(::stat((dir_ + "/s.sock").c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsInOrderOnOneConnection) {
  int fd = connect_client();
  // Pipelined: the second waits until the first (answered later) is done.
  send_text(fd, "GET /later HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\n"
                "Content-Length: 3\r\n\r\nabc");
  std::string out = read_responses(fd, 2);
  size_t first = out.find("late");
  size_t second = out.find("x-target: /a");
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second) << out;
  EXPECT_EQ(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(handled_.load(), 2);
  ::close(fd);
}

TEST_F(HttpServerTest, BodyOverTheHeadersLimitIs413BeforeTheBodyArrives) {
  int fd = connect_client();
  send_text(fd, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
  std::string out = read_responses(fd, 1);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;
  EXPECT_NE(out.find("x-kind: RequestTooLargeException"), std::string::npos) << out;
  EXPECT_NE(out.find("smaller than 10 bytes"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  EXPECT_EQ(handled_.load(), 0);
  ::close(fd);
  // The limit follows the route: /big takes up to 1000.
  fd = connect_client();
  send_text(fd, "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
  out = read_responses(fd, 1);
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  ::close(fd);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitIs413) {
  int fd = connect_client();
  send_text(fd, "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  std::string out = read_responses(fd, 1);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;
  ::close(fd);
}

TEST_F(HttpServerTest, MalformedRequestIs400AndCloses) {
  int fd = connect_client();
  send_text(fd, "GARBAGE\r\n\r\n");
  std::string out = read_responses(fd, 1);
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  EXPECT_NE(out.find("malformed HTTP/1.1 request"), std::string::npos) << out;
  char c;
  EXPECT_EQ(::recv(fd, &c, 1, 0), 0) << "the server closes after a malformed request";
  ::close(fd);
}

TEST_F(HttpServerTest, TruncatedBodyIs400) {
  int fd = connect_client();
  send_text(fd, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab");
  ::shutdown(fd, SHUT_WR);
  std::string out = read_responses(fd, 1);
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  EXPECT_NE(out.find("ended before"), std::string::npos) << out;
  EXPECT_EQ(handled_.load(), 0);
  ::close(fd);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  int fd = connect_client();
  send_text(fd, "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string out = read_responses(fd, 2);  // EOF ends the read after one
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  ::close(fd);
}

TEST_F(HttpServerTest, ALiveSocketIsNotTakenOver) {
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop.ok());
  auto second = HttpServer::listen_unix(**loop, options(), [](HttpRequest&, HttpReply) {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use by a running server"), std::string::npos)
      << second.error().message;
  int fd = connect_client();  // the first server still answers
  send_text(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(read_responses(fd, 1).find("HTTP/1.1 200"), std::string::npos);
  ::close(fd);
}

TEST(HttpPeerCheck, RootOwnerAndGroupOnly) {
  EXPECT_TRUE(peer_allowed(0, 5, 1000, std::nullopt));
  EXPECT_TRUE(peer_allowed(1000, 5, 1000, std::nullopt));
  EXPECT_FALSE(peer_allowed(1001, 5, 1000, std::nullopt));
  EXPECT_TRUE(peer_allowed(1001, 990, 1000, 990));
  EXPECT_FALSE(peer_allowed(1001, 991, 1000, 990));
}

TEST(HttpServerListen, RefusesToReplaceANonSocket) {
  char tmpl[] = "/tmp/thaw-http-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/file";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fclose(f);
  auto loop = IoLoop::create();
  ASSERT_TRUE(loop.ok());
  HttpServerOptions o;
  o.socket_path = path;
  auto s = HttpServer::listen_unix(**loop, o, [](HttpRequest&, HttpReply) {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("is not a socket"), std::string::npos) << s.error().message;
  o.socket_path = std::string(200, 'x');
  s = HttpServer::listen_unix(**loop, o, [](HttpRequest&, HttpReply) {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("pick a shorter path"), std::string::npos);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace thaw::agent
