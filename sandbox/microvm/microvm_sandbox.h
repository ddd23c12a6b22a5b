// The `microvm` isolation backend: one thaw-vmm process per sandbox, booting
// the guest kernel with thaw-init as /init (or restoring a snapshot of one),
// the runtime image, code and layers as read-only virtio-blk EROFS disks,
// and frames to thaw-init over hybrid vsock (port kThawChannelVsockPort).
// thawd (--backend microvm), tests/microvm and perf/microvm use it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "sandbox/frame_socket.h"
#include "sandbox/microvm/vmm_process.h"
#include "sandbox/sandbox.h"

namespace thaw {

struct MicrovmSandboxOptions {
  std::string vmm_path;        // thaw-vmm
  std::string kernel_path;     // guest vmlinux/bzImage (tools/build-guest.sh)
  std::string initramfs_path;  // write_thaw_init_initramfs() output
  std::string cmdline;         // the guest dir's `cmdline` (thaw-vmm adds the devices)
  std::string cpu_model;       // "pvm" or "standard"; empty: thaw-vmm's default for the host
  std::string root_image;      // runtime EROFS image: "/" (lower) -> /dev/vda
  std::string code_image;      // code EROFS image: /var/task -> /dev/vdb
  std::vector<std::string> layer_images;  // /opt, in order (later wins) -> /dev/vdc...
  uint64_t tmp_size_mb = 512;
  std::string work_dir = "/tmp";  // per-sandbox directory: sockets and logs
  // Boot until thaw-init listens on vsock. Hardware KVM: well under a
  // second; PVM hosts emulate guest kernel code (20-80 s).
  int boot_timeout_ms = 300000;
  int restore_timeout_ms = 10000;  // restore until thaw-init confirmed the notice
  bool prefetch = true;            // restore: prefetch the recorded working set
};

// Host-side phase ends of the last start() or restore(), measured from the
// call (steady clock): for the agent's metrics and perf/microvm.
struct MicrovmPhases {
  std::chrono::nanoseconds spawned{0};    // thaw-vmm exec'ed
  std::chrono::nanoseconds connected{0};  // vsock CONNECT answered by thaw-init
  std::chrono::nanoseconds first_frame_sent{0};  // InitConfig / RestoreNotice written
  std::chrono::nanoseconds restore_done{0};      // restore: kRestoreDone received
  int connect_attempts = 0;  // restore: channels until one outlived the vsock reset
};

class MicrovmSandbox : public Sandbox {
 public:
  explicit MicrovmSandbox(MicrovmSandboxOptions options);
  ~MicrovmSandbox() override;

  std::string_view backend() const override { return "microvm"; }
  Result<void> start(const InitConfig& config) override;
  // Restores in a fresh thaw-vmm and returns once thaw-init confirmed the
  // notice (kRestoreDone): the sandbox is then ready for invocations.
  Result<void> restore(const std::string& snapshot_dir, const RestoreNotice& notice) override;
  // Saves the VM (thaw-init parked at /next, or in restore/next for
  // snap-start runtimes) into `snapshot_dir`, then resumes it: the sandbox
  // stays usable.
  Result<void> snapshot(const std::string& snapshot_dir) override;
  Result<void> send(const Frame& frame) override;
  Result<std::optional<Frame>> receive(int timeout_ms) override;
  int channel_fd() const override { return channel_.fd(); }
  Result<SandboxStats> stats() override;
  Result<void> kill() override;
  std::optional<int> exit_status() override;

  const MicrovmPhases& phases() const { return phases_; }
  // Where the guest console and thaw-vmm's messages go (for diagnostics).
  std::string console_log() const { return dir_ + "/console.log"; }
  std::string vmm_log() const { return dir_ + "/vmm.log"; }
  // Runtime output that arrived during restore() (before kRestoreDone).
  const std::string& restore_log() const { return restore_log_; }

  // The thaw-init mounts of a microVM: root, code and layers on /dev/vdX.
  static std::vector<MountSpec> guest_mounts(const MicrovmSandboxOptions& o);
  // Lambda: one vCPU per 1769 MB of memory, rounded up.
  static uint32_t vcpus_for(uint32_t memory_mb);

 private:
  Result<void> make_dir();
  std::vector<std::string> device_args() const;
  Result<void> launch(std::vector<std::string> argv);
  Result<void> connect_channel(int timeout_ms);
  Error with_logs(Error e) const;

  MicrovmSandboxOptions options_;
  std::string dir_;  // work_dir/vm-<pid>-<n>
  uint32_t memory_mb_ = 0;
  VmmProcess vmm_;
  FrameSocket channel_;
  MicrovmPhases phases_;
  std::string restore_log_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace thaw
