#include "common/io_loop.h"

#include <poll.h>
#include <sys/eventfd.h>

namespace thaw {

Result<std::unique_ptr<IoLoop>> IoLoop::create(unsigned entries) {
  std::unique_ptr<IoLoop> loop(new IoLoop());
  io_uring_params params{};
  // One thread submits and reaps; let the kernel skip cross-thread checks.
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
  int rc = io_uring_queue_init_params(entries, &loop->ring_, &params);
  if (rc < 0) {
    params.flags = 0;  // older kernels lack the flags above
    rc = io_uring_queue_init_params(entries, &loop->ring_, &params);
  }
  if (rc < 0) return Error::with_errno(-rc, "io_uring_queue_init({} entries)", entries);
  loop->ring_ready_ = true;

  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return Error::from_errno("eventfd for io loop wake-ups");
  loop->wake_fd_.reset(efd);
  IoLoop* self = loop.get();
  loop->wake_op_.done = [self](int res, uint32_t flags) {
    // The kernel may end a multishot poll (e.g. CQ overflow): re-arm it.
    if (!(flags & IORING_CQE_F_MORE) && !self->stopping()) {
      self->watch(self->wake_fd_.get(), self->wake_op_);
    }
    if (res < 0) return;
    uint64_t count;
    while (::read(self->wake_fd_.get(), &count, sizeof count) > 0) {
    }
    self->drain_posted();
  };
  loop->watch(efd, loop->wake_op_);
  return loop;
}

IoLoop::~IoLoop() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

io_uring_sqe* IoLoop::prepare(IoOp& op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_sqe_set_data(sqe, &op);
  op.in_flight = true;
  return sqe;
}

void IoLoop::watch(int fd, IoOp& op, unsigned events) {
  io_uring_prep_poll_multishot(prepare(op), fd, events);
}

void IoLoop::cancel(IoOp& op) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  while (sqe == nullptr) {
    io_uring_submit(&ring_);
    sqe = io_uring_get_sqe(&ring_);
  }
  io_uring_prep_cancel(sqe, &op, 0);
  io_uring_sqe_set_data(sqe, nullptr);  // the cancel's own CQE is ignored
}

void IoLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

void IoLoop::drain_posted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(posted_mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

Result<int> IoLoop::run_once(int timeout_ms) {
  io_uring_cqe* cqe = nullptr;
  int rc;
  if (timeout_ms < 0) {
    rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc >= 0) rc = io_uring_peek_cqe(&ring_, &cqe);
  } else {
    __kernel_timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000LL};
    rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  if (rc == -ETIME || rc == -EINTR || rc == -EAGAIN) return 0;
  if (rc < 0) return Error::with_errno(-rc, "io_uring wait");

  int ran = 0;
  unsigned head;
  unsigned seen = 0;
  // Copy out before advancing: a callback may prepare new SQEs.
  struct Done { IoOp* op; int res; uint32_t flags; };
  Done batch[64];
  int count = 0;
  io_uring_for_each_cqe(&ring_, head, cqe) {
    ++seen;
    auto* op = static_cast<IoOp*>(io_uring_cqe_get_data(cqe));
    if (op != nullptr) batch[count++] = {op, cqe->res, cqe->flags};
    if (count == 64) break;
  }
  io_uring_cq_advance(&ring_, seen);
  for (int i = 0; i < count; ++i) {
    Done& d = batch[i];
    if (!(d.flags & IORING_CQE_F_MORE)) d.op->in_flight = false;
    if (d.op->done) d.op->done(d.res, d.flags);
    ++ran;
  }
  return ran;
}

Result<void> IoLoop::run() {
  while (!stopping()) {
    auto r = run_once(-1);
    if (!r) return std::move(r).error();
  }
  return Ok();
}

void IoLoop::stop() {
  stop_.store(true, std::memory_order_release);
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
}

}  // namespace thaw
