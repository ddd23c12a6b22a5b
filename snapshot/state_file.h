// Encoding of the snapshot state file: a fixed header (magic, format
// version, body length, SHA-256 of the body) followed by tagged sections.
// Decoding is a pure function over untrusted bytes: a truncated, corrupt or
// foreign file yields a precise error and no partial state.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "snapshot/snapshot_state.h"

namespace thaw::snapshot {

inline constexpr char kStateMagic[8] = {'T', 'H', 'A', 'W', 'S', 'N', 'A', 'P'};
// 1: the first format. 2: the machine section carries the snapshot id that
// binds the state to its memory file (memory_file.h). A decoder reads only
// its own version: older files are refused, not guessed at.
inline constexpr uint32_t kStateFormatVersion = 2;
// Bounds that keep a hostile file from making the decoder allocate much.
inline constexpr uint64_t kMaxStateFileBytes = 64ull << 20;
inline constexpr uint32_t kMaxVcpus = 256;
inline constexpr uint32_t kMaxDevices = 64;
inline constexpr uint32_t kMaxMsrs = 4096;
inline constexpr uint32_t kMaxCpuidEntries = 256;
inline constexpr uint32_t kMaxXsaveBytes = 1 << 20;
inline constexpr uint32_t kMaxDeviceBlobBytes = 16 << 20;

std::vector<uint8_t> encode_state(const SnapshotState& state);
Result<SnapshotState> decode_state(std::span<const uint8_t> bytes);

// Atomic write (temp + fsync + rename) and a bounded read + decode.
Result<void> write_state_file(const std::string& path, const SnapshotState& state);
Result<SnapshotState> read_state_file(const std::string& path);

}  // namespace thaw::snapshot
