#include "sandbox/microvm/microvm_sandbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <thread>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "common/file_util.h"
#include "runtime-api/hybrid_vsock.h"
#include "runtime-api/sandbox_layout.h"

namespace thaw {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kSendTimeoutMs = 5000;
constexpr int kSnapshotTimeoutMs = 120000;  // writing guest RAM to disk
constexpr int kConnectAnswerMs = 2000;      // one CONNECT: the VMM answers or drops it
constexpr uint32_t kMbPerVcpu = 1769;       // Lambda's memory-to-vCPU ratio
constexpr char kGuestStage[] = "/sandbox";

std::atomic<uint64_t> sandbox_counter{0};

// "VmRSS:   1234 kB" -> bytes; 0 when absent.
uint64_t status_kb_field(std::string_view status, std::string_view key) {
  size_t pos = status.find(key);
  if (pos == std::string_view::npos) return 0;
  std::string_view rest = status.substr(pos + key.size());
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
  uint64_t kb = 0;
  std::from_chars(rest.data(), rest.data() + rest.size(), kb);
  return kb << 10;
}

}  // namespace

MicrovmSandbox::MicrovmSandbox(MicrovmSandboxOptions options) : options_(std::move(options)) {}

MicrovmSandbox::~MicrovmSandbox() {
  (void)kill();
  if (!dir_.empty()) remove_tree(dir_);
}

uint32_t MicrovmSandbox::vcpus_for(uint32_t memory_mb) {
  return std::max<uint32_t>(1, (memory_mb + kMbPerVcpu - 1) / kMbPerVcpu);
}

std::vector<MountSpec> MicrovmSandbox::guest_mounts(const MicrovmSandboxOptions& o) {
  // Disks appear as /dev/vda, vdb, ... in --disk order (virtio_mmio.device=
  // entries in that order, probed in that order).
  auto disk = [](size_t i) { return fmt::format("/dev/vd{}", static_cast<char>('a' + i)); };
  SandboxLayout l;
  l.stage = kGuestStage;
  l.root = {disk(0), "erofs"};
  if (!o.code_image.empty()) l.code = {disk(1), "erofs"};
  for (size_t i = 0; i < o.layer_images.size(); ++i) l.layers.push_back({disk(2 + i), "erofs"});
  l.tmp_size_mb = o.tmp_size_mb;
  l.dev = DevNodes::kDevtmpfs;
  return layout_mounts(l);
}

Result<void> MicrovmSandbox::make_dir() {
  if (!dir_.empty()) return Ok();
  std::string dir = fmt::format("{}/vm-{}-{}", options_.work_dir, ::getpid(),
                                sandbox_counter.fetch_add(1));
  if (::mkdir(dir.c_str(), 0700) < 0) {
    return Error::from_errno("creating the microVM directory {} (is --work-dir writable?)", dir);
  }
  dir_ = dir;
  return Ok();
}

std::vector<std::string> MicrovmSandbox::device_args() const {
  std::vector<std::string> a;
  if (options_.root_image.empty()) return a;
  a.insert(a.end(), {"--disk", options_.root_image + ",ro"});
  if (!options_.code_image.empty()) a.insert(a.end(), {"--disk", options_.code_image + ",ro"});
  for (const auto& layer : options_.layer_images) a.insert(a.end(), {"--disk", layer + ",ro"});
  a.insert(a.end(), {"--vsock-uds", dir_ + "/vsock.sock", "--api-sock", dir_ + "/api.sock",
                     "--serial", console_log()});
  return a;
}

Error MicrovmSandbox::with_logs(Error e) const {
  std::string vmm = log_tail(vmm_log(), 1500);
  std::string console = log_tail(console_log(), 1500);
  return Error{fmt::format("{}\n--- thaw-vmm ({}):\n{}\n--- guest console ({}), last lines:\n{}",
                           e.message, vmm_log(), vmm, console_log(), console),
               e.sys_errno};
}

Result<void> MicrovmSandbox::launch(std::vector<std::string> argv) {
  auto args = device_args();
  argv.insert(argv.end(), args.begin(), args.end());
  auto p = VmmProcess::spawn(argv, vmm_log());
  if (!p) return std::move(p).error();
  vmm_ = std::move(*p);
  phases_.spawned = Clock::now() - t0_;
  return Ok();
}

Result<void> MicrovmSandbox::connect_channel(int timeout_ms) {
  // thaw-init listens once the guest kernel has brought up virtio-vsock and
  // run /init; before that the VMM refuses or drops CONNECT. Retry with a
  // growing pause (a restored guest answers at once; a booting one late).
  const std::string uds = dir_ + "/vsock.sock";
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last = "the VMM has not created its vsock socket yet";
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    if (auto st = vmm_.exit_status()) {
      return with_logs(Error::format("thaw-vmm ended ({}) before thaw-init took the host "
                                     "channel on vsock port {}",
                                     describe_wait_status(*st), kThawChannelVsockPort));
    }
    if (::access(uds.c_str(), F_OK) == 0) {
      auto fd = connect_hybrid_vsock(uds, kThawChannelVsockPort, kConnectAnswerMs);
      if (fd) {
        channel_ = FrameSocket(std::move(*fd), fmt::format("microVM {} (thaw-init)", dir_));
        phases_.connected = Clock::now() - t0_;
        return Ok();
      }
      last = fd.error().message;
    }
    if (Clock::now() >= deadline) {
      return with_logs(Error::format("thaw-init did not take the host channel (vsock port {}) "
                                     "within {} ms; last attempt: {}",
                                     kThawChannelVsockPort, timeout_ms, last));
    }
    std::this_thread::sleep_for(pause);
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(200));
  }
}

Result<void> MicrovmSandbox::start(const InitConfig& config_in) {
  if (vmm_.pid() > 0) return Error::format("microVM sandbox already started (pid {})", vmm_.pid());
  for (const auto& [what, path] : {std::pair{"--guest-kernel", options_.kernel_path},
                                   {"the initramfs", options_.initramfs_path},
                                   {"the runtime image", options_.root_image}}) {
    if (path.empty() || ::access(path.c_str(), R_OK) < 0) {
      return Error::format("microVM sandbox: {} '{}' is not readable", what, path);
    }
  }
  t0_ = Clock::now();
  phases_ = {};
  if (auto ok = make_dir(); !ok) return ok;
  memory_mb_ = config_in.memory_mb;
  InitConfig config = config_in;
  config.mounts = guest_mounts(options_);
  config.new_root = layout_root(SandboxLayout{.stage = kGuestStage});
  std::vector<std::string> argv = {options_.vmm_path,
                                   "--kernel", options_.kernel_path,
                                   "--initrd", options_.initramfs_path,
                                   "--cmdline", options_.cmdline,
                                   "--mem", std::to_string(config.memory_mb),
                                   "--vcpus", std::to_string(vcpus_for(config.memory_mb))};
  if (!options_.cpu_model.empty()) argv.insert(argv.end(), {"--cpu-model", options_.cpu_model});
  if (auto ok = launch(std::move(argv)); !ok) return ok;
  if (auto ok = connect_channel(options_.boot_timeout_ms); !ok) return ok;
  Frame init;
  init.type = FrameType::kInitConfig;
  init.payload = encode_init_config(config);
  if (auto ok = send(init); !ok) return ok;
  phases_.first_frame_sent = Clock::now() - t0_;
  return Ok();
}

Result<void> MicrovmSandbox::restore(const std::string& snapshot_dir, const RestoreNotice& notice) {
  if (vmm_.pid() > 0) return Error::format("microVM sandbox already started (pid {})", vmm_.pid());
  if (options_.root_image.empty() || ::access(options_.root_image.c_str(), R_OK) < 0) {
    return Error::format("microVM restore: the runtime image '{}' is not readable",
                         options_.root_image);
  }
  t0_ = Clock::now();
  phases_ = {};
  if (auto ok = make_dir(); !ok) return ok;
  // Memory, vCPUs and CPU model come from the snapshot; the disks are
  // rebound to this sandbox's images in the same order.
  std::vector<std::string> argv = {options_.vmm_path, "--restore", snapshot_dir};
  if (!options_.prefetch) argv.push_back("--no-prefetch");
  if (auto ok = launch(std::move(argv)); !ok) return ok;
  // The notice is the first frame: the guest reseeds its RNG and sets its
  // clock before the runtime runs again (DESIGN "Snapshots").
  Frame f;
  f.type = FrameType::kRestoreNotice;
  f.payload = encode_restore_notice(notice);
  auto deadline = t0_ + std::chrono::milliseconds(options_.restore_timeout_ms);
  auto left_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<int64_t>(0, left.count()));
  };
  // The restored guest still holds the snapshot-time channel until it
  // handles the vsock TRANSPORT_RESET; thaw-init refuses a new connection
  // until then (the reset would end it too). So: connect, send the notice,
  // and start over on a channel that ends before kRestoreDone.
  std::string last;
  while (true) {
    ++phases_.connect_attempts;
    if (auto ok = connect_channel(left_ms()); !ok) {
      return last.empty() ? ok : Error(ok.error()).context("after " + last);
    }
    if (auto ok = channel_.send(f, kSendTimeoutMs); ok) {
      phases_.first_frame_sent = Clock::now() - t0_;
      for (;;) {
        auto r = channel_.receive(left_ms());
        if (!r) {
          last = r.error().message;
          break;  // the channel ended: retry on a new one
        }
        if (!*r) {
          return with_logs(Error::format("the restored guest sent no restore-done frame within "
                                         "{} ms", options_.restore_timeout_ms));
        }
        Frame& got = **r;
        if (got.type == FrameType::kLogChunk) {
          if (auto chunk = decode_log_chunk(got.payload)) restore_log_ += chunk->text;
          continue;
        }
        // The metrics of the invocation before the snapshot can still be
        // queued in thaw-init; they belong to no invocation of this sandbox.
        if (got.type == FrameType::kMetrics) continue;
        if (got.type == FrameType::kRestoreDone) {
          phases_.restore_done = Clock::now() - t0_;
          return Ok();
        }
        std::string detail(got.payload.begin(), got.payload.end());
        if (auto report = decode_error_report(got.payload)) detail = report->body;
        return Error::format("the restored guest answered the notice with {}: {:.400}",
                             frame_type_name(got.type), detail);
      }
    } else {
      last = ok.error().message;
    }
    channel_.close();
    if (left_ms() == 0) {
      return with_logs(Error::format("no host channel outlived the restore within {} ms; last: {}",
                                     options_.restore_timeout_ms, last));
    }
  }
}

Result<void> MicrovmSandbox::snapshot(const std::string& snapshot_dir) {
  if (!vmm_.running()) return Error::format("microVM sandbox is not running; nothing to snapshot");
  const std::string api = dir_ + "/api.sock";
  auto saved = vmm_control(api, {{"op", "snapshot"}, {"dir", snapshot_dir}, {"kind", "function"}},
                           kSnapshotTimeoutMs);
  if (!saved) return with_logs(std::move(saved).error().context("snapshot"));
  auto resumed = vmm_control(api, {{"op", "resume"}}, kSendTimeoutMs);
  if (!resumed) return with_logs(std::move(resumed).error().context("resume after the snapshot"));
  return Ok();
}

Result<void> MicrovmSandbox::send(const Frame& frame) {
  if (!channel_.connected()) return Error::format("microVM sandbox channel is not connected");
  return channel_.send(frame, kSendTimeoutMs);
}

Result<std::optional<Frame>> MicrovmSandbox::receive(int timeout_ms) {
  auto f = channel_.receive(timeout_ms);
  if (f) return f;
  // Say why the channel broke: usually the VM ended (guest fault, OOM).
  auto st = vmm_.exit_status();
  for (int i = 0; i < 100 && !st; ++i) {
    ::usleep(1000);
    st = vmm_.exit_status();
  }
  return with_logs(f.error().context(
      st ? fmt::format("thaw-vmm ended ({})", describe_wait_status(*st)) : "thaw-vmm still running"));
}

Result<SandboxStats> MicrovmSandbox::stats() {
  SandboxStats s;
  s.pid = vmm_.pid();
  s.memory_limit_bytes = uint64_t{memory_mb_} << 20;
  if (!vmm_.running()) return s;
  // The VMM's resident memory is the guest RAM it touched plus its own.
  auto status = read_pseudo_file(fmt::format("/proc/{}/status", vmm_.pid()));
  if (!status) return std::move(status).error();
  s.memory_bytes = status_kb_field(*status, "VmRSS:");
  s.peak_memory_bytes = status_kb_field(*status, "VmHWM:");
  return s;
}

std::optional<int> MicrovmSandbox::exit_status() { return vmm_.exit_status(); }

Result<void> MicrovmSandbox::kill() {
  channel_.close();
  vmm_.kill();
  return Ok();
}

}  // namespace thaw
