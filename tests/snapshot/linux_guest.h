// The project's Linux guest (tools/build-guest.sh artefacts in
// THAW_GUEST_DIR) set up to count in a userspace shell loop: shared by the
// Linux snapshot test and the restore benchmark.
#pragma once

#include <optional>
#include <string>

#include "sandbox/vmm/vmm.h"

namespace thaw::snapshot::testing {

// A config that boots the guest kernel with its test initramfs plus an
// appended /init printing "tick N pid P" lines; the initramfs is written to
// `scratch_dir`. nullopt (with `why`) when THAW_GUEST_DIR names no built guest.
std::optional<sandbox::VmmConfig> counting_linux_guest(const std::string& scratch_dir,
                                                       std::string& why);

// The last "tick N" of `log`, 0 if none, -1 if a tick skips or repeats or
// the pid changes; `pid` is filled from the first tick.
int last_tick(const std::string& log, std::string& pid);

}  // namespace thaw::snapshot::testing
