// Unit tests of agent/async's dispatcher, store and destinations with a fake
// invoker in a temporary state directory: tries counted exactly, records in
// Lambda's destination shape, finished events never re-run after a restart,
// the failure log, the event age, and the Unix-socket callback.
#include "agent/async/event_dispatcher.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/async/destination.h"
#include "agent/invoke/invoke_log.h"
#include "common/file_util.h"

namespace thaw::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using std::chrono::milliseconds;

class AsyncDispatcher : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-async-disp-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    sink_ = dir_ + "/sink";
    fs::create_directories(sink_);
    auto store = EventStore::open(dir_);
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    auto configs = EventConfigStore::open(dir_);
    ASSERT_TRUE(configs);
    configs_ = std::move(*configs);
  }
  void TearDown() override {
    dispatcher_.reset();
    remove_tree(dir_);
  }

  // Every try answers with `kinds[min(call, size-1)]`.
  void start(std::vector<AttemptKind> kinds) {
    DispatcherOptions o;
    o.threads = 2;
    o.timing = {milliseconds(5), milliseconds(2), milliseconds(20)};
    dispatcher_ = std::make_unique<EventDispatcher>(
        o, *store_, *configs_, [this, kinds](const QueuedEvent& e) {
          size_t n = calls_++;
          AttemptKind k = kinds[std::min(n, kinds.size() - 1)];
          AttemptOutcome out;
          out.kind = k;
          if (k == AttemptKind::kFunctionError) {
            out.function_error = "Unhandled";
            out.body = R"({"errorType":"Oops","errorMessage":"asked to fail"})";
          } else if (k == AttemptKind::kThrottled) {
            out.status_code = 429;
            out.body = R"({"errorType":"TooManyRequestsException"})";
          } else {
            out.body = "{\"echo\":" + e.payload + "}";
          }
          return out;
        });
    dispatcher_->start();
  }
  void configure(const std::string& json_body) {
    auto c = parse_event_invoke_config(json_body, nullptr);
    ASSERT_TRUE(c) << c.error().message;
    ASSERT_TRUE(configs_->put("fn", "$LATEST", *c));
  }
  QueuedEvent queue(const std::string& payload = R"({"n":1})") {
    QueuedEvent e;
    e.request_id = new_request_id();
    e.function = "fn";
    e.payload = payload;
    e.enqueued_ms = wall_clock_ms();
    EXPECT_TRUE(store_->write(e));
    return e;
  }
  // Waits for `path` to appear; returns its JSON (null on timeout).
  json::value wait_for_record(const std::string& path) {
    for (int i = 0; i < 500 && !fs::exists(path); ++i) std::this_thread::sleep_for(milliseconds(10));
    std::ifstream in(path);
    std::string text{std::istreambuf_iterator<char>(in), {}};
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    return ec ? json::value() : v;
  }
  void wait_until_gone(const std::string& request_id) {
    for (int i = 0; i < 500 && fs::exists(store_->event_path(request_id)); ++i) {
      std::this_thread::sleep_for(milliseconds(10));
    }
    EXPECT_FALSE(fs::exists(store_->event_path(request_id)));
  }

  std::string dir_, sink_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<EventConfigStore> configs_;
  std::unique_ptr<EventDispatcher> dispatcher_;
  std::atomic<size_t> calls_{0};
};

TEST_F(AsyncDispatcher, SuccessWritesLambdasRecordToTheOnSuccessDirectory) {
  configure(R"({"DestinationConfig":{"OnSuccess":{"Destination":"file://)" + sink_ + "\"}}}");
  start({AttemptKind::kSuccess});
  QueuedEvent e = queue(R"({"order":7})");
  dispatcher_->schedule(e);
  json::value r = wait_for_record(sink_ + "/" + e.request_id + ".json");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.at("version"), "1.0");
  EXPECT_EQ(r.at("timestamp").as_string().size(), 24u) << r.at("timestamp");
  const auto& rc = r.at("requestContext");
  EXPECT_EQ(rc.at("requestId").as_string(), e.request_id);
  EXPECT_EQ(rc.at("functionArn"), "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST");
  EXPECT_EQ(rc.at("condition"), "Success");
  EXPECT_EQ(rc.at("approximateInvokeCount"), 1);
  EXPECT_EQ(r.at("requestPayload").at("order"), 7);
  EXPECT_EQ(r.at("responseContext").at("statusCode"), 200);
  EXPECT_EQ(r.at("responseContext").at("executedVersion"), "$LATEST");
  EXPECT_FALSE(r.at("responseContext").as_object().contains("functionError"));
  EXPECT_EQ(r.at("responsePayload").at("echo").at("order"), 7);
  wait_until_gone(e.request_id);
  EXPECT_EQ(calls_, 1u);
}

TEST_F(AsyncDispatcher, FailingFunctionIsTriedOnePlusMaximumRetryAttemptsTimes) {
  for (int retries : {0, 1, 2}) {
    calls_ = 0;
    configure(R"({"MaximumRetryAttempts":)" + std::to_string(retries) + "}");
    start({AttemptKind::kFunctionError});
    QueuedEvent e = queue();
    dispatcher_->schedule(e);
    // No OnFailure destination: the failure log.
    json::value r = wait_for_record(store_->failed_dir() + "/" + e.request_id + ".json");
    ASSERT_TRUE(r.is_object()) << retries;
    EXPECT_EQ(r.at("requestContext").at("condition"), "RetriesExhausted");
    EXPECT_EQ(r.at("requestContext").at("approximateInvokeCount"), retries + 1);
    EXPECT_EQ(r.at("responseContext").at("functionError"), "Unhandled");
    EXPECT_EQ(r.at("responsePayload").at("errorType"), "Oops");
    wait_until_gone(e.request_id);
    dispatcher_.reset();
    EXPECT_EQ(calls_, static_cast<size_t>(retries + 1)) << "retries " << retries;
  }
}

TEST_F(AsyncDispatcher, ThrottlesAreRetriedWithoutCountingAsInvocations) {
  configure(R"({"MaximumRetryAttempts":0,"DestinationConfig":{"OnSuccess":{"Destination":")" +
            sink_ + "\"}}}");
  start({AttemptKind::kThrottled, AttemptKind::kThrottled, AttemptKind::kSuccess});
  QueuedEvent e = queue();
  dispatcher_->schedule(e);
  json::value r = wait_for_record(sink_ + "/" + e.request_id + ".json");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.at("requestContext").at("approximateInvokeCount"), 1);
  EXPECT_EQ(calls_, 3u);
}

TEST_F(AsyncDispatcher, AnEventPastItsMaximumAgeIsNeverRun) {
  configure(R"({"MaximumEventAgeInSeconds":60,"DestinationConfig":{"OnFailure":{"Destination":")" +
            sink_ + "\"}}}");
  start({AttemptKind::kSuccess});
  QueuedEvent e;
  e.request_id = new_request_id();
  e.function = "fn";
  e.payload = "{}";
  e.enqueued_ms = wall_clock_ms() - 61000;  // e.g. queued before a long outage
  ASSERT_TRUE(store_->write(e));
  dispatcher_->schedule(e);
  json::value r = wait_for_record(sink_ + "/" + e.request_id + ".json");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.at("requestContext").at("condition"), "EventAgeExceeded");
  EXPECT_EQ(r.at("requestContext").at("approximateInvokeCount"), 0);
  EXPECT_FALSE(r.as_object().contains("responseContext")) << "the function never ran";
  EXPECT_EQ(calls_, 0u);
}

TEST_F(AsyncDispatcher, RestartDeliversFinishedEventsAndRunsOnlyQueuedOnes) {
  configure(R"({"DestinationConfig":{"OnSuccess":{"Destination":")" + sink_ + "\"}}}");
  // As a crash would leave them: one succeeded (recorded, not yet removed),
  // one queued mid-retry, one damaged.
  QueuedEvent done = queue();
  done.state = EventState::kSucceeded;
  done.attempts = 1;
  done.destination = sink_;
  done.record = R"({"version":"1.0","marker":"recorded before the crash"})";
  ASSERT_TRUE(store_->write(done));
  QueuedEvent retry = queue();
  retry.attempts = 1;
  ASSERT_TRUE(store_->write(retry));
  std::ofstream(store_->event_path(new_request_id())) << "{\"record_version\":1";
  std::ofstream(store_->event_path(retry.request_id) + ".tmp.999") << "partial";

  EventStore::Loaded loaded = store_->load();
  ASSERT_EQ(loaded.events.size(), 2u);
  ASSERT_EQ(loaded.warnings.size(), 1u);
  EXPECT_NE(loaded.warnings[0].find("moved to " + store_->failed_dir()), std::string::npos)
      << loaded.warnings[0];
  EXPECT_FALSE(fs::exists(store_->event_path(retry.request_id) + ".tmp.999"));
  start({AttemptKind::kSuccess});
  for (auto& e : loaded.events) dispatcher_->schedule(e);
  json::value r = wait_for_record(sink_ + "/" + retry.request_id + ".json");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.at("requestContext").at("approximateInvokeCount"), 2) << "the try before the crash counts";
  json::value d = wait_for_record(sink_ + "/" + done.request_id + ".json");
  ASSERT_TRUE(d.is_object());
  EXPECT_EQ(d.at("marker"), "recorded before the crash") << "delivered as recorded, not re-run";
  wait_until_gone(done.request_id);
  wait_until_gone(retry.request_id);
  EXPECT_EQ(calls_, 1u) << "only the queued event ran";
}

TEST_F(AsyncDispatcher, StopLeavesQueuedEventsOnDisk) {
  configure(R"({"MaximumRetryAttempts":2})");
  start({AttemptKind::kSuccess});
  QueuedEvent e = queue();
  e.next_attempt_ms = wall_clock_ms() + 60000;
  ASSERT_TRUE(store_->write(e));
  dispatcher_->schedule(e);
  dispatcher_->stop();
  EXPECT_TRUE(dispatcher_->join_or_detach());
  EXPECT_TRUE(fs::exists(store_->event_path(e.request_id)));
  EXPECT_EQ(calls_, 0u);
}

// An HTTP server on a Unix socket: the i-th request gets statuses[i] (the
// last one repeats); it keeps the requests.
struct Callback {
  std::string path;
  int fd = -1;
  std::mutex mu;
  std::vector<std::string> requests;
  std::thread thread;
  Callback(const std::string& p, std::vector<int> statuses) : path(p) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size());
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(fd, 4), 0);
    thread = std::thread([this, statuses] {
      for (size_t i = 0;; ++i) {
        int c = ::accept(fd, nullptr, nullptr);
        if (c < 0) return;  // shut down
        std::string request;
        char buf[65536];
        ssize_t n;
        while ((n = ::recv(c, buf, sizeof buf, 0)) > 0) {
          request.append(buf, static_cast<size_t>(n));
          size_t end = request.find("\r\n\r\n");
          size_t cl = request.find("Content-Length: ");
          if (end != std::string::npos && cl != std::string::npos &&
              request.size() >= end + 4 + std::stoul(request.substr(cl + 16))) {
            break;
          }
        }
        {
          std::lock_guard lock(mu);  // counted before the client hears back
          requests.push_back(std::move(request));
        }
        int status = statuses[std::min(i, statuses.size() - 1)];
        std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
        (void)::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  size_t count() {
    std::lock_guard lock(mu);
    return requests.size();
  }
  ~Callback() {
    ::shutdown(fd, SHUT_RDWR);  // wakes the accept()
    thread.join();
    ::close(fd);
  }
};

TEST_F(AsyncDispatcher, UnixSocketCallbackGetsThePost) {
  Callback ok(dir_ + "/ok.sock", {204});
  Destination d{Destination::Kind::kUnixHttp, ok.path, "/v1/async-results"};
  ASSERT_TRUE(deliver_record(d, new_request_id(), R"({"version":"1.0"})"));
  ASSERT_EQ(ok.count(), 1u);
  const std::string& req = ok.requests[0];
  EXPECT_TRUE(req.starts_with("POST /v1/async-results HTTP/1.1\r\n")) << req;
  EXPECT_NE(req.find("Content-Type: application/json"), std::string::npos);
  EXPECT_TRUE(req.ends_with("\r\n\r\n{\"version\":\"1.0\"}")) << req;
  auto missing = deliver_record({Destination::Kind::kUnixHttp, dir_ + "/none.sock", "/"},
                                new_request_id(), "{}");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(dir_ + "/none.sock"), std::string::npos);
}

TEST_F(AsyncDispatcher, ARefusedRecordIsDeliveredAgainThenGoesToTheFailureLog) {
  Callback flaky(dir_ + "/flaky.sock", {503, 204});
  configure(R"({"DestinationConfig":{"OnSuccess":{"Destination":"unix://)" + flaky.path +
            ":/hook\"}}}");
  start({AttemptKind::kSuccess});
  QueuedEvent e = queue();
  dispatcher_->schedule(e);
  wait_until_gone(e.request_id);
  EXPECT_EQ(flaky.count(), 2u) << "refused once, delivered the second time";
  EXPECT_FALSE(fs::exists(store_->failed_dir() + "/" + e.request_id + ".json"));
  EXPECT_EQ(calls_, 1u) << "a delivery retry never re-runs the function";

  Callback down(dir_ + "/down.sock", {500});
  configure(R"({"DestinationConfig":{"OnSuccess":{"Destination":"unix://)" + down.path +
            ":/hook\"}}}");
  e = queue();
  dispatcher_->schedule(e);
  json::value r = wait_for_record(store_->failed_dir() + "/" + e.request_id + ".json");
  ASSERT_TRUE(r.is_object()) << "a record no one takes is kept in the failure log";
  EXPECT_EQ(r.at("requestContext").at("condition"), "Success");
  EXPECT_EQ(down.count(), 4u) << "the first delivery and 3 more";
}

}  // namespace
}  // namespace thaw::agent
