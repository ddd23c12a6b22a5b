#include "agent/api/function_update.h"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "agent/api/json_fields.h"

namespace thaw::agent {
namespace json = boost::json;

ApiResult<UpdateCodeRequest> parse_update_function_code(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  for (std::string_view unsupported : {"S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri"}) {
    if (o.contains(unsupported)) {
      return invalid_parameter(fmt::format(
          "{} is not supported: this agent has no S3 or image registry; send the package as "
          "ZipFile (base64)",
          unsupported));
    }
  }
  if (auto e = check_known_fields(o, {"ZipFile", "Publish", "RevisionId", "DryRun", "Architectures"},
                                  "UpdateFunctionCode")) {
    return *e;
  }
  UpdateCodeRequest req;
  bool dry_run = false;
  if (auto e = read_bool(o, "Publish", req.publish)) return *e;
  if (auto e = read_bool(o, "DryRun", dry_run)) return *e;
  if (dry_run) {
    return invalid_parameter("DryRun=true is not supported by UpdateFunctionCode here; send the "
                             "update without DryRun");
  }
  if (auto e = read_string(o, "RevisionId", req.revision_id)) return *e;
  std::vector<std::string> architectures;
  if (auto e = read_string_list(o, "Architectures", architectures)) return *e;
  for (const auto& arch : architectures) {
    if (arch != "x86_64") return invalid_parameter("Architectures: this host runs x86_64 only");
  }
  auto zip = read_zip_file(o, "ZipFile", "ZipFile");
  if (!zip) return zip.error();
  req.zip = std::move(*zip);
  return req;
}

ApiResult<UpdateConfigurationRequest> parse_update_function_configuration(std::string_view body) {
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  if (auto e = check_known_fields(*doc,
                                  {"Runtime", "Handler", "Description", "Role", "MemorySize",
                                   "Timeout", "Environment", "EphemeralStorage", "Layers",
                                   "RevisionId"},
                                  "UpdateFunctionConfiguration")) {
    return *e;
  }
  UpdateConfigurationRequest req;
  if (auto e = read_string(*doc, "RevisionId", req.revision_id)) return *e;
  // Type errors surface now, before the function is even looked up.
  FunctionConfig scratch;
  std::optional<std::vector<std::string>> layers;
  if (auto e = read_function_settings(*doc, scratch, layers)) return *e;
  req.fields = std::move(*doc);
  req.fields.erase("RevisionId");
  return req;
}

ApiResult<PublishVersionRequest> parse_publish_version(std::string_view body) {
  PublishVersionRequest req;
  if (body.empty()) return req;  // every field is optional; the CLI may send no body
  auto doc = parse_json_object(body);
  if (!doc) return doc.error();
  const json::object& o = *doc;
  if (auto e = check_known_fields(o, {"CodeSha256", "Description", "RevisionId"}, "PublishVersion")) {
    return *e;
  }
  if (auto e = read_string(o, "CodeSha256", req.code_sha256)) return *e;
  if (auto e = read_string(o, "RevisionId", req.revision_id)) return *e;
  if (o.contains("Description")) {
    std::string description;
    if (auto e = read_string(o, "Description", description)) return *e;
    if (description.size() > kMaxDescriptionBytes) {
      return invalid_parameter(fmt::format("Description is {} bytes; the limit is {}",
                                           description.size(), kMaxDescriptionBytes));
    }
    req.description = std::move(description);
  }
  return req;
}

std::optional<ApiError> check_revision(std::string_view expected, std::string_view current,
                                       std::string_view what) {
  if (expected.empty() || expected == current) return std::nullopt;
  return ApiError{ApiErrorKind::kPreconditionFailed,
                  fmt::format("The RevisionId provided ({}) does not match the latest RevisionId "
                              "of {} ({}); get it again and retry",
                              expected.substr(0, 64), what, current)};
}

}  // namespace thaw::agent
