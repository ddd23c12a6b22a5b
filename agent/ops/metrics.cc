#include "agent/ops/metrics.h"

#include <cmath>
#include <mutex>

#include <fmt/format.h>

namespace thaw::agent::ops {

namespace {

constexpr size_t kMaxPhases = 32;  // phase names come from code; a cap all the same

uint64_t to_ns(double seconds) {
  if (!(seconds > 0)) return 0;  // also NaN
  double ns = seconds * 1e9;
  return ns >= 1.8e19 ? UINT64_MAX / 2 : static_cast<uint64_t>(ns);
}

// Prometheus wants Go's float formatting: shortest round-trip, +Inf spelled so.
std::string format_bound(double v) { return fmt::format("{}", v); }

void header(std::string& out, std::string_view name, std::string_view type,
            std::string_view help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string_view outcome_label(Outcome outcome) {
  switch (outcome) {
    case Outcome::kSuccess: return "success";
    case Outcome::kFunctionError: return "function_error";
    case Outcome::kThrottled: return "throttled";
    case Outcome::kClientError: return "client_error";
    case Outcome::kServiceError: return "service_error";
  }
  return "unknown";
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(to_ns(seconds), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

double Histogram::sum() const {
  return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
}

std::vector<uint64_t> Histogram::cumulative() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    out[i] = running;
  }
  return out;
}

void Histogram::render(std::string& out, std::string_view name, std::string_view labels) const {
  // Buckets are read one by one while others observe: make the exposition
  // self-consistent by deriving _count from the +Inf bucket just read.
  std::vector<uint64_t> cum = cumulative();
  std::string_view sep = labels.empty() ? "" : ",";
  for (size_t i = 0; i < bounds_.size(); ++i) {
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                       format_bound(bounds_[i]), cum[i]);
  }
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cum.back());
  std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  out += fmt::format("{}_sum{} {}\n", name, braces, sum());
  out += fmt::format("{}_count{} {}\n", name, braces, cum.back());
}

MetricsRegistry::PerFunction& MetricsRegistry::series(std::string_view function) {
  {
    std::shared_lock lock(mu_);
    if (auto it = functions_.find(function); it != functions_.end()) return *it->second;
  }
  std::unique_lock lock(mu_);
  if (auto it = functions_.find(function); it != functions_.end()) return *it->second;
  std::string key(function);
  if (functions_.size() >= kMaxFunctionSeries) key = kOtherFunction;
  auto& slot = functions_[key];
  if (!slot) slot = std::make_unique<PerFunction>();
  return *slot;
}

const MetricsRegistry::PerFunction* MetricsRegistry::find(std::string_view function) const {
  std::shared_lock lock(mu_);
  auto it = functions_.find(function);
  return it == functions_.end() ? nullptr : it->second.get();
}

void MetricsRegistry::record_invocation(std::string_view function, Outcome outcome) {
  series(function).outcomes[static_cast<size_t>(outcome)].fetch_add(1, std::memory_order_relaxed);
}

void MetricsRegistry::observe_invoke_latency(std::string_view function, double seconds) {
  series(function).latency.observe(seconds);
}

void MetricsRegistry::observe_function_duration(std::string_view function, double seconds) {
  series(function).duration.observe(seconds);
}

void MetricsRegistry::record_start(std::string_view function, bool cold) {
  PerFunction& f = series(function);
  (cold ? f.cold : f.warm).fetch_add(1, std::memory_order_relaxed);
}

void MetricsRegistry::record_cold_start_phase(std::string_view phase, double seconds) {
  Histogram* h = nullptr;
  {
    std::shared_lock lock(mu_);
    if (auto it = phases_.find(phase); it != phases_.end()) h = it->second.get();
  }
  if (!h) {
    std::unique_lock lock(mu_);
    auto it = phases_.find(phase);
    if (it == phases_.end()) {
      if (phases_.size() >= kMaxPhases) return;
      it = phases_.emplace(std::string(phase), std::make_unique<Histogram>()).first;
    }
    h = it->second.get();
  }
  h->observe(seconds);
}

uint64_t MetricsRegistry::invocations(std::string_view function, Outcome outcome) const {
  const PerFunction* f = find(function);
  return f ? f->outcomes[static_cast<size_t>(outcome)].load(std::memory_order_relaxed) : 0;
}

uint64_t MetricsRegistry::starts(std::string_view function, bool cold) const {
  const PerFunction* f = find(function);
  return f ? (cold ? f->cold : f->warm).load(std::memory_order_relaxed) : 0;
}

uint64_t MetricsRegistry::latency_count(std::string_view function) const {
  const PerFunction* f = find(function);
  return f ? f->latency.count() : 0;
}

std::string MetricsRegistry::render_prometheus(const SandboxGauges& g) const {
  std::string out;
  std::shared_lock lock(mu_);
  auto each_function = [&](auto&& line) {
    for (const auto& [name, f] : functions_) {
      line(fmt::format("function=\"{}\"", escape_label_value(name)), *f);
    }
  };
  auto load = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };

  header(out, "thaw_invocations_total", "counter", "Invoke requests answered, by function and outcome.");
  each_function([&](const std::string& fl, const PerFunction& f) {
    for (size_t i = 0; i < kOutcomeCount; ++i) {
      out += fmt::format("thaw_invocations_total{{{},outcome=\"{}\"}} {}\n", fl,
                         outcome_label(static_cast<Outcome>(i)), load(f.outcomes[i]));
    }
  });
  header(out, "thaw_errors_total", "counter",
         "Invocations that ended in a function error or an agent (5xx) error.");
  each_function([&](const std::string& fl, const PerFunction& f) {
    out += fmt::format("thaw_errors_total{{{}}} {}\n", fl,
                       load(f.outcomes[size_t(Outcome::kFunctionError)]) +
                           load(f.outcomes[size_t(Outcome::kServiceError)]));
  });
  header(out, "thaw_throttles_total", "counter", "Invocations refused with 429 (no sandbox slot).");
  each_function([&](const std::string& fl, const PerFunction& f) {
    out += fmt::format("thaw_throttles_total{{{}}} {}\n", fl,
                       load(f.outcomes[size_t(Outcome::kThrottled)]));
  });
  header(out, "thaw_cold_starts_total", "counter", "Invocations that started a new sandbox.");
  each_function([&](const std::string& fl, const PerFunction& f) {
    out += fmt::format("thaw_cold_starts_total{{{}}} {}\n", fl, load(f.cold));
  });
  header(out, "thaw_warm_starts_total", "counter", "Invocations served by a warm sandbox.");
  each_function([&](const std::string& fl, const PerFunction& f) {
    out += fmt::format("thaw_warm_starts_total{{{}}} {}\n", fl, load(f.warm));
  });
  header(out, "thaw_invoke_duration_seconds", "histogram",
         "Synchronous Invoke wall time as the caller saw it (request parsed to answer queued).");
  each_function([&](const std::string& fl, const PerFunction& f) {
    f.latency.render(out, "thaw_invoke_duration_seconds", fl);
  });
  header(out, "thaw_function_duration_seconds", "histogram",
         "Handler duration (the REPORT line's Duration), sync and async invocations.");
  each_function([&](const std::string& fl, const PerFunction& f) {
    f.duration.render(out, "thaw_function_duration_seconds", fl);
  });
  header(out, "thaw_cold_start_phase_seconds", "histogram",
         "Time spent in each phase of a cold start.");
  for (const auto& [phase, h] : phases_) {
    h->render(out, "thaw_cold_start_phase_seconds",
              fmt::format("phase=\"{}\"", escape_label_value(phase)));
  }
  header(out, "thaw_sandboxes", "gauge", "Live sandboxes by state.");
  out += fmt::format("thaw_sandboxes{{state=\"idle\"}} {}\n", g.idle);
  out += fmt::format("thaw_sandboxes{{state=\"busy\"}} {}\n", g.busy);
  out += fmt::format("thaw_sandboxes{{state=\"provisioned\"}} {}\n", g.provisioned);
  header(out, "thaw_invocations_in_flight", "gauge", "Invoke requests being answered now.");
  out += fmt::format("thaw_invocations_in_flight {}\n", g.in_flight);
  header(out, "thaw_draining", "gauge", "1 while the agent drains (new invokes get 503).");
  out += fmt::format("thaw_draining {}\n", g.draining ? 1 : 0);
  header(out, "thaw_async_events_pending", "gauge",
         "Asynchronous (Event) invocations queued on disk and not finished: waiting for a try, "
         "a retry, or being tried.");
  out += fmt::format("thaw_async_events_pending {}\n", g.async_events_pending);
  header(out, "thaw_async_events_in_flight", "gauge",
         "Asynchronous (Event) invocations being tried now.");
  out += fmt::format("thaw_async_events_in_flight {}\n", g.async_events_in_flight);
  return out;
}

MetricsRegistry& agent_metrics() {
  static MetricsRegistry registry;
  return registry;
}

}  // namespace thaw::agent::ops
