#include "tests/microvm/microvm_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/file_util.h"
#include "sandbox/microvm/guest_initramfs.h"

namespace thaw::testing {
namespace fs = std::filesystem;

namespace {

std::string read_trimmed(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string out = s.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

const char* env_or_null(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

Result<void> make_erofs(const std::string& dir, const std::string& image) {
  std::string cmd = fmt::format("mkfs.erofs -q '{}' '{}' 2>&1", image, dir);
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return Error::from_errno("popen mkfs.erofs");
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) return Error::format("mkfs.erofs {} -> {} failed ({}): {}", dir, image, rc, out);
  return Ok();
}

std::optional<MicrovmSandboxOptions> microvm_options(const std::string& scratch, std::string& why) {
  if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    why = "/dev/kvm is not usable here (a microVM needs KVM)";
    return std::nullopt;
  }
  const char* guest = env_or_null("THAW_GUEST_DIR");
  if (guest == nullptr || ::access((std::string(guest) + "/complete").c_str(), F_OK) != 0) {
    why = "THAW_GUEST_DIR does not name a built guest kernel: run tools/build-guest.sh and set "
          "THAW_GUEST_DIR to the directory it prints (tools/test.sh does both)";
    return std::nullopt;
  }
  const char* vmm = env_or_null("THAW_VMM");
  const char* init = env_or_null("THAW_INIT");
  const char* bootstrap = env_or_null("THAW_MICROVM_BOOTSTRAP");
  if (vmm == nullptr || init == nullptr || bootstrap == nullptr) {
    why = "THAW_VMM, THAW_INIT and THAW_MICROVM_BOOTSTRAP must name the built binaries (meson "
          "test sets them)";
    return std::nullopt;
  }
  for (const char* bin : {init, bootstrap}) {
    auto image = read_file(bin, 256u << 20);
    if (!image) {
      why = image.error().message;
      return std::nullopt;
    }
    if (auto ok = check_static_elf(*image, bin); !ok) {
      why = ok.error().message + " (sanitizer builds link dynamically; use a plain build)";
      return std::nullopt;
    }
  }
  MicrovmSandboxOptions o;
  o.vmm_path = vmm;
  o.kernel_path = std::string(guest) + "/vmlinux";
  o.cmdline = read_trimmed(std::string(guest) + "/cmdline");
  o.cpu_model = read_trimmed(std::string(guest) + "/cpu-model");
  o.work_dir = scratch;
  o.initramfs_path = scratch + "/initramfs.cpio";
  if (auto ok = write_thaw_init_initramfs(init, o.initramfs_path); !ok) {
    why = ok.error().message;
    return std::nullopt;
  }
  // `provided`: the root image only needs the mount points thaw-init uses;
  // the bootstrap (static) comes from the code image at /var/task.
  std::string root = scratch + "/root-tree", code = scratch + "/code-tree";
  for (const char* d : {"var/task", "var/runtime", "opt", "tmp", "proc", "dev", "sys", "etc"}) {
    fs::create_directories(root + "/" + d);
  }
  fs::create_directories(code);
  std::error_code ec;
  fs::copy_file(bootstrap, code + "/bootstrap", fs::copy_options::overwrite_existing, ec);
  ::chmod((code + "/bootstrap").c_str(), 0755);
  o.root_image = scratch + "/root.erofs";
  o.code_image = scratch + "/code.erofs";
  for (auto [dir, image] : {std::pair{root, o.root_image}, {code, o.code_image}}) {
    if (auto ok = make_erofs(dir, image); !ok) {
      why = ok.error().message;
      return std::nullopt;
    }
  }
  return o;
}

InitConfig provided_init_config(uint32_t memory_mb) {
  InitConfig c;
  c.function_name = "microvm-test";
  c.handler = "bootstrap";
  c.runtime = "provided";
  c.memory_mb = memory_mb;
  c.timeout_ms = 30000;
  c.log_group = "/aws/lambda/microvm-test";
  c.log_stream = "test";
  return c;
}

Result<Frame> await_frame(Sandbox& sandbox, FrameType want, int timeout_ms, std::string* log) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto f = sandbox.receive(static_cast<int>(std::max<int64_t>(0, left.count())));
    if (!f) return std::move(f).error();
    if (!*f) {
      return Error::format("no {} frame within {} ms", frame_type_name(want), timeout_ms);
    }
    Frame& frame = **f;
    if (frame.type == want) return std::move(frame);
    if (frame.type == FrameType::kLogChunk) {
      if (auto chunk = decode_log_chunk(frame.payload); chunk && log != nullptr) *log += chunk->text;
      continue;
    }
    if (frame.type == FrameType::kMetrics) continue;
    std::string detail(frame.payload.begin(), frame.payload.end());
    if (auto report = decode_error_report(frame.payload)) detail = report->body;
    return Error::format("expected a {} frame, got {}: {:.400}", frame_type_name(want),
                         frame_type_name(frame.type), detail);
  }
}

Result<std::string> invoke(Sandbox& sandbox, const std::string& request_id,
                           const std::string& event, int timeout_ms) {
  Invocation inv;
  inv.deadline_ms = static_cast<uint64_t>(std::time(nullptr)) * 1000 + 600000;
  inv.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:microvm-test";
  inv.payload.assign(event.begin(), event.end());
  Frame f;
  f.type = FrameType::kInvoke;
  f.request_id = request_id;
  f.payload = encode_invocation(inv);
  if (auto ok = sandbox.send(f); !ok) return std::move(ok).error();
  auto r = await_frame(sandbox, FrameType::kResponse, timeout_ms);
  if (!r) return std::move(r).error();
  return std::string(r->payload.begin(), r->payload.end());
}

}  // namespace thaw::testing
