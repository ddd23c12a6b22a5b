/* CPL0 virtio-vsock driver of the test guest (virtio 1.2 §5.10): stream
 * sockets to and from the host (CID 2), a few connections, one packet in
 * flight on TX. Serves SYS_vsock_*. */
#pragma once

#include "syscall_abi.h"
#include "virtio_mmio.h"

void vsock_probe(uint64_t base, unsigned slot, unsigned gsi);
int64_t vsock_cid(void);
int64_t vsock_listen(uint32_t port);
int64_t vsock_accept(uint32_t port, uint64_t timeout_ticks);
int64_t vsock_connect(uint64_t cid, uint32_t port);
int64_t vsock_send(int conn, const void *buf, size_t len);
int64_t vsock_recv(int conn, void *buf, size_t size, uint64_t timeout_ticks);
int64_t vsock_close(int conn);
/* vsock_connect() with the REQUEST header broken as `kind` says. */
int64_t vsock_hostile(uint32_t kind, uint32_t port);
