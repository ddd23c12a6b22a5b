// Unit tests of agent/invoke/concurrency_settings: the request parsers, the
// capacity rules (10% unreserved floor, provisioned within reservations),
// the store's encode/decode and its atomic, reloadable file.
#include "agent/invoke/concurrency_settings.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace thaw::agent {
namespace {

std::span<const uint8_t> bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(ConcurrencyParse, ReservedAcceptsZeroAndRejectsEverythingElseByName) {
  auto n = parse_reserved_concurrency(R"({"ReservedConcurrentExecutions": 0})");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  auto n42 = parse_reserved_concurrency(R"({"ReservedConcurrentExecutions": 42})");
  EXPECT_EQ(*n42, 42u);
  struct Case { const char* body; ApiErrorKind kind; const char* says; };
  for (const Case& c : {
           Case{"", ApiErrorKind::kInvalidRequestContent, "must be a JSON object"},
           Case{"[1]", ApiErrorKind::kInvalidRequestContent, "must be a JSON object"},
           Case{"{}", ApiErrorKind::kInvalidParameterValue, "is required"},
           Case{R"({"ReservedConcurrentExecutions": "1"})", ApiErrorKind::kInvalidRequestContent,
                "must be a JSON integer"},
           Case{R"({"ReservedConcurrentExecutions": 1.5})", ApiErrorKind::kInvalidRequestContent,
                "must be a JSON integer"},
           Case{R"({"ReservedConcurrentExecutions": -3})", ApiErrorKind::kInvalidParameterValue,
                "at least 0"},
           Case{R"({"ReservedConcurrentExecutions": 5000000000})",
                ApiErrorKind::kInvalidParameterValue, "5000000000"},
           Case{R"({"ReservedConcurrentExecutions": 1, "X": 1})",
                ApiErrorKind::kInvalidRequestContent, "unknown field 'X'"},
       }) {
    auto r = parse_reserved_concurrency(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().kind, c.kind) << c.body;
    EXPECT_NE(r.error().message.find(c.says), std::string::npos) << c.body << ": " << r.error().message;
  }
}

TEST(ConcurrencyParse, ProvisionedNeedsAtLeastOneAndAPublishedQualifier) {
  auto three = parse_provisioned_concurrency(R"({"ProvisionedConcurrentExecutions": 3})");
  EXPECT_EQ(*three, 3u);
  auto zero = parse_provisioned_concurrency(R"({"ProvisionedConcurrentExecutions": 0})");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("at least 1"), std::string::npos);
  EXPECT_TRUE(check_provisioned_qualifier(std::nullopt));
  EXPECT_TRUE(check_provisioned_qualifier(std::string()));
  auto latest = check_provisioned_qualifier(std::string("$LATEST"));
  ASSERT_TRUE(latest);
  EXPECT_NE(latest->message.find("unpublished"), std::string::npos);
  EXPECT_FALSE(check_provisioned_qualifier(std::string("1")));
  EXPECT_FALSE(check_provisioned_qualifier(std::string("live")));
}

TEST(ConcurrencyRules, TenPercentOfTheHostStaysUnreserved) {
  EXPECT_EQ(min_unreserved(1), 1u);
  EXPECT_EQ(min_unreserved(10), 1u);
  EXPECT_EQ(min_unreserved(16), 2u);
  EXPECT_EQ(min_unreserved(100), 10u);
  ConcurrencySettings s;
  EXPECT_FALSE(check_reservation(s, 100, "f", 90));
  auto too_many = check_reservation(s, 100, "f", 91);
  ASSERT_TRUE(too_many);
  EXPECT_NE(too_many->message.find("minimum value of [10]"), std::string::npos) << too_many->message;
  s.reserved["g"] = 50;
  EXPECT_FALSE(check_reservation(s, 100, "f", 40));
  EXPECT_TRUE(check_reservation(s, 100, "f", 41));
  EXPECT_FALSE(check_reservation(s, 100, "g", 90)) << "g's own reservation is replaced, not added";
  EXPECT_FALSE(check_reservation(s, 100, "f", 0)) << "0 (throttle all) always fits";
}

TEST(ConcurrencyRules, ProvisionedFitsInTheReservationOrTheUnreservedPool) {
  ConcurrencySettings s;
  s.reserved["r"] = 4;
  s.provisioned[{"r", "1"}] = {3, "t"};
  EXPECT_FALSE(check_provisioned(s, 20, "r", "1", 4)) << "replacing its own entry";
  EXPECT_FALSE(check_provisioned(s, 20, "r", "live", 1));
  auto over = check_provisioned(s, 20, "r", "live", 2);
  ASSERT_TRUE(over);
  EXPECT_NE(over->message.find("reservedConcurrentExecution"), std::string::npos);
  auto below = check_reservation(s, 20, "r", 2);
  ASSERT_TRUE(below) << "a reservation below its provisioned sandboxes";
  EXPECT_NE(below->message.find("provisioned"), std::string::npos);
  // Unreserved: 20 - 4 = 16, 2 (10%) stay on-demand: at most 14 provisioned.
  EXPECT_FALSE(check_provisioned(s, 20, "u", "1", 14));
  EXPECT_TRUE(check_provisioned(s, 20, "u", "1", 15));
  s.provisioned[{"v", "2"}] = {10, "t"};
  EXPECT_FALSE(check_provisioned(s, 20, "u", "1", 4));
  EXPECT_TRUE(check_provisioned(s, 20, "u", "1", 5));
}

TEST(ConcurrencyRecord, RoundTripsAndRefusesDamage) {
  ConcurrencySettings s;
  s.reserved["a"] = 0;
  s.reserved["b"] = 7;
  s.provisioned[{"b", "3"}] = {2, "2026-11-23T12:00:00.000+0000"};
  s.provisioned[{"b", "live"}] = {1, "2026-11-23T12:00:01.000+0000"};
  std::string text = encode_concurrency_settings(s);
  auto back = decode_concurrency_settings(bytes(text));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
  for (const char* bad : {
           "", "{}", R"({"record_version": 2, "reserved": {}, "provisioned": []})",
           R"({"record_version": 1, "reserved": {"a": -1}, "provisioned": []})",
           R"({"record_version": 1, "reserved": {"a": "1"}, "provisioned": []})",
           R"({"record_version": 1, "reserved": {}, "provisioned": [{"function": "a"}]})",
           R"({"record_version": 1, "reserved": {}, "provisioned": [{"function": "a", "qualifier": "1", "last_modified": "t", "requested": 0}]})",
       }) {
    EXPECT_FALSE(decode_concurrency_settings(bytes(bad))) << bad;
  }
}

TEST(ConcurrencyStore, PersistsAtomicallyAndReloads) {
  char tmpl[] = "/tmp/thaw-conc-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string warning;
  auto store = ConcurrencyStore::open(dir, warning);
  EXPECT_TRUE(warning.empty());
  EXPECT_TRUE(store.settings().reserved.empty());
  ConcurrencySettings next;
  next.reserved["f"] = 5;
  ASSERT_TRUE(store.replace(next));
  auto again = ConcurrencyStore::open(dir, warning);
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(again.settings(), next);

  std::ofstream(dir + "/concurrency.json") << "{\"record_version\": 1";
  auto damaged = ConcurrencyStore::open(dir, warning);
  EXPECT_TRUE(damaged.settings().reserved.empty());
  EXPECT_NE(warning.find(dir + "/concurrency.json"), std::string::npos) << warning;
  ASSERT_TRUE(damaged.replace(next)) << "the next change overwrites the damaged file";
  warning.clear();
  EXPECT_EQ(ConcurrencyStore::open(dir, warning).settings(), next);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace thaw::agent
