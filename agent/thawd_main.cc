// thawd entry point. Today only `thawd --doctor` exists (host readiness,
// agent/doctor.h); the service mode (scheduler API, sandbox pool) lands in a
// later issue and until then thawd says so and exits 1.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "agent/doctor.h"

int main(int argc, char** argv) {
  CLI::App app{"thawd: runs Lambda-style functions in KVM microVMs restored from snapshots"};
  bool doctor = false;
  bool json = false;
  bool variant_only = false;
  std::string root;
  app.add_flag("--doctor", doctor, "check this host (KVM kind, io_uring, cgroups, ...) and exit; "
                                   "non-zero when the microvm backend cannot run");
  app.add_flag("--json", json, "with --doctor: print the report as one JSON object");
  app.add_flag("--guest-variant", variant_only,
               "with --doctor: print only the guest kernel variant this host needs (pvm or standard)");
  app.add_option("--host-root", root,
                 "with --doctor: read proc/, sys/ and dev/ under this directory instead of / "
                 "(for inspecting a captured host tree; live syscalls still probe this host)");
  CLI11_PARSE(app, argc, argv);

  if (!doctor) {
    if (json || variant_only || !root.empty()) {
      std::fprintf(stderr, "thawd: --json, --guest-variant and --host-root only apply to --doctor\n");
      return 1;
    }
    std::fprintf(stderr,
                 "thawd: the service mode is not built yet (scheduler API, function registry and "
                 "sandbox pool come in a later issue); this build only runs `thawd --doctor`\n");
    return 1;
  }

  thaw::doctor::HostPaths paths;
  if (!root.empty()) paths = {root + "/proc", root + "/sys", root + "/dev"};
  thaw::doctor::Report report = thaw::doctor::run_all(paths);
  if (variant_only) {
    std::printf("%s\n", thaw::doctor::guest_variant(report.kvm_kind));
    return 0;
  }
  std::string text = json ? thaw::doctor::render_json(report) : thaw::doctor::render_text(report);
  std::fputs(text.c_str(), stdout);
  return thaw::doctor::exit_code(report);
}
