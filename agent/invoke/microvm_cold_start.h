// thawd's cold start on the microvm backend (thawd --backend microvm): the
// function's images as microVM disks and SnapStart (sandbox/microvm) doing
// boot + Init + function snapshot on a version's first cold start and a
// restore on every later one. cold_start() branches here when
// PoolSettings::microvm is set; service.cc builds the backend at start.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "agent/invoke/cold_start.h"
#include "sandbox/microvm/snap_start.h"

namespace thaw::agent {

struct MicrovmBackendOptions {
  std::string vmm_path;   // thaw-vmm
  std::string guest_dir;  // tools/build-guest.sh output: vmlinux, cmdline, cpu-model
  std::string init_path;  // thaw-init (static): becomes the initramfs's /init
  std::string state_dir;  // <state>: guest/ (initramfs, provided root), snapshots/, run/
  // Runtime -> EROFS root image; `provided` gets a minimal one when absent.
  std::map<std::string, std::string> runtime_images;
};

class MicrovmBackend {
 public:
  // Checks the guest files and makes the initramfs and the `provided`
  // root image (cached under <state>/guest). Errors name the file and fix.
  static Result<std::shared_ptr<MicrovmBackend>> create(const MicrovmBackendOptions& options);

  SnapStart& snap_start() { return *snap_start_; }
  // The Init phase's limit in a guest: the pool's (Lambda's 10 s), except on
  // PVM hosts, where guest kernel code is emulated (mounts and the runtime's
  // fork+exec take 5-20 s): 120 s there.
  uint32_t init_timeout_ms(uint32_t pool_limit_ms) const;
  // The root image for `runtime`, or an error naming --runtime-image.
  Result<std::string> root_image(const std::string& runtime) const;

 private:
  std::unique_ptr<SnapStart> snap_start_;
  std::map<std::string, std::string> root_images_;
  bool emulated_guest_kernel_ = false;  // cpu-model pvm
};

// Blocking (a cold-start worker). As cold_start(): a ServiceException when
// the host failed; a ColdStart without a sandbox when Init failed.
ApiResult<ColdStart> microvm_cold_start(MicrovmBackend& backend, const PoolSettings& settings,
                                        FunctionRegistry& registry, const FunctionConfig& config,
                                        const InitConfig& init);

}  // namespace thaw::agent
