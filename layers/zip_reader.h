// Streams a ZIP package (untrusted bytes) through libarchive, checking every
// entry against a ZipPolicy as it goes, and hands the accepted entries to an
// EntrySink. Nothing is unpacked first and checked later: a limit stops the
// stream at the entry that crosses it. Used by the image store and the fuzzer.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "common/result.h"
#include "layers/zip_policy.h"

struct archive_entry;  // libarchive

namespace thaw::layers {

// Receives the checked entries in archive order. Paths are normalised
// ("a/b"), parents may not have been announced (the sink creates them), and
// modes carry permission bits only (no setuid/setgid/sticky, no file type).
class EntrySink {
 public:
  virtual ~EntrySink() = default;
  virtual Result<void> directory(const std::string& path, uint32_t mode, int64_t mtime) = 0;
  virtual Result<void> begin_file(const std::string& path, uint32_t mode, int64_t mtime) = 0;
  virtual Result<void> file_data(std::span<const uint8_t> chunk) = 0;
  virtual Result<void> end_file() = 0;
  virtual Result<void> symlink(const std::string& path, const std::string& target,
                               int64_t mtime) = 0;
};

struct UnpackStats {
  uint64_t entries = 0;         // archive entries read
  uint64_t nodes = 0;           // files + directories (implicit too) + symlinks
  uint64_t files = 0;
  uint64_t symlinks = 0;
  uint64_t unpacked_bytes = 0;  // file contents plus symlink targets
};

// Reads the whole package. `policy.max_unpacked_bytes` is the budget for this
// package alone (the caller subtracts what layers already use). Errors name
// the entry ("ZIP entry #3 'lib/x.so': ..."), the limit, and the fix.
Result<UnpackStats> read_zip(std::span<const uint8_t> zip, const ZipPolicy& policy,
                             EntrySink& sink);

// Refuses entries whose kind a package may not hold: encrypted, hard links,
// devices, FIFOs, sockets. Errors say "it is ..."; the caller names the entry.
Result<void> check_entry_type(archive_entry* entry);

}  // namespace thaw::layers
