// The working set of a restored sandbox (REAP-style): the guest pages it
// touched up to a point the caller picks (its first response), recorded
// from the host page tables of the guest-memory mapping, stored beside the
// snapshot, and prefetched on later restores before the vCPUs run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::snapshot {

inline constexpr char kWorkingSetFileName[] = "working-set";
inline constexpr char kWorkingSetMagic[8] = {'T', 'H', 'A', 'W', 'W', 'S', 'E', 'T'};
// 1: magic, version, body size, SHA-256. 2: the header also holds its own
// size, as the state file's does (one container, snapshot/sealed_file.h).
inline constexpr uint32_t kWorkingSetVersion = 2;
// A hostile file cannot make the decoder allocate more than this.
inline constexpr uint32_t kMaxWorkingSetRuns = 1u << 20;

// A run of consecutive pages of the memory file. Pages the guest wrote are
// private copies after the restore (copy-on-write); they are prefetched
// for writing so the copy happens before the guest runs, not in its path.
struct PageRun {
  uint64_t file_offset = 0;  // multiple of 4 KiB
  uint32_t pages = 0;
  bool written = false;
};

struct WorkingSet {
  uint64_t memory_size = 0;  // the snapshot's guest RAM; a mismatch refuses the file
  std::vector<PageRun> runs;
  uint64_t page_count() const;
};

// Reads /proc/self/pagemap over `memory`'s mappings: a page is in the set
// when it is mapped in this process (the guest or a device touched it
// since the restore); it counts as written when it is no longer the file's
// page (an anonymous copy-on-write copy).
Result<WorkingSet> record_working_set(const sandbox::GuestMemory& memory);

std::vector<uint8_t> encode_working_set(const WorkingSet& set);
// Pure, over untrusted bytes: runs must be page-aligned, ascending, apart,
// and inside memory_size; the checksum must match.
Result<WorkingSet> decode_working_set(std::span<const uint8_t> bytes);
Result<void> write_working_set(const std::string& path, const WorkingSet& set);
Result<WorkingSet> read_working_set(const std::string& path);

struct PrefetchStats {
  uint64_t pages_read = 0;
  uint64_t pages_written = 0;
};

// Hints the kernel to read every run of the memory file (one readahead
// each, all in flight together), then populates `memory`'s page tables:
// MADV_POPULATE_READ for read pages, MADV_POPULATE_WRITE for written ones
// (Linux 5.14). Refuses a set made for another memory size.
Result<PrefetchStats> prefetch_working_set(const sandbox::GuestMemory& memory,
                                           const WorkingSet& set);

}  // namespace thaw::snapshot
