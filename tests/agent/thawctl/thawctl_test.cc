// Integration tests of the thawctl binary against a real thawd (started on a
// temporary socket by ThawdHarness): create-function from fileb://, invoke
// with an outfile and Tail logs, get/list/delete, the AWS CLI's error lines
// and exit statuses, --output table, the /agent/v1 verbs (capacity,
// sandboxes, metrics counters), drain, logs --follow, the TCP listener, and
// the version/alias/concurrency/layer verbs against the agent's routes.
#include <fcntl.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "agent/api/base64.h"
#include "tests/agent/ops/prometheus_text.h"
#include "tests/agent/thawd_harness.h"

namespace thaw::agent::testing {
namespace {

namespace json = boost::json;

struct CliRun {
  int status = -1;  // exit status
  std::string out, err;
  json::value json() const {
    boost::system::error_code ec;
    auto v = json::parse(out, ec);
    return ec ? json::value() : v;
  }
};

// Runs a shell command; its stdout (add 2>&1 for stderr too) and exit status.
CliRun shell(const std::string& cmd) {
  CliRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class Thawctl : public ThawdHarness {
 protected:
  void SetUp() override {
    ThawdHarness::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    ASSERT_NE(std::getenv("THAW_THAWCTL"), nullptr) << "meson sets THAW_THAWCTL";
    zip_ = dir_ + "/echo.zip";
    auto bytes = make_zip({{"bootstrap", kEchoBootstrap, 0755}});
    std::ofstream(zip_, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                static_cast<std::streamsize>(bytes.size()));
  }

  // Runs thawctl with `args` (shell words) against this test's socket.
  CliRun thawctl(const std::string& args, const std::string& global = "") const {
    std::string err = dir_ + "/thawctl.err";
    CliRun r = shell("THAW_SOCKET=" + socket_ + " " + std::getenv("THAW_THAWCTL") + " " + global +
                     " " + args + " 2>" + err);
    r.err = read_text(err);
    return r;
  }
  CliRun create_echo_fn(const std::string& name, const std::string& extra = "") const {
    return thawctl("create-function --function-name " + name +
                   " --runtime provided --zip-file fileb://" + zip_ + " " + extra);
  }
  std::map<std::string, double> metrics() const {
    CliRun m = thawctl("metrics");
    EXPECT_EQ(m.status, 0) << m.err;
    auto samples = ops::parse_prometheus_text(m.out);
    EXPECT_TRUE(samples) << samples.error().message;
    return samples ? *samples : std::map<std::string, double>{};
  }

  std::string zip_;
};

TEST_F(Thawctl, CreateInvokeGetListDelete) {
  CliRun c = create_echo_fn("echo", "--memory-size 256 --timeout 5 "
                                 "--environment 'Variables={GREETING=hi,OTHER=\"a,b\"}'");
  ASSERT_EQ(c.status, 0) << c.err;
  EXPECT_EQ(c.json().at("FunctionName"), "echo");
  EXPECT_EQ(c.json().at("MemorySize"), 256);
  EXPECT_EQ(c.json().at("Environment").at("Variables").at("OTHER"), "a,b");

  std::string outfile = dir_ + "/out.json";
  CliRun inv = thawctl("invoke --function-name echo --payload '{\"n\":1}' --log-type Tail " + outfile);
  ASSERT_EQ(inv.status, 0) << inv.err << log_text();
  auto summary = inv.json().as_object();
  EXPECT_EQ(summary.at("StatusCode"), 200);
  EXPECT_EQ(summary.at("ExecutedVersion"), "$LATEST");
  EXPECT_FALSE(summary.contains("FunctionError"));
  auto log = base64_decode(std::string(summary.at("LogResult").as_string()));
  ASSERT_TRUE(log.has_value()) << "LogResult is base64, as the AWS CLI prints it";
  std::string log_text_tail(log->begin(), log->end());
  EXPECT_NE(log_text_tail.find("REPORT RequestId: "), std::string::npos) << log_text_tail;
  EXPECT_NE(log_text_tail.find("Init Duration"), std::string::npos) << log_text_tail;
  EXPECT_EQ(read_text(outfile), "{\"echo\":{\"n\":1}}");
  // The key order of the AWS CLI's summary.
  EXPECT_LT(inv.out.find("StatusCode"), inv.out.find("LogResult"));
  EXPECT_LT(inv.out.find("LogResult"), inv.out.find("ExecutedVersion"));

  CliRun fail = thawctl("invoke --function-name echo --payload '{\"fail\":true}' " + outfile);
  EXPECT_EQ(fail.status, 0) << "a function error is not a CLI error";
  EXPECT_EQ(fail.json().at("FunctionError"), "Unhandled");
  EXPECT_NE(read_text(outfile).find("asked to fail"), std::string::npos);

  CliRun get = thawctl("get-function --function-name echo");
  ASSERT_EQ(get.status, 0) << get.err;
  EXPECT_EQ(get.json().at("Configuration").at("Timeout"), 5);
  ASSERT_EQ(create_echo_fn("second").status, 0);
  CliRun list = thawctl("list-functions");
  ASSERT_EQ(list.status, 0);
  EXPECT_EQ(list.json().at("Functions").as_array().size(), 2u);

  CliRun table = thawctl("list-functions", "--output table");
  ASSERT_EQ(table.status, 0);
  EXPECT_EQ(table.out.rfind("ListFunctions Functions\n+", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("| FunctionName |"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("| echo "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("| second "), std::string::npos) << table.out;
  CliRun text = thawctl("get-function --function-name echo --output text");
  EXPECT_NE(text.out.find("CONFIGURATION\t"), std::string::npos) << text.out;

  CliRun del = thawctl("delete-function --function-name echo");
  EXPECT_EQ(del.status, 0) << del.err;
  EXPECT_EQ(del.out, "") << "DeleteFunction answers 204 with no body";
  EXPECT_EQ(thawctl("get-function --function-name echo").status, 254);
}

// The README's example: the sample function of tools/sample, zipped and
// deployed with fileb://, cold then warm (needs the python3.11 runtime image).
TEST_F(Thawctl, SampleFunctionFromFilebZip) {
  const char* src = std::getenv("THAW_SOURCE_ROOT");
  ASSERT_NE(src, nullptr);
  CliRun built = shell(std::string(src) + "/guest/runtimes/build-image.sh python3.11 2>/dev/null");
  std::string out = built.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  out = out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
  std::string image = out + "/image.erofs";
  if (built.status != 0 || !std::filesystem::exists(image)) {
    GTEST_SKIP() << "no python3.11 runtime image (guest/runtimes/build-image.sh python3.11)";
  }
  stop(SIGTERM);
  start({"--runtime-image", "python3.11=" + image});
  std::string code = read_text(std::string(src) + "/tools/sample/lambda_function.py");
  ASSERT_FALSE(code.empty());
  auto bytes = make_zip({{"lambda_function.py", code}});
  std::string zip = dir_ + "/sample.zip";
  std::ofstream(zip, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                             static_cast<std::streamsize>(bytes.size()));
  CliRun c = thawctl("create-function --function-name hello --runtime python3.11 --handler "
                     "lambda_function.lambda_handler --zip-file fileb://" + zip);
  ASSERT_EQ(c.status, 0) << c.err;
  for (int i = 0; i < 2; ++i) {
    CliRun inv = thawctl("invoke --function-name hello --payload '{\"name\":\"thaw\"}' " + dir_ +
                         "/hello.json");
    ASSERT_EQ(inv.status, 0) << inv.err << log_text();
    EXPECT_EQ(inv.json().at("StatusCode"), 200);
    EXPECT_NE(read_text(dir_ + "/hello.json").find("hello, thaw"), std::string::npos);
  }
  EXPECT_EQ(count(function_log("hello"), "Init Duration: "), 1u) << "cold, then warm";
}

TEST_F(Thawctl, ErrorsFollowTheAwsCli) {
  CliRun missing = thawctl("get-function --function-name missing");
  EXPECT_EQ(missing.status, 254);
  EXPECT_EQ(missing.out, "");
  EXPECT_NE(missing.err.find("An error occurred (ResourceNotFoundException) when calling the "
                             "GetFunction operation: Function not found: "
                             "arn:aws:lambda:us-east-1:000000000000:function:missing"),
            std::string::npos)
      << missing.err;
  CliRun inv = thawctl("invoke --function-name missing " + dir_ + "/o.json");
  EXPECT_EQ(inv.status, 254);
  EXPECT_NE(inv.err.find("when calling the Invoke operation"), std::string::npos) << inv.err;

  for (const char* bad : {"get-function", "no-such-verb", "invoke --function-name f",
                          "get-function --function-name f --bogus", "--output yaml list-functions",
                          "invoke --function-name f --invocation-type Sometimes o.json"}) {
    CliRun r = thawctl(bad);
    EXPECT_EQ(r.status, 252) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("thawctl: error: "), std::string::npos) << bad << ": " << r.err;
  }
  CliRun mem = create_echo_fn("f", "--memory-size lots");
  EXPECT_EQ(mem.status, 252);
  EXPECT_NE(mem.err.find("argument --memory-size: 'lots' is not an integer"), std::string::npos)
      << mem.err;
  CliRun env = create_echo_fn("f", "--environment 'Variables={GREETING=hi'");
  EXPECT_EQ(env.status, 252);
  EXPECT_NE(env.err.find("argument --environment: shorthand syntax"), std::string::npos) << env.err;
  CliRun zip = thawctl("create-function --function-name f --runtime provided --zip-file code.zip");
  EXPECT_EQ(zip.status, 252);
  EXPECT_NE(zip.err.find("fileb://PATH"), std::string::npos) << zip.err;
  CliRun range = create_echo_fn("f", "--memory-size 64");
  EXPECT_EQ(range.status, 254) << "the agent checks the range";
  EXPECT_NE(range.err.find("(InvalidParameterValueException)"), std::string::npos) << range.err;

  CliRun nosock = thawctl("list-functions", "--socket " + dir_ + "/absent.sock");
  EXPECT_EQ(nosock.status, 255);
  EXPECT_NE(nosock.err.find("Could not connect to thawd's socket"), std::string::npos) << nosock.err;
}

TEST_F(Thawctl, AgentVerbsShowCapacitySandboxesAndMetrics) {
  ASSERT_EQ(create_echo_fn("m", "--memory-size 192").status, 0);
  auto before = metrics();
  std::string series = "thaw_invocations_total{function=\"m\",outcome=\"success\"}";
  double ok_before = before.contains(series) ? before[series] : 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(thawctl("invoke --function-name m --payload '{}' " + dir_ + "/o.json").status, 0);
  }
  ASSERT_EQ(thawctl("invoke --function-name m --payload '{\"fail\":1}' " + dir_ + "/o.json").status, 0);
  EXPECT_EQ(thawctl("invoke --function-name ghost " + dir_ + "/o.json").status, 254);

  auto after = metrics();
  EXPECT_EQ(after[series], ok_before + 3);
  EXPECT_EQ(after["thaw_invocations_total{function=\"m\",outcome=\"function_error\"}"], 1);
  EXPECT_EQ(after["thaw_invocations_total{function=\"ghost\",outcome=\"client_error\"}"], 1);
  EXPECT_EQ(after["thaw_errors_total{function=\"m\"}"], 1);
  EXPECT_EQ(after["thaw_cold_starts_total{function=\"m\"}"], 1);
  EXPECT_EQ(after["thaw_warm_starts_total{function=\"m\"}"], 3);
  EXPECT_EQ(after["thaw_invoke_duration_seconds_count{function=\"m\"}"], 4);
  EXPECT_EQ(after["thaw_function_duration_seconds_count{function=\"m\"}"], 4);
  EXPECT_EQ(after["thaw_cold_start_phase_seconds_count{phase=\"init\"}"], 1);
  EXPECT_EQ(after["thaw_sandboxes{state=\"idle\"}"], 1);

  CliRun cap = thawctl("capacity");
  ASSERT_EQ(cap.status, 0) << cap.err;
  EXPECT_EQ(cap.json().at("sandboxes").at("idle"), 1);
  EXPECT_EQ(cap.json().at("memory_mb").at("sandboxes_configured"), 192);
  EXPECT_EQ(cap.json().at("functions"), 1);
  CliRun sb = thawctl("sandboxes");
  auto rows = sb.json().at("sandboxes").as_array();
  ASSERT_EQ(rows.size(), 1u) << sb.out;
  EXPECT_EQ(rows[0].at("function"), "m");
  EXPECT_EQ(rows[0].at("state"), "idle");
  EXPECT_EQ(rows[0].at("invocations"), 4);
  EXPECT_GT(rows[0].at("pid").as_int64(), 1);
  CliRun sbt = thawctl("sandboxes --output table");
  EXPECT_NE(sbt.out.find("| function | version | state |"), std::string::npos) << sbt.out;
  EXPECT_EQ(thawctl("health").json().at("status"), "ok");
}

TEST_F(Thawctl, DrainFinishesInFlightAndRefusesNew) {
  ASSERT_EQ(create_echo_fn("slow", "--timeout 10").status, 0);
  ASSERT_EQ(thawctl("invoke --function-name slow " + dir_ + "/warm.json").status, 0);
  CliRun slow;
  std::thread t([&] {
    slow = thawctl("invoke --function-name slow --payload '{\"sleep\":2}' " + dir_ + "/slow.json");
  });
  ASSERT_TRUE(eventually([&] { return health().at("busy_sandboxes") == 1; }, 10));
  CliRun d = thawctl("drain");
  ASSERT_EQ(d.status, 0) << d.err;
  EXPECT_EQ(d.json().at("state"), "draining");
  CliRun refused = thawctl("invoke --function-name slow " + dir_ + "/new.json");
  EXPECT_EQ(refused.status, 254);
  EXPECT_NE(refused.err.find("An error occurred (ServiceException) when calling the Invoke "
                             "operation: the agent is draining"),
            std::string::npos)
      << refused.err;
  CliRun wait = thawctl("drain --wait --wait-timeout 20");
  t.join();
  EXPECT_EQ(slow.status, 0) << slow.err;
  EXPECT_EQ(read_text(dir_ + "/slow.json"), "{\"echo\":{\"sleep\":2}}") << "in flight finished";
  ASSERT_EQ(wait.status, 0) << wait.err;
  EXPECT_EQ(wait.json().at("state"), "drained");
  EXPECT_EQ(wait.json().at("idle_sandboxes"), 0) << "idle sandboxes are ended";
  EXPECT_EQ(wait.json().at("refused_invocations"), 1);
  EXPECT_EQ(thawctl("drain --cancel").json().at("state"), "serving");
  EXPECT_EQ(thawctl("invoke --function-name slow " + dir_ + "/again.json").status, 0);
}

TEST_F(Thawctl, LogsFollowPrintsNewInvocations) {
  ASSERT_EQ(create_echo_fn("lg").status, 0);
  ASSERT_EQ(thawctl("invoke --function-name lg --payload '{\"first\":1}' " + dir_ + "/o.json").status, 0);
  CliRun all = thawctl("logs lg");
  ASSERT_EQ(all.status, 0) << all.err;
  EXPECT_NE(all.out.find("handling {\"first\":1}"), std::string::npos) << all.out;
  EXPECT_EQ(count(all.out, "START RequestId: "), 1u) << all.out;
  EXPECT_EQ(thawctl("logs nosuchfn").status, 254);

  std::string follow_out = dir_ + "/follow.out";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(follow_out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::setenv("THAW_SOCKET", socket_.c_str(), 1);
    ::execl(std::getenv("THAW_THAWCTL"), "thawctl", "logs", "lg", "--follow", nullptr);
    _exit(127);
  }
  ASSERT_TRUE(eventually([&] { return read_text(follow_out).find("first") != std::string::npos; }, 10));
  ASSERT_EQ(thawctl("invoke --function-name lg --payload '{\"second\":2}' " + dir_ + "/o.json").status, 0);
  bool seen = eventually([&] { return read_text(follow_out).find("second") != std::string::npos; }, 10);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  EXPECT_TRUE(seen) << "--follow did not print the new invocation: " << read_text(follow_out);
  EXPECT_EQ(count(read_text(follow_out), "START RequestId: "), 2u) << read_text(follow_out);
}

TEST_F(Thawctl, VersionsAliasesConcurrencyEventConfigAndLayers) {
  ASSERT_EQ(create_echo_fn("ctl").status, 0);
  CliRun v1 = thawctl("publish-version --function-name ctl --description first");
  ASSERT_EQ(v1.status, 0) << v1.err;
  EXPECT_EQ(v1.json().at("Version"), "1");
  CliRun cfg = thawctl("update-function-configuration --function-name ctl --timeout 9 "
                       "--environment Variables={STAGE=two}");
  ASSERT_EQ(cfg.status, 0) << cfg.err;
  EXPECT_EQ(cfg.json().at("Timeout"), 9);
  CliRun code = thawctl("update-function-code --function-name ctl --zip-file fileb://" + zip_ +
                        " --publish");
  ASSERT_EQ(code.status, 0) << code.err;
  EXPECT_EQ(code.json().at("Version"), "2");
  CliRun versions = thawctl("list-versions-by-function --function-name ctl");
  ASSERT_EQ(versions.status, 0) << versions.err;
  EXPECT_EQ(versions.json().at("Versions").as_array().size(), 3u) << "$LATEST, 1, 2";
  EXPECT_EQ(thawctl("list-functions --function-version ALL").json().at("Functions").as_array().size(),
            3u);
  EXPECT_EQ(thawctl("list-functions").json().at("Functions").as_array().size(), 1u);

  CliRun alias = thawctl("create-alias --function-name ctl --name live --function-version 1 "
                         "--routing-config 'AdditionalVersionWeights={\"2\"=0.25}'");
  ASSERT_EQ(alias.status, 0) << alias.err;
  EXPECT_DOUBLE_EQ(alias.json().at("RoutingConfig").at("AdditionalVersionWeights").at("2").to_number<double>(),
                   0.25);
  EXPECT_EQ(thawctl("get-alias --function-name ctl --name live").json().at("FunctionVersion"), "1");
  CliRun upd = thawctl("update-alias --function-name ctl --name live --function-version 2 "
                       "--routing-config '{\"AdditionalVersionWeights\":{}}'");
  ASSERT_EQ(upd.status, 0) << upd.err;
  EXPECT_EQ(upd.json().at("FunctionVersion"), "2");
  EXPECT_EQ(thawctl("list-aliases --function-name ctl").json().at("Aliases").as_array().size(), 1u);
  CliRun inv = thawctl("invoke --function-name ctl --qualifier live --payload '{}' " + dir_ + "/q.json");
  ASSERT_EQ(inv.status, 0) << inv.err;
  EXPECT_EQ(inv.json().at("ExecutedVersion"), "2");
  EXPECT_EQ(thawctl("delete-alias --function-name ctl --name live").status, 0);
  EXPECT_EQ(thawctl("get-alias --function-name ctl --name live").status, 254);

  CliRun conc = thawctl("put-function-concurrency --function-name ctl "
                        "--reserved-concurrent-executions 2");
  ASSERT_EQ(conc.status, 0) << conc.err;
  EXPECT_EQ(conc.json().at("ReservedConcurrentExecutions"), 2);
  EXPECT_EQ(thawctl("get-function-concurrency --function-name ctl")
                .json().at("ReservedConcurrentExecutions"), 2);
  CliRun prov = thawctl("put-provisioned-concurrency-config --function-name ctl --qualifier 1 "
                        "--provisioned-concurrent-executions 1");
  ASSERT_EQ(prov.status, 0) << prov.err;
  EXPECT_EQ(prov.json().at("RequestedProvisionedConcurrentExecutions"), 1);
  EXPECT_EQ(thawctl("delete-provisioned-concurrency-config --function-name ctl --qualifier 1").status, 0);
  EXPECT_EQ(thawctl("put-provisioned-concurrency-config --function-name ctl "
                    "--provisioned-concurrent-executions 1").status, 252)
      << "--qualifier is required, as in the AWS CLI";

  CliRun ev = thawctl("put-function-event-invoke-config --function-name ctl "
                      "--maximum-retry-attempts 1 --maximum-event-age-in-seconds 120 "
                      "--destination-config 'OnFailure={Destination=file://" + dir_ + "/failed}'");
  ASSERT_EQ(ev.status, 0) << ev.err;
  EXPECT_EQ(ev.json().at("MaximumRetryAttempts"), 1);
  EXPECT_EQ(thawctl("get-function-event-invoke-config --function-name ctl")
                .json().at("MaximumEventAgeInSeconds"), 120);
  CliRun event = thawctl("invoke --function-name ctl --invocation-type Event --payload '{}' " +
                         dir_ + "/e.json");
  ASSERT_EQ(event.status, 0) << event.err;
  EXPECT_EQ(event.json().at("StatusCode"), 202);

  std::string layer_zip = dir_ + "/layer.zip";
  auto bytes = make_zip({{"bin/tool", "#!/bin/sh\necho tool\n", 0755}});
  std::ofstream(layer_zip, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                   static_cast<std::streamsize>(bytes.size()));
  CliRun layer = thawctl("publish-layer-version --layer-name tools --zip-file fileb://" + layer_zip +
                         " --compatible-runtimes provided python3.11");
  ASSERT_EQ(layer.status, 0) << layer.err;
  EXPECT_EQ(layer.json().at("Version"), 1);
  EXPECT_NE(std::string(layer.json().at("LayerVersionArn").as_string()).find(":layer:tools:1"),
            std::string::npos);
}

TEST_F(Thawctl, TcpListenerServesThawctlAndCurl) {
  stop(SIGTERM);
  start({"--tcp-listen", "127.0.0.1:0"});
  std::string log = log_text();
  size_t at = log.find("(port ");
  ASSERT_NE(at, std::string::npos) << log;
  std::string port = log.substr(at + 6, log.find(')', at) - at - 6);
  std::string url = "--endpoint-url http://127.0.0.1:" + port;
  ASSERT_EQ(create_echo_fn("tcp").status, 0);
  CliRun inv = thawctl("invoke --function-name tcp --payload '{\"via\":\"tcp\"}' " + dir_ + "/t.json",
                    url + " --socket /nonexistent");
  ASSERT_EQ(inv.status, 0) << inv.err;
  EXPECT_EQ(read_text(dir_ + "/t.json"), "{\"echo\":{\"via\":\"tcp\"}}");
  std::string cmd = "curl -sS http://127.0.0.1:" + port + "/2015-03-31/functions/tcp";
  CliRun curl = shell(cmd);
  if (curl.status != 0 && curl.out.empty()) GTEST_SKIP() << "curl is not usable here: " << cmd;
  const std::string& body = curl.out;
  EXPECT_NE(body.find("\"FunctionName\":\"tcp\""), std::string::npos) << body;

  // The AWS CLI itself, where installed: the same API over --endpoint-url.
  if (std::system("aws --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "the AWS CLI is not installed; thawctl and curl were checked";
  }
  std::string aws = "AWS_ACCESS_KEY_ID=thaw AWS_SECRET_ACCESS_KEY=thaw AWS_DEFAULT_REGION=us-east-1 "
                    "aws lambda invoke --function-name tcp --payload '{\"via\":\"aws\"}' "
                    "--endpoint-url http://127.0.0.1:" + port + " " + dir_ + "/aws.json";
  CliRun viaaws = shell(aws + " 2>&1");
  EXPECT_EQ(viaaws.status, 0) << viaaws.out;
  EXPECT_EQ(viaaws.json().at("StatusCode"), 200) << viaaws.out;
  EXPECT_EQ(read_text(dir_ + "/aws.json"), "{\"echo\":{\"via\":\"aws\"}}");
}

TEST_F(Thawctl, TcpListenerRefusesRemoteAddressesWithoutTheFlag) {
  std::string cmd = std::string(std::getenv("THAW_THAWD")) + " --socket " + dir_ +
                    "/other.sock --state-dir " + dir_ + "/other --init " + std::getenv("THAW_INIT") +
                    " --tcp-listen 0.0.0.0:0 2>&1";
  CliRun r = shell(cmd);
  const std::string& out = r.out;
  EXPECT_EQ(r.status, 1) << out;
  EXPECT_NE(out.find("--tcp-listen 0.0.0.0:0 is not a loopback address"), std::string::npos) << out;
}

}  // namespace
}  // namespace thaw::agent::testing
