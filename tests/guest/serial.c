/* CPL0 COM1 driver: polled transmit. The line status register's THRE bit
 * (LSR bit 5, 8250/16550 datasheet) says the holding register is free. */
#include "serial.h"

#include "arch.h"
#include "kernel.h"

enum {
  kCom1 = 0x3f8,
  kIrqEnable = 1,
  kIrqIdent = 2,
  kLineControl = 3,
  kLineStatus = 5,
  kThrEmpty = 0x20,
  kIerThrEmpty = 0x02,
  kIirIdMask = 0x0f,
  kIirThrEmpty = 0x02,
  kCom1Irq = 4,
};

static volatile bool thr_ready;
static volatile uint64_t thr_interrupts;

void serial_init(void) {
  outb(kCom1 + kIrqEnable, 0);      /* polled: no UART interrupts */
  outb(kCom1 + kLineControl, 0x03); /* 8 data bits, no parity, 1 stop */
}

void serial_write(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    /* Bounded poll: a VMM whose THRE never sets must not hang the guest. */
    for (int spins = 0; spins < 100000 && !(inb(kCom1 + kLineStatus) & kThrEmpty); spins++) {
    }
    outb(kCom1, (uint8_t)s[i]);
  }
}

/* Reading IIR while it reports THR-empty clears that cause (16550 datasheet,
 * "Interrupt Identification Register"). */
static void thr_irq(void *ctx) {
  (void)ctx;
  if ((inb(kCom1 + kIrqIdent) & kIirIdMask) == kIirThrEmpty) {
    thr_ready = true;
    thr_interrupts++;
  }
}

int64_t serial_write_irq(const char *s, size_t len, uint64_t timeout_ticks) {
  static bool registered;
  if (!registered) irq_register(kCom1Irq, thr_irq, 0), registered = true;
  uint64_t start = thr_interrupts;
  thr_ready = false;
  /* Enabling the THR-empty interrupt while THR is empty raises it at once. */
  outb(kCom1 + kIrqEnable, kIerThrEmpty);
  for (size_t i = 0; i < len; i++) {
    uint64_t deadline = timer_ticks() + timeout_ticks;
    while (!thr_ready) {
      if (timer_ticks() >= deadline) {
        outb(kCom1 + kIrqEnable, 0);
        return -1;
      }
      wait_for_interrupt();
    }
    thr_ready = false;
    outb(kCom1, (uint8_t)s[i]);
  }
  /* The last byte's THR-empty interrupt also counts; then quiet the UART. */
  uint64_t deadline = timer_ticks() + timeout_ticks;
  while (!thr_ready && timer_ticks() < deadline) wait_for_interrupt();
  outb(kCom1 + kIrqEnable, 0);
  return (int64_t)(thr_interrupts - start);
}
