// Test support for the thaw-vmm integration tests: starts the real thaw-vmm
// binary on the test guest in a private temporary directory (serial log,
// stderr, disks, vsock sockets), waits for it with a deadline, and kills it
// if the test ends first. Used only by thaw_vmm_guest_test.cc.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace thaw::testguest {

// Paths the meson test() passes in the environment: THAW_VMM (thaw-vmm) and
// THAW_TEST_GUEST (the guest ELF).
struct TestBinaries {
  std::string vmm;
  std::string guest;
};
Result<TestBinaries> binaries_from_env();

// A directory under $TMPDIR (or /tmp) removed with its contents on destruction.
class TempDir {
 public:
  static Result<TempDir> create();
  TempDir(TempDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  explicit TempDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

struct VmmExit {
  int exit_code = -1;  // valid when signal == 0
  int signal = 0;      // signal that ended thaw-vmm, 0 when it exited
  std::string serial;  // the guest's COM1 output
  std::string stderr_text;
};

// One running thaw-vmm. The destructor SIGKILLs and reaps a VMM still alive,
// so a failed assertion never leaks a VM.
class VmmProcess {
 public:
  // Runs `vmm` with `args`, serial output to `serial_path`, stdout and
  // stderr to `stderr_path`.
  static Result<VmmProcess> start(const std::string& vmm, const std::vector<std::string>& args,
                                  const std::string& serial_path, const std::string& stderr_path);
  VmmProcess(VmmProcess&& other) noexcept;
  VmmProcess& operator=(VmmProcess&&) = delete;
  ~VmmProcess();

  // Waits for exit; past `timeout` the VMM is killed and an error names the
  // deadline and what the guest printed so far.
  Result<VmmExit> wait(std::chrono::milliseconds timeout);
  // Polls the serial log until it contains `text`; error on timeout or when
  // the VMM exits first.
  Result<void> wait_for_serial(const std::string& text, std::chrono::milliseconds timeout);
  std::string serial() const;

 private:
  VmmProcess(pid_t pid, std::string serial_path, std::string stderr_path)
      : pid_(pid), serial_path_(std::move(serial_path)), stderr_path_(std::move(stderr_path)) {}
  pid_t pid_ = -1;
  std::string serial_path_, stderr_path_;
  bool exited_ = false;
  int status_ = 0;
};

// Starts thaw-vmm on the test guest with `cmdline` plus `extra` options in
// `dir`, waits up to `timeout` and returns what happened.
Result<VmmExit> run_guest(const TestBinaries& bin, const TempDir& dir, const std::string& cmdline,
                          const std::vector<std::string>& extra,
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));
std::vector<std::string> guest_args(const TestBinaries& bin, const std::string& cmdline,
                                    const std::vector<std::string>& extra);

}  // namespace thaw::testguest
