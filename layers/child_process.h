// Runs a helper program (mkfs.erofs) as a child: clean argv and environment,
// no shell, stdin from /dev/null, stdout+stderr captured (bounded) so a
// failure can be reported with the tool's own words, and a deadline after
// which the child is killed. Used by the EROFS image builder.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace thaw::layers {

struct ChildResult {
  int exit_code = 0;   // valid when signal == 0
  int signal = 0;      // the signal that ended the child, 0 when it exited
  std::string output;  // the last `max_output` bytes of stdout+stderr
};

// argv[0] must be an absolute path. Returns an error only when the child could
// not be started or waited for, or ran past `timeout` (then it is killed);
// a non-zero exit comes back in ChildResult.
Result<ChildResult> run_child(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout, size_t max_output = 8192);

// Finds `name` in the directories of `search_path` (colon-separated);
// returns the absolute path of the first executable regular file.
Result<std::string> find_program(const std::string& name, const std::string& search_path);

}  // namespace thaw::layers
