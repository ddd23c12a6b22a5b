#include "snapshot/memory_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/file_util.h"
#include "snapshot/working_set.h"

namespace thaw::snapshot {

namespace {

constexpr size_t kPageSize = 4096;

bool page_is_zero(const uint8_t* page) {
  static const uint8_t kZero[kPageSize] = {};
  return std::memcmp(page, kZero, kPageSize) == 0;
}

// Which pages of `region` can be non-zero, without touching the others:
// reading a never-written page of a memfd through the mapping would
// allocate it, so scanning all of guest RAM would cost all of guest RAM.
// A page can hold data only where the backing file has data (SEEK_DATA,
// which memfd/tmpfs and the usual file systems answer) or where this
// process maps a page of its own (a copy-on-write copy over a restored
// snapshot, seen in /proc/self/pagemap). Without a backing fd every page
// is a candidate.
Result<std::vector<bool>> candidate_pages(const sandbox::GuestMemory& memory,
                                          const sandbox::GuestRegion& region) {
  uint64_t pages = region.size / kPageSize;
  int fd = memory.fd();
  if (fd < 0) return std::vector<bool>(pages, true);
  std::vector<bool> out(pages, false);
  auto begin = static_cast<off_t>(region.file_offset);
  auto end = static_cast<off_t>(region.file_offset + region.size);
  for (off_t at = begin; at < end;) {
    off_t data = ::lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // no data past `at`
    if (data < 0) return Error::from_errno("SEEK_DATA in guest memory at {:#x}", at);
    if (data >= end) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return Error::from_errno("SEEK_HOLE in guest memory at {:#x}", data);
    hole = std::min(hole, end);
    for (off_t p = data / kPageSize * kPageSize; p < hole; p += kPageSize) {
      out[static_cast<uint64_t>(p - begin) / kPageSize] = true;
    }
    at = hole;
  }
  auto mapped = record_working_set(memory);
  if (!mapped) return std::move(mapped).error();
  for (const auto& run : mapped->runs) {
    for (uint64_t i = 0; i < run.pages; ++i) {
      uint64_t off = run.file_offset + i * kPageSize;
      if (off >= region.file_offset && off < region.file_offset + region.size) {
        out[(off - region.file_offset) / kPageSize] = true;
      }
    }
  }
  return out;
}

// Writes the non-zero pages of one region, coalescing runs into one pwrite.
Result<uint64_t> write_region(int fd, const sandbox::GuestMemory& memory,
                              const sandbox::GuestRegion& region, const std::string& path) {
  auto candidates = candidate_pages(memory, region);
  if (!candidates) return std::move(candidates).error();
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
    if (!(*candidates)[off / kPageSize] || page_is_zero(region.host + off)) {
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
                                          const std::string& path, const SnapshotId& id) {
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
    auto n = write_region(fd->get(), memory, region, tmp);
    if (!n) return fail(std::move(n).error());
    stats.bytes_written += *n;
  }
  if (id != SnapshotId{} &&
      ::fsetxattr(fd->get(), kSnapshotIdXattr, id.data(), id.size(), 0) != 0 &&
      errno != ENOTSUP) {
    return fail(Error::from_errno("stamping {} with its snapshot id ({})", tmp, kSnapshotIdXattr));
  }
  if (::fsync(fd->get()) != 0) return fail(Error::from_errno("fsync {}", tmp));
  fd->reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(Error::from_errno("rename {} to {}", tmp, path));
  }
  return stats;
}

namespace {

// Opens the memory file and checks its size and snapshot id.
Result<UniqueFd> open_memory_file(const std::string& path, uint64_t expected_size,
                                  const SnapshotId& expected_id) {
  auto fd = open_file(path, O_RDONLY);
  if (!fd) return std::move(fd).error();
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0) return Error::from_errno("stat {}", path);
  if (static_cast<uint64_t>(st.st_size) != expected_size) {
    return Error::format("memory file {} is {} bytes, the snapshot needs {} (truncated or foreign)",
                         path, st.st_size, expected_size);
  }
  if (expected_id != SnapshotId{}) {
    SnapshotId have{};
    ssize_t n = ::fgetxattr(fd->get(), kSnapshotIdXattr, have.data(), have.size());
    // No stamp (a file system without user xattrs, or a copy that dropped
    // them): nothing to compare, the size check above is all there is.
    if (n < 0 && errno != ENODATA && errno != ENOTSUP) {
      return Error::from_errno("reading {} of {}", kSnapshotIdXattr, path);
    }
    if (n >= 0 && (static_cast<size_t>(n) != have.size() || have != expected_id)) {
      return Error::format("memory file {} belongs to another save than the state file next to "
                           "it (snapshot ids differ); the directory mixes two snapshots, take the "
                           "snapshot again",
                           path);
    }
  }
  return std::move(*fd);
}

}  // namespace

Result<sandbox::GuestMemory> map_memory_file(const std::string& path, uint64_t expected_size,
                                             const SnapshotId& expected_id) {
  auto fd = open_memory_file(path, expected_size, expected_id);
  if (!fd) return std::move(fd).error();
  auto mem = sandbox::GuestMemory::map_file(std::move(*fd), expected_size, /*private_cow=*/true);
  if (!mem) return Error(mem.error()).context(path);
  return mem;
}

Result<void> map_memory_file_into(sandbox::GuestMemory& memory, const std::string& path,
                                  const SnapshotId& expected_id) {
  auto fd = open_memory_file(path, memory.size(), expected_id);
  if (!fd) return std::move(fd).error();
  if (auto r = memory.remap_file(std::move(*fd), /*private_cow=*/true); !r) {
    return std::move(r).error().context(path);
  }
  return Ok();
}

}  // namespace thaw::snapshot
