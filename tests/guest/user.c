/* CPL3 entry of the test guest: picks the scenario named by thaw.test= on
 * the command line and runs it. Scenarios run natively at CPL3 under PVM;
 * they reach devices only through int $0x80 (syscall_abi.h). */
#include "user.h"

#include "scenarios.h"

static char cmdline[2048];

void uprintf(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, sizeof buf, fmt, ap);
  va_end(ap);
  syscall4(SYS_write, (uint64_t)buf, n, 0, 0);
}

void ufail(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(buf, sizeof buf, fmt, ap);
  va_end(ap);
  syscall4(SYS_write, (uint64_t) "FAIL: ", 6, 0, 0);
  syscall4(SYS_write, (uint64_t)buf, n, 0, 0);
  syscall4(SYS_write, (uint64_t) "\n", 1, 0, 0);
  syscall4(SYS_exit, 0, 0, 0, 0);
  __builtin_unreachable();
}

const char *user_arg(const char *key, size_t *len) {
  size_t klen = strlen(key);
  for (const char *p = cmdline; *p;) {
    while (*p == ' ') p++;
    const char *end = p;
    while (*end && *end != ' ') end++;
    if ((size_t)(end - p) > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
      *len = (size_t)(end - p) - klen - 1;
      return p + klen + 1;
    }
    p = end;
  }
  return 0;
}

uint64_t user_arg_u64(const char *key, uint64_t fallback) {
  size_t len;
  const char *v = user_arg(key, &len);
  uint64_t out;
  if (!v) return fallback;
  if (!parse_u64(v, len, &out)) ufail("%s= wants a decimal number", key);
  return out;
}

void user_main(void) {
  syscall4(SYS_cmdline, (uint64_t)cmdline, sizeof cmdline, 0, 0);
  size_t len;
  const char *name = user_arg("thaw.test", &len);
  if (!name)
    ufail("no scenario: add thaw.test=<name> to the command line (names: %s)", scenario_names());
  const struct scenario *s = scenario_find(name, len);
  if (!s) ufail("unknown scenario \"%.*s\" (names: %s)", (int)len, name, scenario_names());
  uprintf("user: running scenario %s at CPL3\n", s->name);
  s->run();
  struct irq_stats irq;
  syscall4(SYS_irq_stats, (uint64_t)&irq, 0, 0, 0);
  uprintf("thaw-test-guest: done %s ok (timer ticks %lu, device interrupts %lu)\n", s->name,
          irq.timer_ticks, irq.device_irqs);
  /* thaw.hold=1 keeps the finished VM alive (idle in hlt) so a host test
   * can read thaw-vmm's stats before stopping it. */
  if (user_arg_u64("thaw.hold", 0)) {
    uprintf("thaw-test-guest: holding until the host stops the VM\n");
    syscall4(SYS_hold, 0, 0, 0, 0);
  }
  syscall4(SYS_exit, 1, 0, 0, 0);
}
