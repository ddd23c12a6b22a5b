/* virtio-vsock scenario: a host->guest conversation on thaw.port (the host
 * connects through thaw-vmm's Unix socket with "CONNECT <port>"), then a
 * guest->host one to CID 2 port thaw.host_port (thaw-vmm connects to
 * "<uds>_<port>"). Lines end in '\n'; the host test holds the other end. */
#include "scenarios.h"
#include "user.h"

enum { kHostCid = 2, kTimeoutTicks = 3000 /* ~30 s at the 10 ms tick */ };

static int64_t recv_line(int conn, char *buf, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    int64_t r = syscall4(SYS_vsock_recv, (uint64_t)conn, (uint64_t)(buf + n), 1, kTimeoutTicks);
    if (r < 0) ufail("vsock: receive failed with error %ld", r);
    if (r == 0) break;
    if (buf[n++] == '\n') break;
  }
  buf[n] = 0;
  if (n && buf[n - 1] == '\n') buf[--n] = 0;
  return (int64_t)n;
}

static void send_text(int conn, const char *text) {
  int64_t r = syscall4(SYS_vsock_send, (uint64_t)conn, (uint64_t)text, strlen(text), 0);
  if (r != (int64_t)strlen(text)) ufail("vsock: send returned %ld for %lu bytes", r, strlen(text));
}

void scenario_vsock(void) {
  uint64_t port = user_arg_u64("thaw.port", 5000), host_port = user_arg_u64("thaw.host_port", 5001);
  int64_t cid = syscall4(SYS_vsock_cid, 0, 0, 0, 0);
  if (cid < 0) ufail("vsock: no virtio-vsock device; pass --vsock-uds to thaw-vmm");
  uprintf("vsock: guest cid %ld\n", cid);

  if (syscall4(SYS_vsock_listen, port, 0, 0, 0) < 0) ufail("vsock: cannot listen on port %lu", port);
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
  syscall4(SYS_vsock_close, (uint64_t)conn, 0, 0, 0);

  conn = syscall4(SYS_vsock_connect, kHostCid, host_port, 0, 0);
  if (conn < 0) ufail("vsock: connect to cid 2 port %lu failed with error %ld", host_port, conn);
  uprintf("vsock: connected to host port %lu\n", host_port);
  format(reply, sizeof reply, "hello from guest cid %ld\n", cid);
  send_text((int)conn, reply);
  recv_line((int)conn, line, sizeof line);
  uprintf("vsock: host answered: %s\n", line);
  syscall4(SYS_vsock_close, (uint64_t)conn, 0, 0, 0);
  uprintf("vsock: closed\n");
}
