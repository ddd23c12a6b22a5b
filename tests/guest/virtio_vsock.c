/* virtio-vsock stream driver (virtio 1.2 §5.10.6). Packets are a 44-byte
 * header plus payload; RX buffers are single 4 KiB device-writable
 * descriptors, TX chains are header + payload (both framings are legal,
 * §2.6.4). Flow control follows §5.10.6.3: we may send only while the
 * peer's buf_alloc - (tx_cnt - peer_fwd_cnt) covers the payload, and we
 * report our own fwd_cnt as the scenario consumes data. */
#include "virtio_vsock.h"

#include "kernel.h"

enum {
  kRxQueue = 0,
  kTxQueue = 1,
  kEventQueue = 2,
  kTypeStream = 1,
  kOpRequest = 1,
  kOpResponse = 2,
  kOpRst = 3,
  kOpShutdown = 4,
  kOpRw = 5,
  kOpCreditUpdate = 6,
  kOpCreditRequest = 7,
  kShutdownBoth = 3,
  kRxBuffers = 8,
  kRxBufferSize = 4096,
  kMaxConns = 4,
  kConnBuffer = 8192,
  kMaxPayload = 1024,
  kHostCid = 2,
  kFirstLocalPort = 49152,
  kTxTimeoutTicks = 500,
  kEventTransportReset = 0,
};

struct vsock_hdr {
  uint64_t src_cid, dst_cid;
  uint32_t src_port, dst_port, len;
  uint16_t type, op;
  uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vsock_hdr) == 44, "virtio 1.2 §5.10.6: 44-byte header");

enum conn_state { kFree, kConnecting, kConnected, kClosed };

struct conn {
  enum conn_state state;
  bool accepted;          /* handed to the scenario by accept()/connect() */
  bool reset;             /* peer sent RST */
  uint32_t peer_shutdown; /* SHUTDOWN flags from the peer */
  uint64_t peer_cid;
  uint32_t local_port, peer_port;
  uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
  uint32_t fwd_cnt;      /* bytes the scenario consumed */
  uint32_t fwd_cnt_sent; /* fwd_cnt last reported to the peer */
  uint32_t rx_head, rx_len;
  uint8_t rx[kConnBuffer];
};

static struct {
  bool present;
  struct virtio_dev dev;
  struct virtq rx, tx, event;
  uint64_t cid;
  uint32_t listening[4];
  uint32_t next_port;
  struct vsock_hdr tx_hdr;
  uint8_t tx_payload[kMaxPayload];
  uint8_t rx_bufs[kRxBuffers][kRxBufferSize] __attribute__((aligned(16)));
  uint32_t events[4];
  struct conn conns[kMaxConns];
  uint32_t tamper; /* enum vsock_hostile applied to the next REQUEST */
} vs;

static void vsock_irq(void *ctx) { virtio_ack_interrupt(ctx); }

static void post_rx(uint32_t i) {
  struct virtq_buf b = {vs.rx_bufs[i], kRxBufferSize, true};
  if (virtq_add(&vs.rx, &b, 1) != (int)i)
    vm_fail("vsock: rx buffer %u did not get descriptor %u", i, i);
}

static void post_event(uint32_t i) {
  struct virtq_buf b = {&vs.events[i], sizeof vs.events[i], true};
  if (virtq_add(&vs.event, &b, 1) < 0) vm_fail("vsock: event queue full");
}

void vsock_probe(uint64_t base, unsigned slot, unsigned gsi) {
  if (vs.present) vm_fail("vsock: a second vsock device at slot %u", slot);
  vs.dev =
      (struct virtio_dev){.base = base, .slot = slot, .gsi = gsi, .device_id = kVirtioDeviceVsock};
  virtio_begin_init(&vs.dev, 0);
  virtq_setup(&vs.rx, &vs.dev, kRxQueue);
  virtq_setup(&vs.tx, &vs.dev, kTxQueue);
  virtq_setup(&vs.event, &vs.dev, kEventQueue);
  vs.cid = virtio_config_read64(&vs.dev, 0); /* §5.10.4: guest_cid */
  irq_register(gsi, vsock_irq, &vs.dev);
  virtio_finish_init(&vs.dev);
  /* Descriptor i holds rx buffer i while the ring is fresh, so a used id
   * names its buffer directly. */
  for (uint32_t i = 0; i < kRxBuffers && i < vs.rx.size; i++) post_rx(i);
  for (uint32_t i = 0; i < ARRAY_SIZE(vs.events) && i < vs.event.size; i++) post_event(i);
  virtq_kick(&vs.rx);
  virtq_kick(&vs.event);
  vs.next_port = kFirstLocalPort;
  vs.present = true;
  kprintf("virtio-vsock: slot %u gsi %u: guest cid %lu%s%s\n", slot, gsi, vs.cid,
          vs.tx.indirect ? ", indirect" : "", vs.tx.event_idx ? ", event-idx" : "");
}

/* Sends one packet and waits until the device has taken it (the TX
 * buffers are reused by the next send). */
static int64_t send_packet(struct conn *c, uint16_t op, uint32_t flags, const void *payload,
                           uint32_t len) {
  if (len > kMaxPayload) return -E_INVAL;
  vs.tx_hdr = (struct vsock_hdr){.src_cid = vs.cid,
                                 .dst_cid = c->peer_cid,
                                 .src_port = c->local_port,
                                 .dst_port = c->peer_port,
                                 .len = len,
                                 .type = kTypeStream,
                                 .op = op,
                                 .flags = flags,
                                 .buf_alloc = kConnBuffer,
                                 .fwd_cnt = c->fwd_cnt};
  c->fwd_cnt_sent = c->fwd_cnt;
  if (op == kOpRequest && vs.tamper) {
    if (vs.tamper == kHostileSpoofedCid) vs.tx_hdr.src_cid = vs.cid + 100;
    if (vs.tamper == kHostileControlPayload) vs.tx_hdr.len = 100;
    if (vs.tamper == kHostileSeqpacket) vs.tx_hdr.type = 2;
    vs.tamper = 0;
  }
  struct virtq_buf bufs[2] = {{&vs.tx_hdr, sizeof vs.tx_hdr, false}, {vs.tx_payload, len, false}};
  if (len) memcpy(vs.tx_payload, payload, len);
  if (virtq_add(&vs.tx, bufs, len ? 2 : 1) < 0)
    vm_fail("vsock: tx queue full with one packet in flight");
  virtq_kick(&vs.tx);
  uint64_t deadline = timer_ticks() + kTxTimeoutTicks;
  uint32_t id, used_len;
  while (!virtq_get_used(&vs.tx, &id, &used_len)) {
    if (vs.dev.needs_reset) vm_fail("vsock: device set DEVICE_NEEDS_RESET");
    if (timer_ticks() >= deadline) {
      kprintf("vsock: tx packet op %u not consumed after %d ticks\n", op, kTxTimeoutTicks);
      return -E_TIMEDOUT;
    }
    wait_for_interrupt();
  }
  return 0;
}

static struct conn *find_conn(uint64_t peer_cid, uint32_t peer_port, uint32_t local_port) {
  for (int i = 0; i < kMaxConns; i++) {
    struct conn *c = &vs.conns[i];
    if (c->state != kFree && c->peer_cid == peer_cid && c->peer_port == peer_port &&
        c->local_port == local_port)
      return c;
  }
  return 0;
}

static struct conn *new_conn(void) {
  for (int i = 0; i < kMaxConns; i++)
    if (vs.conns[i].state == kFree) {
      memset(&vs.conns[i], 0, sizeof vs.conns[i]);
      return &vs.conns[i];
    }
  return 0;
}

static bool is_listening(uint32_t port) {
  for (size_t i = 0; i < ARRAY_SIZE(vs.listening); i++)
    if (vs.listening[i] == port && port) return true;
  return false;
}

static void reply_rst(const struct vsock_hdr *h) {
  struct conn tmp = {.peer_cid = h->src_cid, .peer_port = h->src_port, .local_port = h->dst_port};
  send_packet(&tmp, kOpRst, 0, 0, 0);
}

static void handle_packet(const struct vsock_hdr *h, const uint8_t *payload) {
  if (h->type != kTypeStream || h->dst_cid != vs.cid) {
    kprintf("vsock: dropped packet type %u to cid %lu (we are %lu)\n", h->type, h->dst_cid, vs.cid);
    return;
  }
  struct conn *c = find_conn(h->src_cid, h->src_port, h->dst_port);
  if (c) {
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
  }
  switch (h->op) {
    case kOpRequest:
      if (c || !is_listening(h->dst_port) || !(c = new_conn())) {
        reply_rst(h);
        return;
      }
      c->state = kConnected;
      c->peer_cid = h->src_cid;
      c->peer_port = h->src_port;
      c->local_port = h->dst_port;
      c->peer_buf_alloc = h->buf_alloc;
      c->peer_fwd_cnt = h->fwd_cnt;
      send_packet(c, kOpResponse, 0, 0, 0);
      return;
    case kOpResponse:
      if (c && c->state == kConnecting)
        c->state = kConnected;
      else if (!c)
        reply_rst(h);
      return;
    case kOpRw:
      if (!c || c->state != kConnected) {
        reply_rst(h);
        return;
      }
      /* The peer may not exceed the buf_alloc we advertised (§5.10.6.3). */
      if (c->rx_len + h->len > kConnBuffer)
        vm_fail("vsock: host sent %u bytes with %u buffered, over our buf_alloc %d", h->len,
                c->rx_len, kConnBuffer);
      for (uint32_t i = 0; i < h->len; i++)
        c->rx[(c->rx_head + c->rx_len + i) % kConnBuffer] = payload[i];
      c->rx_len += h->len;
      return;
    case kOpCreditRequest:
      if (c) send_packet(c, kOpCreditUpdate, 0, 0, 0);
      return;
    case kOpShutdown:
      if (!c) return;
      c->peer_shutdown |= h->flags;
      /* §5.10.6.6: a clean close is SHUTDOWN answered by RST. */
      if ((c->peer_shutdown & kShutdownBoth) == kShutdownBoth) {
        send_packet(c, kOpRst, 0, 0, 0);
        c->state = kClosed;
      }
      return;
    case kOpRst:
      if (c) c->reset = true, c->state = kClosed;
      return;
    case kOpCreditUpdate:
      return;
    default:
      kprintf("vsock: ignored packet op %u\n", h->op);
  }
}

static void handle_event(uint32_t id) {
  if (id == kEventTransportReset) {
    /* §5.10.6.7: after a transport reset every connection is gone. */
    kprintf("vsock: transport reset event\n");
    for (int i = 0; i < kMaxConns; i++)
      if (vs.conns[i].state != kFree) vs.conns[i].reset = true, vs.conns[i].state = kClosed;
    vs.cid = virtio_config_read64(&vs.dev, 0);
  }
}

/* Drains the event then the RX queue; returns after one pass. Events
 * first: a transport reset posted at restore predates every packet now in
 * RX, and handled after them it would kill the host's new connection (its
 * REQUEST and first data arrive in the same pass). */
static void poll_device(void) {
  uint32_t id, len;
  while (virtq_get_used(&vs.event, &id, &len)) {
    handle_event(vs.events[id]);
    post_event(id);
    virtq_kick(&vs.event);
  }
  bool reposted = false;
  while (virtq_get_used(&vs.rx, &id, &len)) {
    if (id >= kRxBuffers) vm_fail("vsock: rx used id %u names no buffer", id);
    if (len < sizeof(struct vsock_hdr) || len > kRxBufferSize)
      vm_fail("vsock: rx used length %u outside [44, %d]", len, kRxBufferSize);
    struct vsock_hdr h;
    memcpy(&h, vs.rx_bufs[id], sizeof h);
    if (h.len > len - sizeof h)
      vm_fail("vsock: packet says %u payload bytes, device wrote only %u", h.len,
              len - (uint32_t)sizeof h);
    handle_packet(&h, vs.rx_bufs[id] + sizeof h);
    post_rx(id);
    reposted = true;
  }
  if (reposted) virtq_kick(&vs.rx);
}

int64_t vsock_cid(void) { return vs.present ? (int64_t)vs.cid : -E_NODEV; }

int64_t vsock_listen(uint32_t port) {
  if (!vs.present) return -E_NODEV;
  for (size_t i = 0; i < ARRAY_SIZE(vs.listening); i++)
    if (!vs.listening[i]) return vs.listening[i] = port, 0;
  return -E_INVAL;
}

static int conn_id(struct conn *c) { return (int)(c - vs.conns); }

int64_t vsock_accept(uint32_t port, uint64_t timeout_ticks) {
  if (!vs.present) return -E_NODEV;
  uint64_t deadline = timer_ticks() + timeout_ticks;
  for (;;) {
    poll_device();
    for (int i = 0; i < kMaxConns; i++) {
      struct conn *c = &vs.conns[i];
      if (c->state == kConnected && !c->accepted && c->local_port == port) {
        c->accepted = true;
        return conn_id(c);
      }
    }
    if (timer_ticks() >= deadline) return -E_TIMEDOUT;
    wait_for_interrupt();
  }
}

int64_t vsock_connect(uint64_t cid, uint32_t port) {
  if (!vs.present) return -E_NODEV;
  struct conn *c = new_conn();
  if (!c) return -E_INVAL;
  c->state = kConnecting;
  c->accepted = true;
  c->peer_cid = cid;
  c->peer_port = port;
  c->local_port = vs.next_port++;
  int64_t r = send_packet(c, kOpRequest, 0, 0, 0);
  if (r < 0) return c->state = kFree, r;
  uint64_t deadline = timer_ticks() + kTxTimeoutTicks;
  while (c->state == kConnecting) {
    poll_device();
    if (c->state != kConnecting) break;
    if (timer_ticks() >= deadline) return c->state = kFree, -E_TIMEDOUT;
    wait_for_interrupt();
  }
  if (c->state != kConnected) return c->state = kFree, -E_CONNREFUSED;
  return conn_id(c);
}

static struct conn *lookup(int id) {
  if (id < 0 || id >= kMaxConns || vs.conns[id].state == kFree || !vs.conns[id].accepted) return 0;
  return &vs.conns[id];
}

int64_t vsock_send(int id, const void *buf, size_t len) {
  struct conn *c = lookup(id);
  if (!c) return -E_INVAL;
  const uint8_t *p = buf;
  size_t sent = 0;
  uint64_t deadline = timer_ticks() + kTxTimeoutTicks;
  while (sent < len) {
    if (c->reset) return -E_RESET;
    uint32_t credit = c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
    uint32_t chunk = len - sent < kMaxPayload ? (uint32_t)(len - sent) : kMaxPayload;
    if (chunk > credit) chunk = credit;
    if (chunk == 0) {
      if (timer_ticks() >= deadline) return -E_TIMEDOUT;
      send_packet(c, kOpCreditRequest, 0, 0, 0);
      wait_for_interrupt();
      poll_device();
      continue;
    }
    int64_t r = send_packet(c, kOpRw, 0, p + sent, chunk);
    if (r < 0) return r;
    c->tx_cnt += chunk;
    sent += chunk;
  }
  return (int64_t)sent;
}

int64_t vsock_recv(int id, void *buf, size_t size, uint64_t timeout_ticks) {
  struct conn *c = lookup(id);
  if (!c) return -E_INVAL;
  uint64_t deadline = timer_ticks() + timeout_ticks;
  for (;;) {
    poll_device();
    if (c->rx_len) break;
    if (c->reset) return -E_RESET;
    if (c->peer_shutdown & 2 || c->state == kClosed) return 0; /* peer will send no more */
    if (timer_ticks() >= deadline) return -E_TIMEDOUT;
    wait_for_interrupt();
  }
  size_t n = c->rx_len < size ? c->rx_len : size;
  uint8_t *out = buf;
  for (size_t i = 0; i < n; i++) out[i] = c->rx[(c->rx_head + i) % kConnBuffer];
  c->rx_head = (uint32_t)((c->rx_head + n) % kConnBuffer);
  c->rx_len -= (uint32_t)n;
  c->fwd_cnt += (uint32_t)n;
  /* Every packet we send carries fwd_cnt; an explicit update is needed only
   * once the peer may be running low (it asks with CREDIT_REQUEST when it
   * runs out, which poll_device answers). */
  if (c->fwd_cnt - c->fwd_cnt_sent >= kConnBuffer / 2) send_packet(c, kOpCreditUpdate, 0, 0, 0);
  return (int64_t)n;
}

int64_t vsock_close(int id) {
  struct conn *c = lookup(id);
  if (!c) return -E_INVAL;
  if (c->state == kConnected) {
    send_packet(c, kOpShutdown, kShutdownBoth, 0, 0);
    /* Wait briefly for the peer's RST (§5.10.6.6); then forget it anyway. */
    uint64_t deadline = timer_ticks() + 100;
    while (c->state == kConnected && !c->reset && timer_ticks() < deadline) {
      wait_for_interrupt();
      poll_device();
    }
  }
  c->state = kFree;
  return 0;
}

int64_t vsock_hostile(uint32_t kind, uint32_t port) {
  if (kind < kHostileSpoofedCid || kind > kHostileSeqpacket) return -E_INVAL;
  vs.tamper = kind;
  return vsock_connect(kHostCid, port);
}
