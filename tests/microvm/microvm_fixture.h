// Everything a MicrovmSandbox needs on this host for the Linux-guest tests
// and perf/microvm: the cached guest kernel (THAW_GUEST_DIR), the thaw-init
// initramfs, the minimal `provided` root image and a code image holding a
// static test bootstrap, each built once into a scratch directory.
#pragma once

#include <optional>
#include <string>

#include "runtime-api/messages.h"
#include "sandbox/microvm/microvm_sandbox.h"
#include "sandbox/microvm/snap_start.h"

namespace thaw::testing {

// Options for a sandbox running the static bootstrap named by
// THAW_MICROVM_BOOTSTRAP, with images written under `scratch`. nullopt,
// with `why`, when the host cannot run one (no /dev/kvm, no cached guest
// kernel, a missing or dynamic binary): the caller skips with that reason.
std::optional<MicrovmSandboxOptions> microvm_options(const std::string& scratch, std::string& why);

// The InitConfig of the `provided` test function.
InitConfig provided_init_config(uint32_t memory_mb = 128);

// Sends an invocation with `event` and returns the response body.
Result<std::string> invoke(Sandbox& sandbox, const std::string& request_id,
                           const std::string& event, int timeout_ms);

}  // namespace thaw::testing
