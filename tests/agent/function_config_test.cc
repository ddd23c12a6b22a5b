// Tests of agent/api/function_config (CreateFunction parsing and Lambda's
// validation rules, the persisted record), agent/api/base64 and
// agent/api/lambda_error (the error shape the AWS SDKs parse).
#include "agent/api/function_config.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/api/base64.h"
#include "agent/api/lambda_error.h"

namespace thaw::agent {
namespace {

namespace json = boost::json;

// A minimal valid request with `patch` merged over it.
std::string request(json::object patch = {}) {
  json::object o{{"FunctionName", "hello"},
                 {"Runtime", "python3.11"},
                 {"Handler", "app.handler"},
                 {"Code", json::object{{"ZipFile", "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="}}}};
  for (auto& [k, v] : patch) o[k] = v;
  return json::serialize(o);
}

ApiError error_of(const std::string& body) {
  auto r = parse_create_function(body);
  EXPECT_FALSE(r.ok()) << body;
  return r.ok() ? ApiError{ApiErrorKind::kService, "parsed"} : r.error();
}

TEST(FunctionConfig, ParsesAValidRequestWithDefaults) {
  auto r = parse_create_function(request({{"Environment",
                                           json::object{{"Variables", json::object{{"K1", "v"}}}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.name, "hello");
  EXPECT_EQ(r->config.memory_mb, 128u);
  EXPECT_EQ(r->config.timeout_s, 3u);
  EXPECT_EQ(r->config.ephemeral_mb, 512u);
  EXPECT_EQ(r->config.environment.at("K1"), "v");
  EXPECT_EQ(r->zip.size(), 22u);  // the empty-ZIP end record
}

TEST(FunctionConfig, BadJsonAndWrongTypesAreInvalidRequestContent) {
  EXPECT_EQ(error_of("{\"FunctionName\":").kind, ApiErrorKind::kInvalidRequestContent);
  EXPECT_EQ(error_of("[1,2]").kind, ApiErrorKind::kInvalidRequestContent);
  ApiError e = error_of(request({{"MemorySize", "256"}}));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidRequestContent);
  EXPECT_NE(e.message.find("'MemorySize' must be a JSON integer"), std::string::npos) << e.message;
  e = error_of(request({{"Environment", json::object{{"Variables", json::object{{"K", 1}}}}}}));
  EXPECT_NE(e.message.find("Environment.Variables.K"), std::string::npos) << e.message;
  e = error_of(request({{"Runtime", 3}}));
  EXPECT_NE(e.message.find("'Runtime' must be a JSON string"), std::string::npos) << e.message;
}

TEST(FunctionConfig, UnknownFieldsAreNamed) {
  ApiError e = error_of(request({{"MemorySise", 256}}));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidRequestContent);
  EXPECT_NE(e.message.find("unknown field 'MemorySise'"), std::string::npos) << e.message;
}

TEST(FunctionConfig, LimitsAreEnforcedAtTheirEdges) {
  EXPECT_TRUE(parse_create_function(request({{"MemorySize", 128}})).ok());
  EXPECT_TRUE(parse_create_function(request({{"MemorySize", 10240}})).ok());
  EXPECT_TRUE(parse_create_function(request({{"Timeout", 1}})).ok());
  EXPECT_TRUE(parse_create_function(request({{"Timeout", 900}})).ok());
  for (auto [key, value] : {std::pair{"MemorySize", 127}, {"MemorySize", 10241},
                            {"Timeout", 0}, {"Timeout", 901}, {"MemorySize", -5}}) {
    ApiError e = error_of(request({{key, value}}));
    EXPECT_EQ(e.kind, ApiErrorKind::kInvalidParameterValue) << key << "=" << value;
    EXPECT_NE(e.message.find(std::to_string(value < 0 ? 0 : value)), std::string::npos) << e.message;
  }
  EXPECT_EQ(error_of(request({{"MemorySize", 99999999999LL}})).kind,
            ApiErrorKind::kInvalidParameterValue);
}

TEST(FunctionConfig, EnvironmentIsCappedAt4KBAndReservedKeysRefused) {
  json::object vars{{"BIG", std::string(4000, 'x')}};
  EXPECT_TRUE(parse_create_function(
                  request({{"Environment", json::object{{"Variables", vars}}}})).ok());
  vars["MORE"] = std::string(100, 'y');
  ApiError e = error_of(request({{"Environment", json::object{{"Variables", vars}}}}));
  EXPECT_EQ(e.kind, ApiErrorKind::kInvalidParameterValue);
  EXPECT_NE(e.message.find("4KB"), std::string::npos) << e.message;
  e = error_of(request({{"Environment", json::object{{"Variables", json::object{{"AWS_REGION", "x"}}}}}}));
  EXPECT_NE(e.message.find("reserved keys"), std::string::npos) << e.message;
  e = error_of(request({{"Environment", json::object{{"Variables", json::object{{"1BAD", "x"}}}}}}));
  EXPECT_NE(e.message.find("'1BAD'"), std::string::npos) << e.message;
}

TEST(FunctionConfig, NamesRuntimesHandlersAndCodeAreChecked) {
  EXPECT_EQ(error_of(request({{"FunctionName", "a/b"}})).kind, ApiErrorKind::kInvalidParameterValue);
  EXPECT_EQ(error_of(request({{"FunctionName", std::string(65, 'a')}})).kind,
            ApiErrorKind::kInvalidParameterValue);
  EXPECT_TRUE(parse_create_function(request({{"FunctionName", std::string(64, 'a')}})).ok());
  EXPECT_NE(error_of(request({{"Runtime", "python2.7"}})).message.find("python2.7"), std::string::npos);
  EXPECT_NE(error_of(request({{"Handler", nullptr}})).message.find("Handler is required"),
            std::string::npos);
  EXPECT_TRUE(parse_create_function(request({{"Runtime", "provided"}, {"Handler", nullptr}})).ok());
  EXPECT_EQ(error_of(request({{"Handler", "a b"}})).kind, ApiErrorKind::kInvalidParameterValue);
  EXPECT_NE(error_of(request({{"Code", json::object{{"ZipFile", "not base64!"}}}}))
                .message.find("not valid base64"),
            std::string::npos);
  EXPECT_NE(error_of(request({{"Code", json::object{{"S3Bucket", "b"}}}})).message.find("Code.S3Bucket"),
            std::string::npos);
  EXPECT_NE(error_of(request({{"Layers", json::array{"arn:x"}}})).message.find("Layers"),
            std::string::npos);
}

TEST(FunctionConfig, RecordRoundTripsAndDamageIsRefused) {
  auto r = parse_create_function(request());
  ASSERT_TRUE(r.ok());
  FunctionConfig c = r->config;
  c.code_digest = std::string(64, 'a');
  c.code_size = 22;
  c.last_modified = "2026-11-23T12:00:00.000+0000";
  c.environment["XY"] = "1";  // Lambda names are 2+ characters
  c.revision_id = new_revision_id();
  c.version = "3";
  c.layers = {{"arn:aws:lambda:us-east-1:000000000000:layer:base:2", std::string(64, 'b'), 99}};
  std::string rec = encode_function_record(c);
  auto back = decode_function_record({reinterpret_cast<const uint8_t*>(rec.data()), rec.size()});
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->name, c.name);
  EXPECT_EQ(back->environment, c.environment);
  EXPECT_EQ(back->code_digest, c.code_digest);
  EXPECT_EQ(back->version, "3");
  EXPECT_EQ(back->revision_id, c.revision_id);
  EXPECT_EQ(back->layers, c.layers);
  auto decode = [](std::string s) {
    return decode_function_record({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  };
  EXPECT_FALSE(decode(rec.substr(0, rec.size() / 2)).ok());
  json::object o = json::parse(rec).as_object();
  o["memory_mb"] = 5;
  auto bad = decode(json::serialize(o));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("memorySize"), std::string::npos) << bad.error().message;
  o = json::parse(rec).as_object();
  o["record_version"] = 3;
  EXPECT_NE(decode(json::serialize(o)).error().message.find("record_version"), std::string::npos);
  o = json::parse(rec).as_object();
  o.erase("runtime");
  EXPECT_FALSE(decode(json::serialize(o)).ok());
}

TEST(Base64, DecodesCanonicalInputOnly) {
  EXPECT_EQ(base64_decode("aGVsbG8=").value(), (std::vector<uint8_t>{'h', 'e', 'l', 'l', 'o'}));
  EXPECT_EQ(base64_decode("aGk=")->size(), 2u);
  EXPECT_EQ(base64_decode("")->size(), 0u);
  EXPECT_FALSE(base64_decode("aGVsbG8").has_value());    // length not a multiple of 4
  EXPECT_FALSE(base64_decode("aGV=bG8=").has_value());   // padding inside
  EXPECT_FALSE(base64_decode("aGVs\nbG8=").has_value());
  EXPECT_FALSE(base64_decode("a===").has_value());
  std::vector<uint8_t> bytes{0, 1, 2, 250, 255};
  EXPECT_EQ(base64_decode(base64_encode(bytes)).value(), bytes);
  EXPECT_EQ(hex_to_base64("00ff").value(), "AP8=");
  EXPECT_FALSE(hex_to_base64("0g").has_value());
}

TEST(LambdaError, RendersStatusHeaderAndBody) {
  HttpResponse r = render_api_error({ApiErrorKind::kResourceConflict, "Function already exist: f"});
  EXPECT_EQ(r.status, 409u);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "x-amzn-ErrorType");
  EXPECT_EQ(r.headers[0].second, "ResourceConflictException");
  auto body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("Type").as_string(), "User");
  EXPECT_EQ(body.at("message").as_string(), "Function already exist: f");
  EXPECT_EQ(json::parse(render_api_error({ApiErrorKind::kService, "x"}).body).at("Type"), "Service");
  EXPECT_EQ(api_error_status(ApiErrorKind::kTooManyRequests), 429u);
  EXPECT_EQ(api_error_status(ApiErrorKind::kRequestTooLarge), 413u);
  EXPECT_EQ(api_error_status(ApiErrorKind::kResourceNotFound), 404u);
  EXPECT_EQ(api_error_type(ApiErrorKind::kInvalidParameterValue), "InvalidParameterValueException");
}

}  // namespace
}  // namespace thaw::agent
