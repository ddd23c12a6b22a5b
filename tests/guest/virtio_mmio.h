/* CPL0 virtio-mmio v2 transport and split virtqueue of the test guest
 * (virtio 1.2 §4.2 and §2.7), shared by the blk and vsock drivers. The
 * guest drives the device the way Linux does, so the host side is tested
 * against a conforming driver. */
#pragma once

#include "lib.h"

enum {
  kVirtioMagic = 0x74726976, /* "virt" */
  kVirtioDeviceBlock = 2,
  kVirtioDeviceVsock = 19,
  kVirtioFeatureIndirectDesc = 28, /* §2.7.5.3 */
  kVirtioFeatureEventIdx = 29,     /* §2.7.7.2, §2.7.10 */
  kVirtioFeatureVersion1 = 32,
  kVirtqMaxSize = 16, /* what this driver asks for; plenty for one request at a time */
  kVirtqDescNext = 1,
  kVirtqDescWrite = 2,
  kVirtqDescIndirect = 4,
  kVirtqIndirectMax = 4, /* descriptors per indirect table */
};

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
};

struct virtio_dev {
  uint64_t base; /* MMIO window */
  unsigned slot, gsi;
  uint32_t device_id;
  uint64_t features;   /* negotiated */
  uint64_t interrupts; /* used-buffer/config interrupts taken */
  uint64_t config_changes; /* config-change interrupts (ISR bit 1) without NEEDS_RESET */
  bool needs_reset;    /* device set DEVICE_NEEDS_RESET */
};

struct virtq {
  struct virtio_dev *dev;
  uint16_t index, size;
  volatile struct virtq_desc *desc;
  volatile uint16_t *avail; /* flags, idx, ring[size] */
  volatile uint8_t *used;   /* flags, idx, ring[size] of virtq_used_elem */
  uint16_t free_head, num_free, last_used, avail_idx;
  bool indirect;           /* VIRTIO_F_INDIRECT_DESC negotiated */
  bool event_idx;          /* VIRTIO_F_EVENT_IDX negotiated */
  uint16_t kicked_idx;     /* avail idx at the last notify decision */
  volatile struct virtq_desc (*indirect_tables)[kVirtqIndirectMax]; /* one per head */
};

/* Ring features (indirect descriptors, event index) every driver asks for,
 * from thaw.ring= on the command line; none by default. */
void virtio_set_ring_features(uint64_t features);

struct virtq_buf {
  const void *addr;
  uint32_t len;
  bool device_writes;
};

/* Reset, ACKNOWLEDGE, DRIVER, negotiate `wanted` plus the ring features
 * (VERSION_1 is required and always added), FEATURES_OK. Fails the VM with the reason on refusal. */
void virtio_begin_init(struct virtio_dev *dev, uint64_t wanted);
/* DRIVER_OK after the queues are set up. */
void virtio_finish_init(struct virtio_dev *dev);
uint64_t virtio_config_read64(struct virtio_dev *dev, uint32_t offset);
uint32_t virtio_config_generation(struct virtio_dev *dev);
/* Reads and acknowledges InterruptStatus; call from the device's IRQ handler.
 * ISR bit 1 (virtio 1.2 §4.2.2.1) is a configuration change, or with
 * DEVICE_NEEDS_RESET in Status a broken device (§2.1.2). */
uint32_t virtio_ack_interrupt(struct virtio_dev *dev);

void virtq_setup(struct virtq *q, struct virtio_dev *dev, uint16_t index);

/* Register-level misuse of a device's transport (enum mmio_hostile in
 * syscall_abi.h), starting from a reset. Returns 1 when the device refused
 * it (FEATURES_OK or QueueReady did not stick), 0 when it accepted it. The
 * device is left reset-needing; the scenario ends afterwards. */
int64_t virtio_mmio_hostile(struct virtio_dev *dev, uint32_t kind);
/* Adds one chain (device-readable buffers first), publishes it in the
 * avail ring; returns the head descriptor or -1 when the ring is full. */
int virtq_add(struct virtq *q, const struct virtq_buf *bufs, unsigned n);
void virtq_kick(struct virtq *q);
/* Takes one used element; false when the device returned none. */
bool virtq_get_used(struct virtq *q, uint32_t *id, uint32_t *len);
