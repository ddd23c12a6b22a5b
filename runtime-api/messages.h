// Typed payloads carried inside frames (frame.h): the init config, an
// invocation, error reports, log chunks, metrics and the restore notice.
// Pure encode/decode with a bound on every count and length.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace thaw {

inline constexpr size_t kMaxFieldBytes = 64u << 10;  // any one string field
inline constexpr size_t kMaxEnvVars = 1024;
inline constexpr size_t kMaxMounts = 64;
inline constexpr size_t kMaxEntropyBytes = 4096;
inline constexpr int32_t kNoExitStatus = -1;

// One mount thaw-init performs, in list order. fstype "bind" bind-mounts
// source; otherwise mount(2) with fstype and the options string as data.
// Overlay upperdir/workdir named in options are created if missing.
struct MountSpec {
  std::string source;
  std::string target;
  std::string fstype;
  std::string options;
  bool read_only = false;
  bool operator==(const MountSpec&) const = default;
};

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  bool operator==(const Credentials&) const = default;
};

struct InitConfig {
  std::string function_name;
  std::string function_version = "$LATEST";
  std::string handler;
  std::string runtime;  // "provided", "python3.11", "nodejs20"
  uint32_t memory_mb = 128;
  uint32_t timeout_ms = 3000;
  std::string region = "us-east-1";
  std::string log_group;
  std::string log_stream;
  std::string initialization_type = "on-demand";  // or "snap-start", "provisioned-concurrency"
  Credentials credentials;
  std::vector<std::pair<std::string, std::string>> environment;  // the function's own
  std::vector<MountSpec> mounts;
  std::string new_root;   // pivot_root() here after the mounts; empty: stay
  std::string bootstrap;  // explicit path; empty: /var/task, /opt, /var/runtime
  // The runtime runs as this user (Lambda's sbx_user1051 is 993) without
  // capabilities; 0 keeps root (only for trusted test images).
  uint32_t run_as_uid = 993;
  uint32_t run_as_gid = 990;
  bool operator==(const InitConfig&) const = default;
};

struct Invocation {
  uint64_t deadline_ms = 0;  // wall clock, ms since the epoch
  std::string invoked_function_arn;
  std::string trace_id;
  std::string client_context;
  std::string cognito_identity;
  std::vector<uint8_t> payload;
  bool operator==(const Invocation&) const = default;
};

// kError / kInitError / kRestoreError: the Lambda error type and the JSON
// body {"errorMessage","errorType","stackTrace"}; exit_status is the
// runtime's wait status code when it died, else kNoExitStatus.
struct ErrorReport {
  std::string error_type;
  std::string body;
  int32_t exit_status = kNoExitStatus;
  bool operator==(const ErrorReport&) const = default;
};

enum class LogStream : uint8_t { kStdout = 0, kStderr = 1, kSystem = 2 };
struct LogChunk {
  LogStream stream = LogStream::kStdout;
  std::string text;  // whole lines, each ending in '\n'
  bool operator==(const LogChunk&) const = default;
};

struct InvocationMetrics {
  uint64_t duration_us = 0;
  uint64_t max_memory_bytes = 0;
  bool operator==(const InvocationMetrics&) const = default;
};

enum class ReadyPhase : uint8_t {
  kInitDone = 0,       // the runtime called GET /next: invocations may flow
  kSnapshotPoint = 1,  // parked in GET /runtime/restore/next: snapshot now
};
struct ReadyInfo {
  ReadyPhase phase = ReadyPhase::kInitDone;
  uint64_t init_duration_us = 0;
  uint64_t max_memory_bytes = 0;
  bool operator==(const ReadyInfo&) const = default;
};

struct RestoreNotice {
  uint64_t wall_clock_ns = 0;  // CLOCK_REALTIME to set
  std::vector<uint8_t> entropy;
  bool operator==(const RestoreNotice&) const = default;
};

std::vector<uint8_t> encode_init_config(const InitConfig& c);
Result<InitConfig> decode_init_config(std::span<const uint8_t> b);
std::vector<uint8_t> encode_invocation(const Invocation& i);
Result<Invocation> decode_invocation(std::span<const uint8_t> b);
std::vector<uint8_t> encode_error_report(const ErrorReport& e);
Result<ErrorReport> decode_error_report(std::span<const uint8_t> b);
std::vector<uint8_t> encode_log_chunk(const LogChunk& l);
Result<LogChunk> decode_log_chunk(std::span<const uint8_t> b);
std::vector<uint8_t> encode_metrics(const InvocationMetrics& m);
Result<InvocationMetrics> decode_metrics(std::span<const uint8_t> b);
std::vector<uint8_t> encode_ready(const ReadyInfo& r);
Result<ReadyInfo> decode_ready(std::span<const uint8_t> b);
std::vector<uint8_t> encode_restore_notice(const RestoreNotice& r);
Result<RestoreNotice> decode_restore_notice(std::span<const uint8_t> b);

// `s` as the inside of a JSON string (quotes, backslashes, controls escaped).
std::string json_escape(std::string_view s);
// {"errorMessage":...,"errorType":...,"stackTrace":[]} with JSON escaping.
std::string error_body_json(std::string_view error_type, std::string_view message);

}  // namespace thaw
