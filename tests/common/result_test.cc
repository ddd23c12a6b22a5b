#include "common/result.h"

#include <gtest/gtest.h>

namespace thaw {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error::format("value {} is not positive", v);
  return v;
}

TEST(Result, CarriesValueOrError) {
  auto good = parse_positive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  auto bad = parse_positive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "value -1 is not positive");
}

TEST(Result, ErrnoAndContext) {
  errno = ENOENT;
  Error e = Error::from_errno("open {}", "/x").context("loading");
  EXPECT_EQ(e.sys_errno, ENOENT);
  EXPECT_EQ(e.message, "loading: open /x: No such file or directory");
}

}  // namespace
}  // namespace thaw
