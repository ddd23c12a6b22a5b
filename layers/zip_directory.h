// The ZIP central directory, read straight from the bytes (APPNOTE.TXT
// 4.3.12-4.3.16, ZIP64 included) before libarchive sees them: it bounds what
// libarchive will hold in memory and catches entry kinds libarchive hides.
// Used by the ZIP reader.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

#include "common/result.h"

namespace thaw::layers {

// Refuses bytes with no end-of-central-directory record (not a ZIP, or
// truncated), a directory that is missing or cut short, more than
// `max_entries` declared entries, no entries at all, and FIFO, device and
// socket entries (libarchive reports a FIFO as a plain file). Returns the
// declared entry count.
Result<uint64_t> scan_central_directory(std::span<const uint8_t> zip, uint64_t max_entries);

// "a FIFO", "a character device", ... for refusals naming an entry's kind.
const char* filetype_name(mode_t type);

}  // namespace thaw::layers
