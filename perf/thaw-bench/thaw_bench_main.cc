// thaw-bench: drives thawd over its Unix socket exactly as a scheduler
// would and reports warm latency (closed and open loop), cold starts with
// their phases, creation rate, density and throughput, beside a native
// baseline (thaw-native: the same runtime with no isolation) in the same
// run. Writes JSON, Markdown and a latency CDF PNG; perf/run.sh runs it.
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "perf/thaw-bench/cold_modes.h"
#include "perf/thaw-bench/load.h"
#include "perf/thaw-bench/report.h"
#include "perf/thaw-bench/target.h"

namespace {

using namespace thaw;
using namespace thaw::bench;

struct Options {
  TargetOptions thawd;
  std::string native_binary;
  std::string function = "python";
  std::string sample_dir = "tools/sample";
  std::string python_bootstrap = "guest/runtimes/python3.11/bootstrap";
  std::string bootstrap;
  std::string payload;
  std::string modes = "warm,open,cold";
  std::string label = "thawd";
  std::string out = "perf-results/thaw-bench";
  std::string stem = "thaw-bench";
  uint32_t concurrency = 1;
  double duration = 5;
  double warmup = 1;
  double rate = 200;
  std::string arrivals = "poisson";
  uint32_t connections = 8;
  uint32_t cold_samples = 20;
  std::string cold_by = "fresh";
  uint32_t create_count = 16;
  uint32_t create_concurrency = 4;
  uint32_t density_budget_mb = 1024;
  uint32_t density_max = 32;
  uint32_t throughput_concurrency = 8;
  // One whole CPU (Lambda's 1769 MB): the figures measure thaw, not the
  // CPU cap a smaller function would run under.
  uint32_t memory_mb = 1769;
};

Result<FunctionSpec> function_spec(const Options& o) {
  FunctionSpec fn;
  if (o.function == "python") {
    fn.runtime = "python3.11";
    fn.handler = "lambda_function.lambda_handler";
    fn.code_dir = std::filesystem::absolute(o.sample_dir);
    fn.bootstrap = std::filesystem::absolute(o.python_bootstrap);
    fn.payload = o.payload.empty() ? R"({"name":"bench"})" : o.payload;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(fn.code_dir, ec)) {
      if (e.is_regular_file()) fn.files.emplace_back(e.path().filename(), e.path());
    }
    if (fn.files.empty()) {
      return Error::format("--sample-dir {} holds no files (run from the repository root or pass "
                           "--sample-dir tools/sample)", fn.code_dir);
    }
  } else if (o.function == "provided") {
    if (o.bootstrap.empty()) return Error::format("--function provided needs --bootstrap PATH");
    fn.runtime = "provided";
    fn.handler = "bench.handler";
    fn.bootstrap = std::filesystem::absolute(o.bootstrap);
    fn.code_dir = std::filesystem::path(fn.bootstrap).parent_path();
    fn.payload = o.payload.empty() ? "{}" : o.payload;
    fn.files.emplace_back("bootstrap", fn.bootstrap);
  } else {
    return Error::format("--function '{}' is neither python nor provided", o.function);
  }
  fn.memory_mb = o.memory_mb;
  return fn;
}

std::set<std::string> parse_modes(const std::string& list, std::string& bad) {
  static const std::set<std::string> known{"warm", "open", "cold", "create-rate", "density", "throughput"};
  std::set<std::string> out;
  std::stringstream in(list);
  for (std::string m; std::getline(in, m, ',');) {
    if (!known.contains(m)) bad = m;
    out.insert(m);
  }
  return out;
}

// Runs the warm modes (closed, open, throughput) against one target and
// adds their series under `label`. Returns false when a mode failed.
bool run_warm_modes(const Options& o, const std::set<std::string>& modes, const Target& target,
                    const std::string& function, const std::string& payload, const std::string& label,
                    BenchReport& report) {
  bool ok = true;
  auto add = [&](const std::string& name, Result<LoadResult> r) {
    if (!r) {
      report.notes.push_back(name + " failed: " + r.error().message);
      ok = false;
      return;
    }
    if (r->ok == 0) {
      report.notes.push_back(fmt::format("{}: no invocation succeeded; first error: {}", name, r->first_error));
      ok = false;
    }
    report.series.emplace_back(name, std::move(*r));
  };
  // Warm-up: as many sandboxes as the widest mode keeps busy, so the
  // measured windows see no cold start.
  uint32_t width = o.concurrency;
  if (modes.contains("open")) width = std::max(width, o.connections);
  if (modes.contains("throughput")) width = std::max(width, o.throughput_concurrency);
  auto warm = o.warmup > 0 ? run_closed_loop(target, function, payload, {width, o.warmup})
                           : Result<LoadResult>(LoadResult{.ok = 1});  // --warmup 0: none
  if (!warm || warm->ok == 0) {
    report.notes.push_back(fmt::format("{} warm-up failed: {}", label,
                                       warm ? warm->first_error : warm.error().message));
    return false;
  }
  if (modes.contains("warm")) {
    add(fmt::format("{} warm closed c={}", label, o.concurrency),
        run_closed_loop(target, function, payload, {o.concurrency, o.duration}));
  }
  if (modes.contains("open")) {
    add(fmt::format("{} warm open {:.0f}/s {}", label, o.rate, o.arrivals),
        run_open_loop(target, function, payload,
                      {o.rate, o.duration, o.connections, o.arrivals == "poisson", 1}));
  }
  if (modes.contains("throughput")) {
    add(fmt::format("{} throughput c={}", label, o.throughput_concurrency),
        run_closed_loop(target, function, payload, {o.throughput_concurrency, o.duration}));
  }
  return ok;
}

bool run_cold_modes(const Options& o, const std::set<std::string>& modes, const Target& target,
                    const std::string& payload, BenchReport& report) {
  bool ok = true;
  if (modes.contains("cold")) {
    auto cold = run_cold(target, payload, o.cold_samples, o.cold_by == "reap");
    if (!cold) {
      report.notes.push_back("cold failed: " + cold.error().message);
      ok = false;
    } else {
      if (cold->total.ok == 0) {
        report.notes.push_back("cold: no cold start succeeded; first error: " + cold->total.first_error);
        ok = false;
      }
      report.series.emplace_back(fmt::format("{} cold start", o.label), std::move(cold->total));
      report.cold_phases = std::move(cold->phases);
    }
  }
  if (modes.contains("create-rate")) {
    auto rate = run_create_rate(target, payload, o.create_count, o.create_concurrency);
    if (!rate) {
      report.notes.push_back("create-rate failed: " + rate.error().message);
      ok = false;
    } else {
      if (rate->cold.errors > 0) {
        report.notes.push_back(fmt::format("create-rate: {} of {} cold invokes failed; first error: {}",
                                           rate->cold.errors, o.create_count, rate->cold.first_error));
        ok = false;
      }
      report.series.emplace_back(fmt::format("{} cold x{} concurrent", o.label, o.create_concurrency),
                                 rate->cold);
      report.create_rate = std::move(*rate);
    }
  }
  if (modes.contains("density")) {
    auto d = run_density(target, payload, uint64_t{o.density_budget_mb} << 20, o.density_max);
    if (!d) {
      report.notes.push_back("density failed: " + d.error().message);
      ok = false;
    } else {
      report.density = std::move(*d);
    }
  }
  return ok;
}

// thawd p50 / native p50 (and p99) for each warm series both targets ran.
void add_ratios(BenchReport& report, const std::string& label) {
  for (const auto& [name, s] : report.series) {
    if (name.rfind("native ", 0) != 0) continue;
    std::string mine = label + name.substr(6);
    for (const auto& [other, t] : report.series) {
      if (other != mine || s.latency.count() == 0 || t.latency.count() == 0) continue;
      for (double q : {50.0, 99.0}) {
        report.ratios[fmt::format("{} p{:g} / native", mine, q)] =
            static_cast<double>(t.latency.percentile(q)) / static_cast<double>(s.latency.percentile(q));
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"thaw-bench: end-to-end load generator for thawd (see perf/README.md)"};
  Options o;
  app.add_option("--thawd", o.thawd.binary, "start this thawd (temp state dir and socket)");
  app.add_option("--init", o.thawd.init, "thaw-init for the started thawd");
  app.add_option("--seccomp-policy", o.thawd.seccomp_policy, "sandbox/process/seccomp-policy.txt");
  app.add_option("--memory-size", o.memory_mb, "the function's MemorySize in MB (CPU share: 1769 = one CPU)")
      ->check(CLI::Range(128, 10240));
  app.add_option("--runtime-image", o.thawd.runtime_images, "RUNTIME=PATH, passed to thawd");
  app.add_option("--thawd-arg", o.thawd.extra_args, "extra argument for thawd (repeat), e.g. --backend");
  app.add_option("--socket", o.thawd.socket, "drive the agent already listening here instead");
  app.add_option("--native", o.native_binary, "thaw-native: also run the warm modes on the native baseline");
  app.add_option("--function", o.function, "python (tools/sample) or provided (--bootstrap)");
  app.add_option("--sample-dir", o.sample_dir, "the python function's files");
  app.add_option("--python-bootstrap", o.python_bootstrap, "the python runtime thaw-native runs");
  app.add_option("--bootstrap", o.bootstrap, "the `provided` runtime's bootstrap binary");
  app.add_option("--payload", o.payload, "invoke body (JSON)");
  app.add_option("--modes", o.modes, "comma list of warm,open,cold,create-rate,density,throughput");
  app.add_option("--label", o.label, "name of the target in the report (e.g. 'thawd process')");
  app.add_option("--out", o.out, "output directory");
  app.add_option("--stem", o.stem, "output file name stem");
  app.add_option("--concurrency", o.concurrency, "warm closed loop: connections")->check(CLI::Range(1, 1024));
  app.add_option("--duration", o.duration, "seconds per warm mode")->check(CLI::Range(0.05, 3600.0));
  app.add_option("--warmup", o.warmup, "seconds of warm-up before the warm modes")->check(CLI::Range(0.0, 600.0));
  app.add_option("--rate", o.rate, "open loop: requests per second")->check(CLI::Range(0.1, 1e6));
  app.add_option("--arrivals", o.arrivals, "open loop: poisson or constant")->check(CLI::IsMember({"poisson", "constant"}));
  app.add_option("--connections", o.connections, "open loop: most requests outstanding")->check(CLI::Range(1, 1024));
  app.add_option("--cold-samples", o.cold_samples, "cold starts to measure")->check(CLI::Range(1, 100000));
  app.add_option("--cold-by", o.cold_by,
                 "fresh: a new function per cold sample; reap: one function, each sample after "
                 "thawd's idle reaper (--thawd-arg=--idle-timeout=1) killed the last sandbox, so a "
                 "snapshot backend restores instead of booting")
      ->check(CLI::IsMember({"fresh", "reap"}));
  app.add_option("--create-count", o.create_count, "create-rate: sandboxes to create")->check(CLI::Range(1, 4096));
  app.add_option("--create-concurrency", o.create_concurrency, "create-rate: at once")->check(CLI::Range(1, 1024));
  app.add_option("--density-budget-mb", o.density_budget_mb, "density: memory budget (MiB of PSS)")->check(CLI::Range(1, 1 << 22));
  app.add_option("--density-max", o.density_max, "density: stop after this many sandboxes")->check(CLI::Range(1, 4096));
  app.add_option("--throughput-concurrency", o.throughput_concurrency, "throughput: connections")->check(CLI::Range(1, 1024));
  CLI11_PARSE(app, argc, argv);
  // Open-loop senders sleep until each intended time: 1 ns timer slack (not
  // the default 50 µs) so the generator's own lateness stays out of the figures.
  ::prctl(PR_SET_TIMERSLACK, 1);

  std::string bad;
  std::set<std::string> modes = parse_modes(o.modes, bad);
  if (!bad.empty()) {
    std::fprintf(stderr, "thaw-bench: unknown mode '%s' in --modes (warm, open, cold, create-rate, density, throughput)\n", bad.c_str());
    return 2;
  }
  if (o.thawd.binary.empty() == o.thawd.socket.empty()) {
    std::fprintf(stderr, "thaw-bench: pass exactly one of --thawd PATH (start one) or --socket PATH\n");
    return 2;
  }
  auto fn = function_spec(o);
  if (!fn) {
    std::fprintf(stderr, "thaw-bench: %s\n", fn.error().message.c_str());
    return 2;
  }
  o.thawd.kind = o.thawd.socket.empty() ? TargetKind::kThawd : TargetKind::kSocket;
  o.thawd.max_sandboxes = std::max<uint32_t>(256, o.density_max + 16);

  BenchReport report;
  report.facts = {{"target", o.thawd.socket.empty() ? o.thawd.binary : "socket " + o.thawd.socket},
                  {"label", o.label}, {"function", fn->runtime + " " + fn->handler},
                  {"thawd args", fmt::format("{}", fmt::join(o.thawd.extra_args, " "))},
                  {"duration_s", fmt::format("{}", o.duration)},
                  {"cores", std::to_string(::sysconf(_SC_NPROCESSORS_ONLN))}};
  bool ok = true;
  const std::string warm_fn = fmt::format("bench-warm-{}", ::getpid());
  {
    auto target = Target::start(o.thawd, *fn);
    if (!target) {
      std::fprintf(stderr, "thaw-bench: starting %s: %s\n", o.label.c_str(), target.error().message.c_str());
      return 1;
    }
    std::set<std::string> warm_modes;
    for (const char* m : {"warm", "open", "throughput"}) if (modes.contains(m)) warm_modes.insert(m);
    if (!warm_modes.empty()) {
      auto c = UdsHttpClient::connect((*target)->socket());
      auto created = c ? (*target)->create_function(*c, warm_fn) : Result<void>(c.error());
      if (!created) {
        report.notes.push_back("creating the warm function failed: " + created.error().message);
        ok = false;
      } else {
        ok &= run_warm_modes(o, warm_modes, **target, warm_fn, fn->payload, o.label, report);
        (void)(*target)->delete_function(*c, warm_fn);
      }
    }
    ok &= run_cold_modes(o, modes, **target, fn->payload, report);
  }
  if (!o.native_binary.empty()) {
    TargetOptions n;
    n.kind = TargetKind::kNative;
    n.binary = o.native_binary;
    n.native_runtimes = std::max({o.concurrency, o.connections, o.throughput_concurrency});
    auto native = Target::start(n, *fn);
    if (!native) {
      report.notes.push_back("native baseline did not start: " + native.error().message);
      ok = false;
    } else {
      std::set<std::string> warm_modes;
      for (const char* m : {"warm", "open", "throughput"}) if (modes.contains(m)) warm_modes.insert(m);
      ok &= run_warm_modes(o, warm_modes, **native, "native", fn->payload, "native", report);
      add_ratios(report, o.label);
    }
  }
  auto md = write_report(report, o.out, o.stem);
  if (!md) {
    std::fprintf(stderr, "thaw-bench: writing the report: %s\n", md.error().message.c_str());
    return 1;
  }
  std::fputs(md->c_str(), stdout);
  return ok ? 0 : 1;
}
