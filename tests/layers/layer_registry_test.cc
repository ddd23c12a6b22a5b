#include "layers/layer_registry.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/layers/temp_dir.h"

namespace thaw::layers {
namespace {

using testing::TempDir;

PublishLayer request(std::string name, char digit) {
  PublishLayer p;
  p.name = std::move(name);
  p.description = "numpy for python3.11";
  p.compatible_runtimes = {"python3.11", "provided"};
  p.image.digest = std::string(64, digit);
  p.image.zip_bytes = 1000;
  p.image.unpacked_bytes = 5000;
  return p;
}

TEST(LayerRegistry, PublishesNumberedVersionsAndPersistsThem) {
  TempDir tmp;
  {
    auto reg = LayerRegistry::open(tmp / "layers");
    ASSERT_TRUE(reg) << reg.error().message;
    auto v1 = (*reg)->publish(request("numpy", 'a'));
    ASSERT_TRUE(v1) << v1.error().message;
    EXPECT_EQ(v1->version, 1u);
    EXPECT_EQ(v1->created_date.size(), 28u) << v1->created_date;  // 2026-11-23T11:30:00.000+0000
    auto v2 = (*reg)->publish(request("numpy", 'b'));
    ASSERT_TRUE(v2);
    EXPECT_EQ(v2->version, 2u);
    ASSERT_TRUE((*reg)->publish(request("pandas", 'c')));
  }
  auto reg = LayerRegistry::open(tmp / "layers");
  ASSERT_TRUE(reg) << reg.error().message;
  auto v2 = (*reg)->get("numpy", 2);
  ASSERT_TRUE(v2) << v2.error().message;
  EXPECT_EQ(v2->digest, std::string(64, 'b'));
  EXPECT_EQ(v2->compatible_runtimes, (std::vector<std::string>{"python3.11", "provided"}));
  EXPECT_EQ(v2->unpacked_bytes, 5000u);
  EXPECT_EQ((*reg)->list_versions("numpy").size(), 2u);
  EXPECT_EQ((*reg)->latest_versions().size(), 2u);
  EXPECT_EQ((*reg)->referenced_digests().size(), 3u);
  EXPECT_FALSE((*reg)->get("numpy", 3));
}

TEST(LayerRegistry, NeverReusesAVersionNumberAfterDelete) {
  TempDir tmp;
  auto reg = LayerRegistry::open(tmp / "layers");
  ASSERT_TRUE(reg);
  ASSERT_TRUE((*reg)->publish(request("tools", 'a')));
  ASSERT_TRUE((*reg)->remove("tools", 1));
  EXPECT_FALSE((*reg)->remove("tools", 1));
  EXPECT_TRUE((*reg)->referenced_digests().empty());
  std::ofstream(tmp / "layers/tools.json.tmp.999") << "{\"name\":";  // a crash mid-write
  auto reopened = LayerRegistry::open(tmp / "layers");
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_FALSE(std::filesystem::exists(tmp / "layers/tools.json.tmp.999"));
  auto v = (*reopened)->publish(request("tools", 'b'));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->version, 2u);
}

TEST(LayerRegistry, ValidatesRequests) {
  TempDir tmp;
  auto reg = LayerRegistry::open(tmp / "layers");
  ASSERT_TRUE(reg);
  EXPECT_FALSE((*reg)->publish(request("", 'a')));
  EXPECT_FALSE((*reg)->publish(request("../escape", 'a')));
  EXPECT_FALSE((*reg)->publish(request(std::string(65, 'n'), 'a')));
  auto long_desc = request("ok", 'a');
  long_desc.description.assign(257, 'd');
  EXPECT_FALSE((*reg)->publish(long_desc));
  auto runtimes = request("ok", 'a');
  runtimes.compatible_runtimes.assign(16, "provided");
  EXPECT_FALSE((*reg)->publish(runtimes));
  auto odd_runtime = request("ok", 'a');
  odd_runtime.compatible_runtimes = {"python 3.11; rm -rf"};
  auto odd = (*reg)->publish(odd_runtime);
  ASSERT_FALSE(odd);
  EXPECT_NE(odd.error().message.find("a-z, 0-9"), std::string::npos);
  auto bad_digest = request("ok", 'a');
  bad_digest.image.digest = "abc";
  EXPECT_FALSE((*reg)->publish(bad_digest));
  EXPECT_TRUE((*reg)->latest_versions().empty());
}

TEST(LayerRegistry, RefusesCorruptRecordsNamingTheFile) {
  TempDir tmp;
  {
    auto reg = LayerRegistry::open(tmp / "layers");
    ASSERT_TRUE(reg);
  }
  std::ofstream(tmp / "layers/broken.json") << "{\"name\": \"broken\", \"next_version\": ";
  auto reg = LayerRegistry::open(tmp / "layers");
  ASSERT_FALSE(reg);
  EXPECT_NE(reg.error().message.find("broken.json"), std::string::npos) << reg.error().message;

  std::ofstream(tmp / "layers/broken.json", std::ios::trunc)
      << R"({"name":"other","next_version":2,"versions":[]})";
  auto mismatch = LayerRegistry::open(tmp / "layers");
  ASSERT_FALSE(mismatch);
  EXPECT_NE(mismatch.error().message.find("must match"), std::string::npos);

  std::ofstream(tmp / "layers/broken.json", std::ios::trunc)
      << R"({"name":"broken","next_version":1,"versions":[{"version":1}]})";
  auto fields = LayerRegistry::open(tmp / "layers");
  ASSERT_FALSE(fields);
  EXPECT_NE(fields.error().message.find("broken.json"), std::string::npos);
}

}  // namespace
}  // namespace thaw::layers
