/* virtio-vsock scenarios: a host->guest conversation on thaw.port (the
 * host connects through thaw-vmm's Unix socket with "CONNECT <port>"),
 * a guest->host one to CID 2 port thaw.host_port (thaw-vmm connects to
 * "<uds>_<port>"), or both in that order. Lines end in '\n'; the host test
 * holds the other end. */
#include "scenarios.h"
#include "user.h"

enum { kHostCid = 2, kTimeoutTicks = 3000 /* ~30 s at the 10 ms tick */ };

enum { kMaxConns = 4 }; /* the driver's connection table (virtio_vsock.c) */

/* Per connection: bytes received past the last line, kept for the next
 * recv_line() on that connection. */
struct line_buffer {
  char data[512];
  size_t len;
};
static struct line_buffer line_buffers[kMaxConns];

static void close_conn(int64_t conn) {
  syscall4(SYS_vsock_close, (uint64_t)conn, 0, 0, 0);
  line_buffers[conn].len = 0;
}

/* One '\n'-terminated line (without the '\n'); fails the scenario on a
 * receive error, EOF before the newline, or a line longer than `size`. */
static void recv_line(int conn, char *line, size_t size) {
  if (conn < 0 || conn >= kMaxConns) ufail("vsock: connection id %d out of range", conn);
  struct line_buffer *b = &line_buffers[conn];
  for (;;) {
    for (size_t i = 0; i < b->len; i++) {
      if (b->data[i] != '\n') continue;
      if (i + 1 > size) ufail("vsock: line of %lu bytes exceeds %lu", i, size - 1);
      memcpy(line, b->data, i);
      line[i] = 0;
      b->len -= i + 1;
      for (size_t k = 0; k < b->len; k++) b->data[k] = b->data[i + 1 + k];
      return;
    }
    if (b->len == sizeof b->data) ufail("vsock: no newline in %lu bytes", b->len);
    int64_t r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)(b->data + b->len),
                         sizeof b->data - b->len, kTimeoutTicks);
    if (r < 0) ufail("vsock: receive failed with error %ld", r);
    if (r == 0) ufail("vsock: peer closed before a full line (%lu bytes pending)", b->len);
    b->len += (size_t)r;
  }
}

static void send_text(int conn, const char *text) {
  int64_t r = syscall4(SYS_vsock_send, (uint64_t)conn, (uint64_t)text, strlen(text), 0);
  if (r != (int64_t)strlen(text)) ufail("vsock: send returned %ld for %lu bytes", r, strlen(text));
}

static int64_t guest_cid(void) {
  int64_t cid = syscall4(SYS_vsock_cid, 0, 0, 0, 0);
  if (cid < 0) ufail("vsock: no virtio-vsock device; pass --vsock-uds to thaw-vmm");
  uprintf("vsock: guest cid %ld\n", cid);
  return cid;
}

/* Host -> guest: listen, accept, answer one line with "pong: <line>". */
static void serve_host(uint64_t port) {
  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0)
    ufail("vsock: cannot listen on port %lu", port);
  uprintf("vsock: listening on port %lu\n", port);
  int64_t conn = syscall4(SYS_vsock_accept, port, kTimeoutTicks, 0, 0);
  if (conn < 0) ufail("vsock: no host connection on port %lu (error %ld)", port, conn);
  uprintf("vsock: accepted host connection on port %lu\n", port);
  char line[256], reply[300];
  recv_line((int)conn, line, sizeof line);
  uprintf("vsock: received from host: %s\n", line);
  format(reply, sizeof reply, "pong: %s\n", line);
  send_text((int)conn, reply);
  uprintf("vsock: replied to host\n");
  /* The host closes its socket after the reply: that must reach us as a
   * clean end of stream (SHUTDOWN), not data and not a reset. */
  char extra;
  int64_t r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)&extra, 1, kTimeoutTicks);
  if (r > 0) ufail("vsock: host sent more after the ping");
  if (r == -E_RESET) ufail("vsock: host's close arrived as RST, want SHUTDOWN (clean EOF)");
  if (r < 0) ufail("vsock: waiting for the host's close failed with %ld", r);
  uprintf("vsock: host closed its end\n");
  close_conn(conn);
}

/* Guest -> host: connect to CID 2, say hello, print the host's answer. */
static void call_host(int64_t cid, uint64_t host_port) {
  int64_t conn = syscall4(SYS_vsock_connect, kHostCid, host_port, 0, 0);
  if (conn < 0) ufail("vsock: connect to cid 2 port %lu failed with error %ld", host_port, conn);
  uprintf("vsock: connected to host port %lu\n", host_port);
  char line[256], hello[64];
  format(hello, sizeof hello, "hello from guest cid %ld\n", cid);
  send_text((int)conn, hello);
  recv_line((int)conn, line, sizeof line);
  uprintf("vsock: host answered: %s\n", line);
  close_conn(conn);
  uprintf("vsock: closed\n");
}

void scenario_vsock_listen(void) {
  guest_cid();
  serve_host(user_arg_u64("thaw.port", 5000));
}

void scenario_vsock_connect(void) {
  int64_t cid = guest_cid();
  call_host(cid, user_arg_u64("thaw.host_port", 5001));
}

void scenario_vsock(void) {
  int64_t cid = guest_cid();
  serve_host(user_arg_u64("thaw.port", 5000));
  call_host(cid, user_arg_u64("thaw.host_port", 5001));
}

/* FNV-1a, 64-bit: the checksum both ends compute over a bulk transfer. */
static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

/* Byte i of the guest's bulk reply; restated in thaw_vmm_guest_test.cc. */
static uint8_t bulk_pattern(uint64_t i) { return (uint8_t)(i * 131 + (i >> 8)); }

/* Flow control under load: the host streams thaw.bytes (default 32 KiB,
 * four times the 8 KiB buf_alloc this guest grants) which the guest
 * checksums, then the guest streams the same amount back. Either side
 * overrunning the other's credit fails the transfer (§5.10.6.3). */
void scenario_vsock_bulk(void) {
  uint64_t port = user_arg_u64("thaw.port", 5000), total = user_arg_u64("thaw.bytes", 32768);
  guest_cid();
  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0)
    ufail("vsock: cannot listen on port %lu", port);
  uprintf("vsock: listening on port %lu\n", port);
  int64_t conn = syscall4(SYS_vsock_accept, port, kTimeoutTicks, 0, 0);
  if (conn < 0) ufail("vsock: no host connection on port %lu (error %ld)", port, conn);
  static uint8_t chunk[2048];
  uint64_t got = 0, sum = 0xcbf29ce484222325ull;
  while (got < total) {
    size_t want = total - got < sizeof chunk ? (size_t)(total - got) : sizeof chunk;
    int64_t r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)chunk, want, kTimeoutTicks);
    if (r <= 0) ufail("vsock-bulk: receive ended with %ld after %lu of %lu bytes", r, got, total);
    sum = fnv1a(sum, chunk, (size_t)r);
    got += (uint64_t)r;
  }
  uprintf("vsock-bulk: received %lu bytes, fnv1a %016lx\n", got, sum);
  for (uint64_t sent = 0; sent < total;) {
    size_t n = total - sent < sizeof chunk ? (size_t)(total - sent) : sizeof chunk;
    for (size_t i = 0; i < n; i++) chunk[i] = bulk_pattern(sent + i);
    int64_t r = syscall4(SYS_vsock_send, (uint64_t)conn, (uint64_t)chunk, n, 0);
    if (r != (int64_t)n)
      ufail("vsock-bulk: send returned %ld after %lu of %lu bytes", r, sent, total);
    sent += n;
  }
  uprintf("vsock-bulk: sent %lu bytes\n", total);
  close_conn(conn);
}

/* Three malformed REQUESTs to CID 2 port thaw.host_port: each must be
 * answered with RST (connect refused) and leave the device working, which
 * a final well-formed listen/accept round trip proves. */
void scenario_vsock_hostile(void) {
  static const struct {
    const char *name;
    uint32_t kind;
  } kinds[] = {{"spoofed src_cid", kHostileSpoofedCid},
               {"REQUEST with payload", kHostileControlPayload},
               {"SEQPACKET type", kHostileSeqpacket}};
  uint64_t host_port = user_arg_u64("thaw.host_port", 5001);
  guest_cid();
  for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
    int64_t r = syscall4(SYS_vsock_hostile, kinds[i].kind, host_port, 0, 0);
    if (r != -E_CONNREFUSED)
      ufail("vsock-hostile: %s to port %lu got %ld, want -%d (RST)", kinds[i].name, host_port, r,
            E_CONNREFUSED);
    uprintf("vsock-hostile: %s refused with RST ok\n", kinds[i].name);
  }
  serve_host(user_arg_u64("thaw.port", 5000));
}

/* Connection demultiplexing: thaw.conns (2..4) host connections to one
 * port are accepted first, then each gets a line and answers, last
 * accepted first, so a device that mixed up streams fails the check. */
void scenario_vsock_multi(void) {
  uint64_t port = user_arg_u64("thaw.port", 5000), n = user_arg_u64("thaw.conns", 2);
  if (n < 2 || n > kMaxConns) ufail("vsock-multi: thaw.conns=%lu, want 2..%d", n, kMaxConns);
  guest_cid();
  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0) ufail("vsock: cannot listen on port %lu", port);
  uprintf("vsock: listening on port %lu\n", port);
  int64_t conns[kMaxConns];
  for (uint64_t i = 0; i < n; i++) {
    conns[i] = syscall4(SYS_vsock_accept, port, kTimeoutTicks, 0, 0);
    if (conns[i] < 0) ufail("vsock-multi: connection %lu not accepted (error %ld)", i, conns[i]);
  }
  uprintf("vsock-multi: accepted %lu connections on port %lu\n", n, port);
  for (uint64_t k = n; k-- > 0;) {
    char line[128], reply[160];
    recv_line((int)conns[k], line, sizeof line);
    format(reply, sizeof reply, "pong: %s\n", line);
    send_text((int)conns[k], reply);
    uprintf("vsock-multi: connection %lu said \"%s\"\n", k, line);
  }
  for (uint64_t i = 0; i < n; i++) close_conn(conns[i]);
}

/* The host connects, sends half a line and vanishes: the guest must see the
 * stream end (EOF or RST) instead of waiting forever, and the device must
 * still serve the next connection normally. */
void scenario_vsock_abort(void) {
  uint64_t port = user_arg_u64("thaw.port", 5000);
  guest_cid();
  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0) ufail("vsock: cannot listen on port %lu", port);
  uprintf("vsock: listening on port %lu\n", port);
  int64_t conn = syscall4(SYS_vsock_accept, port, kTimeoutTicks, 0, 0);
  if (conn < 0) ufail("vsock-abort: no host connection (error %ld)", conn);
  char buf[64];
  uint64_t got = 0;
  int64_t r;
  while ((r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)buf, sizeof buf, kTimeoutTicks)) > 0)
    got += (uint64_t)r;
  if (r == -E_TIMEDOUT) ufail("vsock-abort: the host's disappearance never reached the guest");
  if (r < 0 && r != -E_RESET) ufail("vsock-abort: receive failed with %ld", r);
  uprintf("vsock-abort: stream ended by %s after %lu bytes ok\n", r == 0 ? "EOF" : "RST", got);
  close_conn(conn);
  serve_host(port);
}
