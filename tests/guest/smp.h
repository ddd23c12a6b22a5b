/* CPL0 start-up of application processors for the test guest: the
 * INIT-SIPI-SIPI sequence (Intel MP spec B.4) into a real-mode trampoline
 * that switches straight to long mode. thaw-vmm leaves APs waiting for
 * SIPI (.notes/CONTRACT.md), as real hardware does. */
#pragma once

#include <stdint.h>

/* Starts the CPU with `apic_id` and waits up to 2 s for it to report in.
 * Returns 1 when it came online, 0 when it did not, < 0 on bad input. */
int64_t smp_start_cpu(uint32_t apic_id);
