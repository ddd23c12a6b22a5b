// virtio-blk backend (virtio 1.2 §5.2): a disk image file served through the
// IoLoop's io_uring (readv/writev/fsync submitted async; the completion writes
// the status byte, the used entry, then interrupts). Used by thaw-vmm for
// --disk (code/layer EROFS images read-only, scratch disks read-write).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/io_loop.h"
#include "common/unique_fd.h"
#include "sandbox/devices/virtio/log_budget.h"
#include "sandbox/devices/virtio/virtio_device.h"

namespace thaw::sandbox::virtio {

struct BlkConfig {
  std::string path;
  bool read_only = false;
  std::string serial;           // GET_ID answer (<= 20 bytes); default: file name
  uint16_t queue_size = 256;    // QueueNumMax
  uint32_t seg_max = 126;       // data segments per request (VIRTIO_BLK_F_SEG_MAX)
  uint32_t size_max = 1 << 20;  // bytes per data segment (VIRTIO_BLK_F_SIZE_MAX)
};

struct BlkStats {
  uint64_t bytes_read = 0;     // guest reads (host file -> guest)
  uint64_t bytes_written = 0;  // guest writes
  uint64_t requests = 0;
  uint64_t flushes = 0;
  uint64_t errors = 0;         // requests answered IOERR/UNSUPP
};

class VirtioBlk : public VirtioDevice {
 public:
  // Opens the image (O_RDONLY for read_only) and sizes the disk from it;
  // the error names the path and the reason.
  static Result<std::unique_ptr<VirtioBlk>> create(const BlkConfig& config, IoLoop& loop);
  ~VirtioBlk() override;

  std::string_view name() const override { return name_; }
  uint32_t device_id() const override;
  uint64_t device_features() const override;
  size_t queue_count() const override { return 1; }
  uint16_t queue_max_size(size_t) const override { return config_.queue_size; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) override;
  IoLoop* loop() override { return &loop_; }
  void attach(VirtioHost& host) override { host_ = &host; }
  Result<void> activate() override;
  void process_queue(size_t index) override;
  void reset() override;
  Result<std::vector<uint8_t>> save_state() const override;
  Result<void> restore_state(std::span<const uint8_t> state) override;

  uint64_t capacity_sectors() const;
  // Re-reads the image size (after a restore rebinds the disk or the file
  // grew) and, when it changed, raises a config-change interrupt. Any thread.
  Result<void> refresh_capacity();
  BlkStats stats() const;
  size_t in_flight() const override;

 private:
  struct Request;
  VirtioBlk(const BlkConfig& config, IoLoop& loop, UniqueFd fd, uint64_t capacity);
  void handle_chain(const DescriptorChain& chain);
  void complete(Request& req, uint8_t status, uint32_t written);
  void on_io_done(Request& req, int res);

  BlkConfig config_;
  std::string name_;
  IoLoop& loop_;
  UniqueFd fd_;
  VirtioHost* host_ = nullptr;
  std::atomic<uint64_t> capacity_;  // in 512-byte sectors
  std::vector<std::unique_ptr<Request>> requests_;  // one slot per queue entry
  std::vector<Request*> free_;
  bool waiting_for_slot_ = false;
  uint64_t epoch_ = 0;  // bumped by reset(): late completions are dropped
  LogBudget log_budget_;  // guest-triggered log lines
  std::atomic<uint64_t> bytes_read_{0}, bytes_written_{0}, requests_done_{0}, flushes_{0},
      errors_{0};
};

}  // namespace thaw::sandbox::virtio
