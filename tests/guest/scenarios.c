/* Scenario registry and the scenarios that need no virtio device. */
#include "scenarios.h"

#include "user.h"

static const struct scenario table[] = {
    {"hello", scenario_hello},
    {"counter", scenario_counter},
    {"timer", scenario_timer},
    {"serial-irq", scenario_serial_irq},
    {"memory-map", scenario_memory_map},
    {"smp", scenario_smp},
    {"triple-fault", scenario_triple_fault},
    {"bad-insn", scenario_bad_insn},
    {"user-fault", scenario_user_fault},
    {"blk", scenario_blk},
    {"blk-ro", scenario_blk_ro},
    {"blk-irq", scenario_blk_irq},
    {"blk-bad-addr", scenario_blk_bad_addr},
    {"multi-disk", scenario_multi_disk},
    {"blk-hostile", scenario_blk_hostile},
    {"blk-stress", scenario_blk_stress},
    {"mmio-hostile", scenario_mmio_hostile},
    {"vsock", scenario_vsock},
    {"vsock-listen", scenario_vsock_listen},
    {"vsock-connect", scenario_vsock_connect},
    {"vsock-bulk", scenario_vsock_bulk},
    {"vsock-hostile", scenario_vsock_hostile},
    {"vsock-multi", scenario_vsock_multi},
    {"vsock-abort", scenario_vsock_abort},
    {"restore-notice", scenario_restore_notice},
    {"blk-resize", scenario_blk_resize},
};

const struct scenario *scenario_find(const char *name, size_t len) {
  for (size_t i = 0; i < ARRAY_SIZE(table); i++)
    if (strlen(table[i].name) == len && strncmp(table[i].name, name, len) == 0) return &table[i];
  return 0;
}

const char *scenario_names(void) {
  return "hello counter timer serial-irq memory-map smp triple-fault bad-insn user-fault blk "
         "blk-ro blk-irq "
         "blk-bad-addr multi-disk blk-hostile blk-stress mmio-hostile vsock vsock-listen vsock-connect "
         "vsock-bulk vsock-hostile vsock-multi vsock-abort restore-notice blk-resize";
}

void scenario_hello(void) { uprintf("hello: Hello from the thaw test guest\n"); }

/* A CPL3 compute loop whose state is all in registers and memory: every
 * thaw.step iterations of a 64-bit LCG (Knuth's MMIX constants) it prints
 * the count and the LCG value, so a host can recompute the exact sequence
 * and a snapshot/restore test can check that a restored guest continues
 * where it stopped ("counter: 7 lcg=..." follows "counter: 6 lcg=...").
 * thaw.rounds=0 counts until the VM is stopped from outside. */
void scenario_counter(void) {
  uint64_t rounds = user_arg_u64("thaw.rounds", 5);
  uint64_t step = user_arg_u64("thaw.step", 1000000);
  uint64_t x = 1;
  for (uint64_t round = 1; rounds == 0 || round <= rounds; round++) {
    for (uint64_t i = 0; i < step; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    uprintf("counter: %lu lcg=%016lx\n", round, x);
  }
}

/* The local APIC timer interrupts CPL3 code: wait until ticks arrive. */
void scenario_timer(void) {
  uint64_t want = user_arg_u64("thaw.ticks", 3);
  struct irq_stats s;
  syscall4(SYS_irq_stats, (uint64_t)&s, 0, 0, 0);
  uint64_t start = s.timer_ticks;
  for (uint64_t spins = 0; s.timer_ticks - start < want; spins++) {
    if (spins > 4000000000ull) ufail("timer: no %lu APIC timer ticks while CPL3 spun", want);
    if ((spins & 0xfffff) == 0) syscall4(SYS_irq_stats, (uint64_t)&s, 0, 0, 0);
  }
  /* Ticks keep coming while we poll, so "at least" is what is exact. */
  uprintf("timer: at least %lu APIC timer interrupts at CPL3 (took %lu)\n", want,
          s.timer_ticks - start);
}

/* COM1's THR-empty interrupt (IRQ 4 through the IOAPIC): one line written
 * a byte per interrupt. */
void scenario_serial_irq(void) {
  static const char line[] = "serial-irq: this line was sent one byte per THR-empty interrupt\n";
  int64_t n = syscall4(SYS_write_irq, (uint64_t)line, sizeof line - 1, 0, 0);
  if (n < 0) ufail("serial-irq: no THR-empty interrupt on IRQ 4 within 1 s");
  if ((uint64_t)n < sizeof line - 1)
    ufail("serial-irq: %ld interrupts for %lu bytes", n, sizeof line - 1);
  uprintf("serial-irq: took %ld THR-empty interrupts on gsi 4 for %lu bytes\n", n, sizeof line - 1);
}

/* The e820 map thaw-vmm wrote into boot_params, printed, and every RAM
 * range proven real: its first and last 4 KiB page take a write and read
 * it back (CONTRACT.md: [0, 0x9fc00), [1 MiB, low end), [4 GiB, ...)). The
 * guest image and its stacks live in the second range, so only pages
 * outside [1 MiB, end of image) are written. */
void scenario_memory_map(void) {
  extern char guest_image_end[];
  struct e820_entry map[16];
  int64_t n = syscall4(SYS_e820, (uint64_t)map, ARRAY_SIZE(map), 0, 0);
  if (n <= 0) ufail("memory-map: boot_params holds %ld e820 entries", n);
  if ((uint64_t)n > ARRAY_SIZE(map)) ufail("memory-map: %ld e820 entries, this guest reads 16", n);
  for (int64_t i = 0; i < n; i++) {
    uint64_t start = map[i].addr, end = map[i].addr + map[i].size;
    uprintf("e820: %ld [0x%lx, 0x%lx) type %u\n", i, start, end, map[i].type);
    if (map[i].type != 1) continue;
    if (end > (8ull << 30))
      ufail("memory-map: RAM up to 0x%lx is past this guest's 8 GiB map", end);
    uint64_t pages[2] = {start, end - 4096};
    for (int k = 0; k < 2; k++) {
      uint64_t page = pages[k] & ~4095ull;
      if (page < 0x1000 || (page >= 0x100000 && page < (uint64_t)guest_image_end)) continue;
      volatile uint64_t *p = (volatile uint64_t *)page;
      uint64_t saved = *p, probe = page ^ 0x5a5a5a5a5a5a5a5aull;
      *p = probe;
      if (*p != probe) ufail("memory-map: RAM page 0x%lx does not keep a write", page);
      *p = saved;
    }
    uprintf("memory-map: RAM [0x%lx, 0x%lx) first and last page ok\n", start, end);
  }
}

/* Application processors: each is started with INIT-SIPI-SIPI, comes up
 * through the real-mode trampoline into long mode, and greets the boot CPU
 * with an IPI (vector 0x41) that must arrive. thaw.cpus = vCPUs to use. */
void scenario_smp(void) {
  uint64_t cpus = user_arg_u64("thaw.cpus", 2);
  if (cpus < 2 || cpus > 5) ufail("smp: thaw.cpus=%lu, want 2..5", cpus);
  for (uint32_t id = 1; id < cpus; id++) {
    int64_t r = syscall4(SYS_smp_start, id, 0, 0, 0);
    if (r != 1)
      ufail("smp: cpu %u did not come online within 2 s (thaw-vmm needs --vcpus %lu)", id, cpus);
    struct irq_stats s;
    uint64_t spins = 0;
    do syscall4(SYS_irq_stats, (uint64_t)&s, 0, 0, 0);
    while (s.ipis < id && ++spins < 100000);
    if (s.ipis < id) ufail("smp: no IPI from cpu %u (%lu IPIs taken)", id, s.ipis);
    uprintf("smp: cpu %u online, its IPI taken\n", id);
  }
  uprintf("smp: %lu cpus online\n", cpus);
}

void scenario_triple_fault(void) {
  uprintf("triple-fault: loading an empty IDT and raising #UD\n");
  syscall4(SYS_triple_fault, 0, 0, 0, 0);
  ufail("triple-fault: the guest survived a triple fault");
}

void scenario_bad_insn(void) {
  uprintf("bad-insn: executing FNCLEX at CPL0\n");
  syscall4(SYS_bad_insn, 0, 0, 0, 0);
  /* Only a CPU that runs CPL0 natively gets here (hardware KVM). */
  uprintf("bad-insn: FNCLEX ran natively\n");
}

/* A CPL3 fault reaches the guest kernel's IDT, which reports it precisely.
 * 512 GiB is past the guest's 8 GiB identity map (PML4 entry 1 absent). */
void scenario_user_fault(void) {
  uprintf("user-fault: reading unmapped address 0x8000000000 at CPL3\n");
  volatile uint64_t *p = (volatile uint64_t *)0x8000000000ull;
  (void)*p;
  ufail("user-fault: read of an unmapped address did not fault");
}
