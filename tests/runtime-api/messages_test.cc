#include "runtime-api/messages.h"

#include <gtest/gtest.h>

namespace thaw {
namespace {

InitConfig sample_config() {
  InitConfig c;
  c.function_name = "hello";
  c.handler = "index.handler";
  c.runtime = "provided";
  c.memory_mb = 256;
  c.timeout_ms = 5000;
  c.log_group = "/aws/lambda/hello";
  c.log_stream = "2026/11/23/[$LATEST]abc";
  c.credentials = {"AKIA", "secret", "token"};
  c.environment = {{"A", "1"}, {"EMPTY", ""}};
  c.mounts = {{"/srv/code", "/new/var/task", "bind", "", true},
              {"overlay", "/new", "overlay", "lowerdir=/a,upperdir=/u,workdir=/w", false}};
  c.new_root = "/new";
  return c;
}

TEST(Messages, InitConfigRoundTrips) {
  auto bytes = encode_init_config(sample_config());
  auto c = decode_init_config(bytes);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(*c, sample_config());
}

TEST(Messages, EveryTruncationOfInitConfigFailsCleanly) {
  auto bytes = encode_init_config(sample_config());
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto c = decode_init_config(std::span(bytes).first(n));
    ASSERT_FALSE(c.ok()) << "prefix " << n;
    EXPECT_NE(c.error().message.find("init config"), std::string::npos);
  }
  bytes.push_back(0);
  auto c = decode_init_config(bytes);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("trailing"), std::string::npos);
}

TEST(Messages, InitConfigLimitsNameTheField) {
  InitConfig c = sample_config();
  c.handler = std::string(kMaxFieldBytes + 1, 'h');
  auto r = decode_init_config(encode_init_config(c));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("'handler'"), std::string::npos);

  c = sample_config();
  c.environment.assign(kMaxEnvVars + 1, {"K", "V"});
  r = decode_init_config(encode_init_config(c));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("environment variables"), std::string::npos);

  c = sample_config();
  c.environment = {{"BAD=NAME", "v"}};
  EXPECT_FALSE(decode_init_config(encode_init_config(c)).ok());

  c = sample_config();
  c.mounts[0].target = "relative/path";
  r = decode_init_config(encode_init_config(c));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("absolute"), std::string::npos);

  c = sample_config();
  c.mounts.assign(kMaxMounts + 1, c.mounts[0]);
  EXPECT_FALSE(decode_init_config(encode_init_config(c)).ok());
}

TEST(Messages, InvocationRoundTripsAndRefusesHeaderInjection) {
  Invocation i;
  i.deadline_ms = 1700000000123;
  i.invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:hello";
  i.trace_id = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1";
  i.payload = {'{', '}'};
  auto r = decode_invocation(encode_invocation(i));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, i);
  i.client_context = "x\r\nX-Evil: 1";
  EXPECT_FALSE(decode_invocation(encode_invocation(i)).ok());
  auto empty = decode_invocation({});
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.error().message.find("deadline_ms"), std::string::npos);
}

TEST(Messages, SmallRecordsRoundTrip) {
  ErrorReport e{"Runtime.ExitError", error_body_json("Runtime.ExitError", "exit status 3"), 3};
  auto er = decode_error_report(encode_error_report(e));
  ASSERT_TRUE(er.ok());
  EXPECT_EQ(*er, e);

  LogChunk l{LogStream::kStderr, "line one\nline two\n"};
  auto lr = decode_log_chunk(encode_log_chunk(l));
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(*lr, l);
  std::vector<uint8_t> bad_stream = {7, 'x'};
  EXPECT_FALSE(decode_log_chunk(bad_stream).ok());

  InvocationMetrics m{1234, 55 << 20};
  auto mr = decode_metrics(encode_metrics(m));
  ASSERT_TRUE(mr.ok());
  EXPECT_EQ(*mr, m);
  auto mbytes = encode_metrics(m);
  mbytes.pop_back();
  EXPECT_FALSE(decode_metrics(mbytes).ok());

  ReadyInfo ri{ReadyPhase::kSnapshotPoint, 99, 42};
  auto rr = decode_ready(encode_ready(ri));
  ASSERT_TRUE(rr.ok());
  EXPECT_EQ(*rr, ri);
}

TEST(Messages, RestoreNoticeNeedsEnoughEntropyAndNotTooMuch) {
  RestoreNotice n{1700000000000000000ull, std::vector<uint8_t>(64, 7)};
  auto r = decode_restore_notice(encode_restore_notice(n));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, n);
  n.entropy.resize(16);
  EXPECT_FALSE(decode_restore_notice(encode_restore_notice(n)).ok());
  n.entropy.resize(kMaxEntropyBytes + 1);
  EXPECT_FALSE(decode_restore_notice(encode_restore_notice(n)).ok());
}

TEST(Messages, ErrorBodyIsEscapedJson) {
  EXPECT_EQ(error_body_json("Function.X", "a\"b\n\x01"),
            R"({"errorMessage":"a\"b\n\u0001","errorType":"Function.X","stackTrace":[]})");
}

}  // namespace
}  // namespace thaw
