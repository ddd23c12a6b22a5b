// /proc readers for thaw-bench; see process_stats.h.
#include "perf/thaw-bench/process_stats.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "common/file_util.h"

namespace thaw::bench {
namespace {

// A /proc file's text; empty when the process has gone.
std::string slurp(const std::string& path) {
  auto text = read_pseudo_file(path);
  return text ? std::move(*text) : std::string();
}

}  // namespace

Result<std::vector<std::string>> parse_stat_fields(const std::string& stat) {
  size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) {
    return Error::format("/proc stat line '{}' has no '(comm)' followed by fields",
                         stat.substr(0, 80));
  }
  std::istringstream rest(stat.substr(close + 2));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 15) {
    return Error::format("/proc stat line has {} fields after the command, expected at least 15",
                         fields.size());
  }
  return fields;
}

std::vector<pid_t> process_tree(pid_t root) {
  std::multimap<pid_t, pid_t> children;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    char* end = nullptr;
    long pid = std::strtol(name.c_str(), &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    auto fields = parse_stat_fields(slurp("/proc/" + name + "/stat"));
    if (!fields) continue;  // exited while we scanned
    children.emplace(static_cast<pid_t>(std::atol((*fields)[1].c_str())), static_cast<pid_t>(pid));
  }
  std::vector<pid_t> tree{root};
  for (size_t i = 0; i < tree.size(); ++i) {
    auto [lo, hi] = children.equal_range(tree[i]);
    for (auto it = lo; it != hi; ++it) tree.push_back(it->second);
  }
  return tree;
}

CpuSnapshot CpuSnapshot::take(pid_t root) {
  static const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  CpuSnapshot snap;
  for (pid_t pid : process_tree(root)) {
    auto fields = parse_stat_fields(slurp("/proc/" + std::to_string(pid) + "/stat"));
    if (!fields) continue;
    auto& f = *fields;
    snap.by_pid[pid] = {(std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / ticks,
                        (std::atof(f[13].c_str()) + std::atof(f[14].c_str())) / ticks,
                        static_cast<pid_t>(std::atol(f[1].c_str()))};
  }
  return snap;
}

double CpuSnapshot::seconds_since(const CpuSnapshot& start) const {
  double total = 0;
  for (const auto& [pid, now] : by_pid) {
    auto it = start.by_pid.find(pid);
    Times before = it == start.by_pid.end() ? Times{} : it->second;
    total += (now.own - before.own) + (now.children - before.children);
  }
  // Children present at `start`, gone now, whose parent is still here: what
  // they had spent before `start` reappears in the parent's cutime.
  std::map<pid_t, double> reaped_before;
  for (const auto& [pid, then] : start.by_pid) {
    if (!by_pid.contains(pid) && by_pid.contains(then.ppid)) {
      reaped_before[then.ppid] += then.own + then.children;
    }
  }
  for (const auto& [parent, before_window] : reaped_before) {
    auto it = start.by_pid.find(parent);
    double growth = by_pid.at(parent).children - (it == start.by_pid.end() ? 0 : it->second.children);
    total -= std::min(before_window, std::max(growth, 0.0));
  }
  return total;
}

uint64_t descendants_pss_bytes(pid_t root) {
  uint64_t total = 0;
  std::vector<pid_t> tree = process_tree(root);
  for (size_t i = 1; i < tree.size(); ++i) {
    std::istringstream in(slurp("/proc/" + std::to_string(tree[i]) + "/smaps_rollup"));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("Pss:", 0) == 0) {
        total += std::strtoull(line.c_str() + 4, nullptr, 10) * 1024;
        break;
      }
    }
  }
  return total;
}

Result<pid_t> socket_peer_pid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return Error::from_errno("getsockopt(SO_PEERCRED)");
  }
  return cred.pid;
}

}  // namespace thaw::bench
