#include "snapshot/working_set.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "common/byte_io.h"
#include "common/file_util.h"
#include "snapshot/sealed_file.h"

namespace thaw::snapshot {

namespace {

constexpr SealedFormat kWorkingSetFormat{{kWorkingSetMagic, sizeof kWorkingSetMagic},
                                         kWorkingSetVersion,
                                         "working-set file",
                                         "delete it to record it again"};

constexpr uint64_t kPage = 4096;
// /proc/PID/pagemap (Documentation/admin-guide/mm/pagemap.rst): one u64
// per virtual page; bit 63 = present, bit 61 = file page or shared anon.
constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapFile = 1ull << 61;
constexpr size_t kPagemapBatch = 4096;  // entries per pread

// Appends page `offset` to `runs`, extending the last run when adjacent
// and of the same kind.
void add_page(std::vector<PageRun>& runs, uint64_t offset, bool written) {
  if (!runs.empty()) {
    PageRun& last = runs.back();
    if (last.written == written && last.file_offset + uint64_t{last.pages} * kPage == offset &&
        last.pages < UINT32_MAX) {
      ++last.pages;
      return;
    }
  }
  runs.push_back({offset, 1, written});
}

Result<void> populate(uint8_t* addr, uint64_t len, int advice, const char* what) {
  if (::madvise(addr, len, advice) == 0) return Ok();
  return Error::from_errno("madvise({}) over {} bytes of guest memory; the host kernel needs "
                           "Linux 5.14 for it, or restore without working-set prefetch",
                           what, len);
}

}  // namespace

uint64_t WorkingSet::page_count() const {
  uint64_t n = 0;
  for (const auto& r : runs) n += r.pages;
  return n;
}

Result<WorkingSet> record_working_set(const sandbox::GuestMemory& memory) {
  auto fd = open_file("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (!fd) return std::move(fd).error();
  WorkingSet set;
  set.memory_size = memory.size();
  std::vector<uint64_t> entries(kPagemapBatch);
  for (const auto& region : memory.regions()) {
    uint64_t pages = region.size / kPage;
    uint64_t first = reinterpret_cast<uintptr_t>(region.host) / kPage;
    for (uint64_t done = 0; done < pages;) {
      size_t batch = static_cast<size_t>(std::min<uint64_t>(kPagemapBatch, pages - done));
      off_t at = static_cast<off_t>((first + done) * sizeof(uint64_t));
      ssize_t n = ::pread(fd->get(), entries.data(), batch * sizeof(uint64_t), at);
      if (n != static_cast<ssize_t>(batch * sizeof(uint64_t))) {
        return Error::from_errno("reading /proc/self/pagemap for guest memory at {:#x}",
                                 region.guest_base + done * kPage);
      }
      for (size_t i = 0; i < batch; ++i) {
        if (!(entries[i] & kPagemapPresent)) continue;
        add_page(set.runs, region.file_offset + (done + i) * kPage, !(entries[i] & kPagemapFile));
      }
      done += batch;
    }
  }
  return set;
}

std::vector<uint8_t> encode_working_set(const WorkingSet& set) {
  ByteWriter body;
  body.put(set.memory_size);
  body.put(static_cast<uint32_t>(set.runs.size()));
  for (const auto& r : set.runs) {
    body.put(r.file_offset);
    body.put(r.pages);
    body.put(static_cast<uint32_t>(r.written ? 1 : 0));
  }
  return seal(kWorkingSetFormat, body.bytes());
}

Result<WorkingSet> decode_working_set(std::span<const uint8_t> bytes) {
  auto body = unseal(kWorkingSetFormat, bytes);
  if (!body) return std::move(body).error();
  ByteReader b(*body);
  WorkingSet set;
  auto size = b.get<uint64_t>("memory size");
  if (!size) return std::move(size).error();
  set.memory_size = *size;
  auto count = b.get<uint32_t>("run count");
  if (!count) return std::move(count).error();
  if (*count > kMaxWorkingSetRuns) {
    return Error::format("working set has {} runs, more than the {} allowed", *count,
                         kMaxWorkingSetRuns);
  }
  constexpr size_t kRunBytes = 8 + 4 + 4;
  if (b.remaining() != uint64_t{*count} * kRunBytes) {
    return Error::format("working set says {} runs but holds {} bytes of them ({} each)", *count,
                         b.remaining(), kRunBytes);
  }
  uint64_t end_of_last = 0;
  set.runs.reserve(*count);
  for (uint32_t i = 0; i < *count; ++i) {
    // The exact-size check above guarantees these reads succeed.
    PageRun run;
    run.file_offset = *b.get<uint64_t>("run offset");
    run.pages = *b.get<uint32_t>("run pages");
    uint32_t written = *b.get<uint32_t>("run kind");
    if (run.file_offset % kPage != 0 || run.pages == 0 || written > 1) {
      return Error::format("working-set run {} (offset {:#x}, {} pages, kind {}) is malformed", i,
                           run.file_offset, run.pages, written);
    }
    uint64_t len = uint64_t{run.pages} * kPage;
    if (run.file_offset < end_of_last || run.file_offset > set.memory_size ||
        len > set.memory_size - run.file_offset) {
      return Error::format("working-set run {} [{:#x}, +{:#x}) overlaps the previous run or "
                           "leaves the {:#x}-byte memory file",
                           i, run.file_offset, len, set.memory_size);
    }
    end_of_last = run.file_offset + len;
    run.written = written == 1;
    set.runs.push_back(run);
  }
  return set;
}

Result<void> write_working_set(const std::string& path, const WorkingSet& set) {
  return write_file_atomic(path, encode_working_set(set), 0600);
}

Result<WorkingSet> read_working_set(const std::string& path) {
  // Header + 16 bytes per run at most.
  auto bytes = read_file(path, 64 + uint64_t{kMaxWorkingSetRuns} * 16);
  if (!bytes) return std::move(bytes).error();
  auto set = decode_working_set(*bytes);
  if (!set) return Error(set.error()).context(path);
  return set;
}

Result<PrefetchStats> prefetch_working_set(const sandbox::GuestMemory& memory,
                                           const WorkingSet& set) {
  if (set.memory_size != memory.size()) {
    return Error::format("working set was recorded for {} bytes of guest memory, this VM has "
                         "{}; delete it to record it again",
                         set.memory_size, memory.size());
  }
  // Every run's read goes to the disk at once, before the first populate
  // waits on one (REAP: one large read instead of a fault per page).
  for (const auto& run : set.runs) {
    (void)::posix_fadvise(memory.fd(), static_cast<off_t>(run.file_offset),
                          static_cast<off_t>(uint64_t{run.pages} * kPage), POSIX_FADV_WILLNEED);
  }
  PrefetchStats stats;
  for (const auto& run : set.runs) {
    uint64_t len = uint64_t{run.pages} * kPage;
    // Runs come from the file-order view; map them onto the regions (a
    // run may span two when the recording coalesced across a region end).
    for (const auto& region : memory.regions()) {
      uint64_t lo = std::max(run.file_offset, region.file_offset);
      uint64_t hi = std::min(run.file_offset + len, region.file_offset + region.size);
      if (lo >= hi) continue;
      uint8_t* addr = region.host + (lo - region.file_offset);
      auto r = run.written ? populate(addr, hi - lo, MADV_POPULATE_WRITE, "MADV_POPULATE_WRITE")
                           : populate(addr, hi - lo, MADV_POPULATE_READ, "MADV_POPULATE_READ");
      if (!r) return std::move(r).error();
    }
    (run.written ? stats.pages_written : stats.pages_read) += run.pages;
  }
  return stats;
}

}  // namespace thaw::snapshot
