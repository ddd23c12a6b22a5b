#include "agent/invoke/sandbox_pool.h"

#include <future>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "agent/invoke/pool_slot.h"
#include "runtime-api/messages.h"

namespace thaw::agent {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

uint64_t epoch_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// After the response the runtime's metrics frame follows at once; a sandbox
// that does not send it within this grace is finished without it.
constexpr auto kMetricsGrace = std::chrono::milliseconds(1000);

}  // namespace

SandboxPool::SandboxPool(PoolSettings settings, FunctionRegistry& registry, IoLoop& loop)
    : settings_(std::move(settings)),
      registry_(registry),
      loop_(loop),
      loop_thread_(std::this_thread::get_id()),
      mounts_(settings_.work_dir),
      log_(settings_.logs_dir, settings_.journal),
      store_([this] {
        std::string warning;
        auto store = ConcurrencyStore::open(settings_.state_dir, warning);
        if (!warning.empty()) warnings_.push_back(std::move(warning));
        return store;
      }()),
      workers_(settings_.cold_start_threads) {
  timer_op_.done = [this](int, uint32_t) {
    armed_ = Clock::time_point::max();
    if (!stopping_) on_timer();
  };
  tick_op_.done = [this](int, uint32_t) {
    if (stopping_) return;
    on_tick();
    io_uring_prep_timeout(loop_.prepare(tick_op_), &tick_ts_, 0, 0);
  };
  io_uring_prep_timeout(loop_.prepare(tick_op_), &tick_ts_, 0, 0);
}

SandboxPool::~SandboxPool() {
  stopping_ = true;
  for (auto& s : slots_) {
    if (s->sandbox) (void)s->sandbox->kill();
  }
  // Ops still in flight are dropped with the ring; never run again.
}

std::string SandboxPool::pool_key(const FunctionConfig& c) const {
  std::string key = c.name + '\n' + c.version + '\n' + c.code_digest + '\n' + c.last_modified;
  for (const auto& layer : c.layers) key += '\n' + layer.digest;
  return key;
}

namespace {
std::string version_key(const std::string& function, const std::string& version) {
  return function + "\n" + version;
}
}  // namespace

uint64_t SandboxPool::generation_of(const std::string& function, const std::string& version) const {
  auto count = [&](const std::string& key) -> uint64_t {
    auto it = generation_.find(key);
    return it == generation_.end() ? 0 : it->second;
  };
  // Both only grow, so the sum changes whenever either is bumped.
  return count(function) + count(version_key(function, version));
}

FunctionStats& SandboxPool::stats_for(const std::string& function, const std::string& version) {
  auto [it, inserted] = stats_.try_emplace({function, version});
  if (inserted) {
    it->second.function = function;
    it->second.version = version;
  }
  return it->second;
}

void SandboxPool::notify(const InvokeRecord& record) {
  if (observer_) observer_(record);
}

std::optional<ApiError> SandboxPool::admit(const FunctionConfig& config, bool& counted_unreserved) {
  const ConcurrencySettings& s = store_.settings();
  uint32_t& running = in_flight_[config.name];
  if (auto r = s.reserved.find(config.name); r != s.reserved.end()) {
    if (running >= r->second) {
      return ApiError{ApiErrorKind::kTooManyRequests,
                 r->second == 0
                     ? fmt::format("Rate Exceeded: {} has ReservedConcurrentExecutions 0, which "
                                   "throttles every invocation; raise it with "
                                   "PutFunctionConcurrency or DeleteFunctionConcurrency",
                                   config.name)
                     : fmt::format("Rate Exceeded: {} already runs {} invocations, its "
                                   "ReservedConcurrentExecutions; retry later or raise it with "
                                   "PutFunctionConcurrency",
                                   config.name, running)};
    }
    counted_unreserved = false;
  } else {
    uint32_t total = settings_.max_sandboxes;
    uint32_t unreserved = total - std::min(total, s.total_reserved());
    if (unreserved_in_flight_ >= unreserved) {
      return ApiError{ApiErrorKind::kTooManyRequests,
                 fmt::format("Rate Exceeded: {} invocations already run on the {} unreserved "
                             "sandboxes (thawd --max-sandboxes {} minus reservations); retry "
                             "later",
                             unreserved_in_flight_, unreserved, total)};
    }
    ++unreserved_in_flight_;
    counted_unreserved = true;
  }
  ++running;
  return std::nullopt;
}

std::string_view SandboxPool::throttle_reason(const std::string& function) const {
  return store_.settings().reserved.contains(function)
             ? "ReservedFunctionConcurrentInvocationLimitExceeded"
             : "ConcurrentInvocationLimitExceeded";
}

void SandboxPool::release(const std::string& function, bool counted_unreserved) {
  if (auto it = in_flight_.find(function); it != in_flight_.end() && it->second > 0) --it->second;
  if (counted_unreserved && unreserved_in_flight_ > 0) --unreserved_in_flight_;
}

// A slot for one more sandbox under --max-sandboxes: free, or made free by
// killing the longest-idle on-demand sandbox of any function.
bool SandboxPool::make_room() {
  if (slots_.size() + starting_ < settings_.max_sandboxes) return true;
  Slot* oldest = nullptr;
  for (auto& s : slots_) {
    if (s->state == Slot::State::kIdle && !s->provisioned() &&
        (oldest == nullptr || s->idle_since < oldest->idle_since)) {
      oldest = s.get();
    }
  }
  if (oldest == nullptr) return false;
  retire(*oldest);
  return true;
}

SandboxPool::Slot* SandboxPool::take_idle(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  Slot* s = it->second.back();
  it->second.pop_back();
  return s;
}

void SandboxPool::invoke(FunctionConfig config, std::vector<uint8_t> payload, InvokeDone done,
                         std::string request_id) {
  FunctionStats& fs = stats_for(config.name, config.version);
  auto call = std::make_unique<Call>();
  if (auto refused = admit(config, call->counted_unreserved)) {
    ++fs.throttles;
    notify({config.name, config.version, InvokeRecord::Outcome::kThrottled});
    return done(std::move(*refused));
  }
  call->done = std::move(done);
  call->memory_mb = config.memory_mb;
  call->timeout_s = config.timeout_s;
  call->out.request_id = request_id.empty() ? new_request_id() : std::move(request_id);
  call->out.executed_version = config.version;
  if (Slot* slot = take_idle(pool_key(config))) {
    return begin_call(*slot, std::move(call), std::move(payload));
  }
  if (!make_room()) {
    release(config.name, call->counted_unreserved);
    ++fs.throttles;
    notify({config.name, config.version, InvokeRecord::Outcome::kThrottled});
    return call->done(ApiError{
        ApiErrorKind::kTooManyRequests,
        fmt::format("Rate Exceeded: this agent runs at most {} sandboxes (thawd --max-sandboxes) "
                    "and all are busy or provisioned; retry later",
                    settings_.max_sandboxes)});
  }
  auto job = std::make_unique<ColdJob>();
  job->generation = generation_of(config.name, config.version);
  job->config = std::move(config);
  job->call = std::move(call);
  job->payload = std::move(payload);
  start_cold(std::move(job));
}

ApiResult<InvokeOutcome> SandboxPool::invoke(const FunctionConfig& config,
                                             std::vector<uint8_t> payload, std::string request_id) {
  if (on_loop_thread()) {
    return ApiError{ApiErrorKind::kService,
                    "SandboxPool::invoke(config, payload) blocks; on the loop thread use the "
                    "form that takes a completion"};
  }
  auto promise = std::make_shared<std::promise<ApiResult<InvokeOutcome>>>();
  auto future = promise->get_future();
  auto shared_payload = std::make_shared<std::vector<uint8_t>>(std::move(payload));
  loop_.post([this, config, shared_payload, promise, request_id = std::move(request_id)] {
    invoke(
        config, std::move(*shared_payload),
        [promise](ApiResult<InvokeOutcome> r) { promise->set_value(std::move(r)); }, request_id);
  });
  // Init, the function's own timeout and a margin: the loop always answers
  // by then unless it has stopped.
  auto limit = std::chrono::milliseconds(settings_.init_timeout_ms) +
               std::chrono::seconds(config.timeout_s) + std::chrono::seconds(30);
  if (future.wait_for(limit) != std::future_status::ready) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("the agent's loop did not finish the invocation of {} within {} "
                                "s (agent stopping?)",
                                config.name, limit.count() / 1000)};
  }
  return future.get();
}

void SandboxPool::start_cold(std::unique_ptr<ColdJob> job) {
  ++starting_;
  // std::function needs a copyable callable: the job travels as a shared_ptr.
  std::shared_ptr<ColdJob> shared(std::move(job));
  workers_.submit([this, shared] {
    auto started = std::make_shared<ApiResult<ColdStart>>(
        cold_start(settings_, registry_, mounts_, shared->config));
    loop_.post([this, shared, started] { on_cold_started(*shared, std::move(*started)); });
  });
}

SandboxPool::Slot& SandboxPool::adopt(std::unique_ptr<Sandbox> sandbox, const FunctionConfig& config,
                                      uint64_t generation) {
  auto owned = std::make_unique<Slot>();
  Slot& slot = *owned;
  slot.sandbox = std::move(sandbox);
  slot.key = pool_key(config);
  slot.function = config.name;
  slot.version = config.version;
  slot.generation = generation;
  slot.watch_op.done = [this, s = &slot](int res, uint32_t flags) {
    bool more = flags & IORING_CQE_F_MORE;
    if (s->state == Slot::State::kRetired) {
      if (!more) free_retired(s);  // its poll has ended: nothing refers to it now
      return;
    }
    // The kernel may end a multishot poll (e.g. CQ overflow): re-arm it.
    if (!more && !stopping_) loop_.watch(s->sandbox->channel_fd(), s->watch_op);
    if (res >= 0) on_readable(*s);
  };
  loop_.watch(slot.sandbox->channel_fd(), slot.watch_op);
  slots_.push_back(std::move(owned));
  return slot;
}

void SandboxPool::on_cold_started(ColdJob& job, ApiResult<ColdStart> started) {
  --starting_;
  const FunctionConfig& config = job.config;
  if (!job.call) {  // a provisioned sandbox
    auto& p = provisioning_[job.provisioned_for];
    if (p.starting > 0) --p.starting;
    if (!started || !started->sandbox) {
      p.failure = started ? fmt::format("Init failed: {}", started->init_error)
                          : started.error().message;
      p.retry_after = Clock::now() + std::chrono::seconds(5);
      if (started) log_.append(config.name, started->init_log, "");
      ++stats_for(config.name, config.version).init_failures;
      return;
    }
    p.failure.clear();
    log_.append(config.name, started->init_log, "");
    Slot& slot = adopt(std::move(started->sandbox), config, job.generation);
    slot.provisioned_for = job.provisioned_for;
    idle_[slot.key].push_back(&slot);
    maintain_provisioned();  // more than wanted now (config lowered meanwhile)?
    return;
  }
  std::unique_ptr<Call> call = std::move(job.call);
  FunctionStats& fs = stats_for(config.name, config.version);
  if (!started) {
    release(config.name, call->counted_unreserved);
    notify({config.name, config.version, InvokeRecord::Outcome::kServiceError, true});
    return call->done(started.error());
  }
  ColdStart& cs = *started;
  call->out.cold = true;
  call->out.init_ms = cs.init_duration_ms;
  call->out.restore_ms = cs.restore_ms;
  call->out.phases = cs.phases;
  // Lambda writes the Init phase's output before START.
  log_.append(config.name, cs.init_log, call->out.request_id);
  if (!cs.sandbox) {
    ++fs.init_failures;
    ++fs.invocations;
    ++fs.function_errors;
    InvokeOutcome& out = call->out;
    out.function_error = true;
    out.error_type = error_type_of(cs.init_error);
    out.body = std::move(cs.init_error);
    out.log = fmt::format("START RequestId: {} Version: {}\n", out.request_id, config.version) +
              fmt::format("END RequestId: {}\n", out.request_id) +
              report_line(out.request_id, 0, config.memory_mb, 0, cs.init_duration_ms,
                          cs.restore_ms);
    log_.append(config.name, out.log, out.request_id);
    release(config.name, call->counted_unreserved);
    notify({config.name, config.version, InvokeRecord::Outcome::kFunctionError, true, false, 0,
            &out.phases});
    return call->done(std::move(out));
  }
  Slot& slot = adopt(std::move(cs.sandbox), config, job.generation);
  begin_call(slot, std::move(call), std::move(job.payload));
}

void SandboxPool::begin_call(Slot& slot, std::unique_ptr<Call> call, std::vector<uint8_t> payload) {
  slot.state = Slot::State::kBusy;
  slot.call = std::move(call);
  Call& c = *slot.call;
  c.out.provisioned = slot.provisioned();
  c.log = fmt::format("START RequestId: {} Version: {}\n", c.out.request_id, slot.version);
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = c.out.request_id;
  Invocation inv;
  inv.deadline_ms = epoch_ms() + c.timeout_s * 1000ull;
  inv.invoked_function_arn = function_arn(kRegion, slot.function);
  if (slot.version != "$LATEST") inv.invoked_function_arn += ":" + slot.version;
  inv.payload = std::move(payload);
  f.payload = encode_invocation(inv);
  c.start = Clock::now();
  if (auto sent = slot.sandbox->send(f); !sent) {
    c.out.function_error = true;
    c.out.error_type = "Runtime.ExitError";
    c.out.body = error_json(c.out.error_type, sent.error().message);
    c.keep = false;
    return finish_call(slot);
  }
  set_deadline(slot, c.start + std::chrono::seconds(c.timeout_s));
}

void SandboxPool::on_readable(Slot& slot) {
  while (slot.state != Slot::State::kRetired) {
    auto frame = slot.sandbox->receive(0);
    if (!frame) return sandbox_ended(slot, frame.error().message);
    if (!*frame) return;
    if (slot.state == Slot::State::kBusy) on_frame(slot, **frame);
    // An idle sandbox has nothing to say; stray frames are dropped.
  }
}

void SandboxPool::on_frame(Slot& slot, Frame& r) {
  Call& c = *slot.call;
  if (!r.request_id.empty() && r.request_id != c.out.request_id) return;  // a stale frame
  auto fail = [&c](std::string type, std::string body) {
    c.out.function_error = true;
    c.out.error_type = std::move(type);
    c.out.body = std::move(body);
  };
  auto await_metrics = [&] {
    c.awaiting_metrics = true;
    if (c.out.cold) c.out.phases.first_invoke_ms = ms_since(c.start);
    set_deadline(slot, Clock::now() + kMetricsGrace);
  };
  switch (r.type) {
    case FrameType::kLogChunk:
      if (auto chunk = decode_log_chunk(r.payload)) c.log += chunk->text;
      return;
    case FrameType::kResponse:
      if (r.flags & kFlagMore) return;  // streamed chunks: Invoke returns buffered responses
      if (c.awaiting_metrics) return;
      c.out.body.assign(r.payload.begin(), r.payload.end());
      c.keep = true;
      return await_metrics();
    case FrameType::kError: {
      if (c.awaiting_metrics) return;
      auto report = decode_error_report(r.payload);
      if (report) {
        fail(report->error_type, report->body);
      } else {
        fail("Runtime.Unknown", error_json("Runtime.Unknown", report.error().message));
      }
      // A runtime that died is not reused; a handler's exception leaves it warm.
      c.keep = report && report->exit_status == kNoExitStatus;
      return await_metrics();
    }
    case FrameType::kMetrics:
      if (auto m = decode_metrics(r.payload)) c.max_memory = m->max_memory_bytes;
      if (c.awaiting_metrics) finish_call(slot);
      return;
    case FrameType::kInitError: {
      auto report = decode_error_report(r.payload);
      fail(report ? report->error_type : "Runtime.ExitError",
           report ? report->body : error_json("Runtime.ExitError", report.error().message));
      c.keep = false;
      return finish_call(slot);
    }
    default:
      return;  // frames for the host's other phases carry nothing for Invoke
  }
}

void SandboxPool::sandbox_ended(Slot& slot, const std::string& why) {
  if (slot.state == Slot::State::kBusy) {
    Call& c = *slot.call;
    if (!c.awaiting_metrics) {
      c.out.function_error = true;
      c.out.error_type = "Runtime.ExitError";
      c.out.body = error_json(c.out.error_type, why);
    }
    c.keep = false;
    return finish_call(slot);
  }
  retire(slot);  // an idle sandbox died; a provisioned one is replaced on the next tick
}

void SandboxPool::finish_call(Slot& slot) {
  std::unique_ptr<Call> owned = std::move(slot.call);
  Call& c = *owned;
  InvokeOutcome& out = c.out;
  slot.deadline = Clock::time_point::max();
  out.duration_ms = ms_since(c.start);
  if (auto stats = slot.sandbox->stats()) {
    c.max_memory = std::max(c.max_memory, stats->peak_memory_bytes);
    // The runtime died and the kernel's OOM killer acted in this sandbox
    // during the invocation: Lambda's Runtime.OutOfMemory.
    if (stats->oom_kills > slot.oom_kills && out.function_error && !c.keep) {
      out.error_type = "Runtime.OutOfMemory";
      out.body = error_json(out.error_type,
                            fmt::format("RequestId: {} Error: Runtime exited with error: signal: "
                                        "killed (out of memory: MemorySize {} MB)",
                                        out.request_id, c.memory_mb));
    }
    slot.oom_kills = stats->oom_kills;
  }
  c.log += fmt::format("END RequestId: {}\n", out.request_id);
  // Provisioned sandboxes ran Init ahead of time: no Init Duration (Lambda).
  c.log += report_line(out.request_id, out.duration_ms, c.memory_mb,
                       (c.max_memory + (1u << 20) - 1) >> 20, out.cold ? out.init_ms : -1,
                       out.cold ? out.restore_ms : -1);
  log_.append(slot.function, c.log, out.request_id);
  out.log = std::move(c.log);

  FunctionStats& fs = stats_for(slot.function, slot.version);
  ++fs.invocations;
  fs.duration.add(out.duration_ms);
  if (out.cold) {
    ++fs.cold_starts;
    fs.mounts.add(out.phases.mounts_ms);
    fs.create.add(out.phases.create_ms);
    fs.init.add(out.phases.init_ms);
    fs.first_invoke.add(out.phases.first_invoke_ms);
  } else {
    ++fs.warm_starts;
  }
  if (out.provisioned) ++fs.provisioned_starts;
  bool timed_out = out.error_type == "Sandbox.Timedout";
  if (timed_out) ++fs.timeouts;
  if (out.function_error) ++fs.function_errors;
  notify({slot.function, slot.version,
          timed_out            ? InvokeRecord::Outcome::kTimeout
          : out.function_error ? InvokeRecord::Outcome::kFunctionError
                               : InvokeRecord::Outcome::kSuccess,
          out.cold, out.provisioned, out.duration_ms, out.cold ? &out.phases : nullptr});
  release(slot.function, c.counted_unreserved);

  // A function deleted or re-created while this ran must not keep a warm
  // sandbox of the old code.
  bool keep = c.keep && slot.generation == generation_of(slot.function, slot.version) &&
              !slot.sandbox->exit_status();
  if (keep) {
    slot.state = Slot::State::kIdle;
    slot.idle_since = Clock::now();
    ++slot.served;
    idle_[slot.key].push_back(&slot);
  } else {
    ++slot.served;
    retire(slot);
  }
  c.done(std::move(out));
}

void SandboxPool::retire(Slot& slot) {
  if (slot.state == Slot::State::kIdle) {
    if (auto it = idle_.find(slot.key); it != idle_.end()) {
      std::erase(it->second, &slot);
      if (it->second.empty()) idle_.erase(it);
    }
  }
  slot.state = Slot::State::kRetired;
  slot.deadline = Clock::time_point::max();
  // Killing waits for the process and its cgroup: a worker does it.
  std::shared_ptr<Sandbox> dying(std::move(slot.sandbox));
  workers_.submit([dying] { (void)dying->kill(); });
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [&slot](const std::unique_ptr<Slot>& s) { return s.get() == &slot; });
  std::unique_ptr<Slot> owned = std::move(*it);
  slots_.erase(it);
  if (owned->watch_op.in_flight) {
    loop_.cancel(owned->watch_op);  // freed when the poll's last completion arrives
    retired_.push_back(std::move(owned));
  } else {
    // No completion will come, but one for it may be in this loop turn's
    // batch: free it on a later turn.
    Slot* raw = owned.get();
    retired_.push_back(std::move(owned));
    free_retired(raw);
  }
}

// Frees a retired slot on a later loop turn, never inside one of its own
// callbacks (the running callback lives in the slot).
void SandboxPool::free_retired(Slot* slot) {
  loop_.post([this, slot] {
    std::erase_if(retired_, [slot](const std::unique_ptr<Slot>& r) { return r.get() == slot; });
  });
}

void SandboxPool::drop_function(const std::string& name, const std::string& version) {
  if (!on_loop_thread()) {
    loop_.post([this, name, version] { drop_function(name, version); });
    return;
  }
  if (version.empty()) {
    ++generation_[name];
    log_.forget(name);
  } else {
    ++generation_[version_key(name, version)];  // the function's other versions stay warm
  }
  std::vector<Slot*> doomed;
  for (auto& s : slots_) {
    if (s->function == name && (version.empty() || s->version == version) &&
        s->state == Slot::State::kIdle) {
      doomed.push_back(s.get());
    }
  }
  for (Slot* s : doomed) retire(*s);
}

size_t SandboxPool::reap_idle(std::chrono::milliseconds keep_alive) {
  auto cutoff = Clock::now() - keep_alive;
  std::vector<Slot*> doomed;
  for (auto& s : slots_) {
    if (s->state == Slot::State::kIdle && !s->provisioned() && s->idle_since <= cutoff) {
      doomed.push_back(s.get());
    }
  }
  for (Slot* s : doomed) retire(*s);
  return doomed.size();
}

void SandboxPool::set_deadline(Slot& slot, Clock::time_point deadline) {
  slot.deadline = deadline;
  if (deadline < armed_) arm_timer(deadline);
}

// One io_uring timeout for every busy sandbox: armed for the earliest
// deadline, moved earlier with IORING_TIMEOUT_UPDATE. A warm invoke whose
// deadline is later than the armed one costs no timer syscall at all.
void SandboxPool::arm_timer(Clock::time_point when) {
  armed_ = when;
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(when - Clock::now()).count();
  if (ns < 0) ns = 0;
  timer_ts_.tv_sec = ns / 1000000000;
  timer_ts_.tv_nsec = ns % 1000000000;
  if (timer_op_.in_flight) {
    io_uring* ring = loop_.ring();
    io_uring_sqe* sqe = io_uring_get_sqe(ring);
    while (sqe == nullptr) {
      io_uring_submit(ring);
      sqe = io_uring_get_sqe(ring);
    }
    // If the timeout already fired, the update fails and on_timer re-arms.
    io_uring_prep_timeout_update(sqe, &timer_ts_, reinterpret_cast<uint64_t>(&timer_op_), 0);
    io_uring_sqe_set_data(sqe, nullptr);
  } else {
    io_uring_prep_timeout(loop_.prepare(timer_op_), &timer_ts_, 0, 0);
  }
}

void SandboxPool::on_timer() {
  auto now = Clock::now();
  std::vector<Slot*> due;
  auto next = Clock::time_point::max();
  for (auto& s : slots_) {
    if (s->state != Slot::State::kBusy) continue;
    if (s->deadline <= now + std::chrono::milliseconds(1)) {
      due.push_back(s.get());
    } else {
      next = std::min(next, s->deadline);
    }
  }
  for (Slot* s : due) {
    Call& c = *s->call;
    if (!c.awaiting_metrics) {
      std::string what = fmt::format("Task timed out after {:.2f} seconds",
                                     static_cast<double>(c.timeout_s));
      c.out.function_error = true;
      c.out.error_type = "Sandbox.Timedout";
      c.out.body = error_json("Sandbox.Timedout", fmt::format("{} {}", c.out.request_id, what));
      c.log += fmt::format("{} {} {}\n", lambda_timestamp_now(), c.out.request_id, what);
      c.keep = false;
    }
    finish_call(*s);
  }
  if (next != Clock::time_point::max() && next < armed_) arm_timer(next);
}

size_t SandboxPool::idle_sandboxes() const {
  size_t n = 0;
  for (const auto& s : slots_) n += s->state == Slot::State::kIdle;
  return n;
}

size_t SandboxPool::busy_sandboxes() const {
  size_t n = 0;
  for (const auto& s : slots_) n += s->state == Slot::State::kBusy;
  return n + starting_;
}

std::vector<SandboxInfo> SandboxPool::sandboxes() const {
  std::vector<SandboxInfo> out;
  auto now = Clock::now();
  for (const auto& s : slots_) {
    SandboxInfo i;
    i.function = s->function;
    i.version = s->version;
    i.state = s->state == Slot::State::kBusy ? "busy" : "idle";
    i.provisioned = s->provisioned();
    if (auto st = s->sandbox->stats()) {
      i.pid = st->pid;
      i.memory_bytes = st->memory_bytes;
    }
    i.age_s = std::chrono::duration<double>(now - s->created).count();
    i.invocations = s->served;
    out.push_back(std::move(i));
  }
  return out;
}

std::vector<FunctionStats> SandboxPool::function_stats() const {
  std::vector<FunctionStats> out;
  for (const auto& [key, s] : stats_) out.push_back(s);
  return out;
}

}  // namespace thaw::agent
