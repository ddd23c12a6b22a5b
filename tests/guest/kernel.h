/* CPL0 side of the test guest: descriptor tables, traps, the int $0x80
 * system-call boundary, and the helpers drivers use to report and fail.
 * Entered from entry.S; user.c runs above it at CPL3. */
#pragma once

#include "lib.h"

struct trap_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss;
};

/* Vectors (the IOAPIC routes GSI g to kIrqVectorBase + g). */
enum {
  kIrqVectorBase = 0x20,
  kTimerVector = 0x40,
  kIpiVector = 0x41, /* application processors greet the boot CPU with it */
  kSyscallVector = 0x80,
  kSpuriousVector = 0xff,
};

/* Kernel console output (polls COM1; see serial.c). */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the VM: "ok" exits through the i8042 reset (thaw-vmm exit 0);
 * failure prints the reason and triple-faults on purpose, so thaw-vmm exits
 * 3 and the host test sees both the FAIL line and the exit code. */
__attribute__((noreturn)) void vm_exit_ok(void);
__attribute__((noreturn)) void vm_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void triple_fault(void);

/* Interrupt plumbing used by drivers. */
typedef void (*irq_handler)(void *ctx);
void irq_register(unsigned gsi, irq_handler fn, void *ctx);
uint64_t timer_ticks(void);
/* The guest command line from boot_params, NUL-terminated. */
const char *kernel_cmdline(void);
/* For application processors (smp.c): the boot CPU's IDT, and the GDTR
 * image (limit, base: 10 bytes) and page-table root a trampoline loads. */
void load_idt(void);
void ap_boot_tables(uint8_t gdtr[10], uint64_t *cr3);
/* Sleeps until an interrupt arrives (IF is 0 again on return). */
void wait_for_interrupt(void);
