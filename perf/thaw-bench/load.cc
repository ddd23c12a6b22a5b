// Closed- and open-loop load over Unix-socket HTTP; see load.h.
#include "perf/thaw-bench/load.h"

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "perf/thaw-bench/process_stats.h"

namespace thaw::bench {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t ns_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

// One load thread's connection, reconnected after a transport error.
struct Worker {
  const Target& target;
  std::optional<UdsHttpClient> client;
  LoadResult result;

  void note_error(const std::string& what) {
    ++result.errors;
    if (result.first_error.empty()) result.first_error = what;
  }
  // Returns true when the invoke succeeded.
  bool invoke(const std::string& function, const std::string& payload) {
    if (!client) {
      auto c = UdsHttpClient::connect(target.socket());
      if (!c) {
        note_error(c.error().message);
        return false;
      }
      client.emplace(std::move(*c));
    }
    auto r = client->call("POST", Target::invoke_path(function), payload);
    if (!r) {
      note_error(r.error().message);
      client.reset();  // a transport error leaves the connection unusable
      return false;
    }
    if (auto failure = invoke_failure(*r, function)) {
      note_error(*failure);
      return false;
    }
    ++result.ok;
    return true;
  }
};

// Runs `body(worker)` on `threads` threads and merges what they measured,
// with the agent's CPU over the whole window.
template <typename Body>
LoadResult run_threads(const Target& target, uint32_t threads, Body body) {
  std::vector<Worker> workers;
  workers.reserve(threads);
  for (uint32_t i = 0; i < threads; ++i) workers.push_back(Worker{target, std::nullopt, {}});
  auto cpu0 = CpuSnapshot::take(target.pid());
  auto start = Clock::now();
  std::vector<std::thread> pool;
  for (auto& w : workers) pool.emplace_back([&w, &body] { body(w); });
  for (auto& t : pool) t.join();
  LoadResult total;
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  total.cpu_seconds = CpuSnapshot::take(target.pid()).seconds_since(cpu0);
  for (auto& w : workers) total.merge(w.result);
  return total;
}

}  // namespace

void LoadResult::merge(const LoadResult& other) {
  latency.merge(other.latency);
  service.merge(other.service);
  ok += other.ok;
  errors += other.errors;
  if (first_error.empty()) first_error = other.first_error;
}

std::optional<std::string> invoke_failure(const HttpResult& r, const std::string& function) {
  if (r.status != 200) {
    return fmt::format("Invoke {} answered {}: {}", function, r.status, r.body.substr(0, 300));
  }
  if (!r.header("X-Amz-Function-Error").empty()) {
    return fmt::format("Invoke {} returned a function error: {}", function, r.body.substr(0, 300));
  }
  return std::nullopt;
}

Result<HttpResult> invoke_once(UdsHttpClient& client, const std::string& function,
                               const std::string& payload, bool tail_log) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (tail_log) headers.emplace_back("X-Amz-Log-Type", "Tail");
  auto r = client.call("POST", Target::invoke_path(function), payload, headers);
  if (!r) return r.error();
  if (auto failure = invoke_failure(*r, function)) return Error{*failure, 0};
  return r;
}

Result<LoadResult> run_closed_loop(const Target& target, const std::string& function,
                                   const std::string& payload, const ClosedLoopOptions& o) {
  if (o.concurrency == 0 || o.seconds <= 0) {
    return Error::format("closed loop needs --concurrency >= 1 and --duration > 0");
  }
  auto end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(o.seconds));
  return run_threads(target, o.concurrency, [&](Worker& w) {
    for (auto t = Clock::now(); t < end; t = Clock::now()) {
      if (w.invoke(function, payload)) {
        uint64_t ns = ns_between(t, Clock::now());
        w.result.latency.record(ns);
        w.result.service.record(ns);
      } else if (!w.client) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // agent gone: do not spin
      }
    }
  });
}

Result<LoadResult> run_open_loop(const Target& target, const std::string& function,
                                 const std::string& payload, const OpenLoopOptions& o) {
  if (o.rate <= 0 || o.seconds <= 0 || o.connections == 0) {
    return Error::format("open loop needs --rate > 0, --duration > 0 and --connections >= 1");
  }
  // The schedule: intended send times, handed out in order to whichever
  // connection is free. A request whose connection is still busy at its
  // intended time is sent late, and its latency counts the wait.
  std::mutex mu;
  std::mt19937_64 rng(o.seed);
  std::exponential_distribution<double> gap(o.rate);
  // The schedule starts once the threads are up and the CPU snapshot taken
  // (a /proc scan), so its first requests are not late before they begin.
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const double horizon = o.seconds;
  double next_offset = 0;
  auto next_intended = [&]() -> std::optional<Clock::time_point> {
    std::lock_guard lock(mu);
    if (next_offset >= horizon) return std::nullopt;
    double at = next_offset;
    next_offset += o.poisson ? gap(rng) : 1.0 / o.rate;
    return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(at));
  };
  return run_threads(target, o.connections, [&](Worker& w) {
    while (auto intended = next_intended()) {
      std::this_thread::sleep_until(*intended);
      auto sent = Clock::now();
      if (w.invoke(function, payload)) {
        auto done = Clock::now();
        w.result.latency.record(ns_between(*intended, done));
        w.result.service.record(ns_between(sent, done));
      }
    }
  });
}

}  // namespace thaw::bench
