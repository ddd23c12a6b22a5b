#include "tests/snapshot/linux_guest.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace thaw::snapshot::testing {

namespace {

// Shell builtins only: on PVM every fork+exec costs about a second of
// emulated kernel code, the loop itself runs natively at CPL3.
constexpr char kCountingInit[] =
    "#!/bin/busybox sh\n"
    "/bin/busybox mount -t proc proc /proc\n"
    "i=0\n"
    "while :; do\n"
    "  j=0; while [ $j -lt 3000 ]; do j=$((j+1)); done\n"
    "  i=$((i+1)); echo \"tick $i pid $$\"\n"
    "done\n";

void put_newc(std::string& out, const std::string& name, uint32_t mode, const std::string& data) {
  char header[111];
  std::snprintf(header, sizeof header,
                "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1u, mode, 0u, 0u,
                1u, 0u, static_cast<unsigned>(data.size()), 0u, 0u, 0u, 0u,
                static_cast<unsigned>(name.size() + 1), 0u);
  out += header;
  out += name;
  out += '\0';
  while (out.size() % 4) out += '\0';
  out += data;
  while (out.size() % 4) out += '\0';
}

// The guest's own initramfs with a second newc archive appended whose
// /init replaces the first one's (the kernel unpacks both in order).
std::string counting_initramfs(const std::string& base) {
  std::ifstream in(base, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  std::string out = all.str();
  while (out.size() % 4) out += '\0';
  put_newc(out, "init", 0100755, kCountingInit);
  put_newc(out, "TRAILER!!!", 0, "");
  return out;
}

}  // namespace

int last_tick(const std::string& log, std::string& pid) {
  std::istringstream in(log);
  std::string line;
  int last = 0;
  while (std::getline(in, line)) {
    int n = 0;
    char p[32] = {};
    if (std::sscanf(line.c_str(), "tick %d pid %31s", &n, p) != 2) continue;
    if (last != 0 && n != last + 1) return -1;
    if (!pid.empty() && pid != p) return -1;
    pid = p;
    last = n;
  }
  return last;
}

std::optional<sandbox::VmmConfig> counting_linux_guest(const std::string& scratch_dir,
                                                       std::string& why) {
  const char* env = std::getenv("THAW_GUEST_DIR");
  if (env == nullptr || ::access((std::string(env) + "/complete").c_str(), F_OK) != 0) {
    why = "THAW_GUEST_DIR does not name built guest artefacts (tools/build-guest.sh)";
    return std::nullopt;
  }
  std::string dir = env;
  auto read = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
  };
  std::string initrd = scratch_dir + "/initramfs.cpio";
  {
    std::ofstream out(initrd, std::ios::binary);
    out << counting_initramfs(dir + "/initramfs-test.cpio");
  }
  std::string cmdline = read(dir + "/cmdline");
  while (!cmdline.empty() && (cmdline.back() == '\n' || cmdline.back() == ' ')) cmdline.pop_back();
  sandbox::VmmConfig config;
  config.kernel_path = dir + "/vmlinux";
  config.initrd_path = initrd;
  config.cmdline = cmdline;
  config.mem_mib = 128;
  config.vcpus = 1;
  config.cpu_model = read(dir + "/cpu-model").rfind("standard", 0) == 0
                         ? sandbox::CpuModel::kStandard
                         : sandbox::CpuModel::kPvm;
  return config;
}

}  // namespace thaw::snapshot::testing
