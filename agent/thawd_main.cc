// thawd entry point: `thawd --doctor` checks the host (agent/doctor.h);
// otherwise thawd runs the service (agent/service.h): the Lambda-shaped
// scheduler API on a Unix socket, until SIGTERM.
#include <grp.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "agent/doctor.h"
#include "agent/service.h"

namespace {

// "--socket-group thaw" or "--socket-group 990".
bool resolve_group(const std::string& name, gid_t& gid) {
  if (name.empty()) return false;
  char* end = nullptr;
  unsigned long n = std::strtoul(name.c_str(), &end, 10);
  if (*end == '\0') {
    gid = static_cast<gid_t>(n);
    return true;
  }
  if (group* g = ::getgrnam(name.c_str())) {
    gid = g->gr_gid;
    return true;
  }
  return false;
}

}  // namespace

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

  thaw::agent::ServiceOptions so;
  std::string group;
  std::vector<std::string> images;
  bool no_cgroup = false;
  app.add_option("--socket", so.socket_path, "the scheduler API's Unix socket (created 0660)");
  app.add_option("--socket-group", group,
                 "group (name or gid) that owns the socket; its members may use the API");
  app.add_option("--state-dir", so.state_dir, "functions, code images and logs");
  app.add_option("--init", so.init_path, "the thaw-init binary (build/runtime-api/thaw-init)");
  app.add_option("--seccomp-policy", so.seccomp_policy_path,
                 "sandbox/process/seccomp-policy.txt for the process backend")
      ->check(CLI::ExistingFile);
  app.add_option("--runtime-image", images,
                 "RUNTIME=PATH: the EROFS image of a runtime (guest/runtimes/build-image.sh); "
                 "runtimes without one run on the host root");
  app.add_option("--scratch-dir", so.scratch_dir, "where ZIPs are unpacked (a tmpfs is fastest)");
  app.add_option("--max-sandboxes", so.max_sandboxes, "sandboxes alive at once; beyond: 429")
      ->check(CLI::Range(1, 4096));
  app.add_option("--workers", so.workers, "threads for blocking work (conversions, invocations)")
      ->check(CLI::Range(1, 4096));
  app.add_option("--drain-timeout", so.drain_timeout_s,
                 "seconds SIGTERM waits for requests in flight")
      ->check(CLI::Range(0, 3600));
  app.add_option("--idle-timeout", so.idle_timeout_s,
                 "seconds a warm sandbox may sit idle before it is killed")
      ->check(CLI::Range(1, 86400));
  app.add_option("--async-threads", so.async_threads,
                 "threads running queued asynchronous (Event) invocations")
      ->check(CLI::Range(1, 256));
  app.add_option("--async-retry-base-ms", so.async_retry_base_ms,
                 "an Event invoke whose function fails is retried after 1x, then 2x this "
                 "(Lambda: 60000); throttled ones from 1/60 of it, doubling")
      ->check(CLI::Range(1, 3600000));
  app.add_flag("--no-cgroup", no_cgroup, "run sandboxes without a memory cgroup");
  app.add_option("--backend", so.backend,
                 "process (namespaces; default) or microvm (KVM microVMs with SnapStart: the "
                 "first cold start of a version boots and snapshots, later ones restore)")
      ->check(CLI::IsMember({"process", "microvm"}));
  app.add_option("--vmm", so.vmm_path, "with --backend microvm: the thaw-vmm binary");
  app.add_option("--guest-dir", so.guest_dir,
                 "with --backend microvm: the guest kernel directory "
                 "(tools/build-guest.sh --print-dir)");
  app.add_option("--tcp-listen", so.tcp_listen,
                 "also serve the API on HOST:PORT (loopback only: there is no authentication "
                 "over TCP), e.g. 127.0.0.1:9000 for aws --endpoint-url");
  app.add_flag("--tcp-allow-remote", so.tcp_allow_remote,
               "let --tcp-listen bind a non-loopback address (put your own auth in front)");
  app.add_option("--routing-seed", so.routing_seed,
                 "seed of weighted alias routing (same seed, same version sequence); "
                 "default: random per start");
  CLI11_PARSE(app, argc, argv);

  if (!doctor) {
    if (json || variant_only || !root.empty()) {
      std::fprintf(stderr, "thawd: --json, --guest-variant and --host-root only apply to --doctor\n");
      return 1;
    }
    if (!group.empty()) {
      gid_t gid;
      if (!resolve_group(group, gid)) {
        std::fprintf(stderr, "thawd: --socket-group '%s' is neither a gid nor a group name\n",
                     group.c_str());
        return 1;
      }
      so.socket_gid = gid;
    }
    for (const auto& spec : images) {
      size_t eq = spec.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
        std::fprintf(stderr, "thawd: --runtime-image '%s' must be RUNTIME=PATH, e.g. "
                             "python3.11=/var/cache/thaw/python3.11/image.erofs\n",
                     spec.c_str());
        return 1;
      }
      so.runtime_images[spec.substr(0, eq)] = spec.substr(eq + 1);
    }
    so.use_cgroup = !no_cgroup;
    return thaw::agent::run_service(so);
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
