#include "common/exec_report.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace thaw {

Result<ExecReport> ExecReport::create() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Error::from_errno("pipe for the child's exec status");
  return ExecReport(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

void ExecReport::fail(int child_fd, int step) {
  int msg[2] = {step, errno};
  [[maybe_unused]] ssize_t n = ::write(child_fd, msg, sizeof msg);
  ::_exit(127);
}

Result<void> ExecReport::wait_for_exec(pid_t pid, std::span<const char* const> steps,
                                       std::string_view what) {
  write_.reset();  // else the read below never sees EOF
  int msg[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(read_.get(), msg, sizeof msg);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof msg)) return Ok();  // EOF: execve succeeded
  ::waitpid(pid, nullptr, 0);
  // The child is our own code; a step out of range would be a bug in it.
  const char* step = msg[0] >= 0 && static_cast<size_t>(msg[0]) < steps.size()
                         ? steps[static_cast<size_t>(msg[0])]
                         : "an unknown start-up step";
  return Error::with_errno(msg[1], "{}: {}", what, step);
}

}  // namespace thaw
