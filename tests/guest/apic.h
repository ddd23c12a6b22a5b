/* CPL0 interrupt controllers of the test guest: the local APIC (xAPIC MMIO
 * at 0xfee00000: EOI, periodic timer) and the KVM in-kernel IOAPIC
 * (0xfec00000) that routes virtio GSIs 5+i to vectors. */
#pragma once

#include <stdint.h>

void apic_init(uint8_t timer_vector);
void apic_eoi(void);
uint32_t apic_id(void);
/* Interrupt command register (SDM vol. 3 §11.6.1): INIT, STARTUP and fixed IPIs. */
void apic_send_init(uint32_t apic_id);
void apic_send_startup(uint32_t apic_id, uint8_t vector_page);
void apic_send_fixed(uint32_t apic_id, uint8_t vector);
/* Per-CPU part of apic_init for application processors: software-enable. */
void apic_enable_local(void);
/* Routes IOAPIC pin `gsi` edge-triggered, active-high, to `vector` on APIC 0. */
void ioapic_route(unsigned gsi, uint8_t vector);
