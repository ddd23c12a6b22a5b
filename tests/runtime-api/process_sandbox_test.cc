// End to end through the process backend: ProcessSandbox starts thaw-init
// in fresh namespaces, frames go over the socketpair, the runtime is a
// real `provided` bootstrap (C++ and bash). Needs root (namespaces, mounts).
#include "sandbox/process/process_sandbox.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

#include "sandbox/process/seccomp_policy.h"

namespace thaw {
namespace {

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class ProcessSandboxE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: namespaces, mounts and cgroups";
    init_ = env_or_empty("THAW_INIT");
    if (init_.empty()) GTEST_SKIP() << "THAW_INIT (path of thaw-init) not set; run via meson test";
    char tmpl[] = "/tmp/thaw-e2e-code-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    code_dir_ = tmpl;
    ::chmod(code_dir_.c_str(), 0755);  // the runtime runs as uid 993
    install_bootstrap(env_or_empty("THAW_TEST_BOOTSTRAP"));
  }
  void TearDown() override {
    sandbox_.reset();
    if (!code_dir_.empty()) std::filesystem::remove_all(code_dir_);
  }
  void install_bootstrap(const std::string& from) {
    std::string to = code_dir_ + "/bootstrap";
    std::filesystem::remove(to);
    if (from.empty()) return;
    std::filesystem::copy_file(from, to);
    ::chmod(to.c_str(), 0755);
  }
  InitConfig config() {
    InitConfig c;
    c.function_name = "e2e-fn";
    c.function_version = "7";
    c.handler = "handler.main";
    c.runtime = "provided";
    c.memory_mb = 128;
    c.log_group = "/aws/lambda/e2e-fn";
    c.log_stream = "2026/11/23/[7]stream";
    c.credentials = {"AKIDEXAMPLE", "secret", "session"};
    c.environment = {{"MY_VAR", "my value"}, {"AWS_REGION", "evil-region"}};
    return c;
  }
  void start(const InitConfig& c, const std::string& root_image = "") {
    ProcessSandboxOptions o;
    o.root_image = root_image;
    o.init_path = init_;
    o.code_dir = code_dir_;
    o.seccomp_policy_path = env_or_empty("THAW_SECCOMP_POLICY");
    o.tmp_size_mb = 16;
    sandbox_ = std::make_unique<ProcessSandbox>(o);
    auto ok = sandbox_->start(c);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  }
  // Next non-log frame; log lines are collected into logs_.
  Frame expect(FrameType type, int timeout_ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::steady_clock::now())
                                      .count());
      if (left <= 0) {
        ADD_FAILURE() << "no " << frame_type_name(type) << " frame in " << timeout_ms
                      << " ms; logs:\n" << logs_;
        return {};
      }
      auto f = sandbox_->receive(left);
      if (!f.ok()) {
        ADD_FAILURE() << f.error().message << "; logs:\n" << logs_;
        return {};
      }
      if (!f->has_value()) continue;
      Frame frame = std::move(**f);
      if (frame.type == FrameType::kLogChunk) {
        auto chunk = decode_log_chunk(frame.payload);
        EXPECT_TRUE(chunk.ok());
        if (chunk.ok()) logs_ += chunk->text;
        continue;
      }
      EXPECT_EQ(frame_type_name(frame.type), frame_type_name(type))
          << std::string(frame.payload.begin(), frame.payload.end()) << "\nlogs:\n" << logs_;
      return frame;
    }
  }
  // The provided-runtime tests use a fixed deadline (the C++ bootstrap echoes
  // it); managed runtimes get one a minute ahead, as their clients compute
  // the remaining time from it.
  static constexpr uint64_t kFixedDeadlineMs = 1700000000000;
  static uint64_t deadline_in_a_minute() {
    auto now = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<uint64_t>(
               std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + 60000;
  }
  void invoke(const std::string& id, const std::string& event,
              uint64_t deadline_ms = kFixedDeadlineMs) {
    Invocation inv;
    inv.deadline_ms = deadline_ms;
    inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:e2e-fn";
    inv.payload.assign(event.begin(), event.end());
    Frame f;
    f.type = FrameType::kInvoke;
    f.request_id = id;
    f.payload = encode_invocation(inv);
    auto ok = sandbox_->send(f);
    ASSERT_TRUE(ok.ok()) << ok.error().message;
  }
  std::string call(const std::string& id, const std::string& event,
                   uint64_t deadline_ms = kFixedDeadlineMs) {
    invoke(id, event, deadline_ms);
    Frame r = expect(FrameType::kResponse);
    EXPECT_EQ(r.request_id, id);
    Frame m = expect(FrameType::kMetrics);
    EXPECT_EQ(m.request_id, id);
    return {r.payload.begin(), r.payload.end()};
  }
  void start_ready(const InitConfig& c) {
    start(c);
    Frame ready = expect(FrameType::kReady);
    auto info = decode_ready(ready.payload);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->phase, ReadyPhase::kInitDone);
    EXPECT_GT(info->init_duration_us, 0u);
  }

  void write_code(const std::string& name, const std::string& text) {
    std::ofstream(code_dir_ + "/" + name) << text;
    ::chmod((code_dir_ + "/" + name).c_str(), 0644);
  }
  // A managed runtime's bootstrap from guest/runtimes/, run on the host's
  // "/" (the process backend's root). It is copied into the code directory
  // because the source tree may itself live under /tmp, which the sandbox
  // replaces with its own tmpfs.
  InitConfig managed(const std::string& runtime, const std::string& handler) {
    std::string source = env_or_empty("THAW_RUNTIMES_DIR") + "/" + runtime;
    std::string copy = code_dir_ + "/.runtime-" + runtime;
    std::filesystem::copy(source, copy, std::filesystem::copy_options::recursive);
    ::chmod(copy.c_str(), 0755);
    InitConfig c = config();
    c.runtime = runtime;
    c.handler = handler;
    c.bootstrap = "/var/task/.runtime-" + runtime + "/bootstrap";
    return c;
  }
  std::string call_json(const std::string& id, const std::string& event) {
    return call(id, event, deadline_in_a_minute());
  }
  ErrorReport call_error(const std::string& id, const std::string& event) {
    invoke(id, event, deadline_in_a_minute());
    auto report = decode_error_report(expect(FrameType::kError).payload);
    expect(FrameType::kMetrics);
    EXPECT_TRUE(report.ok());
    return report.ok() ? *report : ErrorReport{};
  }

  std::string init_, code_dir_, logs_;
  std::unique_ptr<ProcessSandbox> sandbox_;
};

TEST_F(ProcessSandboxE2E, CppBootstrapAnswersWithLogsAndMetrics) {
  start_ready(config());
  invoke("req-1", "echo:hello");
  Frame r = expect(FrameType::kResponse);
  EXPECT_EQ(std::string(r.payload.begin(), r.payload.end()), "hello");
  // The function's output reached the host before its response.
  EXPECT_NE(logs_.find("stdout line for req-1\n"), std::string::npos) << logs_;
  EXPECT_NE(logs_.find("stderr line\n"), std::string::npos) << logs_;
  EXPECT_NE(logs_.find("bootstrap: init as uid 993\n"), std::string::npos) << logs_;
  auto m = decode_metrics(expect(FrameType::kMetrics).payload);
  ASSERT_TRUE(m.ok());
  EXPECT_GT(m->duration_us, 0u);
  EXPECT_GT(m->max_memory_bytes, 100u * 1024);
  EXPECT_EQ(call("req-2", "echo:again"), "again");
}

TEST_F(ProcessSandboxE2E, RuntimeSeesTheLambdaEnvironment) {
  start_ready(config());
  const std::pair<const char*, const char*> expected[] = {
      {"AWS_LAMBDA_FUNCTION_NAME", "e2e-fn"},
      {"AWS_LAMBDA_FUNCTION_VERSION", "7"},
      {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"},
      {"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/e2e-fn"},
      {"AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/23/[7]stream"},
      {"AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"},
      {"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
      {"_HANDLER", "handler.main"},
      {"LAMBDA_TASK_ROOT", "/var/task"},
      {"LAMBDA_RUNTIME_DIR", "/var/runtime"},
      {"AWS_REGION", "us-east-1"},  // the function's own AWS_REGION is reserved: dropped
      {"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
      {"AWS_SESSION_TOKEN", "session"},
      {"TZ", ":UTC"},
      {"MY_VAR", "my value"},
      {"AWS_EXECUTION_ENV", "<unset>"},  // not set for `provided`
  };
  int n = 0;
  for (const auto& [name, value] : expected) {
    EXPECT_EQ(call(fmt::format("env-{}", n++), std::string("env:") + name), value) << name;
  }
  EXPECT_NE(logs_.find("AWS_REGION is reserved"), std::string::npos) << logs_;
}

TEST_F(ProcessSandboxE2E, IsolatedUserPidHostnameAndFilesystem) {
  start_ready(config());
  // uid 993, PID 2 (thaw-init is PID 1 of the new PID namespace), own hostname.
  EXPECT_EQ(call("who", "whoami"), "993 2 sandbox");
  EXPECT_EQ(call("tmp", "tmp"), "tmp-ok task:Read-only file system");
  if (!env_or_empty("THAW_SECCOMP_POLICY").empty()) {
    EXPECT_EQ(call("ns", "unshare"), "Operation not permitted");
  }
  // thaw-init keeps only CAP_KILL (bit 5) once the runtime runs.
  auto st = sandbox_->stats();
  ASSERT_TRUE(st.ok());
  std::ifstream status(fmt::format("/proc/{}/status", st->pid));
  std::string text((std::istreambuf_iterator<char>(status)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("CapEff:\t0000000000000020\n"), std::string::npos) << text;
  EXPECT_NE(text.find("CapBnd:\t0000000000000020\n"), std::string::npos) << text;
  // thaw-init's own filter on the runtime: io_uring would bypass seccomp.
  EXPECT_EQ(call("uring", "uring"), "Operation not permitted");
}

TEST_F(ProcessSandboxE2E, ExitMidInvocationIsRuntimeExitErrorWithStatus) {
  start_ready(config());
  invoke("dies", "exit:3");
  Frame e = expect(FrameType::kError);
  EXPECT_EQ(e.request_id, "dies");
  auto report = decode_error_report(e.payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.ExitError");
  EXPECT_EQ(report->exit_status, 3);
  EXPECT_NE(report->body.find("RequestId: dies Error: Runtime exited with error: exit status 3"),
            std::string::npos)
      << report->body;
  auto m = decode_metrics(expect(FrameType::kMetrics).payload);
  ASSERT_TRUE(m.ok());
  EXPECT_GT(m->max_memory_bytes, 0u) << "the peak survives the crash";
  EXPECT_NE(logs_.find("exiting\n"), std::string::npos);
  // The sandbox is unusable now and says so for the next invocation.
  invoke("after", "echo:x");
  auto again = decode_error_report(expect(FrameType::kError).payload);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->error_type, "Runtime.ExitError");
}

TEST_F(ProcessSandboxE2E, FunctionErrorKeepsItsType) {
  start_ready(config());
  invoke("bad", "error");
  auto report = decode_error_report(expect(FrameType::kError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Function.MyError");
  EXPECT_EQ(report->body, R"({"errorMessage":"it broke","errorType":"MyError","stackTrace":[]})");
  expect(FrameType::kMetrics);
  EXPECT_EQ(call("ok", "echo:still alive"), "still alive");
}

TEST_F(ProcessSandboxE2E, TimeoutThenKillEndsEverything) {
  start_ready(config());
  invoke("slow", "sleep:30000");
  auto f = sandbox_->receive(300);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE(f->has_value()) << "nothing may arrive before the function finishes";
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sandbox_->kill().ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  auto st = sandbox_->exit_status();
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFSIGNALED(*st));
  EXPECT_FALSE(sandbox_->receive(100).ok());
}

TEST_F(ProcessSandboxE2E, InitErrorFromTheRuntimeIsReportedOnce) {
  InitConfig c = config();
  c.environment.push_back({"FAIL_INIT", "missing setting"});
  start(c);
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.BadConfig");
  EXPECT_NE(report->body.find("missing setting"), std::string::npos);
  // The runtime then exits; no second init error follows.
  auto more = sandbox_->receive(300);
  ASSERT_TRUE(more.ok());
  if (more->has_value()) {
    EXPECT_NE((*more)->type, FrameType::kInitError);
  }
}

TEST_F(ProcessSandboxE2E, MissingBootstrapIsInvalidEntrypoint) {
  install_bootstrap("");
  start(config());
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.InvalidEntrypoint");
  EXPECT_NE(report->body.find("Couldn't find valid bootstrap(s)"), std::string::npos);
}

TEST_F(ProcessSandboxE2E, RuntimeExitDuringInitIsExitError) {
  std::ofstream(code_dir_ + "/bootstrap") << "#!/bin/sh\necho starting\nexit 42\n";
  ::chmod((code_dir_ + "/bootstrap").c_str(), 0755);
  start(config());
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.ExitError");
  EXPECT_EQ(report->exit_status, 42);
  EXPECT_NE(logs_.find("starting\n"), std::string::npos);
}

TEST_F(ProcessSandboxE2E, ShellBootstrapOverDevTcp) {
  install_bootstrap(env_or_empty("THAW_TEST_SHELL_BOOTSTRAP"));
  start_ready(config());
  EXPECT_EQ(call("sh-1", R"({"x":1})"), R"(sh:{"x":1})");
  EXPECT_NE(logs_.find("shell handling sh-1\n"), std::string::npos) << logs_;
  EXPECT_EQ(call("sh-2", "second"), "sh:second");
}

TEST_F(ProcessSandboxE2E, LogFloodArrivesWholeLineByLine) {
  start_ready(config());
  EXPECT_EQ(call("flood", "flood:50000"), "flooded");  // 5 MB of output
  // Output past thaw-init's read budget may trail the response: keep reading.
  auto count = [&] { return std::count(logs_.begin(), logs_.end(), 'f') / 99; };
  for (int i = 0; i < 100 && count() < 50000; ++i) {
    auto f = sandbox_->receive(100);
    ASSERT_TRUE(f.ok());
    if (f->has_value() && (*f)->type == FrameType::kLogChunk) {
      logs_ += decode_log_chunk((*f)->payload)->text;
    }
  }
  EXPECT_EQ(count(), 50000);
  EXPECT_NE(logs_.find(std::string(99, 'f') + "\n" + std::string(99, 'f') + "\n"), std::string::npos);
  EXPECT_EQ(call("after", "echo:ok"), "ok");
}

TEST_F(ProcessSandboxE2E, GuestThatStopsReadingCannotHangTheHost) {
  start_ready(config());
  auto st = sandbox_->stats();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(::kill(st->pid, SIGSTOP), 0);  // thaw-init frozen: nobody reads the channel
  Invocation inv;
  inv.payload.assign(6291556, 'x');
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = "stuck";
  f.payload = encode_invocation(inv);
  auto t0 = std::chrono::steady_clock::now();
  auto sent = sandbox_->send(f);
  ASSERT_FALSE(sent.ok());
  EXPECT_NE(sent.error().message.find("did not read the invoke frame within 5000 ms"),
            std::string::npos)
      << sent.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(7));
  ::kill(st->pid, SIGCONT);
  EXPECT_TRUE(sandbox_->kill().ok());
}

TEST_F(ProcessSandboxE2E, ThawInitReapsOrphanedProcesses) {
  start_ready(config());
  EXPECT_EQ(call("orphans", "orphans"), "zombies:0");
}

TEST_F(ProcessSandboxE2E, OversizedResponseFailsTheInvocation) {
  start_ready(config());
  invoke("too-big", "big:6291557");
  auto report = decode_error_report(expect(FrameType::kError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Function.ResponseSizeTooLarge");
  EXPECT_NE(report->body.find("6291556 bytes"), std::string::npos) << report->body;
  expect(FrameType::kMetrics);
  // The runtime got its 413 and carries on.
  EXPECT_EQ(call("next-one", "echo:fine"), "fine");
}

TEST_F(ProcessSandboxE2E, LargestResponseCrossesEveryHop) {
  start_ready(config());
  EXPECT_EQ(call("big", "big:6291556").size(), 6291556u);
}

TEST_F(ProcessSandboxE2E, CgroupLimitsAndReportsMemory) {
  start_ready(config());
  auto s = sandbox_->stats();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->memory_limit_bytes, 128u << 20);
  EXPECT_GT(s->peak_memory_bytes, 0u);
  EXPECT_EQ(s->oom_kills, 0u);
}

constexpr char kPythonApp[] = R"(import json
print("module loaded")
def handler(event, context):
    print("got", event["name"])
    if event.get("fail"):
        raise ValueError("bad input " + event["name"])
    with open("/tmp/py.txt", "w") as f:
        f.write("ok")
    return {"hello": event["name"], "fn": context.function_name, "version": context.function_version,
            "mem": context.memory_limit_in_mb, "id": context.aws_request_id,
            "arn": context.invoked_function_arn, "group": context.log_group_name,
            "stream": context.log_stream_name,
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 60000,
            "tmp": open("/tmp/py.txt").read()}
)";

TEST_F(ProcessSandboxE2E, PythonHandlerContextLogsAndErrors) {
  if (::access("/usr/bin/python3.11", X_OK) != 0) GTEST_SKIP() << "python3.11 not installed";
  write_code("app.py", kPythonApp);
  start_ready(managed("python3.11", "app.handler"));
  std::string out = call_json("py-1", R"({"name":"ada"})");
  EXPECT_EQ(out,
            R"({"hello": "ada", "fn": "e2e-fn", "version": "7", "mem": 128, "id": "py-1", )"
            R"("arn": "arn:aws:lambda:us-east-1:000000000000:function:e2e-fn", )"
            R"("group": "/aws/lambda/e2e-fn", "stream": "2026/11/23/[7]stream", )"
            R"("remaining_ok": true, "tmp": "ok"})");
  EXPECT_NE(logs_.find("module loaded\n"), std::string::npos) << logs_;
  EXPECT_NE(logs_.find("got ada\n"), std::string::npos) << logs_;
  ErrorReport e = call_error("py-2", R"({"name":"bob","fail":true})");
  EXPECT_EQ(e.error_type, "Function.ValueError");
  EXPECT_NE(e.body.find(R"("errorMessage": "bad input bob", "errorType": "ValueError")"),
            std::string::npos) << e.body;
  EXPECT_NE(e.body.find("app.py"), std::string::npos) << "stackTrace names the file";
  EXPECT_EQ(call_json("py-3", R"({"name":"cy"})").substr(0, 19), R"({"hello": "cy", "fn)");
}

TEST_F(ProcessSandboxE2E, PythonMissingHandlerIsAnInitError) {
  if (::access("/usr/bin/python3.11", X_OK) != 0) GTEST_SKIP() << "python3.11 not installed";
  write_code("app.py", "x = 1\n");
  start(managed("python3.11", "app.nothere"));
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.HandlerNotFound");
  EXPECT_NE(report->body.find("Handler 'nothere' missing on module 'app'"), std::string::npos);
}

TEST_F(ProcessSandboxE2E, PythonImportErrorIsAnInitError) {
  if (::access("/usr/bin/python3.11", X_OK) != 0) GTEST_SKIP() << "python3.11 not installed";
  start(managed("python3.11", "missing.handler"));
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.ImportModuleError");
}

constexpr char kNodeAsync[] = R"(export const handler = async (event, context) => {
  console.log('async got', event.name);
  if (event.fail) throw new TypeError('bad ' + event.name);
  await new Promise((r) => setTimeout(r, 5));
  return { hello: event.name, fn: context.functionName, id: context.awsRequestId,
           remainingOk: context.getRemainingTimeInMillis() > 0 };
};
)";
constexpr char kNodeCallback[] = R"(exports.handler = function (event, context, callback) {
  console.log('callback got', event.name);
  setTimeout(() => callback(null, { cb: event.name, mem: context.memoryLimitInMB }), 1);
};
)";

TEST_F(ProcessSandboxE2E, NodeAsyncHandlerAndErrors) {
  if (::access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node not installed";
  write_code("index.mjs", kNodeAsync);
  start_ready(managed("nodejs20", "index.handler"));
  EXPECT_EQ(call_json("n-1", R"({"name":"ada"})"),
            R"({"hello":"ada","fn":"e2e-fn","id":"n-1","remainingOk":true})");
  EXPECT_NE(logs_.find("async got ada\n"), std::string::npos) << logs_;
  ErrorReport e = call_error("n-2", R"({"name":"bob","fail":true})");
  EXPECT_EQ(e.error_type, "Function.TypeError");
  EXPECT_NE(e.body.find(R"("errorType":"TypeError","errorMessage":"bad bob")"), std::string::npos)
      << e.body;
  EXPECT_NE(e.body.find("stackTrace"), std::string::npos);
}

TEST_F(ProcessSandboxE2E, NodeCallbackHandler) {
  if (::access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node not installed";
  write_code("cb.js", kNodeCallback);
  start_ready(managed("nodejs20", "cb.handler"));
  EXPECT_EQ(call_json("c-1", R"({"name":"x"})"), R"({"cb":"x","mem":"128"})");
  EXPECT_NE(logs_.find("callback got x\n"), std::string::npos) << logs_;
}

TEST_F(ProcessSandboxE2E, NodeMissingModuleIsAnInitError) {
  if (::access("/usr/bin/node", X_OK) != 0) GTEST_SKIP() << "node not installed";
  start(managed("nodejs20", "nope.handler"));
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.ImportModuleError");
}

TEST_F(ProcessSandboxE2E, SnapStartParksAtRestoreNextUntilTheRestoreNotice) {
  InitConfig c = config();
  c.initialization_type = "snap-start";
  start(c);
  auto ready = decode_ready(expect(FrameType::kReady).payload);
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->phase, ReadyPhase::kSnapshotPoint);
  // (microvm: the snapshot is taken here.) Restore: fresh entropy + clock.
  RestoreNotice notice{1700000000000000000ull, std::vector<uint8_t>(64, 0x5a)};
  Frame f;
  f.type = FrameType::kRestoreNotice;
  f.payload = encode_restore_notice(notice);
  ASSERT_TRUE(sandbox_->send(f).ok());
  expect(FrameType::kRestoreDone);
  EXPECT_NE(logs_.find("bootstrap: restored (0 byte body)\n"), std::string::npos) << logs_;
  EXPECT_EQ(call("after-restore", "echo:warm"), "warm");
}

TEST_F(ProcessSandboxE2E, FailingAfterRestoreHookIsARestoreError) {
  InitConfig c = config();
  c.initialization_type = "snap-start";
  c.environment.push_back({"FAIL_RESTORE", "1"});
  start(c);
  expect(FrameType::kReady);
  Frame f;
  f.type = FrameType::kRestoreNotice;
  f.payload = encode_restore_notice({1, std::vector<uint8_t>(32, 1)});
  ASSERT_TRUE(sandbox_->send(f).ok());
  auto report = decode_error_report(expect(FrameType::kRestoreError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->error_type, "Runtime.AfterRestoreHookError");
}

TEST_F(ProcessSandboxE2E, ShutdownFrameStopsTheSandboxCleanly) {
  start_ready(config());
  Frame f;
  f.type = FrameType::kShutdown;
  ASSERT_TRUE(sandbox_->send(f).ok());
  auto r = sandbox_->receive(5000);
  EXPECT_FALSE(r.ok()) << "the channel closes";
  std::optional<int> st;
  for (int i = 0; i < 200 && !st; ++i) {
    st = sandbox_->exit_status();
    if (!st) ::usleep(5000);
  }
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << "status 0x" << std::hex << *st;
}

TEST_F(ProcessSandboxE2E, GarbageFromTheHostSideIsSurvivable) {
  start_ready(config());
  // A frame type the guest never accepts from the host is logged, not fatal.
  Frame odd;
  odd.type = FrameType::kMetrics;
  ASSERT_TRUE(sandbox_->send(odd).ok());
  EXPECT_EQ(call("still", "echo:fine"), "fine");
  EXPECT_NE(logs_.find("ignoring metrics frame"), std::string::npos) << logs_;
  // A bad init config (a second one) is refused with a precise init error.
  Frame again;
  again.type = FrameType::kInitConfig;
  again.payload = encode_init_config(config());
  ASSERT_TRUE(sandbox_->send(again).ok());
  auto report = decode_error_report(expect(FrameType::kInitError).payload);
  ASSERT_TRUE(report.ok());
  EXPECT_NE(report->body.find("second init config"), std::string::npos);
}

// The runtime image recipe end to end: build (or reuse) the Debian-package
// image, mount it as "/" of the sandbox, and find the bootstrap at
// /var/runtime/bootstrap like Lambda does. Nothing of the host is visible.
std::string build_runtime_image(const std::string& runtime) {
  std::string recipe = env_or_empty("THAW_RUNTIMES_DIR") + "/build-image.sh";
  std::string cache = env_or_empty("THAW_IMAGE_CACHE");
  if (cache.empty()) cache = "/tmp/thaw-runtime-image-cache";
  std::string cmd = recipe + " " + runtime + " " + cache;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  char line[4096] = {};
  std::string out = std::fgets(line, sizeof line, p) ? line : "";
  if (::pclose(p) != 0) return "";
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out + "/image.erofs";
}

// One managed runtime: what the recipe needs on the host, one handler file,
// and the response that proves it ran from the image (not the host's /).
struct RuntimeImageCase {
  const char* name;         // test-name suffix
  const char* runtime;      // build-image.sh argument and InitConfig::runtime
  const char* interpreter;  // the host binary the recipe packages
  const char* file;
  const char* source;
  const char* handler;
  const char* response;
};

class RuntimeImageE2E : public ProcessSandboxE2E,
                        public ::testing::WithParamInterface<RuntimeImageCase> {};

TEST_P(RuntimeImageE2E, HandlerRunsFromTheRecipeImage) {
  const RuntimeImageCase& r = GetParam();
  if (::access("/usr/bin/mkfs.erofs", X_OK) != 0 || ::access(r.interpreter, X_OK) != 0) {
    GTEST_SKIP() << "needs erofs-utils and " << r.interpreter << " installed";
  }
  std::string image = build_runtime_image(r.runtime);
  ASSERT_FALSE(image.empty()) << "guest/runtimes/build-image.sh " << r.runtime << " failed";
  write_code(r.file, r.source);
  InitConfig c = config();
  c.runtime = r.runtime;
  c.handler = r.handler;
  start(c, image);
  expect(FrameType::kReady);
  EXPECT_EQ(call_json("img-1", "{}"), r.response);
}

INSTANTIATE_TEST_SUITE_P(
    Recipes, RuntimeImageE2E,
    ::testing::Values(
        RuntimeImageCase{"Python311", "python3.11", "/usr/bin/python3.11", "app.py",
                         "import os, sys\ndef handler(event, context):\n"
                         "    return {'host_visible': os.path.exists('/work'), 'py': sys.version[:4]}\n",
                         "app.handler", R"({"host_visible": false, "py": "3.11"})"},
        RuntimeImageCase{"Nodejs20", "nodejs20", "/usr/bin/node", "index.js",
                         "const fs = require('fs');\nexports.handler = async () => "
                         "({ hostVisible: fs.existsSync('/work'), node: process.versions.node.split('.')[0] });\n",
                         "index.handler", R"({"hostVisible":false,"node":"20"})"}),
    [](const ::testing::TestParamInfo<RuntimeImageCase>& info) { return info.param.name; });

TEST(ProcessSandboxLayout, HostDirectoriesAreBoundReadOnly) {
  ProcessSandboxOptions o;
  o.code_dir = "/code";
  o.layer_dirs = {"/l1", "/l2"};
  o.tmp_size_mb = 10;
  SandboxLayout l = ProcessSandbox::layout(o, "/s");
  EXPECT_EQ(l.root.source, "/");
  EXPECT_EQ(l.root.fstype, "bind");
  EXPECT_EQ(l.code.fstype, "bind");
  EXPECT_EQ(l.dev, DevNodes::kBindHost);
  o.root_image = "/img/python.erofs";
  l = ProcessSandbox::layout(o, "/s");
  EXPECT_EQ(l.root.fstype, "erofs");
  EXPECT_EQ(l.root.source, "/img/python.erofs");
}

TEST(SeccompPolicy, ParsesRulesAndRejectsBadLinesByNumber) {
  auto p = parse_seccomp_policy(
      "# comment\n\ndeny bpf\ndeny clone3 ENOSYS\ndeny clone EPERM if arg0 & 0x10000000\n");
  ASSERT_TRUE(p.ok()) << p.error().message;
  ASSERT_EQ(p->deny.size(), 3u);
  EXPECT_EQ(p->deny[1].errno_value, ENOSYS);
  EXPECT_EQ(p->deny[2].arg_index, 0);
  EXPECT_EQ(p->deny[2].arg_mask, 0x10000000u);
  struct Bad {
    const char* text;
    const char* expect;
  } bad[] = {{"allow bpf", "line 1: unknown action"},
             {"deny\n", "missing syscall"},
             {"\ndeny not_a_syscall", "line 2: unknown syscall"},
             {"deny bpf EWHAT", "unknown errno"},
             {"deny clone EPERM if arg9 & 1", "arg0..arg5"},
             {"deny clone EPERM if arg0 & 0", "non-zero"},
             {"deny clone EPERM when arg0", "malformed"}};
  for (const auto& b : bad) {
    auto r = parse_seccomp_policy(b.text);
    ASSERT_FALSE(r.ok()) << b.text;
    EXPECT_NE(r.error().message.find(b.expect), std::string::npos) << r.error().message;
  }
}

TEST(SeccompPolicy, ShippedPolicyCompiles) {
  std::string path = env_or_empty("THAW_SECCOMP_POLICY");
  if (path.empty()) GTEST_SKIP() << "THAW_SECCOMP_POLICY not set; run via meson test";
  auto p = load_seccomp_policy(path);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_GT(p->deny.size(), 20u);
  auto bpf = compile_seccomp_policy(*p);
  ASSERT_TRUE(bpf.ok()) << bpf.error().message;
  EXPECT_GT(bpf->size(), p->deny.size());
}

}  // namespace
}  // namespace thaw

// An agent that died leaves its sandboxes' cgroups behind; a restarted agent
// with the same pid reuses the names and must not fail on them.
TEST(ProcessSandboxCgroup, AStaleEmptyGroupOfTheSameNameIsReplaced) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: cgroups";
  const std::string name = "stale-test-" + std::to_string(::getpid());
  std::string path;
  {
    auto first = thaw::Cgroup::create(name, 64ull << 20);
    if (!first) GTEST_SKIP() << "no usable cgroup here: " << first.error().message;
    path = first->path();
  }
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0) << "re-creating the leftover " << path;
  auto second = thaw::Cgroup::create(name, 64ull << 20);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(second->path(), path);
}
