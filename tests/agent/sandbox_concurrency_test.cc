// Integration tests of agent/invoke/ through a real thawd: reserved
// concurrency (429 with Lambda's Reason, 0 throttles all, the unreserved
// floor), provisioned concurrency (sandboxes initialised before any invoke,
// no Init Duration, replaced when they die), warm reuse on the loop path,
// timeouts, layers at /opt, and the settings surviving a restart.
#include <dirent.h>

#include <sstream>

#include "tests/agent/thawd_harness.h"

namespace thaw::agent::testing {
namespace {

namespace json = boost::json;

class SandboxConcurrency : public ThawdHarness {
 protected:
  Response put_reserved(const std::string& name, const std::string& body) {
    return request("PUT", "/2017-10-31/functions/" + name + "/concurrency", body);
  }
  Response provisioned(const std::string& method, const std::string& name,
                       const std::string& qualifier, const std::string& body = "") {
    return request(method,
                   "/2019-09-30/functions/" + name + "/provisioned-concurrency?Qualifier=" + qualifier,
                   body);
  }
  int64_t health_count(const char* field) {
    auto h = health();
    return h.is_object() ? h.at(field).to_number<int64_t>() : -1;
  }
  // thawd's children that are sandboxes (thaw-init as PID 1 of a namespace).
  std::vector<pid_t> sandbox_pids() {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    while (dirent* e = d ? ::readdir(d) : nullptr) {
      pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      std::string stat = read_text("/proc/" + std::string(e->d_name) + "/stat");
      size_t paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      int ppid = 0;
      char state = 0;
      if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2 && ppid == pid_ &&
          stat.find("(thaw-init)") != std::string::npos) {
        out.push_back(pid);
      }
    }
    if (d) ::closedir(d);
    return out;
  }
};

TEST_F(SandboxConcurrency, ReservedOneThrottlesTheSecondConcurrentInvoke) {
  ASSERT_EQ(create_echo("one", {{"Timeout", 10}}).status, 201u);
  Response r = put_reserved("one", R"({"ReservedConcurrentExecutions": 1})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("ReservedConcurrentExecutions"), 1);
  r = request("GET", "/2015-03-31/functions/one");
  EXPECT_EQ(r.json().at("Concurrency").at("ReservedConcurrentExecutions"), 1) << r.body;
  r = request("GET", "/2019-09-30/functions/one/concurrency");
  EXPECT_EQ(r.json().at("ReservedConcurrentExecutions"), 1) << r.body;

  Response slow;
  std::thread t([&] { slow = invoke("one", R"({"sleep":2})"); });
  ASSERT_TRUE(eventually([&] { return health_count("busy_sandboxes") == 1; }, 10));
  r = invoke("one", R"({"n":2})");
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "TooManyRequestsException");
  EXPECT_EQ(r.json().at("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded") << r.body;
  t.join();
  EXPECT_EQ(slow.status, 200u) << slow.body;
  EXPECT_EQ(slow.body, R"({"echo":{"sleep":2}})");
  r = invoke("one", R"({"n":3})");
  EXPECT_EQ(r.status, 200u) << "the reservation frees up when the first invoke ends: " << r.body;
}

TEST_F(SandboxConcurrency, ReservedZeroThrottlesEveryInvokeUntilDeleted) {
  ASSERT_EQ(create_echo("zero").status, 201u);
  ASSERT_EQ(put_reserved("zero", R"({"ReservedConcurrentExecutions": 0})").status, 200u);
  Response r = invoke("zero", "{}");
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_EQ(r.json().at("Reason"), "ReservedFunctionConcurrentInvocationLimitExceeded");
  EXPECT_NE(r.body.find("ReservedConcurrentExecutions 0"), std::string::npos) << r.body;
  EXPECT_EQ(request("DELETE", "/2017-10-31/functions/zero/concurrency").status, 204u);
  EXPECT_EQ(request("GET", "/2019-09-30/functions/zero/concurrency").body, "{}");
  EXPECT_EQ(invoke("zero", "{}").status, 200u);
  EXPECT_FALSE(request("GET", "/2015-03-31/functions/zero").json().as_object().contains("Concurrency"));
}

TEST_F(SandboxConcurrency, ReservationsKeepTenPercentUnreservedAndRejectBadBodies) {
  stop(SIGTERM);
  start({"--max-sandboxes", "10"});
  ASSERT_EQ(create_echo("a").status, 201u);
  ASSERT_EQ(create_echo("b").status, 201u);
  Response r = put_reserved("a", R"({"ReservedConcurrentExecutions": 10})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidParameterValueException");
  EXPECT_NE(r.body.find("below its minimum value of [1]"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("can reserve at most 9"), std::string::npos) << r.body;
  EXPECT_EQ(put_reserved("a", R"({"ReservedConcurrentExecutions": 9})").status, 200u);
  r = put_reserved("b", R"({"ReservedConcurrentExecutions": 1})");
  EXPECT_EQ(r.status, 400u) << "9 + 1 would leave nothing unreserved: " << r.body;
  EXPECT_EQ(put_reserved("a", R"({"ReservedConcurrentExecutions": 8})").status, 200u)
      << "changing a function's own reservation does not count it twice";
  EXPECT_EQ(put_reserved("b", R"({"ReservedConcurrentExecutions": 1})").status, 200u);

  r = put_reserved("a", "{not json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidRequestContentException");
  r = put_reserved("a", R"({"ReservedConcurrentExecutions": "3"})");
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidRequestContentException") << r.body;
  r = put_reserved("a", R"({"ReservedConcurrentExecutions": -1})");
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidParameterValueException") << r.body;
  r = put_reserved("a", R"({"ReservedConcurrentExecutions": 1, "Extra": 2})");
  EXPECT_NE(r.body.find("unknown field 'Extra'"), std::string::npos) << r.body;
  r = put_reserved("missing", R"({"ReservedConcurrentExecutions": 1})");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "ResourceNotFoundException");
}

TEST_F(SandboxConcurrency, WarmInvokesReuseOneSandboxOnTheLoopPath) {
  ASSERT_EQ(create_echo("warm").status, 201u);
  for (int i = 0; i < 20; ++i) {
    Response r = invoke("warm", "{\"n\":" + std::to_string(i) + "}");
    ASSERT_EQ(r.status, 200u) << r.body;
    ASSERT_EQ(r.body, "{\"echo\":{\"n\":" + std::to_string(i) + "}}");
  }
  EXPECT_EQ(health_count("idle_sandboxes"), 1);
  std::string log = function_log("warm");
  EXPECT_EQ(count(log, "REPORT RequestId: "), 20u) << log;
  EXPECT_EQ(count(log, "Init Duration: "), 1u) << log;

  // Three at once need three sandboxes; afterwards all three are warm.
  std::vector<std::thread> threads;
  std::vector<Response> rs(3);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { rs[i] = invoke("warm", R"({"sleep":1})"); });
  }
  for (auto& t : threads) t.join();
  for (auto& r : rs) EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(health_count("idle_sandboxes"), 3);
}

TEST_F(SandboxConcurrency, TimeoutKillsOnTheLoopAndTheNextInvokeWorks) {
  ASSERT_EQ(create_echo("late", {{"Timeout", 1}}).status, 201u);
  ASSERT_EQ(invoke("late", "{}").status, 200u);  // warm first: the timeout hits a warm sandbox
  auto before = sandbox_pids();
  ASSERT_EQ(before.size(), 1u);
  Response r = invoke("late", R"({"sleep":30})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(r.body.find("Task timed out after 1.00 seconds"), std::string::npos) << r.body;
  EXPECT_TRUE(eventually([&] { return sandbox_pids().empty(); }, 5)) << "the sandbox was killed";
  r = invoke("late", R"({"n":1})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, R"({"echo":{"n":1}})");
}

TEST_F(SandboxConcurrency, ProvisionedSandboxesAreReadyBeforeAnyInvoke) {
  ASSERT_EQ(create_echo("prov").status, 201u);
  Response r = request("POST", "/2015-03-31/functions/prov/versions", "{}");
  ASSERT_EQ(r.status, 201u) << r.body;
  ASSERT_EQ(r.json().at("Version"), "1");

  r = provisioned("PUT", "prov", "$LATEST", R"({"ProvisionedConcurrentExecutions": 2})");
  EXPECT_EQ(r.status, 400u) << r.body;
  r = provisioned("PUT", "prov", "7", R"({"ProvisionedConcurrentExecutions": 2})");
  EXPECT_EQ(r.status, 404u) << "version 7 does not exist: " << r.body;
  r = provisioned("GET", "prov", "1");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "ProvisionedConcurrencyConfigNotFoundException");

  r = provisioned("PUT", "prov", "1", R"({"ProvisionedConcurrentExecutions": 2})");
  ASSERT_EQ(r.status, 202u) << r.body;
  EXPECT_EQ(r.json().at("RequestedProvisionedConcurrentExecutions"), 2);
  ASSERT_TRUE(eventually([&] { return provisioned("GET", "prov", "1").json().at("Status") == "READY"; },
                         30))
      << provisioned("GET", "prov", "1").body << log_text();
  auto st = provisioned("GET", "prov", "1").json();
  EXPECT_EQ(st.at("AllocatedProvisionedConcurrentExecutions"), 2);
  EXPECT_EQ(st.at("AvailableProvisionedConcurrentExecutions"), 2);
  // /agent/v1/health counts idle provisioned sandboxes apart from on-demand ones.
  EXPECT_EQ(health_count("provisioned_sandboxes"), 2) << "two sandboxes exist before any invoke";
  EXPECT_EQ(health_count("idle_sandboxes"), 0);
  EXPECT_EQ(sandbox_pids().size(), 2u);

  r = invoke("prov", R"({"p":1})", "X-Amz-Log-Type: Tail\r\n", "1");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-Amz-Executed-Version"), "1");
  auto tail = base64_decode(r.header("X-Amz-Log-Result"));
  ASSERT_TRUE(tail.has_value());
  std::string tail_text(tail->begin(), tail->end());
  EXPECT_NE(tail_text.find("START RequestId: "), std::string::npos) << tail_text;
  EXPECT_NE(tail_text.find("Version: 1"), std::string::npos) << tail_text;
  EXPECT_EQ(tail_text.find("Init Duration"), std::string::npos) << tail_text;
  EXPECT_EQ(health_count("provisioned_sandboxes"), 2) << "the provisioned sandbox is warm again";

  // One dies: the pool replaces it.
  auto pids = sandbox_pids();
  ASSERT_FALSE(pids.empty());
  ::kill(pids[0], SIGKILL);
  EXPECT_TRUE(eventually([&] {
    auto now = sandbox_pids();
    return now.size() == 2 && std::find(now.begin(), now.end(), pids[0]) == now.end();
  }, 30)) << "a dead provisioned sandbox is re-created";

  // Idle reaping never takes provisioned sandboxes.
  stop(SIGTERM);
  start({"--idle-timeout", "1"});
  ASSERT_TRUE(eventually([&] { return health_count("provisioned_sandboxes") == 2; }, 30))
      << "provisioned again after a restart";
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(health_count("provisioned_sandboxes"), 2);

  r = provisioned("GET", "prov", "");
  EXPECT_EQ(r.status, 400u) << "Get needs a Qualifier: " << r.body;
  r = request("GET", "/2019-09-30/functions/prov/provisioned-concurrency");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("ProvisionedConcurrencyConfigs").as_array().size(), 1u);
  EXPECT_EQ(provisioned("DELETE", "prov", "1").status, 204u);
  EXPECT_TRUE(eventually([&] { return sandbox_pids().empty(); }, 10));
}

TEST_F(SandboxConcurrency, DeletingAFunctionDeletesItsConcurrencySettings) {
  ASSERT_EQ(create_echo("gone").status, 201u);
  ASSERT_EQ(put_reserved("gone", R"({"ReservedConcurrentExecutions": 0})").status, 200u);
  ASSERT_EQ(request("DELETE", "/2015-03-31/functions/gone").status, 204u);
  ASSERT_EQ(create_echo("gone").status, 201u);
  EXPECT_EQ(request("GET", "/2019-09-30/functions/gone/concurrency").body, "{}");
  EXPECT_EQ(invoke("gone", "{}").status, 200u) << "the old reservation of 0 no longer throttles";
}

TEST_F(SandboxConcurrency, SettingsSurviveARestart) {
  ASSERT_EQ(create_echo("keep").status, 201u);
  ASSERT_EQ(put_reserved("keep", R"({"ReservedConcurrentExecutions": 3})").status, 200u);
  stop(SIGKILL);
  start();
  Response r = request("GET", "/2019-09-30/functions/keep/concurrency");
  EXPECT_EQ(r.json().at("ReservedConcurrentExecutions"), 3) << r.body;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/state/concurrency.json"));

  // A damaged file is reported and ignored, never half-loaded.
  stop(SIGTERM);
  std::ofstream(dir_ + "/state/concurrency.json") << "{\"record_version\": 1, \"reserved\": {";
  start();
  EXPECT_NE(log_text().find("ignoring concurrency settings"), std::string::npos) << log_text();
  EXPECT_EQ(request("GET", "/2019-09-30/functions/keep/concurrency").body, "{}");
}

// The sandbox's cgroup file `leaf` in the hierarchy holding `controller`
// (v1: "memory:/thaw/sbx-..."; v2: "0::/thaw/sbx-...").
std::string cgroup_value(pid_t pid, const std::string& controller, const std::string& leaf) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/cgroup"));
  std::string line;
  while (std::getline(in, line)) {
    size_t a = line.find(':'), b = line.find(':', a + 1);
    std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    for (const std::string& root : {"/sys/fs/cgroup/" + controller, std::string("/sys/fs/cgroup"),
                                    std::string("/sys/fs/cgroup/unified")}) {
      bool v1 = ("," + controllers + ",").find("," + controller + ",") != std::string::npos;
      if ((v1 || controllers.empty()) && std::filesystem::exists(root + path + "/" + leaf)) {
        std::string v = read_text(root + path + "/" + leaf);
        while (!v.empty() && v.back() == '\n') v.pop_back();
        return v;
      }
    }
  }
  return "";
}

TEST_F(SandboxConcurrency, MemorySizeSetsTheMemoryLimitAndAProportionalCpuShare) {
  ASSERT_EQ(create_echo("small", {{"MemorySize", 128}}).status, 201u);
  ASSERT_EQ(create_echo("onecpu", {{"MemorySize", 1769}}).status, 201u);
  ASSERT_EQ(invoke("small", "{}").status, 200u);
  auto pids = sandbox_pids();
  ASSERT_EQ(pids.size(), 1u);
  std::string mem = cgroup_value(pids[0], "memory", "memory.limit_in_bytes");
  if (mem.empty()) mem = cgroup_value(pids[0], "memory", "memory.max");
  EXPECT_EQ(mem, std::to_string(128ull << 20));
  std::string quota = cgroup_value(pids[0], "cpu", "cpu.cfs_quota_us");
  std::string v2 = cgroup_value(pids[0], "cpu", "cpu.max");
  // 128 / 1769 of a 100 ms period.
  EXPECT_TRUE(quota == "7235" || v2 == "7235 100000") << "v1 '" << quota << "' v2 '" << v2 << "'";

  ASSERT_EQ(invoke("onecpu", "{}").status, 200u);
  pids = sandbox_pids();
  ASSERT_EQ(pids.size(), 2u);
  for (pid_t pid : pids) {
    quota = cgroup_value(pid, "cpu", "cpu.cfs_quota_us");
    v2 = cgroup_value(pid, "cpu", "cpu.max");
    if (quota == "7235" || v2 == "7235 100000") continue;
    EXPECT_TRUE(quota == "100000" || v2 == "100000 100000") << "v1 '" << quota << "' v2 '" << v2 << "'";
  }
}

TEST_F(SandboxConcurrency, ARuntimeKilledForMemoryIsRuntimeOutOfMemoryAndReplaced) {
  ASSERT_EQ(create_echo("hog", {{"MemorySize", 256}, {"Timeout", 60}}).status, 201u);
  Response r = invoke("hog", R"({"hog":1})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(r.body.find("Runtime.OutOfMemory"), std::string::npos) << r.body;
  r = invoke("hog", R"({"n":1})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, R"({"echo":{"n":1}})") << "a fresh sandbox after the OOM kill";
}

TEST_F(SandboxConcurrency, LayersAreStackedAtOptLaterLayersWin) {
  auto publish = [&](const std::string& layer, const std::vector<ZipEntry>& files) {
    json::object o{{"Content", json::object{{"ZipFile", base64_encode(make_zip(files))}}}};
    Response r = request("POST", "/2018-10-31/layers/" + layer + "/versions", json::serialize(o));
    EXPECT_EQ(r.status, 201u) << r.body;
    return std::string(r.json().at("LayerVersionArn").as_string());
  };
  std::string first = publish("base", {{"shared.txt", "from-base"}, {"base.txt", "only-base"}});
  std::string second = publish("top", {{"shared.txt", "from-top"}});
  const char* bootstrap = R"BASH(#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  hdr=$(mktemp)
  curl -sS -D "$hdr" "$api/invocation/next" >/dev/null
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdr" | cut -d: -f2 | tr -d '[:space:]')
  curl -sS -X POST "$api/invocation/$id/response" \
    -d "{\"shared\":\"$(cat /opt/shared.txt)\",\"base\":\"$(cat /opt/base.txt)\"}" >/dev/null
done
)BASH";
  Response r = create("layered", "provided", "", {{"bootstrap", bootstrap, 0755}},
                      {{"Layers", json::array{first, second}}});
  ASSERT_EQ(r.status, 201u) << r.body;
  r = invoke("layered", "{}");
  ASSERT_EQ(r.status, 200u) << r.body << log_text();
  EXPECT_EQ(r.body, R"({"shared":"from-top","base":"only-base"})");
}

}  // namespace
}  // namespace thaw::agent::testing
