// Tests of the control-plane request parsers and records: UpdateFunctionCode/
// Configuration and PublishVersion (agent/api/function_update), aliases
// (agent/api/alias_config), layer ARNs and PublishLayerVersion
// (agent/api/layer_api): bad JSON, unknown fields, wrong types, Lambda's limits.
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/api/alias_config.h"
#include "agent/api/function_update.h"
#include "agent/api/layer_api.h"

namespace thaw::agent {
namespace {

namespace json = boost::json;

constexpr const char* kEmptyZip = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==";
const std::string kLayer1 = "arn:aws:lambda:us-east-1:000000000000:layer:base:1";

template <typename T>
ApiError error_of(const ApiResult<T>& r) {
  EXPECT_FALSE(r.ok());
  return r.ok() ? ApiError{ApiErrorKind::kService, "parsed"} : r.error();
}

bool mentions(const ApiError& e, const std::string& what) {
  return e.message.find(what) != std::string::npos;
}

TEST(UpdateFunctionCode, ParsesZipPublishAndRevision) {
  auto r = parse_update_function_code(
      json::serialize(json::object{{"ZipFile", kEmptyZip}, {"Publish", true}, {"RevisionId", "r1"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->zip.size(), 22u);
  EXPECT_TRUE(r->publish);
  EXPECT_EQ(r->revision_id, "r1");
}

TEST(UpdateFunctionCode, RefusesBadBodiesWithTheFieldNamed) {
  EXPECT_EQ(error_of(parse_update_function_code("{\"ZipFile\":")).kind,
            ApiErrorKind::kInvalidRequestContent);
  ApiError e = error_of(parse_update_function_code(R"({"S3Bucket":"b","S3Key":"k"})"));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidParameterValue);
  EXPECT_TRUE(mentions(e, "S3Bucket is not supported")) << e.message;
  e = error_of(parse_update_function_code(R"({"ZipFile":"UEsFBg==","Zip":1})"));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidRequestContent);
  EXPECT_TRUE(mentions(e, "unknown field 'Zip'")) << e.message;
  e = error_of(parse_update_function_code(R"({"ZipFile":"UEsFBg==","Publish":"yes"})"));
  EXPECT_TRUE(mentions(e, "'Publish' must be a JSON boolean")) << e.message;
  e = error_of(parse_update_function_code(R"({"ZipFile":12})"));
  EXPECT_TRUE(mentions(e, "'ZipFile' must be a base64 JSON string")) << e.message;
  e = error_of(parse_update_function_code(R"({"Publish":true})"));
  EXPECT_TRUE(mentions(e, "ZipFile is required")) << e.message;
  e = error_of(parse_update_function_code(R"({"ZipFile":"!!"})"));
  EXPECT_TRUE(mentions(e, "not valid base64")) << e.message;
}

TEST(UpdateFunctionConfiguration, KeepsOnlyTheGivenFieldsAndChecksTypesEarly) {
  auto r = parse_update_function_configuration(
      R"({"MemorySize":256,"Layers":[")" + kLayer1 + R"("],"RevisionId":"abc"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->revision_id, "abc");
  EXPECT_FALSE(r->fields.contains("RevisionId"));
  FunctionConfig c;
  c.timeout_s = 9;
  std::optional<std::vector<std::string>> layers;
  EXPECT_FALSE(read_function_settings(r->fields, c, layers).has_value());
  EXPECT_EQ(c.memory_mb, 256u);
  EXPECT_EQ(c.timeout_s, 9u) << "absent fields keep their value";
  ASSERT_TRUE(layers.has_value());
  EXPECT_EQ(*layers, std::vector<std::string>{kLayer1});

  ApiError e = error_of(parse_update_function_configuration(R"({"Timeout":"3"})"));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidRequestContent);
  EXPECT_TRUE(mentions(e, "'Timeout' must be a JSON integer")) << e.message;
  e = error_of(parse_update_function_configuration(R"({"FunctionName":"x"})"));
  EXPECT_TRUE(mentions(e, "unknown field 'FunctionName' in UpdateFunctionConfiguration")) << e.message;
  e = error_of(parse_update_function_configuration(R"({"EphemeralStorage":{"Size":1024,"X":1}})"));
  EXPECT_TRUE(mentions(e, "unknown field 'X' in EphemeralStorage")) << e.message;
  e = error_of(parse_update_function_configuration(R"({"Layers":"arn"})"));
  EXPECT_TRUE(mentions(e, "'Layers' must be a JSON array")) << e.message;
  e = error_of(parse_update_function_configuration(R"({"Layers":[1]})"));
  EXPECT_TRUE(mentions(e, "every item of 'Layers'")) << e.message;
}

TEST(UpdateFunctionConfiguration, LayerListsFollowLambdasRules) {
  json::array six;
  for (int i = 1; i <= 6; ++i) six.push_back(json::value(layer_version_arn("l" + std::to_string(i), 1)));
  ApiError e = error_of(parse_update_function_configuration(json::serialize(json::object{{"Layers", six}})));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidParameterValue);
  EXPECT_TRUE(mentions(e, "at most 5")) << e.message;
  e = error_of(parse_update_function_configuration(json::serialize(
      json::object{{"Layers", json::array{kLayer1, layer_version_arn("base", 2)}}})));
  EXPECT_TRUE(mentions(e, "two versions of layer 'base'")) << e.message;
  e = error_of(parse_update_function_configuration(
      R"({"Layers":["arn:aws:lambda:eu-west-1:123456789012:layer:x:1"]})"));
  EXPECT_TRUE(mentions(e, "region us-east-1 and account 000000000000")) << e.message;
}

TEST(LayerArn, ParsesOnlyThisAgentsLayerVersionArns) {
  auto ref = parse_layer_version_arn(kLayer1);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->name, "base");
  EXPECT_EQ(ref->version, 1u);
  EXPECT_EQ(layer_version_arn("base", 1), kLayer1);
  for (const char* bad : {"arn:aws:lambda:us-east-1:000000000000:layer:base",
                          "arn:aws:lambda:us-east-1:000000000000:layer:base:0",
                          "arn:aws:lambda:us-east-1:000000000000:layer:base:01",
                          "arn:aws:lambda:us-east-1:000000000000:layer:b.d:1",
                          "arn:aws:lambda:us-east-1:000000000000:layer::1",
                          "arn:aws:lambda:us-east-1:000000000000:layer:base:99999999999",
                          "arn:aws:s3:::bucket", ""}) {
    EXPECT_FALSE(parse_layer_version_arn(bad).ok()) << bad;
  }
  EXPECT_EQ(parse_version_number("4294967295"), 4294967295u);
  EXPECT_FALSE(parse_version_number("4294967296").has_value());
  EXPECT_FALSE(parse_version_number("+1").has_value());
}

TEST(PublishLayerVersion, ParsesContentAndRefusesWhatThisAgentCannotStore) {
  auto r = parse_publish_layer_version(
      "base", R"({"Content":{"ZipFile":")" + std::string(kEmptyZip) +
                  R"("},"CompatibleRuntimes":["python3.11"],"Description":"d","LicenseInfo":"MIT"})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "base");
  EXPECT_EQ(r->compatible_runtimes, std::vector<std::string>{"python3.11"});
  EXPECT_EQ(r->zip.size(), 22u);
  ApiError e = error_of(parse_publish_layer_version("base", R"({"Content":{"S3Bucket":"b"}})"));
  EXPECT_TRUE(mentions(e, "Content.S3Bucket is not supported")) << e.message;
  e = error_of(parse_publish_layer_version("base", R"({"Description":"no content"})"));
  EXPECT_TRUE(mentions(e, "Content is required")) << e.message;
  e = error_of(parse_publish_layer_version("bad name", R"({})"));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidParameterValue);
  e = error_of(parse_publish_layer_version("base", R"({"Content":{"ZipFile":"UEsFBg=="},"Runtimes":[]})"));
  EXPECT_TRUE(mentions(e, "unknown field 'Runtimes' in PublishLayerVersion")) << e.message;
  e = error_of(parse_publish_layer_version("base", R"({"CompatibleRuntimes":"python3.11"})"));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidRequestContent);
}

TEST(PublishVersion, EveryFieldIsOptional) {
  auto r = parse_publish_version("");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->description.has_value());
  r = parse_publish_version(R"({"Description":"v","CodeSha256":"abc=","RevisionId":"r"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->description, "v");
  EXPECT_EQ(r->code_sha256, "abc=");
  EXPECT_TRUE(mentions(error_of(parse_publish_version(R"({"Descripton":"v"})")), "unknown field"));
  EXPECT_TRUE(mentions(error_of(parse_publish_version(json::serialize(
                           json::object{{"Description", std::string(257, 'd')}}))),
                       "the limit is 256"));
  EXPECT_FALSE(check_revision("", "current", "$LATEST").has_value());
  EXPECT_FALSE(check_revision("current", "current", "$LATEST").has_value());
  auto stale = check_revision("old", "current", "$LATEST");
  ASSERT_TRUE(stale.has_value());
  EXPECT_EQ(stale->kind, ApiErrorKind::kPreconditionFailed);
  EXPECT_EQ(api_error_status(stale->kind), 412u);
}

TEST(Alias, CreateRequestsFollowLambdasValidation) {
  auto r = parse_create_alias(
      R"({"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1}}})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  Alias a{"f", "live", "", "", "rev", std::nullopt};
  EXPECT_FALSE(apply_alias_request(*r, a).has_value());
  ASSERT_TRUE(a.routing.has_value());
  EXPECT_EQ(a.routing->version, "2");
  EXPECT_DOUBLE_EQ(a.routing->weight, 0.1);

  for (const char* name : {"123", "", "has space", "dollar$"}) {
    auto bad = parse_create_alias(json::serialize(json::object{{"Name", name}, {"FunctionVersion", "1"}}));
    EXPECT_EQ(error_of(bad).kind, ApiErrorKind::kInvalidParameterValue) << name;
  }
  EXPECT_FALSE(check_alias_name(std::string(128, 'a')).has_value());
  EXPECT_TRUE(check_alias_name(std::string(129, 'a')).has_value());
  EXPECT_TRUE(mentions(error_of(parse_create_alias(R"({"Name":"a"})")), "FunctionVersion is required"));
  EXPECT_TRUE(mentions(error_of(parse_create_alias(R"({"Name":"a","FunctionVersion":"v1"})")),
                       "must be $LATEST or a published version number"));
  EXPECT_TRUE(mentions(error_of(parse_create_alias(R"({"Name":"a","FunctionVersion":1})")),
                       "'FunctionVersion' must be a JSON string"));
  EXPECT_TRUE(mentions(error_of(parse_create_alias(R"({"Name":"a","FunctionVersion":"1","Weights":{}})")),
                       "unknown field 'Weights' in CreateAlias"));
  auto weights = [](const std::string& w) {
    return parse_create_alias(R"({"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":)" +
                              w + "}}");
  };
  EXPECT_TRUE(mentions(error_of(weights(R"({"2":0.1,"3":0.1})")), "at most one additional version"));
  EXPECT_TRUE(mentions(error_of(weights(R"({"2":1.5})")), "between 0.0 and 1.0"));
  EXPECT_TRUE(mentions(error_of(weights(R"({"2":-0.1})")), "between 0.0 and 1.0"));
  EXPECT_TRUE(mentions(error_of(weights(R"({"2":"0.1"})")), "must be a JSON number"));
  EXPECT_TRUE(mentions(error_of(weights(R"({"$LATEST":0.1})")), "not a published version number"));
  EXPECT_TRUE(weights(R"({"2":1})").ok()) << "an integer weight is a number too";
  EXPECT_TRUE(weights("{}").ok());
}

TEST(Alias, RoutingRulesApplyToTheResultOfAnUpdate) {
  Alias a{"f", "live", "$LATEST", "", "rev", std::nullopt};
  auto routed = parse_update_alias("live", R"({"RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}})");
  ASSERT_TRUE(routed.ok());
  auto e = apply_alias_request(*routed, a);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(mentions(*e, "pointing at $LATEST cannot route")) << e->message;
  a = {"f", "live", "2", "", "rev", std::nullopt};
  e = apply_alias_request(*routed, a);
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(mentions(*e, "the alias's own FunctionVersion")) << e->message;
  a = {"f", "live", "1", "keep", "rev", AliasRouting{"3", 0.2}};
  auto clear = parse_update_alias("live", R"({"RoutingConfig":{"AdditionalVersionWeights":{}}})");
  ASSERT_TRUE(clear.ok());
  EXPECT_FALSE(apply_alias_request(*clear, a).has_value());
  EXPECT_FALSE(a.routing.has_value()) << "empty weights clear the routing";
  EXPECT_EQ(a.description, "keep");
  EXPECT_TRUE(mentions(error_of(parse_update_alias("live", R"({"Name":"other"})")),
                       "unknown field 'Name' in UpdateAlias"));
}

TEST(Alias, RecordRoundTripsAndDamageIsRefused) {
  Alias a{"f", "live", "1", "d", "rev-1", AliasRouting{"2", 0.25}};
  std::string rec = encode_alias_record(a);
  auto decode = [](const std::string& s) {
    return decode_alias_record({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  };
  auto back = decode(rec);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->function_version, "1");
  EXPECT_EQ(back->routing, a.routing);
  json::value j = alias_json(*back);
  EXPECT_EQ(j.at("AliasArn"), "arn:aws:lambda:us-east-1:000000000000:function:f:live");
  EXPECT_EQ(j.at("RoutingConfig").at("AdditionalVersionWeights").at("2").as_double(), 0.25);
  EXPECT_FALSE(decode(rec.substr(0, rec.size() - 3)).ok());
  json::object o = json::parse(rec).as_object();
  o["routing"].as_object()["weight"] = 2.0;
  EXPECT_FALSE(decode(json::serialize(o)).ok());
  o = json::parse(rec).as_object();
  o["function_version"] = "$LATEST";  // routing on $LATEST is never valid
  EXPECT_FALSE(decode(json::serialize(o)).ok());
  o = json::parse(rec).as_object();
  o["name"] = "42";
  EXPECT_FALSE(decode(json::serialize(o)).ok());
  o = json::parse(rec).as_object();
  o.erase("revision_id");
  EXPECT_FALSE(decode(json::serialize(o)).ok());
}

}  // namespace
}  // namespace thaw::agent
