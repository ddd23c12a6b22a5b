/* CPL0 COM1 console of the test guest (8250 UART at 0x3f8, CONTRACT.md):
 * polled output, one byte per THR write. */
#pragma once

#include <stddef.h>

void serial_init(void);
void serial_write(const char *s, size_t len);
