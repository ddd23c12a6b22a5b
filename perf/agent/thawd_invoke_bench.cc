// End to end through thawd: scheduler socket -> HTTP/1.1 parse -> router ->
// worker -> process sandbox (thaw-init + a trivial C++ `provided` runtime)
// -> back. Warm: one keep-alive connection, one invoke after another
// (p50/p99/p99.9 in µs, invocations/s). Cold: each iteration invokes a
// freshly created function (sandbox start + Init + first invoke). Needs root.
#include <archive.h>
#include <archive_entry.h>
#include <benchmark/benchmark.h>
#include <signal.h>
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

namespace thaw::agent {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

std::vector<uint8_t> zip_with_bootstrap(const std::string& binary) {
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
  bool ok() const { return ok_; }
  // Returns the status (0 on a broken connection); body in `body`.
  unsigned call(const std::string& method, const std::string& target, const std::string& payload,
                std::string& body) {
    std::string msg = method + " " + target + " HTTP/1.1\r\nHost: thaw\r\nContent-Length: " +
                      std::to_string(payload.size()) + "\r\n\r\n" + payload;
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

struct Agent {
  std::string dir, socket;
  pid_t pid = -1;
  std::string zip_b64;
  std::string error;

  Agent() {
    if (::geteuid() != 0) {
      error = "needs root (sandboxes use namespaces and mounts)";
      return;
    }
    const char* thawd = std::getenv("THAW_THAWD");
    const char* init = std::getenv("THAW_INIT");
    const char* boot = std::getenv("THAW_TEST_BOOTSTRAP");
    const char* policy = std::getenv("THAW_SECCOMP_POLICY");
    if (!thawd || !init || !boot || !policy) {
      error = "set THAW_THAWD, THAW_INIT, THAW_TEST_BOOTSTRAP, THAW_SECCOMP_POLICY (meson does)";
      return;
    }
    char tmpl[] = "/tmp/thaw-bench-XXXXXX";
    dir = ::mkdtemp(tmpl);
    socket = dir + "/thaw.sock";
    zip_b64 = base64_encode(zip_with_bootstrap(boot));
    pid = ::fork();
    if (pid == 0) {
      std::string log = dir + "/thawd.log";
      (void)std::freopen(log.c_str(), "a", stderr);
      ::execl(thawd, thawd, "--socket", socket.c_str(), "--state-dir", (dir + "/state").c_str(),
              "--init", init, "--seccomp-policy", policy, "--max-sandboxes", "256", nullptr);
      _exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!fs::exists(socket)) error = "thawd did not start; see " + dir + "/thawd.log";
  }
  ~Agent() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
    if (!dir.empty()) fs::remove_all(dir);
  }
  bool create(Client& c, const std::string& name) {
    std::string body;
    return c.call("POST", "/2015-03-31/functions",
                  "{\"FunctionName\":\"" + name + "\",\"Runtime\":\"provided\",\"Code\":{\"ZipFile\":\"" +
                      zip_b64 + "\"}}",
                  body) == 201;
  }
};

void report(benchmark::State& state, std::vector<double>& us, double seconds) {
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  auto at = [&us](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(us.size() * q))]; };
  state.counters["p50_us"] = at(0.5);
  state.counters["p99_us"] = at(0.99);
  state.counters["p999_us"] = at(0.999);
  state.counters["max_us"] = us.back();
  state.counters["invokes_per_s"] = static_cast<double>(us.size()) / seconds;
}

void BM_WarmInvoke(benchmark::State& state) {
  Agent agent;
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  Client c(agent.socket);
  std::string body;
  if (!c.ok() || !agent.create(c, "warm") ||
      c.call("POST", "/2015-03-31/functions/warm/invocations", "{}", body) != 200) {
    return state.SkipWithError("creating or cold-invoking the function failed");
  }
  std::vector<double> us;
  auto start = Clock::now();
  for (auto _ : state) {
    auto t = Clock::now();
    if (c.call("POST", "/2015-03-31/functions/warm/invocations", "{}", body) != 200) {
      return state.SkipWithError("a warm invoke failed");
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  report(state, us, std::chrono::duration<double>(Clock::now() - start).count());
}
BENCHMARK(BM_WarmInvoke)->Iterations(3000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_ColdInvoke(benchmark::State& state) {
  Agent agent;
  if (!agent.error.empty()) return state.SkipWithError(agent.error.c_str());
  Client c(agent.socket);
  std::string body;
  std::vector<double> us;
  int n = 0;
  auto start = Clock::now();
  for (auto _ : state) {
    state.PauseTiming();
    std::string name = "cold" + std::to_string(n++);
    bool created = agent.create(c, name);  // same ZIP: the image is converted once
    state.ResumeTiming();
    if (!created) return state.SkipWithError("CreateFunction failed");
    auto t = Clock::now();
    if (c.call("POST", "/2015-03-31/functions/" + name + "/invocations", "{}", body) != 200) {
      return state.SkipWithError("a cold invoke failed");
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  report(state, us, std::chrono::duration<double>(Clock::now() - start).count());
}
BENCHMARK(BM_ColdInvoke)->Iterations(100)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::agent

BENCHMARK_MAIN();
