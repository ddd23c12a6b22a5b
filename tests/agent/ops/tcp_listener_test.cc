// Tests of thawd's optional TCP listener: --tcp-listen address parsing
// (agent/http/tcp_address) with its loopback rule, and HttpServer::listen_tcp
// answering a Beast client (thawctl's ApiClient) over 127.0.0.1.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "agent/http/http_server.h"
#include "agent/http/tcp_address.h"
#include "agent/thawctl/api_client.h"

namespace thaw::agent {
namespace {

TEST(TcpAddress, LoopbackIsAcceptedAndRemoteNeedsTheFlag) {
  auto v4 = parse_tcp_listen("127.0.0.1:9000", false);
  ASSERT_TRUE(v4) << v4.error().message;
  EXPECT_TRUE(v4->loopback);
  EXPECT_EQ(v4->text, "127.0.0.1:9000");
  EXPECT_TRUE(parse_tcp_listen("127.8.9.10:1", false));
  auto v6 = parse_tcp_listen("[::1]:0", false);
  ASSERT_TRUE(v6) << v6.error().message;
  EXPECT_EQ(v6->text, "[::1]:0");
  EXPECT_EQ(parse_tcp_listen("localhost:80", false)->text, "127.0.0.1:80");

  auto remote = parse_tcp_listen("0.0.0.0:9000", false);
  ASSERT_FALSE(remote);
  EXPECT_NE(remote.error().message.find("not a loopback address"), std::string::npos);
  EXPECT_NE(remote.error().message.find("--tcp-allow-remote"), std::string::npos);
  EXPECT_TRUE(parse_tcp_listen("0.0.0.0:9000", true));
  EXPECT_FALSE(parse_tcp_listen("[::]:9000", false));

  for (const char* bad : {"9000", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "host:80",
                          "[::1:80", "127.0.0.1:8x"}) {
    EXPECT_FALSE(parse_tcp_listen(bad, true)) << bad;
  }
}

TEST(TcpListener, ServesRequestsOnLoopback) {
  auto loop = IoLoop::create(64);
  ASSERT_TRUE(loop);
  auto address = parse_tcp_listen("127.0.0.1:0", false);
  ASSERT_TRUE(address);
  HttpServerOptions o;
  o.body_limit = [](const HttpRequest&) { return uint64_t{1024}; };
  auto server = HttpServer::listen_tcp(
      **loop, o,
      [](HttpRequest& req, HttpReply reply) {
        reply(HttpResponse{200, {{"X-Echo", std::string(req.target())}}, req.body()});
      },
      *address);
  ASSERT_TRUE(server) << server.error().message;
  uint16_t port = (*server)->tcp_port();
  ASSERT_NE(port, 0);

  std::atomic<bool> done{false};
  Result<thawctl::ApiResponse> got = Error{"not run"};
  std::thread client([&] {
    thawctl::Endpoint ep;
    ep.tcp = true;
    ep.host = "127.0.0.1";
    ep.port = std::to_string(port);
    thawctl::ApiClient c(ep, std::chrono::seconds(10));
    got = c.call(boost::beast::http::verb::post, "/2015-03-31/functions/", "{\"a\":1}");
    done = true;
  });
  while (!done) (void)(*loop)->run_once(10);
  client.join();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->status, 200u);
  EXPECT_EQ(got->body, "{\"a\":1}");
  EXPECT_EQ(got->header("x-echo"), "/2015-03-31/functions/");
  (*server)->stop_accepting();
  (void)(*loop)->run_once(10);
}

}  // namespace
}  // namespace thaw::agent
