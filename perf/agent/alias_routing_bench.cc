// Micro-benchmarks of qualifier resolution on the invoke path
// (agent/api/alias_routing, FunctionRegistry::resolve): one weighted draw,
// the same from two threads (the router is lock-free; the registry's mutex
// is not), and a whole resolve of $LATEST, a version and a weighted alias,
// which copies the FunctionConfig the pool runs.
// Run: meson test -C BUILD --benchmark alias_routing
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "agent/api/alias_routing.h"
#include "agent/api/function_registry.h"
#include "common/file_util.h"
#include "tests/layers/zip_builder.h"

namespace thaw::agent {
namespace {

const std::string kPrimary = "1";
const std::string kAdditional = "2";

void BM_RouterPick(benchmark::State& state) {
  static AliasRouter router(42);
  size_t extra = 0;
  for (auto _ : state) {
    const std::string& v = router.pick(kPrimary, kAdditional, 0.25);
    extra += &v == &kAdditional;
    benchmark::DoNotOptimize(extra);
  }
  state.counters["additional_share"] =
      benchmark::Counter(static_cast<double>(extra) / static_cast<double>(state.iterations()),
                         benchmark::Counter::kAvgThreads);
}
BENCHMARK(BM_RouterPick)->Threads(1)->Threads(2);

// A registry with function f: $LATEST, versions 1 and 2, alias "live"
// (1, with 25% to 2). 8 environment variables, like a typical function.
struct Fixture {
  std::string dir;
  std::unique_ptr<FunctionRegistry> registry;

  Fixture() {
    char tmpl[] = "/tmp/thaw-routing-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    layers::StoreOptions store;
    store.state_dir = dir + "/images";
    auto opened = FunctionRegistry::open(dir, store, 42);
    if (!opened) std::abort();
    registry = std::move(*opened);
    CreateFunctionRequest req;
    req.config.name = "f";
    req.config.runtime = "provided";
    for (int i = 0; i < 8; ++i) req.config.environment["VAR_" + std::to_string(i)] = "value";
    req.zip = layers::testing::ZipBuilder().file("bootstrap", "#!/bin/sh\n", 0755).build();
    req.publish = true;
    bool ok = registry->create(std::move(req)).ok();
    UpdateConfigurationRequest timeout;
    timeout.fields = {{"Timeout", 9}};
    ok = ok && registry->update_configuration("f", timeout).ok();
    ok = ok && registry->publish_version("f", {}).ok();
    AliasRequest alias{"live", std::string("1"), std::nullopt, AliasRouting{"2", 0.25}, ""};
    ok = ok && registry->create_alias("f", alias).ok();
    if (!ok) std::abort();
  }
  ~Fixture() {
    registry.reset();
    remove_tree(dir);
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

void BM_Resolve(benchmark::State& state, const std::string& qualifier) {
  FunctionRegistry& registry = *fixture().registry;
  for (auto _ : state) {
    auto config = registry.resolve("f", qualifier);
    benchmark::DoNotOptimize(config);
  }
}
BENCHMARK_CAPTURE(BM_Resolve, latest, std::string("$LATEST"))->Threads(1)->Threads(2);
BENCHMARK_CAPTURE(BM_Resolve, version, std::string("1"))->Threads(1);
BENCHMARK_CAPTURE(BM_Resolve, weighted_alias, std::string("live"))->Threads(1)->Threads(2);

}  // namespace
}  // namespace thaw::agent

BENCHMARK_MAIN();
