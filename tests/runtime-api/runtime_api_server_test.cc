// Conformance tests of the Runtime API server over real HTTP sockets: every
// endpoint, the status codes and bodies Lambda uses, long-polls, limits,
// malformed and truncated requests, and a runtime that goes away.
#include "runtime-api/runtime_api_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

// GCC's -Wmaybe-uninitialized misfires inside Beast's boost::optional use
// (sanitizer and -O3 builds); the headers are not ours to change.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#pragma GCC diagnostic pop
#include <condition_variable>
#include <future>
#include <gtest/gtest.h>
#include <mutex>
#include <thread>

namespace thaw {
namespace {
namespace http = boost::beast::http;

struct Recorder : RuntimeApiEvents {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> events;

  void add(std::string e) {
    std::lock_guard lock(mu);
    events.push_back(std::move(e));
    cv.notify_all();
  }
  void on_ready(ReadyKind k) override {
    add(k == ReadyKind::kInitDone        ? "ready:init"
        : k == ReadyKind::kSnapshotReady ? "ready:snapshot"
                                         : "ready:restored");
  }
  void on_response(const std::string& id, std::span<const uint8_t> body, bool more) override {
    add(fmt::format("response:{}:{}:{}", id, more ? "more" : "end",
                    body.size() > 64 ? fmt::format("<{} bytes>", body.size())
                                     : std::string(body.begin(), body.end())));
  }
  void on_invocation_error(const std::string& id, ErrorReport r) override {
    add(fmt::format("error:{}:{}:{}", id, r.error_type, r.body.substr(0, 200)));
  }
  void on_init_error(ErrorReport r) override { add("init-error:" + r.error_type + ":" + r.body); }
  void on_restore_error(ErrorReport r) override { add("restore-error:" + r.error_type); }

  // Waits until `n` events exist; returns a copy.
  std::vector<std::string> wait_for(size_t n) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, std::chrono::seconds(5), [&] { return events.size() >= n; });
    return events;
  }
};

class RuntimeApi : public ::testing::Test {
 protected:
  void SetUp() override {
    // The ring is single-issuer: create and run it on the same thread.
    std::promise<std::string> ready;
    thread_ = std::thread([this, &ready] {
      auto loop = IoLoop::create();
      if (!loop.ok()) return ready.set_value(loop.error().message);
      loop_ = std::move(*loop);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      auto server = RuntimeApiServer::create(*loop_, addr, rec_);
      if (!server.ok()) return ready.set_value(server.error().message);
      server_ = std::move(*server);
      ready.set_value("");
      auto ran = loop_->run();
      if (!ran.ok()) ADD_FAILURE() << ran.error().message;
    });
    std::string err = ready.get_future().get();
    ASSERT_EQ(err, "");
  }
  void TearDown() override {
    if (loop_) loop_->stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
  }
  // Runs fn on the loop thread and waits for it.
  void on_loop(std::function<void()> fn) {
    std::promise<void> done;
    loop_->post([&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  // Polls the server, on its loop, until exactly `n` /next calls are parked
  // (about a second at most); the test's own checks then say what is wrong.
  void wait_for_parked_next_calls(size_t n) {
    for (int i = 0; i < 1000; ++i) {
      size_t waiting = 0;
      on_loop([&] { waiting = server_->waiting_next_calls(); });
      if (waiting == n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  void deliver(const std::string& id, std::string payload, std::string trace = "") {
    on_loop([&] {
      Invocation inv;
      inv.deadline_ms = 1700000000000;
      inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
      inv.trace_id = trace;
      inv.payload.assign(payload.begin(), payload.end());
      server_->deliver(id, std::move(inv));
    });
  }

  UniqueFd connect() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server_->port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    timeval tv{5, 0};
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  static void send_str(int fd, std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << strerror(errno);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  struct Reply {
    unsigned status = 0;
    std::string body;
    http::fields headers;
    bool closed = false;  // server closed after the reply
  };
  // Reads exactly one HTTP response from fd.
  static Reply read_reply(int fd, std::string* leftover = nullptr) {
    http::response_parser<http::string_body> p;
    p.body_limit(64u << 20);
    std::string buf = leftover ? *leftover : std::string();
    Reply r;
    char tmp[65536];
    for (;;) {
      boost::system::error_code ec;
      while (!buf.empty()) {
        size_t n = p.put(boost::asio::buffer(buf), ec);
        buf.erase(0, n);
        if (ec == http::error::need_more) {
          ec = {};
          if (n == 0) break;
          continue;
        }
        if (ec || p.is_done()) break;
      }
      if (ec) {
        ADD_FAILURE() << "bad reply: " << ec.message();
        return r;
      }
      if (p.is_done()) break;
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        r.closed = true;
        if (!p.is_done()) {
          ADD_FAILURE() << "connection ended before a full reply";
          return r;
        }
        break;
      }
      buf.append(tmp, static_cast<size_t>(n));
    }
    if (leftover) *leftover = buf;
    auto msg = p.release();
    r.status = msg.result_int();
    r.body = msg.body();
    r.headers = msg.base();
    return r;
  }
  Reply request(int fd, std::string_view method, std::string_view path, std::string_view body = {},
                std::string_view headers = {}) {
    send_str(fd, fmt::format("{} /2018-06-01/runtime/{} HTTP/1.1\r\nHost: x\r\n{}Content-Length: "
                             "{}\r\n\r\n{}",
                             method, path, headers, body.size(), body));
    return read_reply(fd);
  }
  Reply request(std::string_view method, std::string_view path, std::string_view body = {},
                std::string_view headers = {}) {
    UniqueFd fd = connect();
    return request(fd.get(), method, path, body, headers);
  }
  // GET /next on a fresh connection after delivering one invocation.
  Reply next_with(const std::string& id, std::string payload = "{}") {
    deliver(id, std::move(payload));
    return request("GET", "invocation/next");
  }
  static bool closed_by_peer(int fd) {
    char c;
    return ::recv(fd, &c, 1, 0) == 0;
  }

  Recorder rec_;
  std::unique_ptr<IoLoop> loop_;
  std::unique_ptr<RuntimeApiServer> server_;
  std::thread thread_;
};

constexpr char kId[] = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

TEST_F(RuntimeApi, NextLongPollsThenResponseIsAccepted) {
  UniqueFd fd = connect();
  send_str(fd.get(), "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(rec_.wait_for(1)[0], "ready:init");
  pollfd p{fd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0) << "GET /next must block until an invocation exists";
  deliver(kId, R"({"k":1})");
  Reply r = read_reply(fd.get());
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, R"({"k":1})");
  EXPECT_EQ(r.headers["Lambda-Runtime-Aws-Request-Id"], kId);
  EXPECT_EQ(r.headers["Lambda-Runtime-Deadline-Ms"], "1700000000000");
  EXPECT_EQ(r.headers["Lambda-Runtime-Invoked-Function-Arn"],
            "arn:aws:lambda:us-east-1:000000000000:function:f");
  // Only non-empty values become headers.
  EXPECT_EQ(r.headers.count("Lambda-Runtime-Trace-Id"), 0u);
  EXPECT_EQ(r.headers.count("Lambda-Runtime-Client-Context"), 0u);
  EXPECT_EQ(r.headers.count("Lambda-Runtime-Cognito-Identity"), 0u);
  EXPECT_EQ(server_->state(), RuntimeApiState::kInvoking);

  Reply ok = request(fd.get(), "POST", fmt::format("invocation/{}/response", kId), "\"done\"");
  EXPECT_EQ(ok.status, 202u);
  EXPECT_EQ(ok.body, "{\"status\":\"OK\"}\n");
  EXPECT_EQ(rec_.wait_for(2)[1], fmt::format("response:{}:end:\"done\"", kId));
}

TEST_F(RuntimeApi, TraceIdHeaderWhenPresent) {
  deliver(kId, "{}", "Root=1-abc");
  Reply r = request("GET", "invocation/next");
  EXPECT_EQ(r.headers["Lambda-Runtime-Trace-Id"], "Root=1-abc");
}

TEST_F(RuntimeApi, SecondResponseIs403InvalidStateTransition) {
  next_with(kId);
  EXPECT_EQ(request("POST", fmt::format("invocation/{}/response", kId), "1").status, 202u);
  Reply again = request("POST", fmt::format("invocation/{}/response", kId), "2");
  EXPECT_EQ(again.status, 403u);
  EXPECT_NE(again.body.find("\"errorType\":\"InvalidStateTransition\""), std::string::npos);
  EXPECT_NE(again.body.find("failed for runtime"), std::string::npos);
  Reply err = request("POST", fmt::format("invocation/{}/error", kId), "{}");
  EXPECT_EQ(err.status, 403u);
}

TEST_F(RuntimeApi, UnknownRequestIdIs400InvalidRequestID) {
  next_with(kId);
  Reply r = request("POST", "invocation/not-the-id/response", "1");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body, "{\"errorMessage\":\"Invalid request ID\",\"errorType\":\"InvalidRequestID\"}\n");
  // The real invocation is still open.
  EXPECT_EQ(request("POST", fmt::format("invocation/{}/response", kId), "1").status, 202u);
}

TEST_F(RuntimeApi, NextWhileInvokingIs403) {
  next_with(kId);
  Reply r = request("GET", "invocation/next");
  EXPECT_EQ(r.status, 403u);
  EXPECT_NE(r.body.find("InvalidStateTransition"), std::string::npos);
}

TEST_F(RuntimeApi, ErrorTypeHeaderKeptOnlyWhenItMatchesLambdaPattern) {
  struct Case {
    const char* header;
    const char* expect;
  } cases[] = {{"Function.MyError", "Function.MyError"},
               {"Runtime.ImportModuleError", "Runtime.ImportModuleError"},
               {"Function.lowercase", "Runtime.Unknown"},
               {"Other.Thing", "Runtime.Unknown"},
               {"Function.Has1Digit", "Runtime.Unknown"},
               {"Function.X", "Runtime.Unknown"}};
  int n = 0;
  for (const auto& c : cases) {
    std::string id = fmt::format("id-{}", n);
    next_with(id);
    Reply r = request("POST", fmt::format("invocation/{}/error", id),
                      R"({"errorMessage":"boom","errorType":"x","stackTrace":[]})",
                      fmt::format("Lambda-Runtime-Function-Error-Type: {}\r\n", c.header));
    EXPECT_EQ(r.status, 202u);
    auto ev = rec_.wait_for(static_cast<size_t>(2 + n));
    EXPECT_EQ(ev.back().substr(0, ev.back().find(":{")),
              fmt::format("error:{}:{}", id, c.expect))
        << c.header;
    ++n;
  }
  EXPECT_TRUE(is_valid_function_error_type("Runtime.ExitError"));
  EXPECT_FALSE(is_valid_function_error_type("Runtime."));
}

TEST_F(RuntimeApi, EmptyErrorBodyGetsLambdaShape) {
  next_with(kId);
  EXPECT_EQ(request("POST", fmt::format("invocation/{}/error", kId), "",
                    "Lambda-Runtime-Function-Error-Type: Function.Oops\r\n")
                .status,
            202u);
  EXPECT_EQ(rec_.wait_for(2)[1],
            fmt::format("error:{}:Function.Oops:{}", kId,
                        error_body_json("Function.Oops", "function error")));
}

TEST_F(RuntimeApi, ResponseAtTheLimitIsAcceptedOneMoreByteIs413) {
  next_with("a");
  std::string body(kMaxResponseBytes, 'x');
  EXPECT_EQ(request("POST", "invocation/a/response", body).status, 202u);
  EXPECT_EQ(rec_.wait_for(2)[1], "response:a:end:<6291556 bytes>");

  next_with("b");
  body.push_back('x');
  Reply r = request("POST", "invocation/b/response", body);
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.body,
            "{\"errorMessage\":\"Exceeded maximum allowed payload size (6291556 "
            "bytes).\",\"errorType\":\"RequestEntityTooLarge\"}\n");
  auto ev = rec_.wait_for(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].substr(0, 34), "error:b:Function.ResponseSizeTooLa");
  // The invocation is over: a retry is a state error, and /next works.
  EXPECT_EQ(request("POST", "invocation/b/response", "1").status, 403u);
  EXPECT_EQ(next_with("c").status, 200u);
}

TEST_F(RuntimeApi, TruncatedBodyIs400TruncatedHTTPRequest) {
  next_with(kId);
  UniqueFd fd = connect();
  send_str(fd.get(), fmt::format("POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\n"
                                 "Host: x\r\nContent-Length: 100\r\n\r\nonly-ten!!",
                                 kId));
  ::shutdown(fd.get(), SHUT_WR);
  Reply r = read_reply(fd.get());
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body,
            "{\"errorMessage\":\"HTTP request detected as "
            "truncated\",\"errorType\":\"TruncatedHTTPRequest\"}\n");
  // Nothing was reported; the runtime may still answer properly.
  EXPECT_EQ(request("POST", fmt::format("invocation/{}/response", kId), "ok").status, 202u);
}

TEST_F(RuntimeApi, MalformedRequestsAre400AndCloseOnlyThatConnection) {
  const char* garbage[] = {"NOT HTTP AT ALL\r\n\r\n",
                           "GET /2018-06-01/runtime/invocation/next HTTP/9.9\r\n\r\n",
                           "POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
                           "POST /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"};
  for (const char* g : garbage) {
    UniqueFd fd = connect();
    send_str(fd.get(), g);
    Reply r = read_reply(fd.get());
    EXPECT_EQ(r.status, 400u) << g;
    EXPECT_NE(r.body.find("InvalidRequestFormat"), std::string::npos) << g;
    EXPECT_TRUE(r.closed || closed_by_peer(fd.get())) << g;
  }
  UniqueFd big = connect();
  send_str(big.get(), "GET /" + std::string(70000, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(read_reply(big.get()).status, 400u);
  EXPECT_EQ(next_with(kId).status, 200u);
}

TEST_F(RuntimeApi, UnknownRouteIs404WrongMethodIs405) {
  EXPECT_EQ(request("GET", "nothing/here").status, 404u);
  EXPECT_EQ(request("POST", "invocation/next", "x").status, 405u);
  EXPECT_EQ(request("GET", "init/error").status, 405u);
  EXPECT_EQ(request("GET", fmt::format("invocation/{}/response", kId)).status, 405u);
}

TEST_F(RuntimeApi, ConcurrentLongPollsEachGetOneInvocation) {
  std::vector<UniqueFd> fds;
  for (int i = 0; i < 3; ++i) {
    fds.push_back(connect());
    send_str(fds.back().get(), "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  rec_.wait_for(1);
  // All three must be parked before the first invocation: a /next that
  // arrives while one is out is (correctly) a 403.
  wait_for_parked_next_calls(3);
  std::set<int> served;
  for (int round = 0; round < 3; ++round) {
    std::string id = fmt::format("req-{}", round);
    deliver(id, "{}");
    std::vector<pollfd> polls;
    for (auto& f : fds) polls.push_back({f.get(), POLLIN, 0});
    ASSERT_EQ(::poll(polls.data(), polls.size(), 5000), 1) << "exactly one long-poll answers";
    int which = -1;
    for (size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].revents & POLLIN) which = static_cast<int>(i);
    }
    Reply r = read_reply(fds[static_cast<size_t>(which)].get());
    EXPECT_EQ(r.headers["Lambda-Runtime-Aws-Request-Id"], id);
    EXPECT_TRUE(served.insert(which).second) << "a poller was served twice";
    EXPECT_EQ(request("POST", fmt::format("invocation/{}/response", id), "r").status, 202u);
  }
}

TEST_F(RuntimeApi, RuntimeDyingMidInvocationLeavesServerUsable) {
  {
    UniqueFd fd = connect();
    deliver(kId, "{}");
    Reply r = request(fd.get(), "GET", "invocation/next");
    EXPECT_EQ(r.status, 200u);
    send_str(fd.get(), fmt::format("POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\n"
                                   "Content-Length: 50\r\n\r\nhalf",
                                   kId));
  }  // the runtime dies: the socket closes with half a body sent
  deliver("queued-behind", "{}");
  std::vector<std::string> dropped;
  on_loop([&] { dropped = server_->reset_after_runtime_exit(); });
  EXPECT_EQ(dropped, std::vector<std::string>{"queued-behind"});
  EXPECT_EQ(server_->state(), RuntimeApiState::kInit);
  // A restarted runtime parks in GET /next and dies too: its closed
  // connection must leave the waiter list, not swallow the next invocation.
  {
    UniqueFd fd = connect();
    send_str(fd.get(), "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n");
    rec_.wait_for(2);
  }
  wait_for_parked_next_calls(0);
  Reply r = next_with("second");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.headers["Lambda-Runtime-Aws-Request-Id"], "second");
  auto ev = rec_.wait_for(2);
  EXPECT_EQ(std::count(ev.begin(), ev.end(), "ready:init"), 2);
}

TEST_F(RuntimeApi, InitErrorOnlyBeforeFirstNext) {
  Reply r = request("POST", "init/error", R"({"errorMessage":"no handler"})",
                    "Lambda-Runtime-Function-Error-Type: Runtime.HandlerNotFound\r\n");
  EXPECT_EQ(r.status, 202u);
  EXPECT_EQ(rec_.wait_for(1)[0], R"(init-error:Runtime.HandlerNotFound:{"errorMessage":"no handler"})");
  next_with(kId);
  EXPECT_EQ(request("POST", "init/error", "{}").status, 403u);
}

TEST_F(RuntimeApi, RestoreNextParksUntilRestoredThenHooksThenNext) {
  UniqueFd fd = connect();
  send_str(fd.get(), "GET /2018-06-01/runtime/restore/next HTTP/1.1\r\n\r\n");
  EXPECT_EQ(rec_.wait_for(1)[0], "ready:snapshot");
  EXPECT_EQ(request("POST", "restore/error", "{}").status, 403u) << "not restored yet";
  pollfd p{fd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 100), 0);
  on_loop([&] { server_->restored(); });
  EXPECT_EQ(read_reply(fd.get()).status, 200u);
  EXPECT_EQ(request("POST", "restore/error", "{}",
                    "Lambda-Runtime-Function-Error-Type: Runtime.RestoreHookFailed\r\n")
                .status,
            202u);
  EXPECT_EQ(rec_.wait_for(2)[1], "restore-error:Runtime.RestoreHookFailed");
  EXPECT_EQ(next_with(kId).status, 200u);
  EXPECT_EQ(rec_.wait_for(3)[2], "ready:restored");
  EXPECT_EQ(request("GET", "restore/next").status, 403u);
}

TEST_F(RuntimeApi, StreamedResponseIsForwardedChunkByChunk) {
  next_with(kId);
  UniqueFd fd = connect();
  send_str(fd.get(), fmt::format("POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\n"
                                 "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                                 kId));
  EXPECT_EQ(rec_.wait_for(2)[1], fmt::format("response:{}:more:hello", kId));
  send_str(fd.get(), "6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(read_reply(fd.get()).status, 202u);
  auto ev = rec_.wait_for(4);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2], fmt::format("response:{}:more: world", kId));
  EXPECT_EQ(ev[3], fmt::format("response:{}:end:", kId));
}

TEST_F(RuntimeApi, StreamedResponseErrorTrailersBecomeAnError) {
  next_with(kId);
  UniqueFd fd = connect();
  send_str(fd.get(), fmt::format("POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\n"
                                 "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
                                 "Trailer: Lambda-Runtime-Function-Error-Type\r\n"
                                 "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n"
                                 "Lambda-Runtime-Function-Error-Type: Function.Broke\r\n\r\n",
                                 kId));
  EXPECT_EQ(read_reply(fd.get()).status, 202u);
  auto ev = rec_.wait_for(3);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[2].substr(0, ev[2].find(":{")), fmt::format("error:{}:Function.Broke", kId));
}

TEST_F(RuntimeApi, BadResponseModeIs400) {
  next_with(kId);
  Reply r = request("POST", fmt::format("invocation/{}/response", kId), "x",
                    "Lambda-Runtime-Function-Response-Mode: sideways\r\n");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("InvalidFunctionResponseMode"), std::string::npos);
}

TEST_F(RuntimeApi, PipelinedRequestsAndExpectContinue) {
  next_with(kId);
  UniqueFd fd = connect();
  send_str(fd.get(), fmt::format("POST /2018-06-01/runtime/invocation/{}/response HTTP/1.1\r\n"
                                 "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n",
                                 kId));
  std::string left;
  EXPECT_EQ(read_reply(fd.get(), &left).status, 100u);
  send_str(fd.get(), "ok");
  EXPECT_EQ(read_reply(fd.get(), &left).status, 202u);
  deliver("p2", "{}");
  send_str(fd.get(),
           "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n"
           "POST /2018-06-01/runtime/invocation/p2/response HTTP/1.1\r\nContent-Length: 1\r\n\r\nz");
  EXPECT_EQ(read_reply(fd.get(), &left).status, 200u);
  EXPECT_EQ(read_reply(fd.get(), &left).status, 202u);
}

}  // namespace
}  // namespace thaw
