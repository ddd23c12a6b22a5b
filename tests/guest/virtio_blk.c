/* virtio-blk driver: a request is a 16-byte header the device reads, the
 * data, and one status byte the device writes (virtio 1.2 §5.2.6). The
 * driver waits for the used buffer with sti;hlt, so every completion is
 * also a test of the virtio interrupt path (irqfd -> IOAPIC -> LAPIC). */
#include "virtio_blk.h"

#include "arch.h"
#include "kernel.h"

enum { kFeatureRo = 5, kFeatureFlush = 9, kSectorSize = 512, kTimeoutTicks = 500 };

struct blk_header {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};

struct disk {
  struct virtio_dev dev;
  struct virtq q;
  uint64_t capacity;
  struct blk_header header;
  volatile uint8_t status;
  struct blk_header batch_headers[kMaxBatch];
  volatile uint8_t batch_status[kMaxBatch];
};

static struct disk disks[kMaxDisks];
static unsigned disk_count;

/* A config-change interrupt (a disk rebound at restore with another size)
 * makes the driver re-read the capacity, as Linux's virtblk_config_changed
 * does (virtio 1.2 §5.2.4: the capacity may change). */
static void blk_irq(void *ctx) {
  struct disk *d = ctx;
  uint32_t isr = virtio_ack_interrupt(&d->dev);
  if (isr & 2 && !d->dev.needs_reset) d->capacity = virtio_config_read64(&d->dev, 0);
}

void blk_probe(uint64_t base, unsigned slot, unsigned gsi) {
  if (disk_count == kMaxDisks) vm_fail("virtio-blk: more than %d disks", kMaxDisks);
  struct disk *d = &disks[disk_count];
  d->dev =
      (struct virtio_dev){.base = base, .slot = slot, .gsi = gsi, .device_id = kVirtioDeviceBlock};
  virtio_begin_init(&d->dev, (1ull << kFeatureRo) | (1ull << kFeatureFlush));
  virtq_setup(&d->q, &d->dev, 0);
  d->capacity = virtio_config_read64(&d->dev, 0); /* §5.2.4: capacity in 512-byte sectors */
  irq_register(gsi, blk_irq, d);
  virtio_finish_init(&d->dev);
  kprintf("virtio-blk: disk %u at slot %u gsi %u: %lu sectors%s%s%s%s\n", disk_count, slot, gsi,
          d->capacity, d->dev.features & (1ull << kFeatureRo) ? ", read-only" : "",
          d->dev.features & (1ull << kFeatureFlush) ? ", flush" : "",
          d->q.indirect ? ", indirect" : "", d->q.event_idx ? ", event-idx" : "");
  disk_count++;
}

int64_t blk_info(unsigned disk, struct blk_info *out) {
  if (disk >= disk_count) return -E_NODEV;
  struct disk *d = &disks[disk];
  out->capacity_sectors = d->capacity;
  out->read_only = !!(d->dev.features & (1ull << kFeatureRo));
  out->has_flush = !!(d->dev.features & (1ull << kFeatureFlush));
  out->interrupts = d->dev.interrupts;
  out->slot = d->dev.slot;
  out->gsi = d->dev.gsi;
  out->config_changes = d->dev.config_changes;
  out->config_generation = virtio_config_generation(&d->dev);
  return 0;
}

int64_t blk_io(unsigned disk, const struct blk_request *req) {
  if (disk >= disk_count) return -E_NODEV;
  struct disk *d = &disks[disk];
  bool has_data = req->type == kBlkTypeIn || req->type == kBlkTypeOut || req->type == kBlkTypeGetId;
  if (has_data && (req->length == 0 || req->length > 65536)) return -E_INVAL;
  d->header = (struct blk_header){.type = req->type, .sector = req->sector};
  d->status = 0xff;
  struct virtq_buf bufs[3];
  unsigned n = 0;
  bufs[n++] = (struct virtq_buf){&d->header, sizeof d->header, false};
  if (has_data) bufs[n++] = (struct virtq_buf){req->data, req->length, req->type != kBlkTypeOut};
  bufs[n++] = (struct virtq_buf){(const void *)&d->status, 1, true};
  int head = virtq_add(&d->q, bufs, n);
  if (head < 0) return -E_IO;
  /* Completion = the used element AND an interrupt raised after the kick.
   * Waiting for both keeps one interrupt per request (none can merge with
   * the next request's in the APIC), and a device that forgets to
   * interrupt (we never suppress them, §2.7.10) is caught here. */
  uint64_t irqs_before = d->dev.interrupts;
  virtq_kick(&d->q);
  uint64_t deadline = timer_ticks() + kTimeoutTicks;
  uint32_t id = 0, len;
  bool used = false;
  while (!used || d->dev.interrupts == irqs_before) {
    if (!used) used = virtq_get_used(&d->q, &id, &len);
    if (used && d->dev.interrupts != irqs_before) break;
    if (d->dev.needs_reset) {
      kprintf("virtio-blk: disk %u: device set DEVICE_NEEDS_RESET\n", disk);
      return -E_IO;
    }
    if (timer_ticks() >= deadline) {
      if (used)
        vm_fail("virtio-blk: disk %u: request completed but no interrupt on gsi %u within %d ticks",
                disk, d->dev.gsi, kTimeoutTicks);
      kprintf("virtio-blk: disk %u: no used buffer %d ticks after the notify\n", disk,
              kTimeoutTicks);
      return -E_TIMEDOUT;
    }
    wait_for_interrupt();
  }
  if (id != (uint32_t)head) vm_fail("virtio-blk: used id %u, only %d was in flight", id, head);
  return d->status;
}

int64_t blk_batch(unsigned disk, struct blk_request *reqs, unsigned n) {
  if (disk >= disk_count) return -E_NODEV;
  if (n == 0 || n > kMaxBatch) return -E_INVAL;
  struct disk *d = &disks[disk];
  int heads[kMaxBatch];
  for (unsigned i = 0; i < n; i++) {
    if (reqs[i].type != kBlkTypeIn && reqs[i].type != kBlkTypeOut) return -E_INVAL;
    if (reqs[i].length == 0 || reqs[i].length > 65536) return -E_INVAL;
    d->batch_headers[i] = (struct blk_header){.type = reqs[i].type, .sector = reqs[i].sector};
    d->batch_status[i] = 0xff;
    struct virtq_buf bufs[3] = {{&d->batch_headers[i], sizeof d->batch_headers[i], false},
                                {reqs[i].data, reqs[i].length, reqs[i].type == kBlkTypeIn},
                                {(const void *)&d->batch_status[i], 1, true}};
    heads[i] = virtq_add(&d->q, bufs, 3);
    if (heads[i] < 0) vm_fail("virtio-blk: ring full at batch entry %u of %u", i, n);
  }
  uint64_t irqs_before = d->dev.interrupts;
  virtq_kick(&d->q);
  unsigned done = 0;
  bool finished[kMaxBatch] = {false};
  uint64_t deadline = timer_ticks() + kTimeoutTicks;
  while (done < n || d->dev.interrupts == irqs_before) {
    uint32_t id, len;
    bool progress = false;
    while (virtq_get_used(&d->q, &id, &len)) {
      unsigned i = 0;
      while (i < n && (heads[i] != (int)id || finished[i])) i++;
      if (i == n) vm_fail("virtio-blk: used id %u is not one of the %u requests in flight", id, n);
      finished[i] = true;
      reqs[i].status = d->batch_status[i];
      done++;
      progress = true;
    }
    if (done == n && d->dev.interrupts != irqs_before) break;
    if (d->dev.needs_reset) return -E_IO;
    if (timer_ticks() >= deadline)
      vm_fail("virtio-blk: disk %u: %u of %u batched requests done, %lu interrupts, after %d ticks",
              disk, done, n, d->dev.interrupts - irqs_before, kTimeoutTicks);
    if (!progress) wait_for_interrupt();
  }
  return 0;
}

int64_t blk_hostile(unsigned disk, uint32_t kind) {
  if (disk >= disk_count) return -E_NODEV;
  struct disk *d = &disks[disk];
  struct virtq *q = &d->q;
  if (q->num_free < 3 || q->size < 4) return -E_INVAL;
  /* Build a normal 3-descriptor read in descriptors 0-2 by hand, then
   * break it the way `kind` says. The queue is not usable afterwards. */
  static uint8_t data[512];
  d->header = (struct blk_header){.type = kBlkTypeIn, .sector = 0};
  d->status = 0xff;
  q->desc[0] = (struct virtq_desc){(uint64_t)&d->header, sizeof d->header, kVirtqDescNext, 1};
  q->desc[1] =
      (struct virtq_desc){(uint64_t)data, sizeof data, kVirtqDescNext | kVirtqDescWrite, 2};
  q->desc[2] = (struct virtq_desc){(uint64_t)&d->status, 1, kVirtqDescWrite, 0};
  uint16_t head = 0, advance = 1;
  switch (kind) {
    /* status -> data -> status ...: all device-writable, so only a length or
     * loop bound can stop the walk. */
    case kHostileDescLoop:
      q->desc[2].flags |= kVirtqDescNext, q->desc[2].next = 1;
      break;
    case kHostileAvailJump:
      advance = (uint16_t)(q->size + 5);
      break;
    case kHostileHugeLength:
      q->desc[1].len = 0xffffffffu;
      break;
    case kHostileBadHead:
      head = (uint16_t)(q->size + 3);
      break;
    default:
      return -E_INVAL;
  }
  q->avail[2 + q->avail_idx % q->size] = head;
  barrier();
  q->avail_idx = (uint16_t)(q->avail_idx + advance);
  q->avail[1] = q->avail_idx;
  virtq_kick(q);
  uint64_t deadline = timer_ticks() + kTimeoutTicks;
  while (!d->dev.needs_reset) {
    if (*(volatile uint16_t *)(q->used + 2) != q->last_used)
      return d->status == kBlkStatusIoErr ? 0 : d->status;
    if (timer_ticks() >= deadline) return -E_TIMEDOUT;
    wait_for_interrupt();
  }
  return -E_IO;
}

int64_t blk_transport_hostile(unsigned disk, uint32_t kind) {
  if (disk >= disk_count) return -E_NODEV;
  return virtio_mmio_hostile(&disks[disk].dev, kind);
}
