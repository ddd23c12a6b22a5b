/* Local APIC and IOAPIC programming (Intel SDM vol. 3 ch. 11; 82093AA
 * IOAPIC datasheet). KVM's in-kernel irqchip emulates both; thaw-vmm's irqfd
 * pulses a GSI, so routes are edge-triggered. */
#include "apic.h"

#include "arch.h"

enum {
  kLapic = 0xfee00000,
  kLapicId = 0x20,
  kLapicTpr = 0x80,
  kLapicIcrLow = 0x300,
  kLapicIcrHigh = 0x310,
  kIcrDeliveryPending = 1u << 12,
  kIcrInitAssert = 0x4500, /* INIT, level assert */
  kIcrStartup = 0x4600,    /* STARTUP, level assert; low byte = vector page */
  kIcrFixed = 0x4000,      /* fixed delivery, level assert */
  kLapicEoi = 0xb0,
  kLapicSvr = 0xf0,
  kLapicLvtTimer = 0x320,
  kLapicLvtLint0 = 0x350,
  kLapicLvtLint1 = 0x360,
  kLapicTimerInit = 0x380,
  kLapicTimerDivide = 0x3e0,
  kLvtMasked = 1u << 16,
  kLvtPeriodic = 1u << 17,
  kIoapic = 0xfec00000,
  kIoapicSelect = 0x00,
  kIoapicWindow = 0x10,
};

/* KVM's APIC timer counts at 1 GHz before the divider, so divide-by-16 and
 * 625000 give a ~10 ms tick; only "ticks happen" matters, not the rate. */
enum { kTimerDivideBy16 = 0x3, kTimerInitialCount = 625000 };

void apic_init(uint8_t timer_vector) {
  /* The 8259 PICs stay out of the way: mask every line (OCW1) and mask
   * LINT0/LINT1, which KVM resets to ExtINT on the boot CPU. */
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  mmio_write32(kLapic + kLapicLvtLint0, kLvtMasked);
  mmio_write32(kLapic + kLapicLvtLint1, kLvtMasked);
  mmio_write32(kLapic + kLapicTpr, 0);
  mmio_write32(kLapic + kLapicSvr, 0x100 | 0xff); /* enable, spurious vector 0xff */
  mmio_write32(kLapic + kLapicTimerDivide, kTimerDivideBy16);
  mmio_write32(kLapic + kLapicLvtTimer, kLvtPeriodic | timer_vector);
  mmio_write32(kLapic + kLapicTimerInit, kTimerInitialCount);
}

void apic_eoi(void) { mmio_write32(kLapic + kLapicEoi, 0); }

void ioapic_route(unsigned gsi, uint8_t vector) {
  /* Redirection entry n is registers 0x10+2n (low) and 0x11+2n (high):
   * low = vector, fixed delivery, physical, active high, edge, unmasked;
   * high = destination APIC id 0 in bits 56..63. Write high first so the
   * entry is never live with a stale destination. */
  mmio_write32(kIoapic + kIoapicSelect, 0x11 + 2 * gsi);
  mmio_write32(kIoapic + kIoapicWindow, 0);
  mmio_write32(kIoapic + kIoapicSelect, 0x10 + 2 * gsi);
  mmio_write32(kIoapic + kIoapicWindow, vector);
}

uint32_t apic_id(void) { return mmio_read32(kLapic + kLapicId) >> 24; }

void apic_enable_local(void) { mmio_write32(kLapic + kLapicSvr, 0x100 | 0xff); }

static void send_ipi(uint32_t apic_id, uint32_t low) {
  mmio_write32(kLapic + kLapicIcrHigh, apic_id << 24);
  mmio_write32(kLapic + kLapicIcrLow, low);
  for (int spins = 0; spins < 100000 && (mmio_read32(kLapic + kLapicIcrLow) & kIcrDeliveryPending);
       spins++) {
  }
}

void apic_send_init(uint32_t apic_id) { send_ipi(apic_id, kIcrInitAssert); }
void apic_send_startup(uint32_t apic_id, uint8_t vector_page) {
  send_ipi(apic_id, kIcrStartup | vector_page);
}
void apic_send_fixed(uint32_t apic_id, uint8_t vector) { send_ipi(apic_id, kIcrFixed | vector); }
