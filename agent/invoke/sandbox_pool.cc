#include "agent/invoke/sandbox_pool.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "common/file_util.h"
#include "layers/image_mount.h"
#include "runtime-api/messages.h"
#include "sandbox/process/process_sandbox.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// RFC 4122 version 4, like Lambda's request ids.
std::string new_request_id() {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  std::string s;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += fmt::format("{:02x}", b[i]);
  }
  return s;
}

uint64_t epoch_ms() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// thaw-init's runtime names follow guest/runtimes (nodejs20, not nodejs20.x).
std::string init_runtime_name(const std::string& runtime) {
  if (runtime == "nodejs20.x") return "nodejs20";
  return runtime;
}

std::string error_json(std::string_view type, std::string_view message) {
  return boost::json::serialize(boost::json::object{{"errorMessage", message}, {"errorType", type}});
}

}  // namespace

std::string report_line(const std::string& request_id, double duration_ms, uint32_t memory_mb,
                        uint64_t max_memory_mb, double init_ms) {
  auto billed = static_cast<uint64_t>(std::ceil(duration_ms));
  std::string line = fmt::format(
      "REPORT RequestId: {}\tDuration: {:.2f} ms\tBilled Duration: {} ms\tMemory Size: {} MB\t"
      "Max Memory Used: {} MB\t",
      request_id, duration_ms, billed < 1 ? 1 : billed, memory_mb, max_memory_mb);
  if (init_ms >= 0) line += fmt::format("Init Duration: {:.2f} ms\t", init_ms);
  return line + "\n";
}

SandboxPool::SandboxPool(PoolSettings settings, FunctionRegistry& registry)
    : settings_(std::move(settings)), registry_(registry) {}

SandboxPool::~SandboxPool() {
  std::lock_guard lock(mu_);
  for (auto& [name, warm] : idle_) {
    for (auto& w : warm) (void)w.sandbox->kill();
  }
  idle_.clear();
  for (const auto& m : mounted_) ::umount2(m.c_str(), MNT_DETACH);
}

size_t SandboxPool::idle_sandboxes() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [name, warm] : idle_) n += warm.size();
  return n;
}

size_t SandboxPool::busy_sandboxes() const {
  std::lock_guard lock(mu_);
  return busy_;
}

size_t SandboxPool::reap_idle(std::chrono::milliseconds keep_alive) {
  std::vector<Warm> dead;
  {
    std::lock_guard lock(mu_);
    auto cutoff = Clock::now() - keep_alive;
    for (auto it = idle_.begin(); it != idle_.end();) {
      auto& warm = it->second;
      for (auto w = warm.begin(); w != warm.end();) {
        if (w->idle_since <= cutoff) {
          dead.push_back(std::move(*w));
          w = warm.erase(w);
        } else {
          ++w;
        }
      }
      it = warm.empty() ? idle_.erase(it) : std::next(it);
    }
  }
  // Killing waits for the process: outside the lock.
  for (auto& w : dead) (void)w.sandbox->kill();
  return dead.size();
}

void SandboxPool::drop_function(const std::string& name) {
  std::vector<Warm> dead;
  {
    std::lock_guard lock(mu_);
    auto it = idle_.find(name);
    if (it == idle_.end()) return;
    dead = std::move(it->second);
    idle_.erase(it);
  }
  for (auto& w : dead) (void)w.sandbox->kill();
}

Result<std::string> SandboxPool::code_mount(const FunctionConfig& config) {
  std::string target = settings_.work_dir + "/code/" + config.code_digest;
  std::lock_guard lock(mu_);
  if (mounted_.contains(target)) return target;
  auto image = registry_.code_image(config);
  if (!image) return std::move(image).error();
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) return Error::format("creating the code mount point {}: {}", target, ec.message());
  ::umount2(target.c_str(), MNT_DETACH);  // a leftover from a crashed agent
  if (auto m = layers::mount_erofs(*image, target); !m) return std::move(m).error();
  mounted_.insert(target);
  return target;
}

void SandboxPool::append_log(const std::string& function, const std::string& text,
                             const std::string& request_id) {
  if (settings_.journal && !text.empty()) {
    (void)sd_journal_send("MESSAGE=%.*s", static_cast<int>(text.size() - (text.back() == '\n')),
                          text.data(), "PRIORITY=6", "SYSLOG_IDENTIFIER=thawd",
                          "THAW_FUNCTION=%s", function.c_str(), "THAW_REQUEST_ID=%s",
                          request_id.c_str(), nullptr);
  }
  std::string path = settings_.logs_dir + "/" + function + ".log";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return;  // logging must never fail an invocation
  UniqueFd owned(fd);
  (void)write_all(fd, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, path);
}

ApiResult<std::unique_ptr<Sandbox>> SandboxPool::cold_start(const FunctionConfig& config,
                                                            std::string& log, double& init_ms,
                                                            std::string& init_error) {
  auto code = code_mount(config);
  if (!code) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("mounting the code of {}: {}", config.name, code.error().message)};
  }
  ProcessSandboxOptions o;
  o.init_path = settings_.init_path;
  o.seccomp_policy_path = settings_.seccomp_policy_path;
  o.code_dir = *code;
  o.tmp_size_mb = config.ephemeral_mb;
  o.work_dir = settings_.work_dir;
  o.use_cgroup = settings_.use_cgroup;
  if (auto it = settings_.runtime_images.find(config.runtime); it != settings_.runtime_images.end()) {
    o.root_image = it->second;
  }
  auto sandbox = std::make_unique<ProcessSandbox>(o);
  InitConfig ic;
  ic.function_name = config.name;
  ic.handler = config.handler;
  ic.runtime = init_runtime_name(config.runtime);
  ic.memory_mb = config.memory_mb;
  ic.timeout_ms = config.timeout_s * 1000;
  ic.region = std::string(kRegion);
  ic.log_group = "/aws/lambda/" + config.name;
  ic.log_stream = "thaw/[$LATEST]" + new_request_id();
  for (const auto& kv : config.environment) ic.environment.push_back(kv);
  auto start = Clock::now();
  if (auto s = sandbox->start(ic); !s) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("starting a sandbox for {}: {}", config.name, s.error().message)};
  }
  auto deadline = start + std::chrono::milliseconds(settings_.init_timeout_ms);
  for (;;) {
    auto frame = sandbox->receive(ms_left(deadline));
    if (!frame || !*frame) {
      (void)sandbox->kill();
      init_ms = ms_since(start);
      init_error = frame ? error_json("Sandbox.Timedout",
                                      fmt::format("Init phase did not finish within {} ms",
                                                  settings_.init_timeout_ms))
                         : error_json("Runtime.ExitError", frame.error().message);
      return std::unique_ptr<Sandbox>();
    }
    Frame& f = **frame;
    if (f.type == FrameType::kLogChunk) {
      if (auto chunk = decode_log_chunk(f.payload)) log += chunk->text;
      continue;
    }
    if (f.type == FrameType::kReady) {
      init_ms = ms_since(start);
      return std::unique_ptr<Sandbox>(std::move(sandbox));
    }
    (void)sandbox->kill();
    init_ms = ms_since(start);
    if (f.type == FrameType::kInitError) {
      auto report = decode_error_report(f.payload);
      init_error = report ? report->body : error_json("Sandbox.InitFailed", report.error().message);
    } else {
      init_error = error_json("Sandbox.InitFailed",
                              fmt::format("unexpected frame type {} during Init",
                                          static_cast<int>(f.type)));
    }
    return std::unique_ptr<Sandbox>();
  }
}

ApiResult<InvokeOutcome> SandboxPool::invoke(const FunctionConfig& config,
                                             std::vector<uint8_t> payload) {
  InvokeOutcome out;
  out.request_id = new_request_id();
  const std::string stamp = config.code_digest + config.last_modified;
  std::unique_ptr<Sandbox> sandbox;
  {
    std::lock_guard lock(mu_);
    auto& warm = idle_[config.name];
    // Sandboxes of an older incarnation of this name are not reused.
    while (!warm.empty() && !sandbox) {
      Warm w = std::move(warm.back());
      warm.pop_back();
      if (w.stamp == stamp) {
        sandbox = std::move(w.sandbox);
      } else {
        (void)w.sandbox->kill();
      }
    }
    size_t idle = 0;
    for (const auto& [name, list] : idle_) idle += list.size();
    if (!sandbox && busy_ + idle >= settings_.max_sandboxes) {
      return ApiError{ApiErrorKind::kTooManyRequests,
                      fmt::format("Rate Exceeded: this agent runs at most {} sandboxes "
                                  "(thawd --max-sandboxes); retry later",
                                  settings_.max_sandboxes)};
    }
    ++busy_;
  }
  struct Release {
    SandboxPool& pool;
    ~Release() {
      std::lock_guard lock(pool.mu_);
      --pool.busy_;
    }
  } release{*this};

  std::string log = fmt::format("START RequestId: {} Version: $LATEST\n", out.request_id);
  double init_ms = -1;
  if (!sandbox) {
    out.cold = true;
    std::string init_error;
    std::string init_log;
    auto started = cold_start(config, init_log, init_ms, init_error);
    if (!started) return started.error();
    out.init_ms = init_ms;
    // Lambda writes the Init phase's output before START.
    if (!init_log.empty()) append_log(config.name, init_log, out.request_id);
    sandbox = std::move(*started);
    if (!sandbox) {
      out.function_error = true;
      boost::system::error_code ec;
      auto v = boost::json::parse(init_error, ec);
      out.error_type = !ec && v.is_object() && v.as_object().contains("errorType") &&
                               v.at("errorType").is_string()
                           ? std::string(v.at("errorType").as_string())
                           : "Runtime.Unknown";
      out.body = init_error;
      out.log = log + fmt::format("END RequestId: {}\n", out.request_id) +
                report_line(out.request_id, 0, config.memory_mb, 0, init_ms);
      append_log(config.name, out.log, out.request_id);
      return out;
    }
  }

  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = out.request_id;
  Invocation inv;
  inv.deadline_ms = epoch_ms() + config.timeout_s * 1000ull;
  inv.invoked_function_arn = function_arn(kRegion, config.name);
  inv.payload = std::move(payload);
  f.payload = encode_invocation(inv);
  auto start = Clock::now();
  auto deadline = start + std::chrono::seconds(config.timeout_s);
  // The result frame, then (briefly) the metrics frame that follows it.
  enum class Phase { kAwaitResult, kAwaitMetrics, kDone };
  Phase phase = Phase::kAwaitResult;
  bool keep = false;
  uint64_t max_memory = 0;
  if (auto sent = sandbox->send(f); !sent) {
    out.function_error = true;
    out.error_type = "Runtime.ExitError";
    out.body = error_json(out.error_type, sent.error().message);
    phase = Phase::kDone;
  }
  auto fail = [&out](std::string type, std::string body) {
    out.function_error = true;
    out.error_type = std::move(type);
    out.body = std::move(body);
  };
  while (phase != Phase::kDone) {
    auto frame = sandbox->receive(phase == Phase::kAwaitResult ? ms_left(deadline) : 1000);
    if (!frame || !*frame) {
      if (phase == Phase::kAwaitResult && !frame) {
        fail("Runtime.ExitError", error_json("Runtime.ExitError", frame.error().message));
      } else if (phase == Phase::kAwaitResult) {
        std::string what = fmt::format("Task timed out after {:.2f} seconds",
                                       static_cast<double>(config.timeout_s));
        fail("Sandbox.Timedout",
             error_json("Sandbox.Timedout", fmt::format("{} {}", out.request_id, what)));
        log += fmt::format("{} {} {}\n", lambda_timestamp_now(), out.request_id, what);
        keep = false;
      }
      break;
    }
    Frame& r = **frame;
    if (!r.request_id.empty() && r.request_id != out.request_id) continue;  // a stale frame
    switch (r.type) {
      case FrameType::kLogChunk:
        if (auto chunk = decode_log_chunk(r.payload)) log += chunk->text;
        break;
      case FrameType::kResponse:
        if (r.flags & kFlagMore) break;  // streamed chunks: Invoke returns buffered responses
        out.body.assign(r.payload.begin(), r.payload.end());
        keep = true;
        phase = Phase::kAwaitMetrics;
        break;
      case FrameType::kError: {
        auto report = decode_error_report(r.payload);
        if (report) {
          fail(report->error_type, report->body);
        } else {
          fail("Runtime.Unknown", error_json("Runtime.Unknown", report.error().message));
        }
        // A runtime that died is not reused; a handler's exception leaves it warm.
        keep = report && report->exit_status == kNoExitStatus;
        phase = Phase::kAwaitMetrics;
        break;
      }
      case FrameType::kMetrics:
        if (auto m = decode_metrics(r.payload)) max_memory = m->max_memory_bytes;
        if (phase == Phase::kAwaitMetrics) phase = Phase::kDone;
        break;
      case FrameType::kInitError: {
        auto report = decode_error_report(r.payload);
        fail(report ? report->error_type : "Runtime.ExitError",
             report ? report->body : error_json("Runtime.ExitError", report.error().message));
        keep = false;
        phase = Phase::kDone;
        break;
      }
      default:
        break;  // frames for the host's other phases carry nothing for Invoke
    }
  }
  out.duration_ms = ms_since(start);
  if (auto stats = sandbox->stats(); stats && stats->peak_memory_bytes > max_memory) {
    max_memory = stats->peak_memory_bytes;
  }
  // A function deleted or re-created while this ran must not get (or keep)
  // a warm sandbox of the old code.
  auto current = registry_.get(config.name);
  bool still_current = current && current->code_digest + current->last_modified == stamp;
  if (!keep || !still_current || sandbox->exit_status()) {
    (void)sandbox->kill();
  } else {
    std::lock_guard lock(mu_);
    idle_[config.name].push_back(Warm{std::move(sandbox), stamp, Clock::now()});
  }
  log += fmt::format("END RequestId: {}\n", out.request_id);
  log += report_line(out.request_id, out.duration_ms, config.memory_mb,
                     (max_memory + (1u << 20) - 1) >> 20, out.cold ? init_ms : -1);
  append_log(config.name, log, out.request_id);
  out.log = std::move(log);
  return out;
}

}  // namespace thaw::agent
