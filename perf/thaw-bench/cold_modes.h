// thaw-bench's modes that create sandboxes: cold starts (a fresh function
// per sample, REPORT's Init/Restore/Duration fields as the phase
// breakdown), sandbox creation rate (many cold starts at once), and
// density (warm sandboxes resident within a memory budget).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"
#include "perf/thaw-bench/histogram.h"
#include "perf/thaw-bench/load.h"
#include "perf/thaw-bench/target.h"

namespace thaw::bench {

struct ColdResult {
  LoadResult total;  // client-side: Invoke sent to response read
  // Phases from thawd's REPORT line, per sample (ns). other = total - init
  // - restore - duration: HTTP, routing, sandbox spawn and frames.
  std::map<std::string, LatencyHistogram> phases;
};

struct CreateRateResult {
  LoadResult cold;    // latency of each concurrent cold invoke
  uint32_t sandboxes = 0;
  double per_second() const { return cold.seconds > 0 ? sandboxes / cold.seconds : 0; }
};

struct DensityResult {
  uint32_t resident = 0;        // warm sandboxes alive within the budget
  uint64_t budget_bytes = 0;
  uint64_t pss_bytes = 0;       // descendants' PSS with `resident` sandboxes
  uint64_t baseline_pss_bytes = 0;
  uint64_t idle_reported = 0;   // /agent/v1/health idle_sandboxes at the end
  std::string stop_reason;
};

// reap = false: a fresh function per sample (a boot-per-version backend
// would boot every time). reap = true: one function, and before each sample
// wait until the agent's idle reaper (thawd --idle-timeout 1) has killed the
// last sandbox, so each sample restores the same version's snapshot.
Result<ColdResult> run_cold(const Target& target, const std::string& payload, uint32_t samples,
                            bool reap = false);
Result<CreateRateResult> run_create_rate(const Target& target, const std::string& payload,
                                         uint32_t sandboxes, uint32_t concurrency);
Result<DensityResult> run_density(const Target& target, const std::string& payload,
                                  uint64_t budget_bytes, uint32_t max_sandboxes);

// The numeric fields of the REPORT line in a Tail log ("Init Duration" ->
// 12.5, "Duration" -> 1.2, "Max Memory Used" -> 30), in ms or MB. Pure.
std::map<std::string, double> parse_report_fields(std::string_view log);

}  // namespace thaw::bench
