// Unit tests of agent/async/event_invoke_config and event_config_store:
// Lambda's validation of Put/UpdateFunctionEventInvokeConfig, the
// destination forms this agent delivers to, the API's JSON, and the
// store's atomic persistence and reload.
#include "agent/async/event_invoke_config.h"

#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/async/event_config_store.h"
#include "common/file_util.h"

namespace thaw::agent {
namespace {

namespace json = boost::json;

void expect_refused(std::string_view body, ApiErrorKind kind, std::string_view words) {
  auto r = parse_event_invoke_config(body, nullptr);
  ASSERT_FALSE(r) << body;
  EXPECT_EQ(r.error().kind, kind) << body << ": " << r.error().message;
  EXPECT_NE(r.error().message.find(words), std::string::npos) << body << ": " << r.error().message;
}

TEST(AsyncEventInvokeConfig, PutAcceptsLambdaShapesAndDefaults) {
  auto c = parse_event_invoke_config("", nullptr);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->retries(), 2u);
  EXPECT_EQ(c->max_age_s(), 21600u);
  EXPECT_GT(c->last_modified, 1.6e9);

  c = parse_event_invoke_config(
      R"({"MaximumRetryAttempts":0,"MaximumEventAgeInSeconds":60,
          "DestinationConfig":{"OnSuccess":{"Destination":"file:///var/sink"},
                               "OnFailure":{"Destination":"unix:///run/sched.sock:/events"}}})",
      nullptr);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->retries(), 0u);
  EXPECT_EQ(c->max_age_s(), 60u);
  EXPECT_EQ(c->on_success, "file:///var/sink");
  EXPECT_EQ(c->on_failure, "unix:///run/sched.sock:/events");

  json::object j = event_invoke_config_json(*c, "arn:f:$LATEST");
  EXPECT_EQ(j.at("FunctionArn"), "arn:f:$LATEST");
  EXPECT_EQ(j.at("MaximumRetryAttempts"), 0);
  EXPECT_EQ(j.at("MaximumEventAgeInSeconds"), 60);
  EXPECT_EQ(j.at("DestinationConfig").at("OnSuccess").at("Destination"), "file:///var/sink");
  EXPECT_TRUE(j.at("LastModified").is_double());
}

TEST(AsyncEventInvokeConfig, ValuesOutOfRangeAndBadShapesAreRefused) {
  using K = ApiErrorKind;
  expect_refused(R"({"MaximumRetryAttempts":3})", K::kInvalidParameterValue,
                 "Value '3' at 'maximumRetryAttempts' failed to satisfy constraint: Member must "
                 "have value less than or equal to 2");
  expect_refused(R"({"MaximumRetryAttempts":-1})", K::kInvalidParameterValue,
                 "greater than or equal to 0");
  expect_refused(R"({"MaximumEventAgeInSeconds":59})", K::kInvalidParameterValue,
                 "'maximumEventAgeInSeconds'");
  expect_refused(R"({"MaximumEventAgeInSeconds":21601})", K::kInvalidParameterValue,
                 "less than or equal to 21600");
  expect_refused(R"({"MaximumRetryAttempts":"2"})", K::kInvalidRequestContent,
                 "'MaximumRetryAttempts' must be a JSON integer");
  expect_refused(R"({"MaximumRetryAttempts":1.5})", K::kInvalidRequestContent, "JSON integer");
  expect_refused(R"({"Retries":1})", K::kInvalidRequestContent, "unknown field 'Retries'");
  expect_refused(R"({"DestinationConfig":{"OnSucces":{}}})", K::kInvalidRequestContent,
                 "unknown field 'OnSucces' in DestinationConfig");
  expect_refused(R"({"DestinationConfig":{"OnSuccess":{"Destination":7}}})",
                 K::kInvalidRequestContent, "'DestinationConfig.OnSuccess.Destination' must be");
  expect_refused(R"({"DestinationConfig":[]})", K::kInvalidRequestContent, "JSON object");
  expect_refused("{\"MaximumRetryAttempts\":", K::kInvalidRequestContent, "not valid JSON");
  expect_refused("[1]", K::kInvalidRequestContent, "JSON object");
  expect_refused(
      R"({"DestinationConfig":{"OnFailure":{"Destination":"arn:aws:sqs:us-east-1:1:q"}}})",
      K::kInvalidParameterValue, "is not supported by this agent; use file:///DIR");
  std::string long_dest = "/" + std::string(400, 'a');
  expect_refused(R"({"DestinationConfig":{"OnFailure":{"Destination":")" + long_dest + "\"}}}",
                 K::kInvalidParameterValue, "over the limit of 350");
}

TEST(AsyncEventInvokeConfig, DestinationForms) {
  auto d = parse_destination("file:///var/lib/sink");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, Destination::Kind::kDirectory);
  EXPECT_EQ(d->path, "/var/lib/sink");
  d = parse_destination("/srv/out");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->path, "/srv/out");
  d = parse_destination("unix:///run/thaw/sched.sock:/v1/events");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->kind, Destination::Kind::kUnixHttp);
  EXPECT_EQ(d->path, "/run/thaw/sched.sock");
  EXPECT_EQ(d->http_path, "/v1/events");
  d = parse_destination("unix:///run/s.sock");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->http_path, "/");
  for (const char* bad : {"relative/dir", "file://relative", "/a/../etc", "/a/./b", "unix://x.sock",
                          "unix:///s.sock:/a b", "https://example.com/hook", "/a\nb"}) {
    EXPECT_FALSE(parse_destination(bad)) << bad;
  }
  EXPECT_FALSE(parse_destination("unix:///" + std::string(120, 's') + ".sock:/x"))
      << "sun_path holds 107 bytes";
}

TEST(AsyncEventInvokeConfig, UpdateMergesOnlyTheFieldsGiven) {
  auto base = parse_event_invoke_config(
      R"({"MaximumRetryAttempts":1,"DestinationConfig":{"OnFailure":{"Destination":"/f"}}})",
      nullptr);
  ASSERT_TRUE(base);
  auto u = parse_event_invoke_config(R"({"MaximumEventAgeInSeconds":120})", &*base);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->retries(), 1u);
  EXPECT_EQ(u->max_age_s(), 120u);
  EXPECT_EQ(u->on_failure, "/f");
  u = parse_event_invoke_config(R"({"DestinationConfig":{"OnSuccess":{"Destination":"/s"}}})",
                                &*base);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->on_success, "/s");
  EXPECT_EQ(u->on_failure, "/f") << "OnFailure was not in the update";
  // Put replaces: nothing carries over.
  auto p = parse_event_invoke_config(R"({"MaximumEventAgeInSeconds":120})", nullptr);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->retries(), 2u);
  EXPECT_EQ(p->on_failure, "");
}

TEST(AsyncEventConfigStore, PersistsAtomicallyAndReloads) {
  char tmpl[] = "/tmp/thaw-async-cfg-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  {
    auto store = EventConfigStore::open(dir);
    ASSERT_TRUE(store) << store.error().message;
    auto c = parse_event_invoke_config(R"({"MaximumRetryAttempts":1})", nullptr);
    ASSERT_TRUE(c);
    ASSERT_TRUE((*store)->put("orders", "$LATEST", *c));
    ASSERT_TRUE((*store)->put("orders", "3", *c));
    auto removed = (*store)->remove("orders", "3");
    ASSERT_TRUE(removed && *removed);
    removed = (*store)->remove("orders", "3");
    ASSERT_TRUE(removed);
    EXPECT_FALSE(*removed);
  }
  std::ofstream(dir + "/event-invoke-config/broken.json") << "{\"record_version\":1,\"configs\":{\"$LATEST\":{\"MaximumRetryAttempts\":9}}}";
  auto store = EventConfigStore::open(dir);
  ASSERT_TRUE(store);
  auto got = (*store)->get("orders", "$LATEST");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->retries(), 1u);
  EXPECT_FALSE((*store)->get("orders", "3"));
  EXPECT_FALSE((*store)->get("broken", "$LATEST")) << "an out-of-range record is never loaded";
  ASSERT_EQ((*store)->load_warnings().size(), 1u);
  EXPECT_NE((*store)->load_warnings()[0].find("broken.json"), std::string::npos);
  EXPECT_NE((*store)->load_warnings()[0].find("less than or equal to 2"), std::string::npos)
      << (*store)->load_warnings()[0];
  // DeleteFunction: every qualifier's config goes, on disk too.
  auto c = parse_event_invoke_config("{}", nullptr);
  ASSERT_TRUE(c);
  ASSERT_TRUE((*store)->put("orders", "7", *c));
  ASSERT_TRUE((*store)->remove_function("orders"));
  EXPECT_TRUE((*store)->list("orders").empty());
  EXPECT_FALSE(std::filesystem::exists(dir + "/event-invoke-config/orders.json"));
  EXPECT_TRUE((*store)->remove_function("never-configured"));
  remove_tree(dir);
}

}  // namespace
}  // namespace thaw::agent
