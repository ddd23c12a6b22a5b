#include "agent/ops/pool_view.h"

namespace thaw::agent::ops {

AgentView make_agent_view(SandboxPool& pool, const FunctionRegistry& registry,
                          std::string logs_dir) {
  AgentView v;
  v.max_sandboxes = [&pool] { return pool.max_sandboxes(); };
  v.counts = [&pool] {
    SandboxCounts c;
    c.busy = pool.busy_sandboxes();  // includes sandboxes still starting
    for (const auto& s : pool.sandboxes()) {
      if (s.state == "idle") ++(s.provisioned ? c.provisioned : c.idle);
    }
    return c;
  };
  v.sandboxes = [&pool, &registry] {
    std::vector<SandboxRow> rows;
    for (const auto& s : pool.sandboxes()) {
      SandboxRow r{s.function, s.version, s.state, s.provisioned, s.pid, s.memory_bytes, 0,
                   s.age_s, s.invocations};
      if (auto c = registry.get_version(s.function, s.version)) r.memory_mb = c->memory_mb;
      rows.push_back(std::move(r));
    }
    return rows;
  };
  v.functions = [&registry] { return registry.list().size(); };
  v.function_exists = [&registry](const std::string& name) { return registry.get(name).has_value(); };
  // Keep-alive 0: every idle on-demand sandbox (provisioned ones stay).
  v.kill_idle = [&pool] { pool.reap_idle(std::chrono::milliseconds(0)); };
  v.logs_dir = std::move(logs_dir);
  return v;
}

void record_pool_invocation(MetricsRegistry& m, const InvokeRecord& r) {
  Outcome outcome = Outcome::kSuccess;
  switch (r.outcome) {
    case InvokeRecord::Outcome::kSuccess: outcome = Outcome::kSuccess; break;
    case InvokeRecord::Outcome::kFunctionError:
    case InvokeRecord::Outcome::kTimeout: outcome = Outcome::kFunctionError; break;
    case InvokeRecord::Outcome::kThrottled: outcome = Outcome::kThrottled; break;
    case InvokeRecord::Outcome::kServiceError: outcome = Outcome::kServiceError; break;
  }
  m.record_invocation(r.function, outcome);
  if (outcome == Outcome::kThrottled) return;
  m.record_start(r.function, r.cold);
  m.observe_function_duration(r.function, r.duration_ms / 1000);
  if (r.phases) {
    m.record_cold_start_phase("mounts", r.phases->mounts_ms / 1000);
    m.record_cold_start_phase("create", r.phases->create_ms / 1000);
    m.record_cold_start_phase("init", r.phases->init_ms / 1000);
    m.record_cold_start_phase("first_invoke", r.phases->first_invoke_ms / 1000);
  }
}

void observe_pool(SandboxPool& pool, MetricsRegistry& metrics) {
  pool.set_invoke_observer([&metrics](const InvokeRecord& r) { record_pool_invocation(metrics, r); });
}

}  // namespace thaw::agent::ops
