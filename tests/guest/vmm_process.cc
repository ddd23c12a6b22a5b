// Spawning and supervising thaw-vmm for the integration tests.
#include "tests/guest/vmm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

#include "common/file_util.h"

extern char** environ;

namespace thaw::testguest {

namespace {

std::string read_text(const std::string& path) {
  auto bytes = read_file(path, 16 << 20);
  if (!bytes.ok()) return {};
  return std::string(bytes->begin(), bytes->end());
}

}  // namespace

Result<TestBinaries> binaries_from_env() {
  const char* vmm = std::getenv("THAW_VMM");
  const char* guest = std::getenv("THAW_TEST_GUEST");
  if (!vmm || !*vmm || !guest || !*guest)
    return Error::format(
        "THAW_VMM and THAW_TEST_GUEST are not set; run this test through `meson test` "
        "(tests/guest/meson.build passes the thaw-vmm and guest paths)");
  for (const char* p : {vmm, guest})
    if (::access(p, R_OK) != 0) return Error::from_errno("{} is not readable; build it first", p);
  return TestBinaries{vmm, guest};
}

Result<TempDir> TempDir::create() {
  const char* base = std::getenv("TMPDIR");
  // Unix socket paths are limited to 108 bytes, so keep the prefix short.
  std::string templ =
      std::string(base && *base && std::strlen(base) < 40 ? base : "/tmp") + "/thaw-guest-XXXXXX";
  if (!::mkdtemp(templ.data())) return Error::from_errno("mkdtemp {}", templ);
  return TempDir(templ);
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Result<VmmProcess> VmmProcess::start(const std::string& vmm, const std::vector<std::string>& args,
                                     const std::string& serial_path,
                                     const std::string& stderr_path) {
  std::vector<std::string> full = {vmm};
  full.insert(full.end(), args.begin(), args.end());
  full.push_back("--serial");
  full.push_back(serial_path);
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  // No O_CLOEXEC: this open happens in the child and fd 1 must survive the
  // exec (spdlog writes thaw-vmm's log lines to stdout).
  posix_spawn_file_actions_addopen(&actions, 1, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  int err = posix_spawn(&pid, vmm.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return Error::with_errno(err, "spawning {}", vmm);
  return VmmProcess(pid, serial_path, stderr_path);
}

VmmProcess::VmmProcess(VmmProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      serial_path_(std::move(other.serial_path_)),
      stderr_path_(std::move(other.stderr_path_)),
      exited_(other.exited_),
      status_(other.status_) {}

VmmProcess::~VmmProcess() {
  if (pid_ > 0 && !exited_) {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

std::string VmmProcess::serial() const { return read_text(serial_path_); }

Result<VmmExit> VmmProcess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exited_) {
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r < 0 && errno != EINTR) return Error::from_errno("waitpid thaw-vmm {}", pid_);
    if (r == pid_) {
      exited_ = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      exited_ = true;
      return Error::format(
          "thaw-vmm did not exit within {} ms (killed); serial so far:\n{}\nstderr:\n{}",
          timeout.count(), serial(), read_text(stderr_path_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  VmmExit out;
  if (WIFEXITED(status_)) out.exit_code = WEXITSTATUS(status_);
  if (WIFSIGNALED(status_)) out.signal = WTERMSIG(status_);
  out.serial = serial();
  out.stderr_text = read_text(stderr_path_);
  return out;
}

Result<void> VmmProcess::wait_for_serial(const std::string& text,
                                         std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (serial().find(text) != std::string::npos) return Ok();
    if (!exited_ && ::waitpid(pid_, &status_, WNOHANG) == pid_) exited_ = true;
    if (exited_)
      return Error::format(
          "thaw-vmm exited before the guest printed \"{}\"; serial:\n{}\nstderr:\n{}", text,
          serial(), read_text(stderr_path_));
    if (std::chrono::steady_clock::now() >= deadline)
      return Error::format("guest did not print \"{}\" within {} ms; serial so far:\n{}", text,
                           timeout.count(), serial());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::vector<std::string> guest_args(const TestBinaries& bin, const std::string& cmdline,
                                    const std::vector<std::string>& extra) {
  // One vCPU is thaw-vmm's default; 64 MiB of RAM unless the test says.
  std::vector<std::string> args = {"--kernel", bin.guest, "--cmdline", cmdline};
  if (std::find(extra.begin(), extra.end(), "--mem") == extra.end()) {
    args.push_back("--mem");
    args.push_back("64");
  }
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

Result<VmmExit> run_guest(const TestBinaries& bin, const TempDir& dir, const std::string& cmdline,
                          const std::vector<std::string>& extra,
                          std::chrono::milliseconds timeout) {
  auto vmm = VmmProcess::start(bin.vmm, guest_args(bin, cmdline, extra), dir.file("serial.log"),
                               dir.file("stderr.log"));
  if (!vmm.ok()) return std::move(vmm).error();
  return vmm->wait(timeout);
}

}  // namespace thaw::testguest
