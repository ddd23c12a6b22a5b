// Integration tests of thawd's service mode: start the real binary on a
// temporary socket and state directory and drive the Lambda API with raw
// HTTP/1.1 over the Unix socket. Functions run in the process backend, so
// the tests need root (namespaces, mounts); they skip otherwise.
#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/api/base64.h"

namespace thaw::agent {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

struct File {
  std::string name;
  std::string text;
  int mode = 0644;
};

std::vector<uint8_t> make_zip(const std::vector<File>& files) {
  std::vector<uint8_t> out(1 << 20);
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  for (const auto& f : files) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, f.name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, f.mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(f.text.size()));
    archive_write_header(a, e);
    archive_write_data(a, f.text.data(), f.text.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// A `provided` runtime in bash: echoes the event back; {"sleep":N} sleeps
// first (for the timeout test); {"fail":true} reports a handler error.
constexpr const char* kBootstrap = R"(#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
echo "init from bash"
while true; do
  hdr=$(mktemp)
  event=$(curl -sS -D "$hdr" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdr" | cut -d: -f2 | tr -d '[:space:]')
  echo "handling $event"
  case "$event" in
    *sleep*) sleep 5 ;;
    *fail*) curl -sS -X POST "$api/invocation/$id/error" \
              -H 'Lambda-Runtime-Function-Error-Type: Function.Oops' \
              -d '{"errorMessage":"asked to fail","errorType":"Oops"}' >/dev/null; continue ;;
  esac
  curl -sS -X POST "$api/invocation/$id/response" -d "{\"echo\":$event}" >/dev/null
done
)";

struct Response {
  unsigned status = 0;
  std::string headers;  // raw header block, lines lower-cased names kept as sent
  std::string body;
  std::string header(const std::string& name) const {
    std::istringstream in(headers);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
          line[name.size()] == ':') {
        std::string v = line.substr(name.size() + 1);
        while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
        while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
        return v;
      }
    }
    return "";
  }
};

class ThawdApi : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: sandboxes use namespaces and mounts";
    for (const char* v : {"THAW_THAWD", "THAW_INIT", "THAW_SECCOMP_POLICY"}) {
      ASSERT_NE(std::getenv(v), nullptr) << "meson sets " << v;
    }
    char tmpl[] = "/tmp/thaw-api-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/thaw.sock";
    start();
  }
  void TearDown() override {
    stop(SIGKILL);
    if (!dir_.empty()) {
      // Code images stay mounted by a killed agent; detach them before removal.
      std::system(("grep -o '" + dir_ + "/state/run/code/[0-9a-f]*' /proc/self/mounts | "
                   "xargs -r -n1 umount -l 2>/dev/null").c_str());
      fs::remove_all(dir_);
    }
  }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {std::getenv("THAW_THAWD"), "--socket", socket_, "--state-dir",
                                     dir_ + "/state", "--init", std::getenv("THAW_INIT"),
                                     "--seccomp-policy", std::getenv("THAW_SECCOMP_POLICY")};
    for (auto& e : extra_) args.push_back(e);
    for (auto& e : extra) args.push_back(e);
    pid_ = ::fork();
    if (pid_ == 0) {
      std::string log = dir_ + "/thawd.log";
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (fs::exists(socket_) && request("GET", "/agent/v1/health").status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "thawd did not start: " << log_text();
  }
  int stop(int sig) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  std::string log_text() {
    std::ifstream in(dir_ + "/thawd.log");
    return {std::istreambuf_iterator<char>(in), {}};
  }

  // One request on a fresh connection (Connection: close).
  Response request(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& extra_headers = "") {
    Response r;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, socket_.c_str(), socket_.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      ::close(fd);
      return r;
    }
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string msg = method + " " + target + " HTTP/1.1\r\nHost: thaw\r\nConnection: close\r\n" +
                      extra_headers + "Content-Length: " + std::to_string(body.size()) +
                      "\r\n\r\n" + body;
    ::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
    std::string in;
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) in.append(buf, static_cast<size_t>(n));
    ::close(fd);
    size_t end = in.find("\r\n\r\n");
    if (in.size() < 12 || end == std::string::npos) return r;
    r.status = static_cast<unsigned>(std::stoul(in.substr(9, 3)));
    r.headers = in.substr(0, end);
    r.body = in.substr(end + 4);
    return r;
  }

  Response create(const std::string& name, const std::string& runtime, const std::string& handler,
                  const std::vector<File>& files, json::object extra = {}) {
    json::object o{{"FunctionName", name}, {"Runtime", runtime}};
    if (!handler.empty()) o["Handler"] = handler;
    o["Code"] = json::object{{"ZipFile", base64_encode(make_zip(files))}};
    for (auto& [k, v] : extra) o[k] = v;
    return request("POST", "/2015-03-31/functions", json::serialize(o));
  }
  Response create_echo(const std::string& name, json::object extra = {}) {
    return create(name, "provided", "", {{"bootstrap", kBootstrap, 0755}}, std::move(extra));
  }
  Response invoke(const std::string& name, const std::string& payload,
                  const std::string& headers = "") {
    return request("POST", "/2015-03-31/functions/" + name + "/invocations", payload, headers);
  }
  std::string function_log(const std::string& name) {
    std::ifstream in(dir_ + "/state/logs/" + name + ".log");
    return {std::istreambuf_iterator<char>(in), {}};
  }
  static size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  }

  std::string dir_, socket_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
};

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
