/* CPL0 interrupt controllers of the test guest: the local APIC (xAPIC MMIO
 * at 0xfee00000: EOI, periodic timer) and the KVM in-kernel IOAPIC
 * (0xfec00000) that routes virtio GSIs 5+i to vectors. */
#pragma once

#include <stdint.h>

void apic_init(uint8_t timer_vector);
void apic_eoi(void);
/* Routes IOAPIC pin `gsi` edge-triggered, active-high, to `vector` on APIC 0. */
void ioapic_route(unsigned gsi, uint8_t vector);
