#include "sandbox/microvm/guest_images.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "common/file_util.h"
#include "sandbox/microvm/guest_initramfs.h"
#include "sandbox/microvm/vmm_process.h"

namespace thaw {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxInitBytes = 256u << 20;
std::atomic<uint64_t> tmp_counter{0};

std::string tmp_name(const std::string& final_path) {
  return fmt::format("{}.tmp-{}-{}", final_path, ::getpid(), tmp_counter.fetch_add(1));
}

}  // namespace

Result<void> run_tool(const std::vector<std::string>& argv, const std::string& log_path) {
  auto p = VmmProcess::spawn(argv, log_path);
  if (!p) return std::move(p).error();
  std::optional<int> st;
  while (!(st = p->exit_status())) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (*st != 0) {
    return Error::format("{} failed ({}): {}", argv[0], describe_wait_status(*st),
                         log_tail(log_path, 600));
  }
  return Ok();
}

Result<std::string> ensure_guest_initramfs(const std::string& init_path, const std::string& dir) {
  auto bytes = read_file(init_path, kMaxInitBytes);
  if (!bytes) return std::move(bytes).error().context("reading thaw-init for the microVM initramfs");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes->data(), bytes->size(), md, &len, EVP_sha256(), nullptr);
  std::string key;
  for (unsigned i = 0; i < 8; ++i) key += fmt::format("{:02x}", md[i]);
  std::string out = fmt::format("{}/initramfs-{}.cpio", dir, key);
  if (::access(out.c_str(), R_OK) == 0) return out;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::format("creating {}: {}", dir, ec.message());
  // Debug info is most of an unstripped build's thaw-init (21 of 23 MB);
  // the guest would unpack all of it. Without objcopy, use it as it is.
  std::string stripped = tmp_name(out + ".init");
  std::string source = init_path;
  if (run_tool({"/usr/bin/objcopy", "--strip-all", init_path, stripped}, stripped + ".log")) {
    source = stripped;
  }
  std::string tmp = tmp_name(out);
  auto ok = write_thaw_init_initramfs(source, tmp);
  ::unlink(stripped.c_str());
  ::unlink((stripped + ".log").c_str());
  if (ok && ::rename(tmp.c_str(), out.c_str()) < 0) ok = Error::from_errno("rename {} -> {}", tmp, out);
  if (!ok) {
    ::unlink(tmp.c_str());
    return std::move(ok).error();
  }
  return out;
}

Result<std::string> ensure_provided_root_image(const std::string& dir) {
  std::string out = dir + "/provided-root.erofs";
  if (::access(out.c_str(), R_OK) == 0) return out;
  std::string tree = tmp_name(dir + "/provided-root");
  for (const char* d : {"var/task", "var/runtime", "opt", "tmp", "proc", "dev", "sys", "etc"}) {
    std::error_code ec;
    fs::create_directories(tree + "/" + d, ec);
    if (ec) return Error::format("creating {}/{}: {}", tree, d, ec.message());
  }
  ::chmod((tree + "/tmp").c_str(), 01777);
  std::string tmp = tmp_name(out);
  auto ok = run_tool({"/usr/bin/mkfs.erofs", tmp, tree}, tree + ".log");
  remove_tree(tree);
  ::unlink((tree + ".log").c_str());
  if (ok && ::rename(tmp.c_str(), out.c_str()) < 0) ok = Error::from_errno("rename {} -> {}", tmp, out);
  if (!ok) {
    ::unlink(tmp.c_str());
    return std::move(ok).error().context("building the `provided` root image (apt-get install erofs-utils)");
  }
  return out;
}

}  // namespace thaw
