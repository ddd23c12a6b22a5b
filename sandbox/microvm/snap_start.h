// SnapStart for the microvm backend: the first cold start of a function
// version boots the guest, runs Init and saves a function snapshot; later
// cold starts restore it in a fresh thaw-vmm and send a restore notice
// (fresh entropy, the wall clock) before any invocation. Snapshots live
// under <snapshots_dir>/<function>/<version>-<key>/, where the key hashes
// everything the post-Init memory depends on (init config, images, kernel,
// initramfs, CPU model). Used by thawd's cold start (agent/invoke) and
// perf/microvm.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sandbox/microvm/microvm_sandbox.h"

namespace thaw {

// The host's guest artefacts, shared by every microVM sandbox.
struct MicrovmGuest {
  std::string vmm_path;
  std::string kernel_path;
  std::string initramfs_path;
  std::string cmdline;
  std::string cpu_model;  // empty: thaw-vmm's default for the host
  std::string work_dir;   // per-sandbox directories (sockets, logs)
  int boot_timeout_ms = 300000;
};

// One function version's disks.
struct FunctionImages {
  std::string root_image;  // the runtime's EROFS image
  std::string code_image;
  std::vector<std::string> layer_images;
  uint64_t tmp_size_mb = 512;
};

struct MicrovmColdStart {
  std::unique_ptr<MicrovmSandbox> sandbox;  // ready for invocations; null: see init_error
  bool restored = false;
  double create_ms = 0;    // thaw-vmm start until thaw-init took the channel (boot or restore)
  double init_ms = 0;      // fresh boot: InitConfig sent -> runtime at /next (kReady)
  double restore_ms = 0;   // restore: thaw-vmm start -> kRestoreDone (REPORT's Restore Duration)
  double snapshot_ms = 0;  // fresh boot: the function snapshot taken after Init
  std::string init_log;    // runtime output during Init, plus thawd's notes
  std::string init_error;  // Lambda error body when the Init phase failed
};

// The next frame that is not a log chunk or metrics (log text is appended
// to `log`); an error when the channel broke or nothing came in timeout_ms.
Result<Frame> next_frame(Sandbox& sandbox, int timeout_ms, std::string* log = nullptr);
// next_frame() that must be of type `want`; another type is an error
// naming it and its error body.
Result<Frame> await_frame(Sandbox& sandbox, FrameType want, int timeout_ms,
                          std::string* log = nullptr);

// A restore notice with 64 bytes of host entropy and the host's wall clock.
RestoreNotice fresh_restore_notice();

class SnapStart {
 public:
  SnapStart(MicrovmGuest guest, std::string snapshots_dir);

  // Blocking (a worker thread). An error when the host side failed; a
  // MicrovmColdStart without a sandbox when the function's Init failed.
  Result<MicrovmColdStart> cold_start(const std::string& function, const std::string& version,
                                      const InitConfig& init, const FunctionImages& images,
                                      int init_timeout_ms);

  // Where this function version's snapshot lives (whether or not it exists).
  Result<std::string> snapshot_dir(const std::string& function, const std::string& version,
                                   const InitConfig& init, const FunctionImages& images) const;

  MicrovmSandboxOptions sandbox_options(const FunctionImages& images) const;

 private:
  std::shared_ptr<std::mutex> lock_for(const std::string& dir);
  Result<MicrovmColdStart> boot(const std::string& dir, const InitConfig& init,
                                const FunctionImages& images, int init_timeout_ms);

  MicrovmGuest guest_;
  std::string snapshots_dir_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<std::mutex>> locks_;  // one per snapshot dir
};

}  // namespace thaw
