// The snapshot's guest-memory file: one byte range per guest RAM byte, in
// region file order, sparse where guest pages are zero so an idle 1 GiB
// guest costs only the pages it touched. Restores map it MAP_PRIVATE.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::snapshot {

struct MemoryFileStats {
  uint64_t bytes_total = 0;    // logical size (= guest RAM)
  uint64_t bytes_written = 0;  // non-zero pages written
};

// Writes `memory` to `path` atomically (temp + fsync + rename).
Result<MemoryFileStats> write_memory_file(const sandbox::GuestMemory& memory,
                                          const std::string& path);

// Maps a memory file as guest RAM: lazy, copy-on-write, clean pages shared
// through the page cache. The file must be exactly `expected_size` bytes.
Result<sandbox::GuestMemory> map_memory_file(const std::string& path, uint64_t expected_size);

}  // namespace thaw::snapshot
