/* CPL0 core of the test guest: builds its own page tables, GDT, TSS and
 * IDT, takes interrupts and exceptions, serves int $0x80 system calls, and
 * drops to CPL3 (user.c). The PVM host emulates CPL0 one instruction at a
 * time, so this file keeps to plain instructions and does little work. */
#include "kernel.h"

#include "apic.h"
#include "arch.h"
#include "devices.h"
#include "serial.h"
#include "smp.h"
#include "syscall_abi.h"

/* Linux boot protocol (Documentation/arch/x86/boot.rst): offsets in the
 * zero page of the command line pointer and its high half; thaw-vmm's
 * limit is 2048 bytes with the NUL (CONTRACT.md). */
enum { kCmdLinePtr = 0x228, kExtCmdLinePtr = 0x0c8, kCmdLineMax = 2048 };

enum {
  kKernelCs = 0x08,
  kKernelDs = 0x10,
  kUserDs = 0x18,
  kUserCs = 0x20,
  kTssSel = 0x28,
};

struct dtr {
  uint16_t limit;
  uint64_t base;
} __attribute__((packed));

struct tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} __attribute__((packed));

struct idt_gate {
  uint16_t offset_low, selector;
  uint8_t ist, type_attr;
  uint16_t offset_mid;
  uint32_t offset_high, reserved;
} __attribute__((packed));

extern char trap_stubs[];
extern char kernel_stack_top[];
void load_gdt(const struct dtr *gdtr, uint16_t tss_selector);
__attribute__((noreturn)) void enter_user(void (*entry)(void), void *stack, uint64_t rflags);
void user_main(void);

enum { kMappedGiB = 8 };
static uint64_t page_tables[2 + kMappedGiB][512] __attribute__((aligned(4096)));
static const uint8_t *zero_page;
static uint64_t gdt[7];
static struct tss tss;
static struct idt_gate idt[256];
static char cmdline[kCmdLineMax];
static uint8_t user_stack[65536] __attribute__((aligned(16)));

static struct {
  irq_handler fn;
  void *ctx;
} irq_handlers[24];
static volatile uint64_t ticks, device_irqs, last_gsi, last_vector, ipis;

void kprintf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, sizeof buf, fmt, ap);
  va_end(ap);
  serial_write(buf, n);
}

void triple_fault(void) {
  /* An IDT with limit 0 cannot deliver #UD, then not #DF: the CPU shuts
   * down (SDM vol. 3 §6.15, "Double Fault Exception"), KVM reports
   * KVM_EXIT_SHUTDOWN and thaw-vmm exits 3. */
  static const struct dtr empty = {0, 0};
  __asm__ volatile("lidt %0; ud2" : : "m"(empty));
  for (;;) cli();
}

void vm_exit_ok(void) {
  outb(0x64, 0xfe); /* i8042 "pulse reset line": thaw-vmm exits 0 */
  for (;;) sti_hlt();
}

void vm_fail(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, sizeof buf, fmt, ap);
  va_end(ap);
  serial_write("FAIL: ", 6);
  serial_write(buf, n);
  serial_write("\n", 1);
  triple_fault();
}

const char *kernel_cmdline(void) { return cmdline; }

static void read_cmdline(const uint8_t *boot_params) {
  uint64_t ptr = *(const uint32_t *)(boot_params + kCmdLinePtr) |
                 (uint64_t) * (const uint32_t *)(boot_params + kExtCmdLinePtr) << 32;
  if (!ptr) return;
  /* The identity map covers 4 GiB; a pointer past it would fault. */
  if (ptr >= (4ull << 30) - kCmdLineMax)
    vm_fail("boot_params cmd_line_ptr %lx is above 4 GiB", ptr);
  const char *src = (const char *)ptr;
  size_t n = 0;
  while (n + 1 < sizeof cmdline && src[n]) cmdline[n] = src[n], n++;
  cmdline[n] = 0;
}

/* Identity map of the low 8 GiB with 2 MiB pages (RAM above the MMIO gap
 * starts at 4 GiB, CONTRACT.md), user-accessible so CPL3
 * scenarios share buffers with the drivers; the device window from
 * 0xc0000000 is uncached (PCD|PWT). */
static void setup_paging(void) {
  uint64_t *pml4 = page_tables[0], *pdpt = page_tables[1];
  pml4[0] = (uint64_t)pdpt | 0x7;
  for (int g = 0; g < kMappedGiB; g++) {
    uint64_t *pd = page_tables[2 + g];
    pdpt[g] = (uint64_t)pd | 0x7;
    for (int i = 0; i < 512; i++) {
      uint64_t addr = ((uint64_t)g << 30) | ((uint64_t)i << 21);
      pd[i] = addr | 0x87 | (g == 3 ? 0x18 : 0);
    }
  }
  uint64_t cr4;
  __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
  cr4 &= ~((1ull << 20) | (1ull << 21)); /* no SMEP/SMAP: kernel touches user pages */
  __asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
  __asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)pml4) : "memory");
}

void load_idt(void) {
  struct dtr idtr = {sizeof idt - 1, (uint64_t)idt};
  __asm__ volatile("lidt %0" : : "m"(idtr));
}

void ap_boot_tables(uint8_t gdtr[10], uint64_t *cr3) {
  struct dtr d = {sizeof gdt - 1, (uint64_t)gdt};
  memcpy(gdtr, &d, sizeof d);
  *cr3 = (uint64_t)page_tables[0];
}

static void setup_descriptors(void) {
  gdt[1] = 0x00af9b000000ffffull; /* kernel code, 64-bit */
  gdt[2] = 0x00cf93000000ffffull; /* kernel data */
  gdt[3] = 0x00cff3000000ffffull; /* user data, DPL 3 */
  gdt[4] = 0x00affb000000ffffull; /* user code, 64-bit, DPL 3 */
  uint64_t base = (uint64_t)&tss, limit = sizeof tss - 1;
  gdt[5] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
           ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
  gdt[6] = base >> 32;
  tss.rsp[0] = (uint64_t)kernel_stack_top;
  tss.iomap_base = sizeof tss; /* no I/O bitmap: CPL3 port I/O faults */
  struct dtr gdtr = {sizeof gdt - 1, (uint64_t)gdt};
  load_gdt(&gdtr, kTssSel);

  for (int v = 0; v < 256; v++) {
    uint64_t handler = (uint64_t)trap_stubs + 16 * (uint64_t)v;
    /* Interrupt gates (IF cleared on entry); only int $0x80 is callable
     * from CPL3 (DPL 3). */
    idt[v] = (struct idt_gate){
        .offset_low = (uint16_t)handler,
        .selector = kKernelCs,
        .type_attr = (uint8_t)(v == kSyscallVector ? 0xee : 0x8e),
        .offset_mid = (uint16_t)(handler >> 16),
        .offset_high = (uint32_t)(handler >> 32),
    };
  }
  load_idt();
}

void irq_register(unsigned gsi, irq_handler fn, void *ctx) {
  if (gsi >= ARRAY_SIZE(irq_handlers)) vm_fail("GSI %u is beyond the IOAPIC's 24 pins", gsi);
  irq_handlers[gsi].fn = fn;
  irq_handlers[gsi].ctx = ctx;
  ioapic_route(gsi, (uint8_t)(kIrqVectorBase + gsi));
}

uint64_t timer_ticks(void) { return ticks; }
void wait_for_interrupt(void) { sti_hlt(); }

static const char *exception_name(uint64_t v) {
  static const char *const names[] = {"#DE divide error",
                                      "#DB debug",
                                      "NMI",
                                      "#BP breakpoint",
                                      "#OF overflow",
                                      "#BR bound range",
                                      "#UD invalid opcode",
                                      "#NM device not available",
                                      "#DF double fault",
                                      "coprocessor overrun",
                                      "#TS invalid TSS",
                                      "#NP segment not present",
                                      "#SS stack fault",
                                      "#GP general protection",
                                      "#PF page fault",
                                      "reserved",
                                      "#MF x87 error",
                                      "#AC alignment check",
                                      "#MC machine check",
                                      "#XM SIMD error",
                                      "#VE virtualization",
                                      "#CP control protection"};
  return v < ARRAY_SIZE(names) ? names[v] : "reserved exception";
}

static int64_t system_call(struct trap_frame *f) {
  switch (f->rax) {
    case SYS_write: {
      if (f->rsi > 4096) return -E_INVAL; /* one line, not a memory dump */
      serial_write((const char *)f->rdi, f->rsi);
      return (int64_t)f->rsi;
    }
    case SYS_write_irq: {
      if (f->rsi > 4096) return -E_INVAL;
      int64_t n = serial_write_irq((const char *)f->rdi, f->rsi, 100);
      return n < 0 ? -E_TIMEDOUT : n;
    }
    case SYS_exit:
      if (f->rdi) vm_exit_ok();
      kprintf("thaw-test-guest: scenario failed, ending the VM by triple fault\n");
      triple_fault();
    case SYS_cmdline: {
      size_t n = strlen(cmdline);
      if (f->rsi == 0) return -E_INVAL;
      if (n >= f->rsi) n = f->rsi - 1;
      memcpy((void *)f->rdi, cmdline, n);
      ((char *)f->rdi)[n] = 0;
      return (int64_t)n;
    }
    case SYS_e820: {
      /* struct boot_params: e820_entries (u8) at 0x1e8, e820_table at 0x2d0,
       * 128 entries of 20 bytes (arch/x86/include/uapi/asm/bootparam.h). */
      uint64_t n = zero_page[0x1e8];
      if (n > 128) return -E_INVAL;
      if (n > f->rsi) n = f->rsi;
      struct e820_entry *out = (struct e820_entry *)f->rdi;
      for (uint64_t i = 0; i < n; i++) memcpy(&out[i], zero_page + 0x2d0 + 20 * i, 20);
      return (int64_t)zero_page[0x1e8];
    }
    case SYS_irq_stats: {
      struct irq_stats *s = (struct irq_stats *)f->rdi;
      s->timer_ticks = ticks;
      s->device_irqs = device_irqs;
      s->last_gsi = last_gsi;
      s->last_vector = last_vector;
      s->ipis = ipis;
      return 0;
    }
    case SYS_smp_start:
      return smp_start_cpu((uint32_t)f->rdi);
    case SYS_hold:
      for (;;) sti_hlt();
    case SYS_triple_fault:
      triple_fault();
    case SYS_bad_insn:
      /* FNCLEX: absent from the PVM CPL0 emulator (ENVIRONMENT.md), so the
       * host reports an emulation failure. On hardware KVM it simply runs. */
      __asm__ volatile("fnclex");
      return 0;
    default:
      return device_syscall(f->rax, f->rdi, f->rsi, f->rdx, f->r10);
  }
}

static bool is_int80(const uint8_t *ip) { return ip[0] == 0xcd && ip[1] == 0x80; }

void trap(struct trap_frame *f) {
  uint64_t v = f->vector;
  if (v == 6 && (f->cs & 3) == 3 && is_int80((const uint8_t *)f->rip)) {
    /* PVM delivers a CPL3 "int $0x80" as #UD with RIP at the instruction
     * (measured, see README.md); on hardware KVM it arrives through
     * the DPL-3 gate below. Both end up here with the same frame. */
    f->rip += 2;
    f->rax = (uint64_t)system_call(f);
  } else if (v == kSyscallVector) {
    f->rax = (uint64_t)system_call(f);
  } else if (v == kIpiVector) {
    ipis++;
    apic_eoi();
  } else if (v == kTimerVector) {
    ticks++;
    apic_eoi();
  } else if (v >= kIrqVectorBase && v < kIrqVectorBase + ARRAY_SIZE(irq_handlers)) {
    unsigned gsi = (unsigned)(v - kIrqVectorBase);
    device_irqs++;
    last_gsi = gsi;
    last_vector = v;
    if (irq_handlers[gsi].fn) irq_handlers[gsi].fn(irq_handlers[gsi].ctx);
    apic_eoi();
  } else if (v == kSpuriousVector) {
    /* Spurious interrupts take no EOI (SDM vol. 3 §11.9). */
  } else if (v < 32) {
    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    vm_fail("%s (vector %lu) at CPL%lu rip %lx error %lx cr2 %lx rsp %lx", exception_name(v), v,
            f->cs & 3, f->rip, f->error, cr2, f->rsp);
  } else {
    vm_fail("unexpected interrupt vector %lu at rip %lx", v, f->rip);
  }
}

void kernel_main(const uint8_t *boot_params) {
  zero_page = boot_params;
  serial_init();
  read_cmdline(boot_params);
  kprintf("thaw-test-guest: boot, cmdline \"%s\"\n", cmdline);
  setup_paging();
  setup_descriptors();
  apic_init(kTimerVector);
  kprintf("kernel: gdt, idt, tss, paging, apic ready\n");
  devices_init();
  /* IF=1 at CPL3: timer and device interrupts preempt user code. */
  enter_user(user_main, user_stack + sizeof user_stack, 0x202);
}
