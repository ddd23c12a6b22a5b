/* Application-processor start-up. The trampoline (entry.S) is copied to
 * 0x10000, so the STARTUP IPI's vector page is 0x10 and the AP begins in
 * real mode at 1000:0000; it loads the boot CPU's GDT and page tables,
 * enables long mode and calls ap_main() on its own stack. On PVM all of
 * this runs in the CPL0 emulator (.notes/testguest.md has the result). */
#include "smp.h"

#include "apic.h"
#include "kernel.h"
#include "syscall_abi.h"

enum { kTrampoline = 0x10000, kMaxAps = 4, kApStack = 4096, kStartTimeoutTicks = 200 };

/* Parameter block at the end of the trampoline, filled per AP. */
struct ap_params {
  uint8_t gdtr[10];
  uint8_t pad[6];
  uint64_t cr3;
  uint64_t entry;
  uint64_t stack;
};

extern char ap_trampoline[], ap_trampoline_end[], ap_params[];
static uint8_t ap_stacks[kMaxAps][kApStack] __attribute__((aligned(16)));
static volatile uint32_t aps_online;
static volatile uint32_t last_online_id;

/* First C code of an AP: long mode, CPL0, IF=0, own stack. It takes the
 * shared IDT, enables its LAPIC, reports, and greets the boot CPU with a
 * fixed IPI; then it idles with interrupts off. */
void ap_main(void) {
  load_idt();
  apic_enable_local();
  uint32_t id = apic_id();
  kprintf("smp: cpu with apic id %u online in long mode\n", id);
  last_online_id = id;
  __atomic_add_fetch(&aps_online, 1, __ATOMIC_SEQ_CST);
  apic_send_fixed(0, kIpiVector);
}

int64_t smp_start_cpu(uint32_t apic_id) {
  if (apic_id == 0 || apic_id > kMaxAps) return -E_INVAL;
  size_t size = (size_t)(ap_trampoline_end - ap_trampoline);
  memcpy((void *)kTrampoline, ap_trampoline, size);
  struct ap_params *p = (struct ap_params *)(kTrampoline + (ap_params - ap_trampoline));
  ap_boot_tables(p->gdtr, &p->cr3);
  p->entry = (uint64_t)ap_main;
  p->stack = (uint64_t)(ap_stacks[apic_id - 1] + kApStack);
  uint32_t before = aps_online;
  /* INIT, then two STARTUPs (MP spec B.4; KVM needs no delays between them). */
  apic_send_init(apic_id);
  apic_send_startup(apic_id, kTrampoline >> 12);
  apic_send_startup(apic_id, kTrampoline >> 12);
  uint64_t deadline = timer_ticks() + kStartTimeoutTicks;
  while (aps_online == before && timer_ticks() < deadline) wait_for_interrupt();
  return aps_online != before && last_online_id == apic_id;
}
