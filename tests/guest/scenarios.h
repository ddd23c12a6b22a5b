/* The scenario table of the test guest: thaw.test=<name> picks one. Each
 * scenario prints one line per step and calls ufail() on the first problem;
 * returning means success. */
#pragma once

#include <stddef.h>

struct scenario {
  const char *name;
  void (*run)(void);
};

const struct scenario *scenario_find(const char *name, size_t len);
const char *scenario_names(void);

void scenario_hello(void);
void scenario_counter(void);
void scenario_timer(void);
void scenario_serial_irq(void);
void scenario_memory_map(void);
void scenario_smp(void);
void scenario_triple_fault(void);
void scenario_bad_insn(void);
void scenario_user_fault(void);
void scenario_blk(void);
void scenario_blk_ro(void);
void scenario_blk_irq(void);
void scenario_blk_bad_addr(void);
void scenario_multi_disk(void);
void scenario_blk_hostile(void);
void scenario_blk_stress(void);
void scenario_mmio_hostile(void);
void scenario_vsock(void);
void scenario_vsock_listen(void);
void scenario_vsock_connect(void);
void scenario_vsock_bulk(void);
void scenario_vsock_hostile(void);
void scenario_vsock_multi(void);
void scenario_vsock_abort(void);
void scenario_restore_notice(void);
void scenario_blk_resize(void);
