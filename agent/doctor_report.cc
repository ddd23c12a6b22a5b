// Runs every doctor check and renders the result for people (aligned text)
// and for programs (JSON); see doctor.h.
#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/doctor.h"

namespace thaw::doctor {
namespace {

std::string blockers(const std::vector<Check>& checks, bool Check::*needs) {
  std::string out;
  for (const Check& c : checks) {
    if (c.status != Status::fail || !(c.*needs)) continue;
    if (!out.empty()) out += "; ";
    out += fmt::format("{}: {}", c.name, c.summary);
  }
  return out;
}

}  // namespace

bool Report::microvm_ready() const { return microvm_blockers().empty(); }
bool Report::process_ready() const { return process_blockers().empty(); }
std::string Report::microvm_blockers() const { return blockers(checks, &Check::microvm_needs); }
std::string Report::process_blockers() const { return blockers(checks, &Check::process_needs); }

Report run_all(const HostPaths& paths) {
  Report r;
  r.checks.push_back(check_kvm(paths, &r.kvm_kind));
  r.checks.push_back(check_io_uring(paths));
  r.checks.push_back(check_memfd());
  r.checks.push_back(check_cgroups(paths));
  r.checks.push_back(check_namespaces(paths));
  r.checks.push_back(check_filesystem(paths, "overlay"));
  r.checks.push_back(check_filesystem(paths, "erofs"));
  r.checks.push_back(check_vsock(paths));
  r.checks.push_back(check_userfaultfd());
  r.checks.push_back(check_madv_populate_read());
  return r;
}

std::string render_text(const Report& r) {
  std::string out = "thaw doctor: host readiness\n";
  for (const Check& c : r.checks) {
    const char* label = c.status == Status::ok ? "ok  " : c.status == Status::warn ? "warn" : "FAIL";
    out += fmt::format("  {}  {:<19} {}\n", label, c.name, c.summary);
    if (!c.fix.empty()) out += fmt::format("        {:<19} fix: {}\n", "", c.fix);
  }
  out += fmt::format("kvm kind: {}; guest kernel variant: {}\n", kvm_kind_name(r.kvm_kind),
                     guest_variant(r.kvm_kind));
  std::string mv = r.microvm_blockers();
  std::string pr = r.process_blockers();
  out += fmt::format("microvm backend: {}\n", mv.empty() ? "ready" : "NOT READY: " + mv);
  out += fmt::format("process backend: {}\n", pr.empty() ? "ready" : "NOT READY: " + pr);
  return out;
}

std::string render_json(const Report& r) {
  boost::json::array checks;
  for (const Check& c : r.checks) {
    boost::json::object o;
    o["name"] = c.name;
    o["status"] = status_name(c.status);
    o["summary"] = c.summary;
    if (!c.fix.empty()) o["fix"] = c.fix;
    o["microvm_needs"] = c.microvm_needs;
    o["process_needs"] = c.process_needs;
    checks.push_back(std::move(o));
  }
  boost::json::object root;
  root["kvm_kind"] = kvm_kind_name(r.kvm_kind);
  root["guest_variant"] = guest_variant(r.kvm_kind);
  root["microvm_ready"] = r.microvm_ready();
  root["process_ready"] = r.process_ready();
  if (!r.microvm_ready()) root["microvm_blockers"] = r.microvm_blockers();
  if (!r.process_ready()) root["process_blockers"] = r.process_blockers();
  root["checks"] = std::move(checks);
  return boost::json::serialize(root) + "\n";
}

int exit_code(const Report& r) { return r.microvm_ready() ? 0 : 1; }

}  // namespace thaw::doctor
