#include "agent/invoke/microvm_cold_start.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "sandbox/microvm/guest_images.h"

namespace thaw::agent {
namespace {

Result<std::string> read_guest_file(const std::string& dir, const std::string& name) {
  std::ifstream in(dir + "/" + name);
  if (!in) {
    return Error::format("--guest-dir {}: no {} (point it at the directory tools/build-guest.sh "
                         "--print-dir prints)", dir, name);
  }
  std::stringstream s;
  s << in.rdbuf();
  std::string out = s.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace

Result<std::shared_ptr<MicrovmBackend>> MicrovmBackend::create(const MicrovmBackendOptions& o) {
  if (::access(o.vmm_path.c_str(), X_OK) != 0) {
    return Error::format("--vmm '{}' is not an executable thaw-vmm (build/sandbox/bin/thaw-vmm)",
                         o.vmm_path);
  }
  if (::access((o.guest_dir + "/vmlinux").c_str(), R_OK) != 0) {
    return Error::format("--guest-dir '{}' has no vmlinux; build the guest kernel with "
                         "tools/build-guest.sh and pass the directory it prints", o.guest_dir);
  }
  auto cmdline = read_guest_file(o.guest_dir, "cmdline");
  if (!cmdline) return std::move(cmdline).error();
  auto cpu_model = read_guest_file(o.guest_dir, "cpu-model");
  if (!cpu_model) return std::move(cpu_model).error();
  const std::string guest_files = o.state_dir + "/guest";
  auto initramfs = ensure_guest_initramfs(o.init_path, guest_files);
  if (!initramfs) return std::move(initramfs).error().context("--init for the microvm backend");
  auto backend = std::make_shared<MicrovmBackend>();
  backend->root_images_ = o.runtime_images;
  if (!backend->root_images_.contains("provided")) {
    auto root = ensure_provided_root_image(guest_files);
    if (!root) return std::move(root).error();
    backend->root_images_["provided"] = *root;
  }
  MicrovmGuest guest;
  guest.vmm_path = o.vmm_path;
  guest.kernel_path = o.guest_dir + "/vmlinux";
  guest.initramfs_path = *initramfs;
  guest.cmdline = *cmdline;
  guest.cpu_model = *cpu_model;
  guest.work_dir = o.state_dir + "/run";
  backend->snap_start_ = std::make_unique<SnapStart>(guest, o.state_dir + "/snapshots");
  backend->emulated_guest_kernel_ = *cpu_model == "pvm";
  return backend;
}

uint32_t MicrovmBackend::init_timeout_ms(uint32_t pool_limit_ms) const {
  constexpr uint32_t kEmulatedInitMs = 120000;
  return emulated_guest_kernel_ ? std::max(pool_limit_ms, kEmulatedInitMs) : pool_limit_ms;
}

Result<std::string> MicrovmBackend::root_image(const std::string& runtime) const {
  auto it = root_images_.find(runtime);
  if (it != root_images_.end()) return it->second;
  // provided.al2 / provided.al2023: the same bootstrap-only root.
  if (runtime.starts_with("provided")) return root_images_.at("provided");
  return Error::format("the microvm backend has no root image for runtime {}; start thawd with "
                       "--runtime-image {}=PATH (guest/runtimes/build-image.sh {})",
                       runtime, runtime, runtime);
}

ApiResult<ColdStart> microvm_cold_start(MicrovmBackend& backend, const PoolSettings& settings,
                                        FunctionRegistry& registry, const FunctionConfig& config,
                                        const InitConfig& init) {
  auto service_error = [&config](std::string_view what, const Error& e) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("{} for {}:{}: {}", what, config.name, config.version, e.message)};
  };
  FunctionImages images;
  auto root = backend.root_image(config.runtime);
  if (!root) return service_error("choosing the runtime image", root.error());
  images.root_image = *root;
  auto code = registry.code_image(config);
  if (!code) return service_error("finding the code image", code.error());
  images.code_image = *code;
  auto layers = registry.layer_images(config);
  if (!layers) return service_error("finding the layer images", layers.error());
  images.layer_images = *layers;
  images.tmp_size_mb = config.ephemeral_mb;
  auto started = backend.snap_start().cold_start(config.name, config.version, init, images,
                                                 static_cast<int>(backend.init_timeout_ms(settings.init_timeout_ms)));
  if (!started) return service_error("starting a microVM", started.error());
  ColdStart out;
  out.init_log = std::move(started->init_log);
  out.init_error = std::move(started->init_error);
  out.phases.create_ms = started->create_ms;
  if (started->restored) {
    out.restore_ms = started->restore_ms;
  } else {
    out.phases.init_ms = started->init_ms;
    out.init_duration_ms = started->create_ms + started->init_ms;
  }
  out.sandbox = std::move(started->sandbox);
  return out;
}

}  // namespace thaw::agent
