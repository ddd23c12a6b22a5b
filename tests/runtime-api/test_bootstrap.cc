// A `provided` runtime for the end-to-end tests: a plain C++ Runtime API
// client (blocking sockets, no libraries) whose behaviour per invocation
// is chosen by the event: "echo:T", "env:NAME", "exit:N", "error",
// "sleep:MS", "tmp", "whoami", "unshare", "big:N", "ping", "clock".
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only: LeakSanitizer stops the world with ptrace, which
// the sandbox's seccomp policy denies, and would turn every exit into 1.
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }
#endif

namespace {

std::string api_host = "127.0.0.1";
int api_port = 9001;

int connect_api() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(api_port));
  ::inet_pton(AF_INET, api_host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) {
    std::perror("bootstrap: connect");
    std::exit(90);
  }
  return fd;
}

struct Reply {
  std::string head, body;
};

// One request on a fresh connection; reads the whole reply (Content-Length).
Reply call(const std::string& method, const std::string& path, const std::string& body,
           const std::string& headers = "") {
  int fd = connect_api();
  std::string req = method + " /2018-06-01/runtime/" + path + " HTTP/1.1\r\nHost: x\r\n" + headers +
                    "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (size_t off = 0; off < req.size();) {
    ssize_t n = ::write(fd, req.data() + off, req.size() - off);
    if (n <= 0) std::exit(91);
    off += static_cast<size_t>(n);
  }
  std::string in;
  char buf[65536];
  size_t header_end = std::string::npos;
  size_t want = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) std::exit(92);
    in.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) {
      header_end = in.find("\r\n\r\n");
      if (header_end == std::string::npos) continue;
      size_t cl = in.find("Content-Length: ");
      want = cl < header_end ? std::strtoul(in.c_str() + cl + 16, nullptr, 10) : 0;
    }
    if (in.size() >= header_end + 4 + want) break;
  }
  ::close(fd);
  return {in.substr(0, header_end), in.substr(header_end + 4, want)};
}

std::string header(const std::string& head, const std::string& name) {
  size_t p = head.find(name + ": ");
  if (p == std::string::npos) return "";
  size_t e = head.find("\r\n", p);
  return head.substr(p + name.size() + 2, e - p - name.size() - 2);
}

}  // namespace

int main() {
  const char* api = std::getenv("AWS_LAMBDA_RUNTIME_API");
  if (api == nullptr) return 93;
  std::string a = api;
  api_host = a.substr(0, a.find(':'));
  api_port = std::atoi(a.c_str() + a.find(':') + 1);
  std::printf("bootstrap: init as uid %d\n", ::getuid());
  std::fflush(stdout);
  if (const char* fail = std::getenv("FAIL_INIT")) {
    call("POST", "init/error", R"({"errorMessage":")" + std::string(fail) + R"(","errorType":"Runtime.BadConfig"})",
         "Lambda-Runtime-Function-Error-Type: Runtime.BadConfig\r\n");
    return 1;
  }
  if (std::getenv("AWS_LAMBDA_INITIALIZATION_TYPE") == std::string("snap-start")) {
    // SnapStart: park until restored, then run the after-restore hook.
    Reply restored = call("GET", "restore/next", "");
    std::printf("bootstrap: restored (%zu byte body)\n", restored.body.size());
    std::fflush(stdout);
    if (std::getenv("FAIL_RESTORE")) {
      call("POST", "restore/error", R"({"errorMessage":"hook failed","errorType":"HookError"})",
           "Lambda-Runtime-Function-Error-Type: Runtime.AfterRestoreHookError\r\n");
      return 1;
    }
  }
  for (;;) {
    Reply next = call("GET", "invocation/next", "");
    std::string id = header(next.head, "Lambda-Runtime-Aws-Request-Id");
    // Through thawd the payload is JSON: a JSON string event ("\"ping\"")
    // means the same as the raw one a frame-level test sends.
    std::string ev = next.body;
    if (ev.size() >= 2 && ev.front() == '"' && ev.back() == '"') ev = ev.substr(1, ev.size() - 2);
    std::string out;
    if (ev.rfind("echo:", 0) == 0) {
      std::printf("stdout line for %s\n", id.c_str());
      std::fprintf(stderr, "stderr line\n");
      std::fflush(stdout);
      out = ev.substr(5);
    } else if (ev.rfind("env:", 0) == 0) {
      const char* v = std::getenv(ev.substr(4).c_str());
      out = v ? v : "<unset>";
    } else if (ev.rfind("exit:", 0) == 0) {
      std::printf("exiting\n");
      std::fflush(stdout);
      std::exit(std::atoi(ev.c_str() + 5));
    } else if (ev == "error") {
      call("POST", "invocation/" + id + "/error",
           R"({"errorMessage":"it broke","errorType":"MyError","stackTrace":[]})",
           "Lambda-Runtime-Function-Error-Type: Function.MyError\r\n");
      continue;
    } else if (ev.rfind("sleep:", 0) == 0) {
      ::usleep(static_cast<useconds_t>(std::atoi(ev.c_str() + 6)) * 1000);
      out = "slept";
    } else if (ev == "tmp") {
      int fd = ::open("/tmp/probe", O_CREAT | O_RDWR | O_TRUNC, 0600);
      bool tmp_ok = fd >= 0 && ::write(fd, "x", 1) == 1;
      if (fd >= 0) ::close(fd);
      int task = ::open("/var/task/probe", O_CREAT | O_WRONLY, 0600);
      int task_errno = errno;
      out = std::string(tmp_ok ? "tmp-ok" : "tmp-fail") + " task:" +
            (task >= 0 ? "writable" : std::strerror(task_errno));
    } else if (ev.rfind("flood:", 0) == 0) {
      long lines = std::atol(ev.c_str() + 6);
      std::string line(99, 'f');
      line += '\n';
      for (long i = 0; i < lines; ++i) std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
      out = "flooded";
    } else if (ev == "orphans") {
      // Children whose parent exits are re-parented to PID 1 (thaw-init),
      // which must reap them: count zombies in the sandbox afterwards.
      for (int i = 0; i < 5; ++i) {
        pid_t child = ::fork();
        if (child == 0) {
          if (::fork() == 0) {
            ::usleep(20000);
            ::_exit(0);
          }
          ::_exit(0);
        }
        ::waitpid(child, nullptr, 0);
      }
      ::usleep(300000);
      int zombies = 0;
      for (int pid = 1; pid < 4096; ++pid) {
        std::string stat = "/proc/" + std::to_string(pid) + "/stat";
        FILE* f = std::fopen(stat.c_str(), "r");
        if (f == nullptr) continue;
        char line[512] = {};
        if (std::fgets(line, sizeof line, f) != nullptr) {
          const char* close = std::strrchr(line, ')');
          if (close != nullptr && close[1] == ' ' && close[2] == 'Z') ++zombies;
        }
        std::fclose(f);
      }
      out = "zombies:" + std::to_string(zombies);
    } else if (ev == "clock") {
      // What a restore notice changes in a microVM: the wall clock (seconds)
      // and the kernel RNG (16 bytes from getrandom, hex; "--" while the
      // guest's RNG is not yet seeded: GRND_NONBLOCK, never a hang).
      unsigned char rnd[16] = {};
      long got = ::syscall(SYS_getrandom, rnd, sizeof rnd, 1 /* GRND_NONBLOCK */);
      out = std::to_string(static_cast<long long>(::time(nullptr))) + " ";
      for (unsigned char c : rnd) {
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02x", c);
        out += got == static_cast<long>(sizeof rnd) ? hex : "--";
      }
    } else if (ev == "ping") {
      out = "pong";  // the trivial function of the round-trip benchmark
    } else if (ev == "whoami") {
      char host[64] = {};
      ::gethostname(host, sizeof host - 1);
      out = std::to_string(::getuid()) + " " + std::to_string(::getpid()) + " " + host;
    } else if (ev == "uring") {
      long rc = ::syscall(425 /* io_uring_setup */, 1, nullptr);
      out = rc >= 0 ? "uring-allowed" : std::strerror(errno);
    } else if (ev == "unshare") {
      out = ::unshare(CLONE_NEWUSER) == 0 ? "unshare-allowed" : std::strerror(errno);
    } else if (ev.rfind("big:", 0) == 0) {
      out.assign(std::strtoul(ev.c_str() + 4, nullptr, 10), 'b');
    } else {
      out = "unknown event";
    }
    call("POST", "invocation/" + id + "/response", out);
  }
}
