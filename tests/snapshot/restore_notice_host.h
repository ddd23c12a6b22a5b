// The agent's part of a restore, played by the tests and the benchmark:
// make a fresh identity (sandbox id, entropy, wall clock), reconnect to the
// restored guest's thaw-init port over hybrid vsock, send the restore notice
// before anything else, and take the guest's first frame back. The test
// guest's restore-notice scenario (tests/guest/scenario_restore.c) is the
// other end.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "runtime-api/frame.h"
#include "runtime-api/messages.h"

namespace thaw::snapshot::testing {

struct RestoreIdentity {
  std::string sandbox_id;  // UUID v4 text; travels as the frame's request id
  RestoreNotice notice;    // CLOCK_REALTIME now and 64 bytes of getrandom()
  uint64_t entropy_fnv1a = 0;
};

uint64_t fnv1a64(std::span<const uint8_t> bytes);

// A new identity from the kernel's RNG: two calls never share one.
Result<RestoreIdentity> fresh_restore_identity();

// Connects to `uds_path` for guest port `port` (thaw-init's is
// kThawChannelVsockPort), sends `identity` as a kRestoreNotice frame and
// returns the first frame the guest sends back, within `timeout_ms`.
// `connected_at`, when given, receives the time the guest accepted the
// connection (the VMM's "OK" line), for the benchmark's phases.
Result<Frame> deliver_restore_notice(const std::string& uds_path, uint32_t port,
                                     const RestoreIdentity& identity, int timeout_ms,
                                     std::chrono::steady_clock::time_point* connected_at = nullptr);

}  // namespace thaw::snapshot::testing
