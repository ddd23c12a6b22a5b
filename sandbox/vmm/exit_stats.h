// Counters of vCPU exits by reason, shared by every vCPU thread of a VM and
// read by the control socket's "stats" op. Lock-free: relaxed atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace thaw::sandbox {

enum class ExitKind : size_t {
  kIo,
  kIoUnhandled,  // port access no device claims
  kMmio,
  kMmioUnhandled,
  kHlt,
  kShutdown,
  kInternalError,
  kFailEntry,
  kSystemEvent,
  kInterrupted,  // KVM_RUN returned EINTR (a pause/stop kick or a signal)
  kOther,
  kCount,
};

class ExitStats {
 public:
  void count(ExitKind kind) {
    counts_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t get(ExitKind kind) const {
    return counts_[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
  }
  // (name, count) for every kind, names as the control socket reports them.
  std::vector<std::pair<std::string_view, uint64_t>> snapshot() const {
    static constexpr std::array<std::string_view, static_cast<size_t>(ExitKind::kCount)> kNames{
        "io",       "io_unhandled",   "mmio",       "mmio_unhandled", "hlt",  "shutdown",
        "internal_error", "fail_entry", "system_event", "intr",       "other"};
    std::vector<std::pair<std::string_view, uint64_t>> out;
    for (size_t i = 0; i < kNames.size(); ++i) {
      out.emplace_back(kNames[i], counts_[i].load(std::memory_order_relaxed));
    }
    return out;
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<size_t>(ExitKind::kCount)> counts_{};
};

}  // namespace thaw::sandbox
