#include "sandbox/process/process_sandbox.h"

#include <algorithm>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "common/exec_report.h"
#include "common/file_util.h"
#include "sandbox/process/seccomp_policy.h"

namespace thaw {
namespace {

constexpr int kChannelFdInSandbox = 3;
constexpr int kSendTimeoutMs = 5000;
// Indexed by the step child_main reports through ExecReport::fail.
constexpr const char* kStartSteps[] = {"",           "join cgroup",   "make mounts private",
                                       "sethostname", "set up channel", "load seccomp filter",
                                       "execve"};

// Child side of clone3(): only async-signal-safe calls until execve.
[[noreturn]] void child_main(int channel, int procs_fd, int cpu_procs_fd,
                             const sock_fprog* filter, char* const* argv, int report_w) {
  auto die = [report_w](int step) { ExecReport::fail(report_w, step); };
  if (procs_fd >= 0 && ::write(procs_fd, "0", 1) != 1) die(1);
  if (cpu_procs_fd >= 0 && ::write(cpu_procs_fd, "0", 1) != 1) die(1);
  // Mount events must never leak to the host (systemd makes "/" shared).
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) die(2);
  if (::sethostname("sandbox", 7) < 0) die(3);
  if (::dup2(channel, kChannelFdInSandbox) < 0) die(4);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (filter != nullptr && ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, filter) < 0) die(5);
  char* const no_env[] = {nullptr};  // thaw-init builds the runtime env itself
  ::execve(argv[0], argv, no_env);
  die(6);
  ::_exit(127);
}

std::atomic<uint64_t> sandbox_counter{0};

}  // namespace

ProcessSandbox::ProcessSandbox(ProcessSandboxOptions options) : options_(std::move(options)) {}

ProcessSandbox::~ProcessSandbox() {
  (void)kill();
  if (!stage_.empty()) ::rmdir(stage_.c_str());
}

SandboxLayout ProcessSandbox::layout(const ProcessSandboxOptions& o, const std::string& stage) {
  SandboxLayout l;
  l.stage = stage;
  l.root = o.root_image.empty() ? ImageSource{o.root_dir, "bind"} : ImageSource{o.root_image, "erofs"};
  l.code = {o.code_dir, "bind"};
  for (const auto& dir : o.layer_dirs) l.layers.push_back({dir, "bind"});
  l.tmp_size_mb = o.tmp_size_mb;
  l.dev = DevNodes::kBindHost;
  return l;
}

Result<void> ProcessSandbox::apply_cpu_share() {
  if (!cgroup_ || !options_.cpu_limit) return Ok();
  if (auto cpu = cgroup_->limit_cpu(cpu_share(memory_mb_)); !cpu) {
    return std::move(cpu).error().context("process sandbox CPU share after Init");
  }
  return Ok();
}

Result<void> ProcessSandbox::start(const InitConfig& config_in) {
  memory_mb_ = config_in.memory_mb;
  if (pid_ > 0) return Error::format("process sandbox already started (pid {})", pid_);
  if (options_.code_dir.empty()) return Error::format("process sandbox needs a code_dir");
  if (::access(options_.init_path.c_str(), X_OK) < 0) {
    return Error::from_errno("thaw-init binary {} is not executable", options_.init_path);
  }
  std::vector<sock_filter> bpf;
  if (!options_.seccomp_policy_path.empty()) {
    auto policy = load_seccomp_policy(options_.seccomp_policy_path);
    if (!policy) return std::move(policy).error();
    auto prog = compile_seccomp_policy(*policy);
    if (!prog) return std::move(prog).error();
    bpf = std::move(*prog);
  }
  uint64_t id = sandbox_counter.fetch_add(1);
  std::string name = fmt::format("sbx-{}-{}", ::getpid(), id);
  if (options_.use_cgroup) {
    auto cg = Cgroup::create(name, uint64_t{config_in.memory_mb} << 20);
    if (!cg) return std::move(cg).error().context("process sandbox cgroup");
    cgroup_ = std::move(*cg);
    if (options_.cpu_limit) {
      // Init runs with at least one whole CPU; apply_cpu_share() sets the
      // steady share once the runtime is ready.
      if (auto cpu = cgroup_->limit_cpu(std::max(1.0, cpu_share(config_in.memory_mb))); !cpu) {
        return std::move(cpu).error().context("process sandbox CPU share");
      }
    }
  }
  std::string stage = fmt::format("{}/thaw-{}", options_.work_dir, name);
  if (::mkdir(stage.c_str(), 0700) < 0) return Error::from_errno("mkdir {}", stage);
  stage_ = stage;

  InitConfig config = config_in;
  SandboxLayout l = layout(options_, stage);
  config.mounts = layout_mounts(l);
  config.new_root = layout_root(l);

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
    return Error::from_errno("socketpair for the sandbox channel");
  }
  UniqueFd host_end(sv[0]), guest_end(sv[1]);
  auto report = ExecReport::create();
  if (!report) return std::move(report).error();

  std::string channel_arg = fmt::format("fd:{}", kChannelFdInSandbox);
  std::vector<char*> argv = {const_cast<char*>(options_.init_path.c_str()),
                             const_cast<char*>("--channel"), channel_arg.data(), nullptr};
  sock_fprog filter{static_cast<unsigned short>(bpf.size()), bpf.data()};

  clone_args args{};
  args.flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return Error::from_errno("clone3 with new PID/mount/net/IPC/UTS namespaces");
  if (pid == 0) {
    child_main(guest_end.get(), cgroup_ ? cgroup_->procs_fd() : -1,
               cgroup_ ? cgroup_->cpu_procs_fd() : -1, bpf.empty() ? nullptr : &filter,
               argv.data(), report->child_fd());
  }
  pid_ = static_cast<pid_t>(pid);
  guest_end.reset();
  auto started = report->wait_for_exec(
      pid_, kStartSteps, fmt::format("starting {} in the sandbox", options_.init_path));
  if (!started) {
    pid_ = -1;
    return std::move(started).error();
  }
  channel_ = FrameSocket(std::move(host_end), "process sandbox");
  Frame init;
  init.type = FrameType::kInitConfig;
  init.payload = encode_init_config(config);
  return send(init);
}

Result<void> ProcessSandbox::restore(const std::string&, const RestoreNotice&) {
  return Error::format("the process backend cannot restore snapshots; use the microvm backend");
}

Result<void> ProcessSandbox::snapshot(const std::string&) {
  return Error::format("the process backend cannot take snapshots; use the microvm backend");
}

Result<void> ProcessSandbox::send(const Frame& frame) {
  if (!channel_.connected()) return Error::format("process sandbox is not running");
  // A guest that stops reading must not hang the agent (FrameSocket).
  return channel_.send(frame, kSendTimeoutMs);
}

Result<std::optional<Frame>> ProcessSandbox::receive(int timeout_ms) {
  if (!channel_.connected()) return Error::format("process sandbox is not running");
  auto f = channel_.receive(timeout_ms);
  if (f || channel_.connected()) return f;  // a frame, a timeout or a malformed frame
  auto st = exit_status();
  for (int i = 0; i < 100 && !st; ++i) {
    ::usleep(1000);
    st = exit_status();
  }
  return Error::format("process sandbox closed its channel ({})",
                       st ? fmt::format("wait status 0x{:x}", *st) : "still running");
}

Result<SandboxStats> ProcessSandbox::stats() {
  SandboxStats s;
  s.pid = pid_;
  if (cgroup_) {
    auto u = cgroup_->usage();
    if (!u) return std::move(u).error();
    s.memory_bytes = u->current_bytes;
    s.peak_memory_bytes = u->peak_bytes;
    s.memory_limit_bytes = u->limit_bytes;
    s.oom_kills = u->oom_kills;
  }
  return s;
}

std::optional<int> ProcessSandbox::exit_status() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
  return status_;
}

Result<void> ProcessSandbox::kill() {
  if (pid_ > 0 && !exit_status()) {
    // PID 1 of the namespace dying takes every process in it along.
    ::kill(pid_, SIGKILL);
    int st = 0;
    if (::waitpid(pid_, &st, 0) == pid_) status_ = st;
  }
  channel_.close();
  if (cgroup_) cgroup_->remove();
  return Ok();
}

}  // namespace thaw
