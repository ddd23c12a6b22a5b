#include "runtime-api/lambda_environment.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace thaw {
namespace {

bool has(const std::vector<std::string>& env, const std::string& entry) {
  return std::find(env.begin(), env.end(), entry) != env.end();
}

TEST(LambdaEnvironment, ReservedVariablesFromConfigAndFunctionOverrides) {
  InitConfig c;
  c.function_name = "f";
  c.handler = "app.handler";
  c.runtime = "python3.11";
  c.memory_mb = 512;
  c.environment = {{"PATH", "/custom"}, {"AWS_LAMBDA_FUNCTION_NAME", "spoof"}, {"X", "1"}};
  std::vector<std::string> dropped;
  auto env = lambda_environment(c, &dropped);
  EXPECT_TRUE(has(env, "_HANDLER=app.handler"));
  EXPECT_TRUE(has(env, "AWS_LAMBDA_FUNCTION_NAME=f"));
  EXPECT_TRUE(has(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512"));
  EXPECT_TRUE(has(env, "AWS_EXECUTION_ENV=AWS_Lambda_python3.11"));
  EXPECT_TRUE(has(env, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001"));
  EXPECT_TRUE(has(env, "PATH=/custom")) << "PATH is not reserved";
  EXPECT_TRUE(has(env, "X=1"));
  EXPECT_FALSE(has(env, "AWS_LAMBDA_FUNCTION_NAME=spoof"));
  EXPECT_EQ(dropped, std::vector<std::string>{"AWS_LAMBDA_FUNCTION_NAME"});
  EXPECT_FALSE(std::any_of(env.begin(), env.end(),
                           [](const std::string& e) { return e.starts_with("AWS_ACCESS_KEY_ID="); }))
      << "no credentials configured: none exported";
  EXPECT_TRUE(has(lambda_environment(c, nullptr, 9123), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:9123"));
  std::set<std::string> names;
  for (const auto& e : env) EXPECT_TRUE(names.insert(e.substr(0, e.find('='))).second) << e;
}

TEST(LambdaEnvironment, BootstrapLookupOrder) {
  InitConfig c;
  std::set<std::string> present = {"/opt/bootstrap", "/var/runtime/bootstrap"};
  auto exists = [&](const std::string& p) { return present.count(p) > 0; };
  EXPECT_EQ(*find_bootstrap(c, exists), "/opt/bootstrap");
  present.insert("/var/task/bootstrap");
  EXPECT_EQ(*find_bootstrap(c, exists), "/var/task/bootstrap");
  present.clear();
  auto none = find_bootstrap(c, exists);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("Couldn't find valid bootstrap(s)"), std::string::npos);
  c.runtime = "python3.11";  // managed: only the runtime image's bootstrap counts
  present = {"/var/task/bootstrap", "/var/runtime/bootstrap"};
  EXPECT_EQ(*find_bootstrap(c, exists), "/var/runtime/bootstrap");
  present = {"/var/task/bootstrap"};
  EXPECT_FALSE(find_bootstrap(c, exists).ok());
  c.runtime = "provided.al2023";
  EXPECT_EQ(*find_bootstrap(c, exists), "/var/task/bootstrap");
  present.clear();
  c.bootstrap = "/custom/run";
  EXPECT_FALSE(find_bootstrap(c, exists).ok());
  present.insert("/custom/run");
  EXPECT_EQ(*find_bootstrap(c, exists), "/custom/run");
}

}  // namespace
}  // namespace thaw
