// JSON, Markdown and the gnuplot CDF of a thaw-bench run; see report.h.
#include "perf/thaw-bench/report.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <boost/json.hpp>

#include "common/file_util.h"

namespace thaw::bench {
namespace {

namespace json = boost::json;

constexpr std::pair<const char*, double> kQuantiles[] = {
    {"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}};

Result<void> write_text(const std::string& path, const std::string& text) {
  return write_file_atomic(path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

double us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

json::object percentiles_json(const LatencyHistogram& h) {
  json::object o{{"count", h.count()}, {"min_us", us(h.min_ns())}, {"mean_us", h.mean_ns() / 1e3}};
  for (const auto& [name, q] : kQuantiles) o[std::string(name) + "_us"] = us(h.percentile(q));
  o["max_us"] = us(h.max_ns());
  return o;
}

json::object series_json(const LoadResult& r) {
  json::object o = percentiles_json(r.latency);
  o["errors"] = r.errors;
  if (!r.first_error.empty()) o["first_error"] = r.first_error;
  o["seconds"] = r.seconds;
  o["invocations_per_s"] = r.invocations_per_s();
  o["cpu_us_per_invocation"] = r.cpu_us_per_invocation();
  o["service_time"] = percentiles_json(r.service);
  return o;
}

// "1.23 ms" / "456 µs": latencies span µs (warm) to seconds (cold on PVM).
std::string pretty(uint64_t ns) {
  double v = static_cast<double>(ns);
  if (v >= 1e9) return fmt::format("{:.2f} s", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} ms", v / 1e6);
  return fmt::format("{:.0f} µs", v / 1e3);
}

std::string percentile_cells(const LatencyHistogram& h) {
  std::string row;
  for (const auto& [name, q] : kQuantiles) row += " " + pretty(h.percentile(q)) + " |";
  return row + " " + pretty(h.max_ns()) + " |";
}

std::string markdown(const BenchReport& r, const std::string& png_line) {
  auto label = r.facts.find("label");
  std::string md = "# thaw-bench: " + (label == r.facts.end() ? std::string("?") : label->second) + "\n\n";
  for (const auto& [k, v] : r.facts) md += fmt::format("- {}: {}\n", k, v);
  md += "\n| series | n | errors | p50 | p90 | p99 | p99.9 | max | invocations/s | host CPU/invocation |\n"
        "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [name, s] : r.series) {
    md += fmt::format("| {} | {} | {} |{} {:.1f} | {:.0f} µs |\n", name, s.latency.count(), s.errors,
                      percentile_cells(s.latency), s.invocations_per_s(), s.cpu_us_per_invocation());
  }
  if (!r.cold_phases.empty()) {
    md += "\nCold-start phases (thawd's REPORT line; Other = client latency minus the phases):\n\n"
          "| phase | n | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n";
    for (const auto& [name, h] : r.cold_phases) {
      md += fmt::format("| {} | {} |{}\n", name, h.count(), percentile_cells(h));
    }
  }
  if (r.create_rate) {
    md += fmt::format("\nSandbox creation: {} sandboxes in {:.2f} s = {:.1f} /s\n",
                      r.create_rate->sandboxes, r.create_rate->cold.seconds, r.create_rate->per_second());
  }
  if (r.density) {
    const auto& d = *r.density;
    md += fmt::format("\nDensity: {} warm sandboxes within {} MiB (their PSS {:.1f} MiB, {:.1f} MiB "
                      "each; health reports {} idle); stopped: {}\n",
                      d.resident, d.budget_bytes >> 20, static_cast<double>(d.pss_bytes) / 1048576.0,
                      d.resident ? static_cast<double>(d.pss_bytes) / 1048576.0 / d.resident : 0.0,
                      d.idle_reported, d.stop_reason);
  }
  for (const auto& [k, v] : r.ratios) md += fmt::format("\nRatio {}: {:.2f}x\n", k, v);
  for (const auto& n : r.notes) md += "\nNote: " + n + "\n";
  return md + "\n" + png_line + "\n";
}

// Writes the CDF data (one gnuplot index block per series) and renders it.
std::string plot(const BenchReport& r, const std::string& dir, const std::string& stem) {
  const std::string dat = dir + "/" + stem + "-cdf.dat";
  const std::string png = dir + "/" + stem + "-cdf.png";
  std::ofstream out(dat);
  std::string plots;
  int index = 0;
  for (const auto& [name, s] : r.series) {
    if (s.latency.count() == 0) continue;
    out << "# " << name << "\n";
    for (const auto& [ns, frac] : s.latency.cdf()) out << static_cast<double>(ns) / 1e6 << " " << frac << "\n";
    out << "\n\n";
    std::string title = name;
    for (auto& c : title) if (c == '"') c = '\'';
    plots += fmt::format("{}'{}' index {} using 1:2 with steps title \"{}\"", plots.empty() ? "" : ", ",
                         dat, index++, title);
  }
  out.close();
  if (plots.empty()) return "(no latency samples: no CDF plot)";
  if (::access("/usr/bin/gnuplot", X_OK) != 0) {
    return "(no CDF plot: gnuplot is not installed; apt-get install gnuplot-nox or tools/install-deps.sh)";
  }
  std::string script = fmt::format(
      "set terminal png size 1000,600\nset output '{}'\nset logscale x\nset xlabel 'latency (ms)'\n"
      "set ylabel 'fraction of requests'\nset yrange [0:1]\nset grid\nset key below\n"
      "set title 'thaw-bench latency CDF'\nplot {}\n",
      png, plots);
  FILE* g = ::popen("/usr/bin/gnuplot 2>&1", "w");
  if (g == nullptr) return "(no CDF plot: could not start gnuplot)";
  std::fputs(script.c_str(), g);
  int status = ::pclose(g);
  if (status != 0 || !std::filesystem::exists(png)) {
    return fmt::format("(no CDF plot: gnuplot exited with status {}; data in {})", status, dat);
  }
  return fmt::format("Latency CDF: {}", std::filesystem::path(png).filename().string());
}

}  // namespace

Result<std::string> write_report(BenchReport& r, const std::string& dir, const std::string& stem) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::format("creating the output dir {}: {}", dir, ec.message());
  json::object doc;
  json::object facts;
  for (const auto& [k, v] : r.facts) facts[k] = v;
  doc["facts"] = std::move(facts);
  json::object series;
  for (const auto& [name, s] : r.series) series[name] = series_json(s);
  doc["series"] = std::move(series);
  json::object phases;
  for (const auto& [name, h] : r.cold_phases) phases[name] = percentiles_json(h);
  doc["cold_phases"] = std::move(phases);
  if (r.create_rate) {
    doc["create_rate"] = json::object{{"sandboxes", r.create_rate->sandboxes},
                                      {"seconds", r.create_rate->cold.seconds},
                                      {"per_second", r.create_rate->per_second()},
                                      {"errors", r.create_rate->cold.errors}};
  }
  if (r.density) {
    doc["density"] = json::object{{"resident_sandboxes", r.density->resident},
                                  {"budget_bytes", r.density->budget_bytes},
                                  {"pss_bytes", r.density->pss_bytes},
                                  {"baseline_pss_bytes", r.density->baseline_pss_bytes},
                                  {"idle_sandboxes_reported", r.density->idle_reported},
                                  {"stop_reason", r.density->stop_reason}};
  }
  json::object ratios;
  for (const auto& [k, v] : r.ratios) ratios[k] = v;
  doc["ratios"] = std::move(ratios);
  json::array notes;
  for (const auto& n : r.notes) notes.emplace_back(n);
  doc["notes"] = std::move(notes);
  std::string png_line = plot(r, dir, stem);
  doc["plot"] = png_line;
  std::string text = json::serialize(doc);
  if (auto w = write_text(dir + "/" + stem + ".json", text); !w) return w.error();
  std::string md = markdown(r, png_line);
  if (auto w = write_text(dir + "/" + stem + ".md", md); !w) return w.error();
  return md;
}

}  // namespace thaw::bench
