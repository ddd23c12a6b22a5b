/* CPL0 COM1 driver: polled transmit. The line status register's THRE bit
 * (LSR bit 5, 8250/16550 datasheet) says the holding register is free. */
#include "serial.h"

#include "arch.h"

enum { kCom1 = 0x3f8, kLineStatus = 5, kThrEmpty = 0x20, kLineControl = 3, kIrqEnable = 1 };

void serial_init(void) {
  outb(kCom1 + kIrqEnable, 0);        /* polled: no UART interrupts */
  outb(kCom1 + kLineControl, 0x03);   /* 8 data bits, no parity, 1 stop */
}

void serial_write(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    /* Bounded poll: a VMM whose THRE never sets must not hang the guest. */
    for (int spins = 0; spins < 100000 && !(inb(kCom1 + kLineStatus) & kThrEmpty); spins++) {
    }
    outb(kCom1, (uint8_t)s[i]);
  }
}
