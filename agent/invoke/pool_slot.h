// SandboxPool's private records: one invocation (Call), one watched
// sandbox (Slot) and one cold start in a worker (ColdJob). Included only by
// agent/invoke/sandbox_pool.cc and provisioned.cc.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/invoke/sandbox_pool.h"

namespace thaw::agent {

// One invocation in a sandbox.
struct SandboxPool::Call {
  InvokeOutcome out;
  InvokeDone done;
  std::string log;
  uint32_t memory_mb = 128;
  uint32_t timeout_s = 3;
  bool counted_unreserved = false;
  bool awaiting_metrics = false;
  bool keep = false;
  uint64_t max_memory = 0;
  std::chrono::steady_clock::time_point start;
};

// One sandbox the loop watches.
struct SandboxPool::Slot {
  enum class State { kIdle, kBusy, kRetired };
  std::unique_ptr<Sandbox> sandbox;
  std::string key;
  std::string function;
  std::string version;
  uint64_t generation = 0;
  // The provisioned-concurrency entry (function, qualifier) this sandbox
  // belongs to; empty function: an on-demand sandbox.
  std::pair<std::string, std::string> provisioned_for;
  State state = State::kIdle;
  std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point idle_since = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  uint64_t served = 0;
  uint64_t oom_kills = 0;  // the cgroup's count after the last invocation
  IoOp watch_op;
  std::unique_ptr<Call> call;
  bool provisioned() const { return !provisioned_for.first.empty(); }
};

// A cold start handed to a worker: for an invocation, or to provision.
struct SandboxPool::ColdJob {
  FunctionConfig config;
  uint64_t generation = 0;
  std::unique_ptr<Call> call;      // null: a provisioned sandbox
  std::vector<uint8_t> payload;
  std::pair<std::string, std::string> provisioned_for;
};

}  // namespace thaw::agent
