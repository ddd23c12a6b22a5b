#include "agent/api/function_registry.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>

#include <fmt/chrono.h>

#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {
constexpr size_t kMaxRecordBytes = 64u << 10;
constexpr std::string_view kRecordSuffix = ".json";
}  // namespace

std::string lambda_timestamp_now() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03d}+0000", tm, static_cast<int>(ms % 1000));
}

Result<std::unique_ptr<FunctionRegistry>> FunctionRegistry::open(const std::string& state_dir,
                                                                 layers::StoreOptions store_options) {
  std::string dir = state_dir + "/functions";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Error::format("creating {}: {}", dir, ec.message());
  ::chmod(dir.c_str(), 0700);
  auto store = layers::ImageStore::open(std::move(store_options));
  if (!store) return std::move(store).error().context("opening the image store");
  std::unique_ptr<FunctionRegistry> reg(new FunctionRegistry(dir, std::move(*store)));
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    // Temp files of an interrupted write_file_atomic are not records.
    if (!file.ends_with(kRecordSuffix) || file.starts_with(".")) continue;
    auto bytes = read_file(entry.path().string(), kMaxRecordBytes);
    Result<FunctionConfig> config =
        bytes ? decode_function_record(*bytes) : Result<FunctionConfig>(bytes.error());
    std::string expected_name = file.substr(0, file.size() - kRecordSuffix.size());
    if (config && config->name != expected_name) {
      config = Error::format("it names function '{}'", config->name);
    }
    if (!config) {
      reg->warnings_.push_back(fmt::format("skipped function record {}: {}; fix or remove the file",
                                           entry.path().string(), config.error().message));
      continue;
    }
    reg->functions_.emplace(config->name, std::move(*config));
  }
  if (ec) return Error::format("listing {}: {}", dir, ec.message());
  return reg;
}

FunctionRegistry::FunctionRegistry(std::string dir, layers::ImageStore store)
    : dir_(std::move(dir)), store_(std::move(store)) {}

std::string FunctionRegistry::record_path(const std::string& name) const {
  return dir_ + "/" + name + std::string(kRecordSuffix);
}

ApiResult<FunctionConfig> FunctionRegistry::create(CreateFunctionRequest request) {
  FunctionConfig& c = request.config;
  auto conflict = [&c] {
    return ApiError{ApiErrorKind::kResourceConflict,
                    fmt::format("Function already exist: {}", c.name)};
  };
  {
    std::lock_guard lock(mu_);
    if (functions_.contains(c.name)) return conflict();
  }
  // Conversion takes a while for big packages: do it outside the lock (the
  // store serialises puts of the same ZIP itself).
  auto image = store_.put(request.zip);
  if (!image) {
    const Error& e = image.error();
    if (e.sys_errno != 0) {
      return ApiError{ApiErrorKind::kService, fmt::format("storing the code: {}", e.message)};
    }
    return invalid_parameter(fmt::format("Code.ZipFile: {}", e.message));
  }
  c.code_digest = image->digest;
  c.code_size = image->zip_bytes;
  c.last_modified = lambda_timestamp_now();
  std::lock_guard lock(mu_);
  if (functions_.contains(c.name)) return conflict();
  std::string record = encode_function_record(c);
  auto written = write_file_atomic(
      record_path(c.name), {reinterpret_cast<const uint8_t*>(record.data()), record.size()}, 0600);
  if (!written) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("persisting function {}: {}", c.name, written.error().message)};
  }
  functions_.emplace(c.name, c);
  return c;
}

std::optional<FunctionConfig> FunctionRegistry::get(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) return std::nullopt;
  return it->second;
}

std::vector<FunctionConfig> FunctionRegistry::list() const {
  std::lock_guard lock(mu_);
  std::vector<FunctionConfig> out;
  out.reserve(functions_.size());
  for (const auto& [name, c] : functions_) out.push_back(c);
  return out;
}

ApiResult<FunctionConfig> FunctionRegistry::remove(const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = functions_.find(name);
  if (it == functions_.end()) {
    return ApiError{ApiErrorKind::kResourceNotFound,
                    fmt::format("Function not found: {}", function_arn(kRegion, name))};
  }
  std::string path = record_path(name);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
    return ApiError{ApiErrorKind::kService,
                    Error::from_errno("removing the record {}", path).message};
  }
  FunctionConfig removed = std::move(it->second);
  functions_.erase(it);
  return removed;
}

Result<std::string> FunctionRegistry::code_image(const FunctionConfig& config) const {
  auto info = store_.find(config.code_digest);
  if (!info) return std::move(info).error();
  if (!*info) {
    return Error::format("the code image {} of function {} is missing from the image store",
                         config.code_digest, config.name);
  }
  return (*info)->image_path;
}

}  // namespace thaw::agent
