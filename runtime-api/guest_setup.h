// System-level steps thaw-init takes as PID 1: the mount list from the init
// config, pivot_root into the sandbox root, loopback up, and the restore
// hooks (RNG reseed, wall clock). Thin, checked wrappers over syscalls.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "runtime-api/messages.h"

namespace thaw {

// Performs each mount in order, creating targets (a directory, or an empty
// file when bind-mounting a file) and overlay upperdir/workdir as needed.
// The first failure stops and names the mount.
Result<void> apply_mounts(const std::vector<MountSpec>& mounts);
// pivot_root(new_root) and detach the old root, leaving "/" = new_root.
Result<void> enter_new_root(const std::string& new_root);
// The early mounts of a microVM's PID 1: /proc, /sys, /dev (devtmpfs).
Result<void> mount_vm_basics();
// ifconfig lo up: the Runtime API listens on 127.0.0.1 in a fresh net ns.
Result<void> bring_up_loopback();
// Credits `entropy` to the kernel pool (RNDADDENTROPY) so a restored guest
// never replays the RNG state captured in its snapshot.
Result<void> reseed_entropy(std::span<const uint8_t> entropy);
Result<void> set_wall_clock(uint64_t realtime_ns);
// Drops every capability but CAP_KILL (to stop the runtime) from all sets
// and the bounding set: after the runtime started, a process-backend
// thaw-init needs no more privilege, so a compromised one has none.
Result<void> drop_to_kill_capability();
// Peak resident memory (VmHWM) of `pid`, in bytes.
Result<uint64_t> peak_rss_bytes(int pid);
// Same, from an open /proc/<pid>/status (one pread per call: the hot path).
Result<uint64_t> peak_rss_bytes_from(int status_fd);
// Parses "VmHWM:   1234 kB" out of a /proc/<pid>/status text.
Result<uint64_t> parse_vm_hwm(std::string_view status);

}  // namespace thaw
