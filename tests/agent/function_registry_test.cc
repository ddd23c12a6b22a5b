// Tests of agent/api/function_registry (with function_versions.cc,
// registry_records.cc, registry_layers.cc) on a temporary state directory
// with a real ImageStore: updates, versions, aliases and their routing,
// layers, and persistence across a reopen, including damaged records.
#include "agent/api/function_registry.h"

#include <filesystem>
#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "agent/api/base64.h"
#include "common/file_util.h"
#include "tests/agent/thawd_harness.h"

namespace thaw::agent {
namespace {

namespace fs = std::filesystem;
using testing::make_zip;

class Registry : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/thaw-registry-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    reopen();
  }
  void TearDown() override {
    reg_.reset();
    remove_tree(dir_);
  }
  void reopen(uint64_t seed = 1) {
    reg_.reset();
    layers::StoreOptions store;
    store.state_dir = dir_ + "/images";
    auto opened = FunctionRegistry::open(dir_, store, seed);
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    reg_ = std::move(*opened);
  }
  static std::vector<uint8_t> code(const std::string& text) {
    return make_zip({{"bootstrap", "#!/bin/sh\necho " + text + "\n", 0755}});
  }
  static CreateFunctionRequest create_request(const std::string& name) {
    CreateFunctionRequest req;
    req.config.name = name;
    req.config.runtime = "provided";
    req.zip = code(name);
    return req;
  }
  FunctionConfig create(const std::string& name, std::vector<std::string> layers = {}) {
    CreateFunctionRequest req = create_request(name);
    req.layer_arns = std::move(layers);
    auto created = reg_->create(std::move(req));
    EXPECT_TRUE(created.ok()) << created.error().message;
    return created.ok() ? *created : FunctionConfig{};
  }
  ApiResult<FunctionConfig> configure(const std::string& name, const std::string& body) {
    auto parsed = parse_update_function_configuration(body);
    EXPECT_TRUE(parsed.ok()) << body;
    return reg_->update_configuration(name, *parsed);
  }
  ApiResult<FunctionConfig> publish(const std::string& name, const std::string& body = "") {
    auto parsed = parse_publish_version(body);
    EXPECT_TRUE(parsed.ok()) << body;
    return reg_->publish_version(name, *parsed);
  }
  ApiResult<Alias> alias(const std::string& name, const std::string& body) {
    auto parsed = parse_create_alias(body);
    EXPECT_TRUE(parsed.ok()) << body;
    return reg_->create_alias(name, *parsed);
  }
  std::string publish_layer(const std::string& name, const std::string& file_text) {
    PublishLayerRequest req;
    req.name = name;
    req.zip = make_zip({{"bin/tool", file_text, 0755}, {"lib/" + name, name}});
    auto v = reg_->publish_layer_version(std::move(req));
    EXPECT_TRUE(v.ok()) << v.error().message;
    return v.ok() ? layer_version_arn(v->name, v->version) : "";
  }
  // f with version 1 (Timeout 3) and version 2 (Timeout 5).
  void two_versions(const std::string& name) {
    create(name);
    ASSERT_TRUE(publish(name).ok());
    ASSERT_TRUE(configure(name, R"({"Timeout":5})").ok());
    ASSERT_TRUE(publish(name).ok());
  }
  static ApiErrorKind kind(const ApiError& e) { return e.kind; }

  std::string dir_;
  std::unique_ptr<FunctionRegistry> reg_;
};

TEST_F(Registry, UpdatesBumpRevisionAndLastModifiedAndCheckTheRevision) {
  FunctionConfig v0 = create("f");
  EXPECT_EQ(v0.revision_id.size(), 36u);
  auto updated = configure("f", R"({"MemorySize":512,"Environment":{"Variables":{"K1":"v"}}})");
  ASSERT_TRUE(updated.ok()) << updated.error().message;
  EXPECT_EQ(updated->memory_mb, 512u);
  EXPECT_NE(updated->revision_id, v0.revision_id);
  EXPECT_EQ(updated->environment.at("K1"), "v");

  auto stale = configure("f", R"({"Timeout":9,"RevisionId":")" + v0.revision_id + "\"}");
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(kind(stale.error()), ApiErrorKind::kPreconditionFailed);
  auto invalid = configure("f", R"({"MemorySize":64})");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(kind(invalid.error()), ApiErrorKind::kInvalidParameterValue);
  EXPECT_EQ(reg_->get("f")->memory_mb, 512u) << "a refused update changes nothing";

  UpdateCodeRequest code_update{code("new"), false, updated->revision_id};
  auto recoded = reg_->update_code("f", std::move(code_update));
  ASSERT_TRUE(recoded.ok()) << recoded.error().message;
  EXPECT_NE(recoded->code_digest, v0.code_digest);
  EXPECT_NE(recoded->revision_id, updated->revision_id);
  EXPECT_TRUE(reg_->code_image(*recoded).ok());
  UpdateCodeRequest bad_zip{{'n', 'o'}, false, ""};
  auto refused = reg_->update_code("f", std::move(bad_zip));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(kind(refused.error()), ApiErrorKind::kInvalidParameterValue);
  EXPECT_EQ(kind(reg_->update_code("nope", {code("x"), false, ""}).error()),
            ApiErrorKind::kResourceNotFound);
}

TEST_F(Registry, PublishedVersionsAreImmutableNumberedAndNotRepublishedWhenUnchanged) {
  create("f");
  auto v1 = publish("f", R"({"Description":"first"})");
  ASSERT_TRUE(v1.ok()) << v1.error().message;
  EXPECT_EQ(v1->version, "1");
  EXPECT_EQ(v1->description, "first");
  auto again = publish("f");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, "1") << "an unchanged $LATEST returns the existing version";
  ASSERT_TRUE(configure("f", R"({"Timeout":30})").ok());
  auto wrong_sha = publish("f", R"({"CodeSha256":"AAAA"})");
  ASSERT_FALSE(wrong_sha.ok());
  EXPECT_NE(wrong_sha.error().message.find("CodeSHA256 (AAAA) is different"), std::string::npos);
  std::string sha = *hex_to_base64(reg_->get("f")->code_digest);
  auto v2 = publish("f", R"({"CodeSha256":")" + sha + "\"}");
  ASSERT_TRUE(v2.ok()) << v2.error().message;
  EXPECT_EQ(v2->version, "2");
  EXPECT_EQ(v2->timeout_s, 30u);
  EXPECT_EQ(reg_->get_version("f", "1")->timeout_s, 3u) << "version 1 kept its config";
  EXPECT_EQ(reg_->resolve("f", "1")->timeout_s, 3u);
  EXPECT_EQ(reg_->resolve("f", "$LATEST")->version, "$LATEST");
  EXPECT_EQ(kind(reg_->resolve("f", "7").error()), ApiErrorKind::kResourceNotFound);
  EXPECT_EQ(kind(reg_->resolve("f", "bad qualifier!").error()), ApiErrorKind::kInvalidParameterValue);
  auto versions = reg_->list_versions("f");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].version, "$LATEST");
  EXPECT_EQ((*versions)[2].version, "2");
  EXPECT_EQ(reg_->list().size(), 1u);
  EXPECT_EQ(reg_->list(true).size(), 3u) << "FunctionVersion=ALL lists the versions too";

  // Numbers are never reused, even after the newest is deleted and thawd restarts.
  ASSERT_TRUE(reg_->remove_version("f", "2").ok());
  reopen();
  ASSERT_TRUE(configure("f", R"({"Timeout":31})").ok());
  EXPECT_EQ(publish("f")->version, "3");
  EXPECT_EQ(kind(reg_->remove_version("f", "$LATEST").error()), ApiErrorKind::kInvalidParameterValue);
  EXPECT_EQ(kind(reg_->remove_version("f", "2").error()), ApiErrorKind::kResourceNotFound);
}

TEST_F(Registry, AliasesNeedExistingVersionsAndProtectThem) {
  two_versions("f");
  auto missing = alias("f", R"({"Name":"live","FunctionVersion":"9"})");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(kind(missing.error()), ApiErrorKind::kResourceNotFound);
  EXPECT_NE(missing.error().message.find("function:f:9"), std::string::npos);
  auto live = alias("f", R"({"Name":"live","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.25}}})");
  ASSERT_TRUE(live.ok()) << live.error().message;
  EXPECT_EQ(kind(alias("f", R"({"Name":"live","FunctionVersion":"2"})").error()),
            ApiErrorKind::kResourceConflict);
  auto in_use = reg_->remove_version("f", "2");
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(kind(in_use.error()), ApiErrorKind::kResourceConflict);
  EXPECT_NE(in_use.error().message.find("aliases live use it"), std::string::npos);
  EXPECT_EQ(reg_->find("f", "live")->version, "1") << "find never routes";
  EXPECT_EQ(kind(reg_->find("f", "dev").error()), ApiErrorKind::kResourceNotFound);

  auto update = parse_update_alias("live", R"({"FunctionVersion":"2","RevisionId":"stale"})");
  EXPECT_EQ(kind(reg_->update_alias("f", *update).error()), ApiErrorKind::kPreconditionFailed);
  update = parse_update_alias("live", R"({"FunctionVersion":"2","RoutingConfig":{"AdditionalVersionWeights":{}}})");
  auto moved = reg_->update_alias("f", *update);
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->function_version, "2");
  EXPECT_NE(moved->revision_id, live->revision_id);
  EXPECT_TRUE(reg_->remove_version("f", "1").ok()) << "no alias uses version 1 any more";
  EXPECT_EQ(reg_->list_aliases("f", std::string("2"))->size(), 1u);
  EXPECT_EQ(reg_->list_aliases("f", std::string("1"))->size(), 0u);
  EXPECT_TRUE(reg_->remove_alias("f", "live").ok());
  EXPECT_EQ(kind(reg_->get_alias("f", "live").error()), ApiErrorKind::kResourceNotFound);
}

TEST_F(Registry, WeightedAliasSplitsInvocationsReproduciblyForASeed) {
  two_versions("f");
  ASSERT_TRUE(alias("f", R"({"Name":"canary","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.25}}})").ok());
  auto sequence = [this] {
    std::string out;
    for (int i = 0; i < 10000; ++i) out += reg_->resolve("f", "canary")->version;
    return out;
  };
  reopen(77);
  std::string first = sequence();
  size_t twos = std::count(first.begin(), first.end(), '2');
  EXPECT_GE(twos, 2283u);
  EXPECT_LE(twos, 2717u);
  reopen(77);
  EXPECT_EQ(sequence(), first) << "same seed, same versions";
  reopen(78);
  EXPECT_NE(sequence(), first);
}

TEST_F(Registry, LayersAreCheckedAttachedInOrderAndSurviveTheirDeletion) {
  std::string a1 = publish_layer("a", "one");
  std::string b1 = publish_layer("b", "two");
  std::string a2 = publish_layer("a", "three");
  EXPECT_EQ(a2, layer_version_arn("a", 2));
  EXPECT_EQ(reg_->list_layer_versions("a").size(), 2u);
  EXPECT_EQ(reg_->list_layers().size(), 2u);
  FunctionConfig f = create("f", {b1, a2});
  ASSERT_EQ(f.layers.size(), 2u);
  EXPECT_EQ(f.layers[0].arn, b1);
  auto images = reg_->layer_images(f);
  ASSERT_TRUE(images.ok()) << images.error().message;
  ASSERT_EQ(images->size(), 2u);
  EXPECT_NE((*images)[0].find(reg_->get_layer_version("b", 1)->digest), std::string::npos)
      << "b first, as listed";
  EXPECT_NE((*images)[1].find(reg_->get_layer_version("a", 2)->digest), std::string::npos);
  EXPECT_TRUE(fs::exists((*images)[1]));

  CreateFunctionRequest missing = create_request("g");
  missing.layer_arns = {layer_version_arn("a", 9)};
  auto refused = reg_->create(std::move(missing));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(kind(refused.error()), ApiErrorKind::kInvalidParameterValue);
  EXPECT_NE(refused.error().message.find("layer:a:9 does not exist"), std::string::npos);
  EXPECT_FALSE(reg_->get("g").has_value());

  auto relayered = configure("f", R"({"Layers":[")" + a1 + "\"]}");
  ASSERT_TRUE(relayered.ok()) << relayered.error().message;
  ASSERT_EQ(relayered->layers.size(), 1u);
  ASSERT_TRUE(reg_->remove_layer_version("a", 1).ok());
  EXPECT_EQ(kind(reg_->get_layer_version("a", 1).error()), ApiErrorKind::kResourceNotFound);
  EXPECT_TRUE(reg_->layer_images(*reg_->get("f")).ok()) << "the function keeps its layer";
  EXPECT_EQ(kind(reg_->remove_layer_version("a", 1).error()), ApiErrorKind::kResourceNotFound);
  EXPECT_EQ(publish_layer("a", "four"), layer_version_arn("a", 3)) << "numbers are not reused";
}

TEST_F(Registry, RestartKeepsEverythingAndSkipsDamagedRecordsAlone) {
  std::string l1 = publish_layer("base", "x");
  create("f", {l1});
  ASSERT_TRUE(publish("f").ok());
  ASSERT_TRUE(configure("f", R"({"Timeout":7})").ok());
  ASSERT_TRUE(publish("f").ok());
  ASSERT_TRUE(alias("f", R"({"Name":"one","FunctionVersion":"1"})").ok());
  ASSERT_TRUE(alias("f", R"({"Name":"two","FunctionVersion":"2"})").ok());
  reopen();
  EXPECT_TRUE(reg_->load_warnings().empty());
  EXPECT_EQ(reg_->list_versions("f")->size(), 3u);
  EXPECT_EQ(reg_->get_alias("f", "two")->function_version, "2");
  EXPECT_EQ(reg_->get("f")->layers.size(), 1u);
  EXPECT_TRUE(reg_->get_layer_version("base", 1).ok());

  std::ofstream(dir_ + "/functions/f.d/versions/2.json") << "{\"record_version\":";
  std::ofstream(dir_ + "/functions/f.d/aliases/three.json") << "[]";
  std::ofstream(dir_ + "/layers/broken.json") << "{not json";
  reopen();
  // Reads the warnings of the registry open now (reopen replaces it).
  auto warned = [this](const std::string& what) {
    const auto& w = reg_->load_warnings();
    return std::any_of(w.begin(), w.end(), [&](const std::string& s) { return s.find(what) != std::string::npos; });
  };
  EXPECT_TRUE(warned("f.d/versions/2.json")) << ::testing::PrintToString(reg_->load_warnings());
  EXPECT_TRUE(warned("aliases/two.json: it points at version 2, which did not load"))
      << ::testing::PrintToString(reg_->load_warnings());
  EXPECT_TRUE(warned("aliases/three.json")) << ::testing::PrintToString(reg_->load_warnings());
  EXPECT_TRUE(warned("layers/broken.json")) << ::testing::PrintToString(reg_->load_warnings());
  EXPECT_TRUE(fs::exists(dir_ + "/layers/broken.json.damaged"));
  EXPECT_EQ(reg_->list_versions("f")->size(), 2u);
  EXPECT_TRUE(reg_->get_alias("f", "one").ok());
  EXPECT_FALSE(reg_->get_alias("f", "two").ok());
  EXPECT_TRUE(reg_->get_layer_version("base", 1).ok()) << "the good layer record still loads";
  EXPECT_EQ(publish("f")->version, "3") << "the damaged version's number is not reused";

  std::ofstream(dir_ + "/functions/f.json") << "{}";
  reopen();
  EXPECT_FALSE(reg_->get("f").has_value());
  EXPECT_TRUE(warned("skipped function record " + dir_ + "/functions/f.json"));
  EXPECT_TRUE(warned("left " + dir_ + "/functions/f.d alone")) << ::testing::PrintToString(reg_->load_warnings());
}

TEST_F(Registry, DeleteRemovesVersionsAndAliasesAndARecreatedFunctionStartsClean) {
  create("f");
  ASSERT_TRUE(publish("f").ok());
  ASSERT_TRUE(alias("f", R"({"Name":"live","FunctionVersion":"1"})").ok());
  ASSERT_TRUE(reg_->remove("f").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/functions/f.d"));
  create("f");
  EXPECT_EQ(reg_->list_versions("f")->size(), 1u);
  EXPECT_EQ(kind(reg_->get_alias("f", "live").error()), ApiErrorKind::kResourceNotFound);
  EXPECT_EQ(publish("f")->version, "1");
  CreateFunctionRequest with_publish = create_request("p");
  with_publish.publish = true;
  auto published = reg_->create(std::move(with_publish));
  ASSERT_TRUE(published.ok());
  EXPECT_EQ(published->version, "1");
}

}  // namespace
}  // namespace thaw::agent
