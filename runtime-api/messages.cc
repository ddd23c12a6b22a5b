#include "runtime-api/messages.h"

#include <cstring>

namespace thaw {
namespace {

// Little-endian writer/reader. Strings are a u32 length then bytes; the
// trailing payload of an invocation is the rest of the frame.
class Writer {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void rest(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
};

class Reader {
 public:
  Reader(std::span<const uint8_t> b, std::string_view what) : b_(b), what_(what) {}

  Result<uint8_t> u8(std::string_view field) {
    if (auto ok = need(1, field); !ok) return std::move(ok).error();
    return b_[pos_++];
  }
  Result<uint32_t> u32(std::string_view field) {
    if (auto ok = need(4, field); !ok) return std::move(ok).error();
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= uint32_t{b_[pos_ + i]} << (8 * i);
    pos_ += 4;
    return v;
  }
  Result<uint64_t> u64(std::string_view field) {
    if (auto ok = need(8, field); !ok) return std::move(ok).error();
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{b_[pos_ + i]} << (8 * i);
    pos_ += 8;
    return v;
  }
  Result<std::string> str(std::string_view field, size_t max = kMaxFieldBytes) {
    auto len = u32(field);
    if (!len) return std::move(len).error();
    if (*len > max) {
      return Error::format("{} field '{}' is {} bytes, over its {}-byte limit", what_, field,
                           *len, max);
    }
    if (auto ok = need(*len, field); !ok) return std::move(ok).error();
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), *len);
    pos_ += *len;
    return s;
  }
  std::span<const uint8_t> rest() {
    auto r = b_.subspan(pos_);
    pos_ = b_.size();
    return r;
  }
  Result<void> done() const {
    if (pos_ != b_.size()) {
      return Error::format("{} has {} trailing bytes after its last field", what_,
                           b_.size() - pos_);
    }
    return Ok();
  }

 private:
  Result<void> need(size_t n, std::string_view field) {
    if (b_.size() - pos_ < n) {
      return Error::format("{} is truncated in field '{}': needs {} more bytes, {} left", what_,
                           field, n, b_.size() - pos_);
    }
    return Ok();
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
  std::string_view what_;
};

// TRY(var, expr): unwraps a Result or returns its error.
#define THAW_TRY(var, expr)                       \
  auto var##_r = (expr);                          \
  if (!var##_r) return std::move(var##_r).error(); \
  auto var = std::move(*var##_r)

}  // namespace

std::vector<uint8_t> encode_init_config(const InitConfig& c) {
  Writer w;
  w.str(c.function_name);
  w.str(c.function_version);
  w.str(c.handler);
  w.str(c.runtime);
  w.u32(c.memory_mb);
  w.u32(c.timeout_ms);
  w.str(c.region);
  w.str(c.log_group);
  w.str(c.log_stream);
  w.str(c.initialization_type);
  w.str(c.credentials.access_key_id);
  w.str(c.credentials.secret_access_key);
  w.str(c.credentials.session_token);
  w.u32(static_cast<uint32_t>(c.environment.size()));
  for (const auto& [k, v] : c.environment) {
    w.str(k);
    w.str(v);
  }
  w.u32(static_cast<uint32_t>(c.mounts.size()));
  for (const auto& m : c.mounts) {
    w.str(m.source);
    w.str(m.target);
    w.str(m.fstype);
    w.str(m.options);
    w.u8(m.read_only ? 1 : 0);
  }
  w.str(c.new_root);
  w.str(c.bootstrap);
  w.u32(c.run_as_uid);
  w.u32(c.run_as_gid);
  return w.take();
}

Result<InitConfig> decode_init_config(std::span<const uint8_t> b) {
  Reader r(b, "init config");
  InitConfig c;
  {
    THAW_TRY(v, r.str("function_name"));
    c.function_name = std::move(v);
  }
  {
    THAW_TRY(v, r.str("function_version"));
    c.function_version = std::move(v);
  }
  {
    THAW_TRY(v, r.str("handler"));
    c.handler = std::move(v);
  }
  {
    THAW_TRY(v, r.str("runtime"));
    c.runtime = std::move(v);
  }
  {
    THAW_TRY(v, r.u32("memory_mb"));
    c.memory_mb = v;
  }
  {
    THAW_TRY(v, r.u32("timeout_ms"));
    c.timeout_ms = v;
  }
  std::string* strings[] = {&c.region,
                            &c.log_group,
                            &c.log_stream,
                            &c.initialization_type,
                            &c.credentials.access_key_id,
                            &c.credentials.secret_access_key,
                            &c.credentials.session_token};
  const char* names[] = {"region",        "log_group",         "log_stream",   "initialization_type",
                         "access_key_id", "secret_access_key", "session_token"};
  for (size_t i = 0; i < std::size(strings); ++i) {
    THAW_TRY(v, r.str(names[i]));
    *strings[i] = std::move(v);
  }
  THAW_TRY(env_count, r.u32("environment count"));
  if (env_count > kMaxEnvVars) {
    return Error::format("init config has {} environment variables, over the limit of {}",
                         env_count, kMaxEnvVars);
  }
  for (uint32_t i = 0; i < env_count; ++i) {
    THAW_TRY(k, r.str("environment name"));
    THAW_TRY(v, r.str("environment value"));
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      return Error::format("init config environment variable #{} ('{}') has an empty name, "
                           "'=' in its name, or a NUL byte",
                           i, k.substr(0, 64));
    }
    c.environment.emplace_back(std::move(k), std::move(v));
  }
  THAW_TRY(mount_count, r.u32("mount count"));
  if (mount_count > kMaxMounts) {
    return Error::format("init config has {} mounts, over the limit of {}", mount_count,
                         kMaxMounts);
  }
  for (uint32_t i = 0; i < mount_count; ++i) {
    MountSpec m;
    THAW_TRY(src, r.str("mount source", 4096));
    THAW_TRY(dst, r.str("mount target", 4096));
    THAW_TRY(fs, r.str("mount fstype", 64));
    THAW_TRY(opts, r.str("mount options", 16384));
    THAW_TRY(ro, r.u8("mount read_only"));
    if (ro > 1) return Error::format("init config mount #{} read_only is {}, not 0 or 1", i, ro);
    if (dst.empty() || dst[0] != '/') {
      return Error::format("init config mount #{} target '{}' is not an absolute path", i, dst);
    }
    m.source = std::move(src);
    m.target = std::move(dst);
    m.fstype = std::move(fs);
    m.options = std::move(opts);
    m.read_only = ro == 1;
    c.mounts.push_back(std::move(m));
  }
  {
    THAW_TRY(v, r.str("new_root", 4096));
    c.new_root = std::move(v);
  }
  {
    THAW_TRY(v, r.str("bootstrap", 4096));
    c.bootstrap = std::move(v);
  }
  {
    THAW_TRY(uid, r.u32("run_as_uid"));
    THAW_TRY(gid, r.u32("run_as_gid"));
    c.run_as_uid = uid;
    c.run_as_gid = gid;
  }
  if (auto ok = r.done(); !ok) return std::move(ok).error();
  return c;
}

std::vector<uint8_t> encode_invocation(const Invocation& i) {
  Writer w;
  w.u64(i.deadline_ms);
  w.str(i.invoked_function_arn);
  w.str(i.trace_id);
  w.str(i.client_context);
  w.str(i.cognito_identity);
  w.rest(i.payload);
  return w.take();
}

Result<Invocation> decode_invocation(std::span<const uint8_t> b) {
  Reader r(b, "invocation");
  Invocation i;
  THAW_TRY(deadline, r.u64("deadline_ms"));
  i.deadline_ms = deadline;
  THAW_TRY(arn, r.str("invoked_function_arn", 2048));
  THAW_TRY(trace, r.str("trace_id", 4096));
  THAW_TRY(ctx, r.str("client_context"));
  THAW_TRY(cognito, r.str("cognito_identity"));
  // These become HTTP header values for the runtime: CR/LF would let the
  // host's caller inject headers, so refuse them here.
  for (const std::string* s : {&arn, &trace, &ctx, &cognito}) {
    if (s->find_first_of("\r\n", 0, 3) != std::string::npos) {
      return Error::format("invocation header field holds CR, LF or NUL; encode it (e.g. base64)");
    }
  }
  i.invoked_function_arn = std::move(arn);
  i.trace_id = std::move(trace);
  i.client_context = std::move(ctx);
  i.cognito_identity = std::move(cognito);
  auto rest = r.rest();
  i.payload.assign(rest.begin(), rest.end());
  return i;
}

std::vector<uint8_t> encode_error_report(const ErrorReport& e) {
  Writer w;
  w.str(e.error_type);
  w.u32(static_cast<uint32_t>(e.exit_status));
  w.rest({reinterpret_cast<const uint8_t*>(e.body.data()), e.body.size()});
  return w.take();
}

Result<ErrorReport> decode_error_report(std::span<const uint8_t> b) {
  Reader r(b, "error report");
  ErrorReport e;
  THAW_TRY(type, r.str("error_type", 1024));
  THAW_TRY(status, r.u32("exit_status"));
  e.error_type = std::move(type);
  e.exit_status = static_cast<int32_t>(status);
  auto rest = r.rest();
  e.body.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
  return e;
}

std::vector<uint8_t> encode_log_chunk(const LogChunk& l) {
  Writer w;
  w.u8(static_cast<uint8_t>(l.stream));
  w.rest({reinterpret_cast<const uint8_t*>(l.text.data()), l.text.size()});
  return w.take();
}

Result<LogChunk> decode_log_chunk(std::span<const uint8_t> b) {
  Reader r(b, "log chunk");
  THAW_TRY(stream, r.u8("stream"));
  if (stream > static_cast<uint8_t>(LogStream::kSystem)) {
    return Error::format("log chunk stream {} is unknown (0 stdout, 1 stderr, 2 system)", stream);
  }
  LogChunk l;
  l.stream = static_cast<LogStream>(stream);
  auto rest = r.rest();
  l.text.assign(reinterpret_cast<const char*>(rest.data()), rest.size());
  return l;
}

std::vector<uint8_t> encode_metrics(const InvocationMetrics& m) {
  Writer w;
  w.u64(m.duration_us);
  w.u64(m.max_memory_bytes);
  return w.take();
}

Result<InvocationMetrics> decode_metrics(std::span<const uint8_t> b) {
  Reader r(b, "metrics");
  THAW_TRY(d, r.u64("duration_us"));
  THAW_TRY(m, r.u64("max_memory_bytes"));
  if (auto ok = r.done(); !ok) return std::move(ok).error();
  return InvocationMetrics{d, m};
}

std::vector<uint8_t> encode_ready(const ReadyInfo& ri) {
  Writer w;
  w.u8(static_cast<uint8_t>(ri.phase));
  w.u64(ri.init_duration_us);
  w.u64(ri.max_memory_bytes);
  return w.take();
}

Result<ReadyInfo> decode_ready(std::span<const uint8_t> b) {
  Reader r(b, "ready");
  THAW_TRY(phase, r.u8("phase"));
  if (phase > static_cast<uint8_t>(ReadyPhase::kSnapshotPoint)) {
    return Error::format("ready phase {} is unknown (0 init done, 1 snapshot point)", phase);
  }
  THAW_TRY(d, r.u64("init_duration_us"));
  THAW_TRY(m, r.u64("max_memory_bytes"));
  if (auto ok = r.done(); !ok) return std::move(ok).error();
  return ReadyInfo{static_cast<ReadyPhase>(phase), d, m};
}

std::vector<uint8_t> encode_restore_notice(const RestoreNotice& n) {
  Writer w;
  w.u64(n.wall_clock_ns);
  w.rest(n.entropy);
  return w.take();
}

Result<RestoreNotice> decode_restore_notice(std::span<const uint8_t> b) {
  Reader r(b, "restore notice");
  THAW_TRY(clock, r.u64("wall_clock_ns"));
  auto rest = r.rest();
  if (rest.size() > kMaxEntropyBytes) {
    return Error::format("restore notice carries {} entropy bytes, over the {}-byte limit",
                         rest.size(), kMaxEntropyBytes);
  }
  if (rest.size() < 32) {
    return Error::format("restore notice carries {} entropy bytes; at least 32 are needed to "
                         "reseed the guest RNG",
                         rest.size());
  }
  RestoreNotice n;
  n.wall_clock_ns = clock;
  n.entropy.assign(rest.begin(), rest.end());
  return n;
}

std::string json_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 8);
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          o += fmt::format("\\u{:04x}", c);
        } else {
          o += static_cast<char>(c);
        }
    }
  }
  return o;
}

std::string error_body_json(std::string_view error_type, std::string_view message) {
  return fmt::format(R"({{"errorMessage":"{}","errorType":"{}","stackTrace":[]}})",
                     json_escape(message), json_escape(error_type));
}

}  // namespace thaw
