#include "agent/ops/agent_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fmt/chrono.h>
#include <fmt/format.h>

#include "agent/api/api_router.h"
#include "agent/api/function_config.h"
#include "agent/api/lambda_error.h"
#include "common/file_util.h"

namespace thaw::agent::ops {
namespace http = boost::beast::http;
namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTick = std::chrono::milliseconds(200);
constexpr std::string_view kRoutes =
    "GET /agent/v1/{health,capacity,sandboxes,metrics,drain}, POST|DELETE /agent/v1/drain, "
    "GET /agent/v1/functions/NAME/logs?offset=N&wait=S";

std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

bool is_invoke(const HttpRequest& req, const ApiPath& p) {
  return req.method() == http::verb::post && p.segments.size() == 4 &&
         p.segments[0] == "2015-03-31" && p.segments[1] == "functions" &&
         p.segments[3] == "invocations";
}

// A non-negative integer query parameter, or an error naming it and the limit.
std::optional<ApiError> read_uint_param(std::string_view query, std::string_view key,
                                        uint64_t max, uint64_t& out) {
  auto v = query_param(query, key);
  if (!v) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0 || (*v)[0] == '-' || n > max) {
    return invalid_parameter(
        fmt::format("query parameter {}='{}' must be an integer from 0 to {}", key, *v, max));
  }
  out = n;
  return std::nullopt;
}

// MemTotal/MemAvailable from /proc/meminfo, in MiB (0 when unreadable).
std::pair<uint64_t, uint64_t> host_memory_mb() {
  auto text = read_pseudo_file("/proc/meminfo");
  if (!text) return {0, 0};
  auto field = [&](std::string_view key) -> uint64_t {
    size_t at = text->find(key);
    if (at == std::string::npos) return 0;
    return std::strtoull(text->c_str() + at + key.size(), nullptr, 10) / 1024;  // kB -> MiB
  };
  return {field("MemTotal:"), field("MemAvailable:")};
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

// The answer to a logs request: the slice (an absent log reads as empty at
// `offset`) with the offset to ask for next.
HttpResponse log_response(Result<std::optional<LogSlice>> slice, uint64_t offset) {
  if (!slice) return render_api_error(invalid_parameter(slice.error().message));
  LogSlice s = slice->value_or(LogSlice{});
  if (!*slice) s.next_offset = offset;
  return HttpResponse{200,
                      {{"Content-Type", "text/plain; charset=utf-8"},
                       {"X-Thaw-Log-Offset", std::to_string(s.next_offset)},
                       {"X-Thaw-Log-Size", std::to_string(s.size)}},
                      std::move(s.text)};
}

}  // namespace

std::string_view drain_state_name(DrainState state) {
  switch (state) {
    case DrainState::kServing: return "serving";
    case DrainState::kDraining: return "draining";
    case DrainState::kDrained: return "drained";
  }
  return "unknown";
}

Result<std::optional<LogSlice>> read_log_slice(const std::string& path, uint64_t offset,
                                               uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<LogSlice>();
    return Error::from_errno("opening the log {}", path);
  }
  UniqueFd owned(fd);
  struct stat st{};
  if (::fstat(fd, &st) < 0) return Error::from_errno("stat {}", path);
  if (!S_ISREG(st.st_mode)) return Error::format("{} is not a regular file", path);
  LogSlice s;
  s.size = static_cast<uint64_t>(st.st_size);
  if (offset > s.size) {
    return Error::format("offset {} is past the end of the log ({} bytes): the log was truncated "
                         "or replaced; read again from offset 0",
                         offset, s.size);
  }
  s.text.resize(std::min<uint64_t>(limit, s.size - offset));
  size_t got = 0;
  while (got < s.text.size()) {
    ssize_t n = ::pread(fd, s.text.data() + got, s.text.size() - got,
                        static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error::from_errno("reading {}", path);
    if (n == 0) break;  // shrank under us
    got += static_cast<size_t>(n);
  }
  s.text.resize(got);
  s.next_offset = offset + got;
  return std::optional<LogSlice>(std::move(s));
}

AgentOps::AgentOps(IoLoop& loop, AgentView view, MetricsRegistry& metrics)
    : loop_(loop), view_(std::move(view)), metrics_(metrics) {}

void AgentOps::stop() {
  timer_.stop();
  for (auto& w : waiters_) {
    w.reply(render_api_error(503, "ServiceException", "the agent is stopping"));
  }
  waiters_.clear();
}

DrainState AgentOps::drain_state() const {
  if (drain_source_.empty()) return DrainState::kServing;
  SandboxCounts c = view_.counts();
  // Provisioned sandboxes stay (drain ends on-demand ones only).
  return in_flight_ == 0 && c.busy == 0 && c.idle == 0
             ? DrainState::kDrained
             : DrainState::kDraining;
}

void AgentOps::begin_drain(std::string source) {
  if (drain_source_.empty()) {
    drain_source_ = std::move(source);
    drain_started_ = std::chrono::system_clock::now();
  } else if (source == "signal") {
    drain_source_ = std::move(source);  // a signal drain outranks an API one
  }
  // systemd shows it in `systemctl status thawd`; STOPPING=1 is only for
  // SIGTERM (it makes systemd stop the unit), sent by service.cc.
  ::sd_notifyf(0, "STATUS=draining (%s): new invokes get 503", drain_source_.c_str());
  if (view_.kill_idle) view_.kill_idle();
  update_timer();
}

bool AgentOps::cancel_drain() {
  if (drain_source_ == "signal") return false;
  drain_source_.clear();
  ::sd_notify(0, "STATUS=serving");
  update_timer();
  return true;
}

json::object AgentOps::drain_status() const {
  SandboxCounts c = view_.counts();
  json::object o{{"state", drain_state_name(drain_state())},
                 {"invocations_in_flight", in_flight_},
                 {"busy_sandboxes", c.busy},
                 {"idle_sandboxes", c.idle},
                 {"provisioned_sandboxes", c.provisioned},
                 {"refused_invocations", refused_}};
  if (!drain_source_.empty()) {
    o["source"] = drain_source_;
    o["since"] = iso_time(drain_started_);
  }
  return o;
}

json::object AgentOps::capacity() const {
  SandboxCounts c = view_.counts();
  uint64_t max = view_.max_sandboxes();
  uint64_t used = c.idle + c.busy + c.provisioned;
  uint64_t configured_mb = 0, used_bytes = 0;
  for (const auto& s : view_.sandboxes()) {
    configured_mb += s.memory_mb;
    used_bytes += s.memory_bytes;
  }
  auto [total_mb, available_mb] = host_memory_mb();
  return json::object{
      {"max_sandboxes", max},
      {"sandboxes", json::object{{"idle", c.idle},
                                 {"busy", c.busy},
                                 {"provisioned", c.provisioned},
                                 {"free_slots", used >= max ? 0 : max - used}}},
      {"memory_mb", json::object{{"host_total", total_mb},
                                 {"host_available", available_mb},
                                 {"sandboxes_configured", configured_mb},
                                 {"sandboxes_used", (used_bytes + (1u << 20) - 1) >> 20}}},
      {"functions", view_.functions()},
      {"invocations_in_flight", in_flight_},
      {"drain", drain_state_name(drain_state())}};
}

bool AgentOps::handle(HttpRequest& req, HttpReply& reply) {
  ApiPath p = split_target(sv(req.target()));
  if (is_invoke(req, p)) {
    const std::string& function = p.segments[2];
    if (!drain_source_.empty()) {
      ++refused_;
      metrics_.record_invocation(function, Outcome::kServiceError);
      reply(render_api_error(
          503, "ServiceException",
          fmt::format("the agent is draining ({}): it finishes the invocations in flight and "
                      "takes no new ones; send the invoke to another host, or resume this one "
                      "with DELETE /agent/v1/drain",
                      drain_source_ == "signal" ? "stopping on SIGTERM" : "POST /agent/v1/drain")));
      return true;
    }
    wrap_invoke(function, reply);
    return false;
  }
  if (p.segments.size() < 3 || p.segments[0] != "agent" || p.segments[1] != "v1") return false;
  const auto method = req.method();
  const std::string& what = p.segments[2];
  auto wrong_method = [&](std::string_view allowed) {
    reply(render_api_error(405, "UnknownOperationException",
                           fmt::format("{} {} is not an operation; /agent/v1/{} takes {}",
                                       sv(req.method_string()), sv(req.target()), what, allowed)));
    return true;
  };
  if (p.segments.size() == 3 && what == "health") {
    if (method != http::verb::get) return wrong_method("GET");
    SandboxCounts c = view_.counts();
    reply(json_reply(200, json::object{{"status", drain_source_.empty() ? "ok" : "draining"},
                                          {"functions", view_.functions()},
                                          {"idle_sandboxes", c.idle},
                                          {"busy_sandboxes", c.busy},
                                          {"provisioned_sandboxes", c.provisioned}}));
    return true;
  }
  if (p.segments.size() == 3 && what == "capacity") {
    if (method != http::verb::get) return wrong_method("GET");
    reply(json_reply(200, capacity()));
    return true;
  }
  if (p.segments.size() == 3 && what == "sandboxes") {
    if (method != http::verb::get) return wrong_method("GET");
    json::array rows;
    for (const auto& s : view_.sandboxes()) {
      rows.push_back(json::object{{"function", s.function},
                                  {"version", s.version},
                                  {"state", s.state},
                                  {"provisioned", s.provisioned},
                                  {"pid", s.pid},
                                  {"memory_bytes", s.memory_bytes},
                                  {"memory_mb", s.memory_mb},
                                  {"age_s", s.age_s},
                                  {"invocations", s.invocations}});
    }
    reply(json_reply(200, json::object{{"sandboxes", std::move(rows)}}));
    return true;
  }
  if (p.segments.size() == 3 && what == "metrics") {
    if (method != http::verb::get) return wrong_method("GET");
    SandboxCounts c = view_.counts();
    SandboxGauges g{c.idle, c.busy, c.provisioned, in_flight_, !drain_source_.empty()};
    if (view_.async_events_pending) g.async_events_pending = view_.async_events_pending();
    if (view_.async_events_in_flight) g.async_events_in_flight = view_.async_events_in_flight();
    reply(HttpResponse{200,
                       {{"Content-Type", "text/plain; version=0.0.4; charset=utf-8"}},
                       metrics_.render_prometheus(g)});
    return true;
  }
  if (p.segments.size() == 3 && what == "drain") {
    if (method != http::verb::get && method != http::verb::post && method != http::verb::delete_) {
      return wrong_method("GET, POST or DELETE");
    }
    reply(drain_route(req));
    return true;
  }
  if (p.segments.size() == 5 && what == "functions" && p.segments[4] == "logs") {
    if (method != http::verb::get) return wrong_method("GET");
    bool parked = false;
    HttpResponse r = serve_logs(p.segments[3], p.query, reply, parked);
    if (!parked) reply(std::move(r));
    return true;
  }
  reply(render_api_error(404, "UnknownOperationException",
                         fmt::format("no agent operation {} {}; the agent-only API is {}",
                                     sv(req.method_string()), sv(req.target()), kRoutes)));
  return true;
}

HttpResponse AgentOps::drain_route(const HttpRequest& req) {
  if (req.method() == http::verb::post) {
    bool started = drain_source_.empty();
    begin_drain("api");
    return json_reply(started ? 202 : 200, drain_status());
  }
  if (req.method() == http::verb::delete_) {
    if (!cancel_drain()) {
      return render_api_error(409, "ResourceConflictException",
                              "the agent is stopping on SIGTERM; that drain cannot be cancelled");
    }
    return json_reply(200, drain_status());
  }
  return json_reply(200, drain_status());
}

void AgentOps::wrap_invoke(const std::string& function, HttpReply& reply) {
  ++in_flight_;
  reply = [this, function, start = Clock::now(), inner = std::move(reply)](HttpResponse r) {
    --in_flight_;
    metrics_.observe_invoke_latency(function,
                                    std::chrono::duration<double>(Clock::now() - start).count());
    // Throttles, successes, function and pool errors reach the metrics
    // through the pool's observer; what the router refused never got there.
    if (r.status >= 400 && r.status != 429 && r.status < 500) {
      metrics_.record_invocation(function, Outcome::kClientError);
    }
    inner(std::move(r));
  };
}

HttpResponse AgentOps::serve_logs(const std::string& function, std::string_view query,
                                  HttpReply& reply, bool& parked) {
  if (auto bad = check_function_name(function)) return render_api_error(*bad);
  uint64_t offset = 0, limit = kDefaultLogChunkBytes, wait_s = 0;
  for (auto [key, max, out] : {std::tuple{"offset", UINT64_MAX / 2, &offset},
                               {"limit", kMaxLogChunkBytes, &limit},
                               {"wait", uint64_t{kMaxLogWaitSeconds}, &wait_s}}) {
    if (auto bad = read_uint_param(query, key, max, *out)) return render_api_error(*bad);
  }
  if (limit == 0) limit = kDefaultLogChunkBytes;
  auto slice = read_log_slice(view_.logs_dir + "/" + function + ".log", offset, limit);
  if (slice && !*slice && !view_.function_exists(function)) {
    return render_api_error(
        404, "ResourceNotFoundException",
        fmt::format("Function not found: {} (and no log of that name in {})",
                    function_arn(kRegion, function), view_.logs_dir));
  }
  bool empty = slice && (!*slice || (*slice)->text.empty());
  if (empty && wait_s > 0) {
    waiters_.push_back(LogWaiter{function, offset, limit,
                                 Clock::now() + std::chrono::seconds(wait_s), std::move(reply)});
    parked = true;
    update_timer();
    return {};
  }
  return log_response(std::move(slice), offset);
}

void AgentOps::tick() {
  if (!drain_source_.empty()) {
    if (view_.counts().idle > 0 && view_.kill_idle) view_.kill_idle();
  }
  auto now = Clock::now();
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto slice = read_log_slice(view_.logs_dir + "/" + it->function + ".log", it->offset, it->limit);
    bool has_data = slice && *slice && !(*slice)->text.empty();
    if (!has_data && slice && now < it->deadline) {
      ++it;
      continue;
    }
    HttpResponse r = log_response(std::move(slice), it->offset);
    HttpReply reply = std::move(it->reply);
    it = waiters_.erase(it);
    reply(std::move(r));
  }
  update_timer();
}

void AgentOps::update_timer() {
  bool needed = !waiters_.empty() ||
                (!drain_source_.empty() && drain_state() == DrainState::kDraining);
  if (needed && !timer_.running()) {
    timer_.start(loop_, kTick, [this] { tick(); });
  } else if (!needed && timer_.running()) {
    timer_.stop();
  }
}

}  // namespace thaw::agent::ops
