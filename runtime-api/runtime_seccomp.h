// The extra seccomp filter thaw-init puts on the function's runtime only
// (thaw-init itself needs io_uring): no io_uring, whose operations run
// without passing seccomp, and no foreign-ABI system calls (i386 int 0x80,
// x32) that a syscall-number filter would misread.
#pragma once

namespace thaw {

// Installs the filter on the calling thread and its future children.
// Async-signal-safe (runs between fork and execve); returns 0 or an errno.
int install_runtime_seccomp_filter();

}  // namespace thaw
