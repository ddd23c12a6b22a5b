#include "sandbox/vmm/irqfd_line.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace thaw::sandbox {

Result<std::shared_ptr<IrqfdLine>> IrqfdLine::create(KvmVm& vm, uint32_t gsi) {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Error::from_errno("eventfd for interrupt line GSI {}", gsi);
  UniqueFd owned(fd);
  auto r = vm.add_irqfd(gsi, owned.get());
  if (!r) return std::move(r).error();
  return std::shared_ptr<IrqfdLine>(new IrqfdLine(std::move(owned), gsi));
}

void IrqfdLine::trigger() {
  triggers_.fetch_add(1, std::memory_order_relaxed);
  uint64_t one = 1;
  // EAGAIN means the counter is saturated, i.e. an injection is already
  // pending; nothing is lost by dropping this one.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof(one));
}

}  // namespace thaw::sandbox
