// Integration tests of thawd's service mode: start the real binary on a
// temporary socket and state directory and drive the Lambda API with raw
// HTTP/1.1 over the Unix socket. Functions run in the process backend, so
// the tests need root (namespaces, mounts); they skip otherwise.
#include "tests/agent/thawd_harness.h"

namespace thaw::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using testing::Response;

// The harness starts thawd in a temporary directory and speaks HTTP to it.
class ThawdApi : public testing::ThawdHarness {};

TEST_F(ThawdApi, CreateGetListDelete) {
  Response r = create_echo("echo", {{"MemorySize", 256}, {"Timeout", 7},
                                    {"Environment", json::object{{"Variables",
                                                                  json::object{{"GREETING", "hi"}}}}}});
  ASSERT_EQ(r.status, 201u) << r.body;
  auto created = json::parse(r.body).as_object();
  EXPECT_EQ(created.at("FunctionName"), "echo");
  EXPECT_EQ(created.at("MemorySize"), 256);
  EXPECT_EQ(created.at("Version"), "$LATEST");
  EXPECT_EQ(created.at("CodeSha256").as_string().size(), 44u);

  r = request("GET", "/2015-03-31/functions/echo");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto got = json::parse(r.body).at("Configuration").as_object();
  EXPECT_EQ(got.at("Timeout"), 7);
  EXPECT_EQ(got.at("Environment").at("Variables").at("GREETING"), "hi");

  ASSERT_EQ(create_echo("second").status, 201u);
  r = request("GET", "/2015-03-31/functions/");
  ASSERT_EQ(r.status, 200u);
  auto list = json::parse(r.body).at("Functions").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].at("FunctionName"), "echo");
  EXPECT_EQ(list[1].at("FunctionName"), "second");

  r = create_echo("echo");
  EXPECT_EQ(r.status, 409u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "ResourceConflictException");

  EXPECT_EQ(request("DELETE", "/2015-03-31/functions/echo").status, 204u);
  r = request("GET", "/2015-03-31/functions/echo");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "ResourceNotFoundException");
  EXPECT_EQ(request("DELETE", "/2015-03-31/functions/echo").status, 404u);
  EXPECT_FALSE(fs::exists(dir_ + "/state/functions/echo.json"));
}

TEST_F(ThawdApi, BadRequestsGetPreciseErrors) {
  Response r = request("POST", "/2015-03-31/functions", "{\"FunctionName\": ");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidRequestContentException");
  EXPECT_EQ(json::parse(r.body).at("Type"), "User");

  r = create_echo("typed", {{"Timeout", "ten"}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("'Timeout' must be a JSON integer"), std::string::npos) << r.body;

  r = create_echo("big", {{"MemorySize", 20000}});
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidParameterValueException");

  r = request("POST", "/2015-03-31/functions",
              R"({"FunctionName":"notzip","Runtime":"provided","Code":{"ZipFile":"aGVsbG8="}})");
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidParameterValueException");
  EXPECT_FALSE(fs::exists(dir_ + "/state/functions/notzip.json"));

  r = invoke("missing", "{}");
  EXPECT_EQ(r.status, 404u);
  EXPECT_NE(r.body.find("function:missing"), std::string::npos) << r.body;

  r = request("GET", "/2015-03-31/nothing");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "UnknownOperationException");

  ASSERT_EQ(create_echo("echo").status, 201u);
  r = invoke("echo", "not json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "InvalidRequestContentException");

  // 6 MB + 1 byte: refused from the header, the body is never read.
  std::string big(6291457, ' ');
  r = invoke("echo", big);
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "RequestTooLargeException");
  EXPECT_NE(r.body.find("6291456"), std::string::npos) << r.body;
}

TEST_F(ThawdApi, ProvidedFunctionRunsColdThenWarm) {
  ASSERT_EQ(create_echo("echo").status, 201u);
  Response cold = invoke("echo", R"({"n":1})", "X-Amz-Log-Type: Tail\r\n");
  ASSERT_EQ(cold.status, 200u) << cold.body << log_text();
  EXPECT_EQ(cold.body, R"({"echo":{"n":1}})");
  EXPECT_EQ(cold.header("X-Amz-Executed-Version"), "$LATEST");
  EXPECT_EQ(cold.header("X-Amz-Function-Error"), "");
  auto tail = base64_decode(cold.header("X-Amz-Log-Result"));
  ASSERT_TRUE(tail.has_value());
  std::string tail_text(tail->begin(), tail->end());
  EXPECT_NE(tail_text.find("Init Duration"), std::string::npos) << tail_text;

  Response warm = invoke("echo", R"({"n":2})");
  ASSERT_EQ(warm.status, 200u) << warm.body;
  EXPECT_EQ(warm.body, R"({"echo":{"n":2}})");
  auto health = json::parse(request("GET", "/agent/v1/health").body);
  EXPECT_EQ(health.at("idle_sandboxes"), 1) << "the warm invoke reused the sandbox";

  std::string log = function_log("echo");
  EXPECT_EQ(count(log, "START RequestId: "), 2u) << log;
  EXPECT_EQ(count(log, "END RequestId: "), 2u) << log;
  EXPECT_EQ(count(log, "REPORT RequestId: "), 2u) << log;
  EXPECT_EQ(count(log, "Init Duration: "), 1u) << "only the cold start has an Init phase\n" << log;
  EXPECT_EQ(count(log, "init from bash"), 1u) << log;
  EXPECT_NE(log.find("handling {\"n\":2}"), std::string::npos) << log;
  EXPECT_NE(log.find("Billed Duration: "), std::string::npos) << log;

  Response failed = invoke("echo", R"({"fail":true})");
  EXPECT_EQ(failed.status, 200u);
  EXPECT_EQ(failed.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(failed.body.find("asked to fail"), std::string::npos) << failed.body;
  EXPECT_EQ(invoke("echo", "{}").status, 200u) << "a handler error leaves the sandbox usable";
}

TEST_F(ThawdApi, TimeoutKillsTheSandboxAndTheNextInvokeStartsFresh) {
  ASSERT_EQ(create_echo("slow", {{"Timeout", 1}}).status, 201u);
  auto t0 = std::chrono::steady_clock::now();
  Response r = invoke("slow", R"({"sleep":5})");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-Amz-Function-Error"), "Unhandled");
  EXPECT_NE(r.body.find("Sandbox.Timedout"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("Task timed out after 1.00 seconds"), std::string::npos) << r.body;
  EXPECT_LT(secs, 4.0) << "the agent must not wait for the function";
  r = invoke("slow", R"({"n":3})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, R"({"echo":{"n":3}})");
  EXPECT_EQ(count(function_log("slow"), "Init Duration: "), 2u) << "a new sandbox after the kill";
}

TEST_F(ThawdApi, ConcurrencyBeyondMaxSandboxesIsThrottled) {
  stop(SIGTERM);
  start({"--max-sandboxes", "1"});
  ASSERT_EQ(create_echo("busy", {{"Timeout", 3}}).status, 201u);
  Response slow;
  std::thread t([&] { slow = invoke("busy", R"({"sleep":5})"); });
  // Wait until the one sandbox is busy, then ask for a second.
  for (int i = 0; i < 300; ++i) {
    auto h = json::parse(request("GET", "/agent/v1/health").body);
    if (h.at("busy_sandboxes") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  Response r = invoke("busy", "{}");
  EXPECT_EQ(r.status, 429u) << r.body;
  EXPECT_EQ(r.header("x-amzn-ErrorType"), "TooManyRequestsException");
  EXPECT_NE(r.body.find("--max-sandboxes"), std::string::npos) << r.body;
  t.join();
  EXPECT_NE(slow.body.find("Sandbox.Timedout"), std::string::npos) << slow.body;
  EXPECT_EQ(invoke("busy", "{}").status, 200u) << "the slot is free again after the timeout";
}

TEST_F(ThawdApi, IdleSandboxesAreReapedAfterTheKeepAlive) {
  stop(SIGTERM);
  start({"--idle-timeout", "1"});
  ASSERT_EQ(create_echo("idle").status, 201u);
  ASSERT_EQ(invoke("idle", "{}").status, 200u);
  EXPECT_EQ(json::parse(request("GET", "/agent/v1/health").body).at("idle_sandboxes"), 1);
  int idle = 1;
  for (int i = 0; i < 60 && idle != 0; ++i) {  // keep-alive 1 s + the 1 s reaper tick
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    idle = static_cast<int>(
        json::parse(request("GET", "/agent/v1/health").body).at("idle_sandboxes").as_int64());
  }
  EXPECT_EQ(idle, 0) << "the warm sandbox outlived --idle-timeout";
  Response r = invoke("idle", R"({"n":4})");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(count(function_log("idle"), "Init Duration: "), 2u) << "a reaped sandbox means a cold start";
}

TEST_F(ThawdApi, PythonFunctionRunsColdThenWarm) {
  const char* src = std::getenv("THAW_SOURCE_ROOT");
  ASSERT_NE(src, nullptr);
  std::string cmd = std::string(src) + "/guest/runtimes/build-image.sh python3.11 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p)) out = buf;
  int rc = p ? ::pclose(p) : -1;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  std::string image = out + "/image.erofs";
  if (rc != 0 || !fs::exists(image)) GTEST_SKIP() << "no python3.11 runtime image: " << cmd;
  stop(SIGTERM);
  start({"--runtime-image", "python3.11=" + image});

  std::ifstream sample(std::string(src) + "/tools/sample/lambda_function.py");
  std::string code{std::istreambuf_iterator<char>(sample), {}};
  ASSERT_FALSE(code.empty());
  Response r = create("py", "python3.11", "lambda_function.lambda_handler",
                      {{"lambda_function.py", code}});
  ASSERT_EQ(r.status, 201u) << r.body;
  for (int i = 0; i < 2; ++i) {
    r = invoke("py", R"({"name":"thaw"})");
    ASSERT_EQ(r.status, 200u) << r.body << log_text();
    EXPECT_EQ(r.header("X-Amz-Function-Error"), "") << r.body;
    auto body = json::parse(r.body);
    EXPECT_EQ(body.at("statusCode"), 200) << r.body;
    EXPECT_NE(r.body.find("hello, thaw"), std::string::npos) << r.body;
  }
  std::string log = function_log("py");
  EXPECT_EQ(count(log, "hello from py"), 2u) << log;
  EXPECT_EQ(count(log, "Init Duration: "), 1u) << log;
}

TEST_F(ThawdApi, RestartKeepsFunctionsAndSigtermIsGraceful) {
  ASSERT_EQ(create_echo("keep", {{"MemorySize", 512}}).status, 201u);
  ASSERT_EQ(invoke("keep", "{}").status, 200u);
  int status = stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << log_text();
  EXPECT_NE(log_text().find("draining"), std::string::npos);
  EXPECT_FALSE(fs::exists(socket_)) << "a stopped agent leaves no socket behind";

  start();
  Response r = request("GET", "/2015-03-31/functions/keep");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(json::parse(r.body).at("Configuration").at("MemorySize"), 512);
  r = invoke("keep", R"({"after":"restart"})");
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.body, R"({"echo":{"after":"restart"}})");

  // A damaged record is skipped with a warning naming it; the rest still load.
  std::ofstream(dir_ + "/state/functions/broken.json") << "{not json";
  stop(SIGTERM);
  start();
  EXPECT_EQ(request("GET", "/2015-03-31/functions/keep").status, 200u);
  EXPECT_NE(log_text().find("skipped function record " + dir_ + "/state/functions/broken.json"),
            std::string::npos)
      << log_text();
}

}  // namespace
}  // namespace thaw::agent
