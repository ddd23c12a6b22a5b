// The snapshot's guest-memory file: one byte range per guest RAM byte, in
// region file order, sparse where guest pages are zero so an idle 1 GiB
// guest costs only the pages it touched. Restores map it MAP_PRIVATE.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::snapshot {

struct MemoryFileStats {
  uint64_t bytes_total = 0;    // logical size (= guest RAM)
  uint64_t bytes_written = 0;  // non-zero pages written
};

using SnapshotId = std::array<uint8_t, 16>;
// The extended attribute that carries the snapshot id on a memory file.
inline constexpr char kSnapshotIdXattr[] = "user.thaw.snapshot-id";

// Writes `memory` to `path` atomically (temp + fsync + rename). A non-zero
// `id` is stamped on the file as kSnapshotIdXattr where the file system
// keeps user xattrs (ext4, xfs, tmpfs since Linux 6.6, overlayfs on them).
Result<MemoryFileStats> write_memory_file(const sandbox::GuestMemory& memory,
                                          const std::string& path, const SnapshotId& id = {});

// Maps a memory file as guest RAM: lazy, copy-on-write, clean pages shared
// through the page cache. The file must be exactly `expected_size` bytes,
// and when both it and `expected_id` carry an id, the ids must match.
Result<sandbox::GuestMemory> map_memory_file(const std::string& path, uint64_t expected_size,
                                             const SnapshotId& expected_id = {});
// The same checks, then the file replaces `memory`'s backing in place
// (GuestMemory::remap_file): a standby VM's memory slots stay as they are.
Result<void> map_memory_file_into(sandbox::GuestMemory& memory, const std::string& path,
                                  const SnapshotId& expected_id = {});

}  // namespace thaw::snapshot
