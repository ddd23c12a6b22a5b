// One thaw-vmm child process as MicrovmSandbox runs it: spawned with its
// console and its own messages in log files, killed with its process group,
// reaped without blocking, and driven through its control socket (JSON
// lines, sandbox/vmm/control_protocol.h).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "common/result.h"

namespace thaw {

class VmmProcess {
 public:
  VmmProcess() = default;
  VmmProcess(VmmProcess&& other) noexcept;
  VmmProcess& operator=(VmmProcess&& other) noexcept;
  ~VmmProcess();  // kills and reaps a child still running

  // Starts `argv[0]` with `argv`; stdout and stderr go to `log_path`. The
  // child dies with the parent (PR_SET_PDEATHSIG) and leads its own
  // process group. Fails with the step that failed before execve.
  static Result<VmmProcess> spawn(const std::vector<std::string>& argv, const std::string& log_path);

  pid_t pid() const { return pid_; }
  bool running() { return pid_ > 0 && !exit_status(); }
  // The wait status once it ended (non-blocking).
  std::optional<int> exit_status();
  // SIGKILL and reap; idempotent.
  void kill();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// "exit 3", "killed by signal 9": for errors about a wait status.
std::string describe_wait_status(int status);

// Sends one JSON request line to the control socket at `api_sock` and
// returns the reply object; {"ok":false,"error":E} becomes an error naming
// `op` and E. Waits at most timeout_ms for the reply.
Result<boost::json::object> vmm_control(const std::string& api_sock, const boost::json::object& request,
                                        int timeout_ms);

// The last `max_bytes` of a log file (for error messages), "" when unreadable.
std::string log_tail(const std::string& path, size_t max_bytes = 2000);

}  // namespace thaw
