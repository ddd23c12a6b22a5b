// How a forked child tells its parent which start-up step failed before
// execve: used by the process sandbox (clone3 of thaw-init) and by thaw-init
// itself (fork of the function's runtime).
#pragma once

#include <sys/types.h>

#include <span>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

// A close-on-exec pipe: a child that reaches execve closes it silently (the
// parent reads EOF); a child that fails first writes {step, errno} and exits.
class ExecReport {
 public:
  static Result<ExecReport> create();

  // The write end, for the child to pass to fail().
  int child_fd() const { return write_.get(); }

  // Child side, async-signal-safe: reports `step` with the current errno and
  // _exit(127)s. `step` indexes the `steps` the parent passes to wait_for_exec.
  [[noreturn]] static void fail(int child_fd, int step);

  // Parent side, right after fork/clone: closes the write end and waits for
  // the child's execve or its report. On a report, reaps `pid` and returns
  // "<what>: <steps[step]>" carrying the child's errno.
  Result<void> wait_for_exec(pid_t pid, std::span<const char* const> steps,
                             std::string_view what);

 private:
  ExecReport(UniqueFd read, UniqueFd write) : read_(std::move(read)), write_(std::move(write)) {}
  UniqueFd read_, write_;
};

}  // namespace thaw
