// How long a deployment package takes from upload to a ready EROFS image, and
// the conversion throughput, for a 50 MB package shaped like a real one:
// incompressible blobs (native libraries, models), compressible source text,
// thousands of small files, an executable bootstrap and symlinks.
// Run: meson test -C BUILD --benchmark layers   (or the binary directly).
// THAW_BENCH_DIR picks the scratch filesystem (default: the temp directory).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include "layers/directory_sink.h"
#include "layers/erofs_builder.h"
#include "layers/child_process.h"
#include "layers/image_store.h"
#include "layers/sha256.h"
#include "layers/zip_reader.h"
#include "tests/layers/zip_builder.h"

namespace thaw::layers {
namespace {

namespace fs = std::filesystem;

struct Package {
  std::vector<uint8_t> zip;
  uint64_t unpacked = 0;
};

std::string random_bytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

std::string source_text(std::mt19937_64& rng, size_t n) {
  static const char* kWords[] = {
      "def", "return", "import", "self", "value", "request", "response", "for", "in", "if",
      "else", "None", "True", "False", "context", "event", "handler", "json", "dumps", "loads",
      "class", "try", "except", "raise", "with", "open", "path", "data", "result", "items",
      "key", "lambda", "yield", "async", "await", "logger", "info", "error", "config", "env"};
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) {
    s += kWords[rng() % std::size(kWords)];
    s += (rng() % 9 == 0) ? "\n    " : " ";
  }
  s.resize(n);
  return s;
}

// About 50 MB zipped (under the 52428800-byte limit), ~110 MB unpacked.
const Package& package_50mb() {
  static const Package pkg = [] {
    std::mt19937_64 rng(42);
    testing::ZipBuilder b;
    Package p;
    auto add = [&](std::string name, std::string data, uint32_t mode = 0644) {
      p.unpacked += data.size();
      b.file(std::move(name), std::move(data), mode);
    };
    add("bootstrap", "#!/bin/sh\nexec python3 -m awslambdaric handler.main\n", 0755);
    for (int i = 0; i < 34; ++i) add("lib/native_" + std::to_string(i) + ".so", random_bytes(rng, 1 << 20), 0755);
    for (int i = 0; i < 64; ++i) add("src/module_" + std::to_string(i) + ".py", source_text(rng, 1 << 20));
    for (int i = 0; i < 3000; ++i) {
      add("node_modules/pkg" + std::to_string(i % 100) + "/file" + std::to_string(i) + ".js",
          source_text(rng, 2048));
    }
    for (int i = 0; i < 20; ++i) {
      b.symlink("lib/libalias_" + std::to_string(i) + ".so", "native_" + std::to_string(i) + ".so");
    }
    p.zip = b.build();
    if (p.zip.size() > ZipPolicy{}.max_zip_bytes) {
      throw std::runtime_error("benchmark package grew past the 50 MB ZIP limit");
    }
    return p;
  }();
  return pkg;
}

std::string scratch_dir() {
  const char* env = ::getenv("THAW_BENCH_DIR");
  std::string templ = (fs::path(env ? env : fs::temp_directory_path().string()) /
                       "thaw-layers-bench-XXXXXX").string();
  if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp " + templ);
  return templ;
}

void set_size_counters(benchmark::State& state, const Package& p) {
  state.counters["zip_MB"] = static_cast<double>(p.zip.size()) / 1e6;
  state.counters["unpacked_MB"] = static_cast<double>(p.unpacked) / 1e6;
  state.counters["zip_MBps"] = benchmark::Counter(
      static_cast<double>(p.zip.size()) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["unpacked_MBps"] = benchmark::Counter(
      static_cast<double>(p.unpacked) / 1e6, benchmark::Counter::kIsIterationInvariantRate);
}

// Upload to image ready: hash, check and unpack, mkfs.erofs, commit.
// Arg 0: unpack under the state directory; 1: unpack on tmpfs (/dev/shm),
// as StoreOptions::scratch_dir allows.
void BM_UploadToImageReady(benchmark::State& state) {
  const Package& p = package_50mb();
  if (state.range(0) && !fs::is_directory("/dev/shm")) {
    state.SkipWithError("no /dev/shm tmpfs");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = scratch_dir();
    StoreOptions options{.state_dir = dir};
    if (state.range(0)) options.scratch_dir = "/dev/shm/thaw-layers-bench-scratch";
    auto store = ImageStore::open(options);
    if (!store) throw std::runtime_error(store.error().message);
    state.ResumeTiming();
    auto info = store->put(p.zip);
    if (!info) throw std::runtime_error(info.error().message);
    state.PauseTiming();
    state.counters["image_MB"] = static_cast<double>(info->image_bytes) / 1e6;
    fs::remove_all(dir);
    if (state.range(0)) fs::remove_all(options.scratch_dir);
    state.ResumeTiming();
  }
  set_size_counters(state, p);
}
BENCHMARK(BM_UploadToImageReady)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

// The checking unpack alone (libarchive + checks + openat writes).
void BM_CheckAndUnpack(benchmark::State& state) {
  const Package& p = package_50mb();
  for (auto _ : state) {
    state.PauseTiming();
    std::string dir = scratch_dir();
    state.ResumeTiming();
    auto sink = DirectorySink::create(dir + "/root");
    if (!sink) throw std::runtime_error(sink.error().message);
    auto stats = read_zip(p.zip, {}, *sink);
    if (!stats || !sink->finish()) throw std::runtime_error("unpack failed");
    state.PauseTiming();
    fs::remove_all(dir);
    state.ResumeTiming();
  }
  set_size_counters(state, p);
}
BENCHMARK(BM_CheckAndUnpack)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// mkfs.erofs alone on the unpacked tree; Arg: 0 uncompressed (the store's
// default), 1 lz4. (lz4hc measured ~27 s for this package: not a default.)
void BM_MkfsErofs(benchmark::State& state) {
  const Package& p = package_50mb();
  std::string dir = scratch_dir();
  auto sink = DirectorySink::create(dir + "/root");
  if (!sink || !read_zip(p.zip, {}, *sink) || !sink->finish()) throw std::runtime_error("unpack");
  auto mkfs = find_program("mkfs.erofs", "/usr/sbin:/usr/bin:/sbin:/bin");
  if (!mkfs) throw std::runtime_error(mkfs.error().message);
  ErofsOptions opts{*mkfs, state.range(0) ? ImageCompression::kLz4 : ImageCompression::kNone};
  for (auto _ : state) {
    std::string image = dir + "/image.erofs";
    auto built = build_erofs_image(dir + "/root", image, opts);
    if (!built) throw std::runtime_error(built.error().message);
    state.PauseTiming();
    state.counters["image_MB"] = static_cast<double>(fs::file_size(image)) / 1e6;
    fs::remove(image);
    state.ResumeTiming();
  }
  fs::remove_all(dir);
  set_size_counters(state, p);
}
BENCHMARK(BM_MkfsErofs)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

// A re-upload of a package already converted: hash + lookup only.
void BM_ReuploadCached(benchmark::State& state) {
  const Package& p = package_50mb();
  std::string dir = scratch_dir();
  auto store = ImageStore::open({.state_dir = dir});
  if (!store || !store->put(p.zip)) throw std::runtime_error("first upload failed");
  for (auto _ : state) {
    auto info = store->put(p.zip);
    if (!info) throw std::runtime_error(info.error().message);
    benchmark::DoNotOptimize(info->digest);
  }
  fs::remove_all(dir);
  set_size_counters(state, p);
}
BENCHMARK(BM_ReuploadCached)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace thaw::layers

BENCHMARK_MAIN();
