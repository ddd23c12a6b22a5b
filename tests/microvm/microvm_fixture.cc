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
#include "sandbox/microvm/guest_images.h"
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
  // Stripped: the guest unpacks every byte (~1 MB/s of emulated copy on PVM).
  auto initramfs = ensure_guest_initramfs(init, scratch);
  if (!initramfs) {
    why = initramfs.error().message;
    return std::nullopt;
  }
  o.initramfs_path = *initramfs;
  auto root = ensure_provided_root_image(scratch);
  if (!root) {
    why = root.error().message;
    return std::nullopt;
  }
  o.root_image = *root;
  // The static bootstrap is the function's code, at /var/task/bootstrap.
  std::string code = scratch + "/code-tree";
  fs::create_directories(code);
  std::error_code ec;
  fs::copy_file(bootstrap, code + "/bootstrap", fs::copy_options::overwrite_existing, ec);
  ::chmod((code + "/bootstrap").c_str(), 0755);
  o.code_image = scratch + "/code.erofs";
  if (auto ok = run_tool({"/usr/bin/mkfs.erofs", o.code_image, code}, scratch + "/mkfs.log");
      !ok) {
    why = ok.error().message;
    return std::nullopt;
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
