#include "agent/invoke/invoke_log.h"

#include <fcntl.h>
#include <sys/random.h>
#include <systemd/sd-journal.h>

#include <cmath>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/file_util.h"

namespace thaw::agent {

std::string report_line(const std::string& request_id, double duration_ms, uint32_t memory_mb,
                        uint64_t max_memory_mb, double init_ms, double restore_ms) {
  auto billed = static_cast<uint64_t>(std::ceil(duration_ms));
  std::string line = fmt::format(
      "REPORT RequestId: {}\tDuration: {:.2f} ms\tBilled Duration: {} ms\tMemory Size: {} MB\t"
      "Max Memory Used: {} MB\t",
      request_id, duration_ms, billed < 1 ? 1 : billed, memory_mb, max_memory_mb);
  if (restore_ms >= 0) {
    auto billed_restore = static_cast<uint64_t>(std::ceil(restore_ms));
    line += fmt::format("Restore Duration: {:.2f} ms\tBilled Restore Duration: {} ms\t", restore_ms,
                        billed_restore);
  } else if (init_ms >= 0) {
    line += fmt::format("Init Duration: {:.2f} ms\t", init_ms);
  }
  return line + "\n";
}

std::string new_request_id() {
  uint8_t b[16];
  size_t got = 0;
  while (got < sizeof b) {
    ssize_t n = ::getrandom(b + got, sizeof b - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 15];
  }
  return s;
}

std::string error_json(std::string_view type, std::string_view message) {
  return boost::json::serialize(boost::json::object{{"errorMessage", message}, {"errorType", type}});
}

std::string error_type_of(std::string_view body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (auto* t = v.as_object().if_contains("errorType"); t && t->is_string()) {
      return std::string(t->as_string());
    }
  }
  return "Runtime.Unknown";
}

InvokeLog::InvokeLog(std::string logs_dir, bool journal)
    : logs_dir_(std::move(logs_dir)), journal_(journal) {}

void InvokeLog::append(const std::string& function, std::string_view text,
                       const std::string& request_id) {
  if (text.empty()) return;
  if (journal_) {
    (void)sd_journal_send("MESSAGE=%.*s", static_cast<int>(text.size() - (text.back() == '\n')),
                          text.data(), "PRIORITY=6", "SYSLOG_IDENTIFIER=thawd",
                          "THAW_FUNCTION=%s", function.c_str(), "THAW_REQUEST_ID=%s",
                          request_id.c_str(), nullptr);
  }
  auto it = fds_.find(function);
  if (it == fds_.end()) {
    std::string path = logs_dir_ + "/" + function + ".log";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) return;  // logging must never fail an invocation
    it = fds_.emplace(function, UniqueFd(fd)).first;
  }
  (void)write_all(it->second.get(), {reinterpret_cast<const uint8_t*>(text.data()), text.size()},
                  function + ".log");
}

void InvokeLog::forget(const std::string& function) { fds_.erase(function); }

}  // namespace thaw::agent
