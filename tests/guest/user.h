/* CPL3 side of the test guest: system-call wrappers and output helpers
 * used by the scenarios (scenario_*.c). */
#pragma once

#include "lib.h"
#include "syscall_abi.h"

void uprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "FAIL: <reason>" and ends the VM with a failure (thaw-vmm exit 3). */
__attribute__((noreturn)) void ufail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Value of "key=" on the guest command line, or NULL. */
const char *user_arg(const char *key, size_t *len);
uint64_t user_arg_u64(const char *key, uint64_t fallback);
