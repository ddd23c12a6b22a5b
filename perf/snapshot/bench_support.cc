#include "perf/snapshot/bench_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>

#include "common/unique_fd.h"
#include "runtime-api/frame.h"
#include "sandbox/vmm/machine.h"
#include "tests/snapshot/restore_notice_host.h"

namespace thaw::snapshot::bench {

namespace {

// thaw.wait=1: between rounds the guest halts until the host connects or a
// 10 ms tick passes, as an idle thaw-init would, leaving the host's CPU to
// the VMM's IO thread (on 2 cores a spinning vCPU delays it by ~50 ms).
constexpr char kCmdline[] =
    "thaw.test=restore-notice thaw.step=1000 thaw.wait=1 thaw.after=1000000000";

}  // namespace

sandbox::VmmConfig guest_config(const std::string& guest, const std::string& serial,
                                const std::string& vsock_uds) {
  sandbox::VmmConfig c;
  c.kernel_path = guest;
  c.cmdline = kCmdline;
  c.mem_mib = 64;
  c.vcpus = 1;
  c.serial_path = serial;
  c.vsock_uds = vsock_uds;
  c.cpu_model = sandbox::default_cpu_model();
  return c;
}

std::optional<SerialPipe> SerialPipe::create(const std::string& path) {
  ::unlink(path.c_str());
  if (::mkfifo(path.c_str(), 0600) != 0) return std::nullopt;
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  return SerialPipe{path, fd};
}

bool SerialPipe::wait_first_byte(int timeout_ms) const {
  pollfd p{read_fd, POLLIN, 0};
  return ::poll(&p, 1, timeout_ms) == 1;
}

void SerialPipe::close() {
  if (read_fd >= 0) ::close(read_fd);
  read_fd = -1;
  ::unlink(path.c_str());
}

std::string exchange_restore_notice(const std::string& vsock_uds, int timeout_ms,
                                    Clock::time_point* connected_at) {
  auto identity = testing::fresh_restore_identity();
  if (!identity) return identity.error().message;
  auto answer = testing::deliver_restore_notice(vsock_uds, kThawChannelVsockPort, *identity,
                                                timeout_ms, connected_at);
  if (!answer) return answer.error().message;
  if (answer->type != FrameType::kRestoreDone) {
    return fmt::format("the guest answered the notice with a {} frame",
                       frame_type_name(answer->type));
  }
  return "";
}

Result<TimedRestore> timed_restore(const sandbox::VmmConfig& config, const std::string& snap,
                                   const RestoreOptions& options, const SerialPipe& pipe,
                                   int timeout_ms) {
  TimedRestore out;
  long flt0 = minflt();
  out.start = Clock::now();
  auto restored = restore_machine(config, snap, options);
  if (!restored) return std::move(restored).error();
  out.restored = Clock::now();
  out.machine = std::move(*restored);
  (void)out.machine.vmm->start();
  out.output = pipe.wait_first_byte(timeout_ms);
  out.first_output = Clock::now();
  out.faults = minflt() - flt0;
  return out;
}

std::string record_working_set(const sandbox::VmmConfig& config, const std::string& snap,
                               SerialPipe& pipe, int timeout_ms) {
  RestoreOptions plain;
  plain.prefetch_working_set = false;
  auto restored = restore_machine(config, snap, plain);
  if (!restored) return restored.error().message;
  (void)restored->vmm->start();
  bool out = pipe.wait_first_byte(timeout_ms);
  pipe.close();
  std::string error = out ? "" : fmt::format("the restored guest printed nothing in {} ms", timeout_ms);
  if (error.empty() && !config.vsock_uds.empty()) {
    error = exchange_restore_notice(config.vsock_uds, timeout_ms);
  }
  auto set = save_working_set(*restored->vmm, snap);
  restored->vmm->request_stop(sandbox::kExitClean, "recorded");
  restored->vmm->wait();
  if (!set) return set.error().message;
  return error;
}

const Fixture& fixture() {
  static Fixture f = [] {
    Fixture f;
    // A closed serial FIFO must fail the guest's writes, not kill us.
    ::signal(SIGPIPE, SIG_IGN);
    const char* guest = std::getenv("THAW_TEST_GUEST");
    if (!guest) {
      f.error = "THAW_TEST_GUEST is not set; run through meson test --benchmark";
      return f;
    }
    f.guest = guest;
    char templ[] = "/tmp/thaw-restore-bench-XXXXXX";
    if (!::mkdtemp(templ)) {
      f.error = "mkdtemp failed";
      return f;
    }
    f.dir = templ;
    f.snap = f.dir + "/snap";
    int code = 0;
    auto vmm = sandbox::build_machine(
        guest_config(f.guest, f.dir + "/boot.log", f.dir + "/boot.sock"), code);
    if (!vmm) {
      f.error = vmm.error().message;
      return f;
    }
    (void)(*vmm)->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto saved = save_snapshot(**vmm, f.snap, SnapshotKind::kTest);
    (*vmm)->request_stop(sandbox::kExitClean, "snapshot taken");
    (*vmm)->wait();
    if (!saved) {
      f.error = saved.error().message;
      return f;
    }
    auto pipe = SerialPipe::create(f.dir + "/record.fifo");
    f.error = record_working_set(guest_config(f.guest, pipe->path, f.dir + "/record.sock"),
                                 f.snap, *pipe, 10000);
    return f;
  }();
  return f;
}

long drop_from_page_cache(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return -1;
  if (::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED) != 0) return -1;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_size == 0) return -1;
  size_t size = static_cast<size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return -1;
  size_t pages = (size + 4095) / 4096;
  std::vector<unsigned char> vec(pages);
  long cached = ::mincore(map, size, vec.data()) == 0 ? 0 : -1;
  if (cached == 0) {
    for (unsigned char v : vec) cached += v & 1;
  }
  ::munmap(map, size);
  return cached;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

long minflt() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

double micros(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

double micros_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

void report_percentiles(benchmark::State& state, const std::string& name,
                        const std::vector<double>& v) {
  state.counters[name + "_p50_us"] = percentile(v, 0.50);
  state.counters[name + "_p99_us"] = percentile(v, 0.99);
}

}  // namespace thaw::snapshot::bench
