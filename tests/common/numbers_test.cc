// common/numbers: every parser takes the whole text and nothing else; the
// boundaries of each type are exact and one past them is refused.
#include "common/numbers.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

namespace khod {
namespace {

TEST(Numbers, U64TakesDigitsUpToTheLargestValue) {
  EXPECT_EQ(ParseU64("0"), 0u);
  EXPECT_EQ(ParseU64("42"), 42u);
  EXPECT_EQ(ParseU64("007"), 7u);
  EXPECT_EQ(ParseU64("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(ParseU64("000018446744073709551615"), UINT64_MAX);
}

TEST(Numbers, U64RefusesOverflowSignsSpacesAndJunk) {
  for (std::string_view bad :
       {"18446744073709551616", "99999999999999999999999", "-1", "+1", "-0", " 1", "1 ", "\t1",
        "1\n", "", "3x", "x3", "0x10", "0x", "1.5", "1e3", "1,000", "١"})
    EXPECT_EQ(ParseU64(bad), std::nullopt) << "'" << bad << "'";
}

TEST(Numbers, U32AndIntKeepToTheirWidth) {
  EXPECT_EQ(ParseU32("4294967295"), UINT32_MAX);
  EXPECT_EQ(ParseU32("4294967296"), std::nullopt);
  EXPECT_EQ(ParseInt("2147483647"), std::numeric_limits<int>::max());
  EXPECT_EQ(ParseInt("-2147483648"), std::numeric_limits<int>::min());
  EXPECT_EQ(ParseInt("2147483648"), std::nullopt);
  EXPECT_EQ(ParseInt("-2147483649"), std::nullopt);
  EXPECT_EQ(ParseInt("3x"), std::nullopt);
  EXPECT_EQ(ParseInt("-"), std::nullopt);
  EXPECT_EQ(ParseInt("+3"), std::nullopt);
}

TEST(Numbers, I64TakesOneLeadingMinus) {
  EXPECT_EQ(ParseI64("-1"), -1);
  EXPECT_EQ(ParseI64("-0"), 0);
  EXPECT_EQ(ParseI64("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseI64("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(ParseI64("9223372036854775808"), std::nullopt);
  EXPECT_EQ(ParseI64("--1"), std::nullopt);
  EXPECT_EQ(ParseI64("- 1"), std::nullopt);
  EXPECT_EQ(ParseI64(" -1"), std::nullopt);
  EXPECT_EQ(ParseI64(""), std::nullopt);
}

TEST(Numbers, HexWithAndWithoutPrefix) {
  EXPECT_EQ(ParseHexU64("ff"), 0xffu);
  EXPECT_EQ(ParseHexU64("FF"), 0xffu);
  EXPECT_EQ(ParseHexU64("ffffffffffffffff"), UINT64_MAX);
  EXPECT_EQ(ParseHexU64("10000000000000000"), std::nullopt);
  EXPECT_EQ(ParseHexU64("0xff"), std::nullopt);
  EXPECT_EQ(ParseHexU64("fg"), std::nullopt);
  EXPECT_EQ(ParseHexU64("-1"), std::nullopt);
  EXPECT_EQ(ParseHexU64(""), std::nullopt);

  EXPECT_EQ(Parse0xHexU64("0x1000"), 0x1000u);
  EXPECT_EQ(Parse0xHexU64("0X1000"), 0x1000u);
  EXPECT_EQ(Parse0xHexU64("0xffffffffffffffff"), UINT64_MAX);
  EXPECT_EQ(Parse0xHexU64("0x"), std::nullopt);
  EXPECT_EQ(Parse0xHexU64("0x0x1"), std::nullopt);
  EXPECT_EQ(Parse0xHexU64("1000"), std::nullopt);
  EXPECT_EQ(Parse0xHexU64("0x1 "), std::nullopt);
  EXPECT_EQ(Parse0xHexU64("0x-1"), std::nullopt);

  EXPECT_EQ(ParseU64DecimalOr0xHex("0x10"), 16u);
  EXPECT_EQ(ParseU64DecimalOr0xHex("10"), 10u);
  EXPECT_EQ(ParseU64DecimalOr0xHex("1a"), std::nullopt);
  EXPECT_EQ(ParseU64DecimalOr0xHex("0x"), std::nullopt);
}

TEST(Numbers, RangeAndNamedErrors) {
  EXPECT_EQ(ParseU64InRange("1", 1, 3), 1u);
  EXPECT_EQ(ParseU64InRange("3", 1, 3), 3u);
  EXPECT_EQ(ParseU64InRange("0", 1, 3), std::nullopt);
  EXPECT_EQ(ParseU64InRange("4", 1, 3), std::nullopt);

  Result<uint64_t> ok = ParseU64Named("12", "--threads", 1, 64);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 12u);
  Result<uint64_t> junk = ParseU64Named("12x", "--threads");
  EXPECT_EQ(junk.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(junk.status().message(), "--threads '12x' is not a decimal number");
  EXPECT_EQ(ParseU64Named("18446744073709551616", "n").status().message(),
            "n '18446744073709551616' is larger than 18446744073709551615");
  EXPECT_EQ(ParseU64Named("65", "--threads", 1, 64).status().message(),
            "--threads '65' is larger than 64");
  EXPECT_EQ(ParseU64Named("0", "--threads", 1, 64).status().message(),
            "--threads '0' is smaller than 1");

  Result<std::vector<uint64_t>> list = ParseU64ListNamed("1,2,64", "--gib", 1, 64);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(*list, (std::vector<uint64_t>{1, 2, 64}));
  EXPECT_EQ(ParseU64ListNamed("1,,2", "--gib").status().message(),
            "--gib '' is not a decimal number");
  EXPECT_EQ(ParseU64ListNamed("", "--gib").status().message(), "--gib '' is not a decimal number");
  EXPECT_EQ(ParseU64ListNamed("3,65", "--gib", 1, 64).status().message(),
            "--gib '65' is larger than 64");
  EXPECT_EQ(ParseU64ListNamed("3,", "--gib").status().code(), Status::Code::kInvalidArgument);
}

TEST(Numbers, ConsumeReadsALeadingNumberAndAdvances) {
  std::string_view s = "1234 kB";
  EXPECT_EQ(ConsumeU64(&s), 1234u);
  EXPECT_EQ(s, " kB");
  EXPECT_EQ(ConsumeU64(&s), std::nullopt);
  EXPECT_EQ(s, " kB");

  std::string_view a = "7f00-7f10 rw-p";
  EXPECT_EQ(ConsumeHexU64(&a), 0x7f00u);
  EXPECT_EQ(a, "-7f10 rw-p");

  std::string_view big = "18446744073709551616 kB";
  EXPECT_EQ(ConsumeU64(&big), std::nullopt);
  EXPECT_EQ(big, "18446744073709551616 kB");
  std::string_view minus = "-1";
  EXPECT_EQ(ConsumeU64(&minus), std::nullopt);
  std::string_view empty = "";
  EXPECT_EQ(ConsumeU64(&empty), std::nullopt);
}

}  // namespace
}  // namespace khod
