#include "layers/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace thaw::layers {

namespace {

// Owns a started child: kills and reaps it unless wait() already did, so no
// error path leaves a zombie or a stray mkfs behind.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  Result<int> wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0) {
      if (errno != EINTR) return Error::from_errno("waitpid {}", pid_);
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

struct SpawnAttrs {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  SpawnAttrs() {
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

}  // namespace

Result<std::string> find_program(const std::string& name, const std::string& search_path) {
  size_t start = 0;
  while (start <= search_path.size()) {
    size_t end = search_path.find(':', start);
    if (end == std::string::npos) end = search_path.size();
    std::string dir = search_path.substr(start, end - start);
    start = end + 1;
    if (dir.empty() || dir[0] != '/') continue;  // relative PATH parts are a hazard
    std::string candidate = dir + "/" + name;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return Error::format("{} not found in {}; install it (Debian: apt-get install erofs-utils)",
                       name, search_path);
}

Result<ChildResult> run_child(const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout, size_t max_output) {
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return Error::format("run_child needs an absolute program path");
  }
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error::from_errno("pipe");
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);

  SpawnAttrs s;
  posix_spawn_file_actions_addopen(&s.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&s.actions, write_end.get(), 1);
  posix_spawn_file_actions_adddup2(&s.actions, write_end.get(), 2);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&s.attr, &none);
  posix_spawnattr_setsigdefault(&s.attr, &defaults);
  posix_spawnattr_setflags(&s.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // A fixed environment: the tool's behaviour must not depend on the agent's.
  char path_env[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char lang_env[] = "LC_ALL=C";
  char* envp[] = {path_env, lang_env, nullptr};

  pid_t pid = -1;
  int err = ::posix_spawn(&pid, argv[0].c_str(), &s.actions, &s.attr, args.data(), envp);
  if (err != 0) return Error::with_errno(err, "start {}", argv[0]);
  Child child(pid);
  write_end.reset();  // our copy; EOF on read_end now means the child closed its own

  ChildResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Error::format("{} ran past its {} ms deadline and was killed; output: {}",
                           argv[0], timeout.count(), result.output);
    }
    pollfd p{read_end.get(), POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return Error::from_errno("poll {} output", argv[0]);
    if (n <= 0) continue;
    ssize_t got = ::read(read_end.get(), buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Error::from_errno("read {} output", argv[0]);
    }
    if (got == 0) break;
    result.output.append(buf, static_cast<size_t>(got));
    if (result.output.size() > max_output) {
      result.output.erase(0, result.output.size() - max_output);
    }
  }
  auto status = child.wait();
  if (!status) return std::move(status).error();
  if (WIFSIGNALED(*status)) {
    result.signal = WTERMSIG(*status);
  } else {
    result.exit_code = WEXITSTATUS(*status);
  }
  return result;
}

}  // namespace thaw::layers
