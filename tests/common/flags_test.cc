// common/flags: the one flag parser of khod, khoctl and the tools.
#include "common/flags.h"

#include <gtest/gtest.h>

namespace khod {
namespace {

const std::vector<FlagSpec> kSpecs = {
    {"--socket", true, nullptr, "PATH  the socket"},
    {"--json", false},
    {"--out", true, "-o"},
    {"--n", true},
};

TEST(FlagsTest, ValueSeparateOrAfterEqualsReadsTheSame) {
  Result<ParsedFlags> a = ParseFlags({"--socket", "/run/k.sock", "-o", "x"}, kSpecs);
  Result<ParsedFlags> b = ParseFlags({"--socket=/run/k.sock", "--out=x"}, kSpecs);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->Get("--socket"), "/run/k.sock");
  EXPECT_EQ(b->Get("--socket"), "/run/k.sock");
  EXPECT_EQ(a->Get("--out"), "x");
  EXPECT_EQ(b->Get("--out"), "x");
  EXPECT_TRUE(a->positionals().empty());
}

TEST(FlagsTest, MistakesNameTheFlag) {
  Result<ParsedFlags> r = ParseFlags({"--sock", "x"}, kSpecs);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "unknown flag '--sock'");
  r = ParseFlags({"--socket"}, kSpecs);
  EXPECT_EQ(r.status().message(), "flag '--socket' needs a value");
  r = ParseFlags({"--json=yes"}, kSpecs);
  EXPECT_EQ(r.status().message(), "flag '--json' takes no value");
  r = ParseFlags({"--n", "1", "--n=2"}, kSpecs);
  EXPECT_EQ(r.status().message(), "flag '--n' given twice");
}

TEST(FlagsTest, UnsignedNumbersAreWholeDecimalsThatFit) {
  for (const char* bad : {"", "12x", "-1", "+1", " 1", "18446744073709551616"}) {
    Result<ParsedFlags> r = ParseFlags({"--n", bad}, kSpecs);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->GetUint("--n", 0).ok()) << "'" << bad << "'";
  }
  Result<ParsedFlags> r = ParseFlags({"--n=18446744073709551615"}, kSpecs);
  EXPECT_EQ(*r->GetUint("--n", 0), UINT64_MAX);
  EXPECT_EQ(*r->GetUint("--absent", 7), 7u);
}

TEST(FlagsTest, HelpListsFlagsThatHaveHelpText) {
  EXPECT_EQ(FlagsHelp(kSpecs), "  --socket PATH             the socket\n");
  EXPECT_EQ(FlagsHelp({{"--json", false, "-j", "  print JSON"}}),
            "  --json, -j                print JSON\n");
}

// A tool's command line: --help is its own, exit 0; a mistake exit 2.
TEST(FlagsTest, CommandLineHasHelpAndRefusesMistakes) {
  auto run = [](std::vector<std::string> args, int* code) {
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    *code = -1;
    return ParseCommandLine(static_cast<int>(argv.size()), argv.data(), "tool [FLAGS]", kSpecs,
                            code);
  };
  int code = -1;
  std::optional<ParsedFlags> f = run({"tool", "--n", "3"}, &code);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f->GetUint("--n", 0), 3u);
  EXPECT_EQ(code, -1);  // untouched: the program goes on
  EXPECT_FALSE(run({"tool", "-h"}, &code).has_value());
  EXPECT_EQ(code, 0);
  EXPECT_FALSE(run({"tool", "--bogus"}, &code).has_value());
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(run({"tool", "stray"}, &code).has_value());
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace khod
