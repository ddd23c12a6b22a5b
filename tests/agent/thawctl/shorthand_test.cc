// Tests of agent/thawctl/shorthand: the AWS CLI's shorthand and JSON
// arguments, number conversion for weights, and file:// / fileb:// reading.
#include "agent/thawctl/shorthand.h"

#include <unistd.h>

#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace thaw::thawctl {
namespace {

namespace json = boost::json;

json::value parsed(std::string_view text) {
  auto v = parse_structured("--x", text);
  EXPECT_TRUE(v) << v.error().message;
  return v ? *v : json::value();
}

TEST(Shorthand, EnvironmentVariablesInBraces) {
  EXPECT_EQ(parsed("Variables={A=1,B=hello world}"),
            json::parse(R"({"Variables":{"A":"1","B":"hello world"}})"));
  EXPECT_EQ(parsed("Variables={}"), json::parse(R"({"Variables":{}})"));
  EXPECT_EQ(parsed(R"(Variables={"K"="a,b",Q='x=y',E=a\,b})"),
            json::parse(R"({"Variables":{"K":"a,b","Q":"x=y","E":"a,b"}})"));
}

TEST(Shorthand, NestedMapsAndLists) {
  EXPECT_EQ(parsed("OnSuccess={Destination=arn:a},OnFailure={Destination=arn:b}"),
            json::parse(R"({"OnSuccess":{"Destination":"arn:a"},"OnFailure":{"Destination":"arn:b"}})"));
  EXPECT_EQ(parsed("Names=[a, b ,c],Empty=[]"), json::parse(R"({"Names":["a","b","c"],"Empty":[]})"));
}

TEST(Shorthand, JsonIsTakenAsIs) {
  EXPECT_EQ(parsed(R"( {"Variables":{"A":"1"}})"), json::parse(R"({"Variables":{"A":"1"}})"));
  auto bad = parse_structured("--environment", "{\"Variables\":");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("--environment: invalid JSON"), std::string::npos)
      << bad.error().message;
}

TEST(Shorthand, ErrorsNameThePositionAndTheRule) {
  for (const char* text : {"Variables", "Variables={A=1", "={A=1}", "A=1,A=2", "A=\"open",
                           "A=[1,2", "A=1}"}) {
    auto v = parse_structured("--environment", text);
    EXPECT_FALSE(v) << text;
    if (!v) {
      EXPECT_NE(v.error().message.find("--environment: shorthand syntax"), std::string::npos)
          << v.error().message;
      EXPECT_NE(v.error().message.find("at character"), std::string::npos) << v.error().message;
    }
  }
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "A={";
  EXPECT_FALSE(parse_shorthand(deep + "B=1"));
}

TEST(Shorthand, RoutingWeightsBecomeNumbers) {
  json::value v = parsed(R"(AdditionalVersionWeights={"2"=0.1})");
  auto& weights = v.at("AdditionalVersionWeights");
  ASSERT_TRUE(to_number_values(weights, "--routing-config"));
  EXPECT_DOUBLE_EQ(weights.at("2").as_double(), 0.1);
  json::value size = parsed("Size=1024");
  ASSERT_TRUE(to_number_values(size, "--ephemeral-storage"));
  EXPECT_EQ(size.at("Size").as_int64(), 1024) << "a whole number stays an integer";
  json::value bad = parsed("AdditionalVersionWeights={2=lots}");
  auto r = to_number_values(bad.at("AdditionalVersionWeights"), "--routing-config");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("'2' is 'lots', not a number"), std::string::npos)
      << r.error().message;
}

TEST(Shorthand, FilePrefixesReadTheFile) {
  std::string path = "/tmp/thaw-shorthand-" + std::to_string(::getpid());
  std::ofstream(path) << R"({"Variables":{"FROM":"file"}})";
  EXPECT_EQ(parsed("file://" + path), json::parse(R"({"Variables":{"FROM":"file"}})"));
  auto blob = read_blob_argument("--zip-file", "fileb://" + path, false);
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->size(), 29u);
  ::unlink(path.c_str());
  auto missing = read_blob_argument("--zip-file", "fileb://" + path, false);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos);
  auto plain = read_blob_argument("--zip-file", "function.zip", false);
  ASSERT_FALSE(plain);
  EXPECT_NE(plain.error().message.find("fileb://PATH"), std::string::npos) << plain.error().message;
  EXPECT_EQ(read_blob_argument("--payload", "{\"a\":1}", true).value(), "{\"a\":1}");
}

}  // namespace
}  // namespace thaw::thawctl
