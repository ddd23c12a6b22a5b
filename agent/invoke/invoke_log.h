// Lambda's per-invocation log lines and where they go: the REPORT line
// format, request ids, the error body shape, and InvokeLog, which appends
// each invocation's START..REPORT text to <state>/logs/<function>.log (and
// the journal under systemd). Used by the SandboxPool on the loop thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace thaw::agent {

// "REPORT RequestId: ... Duration: ..." as Lambda writes it (tabs between
// fields, billed rounded up to 1 ms); init_ms < 0 leaves Init Duration out;
// restore_ms >= 0 (SnapStart) writes Restore Duration and Billed Restore
// Duration instead of Init Duration.
std::string report_line(const std::string& request_id, double duration_ms, uint32_t memory_mb,
                        uint64_t max_memory_mb, double init_ms, double restore_ms = -1);
// RFC 4122 version 4, like Lambda's request ids.
std::string new_request_id();
// {"errorMessage": ..., "errorType": ...}: the body of a failed invocation.
std::string error_json(std::string_view type, std::string_view message);
// The errorType of such a body, or "Runtime.Unknown".
std::string error_type_of(std::string_view body);

class InvokeLog {
 public:
  InvokeLog(std::string logs_dir, bool journal);
  // Appends `text` (whole lines) to the function's log; never fails an
  // invocation (a log that cannot be written is skipped).
  void append(const std::string& function, std::string_view text, const std::string& request_id);
  // Closes the cached descriptor of a deleted function's log.
  void forget(const std::string& function);

 private:
  std::string logs_dir_;
  bool journal_;
  std::map<std::string, UniqueFd, std::less<>> fds_;  // one open log per function
};

}  // namespace thaw::agent
