// The process backend's seccomp policy, kept as data in a text file
// (Firecracker keeps its filters as JSON for the same reason: reviewable
// without reading code). Parsed here; compiled to BPF with libseccomp.
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace thaw {

struct SeccompRule {
  std::string syscall;
  int errno_value = 1;      // EPERM unless the file says otherwise
  int arg_index = -1;       // >= 0: only when (arg & arg_mask) != 0
  uint64_t arg_mask = 0;
};

struct SeccompPolicy {
  std::vector<SeccompRule> deny;  // default action: allow
};

// File format, one rule per line, '#' comments:
//   deny <syscall> [<ERRNO name>]
//   deny <syscall> <ERRNO name> if arg<N> & <mask>
Result<SeccompPolicy> parse_seccomp_policy(std::string_view text);
Result<SeccompPolicy> load_seccomp_policy(const std::string& path);

// The BPF program for this machine's architecture.
Result<std::vector<sock_filter>> compile_seccomp_policy(const SeccompPolicy& policy);

}  // namespace thaw
