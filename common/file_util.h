// Small file helpers shared by every library: whole-file reads, atomic
// writes (temp + fsync + rename), and exact-length fd I/O that retries EINTR.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

Result<UniqueFd> open_file(const std::string& path, int flags, int mode = 0);
Result<std::vector<uint8_t>> read_file(const std::string& path, size_t max_bytes);
// Reads a /proc, /sys or cgroup file (whose stat size is 0 or a lie) up to
// EOF; more than `max_bytes` is an error naming the file and the limit.
Result<std::string> read_pseudo_file(const std::string& path, size_t max_bytes = 64u << 10);
// Writes `data` to `path` so that readers see the old file or the whole new
// one, never a prefix: write to a temp file beside it, fsync, rename, fsync dir.
Result<void> write_file_atomic(const std::string& path, std::span<const uint8_t> data,
                               int mode = 0644);
// Loops until every byte moved; EOF before the end is an error naming `what`.
Result<void> write_all(int fd, std::span<const uint8_t> data, std::string_view what);
Result<void> read_exact(int fd, std::span<uint8_t> data, std::string_view what);
// Removes a tree without following symlinks, first making directories
// writable so an unpacked package's 0555 directories cannot block clean-up.
// Best effort: used on clean-up paths, where a failure has nowhere to go.
void remove_tree(const std::string& path);

}  // namespace thaw
