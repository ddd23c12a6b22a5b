// thaw-bench's outputs: one JSON document (every series' percentiles,
// rates, CPU per invocation, cold-start phases, density, peer ratios), a
// short Markdown summary, and a latency CDF plot (PNG via gnuplot).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "perf/thaw-bench/cold_modes.h"
#include "perf/thaw-bench/load.h"

namespace thaw::bench {

struct BenchReport {
  std::map<std::string, std::string> facts;           // target, function, parameters
  std::vector<std::pair<std::string, LoadResult>> series;  // e.g. "thawd warm closed c=1"
  std::map<std::string, LatencyHistogram> cold_phases;
  std::optional<CreateRateResult> create_rate;
  std::optional<DensityResult> density;
  std::map<std::string, double> ratios;                // e.g. thawd p50 / native p50
  std::vector<std::string> notes;                      // skipped modes and why
};

// Writes DIR/STEM.json, DIR/STEM.md, DIR/STEM-cdf.dat and DIR/STEM-cdf.png;
// the PNG is skipped (with a note in the Markdown) when gnuplot is absent.
// Returns the Markdown text.
Result<std::string> write_report(BenchReport& report, const std::string& dir, const std::string& stem);

}  // namespace thaw::bench
