// Cold starts, creation rate and density; see cold_modes.h.
#include "perf/thaw-bench/cold_modes.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include <boost/json.hpp>

#include "agent/api/base64.h"
#include "perf/thaw-bench/process_stats.h"

namespace thaw::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Names unique to this thaw-bench process, so a shared agent (--socket)
// never sees two runs collide.
std::string function_name(std::string_view kind, uint32_t i) {
  return fmt::format("bench-{}-{}-{}", kind, ::getpid(), i);
}

uint64_t ms_to_ns(double ms) { return ms <= 0 ? 0 : static_cast<uint64_t>(ms * 1e6); }

// Deletes the functions it was given when it goes out of scope (their
// sandboxes go with them), so a failed mode leaves the agent clean.
struct Cleanup {
  const Target& target;
  std::vector<std::string> names;
  ~Cleanup() {
    if (names.empty()) return;
    auto c = UdsHttpClient::connect(target.socket());
    if (!c) return;
    for (const auto& n : names) (void)target.delete_function(*c, n);
  }
};

Result<UdsHttpClient> connect_for(const Target& target, std::string_view mode) {
  if (!target.supports_create()) {
    return Error::format("mode {} creates functions; the native baseline serves one fixed function",
                         mode);
  }
  return UdsHttpClient::connect(target.socket());
}

}  // namespace

std::map<std::string, double> parse_report_fields(std::string_view log) {
  std::map<std::string, double> out;
  size_t at = log.find("REPORT RequestId:");
  if (at == std::string_view::npos) return out;
  std::string_view line = log.substr(at);
  line = line.substr(0, line.find('\n'));
  size_t start = 0;
  while (start < line.size()) {
    size_t tab = line.find('\t', start);
    std::string_view field = line.substr(start, tab == std::string_view::npos ? line.npos : tab - start);
    start = tab == std::string_view::npos ? line.size() : tab + 1;
    size_t colon = field.find(": ");
    if (colon == std::string_view::npos) continue;
    std::string value(field.substr(colon + 2));
    char* end = nullptr;
    double v = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) continue;  // RequestId and other text fields
    out[std::string(field.substr(0, colon))] = v;
  }
  return out;
}

// Idle and busy sandboxes from GET /agent/v1/health (-1 when unreadable).
std::pair<int64_t, int64_t> health_sandboxes(UdsHttpClient& client) {
  auto h = client.call("GET", "/agent/v1/health", "");
  if (!h || h->status != 200) return {-1, -1};
  boost::system::error_code ec;
  auto v = boost::json::parse(h->body, ec);
  if (ec || !v.is_object()) return {-1, -1};
  auto field = [&v](const char* k) -> int64_t {
    const auto& o = v.as_object();
    return o.contains(k) && o.at(k).is_number() ? o.at(k).to_number<int64_t>() : -1;
  };
  return {field("idle_sandboxes"), field("busy_sandboxes")};
}

// Waits until the agent has no sandbox left (its idle reaper killed the
// last sample's), so the next invoke is a cold start of the same version.
Result<void> wait_for_no_sandboxes(UdsHttpClient& client) {
  auto deadline = Clock::now() + std::chrono::seconds(60);
  std::pair<int64_t, int64_t> seen{-1, -1};
  while (Clock::now() < deadline) {
    seen = health_sandboxes(client);
    if (seen.first == 0 && seen.second == 0) return {};
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Error::format("--cold-by reap: the agent still had {} idle and {} busy sandboxes after 60 s; "
                       "start thawd with --idle-timeout 1 (thaw-bench --thawd-arg=--idle-timeout=1) "
                       "and keep other clients off it", seen.first, seen.second);
}

Result<ColdResult> run_cold(const Target& target, const std::string& payload, uint32_t samples,
                            bool reap) {
  auto client = connect_for(target, "cold");
  if (!client) return client.error();
  ColdResult out;
  Cleanup cleanup{target, {}};
  double cpu = 0;
  const std::string reaped_name = function_name("reap", 0);
  if (reap) {
    // One function; its first cold start (which may boot and snapshot) is
    // not a sample.
    if (auto c = target.create_function(*client, reaped_name); !c) return c.error();
    cleanup.names.push_back(reaped_name);
    if (auto r = invoke_once(*client, reaped_name, payload); !r) return r.error().context("priming invoke");
  }
  for (uint32_t i = 0; i < samples; ++i) {
    std::string name = reaped_name;
    if (reap) {
      if (auto w = wait_for_no_sandboxes(*client); !w) return w.error();
    } else {
      name = function_name("cold", i);
      if (auto c = target.create_function(*client, name); !c) return c.error();
      cleanup.names.push_back(name);
    }
    auto cpu0 = CpuSnapshot::take(target.pid());
    auto t0 = Clock::now();
    auto r = invoke_once(*client, name, payload, /*tail_log=*/true);
    auto t1 = Clock::now();
    cpu += CpuSnapshot::take(target.pid()).seconds_since(cpu0);
    out.total.seconds += std::chrono::duration<double>(t1 - t0).count();
    if (!r) {
      ++out.total.errors;
      if (out.total.first_error.empty()) out.total.first_error = r.error().message;
      continue;
    }
    uint64_t total_ns = static_cast<uint64_t>((t1 - t0).count());
    ++out.total.ok;
    out.total.latency.record(total_ns);
    out.total.service.record(total_ns);
    auto log = agent::base64_decode(r->header("X-Amz-Log-Result"));
    auto fields = parse_report_fields(log ? std::string_view(reinterpret_cast<const char*>(log->data()),
                                                             log->size())
                                          : std::string_view());
    // A cold start reports Init Duration, or Restore Duration when restored
    // from a snapshot (Lambda SnapStart's REPORT has no Init Duration).
    if (!fields.contains("Init Duration") && !fields.contains("Restore Duration")) {
      return Error::format("sample {} of {} was not a cold start: its REPORT line ({}) has neither "
                           "Init Duration nor Restore Duration; is another client invoking it?",
                           i, name, log ? "present" : "missing X-Amz-Log-Result");
    }
    uint64_t accounted = 0;
    for (const auto& [k, v] : fields) {
      if (k.ends_with("Duration") && !k.starts_with("Billed")) {
        out.phases[k].record(ms_to_ns(v));
        accounted += ms_to_ns(v);
      }
    }
    out.phases["Other (HTTP, routing, spawn)"].record(total_ns > accounted ? total_ns - accounted : 0);
    if (!reap) {
      // Each cold sandbox is dropped right away so samples do not pile up.
      if (auto d = target.delete_function(*client, name); !d) return d.error();
      cleanup.names.pop_back();
    }
  }
  out.total.cpu_seconds = cpu;
  return out;
}

Result<CreateRateResult> run_create_rate(const Target& target, const std::string& payload,
                                         uint32_t sandboxes, uint32_t concurrency) {
  auto client = connect_for(target, "create-rate");
  if (!client) return client.error();
  Cleanup cleanup{target, {}};
  for (uint32_t i = 0; i < sandboxes; ++i) {
    std::string name = function_name("rate", i);
    if (auto c = target.create_function(*client, name); !c) return c.error();
    cleanup.names.push_back(name);
  }
  std::atomic<uint32_t> next{0};
  std::vector<LoadResult> parts(std::max<uint32_t>(concurrency, 1));
  auto cpu0 = CpuSnapshot::take(target.pid());
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (auto& part : parts) {
    threads.emplace_back([&, &part = part] {
      auto c = UdsHttpClient::connect(target.socket());
      if (!c) {
        part.errors = 1;
        part.first_error = c.error().message;
        return;
      }
      for (uint32_t i; (i = next.fetch_add(1)) < sandboxes;) {
        auto t0 = Clock::now();
        auto r = invoke_once(*c, cleanup.names[i], payload);
        if (!r) {
          ++part.errors;
          if (part.first_error.empty()) part.first_error = r.error().message;
          continue;
        }
        ++part.ok;
        part.latency.record(static_cast<uint64_t>((Clock::now() - t0).count()));
      }
    });
  }
  for (auto& t : threads) t.join();
  CreateRateResult out;
  for (const auto& p : parts) out.cold.merge(p);
  out.cold.service = out.cold.latency;
  out.cold.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  out.cold.cpu_seconds = CpuSnapshot::take(target.pid()).seconds_since(cpu0);
  out.sandboxes = static_cast<uint32_t>(out.cold.ok);
  return out;
}

Result<DensityResult> run_density(const Target& target, const std::string& payload,
                                  uint64_t budget_bytes, uint32_t max_sandboxes) {
  auto client = connect_for(target, "density");
  if (!client) return client.error();
  Cleanup cleanup{target, {}};
  DensityResult out;
  out.budget_bytes = budget_bytes;
  out.baseline_pss_bytes = descendants_pss_bytes(target.pid());
  out.stop_reason = fmt::format("reached --density-max {}", max_sandboxes);
  for (uint32_t i = 0; i < max_sandboxes; ++i) {
    std::string name = function_name("dense", i);
    if (auto c = target.create_function(*client, name); !c) return c.error();
    cleanup.names.push_back(name);
    auto r = invoke_once(*client, name, payload);
    if (!r) {
      out.stop_reason = "sandbox " + std::to_string(i + 1) + " failed: " + r.error().message;
      break;
    }
    uint64_t pss = descendants_pss_bytes(target.pid());
    if (pss - std::min(pss, out.baseline_pss_bytes) > budget_bytes) {
      out.stop_reason = fmt::format("sandbox {} took the sandboxes' PSS to {} MiB, over the {} MiB "
                                    "budget", i + 1, pss >> 20, budget_bytes >> 20);
      break;
    }
    out.resident = i + 1;
    out.pss_bytes = pss - std::min(pss, out.baseline_pss_bytes);
  }
  if (auto h = client->call("GET", "/agent/v1/health", ""); h && h->status == 200) {
    boost::system::error_code ec;
    auto v = boost::json::parse(h->body, ec);
    if (!ec && v.is_object() && v.as_object().contains("idle_sandboxes") &&
        v.at("idle_sandboxes").is_number()) {
      out.idle_reported = v.at("idle_sandboxes").to_number<uint64_t>();
    }
  }
  return out;
}

}  // namespace thaw::bench
