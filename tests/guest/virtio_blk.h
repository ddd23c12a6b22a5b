/* CPL0 virtio-blk driver of the test guest (virtio 1.2 §5.2): one request
 * in flight, completion by used-buffer interrupt. Serves SYS_blk_*. */
#pragma once

#include "syscall_abi.h"
#include "virtio_mmio.h"

enum {
  kBlkTypeIn = 0,
  kBlkTypeOut = 1,
  kBlkTypeFlush = 4,
  kBlkTypeGetId = 8,
  kBlkStatusOk = 0,
  kBlkStatusIoErr = 1,
  kBlkStatusUnsupp = 2,
  kMaxDisks = 4,
  kMaxBatch = 5, /* 3 descriptors each in a 16-entry ring */
};

/* Takes over the device in `slot` (already identified as a block device). */
void blk_probe(uint64_t base, unsigned slot, unsigned gsi);
int64_t blk_info(unsigned disk, struct blk_info *out);
/* Returns the device's status byte (0 ok) or a negative error. */
int64_t blk_io(unsigned disk, const struct blk_request *req);
/* Submits up to kMaxBatch requests with one notify and waits for all of
 * them, in whatever order the device completes them; each status lands in
 * reqs[i].status. Returns 0 or a negative error. */
int64_t blk_batch(unsigned disk, struct blk_request *reqs, unsigned n);
/* Puts a deliberately malformed request on disk's queue (enum blk_hostile
 * in syscall_abi.h) and waits for the device's verdict: 0 = it completed
 * with IOERR, -E_IO = DEVICE_NEEDS_RESET, anything else is returned as is. */
int64_t blk_hostile(unsigned disk, uint32_t kind);
/* virtio_mmio_hostile() on the disk's transport. */
int64_t blk_transport_hostile(unsigned disk, uint32_t kind);
