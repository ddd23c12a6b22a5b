// Test harness for integration tests that drive a real thawd: starts the
// binary on a temporary socket and state directory (THAW_THAWD, THAW_INIT,
// THAW_SECCOMP_POLICY from meson), speaks raw HTTP/1.1 over the Unix socket,
// builds function ZIPs, and reads the per-function logs. Skips without root.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <strings.h>
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

namespace thaw::agent::testing {

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct ZipEntry {
  std::string name;
  std::string text;
  int mode = 0644;
};

inline std::vector<uint8_t> make_zip(const std::vector<ZipEntry>& files) {
  size_t total = 1 << 20;
  for (const auto& f : files) total += f.text.size() * 2;
  std::vector<uint8_t> out(total);
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

// A `provided` runtime in bash: echoes the event back as {"echo": EVENT};
// {"sleep":N} sleeps N seconds first; {"fail":true} reports a handler error;
// {"hog":1} grows the runtime itself past 400 MB (printf pads in one
// allocation: cheap enough to reach the limit within a 256 MB function's
// 14% CPU share even on a loaded machine).
inline constexpr const char* kEchoBootstrap = R"BASH(#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
echo "init from bash"
while true; do
  hdr=$(mktemp)
  event=$(curl -sS -D "$hdr" "$api/invocation/next")
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdr" | cut -d: -f2 | tr -d '[:space:]')
  echo "handling $event"
  case "$event" in
    *sleep*) sleep "$(echo "$event" | sed -E 's/.*"sleep": *([0-9.]+).*/\1/')" ;;
    *hog*) printf -v hog '%*s' 400000000 '' ;;
    *fail*) curl -sS -X POST "$api/invocation/$id/error" \
              -H 'Lambda-Runtime-Function-Error-Type: Function.Oops' \
              -d '{"errorMessage":"asked to fail","errorType":"Oops"}' >/dev/null; continue ;;
  esac
  curl -sS -X POST "$api/invocation/$id/response" -d "{\"echo\":$event}" >/dev/null
done
)BASH";

struct Response {
  unsigned status = 0;
  std::string headers;  // the raw header block
  std::string body;
  std::string header(const std::string& name) const {
    std::istringstream in(headers);
    std::string line;
    while (std::getline(in, line)) {
      if (line.size() > name.size() && strncasecmp(line.c_str(), name.c_str(), name.size()) == 0 &&
          line[name.size()] == ':') {
        std::string v = line.substr(name.size() + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        while (!v.empty() && (v.back() == '\r' || v.back() == ' ')) v.pop_back();
        return v;
      }
    }
    return "";
  }
  boost::json::value json() const {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    return ec ? boost::json::value() : v;
  }
};

class ThawdHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: sandboxes use namespaces and mounts";
    for (const char* v : {"THAW_THAWD", "THAW_INIT", "THAW_SECCOMP_POLICY"}) {
      ASSERT_NE(std::getenv(v), nullptr) << "meson sets " << v;
    }
    char tmpl[] = "/tmp/thaw-it-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_ = dir_ + "/thaw.sock";
    start();
  }
  void TearDown() override {
    stop(SIGKILL);
    if (!dir_.empty()) {
      // Images stay mounted by a killed agent; detach them before removal.
      std::system(("grep -o '" + dir_ + "/state/run/[a-z]*/[0-9a-f]*' /proc/self/mounts | "
                   "xargs -r -n1 umount -l 2>/dev/null").c_str());
      std::filesystem::remove_all(dir_);
    }
  }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {std::getenv("THAW_THAWD"), "--socket", socket_, "--state-dir",
                                     dir_ + "/state", "--init", std::getenv("THAW_INIT"),
                                     "--seccomp-policy", std::getenv("THAW_SECCOMP_POLICY")};
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
      if (std::filesystem::exists(socket_) && request("GET", "/agent/v1/health").status == 200) return;
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
    // io_uring releases a killed process's files asynchronously: its socket
    // may accept for a moment after the process is gone.
    eventually([&] { return request("GET", "/agent/v1/health").status == 0; }, 5);
    return status;
  }
  std::string log_text() const { return read_text(dir_ + "/thawd.log"); }
  std::string function_log(const std::string& name) const {
    return read_text(dir_ + "/state/logs/" + name + ".log");
  }

  // One request on a fresh connection (Connection: close).
  Response request(const std::string& method, const std::string& target,
                   const std::string& body = "", const std::string& extra_headers = "") const {
    Response r;
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, socket_.c_str(), socket_.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
      ::close(fd);
      return r;
    }
    timeval tv{recv_timeout_s_, 0};
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
                  const std::vector<ZipEntry>& files, boost::json::object extra = {}) const {
    boost::json::object o{{"FunctionName", name}, {"Runtime", runtime}};
    if (!handler.empty()) o["Handler"] = handler;
    o["Code"] = boost::json::object{{"ZipFile", base64_encode(make_zip(files))}};
    for (auto& [k, v] : extra) o[k] = v;
    return request("POST", "/2015-03-31/functions", boost::json::serialize(o));
  }
  Response create_echo(const std::string& name, boost::json::object extra = {}) const {
    return create(name, "provided", "", {{"bootstrap", kEchoBootstrap, 0755}}, std::move(extra));
  }
  Response invoke(const std::string& name, const std::string& payload,
                  const std::string& headers = "", const std::string& qualifier = "") const {
    std::string target = "/2015-03-31/functions/" + name + "/invocations";
    if (!qualifier.empty()) target += "?Qualifier=" + qualifier;
    return request("POST", target, payload, headers);
  }
  boost::json::value health() const { return request("GET", "/agent/v1/health").json(); }
  // Polls `done` every 20 ms for up to `seconds`.
  template <typename F>
  static bool eventually(F done, double seconds) {
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  }
  static size_t count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
    return n;
  }

  std::string dir_, socket_;
  pid_t pid_ = -1;
  long recv_timeout_s_ = 30;  // per request; a microVM's first cold start boots a kernel
};

}  // namespace thaw::agent::testing
