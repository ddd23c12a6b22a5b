/* CPL0 device layer of the test guest: finds the virtio-mmio devices
 * thaw-vmm placed at 0xd0000000 + i*0x1000 (GSI 5+i, CONTRACT.md), starts
 * their drivers, and serves the device system calls (syscall_abi.h). */
#pragma once

#include <stdint.h>

void devices_init(void);
int64_t device_syscall(uint64_t nr, uint64_t a, uint64_t b, uint64_t c, uint64_t d);
