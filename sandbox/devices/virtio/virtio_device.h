// The contract between the virtio-mmio transport and a device backend
// (blk, vsock): the backend says what it is (id, features, queues, config
// space) and handles queue work; the transport owns registers, queues,
// interrupts and the "device broken" state (virtio 1.2 §2.1.2, §4.2.2).
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "common/io_loop.h"
#include "common/result.h"
#include "sandbox/devices/virtio/virtqueue.h"
#include "sandbox/memory/guest_memory.h"

namespace thaw::sandbox::virtio {

// Services the transport gives its backend. All calls need the device lock
// (VirtioHost::mutex()) held; backends take it in their IoLoop callbacks.
class VirtioHost {
 public:
  virtual ~VirtioHost() = default;
  virtual std::mutex& mutex() = 0;
  virtual const GuestMemory& memory() const = 0;
  virtual Virtqueue& queue(size_t index) = 0;
  // Features the driver accepted (valid once FEATURES_OK).
  virtual uint64_t driver_features() const = 0;
  // Raises the used-buffer interrupt if the queue's suppression allows it.
  virtual void signal_used(size_t index) = 0;
  // Config space changed: bumps ConfigGeneration and raises the config
  // interrupt (e.g. disk capacity after a restore).
  virtual void signal_config_change() = 0;
  // The guest broke the virtio contract: sets DEVICE_NEEDS_RESET, raises a
  // config interrupt and stops all queue processing until the driver resets.
  virtual void mark_broken(const Error& why) = 0;
  virtual bool broken() const = 0;
  // True between DRIVER_OK and the next reset (and not broken).
  virtual bool active() const = 0;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual std::string_view name() const = 0;
  virtual uint32_t device_id() const = 0;      // virtio 1.2 §5 (2 = blk, 19 = vsock)
  // Device-type features plus the ring features the backend supports;
  // the transport adds VIRTIO_F_VERSION_1 and requires it.
  virtual uint64_t device_features() const = 0;
  virtual size_t queue_count() const = 0;
  virtual uint16_t queue_max_size(size_t index) const = 0;

  // Config space at MMIO 0x100 (little-endian). Out-of-range reads give 0.
  virtual void read_config(uint64_t offset, std::span<uint8_t> data) const = 0;
  virtual void write_config(uint64_t offset, std::span<const uint8_t> data) = 0;

  // The loop the backend does its I/O on; the transport runs activate(),
  // process_queue() and reset() there (nullptr: call inline, tests only).
  virtual IoLoop* loop() = 0;

  // Called once by the transport before anything else.
  virtual void attach(VirtioHost& host) = 0;
  // DRIVER_OK was set with the queues configured; the backend checks the
  // queues it needs are ready (an error marks the device broken) and
  // processes whatever is already available. Loop thread, lock held.
  virtual Result<void> activate() = 0;
  // The driver notified queue `index` (QueueNotify / ioeventfd).
  // Loop thread, lock held, only while active.
  virtual void process_queue(size_t index) = 0;
  // Device reset (Status = 0): drop connections and in-flight work; late
  // completions must not touch the rings. Loop thread, lock held.
  virtual void reset() = 0;

  // Guest requests taken from a ring but not yet returned (I/O in the
  // kernel). A snapshot needs 0: pause the vCPUs, run the loop until then.
  virtual size_t in_flight() const = 0;

  // Backend state for snapshots (versioned plain data, no host pointers).
  virtual Result<std::vector<uint8_t>> save_state() const = 0;
  virtual Result<void> restore_state(std::span<const uint8_t> state) = 0;
};

}  // namespace thaw::sandbox::virtio
