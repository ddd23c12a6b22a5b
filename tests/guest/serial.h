/* CPL0 COM1 console of the test guest (8250 UART at 0x3f8, CONTRACT.md):
 * polled output, one byte per THR write. */
#pragma once

#include <stddef.h>
#include <stdint.h>

void serial_init(void);
void serial_write(const char *s, size_t len);
/* Writes `s` interrupt-driven: one byte per THR-empty interrupt on IRQ 4
 * (16550 IER bit 1, IIR id 0x2). Returns the interrupts taken, or -1 when
 * one did not come within `timeout_ticks`. */
int64_t serial_write_irq(const char *s, size_t len, uint64_t timeout_ticks);
