#include "runtime-api/thaw_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "runtime-api/guest_setup.h"
#include "runtime-api/lambda_environment.h"

namespace thaw {
namespace {

constexpr size_t kMaxLogLine = 256u << 10;  // longer lines are split
// Backpressure: past this many unsent bytes to the host, thaw-init stops
// reading the runtime's output, so the pipe fills and the runtime blocks
// instead of thaw-init buffering without bound.
constexpr size_t kMaxQueuedBytes = 8u << 20;
// Per readiness event, so a runtime that writes without pause cannot keep
// thaw-init in one read loop forever.
constexpr size_t kReadBudget = 1u << 20;
using Clock = std::chrono::steady_clock;

uint64_t micros_since(Clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
}

}  // namespace

ThawInit::ThawInit(IoLoop& loop, Options options)
    : loop_(loop),
      options_(options),
      channel_(
          loop, [this](Frame f) { on_frame(std::move(f)); },
          [this](const std::string& why) { on_channel_closed(why); }) {
  out_.stream = LogStream::kStdout;
  err_.stream = LogStream::kStderr;
  channel_.set_drained_handler([this] {
    if (!logs_paused_) return;
    logs_paused_ = false;
    drain_logs();
  });
}

ThawInit::~ThawInit() {
  if (runtime_pid_ > 0) ::kill(runtime_pid_, SIGKILL);
}

Result<void> ThawInit::start() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(options_.api_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto server = RuntimeApiServer::create(loop_, addr, *this);
  if (!server) return std::move(server).error().context("starting the Runtime API");
  server_ = std::move(*server);

  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT}) sigaddset(&set, sig);
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) return Error::from_errno("sigprocmask");
  ::signal(SIGPIPE, SIG_IGN);
  int sfd = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) return Error::from_errno("signalfd");
  signal_fd_.reset(sfd);
  signal_op_.done = [this](int res, uint32_t flags) {
    if (!(flags & IORING_CQE_F_MORE)) loop_.watch(signal_fd_.get(), signal_op_);
    if (res >= 0) on_signal();
  };
  loop_.watch(sfd, signal_op_);
  return Ok();
}

void ThawInit::send(FrameType type, const std::string& id, std::span<const uint8_t> payload,
                    uint16_t flags) {
  // Nothing to do on failure but note it: the host sees a missing frame
  // and times the invocation out.
  if (auto ok = channel_.send(type, id, payload, flags); !ok) {
    std::fprintf(stderr, "thaw-init: %s\n", ok.error().message.c_str());
  }
}

void ThawInit::log_system(const std::string& line) {
  LogChunk chunk{LogStream::kSystem, line + "\n"};
  send(FrameType::kLogChunk, "", encode_log_chunk(chunk));
}

uint64_t ThawInit::peak_memory() {
  if (runtime_status_fd_) {
    auto peak = peak_rss_bytes_from(runtime_status_fd_.get());
    if (peak) last_peak_ = std::max(last_peak_, *peak);
  }
  return last_peak_;
}

void ThawInit::send_metrics(const std::string& id) {
  InvocationMetrics m{micros_since(invoke_start_), peak_memory()};
  send(FrameType::kMetrics, id, encode_metrics(m));
}

void ThawInit::on_frame(Frame f) {
  switch (f.type) {
    case FrameType::kInitConfig: return handle_init_config(f.payload);
    case FrameType::kInvoke: return handle_invoke(f.request_id, f.payload);
    case FrameType::kRestoreNotice: return handle_restore(f.payload);
    case FrameType::kShutdown: return finish("shutdown requested by the host");
    default:
      log_system(fmt::format("thaw-init: ignoring {} frame: only the host's init-config, invoke, "
                             "restore-notice and shutdown frames are accepted",
                             frame_type_name(f.type)));
  }
}

void ThawInit::on_channel_closed(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "thaw-init: host channel broke: %s\n", why.c_str());
  // In a VM the listener stays: after a restore the host connects again.
  if (!options_.in_vm) finish("host channel closed");
}

void ThawInit::handle_init_config(std::span<const uint8_t> payload) {
  auto fail = [this](std::string type, std::string message) {
    init_error_sent_ = true;
    ErrorReport r{type, error_body_json(type, message), kNoExitStatus};
    send(FrameType::kInitError, "", encode_error_report(r));
  };
  if (config_) return fail("Sandbox.InitFailed", "a second init config was sent; one per sandbox");
  auto config = decode_init_config(payload);
  if (!config) return fail("Sandbox.InitFailed", config.error().message);
  config_ = std::move(*config);
  init_start_ = Clock::now();
  if (auto ok = apply_mounts(config_->mounts); !ok) {
    return fail("Sandbox.InitFailed", ok.error().message);
  }
  if (!config_->new_root.empty()) {
    if (auto ok = enter_new_root(config_->new_root); !ok) {
      return fail("Sandbox.InitFailed", ok.error().message);
    }
  }
  auto bootstrap =
      find_bootstrap(*config_, [](const std::string& p) { return ::access(p.c_str(), X_OK) == 0; });
  if (!bootstrap) return fail("Runtime.InvalidEntrypoint", bootstrap.error().message);
  std::vector<std::string> dropped;
  RuntimeSpawn spec;
  spec.path = *bootstrap;
  spec.env = lambda_environment(*config_, &dropped, options_.api_port);
  spec.uid = config_->run_as_uid;
  spec.gid = config_->run_as_gid;
  for (const auto& name : dropped) {
    log_system(fmt::format("thaw-init: environment variable {} is reserved by Lambda; ignored",
                           name));
  }
  auto proc = spawn_runtime(spec);
  if (!proc) return fail("Runtime.InvalidEntrypoint", proc.error().message);
  runtime_pid_ = proc->pid;
  runtime_status_fd_.reset(
      ::open(fmt::format("/proc/{}/status", runtime_pid_).c_str(), O_RDONLY | O_CLOEXEC));
  out_.fd = std::move(proc->stdout_fd);
  err_.fd = std::move(proc->stderr_fd);
  watch_pipe(out_);
  watch_pipe(err_);
  if (!options_.in_vm) {
    // Process backend: thaw-init is root on the host kernel; from here on
    // it only needs to signal the runtime. (In a VM it keeps CAP_SYS_ADMIN
    // and CAP_SYS_TIME for restore notices; the VM is the boundary there.)
    if (auto ok = drop_to_kill_capability(); !ok) {
      return fail("Sandbox.InitFailed", ok.error().message);
    }
  }
}

void ThawInit::handle_invoke(const std::string& id, std::span<const uint8_t> payload) {
  auto inv = decode_invocation(payload);
  if (!inv) {
    ErrorReport r{"Sandbox.InvalidInvoke", error_body_json("Sandbox.InvalidInvoke",
                                                           inv.error().message)};
    return send(FrameType::kError, id, encode_error_report(r));
  }
  if (runtime_pid_ <= 0) {
    ErrorReport r{"Runtime.ExitError",
                  error_body_json("Runtime.ExitError",
                                  fmt::format("RequestId: {} Error: the runtime is not running", id))};
    return send(FrameType::kError, id, encode_error_report(r));
  }
  invoke_start_ = Clock::now();
  server_->deliver(id, std::move(*inv));
}

void ThawInit::handle_restore(std::span<const uint8_t> payload) {
  auto notice = decode_restore_notice(payload);
  if (!notice) {
    ErrorReport r{"Sandbox.RestoreFailed",
                  error_body_json("Sandbox.RestoreFailed", notice.error().message)};
    return send(FrameType::kRestoreError, "", encode_error_report(r));
  }
  // Uniqueness before user code runs again: new entropy, then the time.
  // Only a VM has its own RNG and clock; a process sandbox shares the
  // host's (and was never snapshotted), so there is nothing to reset.
  if (options_.in_vm) {
    if (auto ok = reseed_entropy(notice->entropy); !ok) {
      log_system("thaw-init: " + ok.error().message);
    }
    if (auto ok = set_wall_clock(notice->wall_clock_ns); !ok) {
      log_system("thaw-init: " + ok.error().message);
    }
  }
  if (server_->state() == RuntimeApiState::kRestoreWait) {
    server_->restored();  // RestoreDone goes out when the runtime reaches /next
  } else {
    send(FrameType::kRestoreDone, "", {});
  }
}

void ThawInit::on_ready(ReadyKind kind) {
  if (kind == ReadyKind::kRestoreDone) return send(FrameType::kRestoreDone, "", {});
  ReadyInfo info;
  info.phase = kind == ReadyKind::kSnapshotReady ? ReadyPhase::kSnapshotPoint : ReadyPhase::kInitDone;
  info.init_duration_us = micros_since(init_start_);
  info.max_memory_bytes = peak_memory();
  ready_sent_ = true;
  send(FrameType::kReady, "", encode_ready(info));
}

void ThawInit::on_response(const std::string& id, std::span<const uint8_t> body, bool more) {
  // Output the function wrote before answering belongs before the response.
  drain_logs();
  send(FrameType::kResponse, id, body, more ? kFlagMore : 0);
  if (!more) send_metrics(id);
}

void ThawInit::on_invocation_error(const std::string& id, ErrorReport report) {
  drain_logs();
  send(FrameType::kError, id, encode_error_report(report));
  send_metrics(id);
}

void ThawInit::on_init_error(ErrorReport report) {
  drain_logs();
  init_error_sent_ = true;
  send(FrameType::kInitError, "", encode_error_report(report));
}

void ThawInit::on_restore_error(ErrorReport report) {
  drain_logs();
  send(FrameType::kRestoreError, "", encode_error_report(report));
}

void ThawInit::watch_pipe(LogPipe& pipe) {
  pipe.op.done = [this, &pipe](int res, uint32_t flags) {
    if (!pipe.fd.valid()) return;
    if (res >= 0) read_pipe(pipe);
    if (pipe.fd.valid() && !(flags & IORING_CQE_F_MORE)) loop_.watch(pipe.fd.get(), pipe.op);
  };
  loop_.watch(pipe.fd.get(), pipe.op);
}

void ThawInit::read_pipe(LogPipe& pipe) {
  if (!pipe.fd.valid()) return;
  if (channel_.queued_bytes() > kMaxQueuedBytes) {
    logs_paused_ = true;  // resumed by the channel's drained handler
    return;
  }
  char buf[65536];
  std::string lines;
  bool eof = false;
  bool drained_all = false;
  for (size_t budget = 0; budget < kReadBudget;) {
    ssize_t n = ::read(pipe.fd.get(), buf, sizeof buf);
    if (n > 0) {
      budget += static_cast<size_t>(n);
      pipe.partial.append(buf, static_cast<size_t>(n));
      size_t nl = pipe.partial.rfind('\n');
      if (nl != std::string::npos) {
        lines.append(pipe.partial, 0, nl + 1);
        pipe.partial.erase(0, nl + 1);
      }
      while (pipe.partial.size() >= kMaxLogLine) {
        lines.append(pipe.partial, 0, kMaxLogLine);
        lines.push_back('\n');
        pipe.partial.erase(0, kMaxLogLine);
      }
      if (lines.size() >= kMaxLogLine) {
        send(FrameType::kLogChunk, "", encode_log_chunk({pipe.stream, std::move(lines)}));
        lines.clear();
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    eof = n == 0;
    drained_all = true;  // EOF or EAGAIN: all read for now
    break;
  }
  if (eof && !pipe.partial.empty()) {
    lines += pipe.partial + "\n";
    pipe.partial.clear();
  }
  if (!lines.empty()) send(FrameType::kLogChunk, "", encode_log_chunk({pipe.stream, lines}));
  if (!eof && !drained_all) {
    // Budget spent with output still waiting: carry on after other events.
    loop_.post([this, &pipe] { read_pipe(pipe); });
  }
  if (eof) {
    if (pipe.op.in_flight) loop_.cancel(pipe.op);
    pipe.fd.reset();
  }
}

void ThawInit::drain_logs() {
  read_pipe(out_);
  read_pipe(err_);
}

void ThawInit::on_signal() {
  signalfd_siginfo si;
  bool child = false;
  while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
    if (si.ssi_signo == SIGCHLD) child = true;
    if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) finish("terminated by signal");
  }
  if (!child) return;
  // PID 1 reaps every orphan in the sandbox, not only the runtime.
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) break;
    if (pid == runtime_pid_) runtime_exited(status);
  }
}

void ThawInit::runtime_exited(int status) {
  runtime_pid_ = -1;
  runtime_status_fd_.reset();
  drain_logs();
  std::string what = describe_exit(status);
  if (server_->state() == RuntimeApiState::kInvoking) {
    std::string id = server_->current_request_id();
    std::string msg = fmt::format("RequestId: {} Error: Runtime exited with error: {}", id, what);
    ErrorReport r{"Runtime.ExitError", error_body_json("Runtime.ExitError", msg),
                  exit_code_of(status)};
    send(FrameType::kError, id, encode_error_report(r));
    send_metrics(id);
  } else if (!init_error_sent_) {
    // Outside an invocation the sandbox is unusable from here on: tell the
    // host (init error if init never finished) so it replaces the sandbox.
    std::string msg = fmt::format("Runtime exited with error: {}", what);
    ErrorReport r{"Runtime.ExitError", error_body_json("Runtime.ExitError", msg),
                  exit_code_of(status)};
    send(FrameType::kInitError, "", encode_error_report(r));
  }
  // Invocations queued behind a runtime that is gone get an answer too:
  // the host must never wait on an id nobody will serve.
  for (const auto& id : server_->reset_after_runtime_exit()) {
    std::string msg = fmt::format("RequestId: {} Error: Runtime exited with error: {}", id, what);
    ErrorReport r{"Runtime.ExitError", error_body_json("Runtime.ExitError", msg),
                  exit_code_of(status)};
    send(FrameType::kError, id, encode_error_report(r));
  }
}

void ThawInit::finish(const std::string& why) {
  if (finished_) return;
  finished_ = true;
  if (runtime_pid_ > 0) ::kill(-runtime_pid_, SIGKILL);  // its session = process group
  if (runtime_pid_ > 0) ::kill(runtime_pid_, SIGKILL);
  channel_.drain_blocking();
  std::fprintf(stderr, "thaw-init: stopping: %s\n", why.c_str());
  loop_.stop();
}

}  // namespace thaw
