#include "sandbox/microvm/vmm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "common/exec_report.h"
#include "common/file_util.h"
#include "common/unique_fd.h"

namespace thaw {
namespace {

constexpr const char* kSpawnSteps[] = {"", "new process group", "redirect output", "execve"};
constexpr size_t kMaxReplyBytes = 64u << 10;

}  // namespace

VmmProcess::VmmProcess(VmmProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(std::exchange(other.status_, std::nullopt)) {}

VmmProcess& VmmProcess::operator=(VmmProcess&& other) noexcept {
  if (this != &other) {
    kill();
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

VmmProcess::~VmmProcess() { kill(); }

Result<VmmProcess> VmmProcess::spawn(const std::vector<std::string>& argv,
                                     const std::string& log_path) {
  if (argv.empty()) return Error::format("thaw-vmm command line is empty");
  if (::access(argv[0].c_str(), X_OK) < 0) {
    return Error::from_errno("thaw-vmm binary {} is not executable (pass the path of "
                             "build/sandbox/bin/thaw-vmm)", argv[0]);
  }
  UniqueFd log(::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (!log) return Error::from_errno("creating the thaw-vmm log {}", log_path);
  UniqueFd null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  // Everything the child needs is built before fork: after it, only
  // async-signal-safe calls (the agent is multi-threaded).
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto report = ExecReport::create();
  if (!report) return std::move(report).error();
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork for thaw-vmm");
  if (pid == 0) {
    int rfd = report->child_fd();
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    if (::setpgid(0, 0) < 0) ExecReport::fail(rfd, 1);
    if (::dup2(null.get(), 0) < 0 || ::dup2(log.get(), 1) < 0 || ::dup2(log.get(), 2) < 0) {
      ExecReport::fail(rfd, 2);
    }
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the agent blocks SIGTERM for its signalfd
    ::execv(args[0], args.data());
    ExecReport::fail(rfd, 3);
  }
  VmmProcess p;
  p.pid_ = pid;
  if (auto ok = report->wait_for_exec(pid, kSpawnSteps, fmt::format("starting {}", argv[0])); !ok) {
    p.pid_ = -1;
    return std::move(ok).error();
  }
  return p;
}

std::optional<int> VmmProcess::exit_status() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) status_ = st;
  return status_;
}

void VmmProcess::kill() {
  if (pid_ > 0 && !exit_status()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st = 0;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = st;
  }
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exit {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), ::strsignal(WTERMSIG(status)));
  }
  return fmt::format("wait status 0x{:x}", status);
}

Result<boost::json::object> vmm_control(const std::string& api_sock,
                                        const boost::json::object& request, int timeout_ms) {
  std::string op = request.contains("op") && request.at("op").is_string()
                       ? std::string(request.at("op").as_string())
                       : std::string("?");
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::from_errno("socket for the thaw-vmm control socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (api_sock.size() >= sizeof addr.sun_path) {
    return Error::format("control socket path {} is over {} bytes", api_sock,
                         sizeof addr.sun_path - 1);
  }
  std::memcpy(addr.sun_path, api_sock.data(), api_sock.size());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Error::from_errno("connecting to thaw-vmm's control socket {} for '{}'", api_sock, op);
  }
  std::string line = boost::json::serialize(request) + "\n";
  if (auto ok = write_all(fd.get(), {reinterpret_cast<const uint8_t*>(line.data()), line.size()},
                          "thaw-vmm control request");
      !ok) {
    return std::move(ok).error();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string reply;
  while (reply.find('\n') == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) == 0) {
      return Error::format("thaw-vmm did not answer '{}' on {} within {} ms", op, api_sock,
                           timeout_ms);
    }
    char buf[4096];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error::format("thaw-vmm closed its control socket during '{}'", op);
    reply.append(buf, static_cast<size_t>(n));
    if (reply.size() > kMaxReplyBytes) {
      return Error::format("thaw-vmm's reply to '{}' is over {} bytes", op, kMaxReplyBytes);
    }
  }
  reply.resize(reply.find('\n'));
  boost::system::error_code ec;
  auto value = boost::json::parse(reply, ec);
  if (ec || !value.is_object()) {
    return Error::format("thaw-vmm answered '{}' with something that is not a JSON object: {:.200}",
                         op, reply);
  }
  auto& obj = value.as_object();
  if (!obj.contains("ok") || !obj.at("ok").is_bool() || !obj.at("ok").as_bool()) {
    std::string why = obj.contains("error") && obj.at("error").is_string()
                          ? std::string(obj.at("error").as_string())
                          : reply.substr(0, 200);
    return Error::format("thaw-vmm refused '{}': {}", op, why);
  }
  return std::move(obj);
}

std::string log_tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  size_t from = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(from));
  std::string out(size - from, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace thaw
