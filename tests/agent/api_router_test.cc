// Tests of agent/api/api_router's pure parts: target splitting, query
// parameters (percent-decoding) and the per-operation body limits.
#include "agent/api/api_router.h"

#include <gtest/gtest.h>

namespace thaw::agent {
namespace {

HttpRequest make(boost::beast::http::verb verb, std::string target) {
  HttpRequest r;
  r.method(verb);
  r.target(target);
  return r;
}

TEST(ApiRouter, SplitsTargetsIntoDecodedSegmentsAndQuery) {
  ApiPath p = split_target("/2015-03-31/functions/my-fn/invocations?Qualifier=%24LATEST");
  ASSERT_EQ(p.segments.size(), 4u);
  EXPECT_EQ(p.segments[2], "my-fn");
  EXPECT_EQ(p.segments[3], "invocations");
  EXPECT_EQ(p.query, "Qualifier=%24LATEST");
  EXPECT_EQ(split_target("/2015-03-31/functions/").segments.size(), 2u);
  EXPECT_EQ(split_target("//a//b/").segments, (std::vector<std::string>{"a", "b"}));
  // A decoded slash stays inside its segment, so the name check refuses it.
  EXPECT_EQ(split_target("/x/a%2Fb").segments[1], "a/b");
  EXPECT_EQ(split_target("/x/a%2").segments[1], "a%2");  // not a full escape: kept
}

TEST(ApiRouter, QueryParametersArePercentDecoded) {
  EXPECT_EQ(query_param("Qualifier=%24LATEST", "Qualifier").value(), "$LATEST");
  EXPECT_EQ(query_param("a=1&Qualifier=v+2", "Qualifier").value(), "v 2");
  EXPECT_EQ(query_param("a=1&flag", "flag").value(), "");
  EXPECT_FALSE(query_param("a=1", "Qualifier").has_value());
  EXPECT_FALSE(query_param("", "a").has_value());
}

TEST(ApiRouter, BodyLimitFollowsTheOperation) {
  using boost::beast::http::verb;
  EXPECT_EQ(ApiRouter::body_limit(make(verb::post, "/2015-03-31/functions/f/invocations")),
            kMaxSyncPayloadBytes);
  EXPECT_EQ(kMaxSyncPayloadBytes, 6291456u);
  EXPECT_EQ(ApiRouter::body_limit(make(verb::post, "/2015-03-31/functions")), kMaxCreateBodyBytes);
  EXPECT_GT(kMaxCreateBodyBytes, 52428800u / 3 * 4) << "a 50 MB ZIP in base64 must fit";
  EXPECT_EQ(ApiRouter::body_limit(make(verb::get, "/2015-03-31/functions")), kMaxOtherBodyBytes);
  EXPECT_EQ(ApiRouter::body_limit(make(verb::post, "/2015-03-31/functions/f")), kMaxOtherBodyBytes);
}

}  // namespace
}  // namespace thaw::agent
