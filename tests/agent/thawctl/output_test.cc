// Tests of agent/thawctl/output: the AWS CLI-like json, table and text
// renderings of API answers.
#include "agent/thawctl/output.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace thaw::thawctl {
namespace {

namespace json = boost::json;

TEST(Output, JsonIsIndentedByFourAndKeepsKeyOrder) {
  auto v = json::parse(R"({"StatusCode":200,"ExecutedVersion":"$LATEST","W":{"2":0.1},"L":[],"E":{}})");
  EXPECT_EQ(render_json(v),
            "{\n"
            "    \"StatusCode\": 200,\n"
            "    \"ExecutedVersion\": \"$LATEST\",\n"
            "    \"W\": {\n"
            "        \"2\": 0.1\n"
            "    },\n"
            "    \"L\": [],\n"
            "    \"E\": {}\n"
            "}\n");
  EXPECT_EQ(render_json(json::parse("[1.0]")), "[\n    1.0\n]\n") << "a double stays a double";
}

TEST(Output, TableShowsKeyValuesAndColumnsForLists) {
  auto fn = json::parse(R"({"Configuration":{"FunctionName":"echo","MemorySize":128,
                            "Environment":{"Variables":{"A":"1"}},"Architectures":["x86_64"]}})");
  std::string t = render_table("GetFunction", fn);
  EXPECT_EQ(t.rfind("GetFunction\n", 0), 0u) << t;
  EXPECT_NE(t.find("| Configuration.FunctionName "), std::string::npos) << t;
  EXPECT_NE(t.find("| echo "), std::string::npos) << t;
  EXPECT_NE(t.find("| Configuration.Environment.Variables.A | 1 "), std::string::npos) << t;
  EXPECT_NE(t.find("| x86_64 "), std::string::npos) << t;

  auto list = json::parse(R"({"Functions":[{"FunctionName":"a","MemorySize":128},
                                           {"FunctionName":"bb","Timeout":3}]})");
  t = render_table("ListFunctions", list);
  EXPECT_NE(t.find("ListFunctions Functions\n"), std::string::npos) << t;
  EXPECT_NE(t.find("| FunctionName | MemorySize | Timeout |"), std::string::npos) << t;
  EXPECT_NE(t.find("| a            | 128        |         |"), std::string::npos) << t;
  EXPECT_NE(t.find("| bb           |            | 3       |"), std::string::npos) << t;
  // Every line of a box has the same width.
  size_t width = t.find('\n', t.find('+')) - t.find('+');
  for (size_t p = t.find('|'); p != std::string::npos; p = t.find("\n|", p + 1)) {
    size_t start = t[p] == '\n' ? p + 1 : p;
    EXPECT_EQ(t.find('\n', start) - start, width) << t;
    if (t[p] != '\n') p = t.find('\n', p) - 1;
  }
}

TEST(Output, TableCellsKeepTheirLinesAndEmptyListsSayNone) {
  auto v = json::parse(R"({"StatusCode":200,"LogResult":"START x\nREPORT a\tb\n","L":[]})");
  std::string t = render_table("Invoke", v);
  EXPECT_NE(t.find("| LogResult  | START x     |\n|            | REPORT a  b |\n"), std::string::npos)
      << t;
  EXPECT_NE(t.find("| L          | (none)      |"), std::string::npos) << t;
}

TEST(Output, TextIsTabSeparatedWithSectionPrefixes) {
  auto v = json::parse(R"({"StatusCode":200,"ExecutedVersion":"$LATEST"})");
  EXPECT_EQ(render_text(v), "$LATEST\t200\n") << "scalars in key order, as the AWS CLI";
  auto list = json::parse(R"({"Functions":[{"FunctionName":"a","Timeout":3},{"FunctionName":"b","Timeout":5}]})");
  EXPECT_EQ(render_text(list), "FUNCTIONS\ta\t3\nFUNCTIONS\tb\t5\n");
  EXPECT_EQ(scalar_text(json::value(true)), "True");
  EXPECT_EQ(scalar_text(json::value(0.25)), "0.25");
  EXPECT_EQ(scalar_text(json::value(nullptr)), "");
}

}  // namespace
}  // namespace thaw::thawctl
