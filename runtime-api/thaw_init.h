// The body of thaw-init: ties the host channel, the Runtime API server and
// the runtime process together on one io_uring loop. Init config in ->
// runtime started; invoke in -> /next; response/error/logs/metrics out.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/io_loop.h"
#include "runtime-api/host_channel.h"
#include "runtime-api/messages.h"
#include "runtime-api/runtime_api_server.h"
#include "runtime-api/runtime_process.h"

namespace thaw {

class ThawInit : public RuntimeApiEvents {
 public:
  struct Options {
    bool in_vm = false;          // real PID 1 of a microVM: may set the clock, powers off
    uint16_t api_port = kRuntimeApiPort;
  };
  ThawInit(IoLoop& loop, Options options);
  ~ThawInit() override;

  // Starts the Runtime API listener and the signal watch; then frames flow.
  Result<void> start();
  HostChannel& channel() { return channel_; }
  // Set once a shutdown frame arrived or the host went away for good.
  bool finished() const { return finished_; }

  void on_ready(ReadyKind kind) override;
  void on_response(const std::string& id, std::span<const uint8_t> body, bool more) override;
  void on_invocation_error(const std::string& id, ErrorReport report) override;
  void on_init_error(ErrorReport report) override;
  void on_restore_error(ErrorReport report) override;

 private:
  struct LogPipe {
    UniqueFd fd;
    LogStream stream = LogStream::kStdout;
    IoOp op;
    std::string partial;
  };

  void on_frame(Frame frame);
  void on_channel_closed(const std::string& why);
  void handle_init_config(std::span<const uint8_t> payload);
  void handle_invoke(const std::string& id, std::span<const uint8_t> payload);
  void handle_restore(std::span<const uint8_t> payload);
  void finish(const std::string& why);
  void watch_pipe(LogPipe& pipe);
  void read_pipe(LogPipe& pipe);  // reads all that is there now
  void drain_logs();
  void on_signal();
  void runtime_exited(int wait_status);
  void send(FrameType type, const std::string& id, std::span<const uint8_t> payload,
            uint16_t flags = 0);
  void send_metrics(const std::string& id);
  void log_system(const std::string& line);
  uint64_t peak_memory();

  IoLoop& loop_;
  Options options_;
  HostChannel channel_;
  std::unique_ptr<RuntimeApiServer> server_;
  UniqueFd signal_fd_;
  IoOp signal_op_;
  std::optional<InitConfig> config_;
  pid_t runtime_pid_ = -1;
  UniqueFd runtime_status_fd_;  // /proc/<runtime>/status, kept open for VmHWM
  uint64_t last_peak_ = 0;      // survives the runtime (a crash report still has it)
  LogPipe out_, err_;
  bool ready_sent_ = false;
  bool init_error_sent_ = false;
  bool finished_ = false;
  bool logs_paused_ = false;  // the host is not reading: stop reading the runtime
  std::chrono::steady_clock::time_point init_start_;
  std::chrono::steady_clock::time_point invoke_start_;
};

}  // namespace thaw
