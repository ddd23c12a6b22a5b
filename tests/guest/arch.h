/* x86-64 instruction wrappers for the test guest's CPL0 drivers: port I/O,
 * MMIO and interrupt-flag control. Only plain instructions the PVM CPL0
 * emulator is known to handle (ENVIRONMENT.md; tests/guest/README.md). */
#pragma once

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
/* MMIO through volatile accesses compiled to one plain mov each, so the
 * VMM sees exactly one access of the register's width. */
static inline uint32_t mmio_read32(uint64_t addr) {
  uint32_t v;
  __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
  return v;
}
static inline void mmio_write32(uint64_t addr, uint32_t v) {
  __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
/* sti takes effect after the next instruction, so "sti; hlt" sleeps
 * without a window for a lost wake-up. */
static inline void sti_hlt(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }
