// Shared by the restore benchmarks (restore_bench.cc, restore_process_bench.cc,
// restore_linux_bench.cc): the test-guest snapshot they all restore, the
// serial FIFO that timestamps a guest's first output, the agent's restore
// notice as "first vsock frame", page-cache control and percentiles.
#pragma once

#include <benchmark/benchmark.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/vmm/vmm.h"
#include "snapshot/vm_snapshot.h"

namespace thaw::snapshot::bench {

using Clock = std::chrono::steady_clock;

// The test guest's restore-notice scenario (tests/guest/scenario_restore.c)
// in small rounds: it prints a counter line every few microseconds of its
// own time and polls vsock port 1024 between rounds, so both its first
// output and its answer to the restore notice follow a restore closely.
struct Fixture {
  std::string dir;
  std::string snap;  // taken mid-count, working set recorded up to the first frame
  std::string guest;
  std::string error;
};
const Fixture& fixture();

// The test guest's config (64 MiB, 1 vCPU) with its serial and vsock socket.
sandbox::VmmConfig guest_config(const std::string& guest, const std::string& serial,
                                const std::string& vsock_uds);

// A FIFO as the serial "file": poll() on its read end wakes on the first
// byte the guest writes, without spinning next to the vCPU on 2 cores.
// close() right after: the guest's later writes then fail (EPIPE) instead
// of filling the FIFO and blocking its vCPU.
struct SerialPipe {
  std::string path;
  int read_fd = -1;
  static std::optional<SerialPipe> create(const std::string& path);
  bool wait_first_byte(int timeout_ms) const;
  void close();
};

// One in-process restore up to the guest's first serial byte on `pipe`:
// restore_machine, start, wait. The times are taken before the restore,
// once it returned and at the first byte; `output` is false when none came
// within `timeout_ms`. `faults` are this process's minor faults meanwhile.
struct TimedRestore {
  RestoredMachine machine;
  Clock::time_point start, restored, first_output;
  bool output = false;
  long faults = 0;
};
Result<TimedRestore> timed_restore(const sandbox::VmmConfig& config, const std::string& snap,
                                   const RestoreOptions& options, const SerialPipe& pipe,
                                   int timeout_ms);

// The agent's first exchange after a restore: a fresh restore notice over
// hybrid vsock, answered by the guest's restore-done frame. Empty on
// success, else what went wrong. `connected_at` as deliver_restore_notice's.
std::string exchange_restore_notice(const std::string& vsock_uds, int timeout_ms,
                                    Clock::time_point* connected_at = nullptr);

// Records the working set up to the guest's answer to the restore notice on
// a restore made without prefetch and stores it beside the snapshot.
std::string record_working_set(const sandbox::VmmConfig& config, const std::string& snap,
                               SerialPipe& pipe, int timeout_ms);

// Drops `path`'s pages from the page cache (POSIX_FADV_DONTNEED; they are
// clean, so the next read comes from the disk) and returns how many of its
// pages were still cached afterwards (mincore), or -1 when it could not ask.
long drop_from_page_cache(const std::string& path);

double percentile(std::vector<double> v, double p);
// This process's minor page faults so far.
long minflt();
double micros(uint64_t ns);
double micros_between(Clock::time_point a, Clock::time_point b);
// NAME_p50_us and NAME_p99_us counters.
void report_percentiles(benchmark::State& state, const std::string& name,
                        const std::vector<double>& v);

}  // namespace thaw::snapshot::bench
