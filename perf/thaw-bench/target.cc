// Starting and addressing the agent under test; see target.h.
#include "perf/thaw-bench/target.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "agent/api/base64.h"
#include "common/file_util.h"
#include "perf/thaw-bench/process_stats.h"

namespace thaw::bench {
namespace {

constexpr size_t kMaxCodeFileBytes = 50u << 20;  // Lambda's direct-upload ZIP limit
constexpr auto kStartTimeout = std::chrono::seconds(20);

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

Result<std::vector<uint8_t>> zip_files(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::pair<std::string, std::vector<uint8_t>>> contents;
  std::vector<mode_t> modes;
  size_t total = 0;
  for (const auto& [name, path] : files) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return Error::from_errno("function file {}", path);
    auto bytes = read_file(path, kMaxCodeFileBytes);
    if (!bytes) return bytes.error();
    total += bytes->size();
    contents.emplace_back(name, std::move(*bytes));
    modes.push_back(st.st_mode & 0777);
  }
  std::vector<uint8_t> out(total + (1u << 20) + files.size() * 512);
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_zip(a);
  if (archive_write_open_memory(a, out.data(), out.size(), &used) != ARCHIVE_OK) {
    Error e = Error::format("starting a ZIP in memory: {}", archive_error_string(a));
    archive_write_free(a);
    return e;
  }
  for (size_t i = 0; i < contents.size(); ++i) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, contents[i].first.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, modes[i]);
    archive_entry_set_size(e, static_cast<la_int64_t>(contents[i].second.size()));
    bool ok = archive_write_header(a, e) == ARCHIVE_OK &&
              archive_write_data(a, contents[i].second.data(), contents[i].second.size()) >= 0;
    archive_entry_free(e);
    if (!ok) {
      Error err = Error::format("adding {} to the ZIP: {}", contents[i].first, archive_error_string(a));
      archive_write_free(a);
      return err;
    }
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

Result<std::unique_ptr<Target>> Target::start(const TargetOptions& o, const FunctionSpec& fn) {
  std::unique_ptr<Target> t(new Target());
  t->kind_ = o.kind;
  if (o.kind != TargetKind::kNative) {
    auto zip = zip_files(fn.files);
    if (!zip) return zip.error().context("packaging the benchmark function");
    t->create_body_prefix_ = "{\"FunctionName\":\"";
    t->create_body_suffix_ = fmt::format(
        "\",\"Runtime\":\"{}\",\"Handler\":\"{}\",\"MemorySize\":{},\"Timeout\":30,"
        "\"Code\":{{\"ZipFile\":\"{}\"}}}}",
        json_escape(fn.runtime), json_escape(fn.handler), fn.memory_mb, agent::base64_encode(*zip));
  }
  if (o.kind == TargetKind::kSocket) {
    t->socket_ = o.socket;
    auto client = UdsHttpClient::connect(o.socket);
    if (!client) return client.error().context("--socket");
    auto pid = socket_peer_pid(client->fd());
    if (!pid) return pid.error();
    t->pid_ = *pid;
    return t;
  }
  if (o.binary.empty() || ::access(o.binary.c_str(), X_OK) != 0) {
    return Error::format("{} binary '{}' is not executable; pass --thawd/--native PATH",
                         o.kind == TargetKind::kThawd ? "thawd" : "thaw-native", o.binary);
  }
  char tmpl[] = "/tmp/thaw-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return Error::from_errno("mkdtemp /tmp/thaw-bench-XXXXXX");
  t->dir_ = tmpl;
  t->socket_ = t->dir_ + "/agent.sock";
  std::vector<std::string> args{o.binary, "--socket", t->socket_};
  if (o.kind == TargetKind::kThawd) {
    args.insert(args.end(), {"--state-dir", t->dir_ + "/state", "--init", o.init, "--seccomp-policy",
                             o.seccomp_policy, "--max-sandboxes", std::to_string(o.max_sandboxes)});
    for (const auto& image : o.runtime_images) {
      args.push_back("--runtime-image");
      args.push_back(image);
    }
    args.insert(args.end(), o.extra_args.begin(), o.extra_args.end());
  } else {
    args.insert(args.end(), {"--bootstrap", fn.bootstrap, "--task-root", fn.code_dir, "--handler",
                             fn.handler, "--function-name", "native", "--runtimes",
                             std::to_string(o.native_runtimes)});
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = t->log_path();
  pid_t pid = ::fork();
  if (pid < 0) return Error::from_errno("fork for {}", o.binary);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a killed thaw-bench (run.sh's timeout) takes its agent along
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  t->pid_ = pid;
  t->owned_ = true;
  if (auto ok = t->wait_until_healthy(); !ok) return ok.error();
  return t;
}

Result<void> Target::wait_until_healthy() {
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  std::string last = "no connection yet";
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return Error::format("the agent exited (wait status {:#x}) before answering; its log: {}",
                           status, log_path());
    }
    if (auto c = UdsHttpClient::connect(socket_)) {
      auto r = c->call("GET", "/agent/v1/health", "");
      if (r && r->status == 200) return {};
      last = r ? fmt::format("health answered {}", r->status) : r.error().message;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Error::format("the agent did not answer GET /agent/v1/health within {} s ({}); its log: {}",
                       kStartTimeout.count(), last, log_path());
}

Target::~Target() {
  if (owned_ && pid_ > 0) {
    // thawd drains on SIGTERM; a second chance after 10 s, then SIGKILL.
    ::kill(pid_, SIGTERM);
    bool reaped = false;
    for (int i = 0; i < 1000 && !(reaped = ::waitpid(pid_, nullptr, WNOHANG) != 0); ++i) {
      if (i == 500) ::kill(pid_, SIGTERM);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!reaped) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (!dir_.empty() && !std::getenv("THAW_BENCH_KEEP")) remove_tree(dir_);
}

std::string Target::invoke_path(const std::string& name) {
  return "/2015-03-31/functions/" + name + "/invocations";
}

Result<void> Target::create_function(UdsHttpClient& client, const std::string& name) const {
  if (!supports_create()) return Error::format("thaw-native serves one fixed function; no CreateFunction");
  auto r = client.call("POST", "/2015-03-31/functions",
                       create_body_prefix_ + json_escape(name) + create_body_suffix_);
  if (!r) return r.error();
  if (r->status != 201) {
    return Error::format("CreateFunction {} answered {}: {}", name, r->status, r->body.substr(0, 400));
  }
  return {};
}

Result<void> Target::delete_function(UdsHttpClient& client, const std::string& name) const {
  if (!supports_create()) return Error::format("thaw-native serves one fixed function; no DeleteFunction");
  auto r = client.call("DELETE", "/2015-03-31/functions/" + name, "");
  if (!r) return r.error();
  if (r->status != 204 && r->status != 200) {
    return Error::format("DeleteFunction {} answered {}: {}", name, r->status, r->body.substr(0, 400));
  }
  return {};
}

}  // namespace thaw::bench
