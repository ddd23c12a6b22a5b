#include "agent/service.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include <fmt/format.h>

#include "agent/api/api_router.h"
#include "agent/async/async_invocations.h"
#include "agent/async/pool_invoker.h"
#include "agent/invoke/microvm_cold_start.h"
#include "agent/http/tcp_address.h"
#include "agent/ops/agent_ops.h"
#include "agent/ops/pool_view.h"
#include "agent/ops/watchdog.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {

int fail(std::string_view what) {
  std::fprintf(stderr, "thawd: %.*s\n", static_cast<int>(what.size()), what.data());
  return 1;
}

Result<void> make_dir(const std::string& path, mode_t mode) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return Error::format("creating {}: {}", path, ec.message());
  if (::chmod(path.c_str(), mode) < 0) return Error::from_errno("chmod {}", path);
  return Ok();
}

}  // namespace

int run_service(const ServiceOptions& o) {
  if (o.init_path.empty() || ::access(o.init_path.c_str(), X_OK) != 0) {
    return fail(fmt::format("--init '{}' is not an executable thaw-init; pass the path of "
                            "build/runtime-api/thaw-init",
                            o.init_path));
  }
  for (const auto& [runtime, image] : o.runtime_images) {
    if (::access(image.c_str(), R_OK) != 0) {
      return fail(fmt::format("--runtime-image {}={}: cannot read the image; build it with "
                              "guest/runtimes/build-image.sh {}",
                              runtime, image, runtime));
    }
  }
  const std::string run_dir = o.state_dir + "/run";
  const std::string logs_dir = o.state_dir + "/logs";
  for (const auto& [dir, mode] : {std::pair{o.state_dir, 0700}, {run_dir, 0700}, {logs_dir, 0750}}) {
    if (auto made = make_dir(dir, static_cast<mode_t>(mode)); !made) return fail(made.error().message);
  }
  if (auto parent = fs::path(o.socket_path).parent_path(); !parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
  }

  // Signals arrive through a signalfd on the loop, never as handlers.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (::pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) return fail("blocking SIGTERM/SIGINT");
  UniqueFd sig_fd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sig_fd) return fail(Error::from_errno("signalfd").message);

  layers::StoreOptions store;
  store.state_dir = o.state_dir + "/images";
  store.scratch_dir = o.scratch_dir;
  auto registry =
      FunctionRegistry::open(o.state_dir, store, o.routing_seed.value_or(random_routing_seed()));
  if (!registry) return fail(registry.error().message);
  for (const auto& w : (*registry)->load_warnings()) std::fprintf(stderr, "thawd: %s\n", w.c_str());
  std::fprintf(stderr, "thawd: alias routing seed %llu (--routing-seed repeats a split)\n",
               static_cast<unsigned long long>((*registry)->routing_seed()));

  auto loop = IoLoop::create(512);
  if (!loop) return fail(loop.error().message);

  PoolSettings ps;
  ps.init_path = o.init_path;
  ps.seccomp_policy_path = o.seccomp_policy_path;
  ps.runtime_images = o.runtime_images;
  ps.work_dir = run_dir;
  ps.logs_dir = logs_dir;
  ps.state_dir = o.state_dir;
  ps.use_cgroup = o.use_cgroup;
  ps.max_sandboxes = o.max_sandboxes;
  // Under systemd (JOURNAL_STREAM is set) function logs go to the journal too.
  ps.journal = std::getenv("JOURNAL_STREAM") != nullptr;
  if (o.backend == "microvm") {
    // Guest boots have their own bound (MicrovmGuest::boot_timeout_ms: tens
    // of seconds on PVM hosts); Init the pool's (120 s on PVM hosts).
    auto microvm = MicrovmBackend::create({o.vmm_path, o.guest_dir, o.init_path, o.state_dir,
                                           o.runtime_images});
    if (!microvm) return fail(microvm.error().context("--backend microvm").message);
    ps.microvm = std::move(*microvm);
  } else if (o.backend != "process") {
    return fail(fmt::format("--backend '{}' is neither process nor microvm", o.backend));
  }
  // Declared in this order so destruction runs: workers finish (their
  // replies are posted to the loop), then sandboxes die, then the server.
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<HttpServer> tcp_server;  // --tcp-listen
  SandboxPool pool(ps, **registry, **loop);
  for (const auto& w : pool.load_warnings()) std::fprintf(stderr, "thawd: %s\n", w.c_str());
  std::optional<WorkerPool> workers(std::in_place, o.workers);
  ApiRouter router(**loop, **registry, pool, *workers);
  AsyncOptions ao;
  ao.state_dir = o.state_dir;
  ao.dispatcher_threads = o.async_threads;
  // Throttle retries start at 1/60 of the base (Lambda: 1 s vs 1 min), capped at 5x it.
  ao.timing.function_error_base = std::chrono::milliseconds(o.async_retry_base_ms);
  ao.timing.throttle_base =
      std::chrono::milliseconds(std::max<uint32_t>(1, o.async_retry_base_ms / 60));
  ao.timing.throttle_cap = ao.timing.function_error_base * 5;
  auto async = AsyncInvocations::open(ao, **loop, *workers, **registry,
                                      make_pool_invoker(**registry, pool));
  if (!async) return fail(async.error().message);
  router.set_async(async->get());
  // /agent/v1 and the drain gate see every request first (agent/ops/).
  ops::AgentView view = ops::make_agent_view(pool, **registry, logs_dir);
  view.async_events_pending = [a = async->get()] { return a->pending(); };
  view.async_events_in_flight = [a = async->get()] { return a->in_flight(); };
  ops::AgentOps agent_ops(**loop, std::move(view));
  ops::observe_pool(pool);
  auto handle = [&](HttpRequest& req, HttpReply reply) {
    if (!agent_ops.handle(req, reply)) router.handle(req, std::move(reply));
  };

  HttpServerOptions hs;
  hs.socket_path = o.socket_path;
  hs.allowed_gid = o.socket_gid;
  hs.body_limit = &ApiRouter::body_limit;
  hs.render_error = [](unsigned status, std::string_view kind, std::string_view message) {
    return render_api_error(status, kind, message);
  };
  auto listening = HttpServer::listen_unix(**loop, hs, handle);
  if (!listening) return fail(listening.error().message);
  server = std::move(*listening);
  if (!o.tcp_listen.empty()) {
    auto address = parse_tcp_listen(o.tcp_listen, o.tcp_allow_remote);
    if (!address) return fail(address.error().message);
    auto tcp = HttpServer::listen_tcp(**loop, hs, handle, *address);
    if (!tcp) return fail(tcp.error().message);
    tcp_server = std::move(*tcp);
    std::fprintf(stderr, "thawd: also serving the Lambda API on tcp %s (port %u)\n",
                 address->text.c_str(), tcp_server->tcp_port());
  }

  bool draining = false;
  IoOp sig_op;
  sig_op.done = [&](int, uint32_t) {
    signalfd_siginfo info{};
    while (::read(sig_fd.get(), &info, sizeof info) == sizeof info) {
      if (!draining) {
        std::fprintf(stderr, "thawd: %s: draining (no new connections; finishing %zu requests)\n",
                     strsignal(static_cast<int>(info.ssi_signo)), server->requests_in_progress());
        ::sd_notify(0, "STOPPING=1");
        draining = true;
        server->stop_accepting();
        if (tcp_server) tcp_server->stop_accepting();
        agent_ops.begin_drain("signal");
        agent_ops.stop();  // answers parked log long-polls
        (*async)->drain();  // queued events stay on disk
      } else {
        (*loop)->stop();  // a second signal: stop now
      }
    }
  };
  (*loop)->watch(sig_fd.get(), sig_op);
  // Reaper: once a second a worker kills sandboxes idle past the keep-alive.
  IoOp reap_op;
  __kernel_timespec reap_every{1, 0};
  std::function<void()> arm_reaper = [&] {
    io_uring_prep_timeout((*loop)->prepare(reap_op), &reap_every, 0, 0);
  };
  reap_op.done = [&](int, uint32_t) {
    if (draining) return;
    pool.reap_idle(std::chrono::seconds(o.idle_timeout_s));  // kills run on the pool's threads
    arm_reaper();
  };
  arm_reaper();
  std::fprintf(stderr, "thawd: serving the Lambda API on %s (state %s, %zu functions)\n",
               o.socket_path.c_str(), o.state_dir.c_str(), (*registry)->list().size());
  (*async)->start();  // events a previous run left queued
  ops::WatchdogPinger watchdog;  // WatchdogSec= in packaging/thawd.service
  if (auto every = watchdog.start(**loop)) {
    std::fprintf(stderr, "thawd: systemd watchdog: WATCHDOG=1 every %lld ms\n",
                 static_cast<long long>(every->count() / 1000));
  }
  ::sd_notify(0, "READY=1");

  auto drain_started = std::chrono::steady_clock::time_point{};
  while (!(*loop)->stopping()) {
    auto ran = (*loop)->run_once(draining ? 100 : -1);
    if (!ran) return fail(ran.error().message);
    if (!draining) continue;
    if (drain_started == std::chrono::steady_clock::time_point{}) {
      drain_started = std::chrono::steady_clock::now();
    }
    bool timed_out = std::chrono::steady_clock::now() - drain_started >
                     std::chrono::seconds(o.drain_timeout_s);
    bool idle = server->requests_in_progress() == 0 && (*async)->in_flight() == 0 &&
                (!tcp_server || tcp_server->requests_in_progress() == 0);
    if (idle || timed_out) break;
  }
  if (reap_op.in_flight) (*loop)->cancel(reap_op);
  watchdog.stop();
  agent_ops.stop();
  // Let the last replies reach their sockets.
  for (int i = 0; i < 20 && server->open_connections() > 0; ++i) (void)(*loop)->run_once(10);
  workers.reset();
  // Async tries still running past the drain timeout re-run at the next start.
  if (!(*async)->finish_drain()) (void)async->release();
  std::fprintf(stderr, "thawd: stopped\n");
  return 0;
}

}  // namespace thaw::agent
