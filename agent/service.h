// thawd's service mode: opens the state directory (function registry, image
// store), listens on the scheduler socket, serves the API on one io_uring
// loop, and drains on SIGTERM/SIGINT (stop accepting, finish what is in
// flight, kill sandboxes). Called by thawd_main.cc.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace thaw::agent {

struct ServiceOptions {
  std::string socket_path = "/run/thaw/thaw.sock";
  std::optional<gid_t> socket_gid;  // peers in this group may connect
  std::string state_dir = "/var/lib/thaw";
  std::string init_path;            // thaw-init
  std::string seccomp_policy_path;
  std::map<std::string, std::string> runtime_images;  // runtime -> image.erofs
  // "process" (namespaces) or "microvm" (thaw-vmm + the guest kernel in
  // guest_dir, with SnapStart function snapshots under <state>/snapshots).
  std::string backend = "process";
  std::string vmm_path;   // microvm: thaw-vmm
  std::string guest_dir;  // microvm: tools/build-guest.sh --print-dir
  std::string scratch_dir;          // ZIP unpacking (a tmpfs is fastest)
  uint32_t max_sandboxes = 16;
  uint32_t workers = 16;
  bool use_cgroup = true;
  uint32_t drain_timeout_s = 30;
  uint32_t idle_timeout_s = 600;  // warm sandboxes idle this long are killed
  std::string tcp_listen;         // HOST:PORT of an extra TCP listener ("": none)
  bool tcp_allow_remote = false;  // let --tcp-listen take a non-loopback address
  std::optional<uint64_t> routing_seed;  // alias weights; unset: random per start
  uint32_t async_threads = 4;             // threads running queued Event invokes
  uint32_t async_retry_base_ms = 60000;   // function-error retries after 1x, then 2x this
};

// Runs until SIGTERM/SIGINT; returns the process exit code. Errors at start
// are printed to stderr naming what failed and the fix.
int run_service(const ServiceOptions& options);

}  // namespace thaw::agent
