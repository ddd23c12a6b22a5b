#include "agent/invoke/cold_start.h"

#include <chrono>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "agent/invoke/invoke_log.h"
#include "agent/invoke/microvm_cold_start.h"
#include "runtime-api/messages.h"
#include "sandbox/process/process_sandbox.h"

namespace thaw::agent {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// thaw-init's runtime names follow guest/runtimes (nodejs20, not nodejs20.x).
std::string init_runtime_name(const std::string& runtime) {
  if (runtime == "nodejs20.x") return "nodejs20";
  return runtime;
}

InitConfig init_config(const FunctionConfig& config) {
  InitConfig ic;
  ic.function_name = config.name;
  ic.function_version = config.version;
  ic.handler = config.handler;
  ic.runtime = init_runtime_name(config.runtime);
  ic.memory_mb = config.memory_mb;
  ic.timeout_ms = config.timeout_s * 1000;
  ic.region = std::string(kRegion);
  ic.log_group = "/aws/lambda/" + config.name;
  ic.log_stream = "thaw/[" + config.version + "]" + new_request_id();
  for (const auto& kv : config.environment) ic.environment.push_back(kv);
  return ic;
}

}  // namespace

ApiResult<ColdStart> cold_start(const PoolSettings& settings, FunctionRegistry& registry,
                                ImageMounts& mounts, const FunctionConfig& config) {
  ColdStart out;
  auto service_error = [&config](std::string_view what, const Error& e) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("{} for {}:{}: {}", what, config.name, config.version, e.message)};
  };
  if (settings.microvm) {
    return microvm_cold_start(*settings.microvm, settings, registry, config, init_config(config));
  }
  auto t0 = Clock::now();
  auto image = registry.code_image(config);
  if (!image) return service_error("finding the code image", image.error());
  auto code = mounts.mount("code", config.code_digest, *image);
  if (!code) return service_error("mounting the code image", code.error());
  // Layers: each image mounted once on the host; the sandbox stacks them at
  // /opt in order, later layers on top (runtime-api/sandbox_layout).
  auto layer_images = registry.layer_images(config);
  if (!layer_images) return service_error("finding the layer images", layer_images.error());
  if (layer_images->size() != config.layers.size()) {
    return service_error("finding the layer images",
                         Error::format("{} images for {} layers", layer_images->size(),
                                       config.layers.size()));
  }
  std::vector<std::string> layer_dirs;
  for (size_t i = 0; i < layer_images->size(); ++i) {
    auto dir = mounts.mount("layers", config.layers[i].digest, (*layer_images)[i]);
    if (!dir) return service_error(fmt::format("mounting layer {}", config.layers[i].arn), dir.error());
    layer_dirs.push_back(std::move(*dir));
  }
  ProcessSandboxOptions o;
  o.init_path = settings.init_path;
  o.seccomp_policy_path = settings.seccomp_policy_path;
  o.code_dir = *code;
  o.layer_dirs = std::move(layer_dirs);
  o.tmp_size_mb = config.ephemeral_mb;
  o.work_dir = settings.work_dir;
  o.use_cgroup = settings.use_cgroup;
  if (auto it = settings.runtime_images.find(config.runtime); it != settings.runtime_images.end()) {
    o.root_image = it->second;
  }
  auto t1 = Clock::now();
  out.phases.mounts_ms = ms_between(t0, t1);

  auto sandbox = std::make_unique<ProcessSandbox>(o);
  if (auto s = sandbox->start(init_config(config)); !s) {
    return service_error("starting a sandbox", s.error());
  }
  auto t2 = Clock::now();
  out.phases.create_ms = ms_between(t1, t2);

  auto finish_init = [&] {
    auto t3 = Clock::now();
    out.phases.init_ms = ms_between(t2, t3);
    out.init_duration_ms = ms_between(t1, t3);
  };
  auto deadline = t1 + std::chrono::milliseconds(settings.init_timeout_ms);
  for (;;) {
    auto frame = sandbox->receive(ms_left(deadline));
    if (!frame || !*frame) {
      (void)sandbox->kill();
      finish_init();
      out.init_error = frame ? error_json("Sandbox.Timedout",
                                          fmt::format("Init phase did not finish within {} ms",
                                                      settings.init_timeout_ms))
                             : error_json("Runtime.ExitError", frame.error().message);
      return out;
    }
    Frame& f = **frame;
    if (f.type == FrameType::kLogChunk) {
      if (auto chunk = decode_log_chunk(f.payload)) out.init_log += chunk->text;
      continue;
    }
    finish_init();
    if (f.type == FrameType::kReady) {
      if (auto share = sandbox->apply_cpu_share(); !share) {
        (void)sandbox->kill();
        return service_error("starting a sandbox", share.error());
      }
      out.sandbox = std::move(sandbox);
      return out;
    }
    (void)sandbox->kill();
    if (f.type == FrameType::kInitError) {
      auto report = decode_error_report(f.payload);
      out.init_error =
          report ? report->body : error_json("Sandbox.InitFailed", report.error().message);
    } else {
      out.init_error = error_json(
          "Sandbox.InitFailed",
          fmt::format("unexpected {} frame during Init", frame_type_name(f.type)));
    }
    return out;
  }
}

}  // namespace thaw::agent
