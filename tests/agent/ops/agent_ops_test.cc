// Tests of agent/ops/agent_ops: the /agent/v1 routes against a fake
// AgentView (health, capacity, sandboxes, metrics, drain with its 503 gate,
// logs with offsets and long-poll) and the Invoke wrapper's metrics.
#include "agent/ops/agent_ops.h"

#include <chrono>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/agent/ops/prometheus_text.h"

namespace thaw::agent::ops {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using boost::beast::http::verb;

struct Answer {
  bool answered = false;
  HttpResponse response;
  std::string header(const std::string& name) const {
    for (const auto& [k, v] : response.headers) {
      if (k == name) return v;
    }
    return "";
  }
  json::value body() const { return json::parse(response.body); }
};

class AgentOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-ops-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto loop = IoLoop::create(64);
    ASSERT_TRUE(loop) << loop.error().message;
    loop_ = std::move(*loop);
    AgentView v;
    v.max_sandboxes = [] { return 8u; };
    v.counts = [this] { return counts_; };
    v.sandboxes = [this] { return rows_; };
    v.functions = [] { return size_t{2}; };
    v.function_exists = [](const std::string& f) { return f == "known" || f == "logged"; };
    v.kill_idle = [this] {
      ++kills_;
      counts_.idle = 0;
    };
    v.logs_dir = dir_;
    ops_ = std::make_unique<AgentOps>(*loop_, v, metrics_);
  }
  void TearDown() override {
    ops_->stop();
    ops_.reset();
    fs::remove_all(dir_);
  }

  // Offers a request to AgentOps; `answer` fills when its reply runs.
  bool offer(verb method, const std::string& target, std::shared_ptr<Answer> answer) {
    HttpRequest req;
    req.method(method);
    req.target(target);
    HttpReply reply = [answer](HttpResponse r) {
      answer->answered = true;
      answer->response = std::move(r);
    };
    bool handled = ops_->handle(req, reply);
    if (!handled) pending_ = std::move(reply);  // the router would call this
    return handled;
  }
  Answer ask(verb method, const std::string& target) {
    auto a = std::make_shared<Answer>();
    EXPECT_TRUE(offer(method, target, a)) << target;
    EXPECT_TRUE(a->answered) << target;
    return *a;
  }
  void run_until(const std::function<bool()>& done, int max_ms) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    while (!done() && std::chrono::steady_clock::now() < end) (void)loop_->run_once(20);
  }

  std::string dir_;
  std::unique_ptr<IoLoop> loop_;
  MetricsRegistry metrics_;
  std::unique_ptr<AgentOps> ops_;
  SandboxCounts counts_{2, 1, 1};
  std::vector<SandboxRow> rows_;
  int kills_ = 0;
  HttpReply pending_;
};

TEST_F(AgentOpsTest, HealthCapacityAndSandboxes) {
  Answer h = ask(verb::get, "/agent/v1/health");
  EXPECT_EQ(h.response.status, 200u);
  EXPECT_EQ(h.body().at("status"), "ok");
  EXPECT_EQ(h.body().at("idle_sandboxes"), 2);
  EXPECT_EQ(h.body().at("busy_sandboxes"), 1);

  rows_ = {{"f", "$LATEST", "busy", false, 42, 3u << 20, 256, 1.5, 7},
           {"g", "2", "idle", true, 43, 1u << 20, 128, 9, 0}};
  Answer c = ask(verb::get, "/agent/v1/capacity");
  ASSERT_EQ(c.response.status, 200u);
  auto cap = c.body().as_object();
  EXPECT_EQ(cap.at("max_sandboxes"), 8);
  EXPECT_EQ(cap.at("sandboxes").at("free_slots"), 4) << "8 - (2 idle + 1 busy + 1 provisioned)";
  EXPECT_EQ(cap.at("memory_mb").at("sandboxes_configured"), 384);
  EXPECT_EQ(cap.at("memory_mb").at("sandboxes_used"), 4);
  EXPECT_GT(cap.at("memory_mb").at("host_total").as_int64(), 0);
  EXPECT_EQ(cap.at("functions"), 2);
  EXPECT_EQ(cap.at("drain"), "serving");

  Answer s = ask(verb::get, "/agent/v1/sandboxes");
  auto list = s.body().at("sandboxes").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("function"), "f");
  EXPECT_EQ(list[0].at("pid"), 42);
  EXPECT_EQ(list[0].at("invocations"), 7);
  EXPECT_EQ(list[1].at("provisioned"), true);
}

TEST_F(AgentOpsTest, UnknownRoutesAndMethodsArePreciseErrors) {
  Answer a = ask(verb::get, "/agent/v1/nothing");
  EXPECT_EQ(a.response.status, 404u);
  EXPECT_NE(a.response.body.find("/agent/v1/{health"), std::string::npos) << a.response.body;
  Answer b = ask(verb::post, "/agent/v1/health");
  EXPECT_EQ(b.response.status, 405u);
  EXPECT_NE(b.response.body.find("takes GET"), std::string::npos) << b.response.body;
  auto other = std::make_shared<Answer>();
  EXPECT_FALSE(offer(verb::get, "/2015-03-31/functions/", other)) << "Lambda routes pass through";
}

TEST_F(AgentOpsTest, MetricsAreValidExpositionWithInvokeLatency) {
  auto a = std::make_shared<Answer>();
  ASSERT_FALSE(offer(verb::post, "/2015-03-31/functions/known/invocations", a));
  EXPECT_EQ(ops_->invocations_in_flight(), 1u);
  pending_(HttpResponse{404, {}, "{}"});  // the router refused it
  EXPECT_TRUE(a->answered);
  EXPECT_EQ(ops_->invocations_in_flight(), 0u);
  EXPECT_EQ(metrics_.invocations("known", Outcome::kClientError), 1u);
  EXPECT_EQ(metrics_.latency_count("known"), 1u);

  Answer m = ask(verb::get, "/agent/v1/metrics");
  EXPECT_EQ(m.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  auto samples = parse_prometheus_text(m.response.body);
  ASSERT_TRUE(samples) << samples.error().message;
  EXPECT_EQ(samples->at("thaw_invocations_total{function=\"known\",outcome=\"client_error\"}"), 1);
  EXPECT_EQ(samples->at("thaw_sandboxes{state=\"busy\"}"), 1);
}

TEST_F(AgentOpsTest, DrainRefusesNewInvokesUntilResumed) {
  auto inflight = std::make_shared<Answer>();
  ASSERT_FALSE(offer(verb::post, "/2015-03-31/functions/known/invocations", inflight));
  HttpReply finish_inflight = std::move(pending_);

  Answer d = ask(verb::post, "/agent/v1/drain");
  EXPECT_EQ(d.response.status, 202u);
  EXPECT_EQ(d.body().at("state"), "draining");
  EXPECT_EQ(d.body().at("source"), "api");
  EXPECT_EQ(kills_, 1) << "idle sandboxes end when the drain starts";
  EXPECT_EQ(ask(verb::post, "/agent/v1/drain").response.status, 200u) << "a second POST is no-op";

  Answer refused = ask(verb::post, "/2015-03-31/functions/known/invocations");
  EXPECT_EQ(refused.response.status, 503u);
  EXPECT_NE(refused.response.body.find("draining"), std::string::npos) << refused.response.body;
  EXPECT_EQ(metrics_.invocations("known", Outcome::kServiceError), 1u);
  EXPECT_EQ(ask(verb::get, "/agent/v1/health").body().at("status"), "draining");

  // The one in flight finishes; the busy sandbox returns to idle, the tick ends it.
  finish_inflight(HttpResponse{200, {}, "{}"});
  EXPECT_TRUE(inflight->answered);
  counts_ = {1, 0, 1};
  int kills_before = kills_;
  run_until([&] { return kills_ > kills_before; }, 2000);
  EXPECT_GT(kills_, kills_before) << "the drain tick ends sandboxes that became idle";
  Answer status = ask(verb::get, "/agent/v1/drain");
  EXPECT_EQ(status.body().at("state"), "drained") << status.response.body;
  EXPECT_EQ(status.body().at("refused_invocations"), 1);
  EXPECT_EQ(status.body().at("provisioned_sandboxes"), 1) << "provisioned ones are kept";

  EXPECT_EQ(ask(verb::delete_, "/agent/v1/drain").body().at("state"), "serving");
  auto again = std::make_shared<Answer>();
  EXPECT_FALSE(offer(verb::post, "/2015-03-31/functions/known/invocations", again));
  pending_(HttpResponse{200, {}, "{}"});

  ops_->begin_drain("signal");
  Answer cancel = ask(verb::delete_, "/agent/v1/drain");
  EXPECT_EQ(cancel.response.status, 409u);
  EXPECT_NE(cancel.response.body.find("SIGTERM"), std::string::npos);
}

TEST_F(AgentOpsTest, LogsReadFromAnOffset) {
  std::ofstream(dir_ + "/logged.log") << "START one\nEND one\n";
  Answer all = ask(verb::get, "/agent/v1/functions/logged/logs");
  EXPECT_EQ(all.response.status, 200u);
  EXPECT_EQ(all.response.body, "START one\nEND one\n");
  EXPECT_EQ(all.header("X-Thaw-Log-Offset"), "18");
  EXPECT_EQ(all.header("X-Thaw-Log-Size"), "18");

  Answer tail = ask(verb::get, "/agent/v1/functions/logged/logs?offset=10&limit=3");
  EXPECT_EQ(tail.response.body, "END");
  EXPECT_EQ(tail.header("X-Thaw-Log-Offset"), "13");

  Answer past = ask(verb::get, "/agent/v1/functions/logged/logs?offset=99");
  EXPECT_EQ(past.response.status, 400u);
  EXPECT_NE(past.response.body.find("past the end of the log (18 bytes)"), std::string::npos)
      << past.response.body;
  Answer bad = ask(verb::get, "/agent/v1/functions/logged/logs?offset=-1");
  EXPECT_EQ(bad.response.status, 400u);
  EXPECT_NE(bad.response.body.find("offset='-1'"), std::string::npos) << bad.response.body;
  EXPECT_EQ(ask(verb::get, "/agent/v1/functions/logged/logs?wait=61").response.status, 400u);

  Answer none = ask(verb::get, "/agent/v1/functions/known/logs");
  EXPECT_EQ(none.response.status, 200u) << "a function without invocations has an empty log";
  EXPECT_EQ(none.response.body, "");
  Answer missing = ask(verb::get, "/agent/v1/functions/ghost/logs");
  EXPECT_EQ(missing.response.status, 404u);
  EXPECT_EQ(ask(verb::get, "/agent/v1/functions/..%2Fetc/logs").response.status, 400u)
      << "the name check keeps the path inside the logs dir";
}

TEST_F(AgentOpsTest, LogsLongPollAnswersWhenLinesArrive) {
  std::ofstream(dir_ + "/logged.log") << "old\n";
  auto a = std::make_shared<Answer>();
  ASSERT_TRUE(offer(verb::get, "/agent/v1/functions/logged/logs?offset=4&wait=5", a));
  EXPECT_FALSE(a->answered) << "nothing new: the request waits";
  run_until([] { return false; }, 300);
  EXPECT_FALSE(a->answered);
  std::ofstream(dir_ + "/logged.log", std::ios::app) << "new line\n";
  run_until([&] { return a->answered; }, 3000);
  ASSERT_TRUE(a->answered);
  EXPECT_EQ(a->response.body, "new line\n");
  EXPECT_EQ(a->header("X-Thaw-Log-Offset"), "13");

  auto b = std::make_shared<Answer>();
  ASSERT_TRUE(offer(verb::get, "/agent/v1/functions/logged/logs?offset=13&wait=1", b));
  run_until([&] { return b->answered; }, 3000);
  ASSERT_TRUE(b->answered) << "the wait ends with an empty answer";
  EXPECT_EQ(b->response.status, 200u);
  EXPECT_EQ(b->response.body, "");
  EXPECT_EQ(b->header("X-Thaw-Log-Offset"), "13");
}

TEST(ReadLogSlice, RefusesWhatIsNotARegularFile) {
  EXPECT_FALSE(read_log_slice("/tmp", 0, 10));
  auto absent = read_log_slice("/nonexistent/thaw.log", 0, 10);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(absent->has_value());
}

}  // namespace
}  // namespace thaw::agent::ops
