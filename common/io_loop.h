// One io_uring event loop per thread (Seastar-style): the thread that calls
// run() owns the ring; work is completion callbacks, no locks on the hot
// path. Used by thaw-vmm's device backends, thaw-init and thawd.
#pragma once

#include <liburing.h>
#include <poll.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

// An operation in flight. The owner keeps it alive until its last completion
// (for multishot ops: the CQE without IORING_CQE_F_MORE). Reusable, so a hot
// path allocates nothing per request.
struct IoOp {
  std::function<void(int res, uint32_t cqe_flags)> done;
  bool in_flight = false;
};

class IoLoop {
 public:
  static Result<std::unique_ptr<IoLoop>> create(unsigned entries = 256);
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // A fresh SQE bound to `op`; the caller preps it (io_uring_prep_*) and it
  // is submitted on the next loop turn. Never null: flushes when full.
  io_uring_sqe* prepare(IoOp& op);
  // Multishot poll for POLLIN (or `events`) on fd; op.done runs per readiness.
  void watch(int fd, IoOp& op, unsigned events = POLLIN);
  // Asks the kernel to cancel `op`; its done() still runs with -ECANCELED.
  void cancel(IoOp& op);

  // Runs fn on the loop thread; safe to call from any thread.
  void post(std::function<void()> fn);

  // Submits pending SQEs, waits up to timeout_ms (-1 = forever) for at least
  // one completion, and runs every ready callback. Returns how many ran.
  Result<int> run_once(int timeout_ms);
  // Runs until stop() is called (from any thread or a callback).
  Result<void> run();
  void stop();
  bool stopping() const { return stop_.load(std::memory_order_acquire); }

  io_uring* ring() { return &ring_; }

 private:
  IoLoop() = default;
  void drain_posted();

  io_uring ring_{};
  bool ring_ready_ = false;
  UniqueFd wake_fd_;
  IoOp wake_op_;
  std::atomic<bool> stop_{false};
  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace thaw
