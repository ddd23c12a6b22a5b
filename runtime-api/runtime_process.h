// Starts the function's runtime (its bootstrap) as thaw-init's child:
// stdout/stderr on pipes for log capture, an unprivileged user, no new
// privileges, cwd /var/task. Exec failures come back as precise errors.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace thaw {

struct RuntimeSpawn {
  std::string path;               // the bootstrap
  std::vector<std::string> env;   // NAME=value
  std::string cwd = "/var/task";
  uint32_t uid = 0;               // 0: stay root
  uint32_t gid = 0;
  bool seccomp = true;            // install_runtime_seccomp_filter() before exec
};

struct RuntimeProcess {
  pid_t pid = -1;
  UniqueFd stdout_fd;  // read ends, non-blocking
  UniqueFd stderr_fd;
};

Result<RuntimeProcess> spawn_runtime(const RuntimeSpawn& spec);

// Lambda's message for a runtime that ended: "exit status 1" or "signal: killed".
std::string describe_exit(int wait_status);
// The exit status reported in frames: the exit code, or 128 + signal.
int exit_code_of(int wait_status);

}  // namespace thaw
