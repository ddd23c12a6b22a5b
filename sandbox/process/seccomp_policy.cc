#include "sandbox/process/seccomp_policy.h"

#include <seccomp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <map>
#include <sstream>

#include "common/file_util.h"

namespace thaw {
namespace {

const std::map<std::string_view, int>& errno_names() {
  static const std::map<std::string_view, int> names = {
      {"EPERM", EPERM}, {"EACCES", EACCES}, {"ENOSYS", ENOSYS}, {"EINVAL", EINVAL}};
  return names;
}

std::vector<std::string> words(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string(line)};
  std::string w;
  while (in >> w) out.push_back(w);
  return out;
}

}  // namespace

Result<SeccompPolicy> parse_seccomp_policy(std::string_view text) {
  SeccompPolicy policy;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto w = words(line);
    if (w.empty()) continue;
    auto bad = [&](std::string_view why) {
      return Error::format("seccomp policy line {}: {} (expected 'deny <syscall> [ERRNO] "
                           "[if arg<N> & <mask>]')",
                           line_no, why);
    };
    if (w[0] != "deny") return bad(fmt::format("unknown action '{}'", w[0]));
    if (w.size() < 2) return bad("missing syscall name");
    SeccompRule rule;
    rule.syscall = w[1];
    if (seccomp_syscall_resolve_name(rule.syscall.c_str()) == __NR_SCMP_ERROR) {
      return bad(fmt::format("unknown syscall '{}'", rule.syscall));
    }
    if (w.size() >= 3) {
      auto it = errno_names().find(w[2]);
      if (it == errno_names().end()) return bad(fmt::format("unknown errno '{}'", w[2]));
      rule.errno_value = it->second;
    }
    if (w.size() > 3) {
      if (w.size() != 7 || w[3] != "if" || !w[4].starts_with("arg") || w[5] != "&") {
        return bad("malformed condition");
      }
      int idx = w[4][3] - '0';
      if (w[4].size() != 4 || idx < 0 || idx > 5) return bad("argument index must be arg0..arg5");
      std::string_view mask = w[6];
      int base = 10;
      if (mask.starts_with("0x")) {
        mask.remove_prefix(2);
        base = 16;
      }
      auto [p, ec] = std::from_chars(mask.data(), mask.data() + mask.size(), rule.arg_mask, base);
      if (ec != std::errc() || p != mask.data() + mask.size() || rule.arg_mask == 0) {
        return bad(fmt::format("mask '{}' is not a non-zero number", w[6]));
      }
      rule.arg_index = idx;
    }
    policy.deny.push_back(std::move(rule));
  }
  return policy;
}

Result<SeccompPolicy> load_seccomp_policy(const std::string& path) {
  auto bytes = read_file(path, 1 << 20);
  if (!bytes) return std::move(bytes).error().context("loading the seccomp policy");
  auto policy = parse_seccomp_policy({reinterpret_cast<const char*>(bytes->data()), bytes->size()});
  if (!policy) return std::move(policy).error().context(path);
  return policy;
}

Result<std::vector<sock_filter>> compile_seccomp_policy(const SeccompPolicy& policy) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) return Error::format("seccomp_init failed");
  struct Release {
    scmp_filter_ctx c;
    ~Release() { seccomp_release(c); }
  } release{ctx};
  for (const auto& r : policy.deny) {
    int nr = seccomp_syscall_resolve_name(r.syscall.c_str());
    int rc;
    if (r.arg_index >= 0) {
      // Deny when any masked bit is set: one rule per bit keeps it exact.
      for (int bit = 0; bit < 64; ++bit) {
        uint64_t b = uint64_t{1} << bit;
        if (!(r.arg_mask & b)) continue;
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r.errno_value), nr, 1,
                              SCMP_CMP(static_cast<unsigned>(r.arg_index), SCMP_CMP_MASKED_EQ, b, b));
        if (rc < 0) return Error::with_errno(-rc, "seccomp rule for {}", r.syscall);
      }
      continue;
    }
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(r.errno_value), nr, 0);
    if (rc < 0) return Error::with_errno(-rc, "seccomp rule for {}", r.syscall);
  }
  // Export through a pipe-free path: libseccomp writes BPF to an fd.
  char path[] = "/tmp/thaw-seccomp-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return Error::from_errno("temp file for seccomp BPF");
  UniqueFd owner(fd);
  ::unlink(path);
  int rc = seccomp_export_bpf(ctx, fd);
  if (rc < 0) return Error::with_errno(-rc, "seccomp_export_bpf");
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    return Error::format("seccomp BPF export has odd size {}", size);
  }
  std::vector<sock_filter> prog(static_cast<size_t>(size) / sizeof(sock_filter));
  if (::pread(fd, prog.data(), static_cast<size_t>(size), 0) != size) {
    return Error::from_errno("reading seccomp BPF back");
  }
  return prog;
}

}  // namespace thaw
