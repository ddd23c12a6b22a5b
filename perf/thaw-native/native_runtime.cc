// The native baseline's runtime process and its Runtime API; see
// native_runtime.h.
#include "perf/thaw-native/native_runtime.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "runtime-api/lambda_environment.h"
#include "runtime-api/runtime_process.h"

namespace thaw::bench {

NativeRuntime::~NativeRuntime() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

Result<void> NativeRuntime::start(const NativeFunction& fn) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto server = RuntimeApiServer::create(loop_, addr, *this);
  if (!server) return server.error();
  server_ = std::move(*server);

  InitConfig c;
  c.function_name = fn.name;
  c.handler = fn.handler;
  c.runtime = "native";
  c.timeout_ms = 30000;
  c.log_group = "/aws/lambda/" + fn.name;
  c.log_stream = "native";
  RuntimeSpawn spec;
  spec.path = fn.bootstrap;
  spec.cwd = fn.task_root;
  spec.seccomp = false;  // the baseline has no isolation at all
  for (auto& v : lambda_environment(c, nullptr, server_->port())) {
    if (v.rfind("LAMBDA_TASK_ROOT=", 0) == 0) v = "LAMBDA_TASK_ROOT=" + fn.task_root;
    spec.env.push_back(v);
  }
  spec.env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  // thawd's code mount is read-only; keep the source tree free of __pycache__ too.
  spec.env.push_back("PYTHONDONTWRITEBYTECODE=1");
  auto proc = spawn_runtime(spec);
  if (!proc) return proc.error().context("starting the native runtime " + fn.bootstrap);
  pid_ = proc->pid;
  stdout_fd_ = std::move(proc->stdout_fd);
  stderr_fd_ = std::move(proc->stderr_fd);
  pidfd_ = UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
  if (!pidfd_) return Error::from_errno("pidfd_open({})", pid_);
  alive_ = true;
  // The runtime's output is read and dropped: the baseline keeps no logs.
  stdout_op_.done = [this](int, uint32_t) { drain(stdout_fd_.get(), stdout_op_); };
  stderr_op_.done = [this](int, uint32_t) { drain(stderr_fd_.get(), stderr_op_); };
  pid_op_.done = [this](int, uint32_t) { died(); };
  loop_.watch(stdout_fd_.get(), stdout_op_);
  loop_.watch(stderr_fd_.get(), stderr_op_);
  loop_.watch(pidfd_.get(), pid_op_);
  return {};
}

void NativeRuntime::drain(int fd, IoOp& op) {
  char buf[16384];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
  }
  if (n == 0 && op.in_flight) loop_.cancel(op);  // EOF: a multishot poll would fire forever
}

void NativeRuntime::died() {
  if (!alive_) return;
  loop_.cancel(pid_op_);  // the pidfd stays readable
  int status = 0;
  ::waitpid(pid_, &status, WNOHANG);
  std::fprintf(stderr, "thaw-native: runtime %d ended (%s)\n", pid_, describe_exit(status).c_str());
  pid_ = -1;
  alive_ = false;
  if (reply_) finish(502, R"({"errorType":"Runtime.ExitError","errorMessage":"the runtime exited"})", false);
}

void NativeRuntime::invoke(std::string payload, agent::HttpReply reply) {
  reply_ = std::move(reply);
  response_.clear();
  Invocation inv;
  auto now = std::chrono::system_clock::now().time_since_epoch();
  inv.deadline_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) + 30000;
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:native";
  inv.payload.assign(payload.begin(), payload.end());
  server_->deliver("native-" + std::to_string(++next_id_), std::move(inv));
}

void NativeRuntime::finish(unsigned status, std::string body, bool function_error) {
  agent::HttpResponse r;
  r.status = status;
  if (function_error) r.headers.emplace_back("X-Amz-Function-Error", "Unhandled");
  r.body = std::move(body);
  auto reply = std::move(reply_);
  reply_ = nullptr;
  reply(std::move(r));
  if (alive_) on_free_();
}

void NativeRuntime::on_response(const std::string&, std::span<const uint8_t> body, bool more) {
  response_.append(reinterpret_cast<const char*>(body.data()), body.size());
  if (!more && reply_) finish(200, std::move(response_), false);
}

void NativeRuntime::on_invocation_error(const std::string&, ErrorReport report) {
  if (reply_) finish(200, std::move(report.body), true);
}

void NativeRuntime::on_init_error(ErrorReport report) {
  std::fprintf(stderr, "thaw-native: the runtime's Init failed: %s\n", report.body.c_str());
}

void NativeRuntime::on_restore_error(ErrorReport report) {
  std::fprintf(stderr, "thaw-native: unexpected restore error: %s\n", report.body.c_str());
}

}  // namespace thaw::bench
