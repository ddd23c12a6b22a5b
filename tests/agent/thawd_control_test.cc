// Integration tests of the control plane through a real thawd over its
// socket: UpdateFunctionCode/Configuration, PublishVersion, aliases with
// weighted routing (--routing-seed), layers under /opt, Qualifier on
// Invoke/GetFunction/DeleteFunction, Lambda's errors, and a restart that
// keeps versions, aliases and layers. Needs root (process sandboxes).
#include <algorithm>

#include "tests/agent/thawd_harness.h"

namespace thaw::agent::testing {
namespace {

namespace json = boost::json;

// A `provided` runtime answering {"code":"<TAG>","which":<cat /opt/which>,
// "opt":<ls /opt>}: the tag tells which code package ran.
std::string tagged_bootstrap(const std::string& tag) {
  return R"BASH(#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  hdr=$(mktemp)
  curl -sS -D "$hdr" -o /dev/null "$api/invocation/next"
  id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$hdr" | cut -d: -f2 | tr -d '[:space:]')
  which=$(cat /opt/which 2>/dev/null)
  opt=$(ls /opt 2>/dev/null | tr '\n' ' ')
  curl -sS -X POST "$api/invocation/$id/response" \
    -d "{\"code\":\")BASH" + tag + R"BASH(\",\"which\":\"$which\",\"opt\":\"$opt\"}" >/dev/null
done
)BASH";
}

class ThawdControl : public ThawdHarness {
 protected:
  std::string code_zip(const std::string& tag, const std::string& padding = "") const {
    std::vector<ZipEntry> files{{"bootstrap", tagged_bootstrap(tag), 0755}};
    if (!padding.empty()) files.push_back({"padding.bin", padding});
    return base64_encode(make_zip(files));
  }
  Response create_tagged(const std::string& name, const std::string& tag, json::object extra = {}) {
    return create(name, "provided", "", {{"bootstrap", tagged_bootstrap(tag), 0755}}, std::move(extra));
  }
  Response update_code(const std::string& name, const std::string& tag, json::object extra = {}) {
    json::object o{{"ZipFile", code_zip(tag)}};
    for (auto& [k, v] : extra) o[k] = v;
    return request("PUT", "/2015-03-31/functions/" + name + "/code", json::serialize(o));
  }
  Response configure(const std::string& name, const std::string& body) {
    return request("PUT", "/2015-03-31/functions/" + name + "/configuration", body);
  }
  Response publish(const std::string& name, const std::string& body = "{}") {
    return request("POST", "/2015-03-31/functions/" + name + "/versions", body);
  }
  Response create_alias(const std::string& name, const std::string& body) {
    return request("POST", "/2015-03-31/functions/" + name + "/aliases", body);
  }
  Response publish_layer(const std::string& layer, const std::vector<ZipEntry>& files) {
    json::object o{{"Content", json::object{{"ZipFile", base64_encode(make_zip(files))}}},
                   {"CompatibleRuntimes", json::array{"provided"}}};
    return request("POST", "/2018-10-31/layers/" + layer + "/versions", json::serialize(o));
  }
  // The code tag of an invocation's answer ("" when it failed).
  std::string code_of(const Response& r) {
    json::value v = r.json();
    return r.status == 200 && v.is_object() && v.as_object().contains("code")
               ? std::string(v.at("code").as_string())
               : "";
  }
  // Creates f with code A as version 1 and code B as version 2.
  void two_versions(const std::string& name) {
    ASSERT_EQ(create_tagged(name, "A").status, 201u);
    ASSERT_EQ(publish(name).status, 201u);
    ASSERT_EQ(update_code(name, "B").status, 200u);
    Response v2 = publish(name);
    ASSERT_EQ(v2.status, 201u) << v2.body;
    ASSERT_EQ(v2.json().at("Version"), "2");
  }
  static void expect_error(const Response& r, unsigned status, const std::string& type,
                           const std::string& text = "") {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(r.header("x-amzn-ErrorType"), type) << r.body;
    EXPECT_NE(r.body.find(text), std::string::npos) << r.body;
  }
};

TEST_F(ThawdControl, UpdateCodeThenInvokeSeesTheNewCode) {
  Response created = create_tagged("f", "A");
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(code_of(invoke("f", "{}")), "A") << log_text();
  // A package over the 1 MB default body limit: uploads get the 50 MB one.
  std::string padding(1500000, '\0');
  for (size_t i = 0; i < padding.size(); ++i) padding[i] = static_cast<char>((i * 2654435761u) >> 13);
  json::object body{{"ZipFile", code_zip("B", padding)},
                    {"RevisionId", created.json().at("RevisionId")}};
  Response updated = request("PUT", "/2015-03-31/functions/f/code", json::serialize(body));
  ASSERT_EQ(updated.status, 200u) << updated.body;
  EXPECT_NE(updated.json().at("RevisionId"), created.json().at("RevisionId"));
  EXPECT_NE(updated.json().at("CodeSha256"), created.json().at("CodeSha256"));
  EXPECT_NE(updated.json().at("LastModified"), created.json().at("LastModified"));
  Response r = invoke("f", "{}");
  EXPECT_EQ(code_of(r), "B") << r.body << "\nthe warm sandbox of the old code was reused";
  EXPECT_EQ(r.header("X-Amz-Executed-Version"), "$LATEST");

  // The creation's RevisionId is stale now.
  expect_error(update_code("f", "C", {{"RevisionId", created.json().at("RevisionId")}}), 412,
               "PreconditionFailedException", "does not match the latest RevisionId");
  Response cfg = configure("f", R"({"Timeout":9,"Description":"nine"})");
  ASSERT_EQ(cfg.status, 200u) << cfg.body;
  EXPECT_EQ(cfg.json().at("Timeout"), 9);
  r = request("GET", "/2015-03-31/functions/f/configuration");
  EXPECT_EQ(r.json().at("Description"), "nine") << r.body;
}

TEST_F(ThawdControl, PublishedVersionRunsItsOwnCodeAfterLatestChanges) {
  ASSERT_EQ(create_tagged("f", "A").status, 201u);
  Response v1 = publish("f", R"({"Description":"first"})");
  ASSERT_EQ(v1.status, 201u) << v1.body;
  EXPECT_EQ(v1.json().at("Version"), "1");
  EXPECT_EQ(v1.json().at("FunctionArn"), "arn:aws:lambda:us-east-1:000000000000:function:f:1");
  EXPECT_EQ(publish("f").json().at("Version"), "1") << "unchanged $LATEST: the same version";
  ASSERT_EQ(update_code("f", "B").status, 200u);

  Response r = invoke("f", "{}", "", "1");
  EXPECT_EQ(code_of(r), "A") << r.body << log_text();
  EXPECT_EQ(r.header("X-Amz-Executed-Version"), "1");
  r = invoke("f", "{}");
  EXPECT_EQ(code_of(r), "B") << r.body;
  EXPECT_EQ(r.header("X-Amz-Executed-Version"), "$LATEST");

  r = update_code("f", "C", {{"Publish", true}});
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("Version"), "2");
  EXPECT_EQ(code_of(invoke("f", "{}", "", "2")), "C");
  r = request("GET", "/2015-03-31/functions/f/versions");
  ASSERT_EQ(r.status, 200u);
  auto versions = r.json().at("Versions").as_array();
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0].at("Version"), "$LATEST");
  EXPECT_EQ(versions[1].at("Description"), "first");
  r = request("GET", "/2015-03-31/functions/?FunctionVersion=ALL");
  EXPECT_EQ(r.json().at("Functions").as_array().size(), 3u) << r.body;
  expect_error(request("GET", "/2015-03-31/functions/?FunctionVersion=1"), 400,
               "InvalidParameterValueException", "FunctionVersion must be ALL");
  r = request("GET", "/2015-03-31/functions/f?Qualifier=1");
  EXPECT_EQ(r.json().at("Configuration").at("Version"), "1") << r.body;

  EXPECT_EQ(request("DELETE", "/2015-03-31/functions/f?Qualifier=1").status, 204u);
  expect_error(invoke("f", "{}", "", "1"), 404, "ResourceNotFoundException", "function:f:1");
  EXPECT_EQ(code_of(invoke("f", "{}", "", "2")), "C") << "other versions stay";
}

TEST_F(ThawdControl, DeletingAVersionKillsOnlyThatVersionsIdleSandboxes) {
  two_versions("f");
  for (const char* q : {"1", "2", ""}) ASSERT_NE(code_of(invoke("f", "{}", "", q)), "") << q;
  // The idle sandboxes' versions, sorted, as /agent/v1/sandboxes lists them.
  auto idle_versions = [&] {
    std::vector<std::string> out;
    json::value listed = request("GET", "/agent/v1/sandboxes").json();
    for (const auto& s : listed.at("sandboxes").as_array()) {
      if (s.at("function") == "f" && s.at("state") == "idle") {
        out.emplace_back(s.at("version").as_string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  ASSERT_EQ(idle_versions(), (std::vector<std::string>{"$LATEST", "1", "2"}));
  ASSERT_EQ(request("DELETE", "/2015-03-31/functions/f?Qualifier=1").status, 204u);
  EXPECT_TRUE(eventually(
      [&] { return idle_versions() == std::vector<std::string>{"$LATEST", "2"}; }, 5))
      << request("GET", "/agent/v1/sandboxes").body;
  EXPECT_EQ(code_of(invoke("f", "{}", "", "2")), "B");
  EXPECT_EQ(idle_versions(), (std::vector<std::string>{"$LATEST", "2"}))
      << "version 2 ran in its warm sandbox";
}

TEST_F(ThawdControl, ListCallsPageWithMarkerAndMaxItems) {
  two_versions("f");
  ASSERT_EQ(create_alias("f", R"({"Name":"a","FunctionVersion":"1"})").status, 201u);
  ASSERT_EQ(create_alias("f", R"({"Name":"b","FunctionVersion":"2"})").status, 201u);
  // Every item once, in order, following NextMarker page by page.
  auto walk = [&](const std::string& target, const std::string& key, const std::string& field) {
    std::vector<std::string> seen;
    std::string marker;
    for (int pages = 0; pages < 10; ++pages) {
      Response r = request("GET", target + "MaxItems=2" + (marker.empty() ? "" : "&Marker=" + marker));
      EXPECT_EQ(r.status, 200u) << r.body;
      json::value v = r.json();
      if (!v.is_object()) break;
      EXPECT_LE(v.at(key).as_array().size(), 2u) << r.body;
      for (const auto& item : v.at(key).as_array()) seen.emplace_back(item.at(field).as_string());
      if (!v.as_object().contains("NextMarker")) break;
      marker = std::string(v.at("NextMarker").as_string());
    }
    return seen;
  };
  EXPECT_EQ(walk("/2015-03-31/functions/f/versions?", "Versions", "Version"),
            (std::vector<std::string>{"$LATEST", "1", "2"}));
  EXPECT_EQ(walk("/2015-03-31/functions/f/aliases?", "Aliases", "Name"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(walk("/2015-03-31/functions/?FunctionVersion=ALL&", "Functions", "Version"),
            (std::vector<std::string>{"$LATEST", "1", "2"}));
  Response all = request("GET", "/2015-03-31/functions/f/versions");
  EXPECT_FALSE(all.json().as_object().contains("NextMarker")) << all.body;
  expect_error(request("GET", "/2015-03-31/functions/f/versions?MaxItems=0"), 400,
               "InvalidParameterValueException", "MaxItems '0' must be an integer from 1 to 10000");
  expect_error(request("GET", "/2015-03-31/functions/?MaxItems=10001"), 400,
               "InvalidParameterValueException", "from 1 to 10000");
  expect_error(request("GET", "/2015-03-31/functions/f/aliases?Marker=xyz"), 400,
               "InvalidParameterValueException", "Marker 'xyz' is not one this agent returned");

  for (const char* which : {"one", "two"}) {
    ASSERT_EQ(publish_layer("l", {{"which", which}}).status, 201u);
  }
  Response r = request("GET", "/2018-10-31/layers/l/versions?MaxItems=1");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.json().at("LayerVersions").as_array().at(0).at("Version"), 2) << "newest first";
  ASSERT_TRUE(r.json().as_object().contains("NextMarker")) << r.body;
  std::string next(r.json().at("NextMarker").as_string());
  r = request("GET", "/2018-10-31/layers/l/versions?MaxItems=1&Marker=" + next);
  EXPECT_EQ(r.json().at("LayerVersions").as_array().at(0).at("Version"), 1) << r.body;
  EXPECT_FALSE(r.json().as_object().contains("NextMarker")) << r.body;
  expect_error(request("GET", "/2018-10-31/layers?MaxItems=0"), 400,
               "InvalidParameterValueException", "MaxItems '0'");
}

TEST_F(ThawdControl, AliasWeightsSplitInvocationsReproduciblyForASeed) {
  stop(SIGTERM);
  start({"--routing-seed", "42"});
  two_versions("f");
  Response a = create_alias(
      "f", R"({"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}})");
  ASSERT_EQ(a.status, 201u) << a.body;
  EXPECT_EQ(a.json().at("AliasArn"), "arn:aws:lambda:us-east-1:000000000000:function:f:live");
  std::string sequence;
  int twos = 0;
  for (int i = 0; i < 60; ++i) {
    Response r = invoke("f", "{}", "", "live");
    std::string version = r.header("X-Amz-Executed-Version");
    ASSERT_TRUE(version == "1" || version == "2") << r.status << " " << r.body;
    EXPECT_EQ(code_of(r), version == "1" ? "A" : "B") << "the version named ran";
    twos += version == "2";
    sequence += version;
  }
  // binomial(60, 0.5), +-5 sigma (the tight 10000-draw band is in alias_routing_test).
  EXPECT_GE(twos, 11);
  EXPECT_LE(twos, 49);
  EXPECT_EQ(request("GET", "/2015-03-31/functions/f?Qualifier=live").json().at("Configuration").at("Version"),
            "1") << "GetFunction shows the alias's own version";

  stop(SIGTERM);
  start({"--routing-seed", "42"});
  std::string replay;
  for (int i = 0; i < 10; ++i) replay += invoke("f", "{}", "", "live").header("X-Amz-Executed-Version");
  EXPECT_EQ(replay, sequence.substr(0, 10)) << "same seed, same routing after a restart";

  // Weight 0 after an update: everything goes to the alias's version.
  Response u = request("PUT", "/2015-03-31/functions/f/aliases/live",
                       R"({"RoutingConfig":{"AdditionalVersionWeights":{"2":0.0}}})");
  ASSERT_EQ(u.status, 200u) << u.body;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(invoke("f", "{}", "", "live").header("X-Amz-Executed-Version"), "1");
}

TEST_F(ThawdControl, BadRequestsMissingThingsAndConflictsGetLambdasErrors) {
  two_versions("f");
  expect_error(configure("f", "{\"Timeout\":"), 400, "InvalidRequestContentException", "not valid JSON");
  expect_error(configure("f", R"({"MemorySize":"big"})"), 400, "InvalidRequestContentException",
               "'MemorySize' must be a JSON integer");
  expect_error(configure("f", R"({"Memory":256})"), 400, "InvalidRequestContentException",
               "unknown field 'Memory'");
  expect_error(configure("f", R"({"MemorySize":99999})"), 400, "InvalidParameterValueException",
               "memorySize");
  expect_error(configure("f", R"({"Layers":["arn:aws:lambda:us-east-1:000000000000:layer:none:1"]})"),
               400, "InvalidParameterValueException", "layer:none:1 does not exist");
  expect_error(create_alias("f", R"({"Name":"x","FunctionVersion":"1","Extra":1})"), 400,
               "InvalidRequestContentException", "unknown field 'Extra'");
  expect_error(create_alias("f", R"({"Name":"x","FunctionVersion":2})"), 400,
               "InvalidRequestContentException", "'FunctionVersion' must be a JSON string");
  expect_error(create_alias("f", R"({"Name":"x","FunctionVersion":"$LATEST","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}})"),
               400, "InvalidParameterValueException", "$LATEST cannot route");
  expect_error(publish("f", R"({"CodeSha256":"bm9wZQ=="})"), 400, "InvalidParameterValueException",
               "is different from current CodeSHA256");
  expect_error(request("POST", "/2018-10-31/layers/l/versions", R"({"Content":{"ZipFile":"aGVsbG8="}})"),
               400, "InvalidParameterValueException", "Content.ZipFile");

  expect_error(update_code("nope", "A"), 404, "ResourceNotFoundException", "function:nope");
  expect_error(publish("nope"), 404, "ResourceNotFoundException", "function:nope");
  expect_error(invoke("f", "{}", "", "9"), 404, "ResourceNotFoundException", "function:f:9");
  expect_error(invoke("f", "{}", "", "ghost"), 404, "ResourceNotFoundException", "function:f:ghost");
  expect_error(request("GET", "/2015-03-31/functions/f/aliases/ghost"), 404,
               "ResourceNotFoundException", "Alias not found");
  expect_error(create_alias("f", R"({"Name":"x","FunctionVersion":"7"})"), 404,
               "ResourceNotFoundException", "function:f:7");
  expect_error(request("GET", "/2018-10-31/layers/l/versions/3"), 404, "ResourceNotFoundException",
               "layer:l:3");

  ASSERT_EQ(create_alias("f", R"({"Name":"live","FunctionVersion":"2"})").status, 201u);
  expect_error(create_alias("f", R"({"Name":"live","FunctionVersion":"1"})"), 409,
               "ResourceConflictException", "Alias already exists");
  expect_error(request("DELETE", "/2015-03-31/functions/f?Qualifier=2"), 409,
               "ResourceConflictException", "aliases live use it");
  expect_error(request("DELETE", "/2015-03-31/functions/f?Qualifier=$LATEST"), 400,
               "InvalidParameterValueException", "$LATEST cannot be deleted");
  Response list = request("GET", "/2015-03-31/functions/f/aliases");
  ASSERT_EQ(list.status, 200u);
  EXPECT_EQ(list.json().at("Aliases").as_array().size(), 1u);
  EXPECT_EQ(request("DELETE", "/2015-03-31/functions/f/aliases/live").status, 204u);
  EXPECT_EQ(request("DELETE", "/2015-03-31/functions/f?Qualifier=2").status, 204u);
}

TEST_F(ThawdControl, TwoLayersUnderOptTheLaterWins) {
  ASSERT_EQ(publish_layer("a", {{"which", "a"}, {"a-only", "1"}}).status, 201u);
  Response b = publish_layer("b", {{"which", "b"}, {"b-only", "1"}});
  ASSERT_EQ(b.status, 201u) << b.body;
  EXPECT_EQ(std::string(b.json().at("LayerVersionArn").as_string()), "arn:aws:lambda:us-east-1:000000000000:layer:b:1");
  std::string a1 = "arn:aws:lambda:us-east-1:000000000000:layer:a:1";
  std::string b1 = "arn:aws:lambda:us-east-1:000000000000:layer:b:1";
  Response created = create_tagged("f", "A", {{"Layers", json::array{a1, b1}}});
  ASSERT_EQ(created.status, 201u) << created.body;
  EXPECT_EQ(std::string(created.json().at("Layers").at(1).at("Arn").as_string()), b1);
  Response r = invoke("f", "{}");
  ASSERT_EQ(r.status, 200u) << r.body << log_text();
  EXPECT_EQ(r.json().at("which"), "b") << r.body;
  std::string opt(r.json().at("opt").as_string());
  EXPECT_NE(opt.find("a-only"), std::string::npos) << opt;
  EXPECT_NE(opt.find("b-only"), std::string::npos) << opt;

  Response swapped = configure("f", json::serialize(json::object{{"Layers", json::array{b1, a1}}}));
  ASSERT_EQ(swapped.status, 200u) << swapped.body;
  EXPECT_EQ(invoke("f", "{}").json().at("which"), "a") << "new order, new sandbox";
}

TEST_F(ThawdControl, RestartKeepsVersionsAliasesAndLayers) {
  ASSERT_EQ(publish_layer("base", {{"which", "base"}}).status, 201u);
  ASSERT_EQ(create_tagged("f", "A",
                          {{"Layers", json::array{"arn:aws:lambda:us-east-1:000000000000:layer:base:1"}}})
                .status,
            201u);
  ASSERT_EQ(publish("f").status, 201u);
  ASSERT_EQ(update_code("f", "B").status, 200u);
  ASSERT_EQ(create_alias("f", R"({"Name":"stable","FunctionVersion":"1","Description":"kept"})").status, 201u);
  stop(SIGTERM);
  start();
  Response alias = request("GET", "/2015-03-31/functions/f/aliases/stable");
  ASSERT_EQ(alias.status, 200u) << alias.body << log_text();
  EXPECT_EQ(alias.json().at("Description"), "kept");
  EXPECT_EQ(request("GET", "/2015-03-31/functions/f/versions").json().at("Versions").as_array().size(), 2u);
  Response layers = request("GET", "/2018-10-31/layers/base/versions");
  EXPECT_EQ(layers.json().at("LayerVersions").as_array().size(), 1u) << layers.body;
  Response r = invoke("f", "{}", "", "stable");
  EXPECT_EQ(code_of(r), "A") << r.body << log_text();
  EXPECT_EQ(r.json().at("which"), "base");
  EXPECT_EQ(code_of(invoke("f", "{}")), "B");
  EXPECT_EQ(publish("f").json().at("Version"), "2") << "numbering continues after a restart";
}

}  // namespace
}  // namespace thaw::agent::testing
