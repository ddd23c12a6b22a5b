// FunctionRegistry's records of versions and aliases: where they live, how
// they are written, and how a function's NAME.d is reloaded (each record
// checked on its own; a bad one is skipped with a warning naming the file).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "agent/api/function_registry.h"
#include "common/file_util.h"

namespace thaw::agent {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxRecordBytes = 64u << 10;

// The records in `dir` (NAME.json, not temp files), with their stem.
std::vector<std::pair<std::string, std::string>> records_in(const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string file = entry.path().filename().string();
    if (file.starts_with(".") || !file.ends_with(".json")) continue;
    out.emplace_back(file.substr(0, file.size() - 5), entry.path().string());
  }
  return out;
}

}  // namespace

std::string FunctionRegistry::record_path(const std::string& name) const {
  return dir_ + "/" + name + ".json";
}

std::string FunctionRegistry::extras_dir(const std::string& name) const {
  return dir_ + "/" + name + ".d";
}

std::string FunctionRegistry::version_path(const std::string& name,
                                           const std::string& version) const {
  return extras_dir(name) + "/versions/" + version + ".json";
}

std::string FunctionRegistry::alias_path(const std::string& name, const std::string& alias) const {
  return extras_dir(name) + "/aliases/" + alias + ".json";
}

std::optional<ApiError> FunctionRegistry::write_record(const std::string& path,
                                                       const std::string& text) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!fs::exists(parent, ec)) {
    fs::create_directories(parent, ec);
    for (fs::path p = parent; !ec && p.filename() != "functions" && p.has_parent_path();
         p = p.parent_path()) {
      ::chmod(p.c_str(), 0700);
    }
    if (ec) {
      return ApiError{ApiErrorKind::kService,
                      fmt::format("creating {}: {}", parent.string(), ec.message())};
    }
  }
  auto written = write_file_atomic(
      path, {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0600);
  if (!written) {
    return ApiError{ApiErrorKind::kService,
                    fmt::format("persisting {}: {}", path, written.error().message)};
  }
  return std::nullopt;
}

std::optional<ApiError> FunctionRegistry::remove_record(const std::string& path) {
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
    return ApiError{ApiErrorKind::kService, Error::from_errno("removing the record {}", path).message};
  }
  return std::nullopt;
}

void FunctionRegistry::load_extras(Entry& entry) {
  const std::string& name = entry.latest.name;
  auto skip = [this](const std::string& path, const std::string& why) {
    warnings_.push_back(fmt::format("skipped record {}: {}; fix or remove the file", path, why));
  };
  for (const auto& [stem, path] : records_in(extras_dir(name) + "/versions")) {
    auto bytes = read_file(path, kMaxRecordBytes);
    Result<FunctionConfig> config =
        bytes ? decode_function_record(*bytes) : Result<FunctionConfig>(bytes.error());
    auto number = parse_version_number(stem);
    if (config && (config->name != name || config->version != stem || !number)) {
      config = Error::format("it holds {}:{}, not {}:{}", config->name, config->version, name, stem);
    }
    if (!config) {
      skip(path, config.error().message);
      continue;
    }
    entry.versions.emplace(*number, std::move(*config));
  }
  if (!entry.versions.empty()) {
    // A crash between writing a version and the $LATEST record's counter.
    uint32_t after_newest = entry.versions.rbegin()->first + 1;
    entry.latest.next_version = std::max(entry.latest.next_version, after_newest);
  }
  auto exists = [&entry](const std::string& version) {
    auto n = parse_version_number(version);
    return version == "$LATEST" || (n && entry.versions.contains(*n));
  };
  for (const auto& [stem, path] : records_in(extras_dir(name) + "/aliases")) {
    auto bytes = read_file(path, kMaxRecordBytes);
    Result<Alias> alias = bytes ? decode_alias_record(*bytes) : Result<Alias>(bytes.error());
    if (alias && (alias->function_name != name || alias->name != stem)) {
      alias = Error::format("it holds alias {}:{}", alias->function_name, alias->name);
    }
    if (alias && !exists(alias->function_version)) {
      alias = Error::format("it points at version {}, which did not load", alias->function_version);
    }
    if (alias && alias->routing && !exists(alias->routing->version)) {
      alias = Error::format("it routes to version {}, which did not load", alias->routing->version);
    }
    if (!alias) {
      skip(path, alias.error().message);
      continue;
    }
    entry.aliases.emplace(stem, std::move(*alias));
  }
}

}  // namespace thaw::agent
