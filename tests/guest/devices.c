/* Virtio-mmio discovery and the device system calls of the test guest.
 * thaw-vmm packs devices from slot 0 upwards (disks first, then vsock) at
 * 0xd0000000 + i*0x1000 with GSI 5+i (CONTRACT.md); the first slot without
 * the magic value ends the scan. */
#include "devices.h"

#include "arch.h"
#include "kernel.h"
#include "syscall_abi.h"
#include "virtio_blk.h"
#include "virtio_vsock.h"

enum { kMmioBase = 0xd0000000, kMmioStride = 0x1000, kFirstGsi = 5, kMaxSlots = 8 };

/* thaw.ring=indirect,event-idx (either or both): the ring features every
 * driver negotiates when the device offers them. */
static void read_ring_option(void) {
  static const char key[] = "thaw.ring=";
  uint64_t features = 0;
  for (const char *p = kernel_cmdline(); *p; p++) {
    if ((p != kernel_cmdline() && p[-1] != ' ') || strncmp(p, key, sizeof key - 1) != 0) continue;
    for (const char *v = p + sizeof key - 1; *v && *v != ' ';) {
      const char *end = v;
      while (*end && *end != ' ' && *end != ',') end++;
      size_t len = (size_t)(end - v);
      if (len == 8 && strncmp(v, "indirect", 8) == 0)
        features |= 1ull << kVirtioFeatureIndirectDesc;
      else if (len == 9 && strncmp(v, "event-idx", 9) == 0)
        features |= 1ull << kVirtioFeatureEventIdx;
      else
        vm_fail("thaw.ring: unknown ring feature \"%.*s\" (indirect, event-idx)", (int)len, v);
      v = *end == ',' ? end + 1 : end;
    }
  }
  virtio_set_ring_features(features);
}

void devices_init(void) {
  read_ring_option();
  unsigned slot;
  for (slot = 0; slot < kMaxSlots; slot++) {
    uint64_t base = kMmioBase + (uint64_t)slot * kMmioStride;
    if (mmio_read32(base) != kVirtioMagic) break;
    uint32_t version = mmio_read32(base + 4), id = mmio_read32(base + 8);
    if (version != 2)
      vm_fail(
          "virtio slot %u: version %u; this guest drives only virtio-mmio v2 (virtio 1.2 §4.2.2)",
          slot, version);
    if (id == kVirtioDeviceBlock)
      blk_probe(base, slot, kFirstGsi + slot);
    else if (id == kVirtioDeviceVsock)
      vsock_probe(base, slot, kFirstGsi + slot);
    else
      kprintf("virtio slot %u: device id %u not driven\n", slot, id);
  }
  kprintf("virtio: %u device slot(s) found\n", slot);
}

int64_t device_syscall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  switch (nr) {
    case SYS_blk_info:
      return blk_info((unsigned)a, (struct blk_info *)b);
    case SYS_blk_io:
      return blk_io((unsigned)a, (const struct blk_request *)b);
    case SYS_blk_batch:
      return blk_batch((unsigned)a, (struct blk_request *)b, (unsigned)c);
    case SYS_mmio_hostile:
      return blk_transport_hostile((unsigned)a, (uint32_t)b);
    case SYS_blk_hostile:
      return blk_hostile((unsigned)a, (uint32_t)b);
    case SYS_vsock_cid:
      return vsock_cid();
    case SYS_vsock_listen:
      return vsock_listen((uint32_t)a);
    case SYS_vsock_accept:
      return vsock_accept((uint32_t)a, b);
    case SYS_vsock_connect:
      return vsock_connect(a, (uint32_t)b);
    case SYS_vsock_send:
      return vsock_send((int)a, (const void *)b, c);
    case SYS_vsock_recv:
      return vsock_recv((int)a, (void *)b, c, d);
    case SYS_vsock_close:
      return vsock_close((int)a);
    case SYS_vsock_hostile:
      return vsock_hostile((uint32_t)a, (uint32_t)b);
    default:
      return -E_INVAL;
  }
}
