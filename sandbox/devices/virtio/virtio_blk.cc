#include "sandbox/devices/virtio/virtio_blk.h"

#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "common/file_util.h"
#include "sandbox/devices/virtio/virtio_spec.h"

namespace thaw::sandbox::virtio {

namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint32_t kHeaderSize = 16;  // struct virtio_blk_outhdr, §5.2.6
constexpr uint32_t kStateMagic = 0x4b4c4256;  // "VBLK"
constexpr uint32_t kStateVersion = 1;

struct BlkState {
  uint32_t magic;
  uint32_t version;
  uint32_t read_only;
  uint32_t reserved;
  uint64_t capacity;
};

Result<uint64_t> image_sectors(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return Error::from_errno("stat disk image {}", path);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    return Error::format("disk image {} is neither a regular file nor a block device", path);
  }
  uint64_t bytes = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    off_t end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) return Error::from_errno("sizing block device {}", path);
    bytes = static_cast<uint64_t>(end);
  }
  if (bytes % kSectorSize != 0) {
    spdlog::warn("disk image {} is {} bytes, not a multiple of 512: the last {} bytes are "
                 "invisible to the guest",
                 path, bytes, bytes % kSectorSize);
  }
  return bytes / kSectorSize;
}

}  // namespace

struct VirtioBlk::Request {
  IoOp op;
  uint16_t head = 0;
  uint64_t status_gpa = 0;
  uint32_t type = 0;
  uint64_t expect = 0;   // bytes the I/O must move
  uint32_t written = 0;  // used.len on success (§2.7.8: bytes written to the chain)
  uint64_t epoch = 0;
  std::vector<iovec> iov;  // capacity seg_max, reused
};

Result<std::unique_ptr<VirtioBlk>> VirtioBlk::create(const BlkConfig& config, IoLoop& loop) {
  if (config.queue_size == 0 || (config.queue_size & (config.queue_size - 1)) != 0 ||
      config.queue_size > 32768) {
    return Error::format("virtio-blk queue size {} must be a power of two <= 32768",
                         config.queue_size);
  }
  if (config.seg_max == 0 || config.seg_max + 2 > config.queue_size) {
    return Error::format("virtio-blk seg_max {} must be 1..queue size - 2 ({})", config.seg_max,
                         config.queue_size - 2);
  }
  if (config.size_max < kSectorSize) {
    return Error::format("virtio-blk size_max {} must be at least 512", config.size_max);
  }
  auto fd = open_file(config.path, (config.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (!fd) return std::move(fd).error().context("opening virtio-blk disk image");
  auto sectors = image_sectors(fd->get(), config.path);
  if (!sectors) return std::move(sectors).error();
  return std::unique_ptr<VirtioBlk>(new VirtioBlk(config, loop, std::move(*fd), *sectors));
}

VirtioBlk::VirtioBlk(const BlkConfig& config, IoLoop& loop, UniqueFd fd, uint64_t capacity)
    : config_(config), loop_(loop), fd_(std::move(fd)), capacity_(capacity) {
  std::string base = config.path.substr(config.path.find_last_of('/') + 1);
  name_ = "virtio-blk:" + base;
  if (config_.serial.empty()) config_.serial = base;
  if (config_.serial.size() > VIRTIO_BLK_ID_BYTES) config_.serial.resize(VIRTIO_BLK_ID_BYTES);
  // One slot per queue entry: the guest cannot have more chains outstanding
  // unless it recycles heads, and then it waits for a slot.
  for (uint16_t i = 0; i < config_.queue_size; ++i) {
    auto r = std::make_unique<Request>();
    r->iov.reserve(config_.seg_max);
    Request* raw = r.get();
    r->op.done = [this, raw](int res, uint32_t) {
      std::lock_guard lock(host_->mutex());
      on_io_done(*raw, res);
    };
    free_.push_back(raw);
    requests_.push_back(std::move(r));
  }
}

VirtioBlk::~VirtioBlk() = default;

uint32_t VirtioBlk::device_id() const { return VIRTIO_ID_BLOCK; }

uint64_t VirtioBlk::device_features() const {
  uint64_t f = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) |
               (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << kFeatureIndirectDesc) |
               (1ull << kFeatureEventIdx);
  if (config_.read_only) f |= 1ull << VIRTIO_BLK_F_RO;
  return f;
}

uint64_t VirtioBlk::capacity_sectors() const { return capacity_.load(); }

void VirtioBlk::read_config(uint64_t offset, std::span<uint8_t> data) const {
  // struct virtio_blk_config, §5.2.4: capacity, size_max, seg_max, ...,
  // num_queues at 34.
  uint8_t image[36] = {};
  uint64_t cap = capacity_.load();
  std::memcpy(image + 0, &cap, 8);
  std::memcpy(image + 8, &config_.size_max, 4);
  std::memcpy(image + 12, &config_.seg_max, 4);
  uint16_t queues = 1;
  std::memcpy(image + 34, &queues, 2);
  for (size_t i = 0; i < data.size(); ++i) {
    uint64_t at = offset + i;
    data[i] = at < sizeof image ? image[at] : 0;
  }
}

void VirtioBlk::write_config(uint64_t, std::span<const uint8_t>) {
  // Nothing writable: CONFIG_WCE is not offered.
}

Result<void> VirtioBlk::activate() {
  if (!host_->queue(0).ready()) {
    return Error::format("{}: driver set DRIVER_OK without enabling the request queue", name_);
  }
  process_queue(0);
  return Ok();
}

void VirtioBlk::reset() {
  // In-flight I/O keeps its slot until the kernel completes it; its epoch
  // no longer matches, so on_io_done frees the slot without touching rings.
  ++epoch_;
  waiting_for_slot_ = false;
}

size_t VirtioBlk::in_flight() const { return requests_.size() - free_.size(); }

void VirtioBlk::process_queue(size_t index) {
  if (index != 0 || !host_->active()) return;
  const GuestMemory& mem = host_->memory();
  Virtqueue& q = host_->queue(0);
  while (!host_->broken()) {
    if (free_.empty()) {
      waiting_for_slot_ = true;  // on_io_done resumes us
      return;
    }
    auto chain = q.pop(mem);
    if (!chain) {
      host_->mark_broken(chain.error().context("virtio-blk request queue"));
      return;
    }
    if (!*chain) {
      auto more = q.arm_notification(mem);
      if (!more) {
        host_->mark_broken(more.error());
        return;
      }
      if (!*more) return;
      continue;
    }
    handle_chain(**chain);
  }
}

void VirtioBlk::handle_chain(const DescriptorChain& chain) {
  const GuestMemory& mem = host_->memory();
  Request& req = *free_.back();
  req.head = chain.head;
  req.epoch = epoch_;
  req.iov.clear();

  // §2.6.4: no assumptions about framing. The request is a byte stream:
  // 16 header bytes, data, and a status byte that is the last writable one.
  const ChainSegment* status_seg = nullptr;
  for (const auto& s : chain.segments) {
    if (s.device_writable && s.len > 0) status_seg = &s;
  }
  if (status_seg == nullptr || chain.readable_bytes < kHeaderSize) {
    host_->mark_broken(Error::format(
        "virtio-blk request (head {}) has {} readable bytes and {} writable: it needs a 16-byte "
        "header and a status byte (virtio 1.2 §5.2.6)",
        chain.head, chain.readable_bytes, chain.writable_bytes));
    return;
  }
  free_.pop_back();
  req.status_gpa = status_seg->gpa + status_seg->len - 1;

  uint8_t header[kHeaderSize];
  uint32_t got = 0;
  for (const auto& s : chain.segments) {
    if (s.device_writable || got == kHeaderSize) break;
    uint32_t n = std::min<uint32_t>(s.len, kHeaderSize - got);
    auto r = mem.read(s.gpa, {header + got, n});
    if (!r) return complete(req, VIRTIO_BLK_S_IOERR, 1);
    got += n;
  }
  uint32_t type;
  uint64_t sector;
  std::memcpy(&type, header, 4);
  std::memcpy(&sector, header + 8, 8);
  req.type = type;

  // Data = readable bytes after the header (OUT) or writable bytes before
  // the status byte (IN, GET_ID), cut into iovecs over guest memory.
  bool to_guest = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
  uint64_t skip = to_guest ? 0 : kHeaderSize;
  uint64_t data_len = to_guest ? chain.writable_bytes - 1 : chain.readable_bytes - kHeaderSize;
  uint64_t left = data_len;
  for (const auto& s : chain.segments) {
    if (s.device_writable != to_guest || left == 0) continue;
    uint64_t off = std::min<uint64_t>(skip, s.len);
    skip -= off;
    uint64_t n = std::min<uint64_t>(s.len - off, left);
    if (n == 0) continue;
    if (req.iov.size() == config_.seg_max || n > config_.size_max) {
      if (log_budget_.take()) {
        spdlog::warn("{}: request exceeds seg_max {} / size_max {}", name_, config_.seg_max,
                     config_.size_max);
      }
      return complete(req, VIRTIO_BLK_S_IOERR, 1);
    }
    auto span = mem.slice(s.gpa + off, n);
    if (!span) return complete(req, VIRTIO_BLK_S_IOERR, 1);
    req.iov.push_back({span->data(), n});
    left -= n;
  }

  uint64_t cap = capacity_.load();
  switch (type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
      if (type == VIRTIO_BLK_T_OUT && config_.read_only) {
        return complete(req, VIRTIO_BLK_S_IOERR, 1);  // §5.2.6.2: RO disk
      }
      uint64_t sectors = data_len / kSectorSize;
      if (data_len % kSectorSize != 0 || sector > cap || sectors > cap - sector) {
        return complete(req, VIRTIO_BLK_S_IOERR, 1);
      }
      req.expect = data_len;
      req.written = type == VIRTIO_BLK_T_IN ? static_cast<uint32_t>(data_len + 1) : 1;
      if (data_len == 0) return complete(req, VIRTIO_BLK_S_OK, req.written);
      io_uring_sqe* sqe = loop_.prepare(req.op);
      auto nr = static_cast<unsigned>(req.iov.size());
      if (type == VIRTIO_BLK_T_IN) {
        io_uring_prep_readv(sqe, fd_.get(), req.iov.data(), nr, sector * kSectorSize);
      } else {
        io_uring_prep_writev(sqe, fd_.get(), req.iov.data(), nr, sector * kSectorSize);
      }
      return;
    }
    case VIRTIO_BLK_T_FLUSH: {
      req.expect = 0;
      req.written = 1;
      io_uring_prep_fsync(loop_.prepare(req.op), fd_.get(), IORING_FSYNC_DATASYNC);
      return;
    }
    case VIRTIO_BLK_T_GET_ID: {
      // §5.2.6: up to 20 bytes, NUL-padded when the serial is shorter.
      char id[VIRTIO_BLK_ID_BYTES] = {};
      std::memcpy(id, config_.serial.data(), config_.serial.size());
      uint32_t done = 0;
      for (const iovec& v : req.iov) {
        uint32_t n = std::min<uint32_t>(static_cast<uint32_t>(v.iov_len), sizeof id - done);
        std::memcpy(v.iov_base, id + done, n);
        done += n;
      }
      return complete(req, VIRTIO_BLK_S_OK, done + 1);
    }
    default:
      return complete(req, VIRTIO_BLK_S_UNSUPP, 1);
  }
}

void VirtioBlk::on_io_done(Request& req, int res) {
  if (req.epoch != epoch_ || !host_->active()) {
    free_.push_back(&req);  // the device was reset meanwhile: drop silently
    return;
  }
  bool ok = res >= 0 && static_cast<uint64_t>(res) == req.expect;
  if (!ok) {
    const char* what = req.type == VIRTIO_BLK_T_IN    ? "read"
                       : req.type == VIRTIO_BLK_T_OUT ? "write"
                                                      : "flush";
    // Host-side failures (disk full, I/O error): worth a line each.
    spdlog::warn("{}: {} of {} bytes failed: {}", name_, what, req.expect,
                 res < 0 ? Error::errno_text(-res) : fmt::format("short ({})", res));
  } else if (req.type == VIRTIO_BLK_T_IN) {
    bytes_read_ += req.expect;
  } else if (req.type == VIRTIO_BLK_T_OUT) {
    bytes_written_ += req.expect;
  } else {
    ++flushes_;
  }
  // A failed read leaves the data area undefined; report only the status.
  complete(req, ok ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, ok ? req.written : 1);
  if (waiting_for_slot_) {
    waiting_for_slot_ = false;
    process_queue(0);
  }
}

void VirtioBlk::complete(Request& req, uint8_t status, uint32_t written) {
  free_.push_back(&req);
  ++requests_done_;
  if (status != VIRTIO_BLK_S_OK) ++errors_;
  const GuestMemory& mem = host_->memory();
  auto r = mem.write_obj(req.status_gpa, status);
  if (r) r = host_->queue(0).push_used(mem, req.head, written);
  if (!r) {
    host_->mark_broken(r.error().context("virtio-blk completing a request"));
    return;
  }
  host_->signal_used(0);
}

Result<void> VirtioBlk::refresh_capacity() {
  auto sectors = image_sectors(fd_.get(), config_.path);
  if (!sectors) return std::move(sectors).error();
  if (host_ == nullptr) {
    capacity_ = *sectors;
    return Ok();
  }
  std::lock_guard lock(host_->mutex());
  if (capacity_.exchange(*sectors) != *sectors) host_->signal_config_change();
  return Ok();
}

BlkStats VirtioBlk::stats() const {
  return {bytes_read_.load(), bytes_written_.load(), requests_done_.load(), flushes_.load(),
          errors_.load()};
}

Result<std::vector<uint8_t>> VirtioBlk::save_state() const {
  if (size_t n = in_flight(); n != 0) {
    return Error::format("{} has {} requests in flight; pause the VM and let the IoLoop drain "
                         "them before saving a snapshot",
                         name_, n);
  }
  BlkState s{kStateMagic, kStateVersion, config_.read_only ? 1u : 0u, 0, capacity_.load()};
  auto* p = reinterpret_cast<const uint8_t*>(&s);
  return std::vector<uint8_t>(p, p + sizeof s);
}

Result<void> VirtioBlk::restore_state(std::span<const uint8_t> state) {
  BlkState s{};
  if (state.size() != sizeof s) {
    return Error::format("{} state is {} bytes, expected {}", name_, state.size(), sizeof s);
  }
  std::memcpy(&s, state.data(), sizeof s);
  if (s.magic != kStateMagic || s.version != kStateVersion) {
    return Error::format("{} state has magic {:#x} version {}; this build reads version {}",
                         name_, s.magic, s.version, kStateVersion);
  }
  if ((s.read_only != 0) != config_.read_only) {
    return Error::format("{} was saved {} but is attached {}; attach it the same way", name_,
                         s.read_only ? "read-only" : "read-write",
                         config_.read_only ? "read-only" : "read-write");
  }
  // The guest still believes the saved size; the image on disk is
  // authoritative, and refresh_capacity() (after restore) compares the two
  // and raises the config interrupt when they differ.
  capacity_ = s.capacity;
  return Ok();
}

}  // namespace thaw::sandbox::virtio
