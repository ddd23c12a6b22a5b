// Wires agent/ops to the running agent: the AgentView over the SandboxPool
// and FunctionRegistry that /agent/v1 reads, and the pool's invoke observer
// that feeds the metrics registry (outcomes, cold/warm starts, handler
// durations, cold-start phases). Used by agent/service.cc.
#pragma once

#include <string>

#include "agent/api/function_registry.h"
#include "agent/invoke/sandbox_pool.h"
#include "agent/ops/agent_ops.h"
#include "agent/ops/metrics.h"

namespace thaw::agent::ops {

// Every callback runs on the loop thread, as the pool requires.
AgentView make_agent_view(SandboxPool& pool, const FunctionRegistry& registry,
                          std::string logs_dir);

// The metrics one finished (or throttled) invocation adds.
void record_pool_invocation(MetricsRegistry& metrics, const InvokeRecord& record);

// Installs record_pool_invocation as the pool's observer.
void observe_pool(SandboxPool& pool, MetricsRegistry& metrics = agent_metrics());

}  // namespace thaw::agent::ops
