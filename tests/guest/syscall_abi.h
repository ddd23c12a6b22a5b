/* The int $0x80 boundary between the CPL3 scenarios (user.c) and the CPL0
 * drivers (kernel.c, virtio_*.c): numbers in RAX, arguments in RDI, RSI,
 * RDX, R10, result in RAX (negative = -errno-style guest error code). */
#pragma once

#include <stdint.h>

/* Arguments, then "->" the result. The guest kernel passes scenario
 * pointers to devices unchecked on purpose: the hostile scenarios hand the
 * VMM addresses outside RAM, and the VMM, not this guest, must refuse them. */
enum syscall_number {
  SYS_write = 1,          /* (const char *buf, size_t len) -> len; console */
  SYS_exit = 2,           /* (int ok) -> never returns */
  SYS_cmdline = 3,        /* (char *buf, size_t size) -> length */
  SYS_irq_stats = 4,      /* (struct irq_stats *out) */
  SYS_write_irq = 5,      /* (buf, len) -> THR-empty interrupts taken */
  SYS_e820 = 6,           /* (struct e820_entry *out, size_t max) -> entries */
  SYS_hold = 7,           /* () -> never returns; idles until the host stops the VM */
  SYS_smp_start = 8,      /* (uint32_t apic_id) -> 1 when that CPU came online */
  SYS_blk_info = 10,      /* (unsigned disk, struct blk_info *out) */
  SYS_blk_io = 11,        /* (unsigned disk, struct blk_request *req) -> status */
  SYS_blk_hostile = 12,   /* (unsigned disk, enum blk_hostile kind), virtio_blk.h */
  SYS_blk_batch = 13,     /* (disk, struct blk_request *reqs, unsigned n) -> 0 */
  SYS_mmio_hostile = 14,  /* (unsigned disk, enum mmio_hostile kind) -> 1 refused */
  SYS_vsock_cid = 20,     /* () -> guest CID */
  SYS_vsock_listen = 21,  /* (uint32_t port) */
  SYS_vsock_accept = 22,  /* (uint32_t port, uint64_t timeout_ticks) -> conn */
  SYS_vsock_connect = 23, /* (uint64_t cid, uint32_t port) -> conn */
  SYS_vsock_send = 24,    /* (int conn, const void *buf, size_t len) -> len */
  SYS_vsock_recv = 25,    /* (conn, buf, size, timeout_ticks) -> len, 0 = EOF */
  SYS_vsock_close = 26,   /* (int conn) */
  SYS_vsock_hostile = 27, /* (enum vsock_hostile kind, uint32_t port) -> connect */
  SYS_bad_insn = 30,      /* () runs an instruction PVM cannot emulate at CPL0 */
  SYS_triple_fault = 31,  /* () */
};

/* Error codes (negated in RAX). */
enum {
  E_INVAL = 22,     /* bad argument */
  E_NODEV = 19,     /* no such device */
  E_TIMEDOUT = 110, /* the device or peer did not answer in time */
  E_CONNREFUSED = 111,
  E_RESET = 104, /* peer reset the connection */
  E_IO = 5,      /* device reported an error */
};

/* One boot_params e820 entry as the VMM wrote it (type 1 = RAM). */
struct e820_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
} __attribute__((packed));

struct irq_stats {
  uint64_t timer_ticks;
  uint64_t device_irqs; /* virtio interrupts, all devices */
  uint64_t last_gsi;    /* GSI of the last device interrupt */
  uint64_t last_vector;
  uint64_t ipis; /* IPIs from application processors (vector 0x41) */
};

struct blk_info {
  uint64_t capacity_sectors;
  uint32_t read_only;  /* VIRTIO_BLK_F_RO negotiated */
  uint32_t has_flush;  /* VIRTIO_BLK_F_FLUSH negotiated */
  uint64_t interrupts; /* used-buffer interrupts taken by this disk */
  uint32_t slot;       /* virtio-mmio slot: 0xd0000000 + slot * 0x1000 */
  uint32_t gsi;
  uint64_t config_changes;    /* config-change interrupts taken (capacity re-read) */
  uint32_t config_generation; /* ConfigGeneration register now */
};

/* Malformed requests a hostile guest might post (DESIGN.md "The guest is
 * hostile"); thaw-vmm must refuse each without hanging or crashing. */
enum blk_hostile {
  kHostileDescLoop = 1,   /* descriptor chain whose NEXT links form a cycle */
  kHostileAvailJump = 2,  /* avail idx moved by more than the queue size */
  kHostileHugeLength = 3, /* a 4 GiB - 1 data length */
  kHostileBadHead = 4,    /* avail ring names descriptor >= queue size */
};

/* Transport-register misuse (virtio 1.2 §4.2.2, §3.1.1); the device must
 * refuse it rather than act on it. */
enum mmio_hostile {
  kHostileNoVersion1 = 1,      /* FEATURES_OK without VIRTIO_F_VERSION_1 */
  kHostileQueueOutsideRam = 2, /* QueueReady with a descriptor table past RAM */
  kHostileQueueNumNotPow2 = 3, /* QueueNum 3 */
};

/* Malformed connection requests to the host (virtio 1.2 §5.10.6): the
 * device must drop each, answer RST, and never open a host socket. */
enum vsock_hostile {
  kHostileSpoofedCid = 1,     /* src_cid is not the guest's CID */
  kHostileControlPayload = 2, /* REQUEST claiming 100 payload bytes */
  kHostileSeqpacket = 3,      /* type SEQPACKET, which the device does not offer */
};

struct blk_request {
  uint32_t type;   /* VIRTIO_BLK_T_IN/OUT/FLUSH/GET_ID */
  uint32_t length; /* bytes, multiple of 512 for IN/OUT */
  uint64_t sector;
  void *data;
  uint32_t status; /* SYS_blk_batch: the device's status byte */
};

static inline int64_t syscall4(uint64_t n, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  int64_t ret;
  register uint64_t r10 __asm__("r10") = d;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "memory", "rcx", "r11");
  return ret;
}
