/* virtio-mmio v2 register protocol (virtio 1.2 §4.2.2, §4.2.3) and the
 * driver side of a split virtqueue (§2.7). One page per queue from a small
 * static pool; no event-index or indirect descriptors are negotiated, so
 * the device interrupts after every used buffer (§2.7.7). */
#include "virtio_mmio.h"

#include "arch.h"
#include "kernel.h"
#include "syscall_abi.h"

enum {
  kMagic = 0x000,
  kVersion = 0x004,
  kDeviceId = 0x008,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};
enum {
  kAcknowledge = 1,
  kDriver = 2,
  kDriverOk = 4,
  kFeaturesOk = 8,
  kNeedsReset = 0x40,
  kFailed = 0x80
};
enum { kQueuePages = 8 };

static uint8_t queue_pages[kQueuePages][4096] __attribute__((aligned(4096)));
static unsigned queue_pages_used;
static uint64_t ring_features;

void virtio_set_ring_features(uint64_t features) { ring_features = features; }

/* Store-then-load ordering between the driver's ring index writes and its
 * reads of the device's event fields (§2.7.10): the LOCK ADD full barrier
 * Linux uses for smp_mb() on x86-64, which PVM's CPL0 emulator runs. */
static inline void full_barrier(void) { __asm__ volatile("lock; addl $0, -4(%%rsp)" ::: "memory", "cc"); }

static uint32_t rd(struct virtio_dev *d, uint32_t off) { return mmio_read32(d->base + off); }
static void wr(struct virtio_dev *d, uint32_t off, uint32_t v) { mmio_write32(d->base + off, v); }

/* The three 64-bit ring addresses of the selected queue (§4.2.2: QueueDesc,
 * QueueDriver, QueueDevice, each as a low/high register pair). */
static void write_ring_addresses(struct virtio_dev *dev, uint64_t desc, uint64_t avail,
                                 uint64_t used) {
  wr(dev, kQueueDescLow, (uint32_t)desc);
  wr(dev, kQueueDescHigh, (uint32_t)(desc >> 32));
  wr(dev, kQueueDriverLow, (uint32_t)avail);
  wr(dev, kQueueDriverHigh, (uint32_t)(avail >> 32));
  wr(dev, kQueueDeviceLow, (uint32_t)used);
  wr(dev, kQueueDeviceHigh, (uint32_t)(used >> 32));
}

void virtio_begin_init(struct virtio_dev *dev, uint64_t wanted) {
  wr(dev, kStatus, 0);
  if (rd(dev, kStatus) != 0) vm_fail("virtio slot %u: status not 0 after reset", dev->slot);
  wr(dev, kStatus, kAcknowledge);
  wr(dev, kStatus, kAcknowledge | kDriver);
  wr(dev, kDeviceFeaturesSel, 0);
  uint64_t offered = rd(dev, kDeviceFeatures);
  wr(dev, kDeviceFeaturesSel, 1);
  offered |= (uint64_t)rd(dev, kDeviceFeatures) << 32;
  if (!(offered & (1ull << kVirtioFeatureVersion1))) {
    wr(dev, kStatus, kFailed);
    vm_fail("virtio slot %u: device does not offer VIRTIO_F_VERSION_1 (features %lx)", dev->slot,
            offered);
  }
  dev->features = offered & (wanted | ring_features | (1ull << kVirtioFeatureVersion1));
  wr(dev, kDriverFeaturesSel, 0);
  wr(dev, kDriverFeatures, (uint32_t)dev->features);
  wr(dev, kDriverFeaturesSel, 1);
  wr(dev, kDriverFeatures, (uint32_t)(dev->features >> 32));
  wr(dev, kStatus, kAcknowledge | kDriver | kFeaturesOk);
  if (!(rd(dev, kStatus) & kFeaturesOk))
    vm_fail("virtio slot %u: device refused features %lx (FEATURES_OK cleared)", dev->slot,
            dev->features);
}

void virtio_finish_init(struct virtio_dev *dev) {
  wr(dev, kStatus, kAcknowledge | kDriver | kFeaturesOk | kDriverOk);
  uint32_t status = rd(dev, kStatus);
  if (status & (kNeedsReset | kFailed))
    vm_fail("virtio slot %u: device status %x after DRIVER_OK", dev->slot, status);
}

/* §4.2.2.2: re-read until ConfigGeneration is stable so a 64-bit field is
 * not torn by a concurrent config change. */
uint64_t virtio_config_read64(struct virtio_dev *dev, uint32_t offset) {
  for (int tries = 0; tries < 100; tries++) {
    uint32_t gen = rd(dev, kConfigGeneration);
    uint64_t v = rd(dev, kConfig + offset) | (uint64_t)rd(dev, kConfig + offset + 4) << 32;
    if (rd(dev, kConfigGeneration) == gen) return v;
  }
  vm_fail("virtio slot %u: config generation never settled", dev->slot);
}

uint32_t virtio_config_generation(struct virtio_dev *dev) { return rd(dev, kConfigGeneration); }

uint32_t virtio_ack_interrupt(struct virtio_dev *dev) {
  uint32_t isr = rd(dev, kInterruptStatus);
  if (isr) wr(dev, kInterruptAck, isr);
  if (isr & 2) {
    if (rd(dev, kStatus) & kNeedsReset)
      dev->needs_reset = true;
    else
      dev->config_changes++;
  }
  dev->interrupts++;
  return isr;
}

void virtq_setup(struct virtq *q, struct virtio_dev *dev, uint16_t index) {
  wr(dev, kQueueSel, index);
  if (rd(dev, kQueueReady))
    vm_fail("virtio slot %u: queue %u already live after reset", dev->slot, index);
  uint32_t max = rd(dev, kQueueNumMax);
  if (max == 0)
    vm_fail("virtio slot %u: queue %u does not exist (QueueNumMax 0)", dev->slot, index);
  if (queue_pages_used == kQueuePages) vm_fail("virtio: more than %d queues", kQueuePages);
  uint8_t *page = queue_pages[queue_pages_used++];
  q->dev = dev;
  q->index = index;
  q->size = max < kVirtqMaxSize ? (uint16_t)max : kVirtqMaxSize;
  /* Layout in the page (§2.7: desc 16-aligned, avail 2, used 4). */
  q->desc = (volatile struct virtq_desc *)page;
  q->avail = (volatile uint16_t *)(page + 16 * kVirtqMaxSize);
  q->used = page + 2048;
  for (uint16_t i = 0; i < q->size; i++) q->desc[i].next = (uint16_t)(i + 1);
  q->free_head = 0;
  q->num_free = q->size;
  q->last_used = q->avail_idx = q->kicked_idx = 0;
  q->indirect = dev->features & (1ull << kVirtioFeatureIndirectDesc);
  q->event_idx = dev->features & (1ull << kVirtioFeatureEventIdx);
  /* Indirect tables fill [1024, 2048) of the page: 16 heads x 4 x 16 bytes. */
  q->indirect_tables = (volatile struct virtq_desc(*)[kVirtqIndirectMax])(page + 1024);
  wr(dev, kQueueNum, q->size);
  uint64_t desc = (uint64_t)q->desc, avail = (uint64_t)q->avail, used = (uint64_t)q->used;
  write_ring_addresses(dev, desc, avail, used);
  wr(dev, kQueueReady, 1);
  if (rd(dev, kQueueReady) != 1)
    vm_fail("virtio slot %u: queue %u refused QueueReady", dev->slot, index);
}

/* used_event sits after the avail ring, avail_event after the used ring
 * (§2.7.6, §2.7.8). */
static volatile uint16_t *used_event(struct virtq *q) { return &q->avail[2 + q->size]; }
static volatile uint16_t *avail_event(struct virtq *q) {
  return (volatile uint16_t *)(q->used + 4 + 8 * q->size);
}

int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned n) {
  if (n == 0) return -1;
  if (q->indirect && n > 1 && n <= kVirtqIndirectMax && q->num_free >= 1) {
    /* One ring descriptor pointing at a table of n (§2.7.5.3). */
    uint16_t head = q->free_head;
    volatile struct virtq_desc *table = q->indirect_tables[head];
    for (unsigned k = 0; k < n; k++) {
      table[k].addr = (uint64_t)bufs[k].addr;
      table[k].len = bufs[k].len;
      table[k].flags = (uint16_t)((bufs[k].device_writes ? kVirtqDescWrite : 0) |
                                  (k + 1 < n ? kVirtqDescNext : 0));
      table[k].next = (uint16_t)(k + 1);
    }
    q->desc[head].addr = (uint64_t)table;
    q->desc[head].len = (uint32_t)(n * sizeof(struct virtq_desc));
    q->desc[head].flags = kVirtqDescIndirect;
    q->free_head = q->desc[head].next;
    q->num_free--;
    q->avail[2 + q->avail_idx % q->size] = head;
    barrier();
    q->avail_idx++;
    q->avail[1] = q->avail_idx;
    return head;
  }
  if (n > q->num_free) return -1;
  uint16_t head = q->free_head, i = head, last = head;
  for (unsigned k = 0; k < n; k++) {
    q->desc[i].addr = (uint64_t)bufs[k].addr;
    q->desc[i].len = bufs[k].len;
    q->desc[i].flags = (uint16_t)((bufs[k].device_writes ? kVirtqDescWrite : 0) |
                                  (k + 1 < n ? kVirtqDescNext : 0));
    last = i;
    i = q->desc[i].next;
  }
  q->free_head = q->desc[last].next;
  q->num_free = (uint16_t)(q->num_free - n);
  /* avail: [0] flags, [1] idx, [2 + k] ring. The entry must be visible
   * before idx moves (§2.7.13); x86 keeps stores in order, the compiler
   * barrier keeps gcc from reordering them. */
  q->avail[2 + q->avail_idx % q->size] = head;
  barrier();
  q->avail_idx++;
  q->avail[1] = q->avail_idx;
  return head;
}

void virtq_kick(struct virtq *q) {
  if (q->event_idx) {
    /* Notify only if avail_event lies in (kicked_idx, avail_idx]
     * (vring_need_event, §2.7.10). */
    full_barrier();
    uint16_t event = *avail_event(q), new_idx = q->avail_idx, old = q->kicked_idx;
    q->kicked_idx = new_idx;
    if ((uint16_t)(new_idx - event - 1) >= (uint16_t)(new_idx - old)) return;
  }
  barrier();
  wr(q->dev, kQueueNotify, q->index);
}

bool virtq_get_used(struct virtq *q, uint32_t *id, uint32_t *len) {
  uint16_t used_idx = *(volatile uint16_t *)(q->used + 2);
  if (used_idx == q->last_used) return false;
  barrier();
  volatile struct virtq_used_elem *e =
      (volatile struct virtq_used_elem *)(q->used + 4) + q->last_used % q->size;
  uint32_t head = e->id;
  *len = e->len;
  if (head >= q->size)
    vm_fail("virtio slot %u queue %u: used id %u >= queue size %u", q->dev->slot, q->index, head,
            q->size);
  q->last_used++;
  /* Return the chain to the free list. */
  uint16_t i = (uint16_t)head, n = 1;
  while (q->desc[i].flags & kVirtqDescNext) {
    i = q->desc[i].next;
    if (++n > q->size) vm_fail("virtio queue %u: descriptor loop while freeing", q->index);
  }
  q->desc[i].next = q->free_head;
  q->free_head = (uint16_t)head;
  q->num_free = (uint16_t)(q->num_free + n);
  *id = head;
  if (q->event_idx) {
    /* Ask for an interrupt when the next used entry appears, and order
     * that store before the caller re-reads the used index. */
    *used_event(q) = q->last_used;
    full_barrier();
  }
  return true;
}

int64_t virtio_mmio_hostile(struct virtio_dev *dev, uint32_t kind) {
  if (kind < kHostileNoVersion1 || kind > kHostileQueueNumNotPow2) return -E_INVAL;
  wr(dev, kStatus, 0);
  wr(dev, kStatus, kAcknowledge | kDriver);
  /* §3.1.1 / §6.1: a modern device must refuse FEATURES_OK without
   * VIRTIO_F_VERSION_1. */
  uint32_t high = kind == kHostileNoVersion1 ? 0 : 1u << (kVirtioFeatureVersion1 - 32);
  wr(dev, kDriverFeaturesSel, 0);
  wr(dev, kDriverFeatures, 0);
  wr(dev, kDriverFeaturesSel, 1);
  wr(dev, kDriverFeatures, high);
  wr(dev, kStatus, kAcknowledge | kDriver | kFeaturesOk);
  if (!(rd(dev, kStatus) & kFeaturesOk)) return 1;
  if (kind == kHostileNoVersion1) return 0;
  /* §4.2.2: QueueNum must not exceed QueueNumMax, and a split ring's size
   * is a power of two (§2.7); ring addresses must be guest RAM. */
  static uint8_t page[4096] __attribute__((aligned(4096)));
  uint64_t desc = kind == kHostileQueueOutsideRam ? 0x30000000ull : (uint64_t)page;
  uint64_t avail = (uint64_t)page + 1024, used = (uint64_t)page + 2048;
  wr(dev, kQueueSel, 0);
  wr(dev, kQueueNum, kind == kHostileQueueNumNotPow2 ? 3 : 16);
  write_ring_addresses(dev, desc, avail, used);
  wr(dev, kQueueReady, 1);
  return rd(dev, kQueueReady) == 0 ? 1 : 0;
}
