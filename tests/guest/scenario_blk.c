/* virtio-blk scenarios. The host test pre-writes host_pattern() into sector
 * thaw.sector (default 1) and into the last sector, and afterwards checks
 * guest_pattern() in the sectors the guest wrote; both patterns are
 * restated in thaw_vmm_guest_test.cc. */
#include "scenarios.h"
#include "user.h"

enum { kSector = 512, kWriteFirst = 8, kWriteCount = 8, kStatusOk = 0, kStatusIoErr = 1 };
enum { kTypeIn = 0, kTypeOut = 1, kTypeFlush = 4, kTypeGetId = 8 };

static uint8_t buffer[kSector * kWriteCount] __attribute__((aligned(512)));

static uint8_t host_pattern(uint64_t sector, uint32_t i) {
  return (uint8_t)(sector * 31 + i * 7 + 1);
}
static uint8_t guest_pattern(uint64_t sector, uint32_t i) {
  return (uint8_t)(0xa5 ^ (i * 13) ^ sector);
}

static int64_t io(unsigned disk, uint32_t type, uint64_t sector, void *data, uint32_t len) {
  struct blk_request r = {.type = type, .length = len, .sector = sector, .data = data};
  return syscall4(SYS_blk_io, disk, (uint64_t)&r, 0, 0);
}

static struct blk_info info(unsigned disk);

/* Every disk thaw-vmm attached, in command-line order: each must sit in
 * its own slot with its own GSI and complete a read by its own interrupt. */
void scenario_multi_disk(void) {
  struct blk_info i;
  unsigned n = 0;
  while (syscall4(SYS_blk_info, n, (uint64_t)&i, 0, 0) == 0) {
    int64_t st = io(n, kTypeIn, 1, buffer, kSector);
    struct blk_info after = info(n);
    if (st != kStatusOk) ufail("multi-disk: disk %u read returned status %ld", n, st);
    uint32_t first = 0;
    memcpy(&first, buffer, sizeof first);
    if (after.interrupts == i.interrupts) ufail("multi-disk: disk %u read took no interrupt", n);
    uprintf("multi-disk: disk %u slot %u gsi %u%s: sector 1 starts %08x, own interrupt taken\n", n,
            i.slot, i.gsi, i.read_only ? " ro" : "", first);
    n++;
  }
  if (n == 0) ufail("multi-disk: no disks; pass --disk to thaw-vmm");
  uprintf("multi-disk: %u disk(s)\n", n);
}

static struct blk_info info(unsigned disk) {
  struct blk_info i;
  int64_t r = syscall4(SYS_blk_info, disk, (uint64_t)&i, 0, 0);
  if (r < 0) ufail("blk: no virtio-blk disk %u (error %ld); pass --disk to thaw-vmm", disk, r);
  return i;
}

static void expect_host_sector(const char *who, unsigned disk, uint64_t sector) {
  int64_t st = io(disk, kTypeIn, sector, buffer, kSector);
  if (st != kStatusOk) ufail("%s: read sector %lu returned status %ld", who, sector, st);
  for (uint32_t i = 0; i < kSector; i++)
    if (buffer[i] != host_pattern(sector, i))
      ufail("%s: sector %lu byte %u is %02x, host wrote %02x", who, sector, i, buffer[i],
            host_pattern(sector, i));
  uprintf("%s: read sector %lu ok\n", who, sector);
}

void scenario_blk(void) {
  struct blk_info before = info(0);
  uint64_t sector = user_arg_u64("thaw.sector", 1);
  uprintf("blk: disk 0 has %lu sectors\n", before.capacity_sectors);
  if (before.capacity_sectors < kWriteFirst + kWriteCount || sector >= before.capacity_sectors)
    ufail("blk: disk of %lu sectors is too small; the test needs at least %d",
          before.capacity_sectors, kWriteFirst + kWriteCount);
  if (before.read_only) ufail("blk: disk 0 is read-only; this scenario writes");
  expect_host_sector("blk", 0, sector);
  expect_host_sector("blk", 0, before.capacity_sectors - 1);

  for (uint32_t s = 0; s < kWriteCount; s++)
    for (uint32_t i = 0; i < kSector; i++)
      buffer[s * kSector + i] = guest_pattern(kWriteFirst + s, i);
  int64_t st = io(0, kTypeOut, kWriteFirst, buffer, sizeof buffer);
  if (st != kStatusOk)
    ufail("blk: write of sectors %d-%d returned status %ld", kWriteFirst,
          kWriteFirst + kWriteCount - 1, st);
  uprintf("blk: wrote sectors %d-%d\n", kWriteFirst, kWriteFirst + kWriteCount - 1);

  memset(buffer, 0, sizeof buffer);
  st = io(0, kTypeIn, kWriteFirst, buffer, sizeof buffer);
  if (st != kStatusOk) ufail("blk: read back returned status %ld", st);
  for (uint32_t s = 0; s < kWriteCount; s++)
    for (uint32_t i = 0; i < kSector; i++)
      if (buffer[s * kSector + i] != guest_pattern(kWriteFirst + s, i))
        ufail("blk: read back sector %u byte %u is %02x, wrote %02x", kWriteFirst + s, i,
              buffer[s * kSector + i], guest_pattern(kWriteFirst + s, i));
  uprintf("blk: read back sectors %d-%d ok\n", kWriteFirst, kWriteFirst + kWriteCount - 1);

  if (before.has_flush) {
    st = io(0, kTypeFlush, 0, 0, 0);
    if (st != kStatusOk) ufail("blk: flush returned status %ld", st);
    uprintf("blk: flush ok\n");
  } else {
    ufail("blk: device did not offer VIRTIO_BLK_F_FLUSH");
  }

  /* A read that ends past the capacity must be refused (virtio 1.2 §5.2.6.1). */
  st = io(0, kTypeIn, before.capacity_sectors, buffer, kSector);
  if (st != kStatusIoErr)
    ufail("blk: read at sector %lu (the capacity) returned status %ld, want 1 (IOERR)",
          before.capacity_sectors, st);
  uprintf("blk: read past the end refused with status 1 ok\n");

  memset(buffer, 0, 21);
  st = io(0, kTypeGetId, 0, buffer, 20);
  if (st != kStatusOk) ufail("blk: GET_ID returned status %ld", st);
  uprintf("blk: device id \"%.*s\"\n", 20, (const char *)buffer);

  struct blk_info after = info(0);
  uint64_t requests = 7;
  if (after.interrupts - before.interrupts < requests)
    ufail("blk: %lu used-buffer interrupts for %lu requests", after.interrupts - before.interrupts,
          requests);
  /* blk_io() already waited for an interrupt per request, so at least
   * one each is certain; the exact count may include a coalesced extra. */
  uprintf("blk: an interrupt for each of %lu requests ok (%lu taken)\n", requests,
          after.interrupts - before.interrupts);
}

void scenario_blk_ro(void) {
  struct blk_info i = info(0);
  if (!i.read_only)
    ufail("blk-ro: disk 0 does not offer VIRTIO_BLK_F_RO; start thaw-vmm with --disk PATH,ro");
  uprintf("blk-ro: device offers VIRTIO_BLK_F_RO\n");
  expect_host_sector("blk-ro", 0, 1);
  for (uint32_t k = 0; k < kSector; k++) buffer[k] = guest_pattern(1, k);
  int64_t st = io(0, kTypeOut, 1, buffer, kSector);
  if (st != kStatusIoErr)
    ufail("blk-ro: write to a read-only disk returned status %ld, want 1 (IOERR)", st);
  uprintf("blk-ro: write refused with status 1 ok\n");
  expect_host_sector("blk-ro", 0, 1);
}

/* One read completed by the used-buffer interrupt: irqfd -> IOAPIC pin
 * 5+slot -> LAPIC vector 0x20+GSI, counted by the guest kernel. */
void scenario_blk_irq(void) {
  struct irq_stats s0, s1;
  struct blk_info b0 = info(0);
  syscall4(SYS_irq_stats, (uint64_t)&s0, 0, 0, 0);
  int64_t st = io(0, kTypeIn, 0, buffer, kSector);
  if (st != kStatusOk) ufail("irq: read returned status %ld", st);
  syscall4(SYS_irq_stats, (uint64_t)&s1, 0, 0, 0);
  struct blk_info b1 = info(0);
  if (b1.interrupts == b0.interrupts || s1.device_irqs == s0.device_irqs)
    ufail("irq: the read completed without a virtio interrupt");
  uprintf("irq: took virtio-blk interrupt on gsi %lu vector 0x%lx (%lu taken)\n", s1.last_gsi,
          s1.last_vector, b1.interrupts - b0.interrupts);
}

/* A hostile request: the data buffer lies outside guest RAM (thaw.bad_addr,
 * default 768 MiB, past the tests' 64 MiB). thaw-vmm must refuse it without
 * touching host memory: an IOERR status, DEVICE_NEEDS_RESET, or stopping
 * this VM (exit 4) are all contract-conforming (DESIGN.md "The guest is
 * hostile"); the guest reports which one it saw. */
void scenario_blk_bad_addr(void) {
  info(0);
  uint64_t addr = user_arg_u64("thaw.bad_addr", 0x30000000);
  uprintf("blk-bad-addr: reading sector 1 into guest address 0x%lx\n", addr);
  int64_t st = io(0, kTypeIn, 1, (void *)addr, kSector);
  if (st == kStatusIoErr)
    uprintf("blk-bad-addr: device answered IOERR ok\n");
  else if (st == -E_IO)
    uprintf("blk-bad-addr: device set DEVICE_NEEDS_RESET ok\n");
  else
    ufail("blk-bad-addr: request into unbacked address 0x%lx returned %ld", addr, st);
}

/* thaw.kind=loop|avail-jump|huge-length|bad-head: one malformed request
 * (syscall_abi.h enum blk_hostile). Passing means the device refused it in
 * a contract-conforming way; thaw-vmm may instead stop the VM (exit 4). */
void scenario_blk_hostile(void) {
  static const struct {
    const char *name;
    uint32_t kind;
  } kinds[] = {{"loop", kHostileDescLoop},
               {"avail-jump", kHostileAvailJump},
               {"huge-length", kHostileHugeLength},
               {"bad-head", kHostileBadHead}};
  size_t len;
  const char *kind = user_arg("thaw.kind", &len);
  if (!kind) ufail("blk-hostile: add thaw.kind=loop|avail-jump|huge-length|bad-head");
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
    if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, kind, len) != 0) continue;
    info(0);
    uprintf("blk-hostile: posting a %s request\n", kinds[i].name);
    int64_t r = syscall4(SYS_blk_hostile, 0, kinds[i].kind, 0, 0);
    if (r == 0)
      uprintf("blk-hostile: device answered IOERR ok\n");
    else if (r == -E_IO)
      uprintf("blk-hostile: device set DEVICE_NEEDS_RESET ok\n");
    else
      ufail("blk-hostile: %s request ended with %ld (status or error)", kinds[i].name, r);
    return;
  }
  ufail("blk-hostile: unknown thaw.kind \"%.*s\"", (int)len, kind);
}

/* Many requests, several in flight per notify: the avail and used rings
 * wrap around their 16 entries many times, the device may complete a batch
 * in any order, and every sector must hold what was written. Sectors
 * kStressFirst.. get stress_pattern(); the host test checks the image. */
enum { kStressFirst = 64, kStressBatch = 4 };
static uint8_t stress_pattern(uint64_t sector, uint32_t i) {
  return (uint8_t)(sector ^ (i * 29) ^ 0x3c);
}
static uint8_t stress_buf[kStressBatch][kSector] __attribute__((aligned(512)));

static void stress_pass(uint32_t type, uint64_t sectors) {
  for (uint64_t s = 0; s < sectors; s += kStressBatch) {
    struct blk_request reqs[kStressBatch];
    unsigned n = 0;
    for (; n < kStressBatch && s + n < sectors; n++) {
      uint64_t sector = kStressFirst + s + n;
      for (uint32_t i = 0; i < kSector; i++)
        stress_buf[n][i] = type == kTypeOut ? stress_pattern(sector, i) : 0;
      reqs[n] = (struct blk_request){
          .type = type, .length = kSector, .sector = sector, .data = stress_buf[n]};
    }
    int64_t r = syscall4(SYS_blk_batch, 0, (uint64_t)reqs, n, 0);
    if (r < 0) ufail("blk-stress: batch at sector %lu failed with %ld", kStressFirst + s, r);
    for (unsigned k = 0; k < n; k++) {
      if (reqs[k].status != kStatusOk)
        ufail("blk-stress: sector %lu status %u", reqs[k].sector, reqs[k].status);
      if (type == kTypeIn)
        for (uint32_t i = 0; i < kSector; i++)
          if (stress_buf[k][i] != stress_pattern(reqs[k].sector, i))
            ufail("blk-stress: sector %lu byte %u is %02x, wrote %02x", reqs[k].sector, i,
                  stress_buf[k][i], stress_pattern(reqs[k].sector, i));
    }
  }
}

void scenario_blk_stress(void) {
  struct blk_info i = info(0);
  uint64_t sectors = user_arg_u64("thaw.sectors", 200);
  if (kStressFirst + sectors > i.capacity_sectors)
    ufail("blk-stress: %lu sectors from %d do not fit a %lu-sector disk", sectors, kStressFirst,
          i.capacity_sectors);
  stress_pass(kTypeOut, sectors);
  uprintf("blk-stress: wrote %lu sectors in batches of %d\n", sectors, kStressBatch);
  stress_pass(kTypeIn, sectors);
  uprintf("blk-stress: read back %lu sectors ok\n", sectors);
}

/* thaw.kind=no-version-1|queue-outside-ram|queue-num-3: misuse of disk 0's
 * transport registers after a reset. Passing means the device refused
 * (FEATURES_OK or QueueReady did not stick); thaw-vmm may instead stop the
 * VM with exit 4. */
void scenario_mmio_hostile(void) {
  static const struct {
    const char *name;
    uint32_t kind;
  } kinds[] = {{"no-version-1", kHostileNoVersion1},
               {"queue-outside-ram", kHostileQueueOutsideRam},
               {"queue-num-3", kHostileQueueNumNotPow2}};
  size_t len;
  const char *kind = user_arg("thaw.kind", &len);
  if (!kind) ufail("mmio-hostile: add thaw.kind=no-version-1|queue-outside-ram|queue-num-3");
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
    if (strlen(kinds[i].name) != len || strncmp(kinds[i].name, kind, len) != 0) continue;
    info(0);
    uprintf("mmio-hostile: %s\n", kinds[i].name);
    int64_t r = syscall4(SYS_mmio_hostile, 0, kinds[i].kind, 0, 0);
    if (r != 1) ufail("mmio-hostile: device accepted %s (result %ld)", kinds[i].name, r);
    uprintf("mmio-hostile: device refused %s ok\n", kinds[i].name);
    return;
  }
  ufail("mmio-hostile: unknown thaw.kind \"%.*s\"", (int)len, kind);
}
