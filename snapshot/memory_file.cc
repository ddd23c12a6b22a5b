#include "snapshot/memory_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/file_util.h"

namespace thaw::snapshot {

namespace {

constexpr size_t kPageSize = 4096;

bool page_is_zero(const uint8_t* page) {
  static const uint8_t kZero[kPageSize] = {};
  return std::memcmp(page, kZero, kPageSize) == 0;
}

// Writes the non-zero pages of one region, coalescing runs into one pwrite.
Result<uint64_t> write_region(int fd, const sandbox::GuestRegion& region, const std::string& path) {
  uint64_t written = 0;
  uint64_t run_start = 0, run_len = 0;
  auto flush = [&]() -> Result<void> {
    if (run_len == 0) return Ok();
    const uint8_t* src = region.host + run_start;
    uint64_t done = 0;
    while (done < run_len) {
      ssize_t n = ::pwrite(fd, src + done, run_len - done,
                           static_cast<off_t>(region.file_offset + run_start + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::from_errno("write {}", path);
      }
      done += static_cast<uint64_t>(n);
    }
    written += run_len;
    run_len = 0;
    return Ok();
  };
  for (uint64_t off = 0; off < region.size; off += kPageSize) {
    if (page_is_zero(region.host + off)) {
      auto r = flush();
      if (!r) return std::move(r).error();
      continue;
    }
    if (run_len == 0) run_start = off;
    run_len += kPageSize;
  }
  auto r = flush();
  if (!r) return std::move(r).error();
  return written;
}

}  // namespace

Result<MemoryFileStats> write_memory_file(const sandbox::GuestMemory& memory,
                                          const std::string& path) {
  std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  auto fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!fd) return std::move(fd).error();
  MemoryFileStats stats;
  stats.bytes_total = memory.size();
  auto fail = [&](Error e) -> Result<MemoryFileStats> {
    ::unlink(tmp.c_str());
    return e;
  };
  // Size first: the pages never written stay holes and read back as zero.
  if (::ftruncate(fd->get(), static_cast<off_t>(memory.size())) != 0) {
    return fail(Error::from_errno("size {} to {} bytes", tmp, memory.size()));
  }
  for (const auto& region : memory.regions()) {
    auto n = write_region(fd->get(), region, tmp);
    if (!n) return fail(std::move(n).error());
    stats.bytes_written += *n;
  }
  if (::fsync(fd->get()) != 0) return fail(Error::from_errno("fsync {}", tmp));
  fd->reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Error::from_errno("rename {} to {}", tmp, path));
  }
  return stats;
}

Result<sandbox::GuestMemory> map_memory_file(const std::string& path, uint64_t expected_size) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::from_errno("stat {}", path);
  if (static_cast<uint64_t>(st.st_size) != expected_size) {
    return Error::format("memory file {} is {} bytes, the snapshot needs {} (truncated or foreign)",
                         path, st.st_size, expected_size);
  }
  auto mem = sandbox::GuestMemory::map_file(std::move(*fd), expected_size, /*private_cow=*/true);
  if (!mem) return Error(mem.error()).context(path);
  return mem;
}

}  // namespace thaw::snapshot
