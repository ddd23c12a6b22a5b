// What thaw-bench reads about the agent under test from /proc: CPU time of
// the agent and every descendant (sandboxes, runtimes), their PSS, and the
// agent's pid from the socket peer. Host CPU per invocation is the delta of
// tree_cpu_seconds() over a run divided by the invocations in it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace thaw::bench {

// pid and the pids of all its descendants (scanned from /proc/*/stat).
std::vector<pid_t> process_tree(pid_t root);
// CPU times of the tree at one moment: per pid, its own utime+stime and
// its reaped children's cutime+cstime, in seconds.
struct CpuSnapshot {
  struct Times {
    double own = 0;
    double children = 0;
    pid_t ppid = 0;
  };
  std::map<pid_t, Times> by_pid;
  static CpuSnapshot take(pid_t root);
  // CPU the tree spent between `start` and this snapshot: every process
  // alive now, less what it had spent at `start` (all of it if it is new),
  // counting the children it reaped meanwhile. A process that ended in
  // between is not counted (its time may have left the tree with it: a
  // sandbox's PID-namespace init is reaped by the kernel, not by thawd);
  // when its parent reaped it, the part of the parent's cutime growth that
  // is the child's time before `start` is taken back out (else a VM booted
  // before the window and reaped inside it would be charged to it).
  double seconds_since(const CpuSnapshot& start) const;
};
// Proportional set size of the tree's descendants (not the root), bytes,
// from /proc/PID/smaps_rollup; processes gone mid-scan count as 0.
uint64_t descendants_pss_bytes(pid_t root);
// The pid at the other end of a connected Unix socket (SO_PEERCRED).
Result<pid_t> socket_peer_pid(int fd);

// Fields of /proc/PID/stat after the command (which may hold spaces and
// parentheses): index 0 is the state, 1 ppid, 11..14 utime..cstime. Pure.
Result<std::vector<std::string>> parse_stat_fields(const std::string& stat);

}  // namespace thaw::bench
