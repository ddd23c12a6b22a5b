#include "runtime-api/runtime_process.h"

#include "runtime-api/runtime_seccomp.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstring>

#include "common/exec_report.h"

namespace thaw {
namespace {

// Indexed by the step exec_child reports through ExecReport::fail.
constexpr const char* kSpawnSteps[] = {"",       "redirect stdout/stderr", "chdir",
                                       "setgroups", "setgid",            "setuid",
                                       "no_new_privs", "execve", "seccomp filter"};

// Runs in the forked child: only async-signal-safe calls until execve.
[[noreturn]] void exec_child(const RuntimeSpawn& spec, int out_w, int err_w, int report_w,
                             char* const* argv, char* const* envp) {
  auto die = [report_w](int step) { ExecReport::fail(report_w, step); };
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
  ::setsid();
  // The runtime must not outlive thaw-init (it would be orphaned in the sandbox).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    ::dup2(devnull, 0);
  } else {
    ::close(0);
  }
  if (::dup2(out_w, 1) < 0 || ::dup2(err_w, 2) < 0) die(1);
  if (::chdir(spec.cwd.c_str()) < 0 && ::chdir("/") < 0) die(2);
  if (spec.uid != 0 || spec.gid != 0) {
    if (::setgroups(0, nullptr) < 0) die(3);
    if (::setresgid(spec.gid, spec.gid, spec.gid) < 0) die(4);
    if (::setresuid(spec.uid, spec.uid, spec.uid) < 0) die(5);
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) die(6);
  if (spec.seccomp) {
    if (int err = install_runtime_seccomp_filter(); err != 0) {
      errno = err;
      die(8);
    }
  }
  ::execve(spec.path.c_str(), argv, envp);
  die(7);
  ::_exit(127);  // die() never returns; this tells the compiler
}

}  // namespace

Result<RuntimeProcess> spawn_runtime(const RuntimeSpawn& spec) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) < 0) return Error::from_errno("pipe for runtime stdout");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) < 0) return Error::from_errno("pipe for runtime stderr");
  UniqueFd err_r(err[0]), err_w(err[1]);
  auto report = ExecReport::create();
  if (!report) return std::move(report).error();

  // Build argv/envp before fork: the child must not allocate.
  std::vector<char*> argv = {const_cast<char*>(spec.path.c_str()), nullptr};
  std::vector<char*> envp;
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork for the runtime");
  if (pid == 0) {
    exec_child(spec, out_w.get(), err_w.get(), report->child_fd(), argv.data(), envp.data());
  }
  out_w.reset();
  err_w.reset();
  auto started = report->wait_for_exec(
      pid, kSpawnSteps, fmt::format("starting runtime {} as uid {}", spec.path, spec.uid));
  if (!started) return std::move(started).error();
  for (int fd : {out_r.get(), err_r.get()}) ::fcntl(fd, F_SETFL, O_NONBLOCK);
  RuntimeProcess p;
  p.pid = pid;
  p.stdout_fd = std::move(out_r);
  p.stderr_fd = std::move(err_r);
  return p;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    // Go's wording, which Lambda's messages use: "signal: segmentation fault".
    std::string name = ::strsignal(WTERMSIG(status));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return "signal: " + name;
  }
  return fmt::format("wait status 0x{:x}", status);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace thaw
