/* Scenarios that a snapshot/restore test cuts in the middle of:
 *
 * restore-notice: plays thaw-init's part of a restore (DESIGN.md "Restore
 *   = ... send a restore notice"): counts like `counter` while listening on
 *   vsock port thaw.port (1024, thaw-init's); the first frame on the first
 *   host connection must be a restore notice (runtime-api/frame.h), whose
 *   sandbox id (the frame's request id), wall clock and entropy digest the
 *   guest prints and sends back in a restore-done frame, then it counts
 *   thaw.after more rounds. thaw.wait=N halts up to N timer ticks between
 *   rounds for the connection (an idle guest) instead of polling.
 * blk-resize: waits for disk 0's capacity to change (a config-change
 *   interrupt, virtio 1.2 §4.2.2.1) and reads the new last sector.
 *
 * The frame layout is restated from runtime-api/frame.cc. */
#include "scenarios.h"
#include "user.h"

enum {
  kFrameMagic = 0x57414854, /* "THAW" */
  kFrameVersion = 1,
  kFrameHeaderSize = 56,
  kRequestIdSize = 36,
  kTypeRestoreNotice = 9,
  kTypeRestoreDone = 10,
  kMinNoticePayload = 8 + 32,  /* wall clock + the least entropy thaw-init takes */
  kMaxNoticePayload = 8 + 4096,
  kTimeoutTicks = 1000, /* ~10 s at the 10 ms tick */
};

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint16_t get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }
static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void recv_exact(int64_t conn, uint8_t *buf, size_t n, const char *what) {
  for (size_t got = 0; got < n;) {
    int64_t r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)(buf + got), n - got,
                         kTimeoutTicks);
    if (r <= 0) ufail("restore-notice: %s ended with %ld after %lu of %lu bytes", what, r, got, n);
    got += (uint64_t)r;
  }
}

/* Reads the connection's first frame, which must be the restore notice,
 * prints what it carried and answers with a restore-done frame. */
static void take_restore_notice(int64_t conn, uint64_t round) {
  uint8_t h[kFrameHeaderSize];
  recv_exact(conn, h, sizeof h, "frame header");
  if (get_u32(h) != kFrameMagic || get_u16(h + 4) != kFrameVersion ||
      get_u16(h + 6) != kFrameHeaderSize)
    ufail("restore-notice: not a thaw frame header (magic %x version %u length %u)", get_u32(h),
          get_u16(h + 4), get_u16(h + 6));
  uint16_t type = get_u16(h + 8);
  if (type != kTypeRestoreNotice)
    ufail("restore-notice: the host's first frame after restore is type %u, want %d (restore "
          "notice) before anything else",
          type, kTypeRestoreNotice);
  uint32_t length = get_u32(h + 12);
  if (length < kMinNoticePayload || length > kMaxNoticePayload)
    ufail("restore-notice: payload of %u bytes is outside %d..%d", length, kMinNoticePayload,
          kMaxNoticePayload);
  static uint8_t payload[kMaxNoticePayload];
  recv_exact(conn, payload, length, "notice payload");
  char id[kRequestIdSize + 1];
  size_t id_len = 0;
  while (id_len < kRequestIdSize && h[16 + id_len] != 0) id_len++;
  memcpy(id, h + 16, id_len);
  id[id_len] = 0;
  uint64_t clock = get_u64(payload), digest = fnv1a(payload + 8, length - 8);

  static uint8_t reply[kFrameHeaderSize + 160];
  char *text = (char *)reply + kFrameHeaderSize;
  size_t n = format(text, sizeof reply - kFrameHeaderSize,
                    "sandbox=%s clock=%lu entropy-fnv1a=%016lx round=%lu", id, clock, digest, round);
  memset(reply, 0, kFrameHeaderSize);
  put_u32(reply, kFrameMagic);
  put_u16(reply + 4, kFrameVersion);
  put_u16(reply + 6, kFrameHeaderSize);
  put_u16(reply + 8, kTypeRestoreDone);
  put_u32(reply + 12, (uint32_t)n);
  int64_t r = syscall4(SYS_vsock_send, (uint64_t)conn, (uint64_t)reply, kFrameHeaderSize + n, 0);
  if (r != (int64_t)(kFrameHeaderSize + n)) ufail("restore-notice: sending restore-done gave %ld", r);
  /* The console after the answer: a line costs ~2 ms of emulated CPL0 on
   * PVM, which the host would otherwise wait for. */
  uprintf("restore-notice: sandbox %s clock %lu entropy %u bytes fnv1a %016lx at round %lu\n", id,
          clock, length - 8, digest, round);
}

void scenario_restore_notice(void) {
  uint64_t port = user_arg_u64("thaw.port", 1024), step = user_arg_u64("thaw.step", 1000000);
  uint64_t after = user_arg_u64("thaw.after", 3);
  /* Ticks to wait for the host between rounds: 0 polls (the vCPU never
   * idles), 1+ halts like an idle thaw-init until the device's interrupt. */
  uint64_t wait = user_arg_u64("thaw.wait", 0);
  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0)
    ufail("restore-notice: cannot listen on vsock port %lu (pass --vsock-uds)", port);
  uprintf("restore-notice: listening on port %lu\n", port);
  uint64_t x = 1, noticed_at = 0;
  for (uint64_t round = 1; noticed_at == 0 || round <= noticed_at + after; round++) {
    for (uint64_t i = 0; i < step; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    uprintf("counter: %lu lcg=%016lx\n", round, x);
    if (noticed_at != 0) continue;
    int64_t conn = syscall4(SYS_vsock_accept, port, wait, 0, 0);
    if (conn == -E_TIMEDOUT) continue;
    if (conn < 0) ufail("restore-notice: accept on port %lu failed with %ld", port, conn);
    take_restore_notice(conn, round);
    noticed_at = round;
  }
}

static uint64_t ticks(void) {
  struct irq_stats s;
  syscall4(SYS_irq_stats, (uint64_t)&s, 0, 0, 0);
  return s.timer_ticks;
}

/* Byte i of `sector` as the host test writes it (guest_fixture.h). */
static uint8_t host_pattern(uint64_t sector, uint32_t i) { return (uint8_t)(sector * 31 + i * 7 + 1); }

void scenario_blk_resize(void) {
  struct blk_info info;
  if (syscall4(SYS_blk_info, 0, (uint64_t)&info, 0, 0) != 0)
    ufail("blk-resize: no disk 0 (pass --disk)");
  uint64_t first = info.capacity_sectors;
  uprintf("blk-resize: disk 0 has %lu sectors, generation %u; waiting for a config change\n", first,
          info.config_generation);
  uint64_t deadline = ticks() + 3000; /* ~30 s */
  while (info.capacity_sectors == first) {
    if (ticks() > deadline) ufail("blk-resize: capacity still %lu sectors after 30 s", first);
    for (volatile uint64_t spin = 0; spin < 200000; spin++) {
    }
    syscall4(SYS_blk_info, 0, (uint64_t)&info, 0, 0);
  }
  uint64_t now = info.capacity_sectors;
  uprintf("blk-resize: capacity %lu -> %lu sectors after %lu config interrupt(s), generation %u\n",
          first, now, info.config_changes, info.config_generation);
  static uint8_t sector[512];
  struct blk_request req = {.type = 0, .length = sizeof sector, .sector = now - 1, .data = sector};
  int64_t st = syscall4(SYS_blk_io, 0, (uint64_t)&req, 0, 0);
  if (st != 0) ufail("blk-resize: reading the new last sector %lu gave status %ld", now - 1, st);
  for (uint32_t i = 0; i < sizeof sector; i++)
    if (sector[i] != host_pattern(now - 1, i))
      ufail("blk-resize: sector %lu byte %u is %02x, want %02x", now - 1, i, sector[i],
            host_pattern(now - 1, i));
  uprintf("blk-resize: read new last sector %lu ok\n", now - 1);
  req.sector = now;
  st = syscall4(SYS_blk_io, 0, (uint64_t)&req, 0, 0);
  if (st != 1 /* VIRTIO_BLK_S_IOERR */) ufail("blk-resize: reading sector %lu past the end gave %ld", now, st);
  uprintf("blk-resize: read past the new end refused ok\n");
}
