// What the perf/agent suites share: a thawd started on a temporary socket
// and state directory (THAW_THAWD, THAW_INIT, THAW_TEST_BOOTSTRAP,
// THAW_SECCOMP_POLICY from meson), a keep-alive HTTP/1.1 client on its
// socket, the ZIP of the C++ test runtime, and latency percentiles as
// benchmark counters. Used by thawd_invoke_bench.cc and async_bench.cc.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <benchmark/benchmark.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/api/base64.h"

namespace thaw::agent::bench {

using Clock = std::chrono::steady_clock;

inline std::vector<uint8_t> zip_with_bootstrap(const std::string& binary) {
  std::ifstream in(binary, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  std::vector<uint8_t> out(bytes.size() + (1 << 20));
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, "bootstrap");
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0755);
  archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
  archive_write_header(a, e);
  archive_write_data(a, bytes.data(), bytes.size());
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// A keep-alive HTTP/1.1 client on the agent's socket.
class Client {
 public:
  explicit Client(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size());
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  bool ok() const { return ok_; }
  // Returns the status (0 on a broken connection); body in `body`.
  // `headers` are extra request lines ("Name: value\r\n").
  unsigned call(const std::string& method, const std::string& target, const std::string& payload,
                std::string& body, const std::string& headers = "") {
    std::string msg = method + " " + target + " HTTP/1.1\r\nHost: thaw\r\n" + headers +
                      "Content-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
    if (::send(fd_, msg.data(), msg.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(msg.size())) return 0;
    for (;;) {
      size_t end = in_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t cl = in_.find("Content-Length: ");
        size_t len = cl < end ? std::stoul(in_.substr(cl + 16)) : 0;
        if (in_.size() >= end + 4 + len) {
          unsigned status = static_cast<unsigned>(std::stoul(in_.substr(9, 3)));
          body = in_.substr(end + 4, len);
          in_.erase(0, end + 4 + len);
          return status;
        }
      }
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return 0;
      in_.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string in_;
};

// thawd on a temporary directory; `error` says why it is not running.
struct Agent {
  std::string dir, socket;
  pid_t pid = -1;
  std::string zip_b64;
  std::string error;
  std::vector<std::string> extra_args;

  explicit Agent(std::vector<std::string> extra = {}) : extra_args(std::move(extra)) {
    if (::geteuid() != 0) {
      error = "needs root (sandboxes use namespaces and mounts)";
      return;
    }
    const char* boot = std::getenv("THAW_TEST_BOOTSTRAP");
    if (!std::getenv("THAW_THAWD") || !std::getenv("THAW_INIT") || !boot ||
        !std::getenv("THAW_SECCOMP_POLICY")) {
      error = "set THAW_THAWD, THAW_INIT, THAW_TEST_BOOTSTRAP, THAW_SECCOMP_POLICY (meson does)";
      return;
    }
    char tmpl[] = "/tmp/thaw-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    socket = dir + "/thaw.sock";
    zip_b64 = base64_encode(zip_with_bootstrap(boot));
    start();
  }
  ~Agent() {
    stop();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
  void start() {
    std::filesystem::remove(socket);
    std::vector<std::string> args = {std::getenv("THAW_THAWD"), "--socket", socket, "--state-dir",
                                     dir + "/state", "--init", std::getenv("THAW_INIT"),
                                     "--seccomp-policy", std::getenv("THAW_SECCOMP_POLICY"),
                                     "--max-sandboxes", "256"};
    for (const auto& a : extra_args) args.push_back(a);
    pid = ::fork();
    if (pid == 0) {
      std::string log = dir + "/thawd.log";
      (void)std::freopen(log.c_str(), "a", stderr);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!std::filesystem::exists(socket)) error = "thawd did not start; see " + dir + "/thawd.log";
  }
  void stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    ::waitpid(pid, nullptr, 0);
    pid = -1;
  }
  // MemorySize 1769 = one CPU: the sandbox's CPU share follows its memory
  // (Lambda's rule), and at the 128 MB default the cap, not the agent, would
  // set the rate.
  bool create(Client& c, const std::string& name) {
    std::string body;
    return c.call("POST", "/2015-03-31/functions",
                  "{\"FunctionName\":\"" + name +
                      "\",\"Runtime\":\"provided\",\"MemorySize\":1769,\"Code\":{\"ZipFile\":\"" +
                      zip_b64 + "\"}}",
                  body) == 201;
  }
};

// p50/p99/p99.9/max of `us` (microseconds) and their rate per second.
inline void report_latencies(benchmark::State& state, std::vector<double>& us, double seconds,
                             const char* rate_name) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  auto at = [&us](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(us.size() * q))]; };
  state.counters["p50_us"] = at(0.5);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
  state.counters["max_us"] = us.back();
  state.counters[rate_name] = static_cast<double>(us.size()) / seconds;
}

}  // namespace thaw::agent::bench
