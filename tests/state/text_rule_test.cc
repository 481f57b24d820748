// The two rules of a text (state/text_rule.h): what a caller may give, and
// what a blob may hold.
#include "state/text_rule.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <utility>

namespace khod {
namespace {

// A name (and every other text of a snapshot) holds no character that is
// invisible or moves the text around it: a caller's name reaches root's
// terminal, and one holding C1's CSI (U+009B) or a bidi override forged the
// lines of `khoctl status` (before, only bytes below 0x20 and 0x7f were
// refused). The refusal names the code point and its byte offset.
TEST(TextRule, AGivenNameWithAControlOrFormatCharacterIsRefusedNamingItAndWhere) {
  struct Case {
    std::string name;
    std::string problem;  // "" for a name that is accepted
  };
  const Case cases[] = {
      {"vm0", ""},
      {"vm\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", ""},  // é, CJK, an emoji
      {"a\xc2\xa0"
       "b",
       ""},  // U+00A0, a space
      {std::string(255, 'x'), ""},
      {"vm0\xc2\x9b"
       "2J\xc2\x9bH\xe2\x80\xae"
       "FORGED",
       "contains control character U+009B at byte 3"},
      {"vm0\xc2\x9d"
       "0;title",
       "contains control character U+009D at byte 3"},
      {"\xc2\x80", "contains control character U+0080 at byte 0"},
      {"ab\xc2\x9f", "contains control character U+009F at byte 2"},
      {"ab\x1b[2J", "contains control character U+001B at byte 2"},
      {"ab\x7f", "contains control character U+007F at byte 2"},
      {"ab\n", "contains control character U+000A at byte 2"},
      {std::string("ab\0", 3), "contains a NUL byte (U+0000) at byte 2"},
      {"vm\xe2\x80\xae"
       "0",
       "contains format character U+202E at byte 2"},
      {"vm\xe2\x80\xaa", "contains format character U+202A at byte 2"},
      {"vm\xe2\x81\xa6", "contains format character U+2066 at byte 2"},
      {"vm\xe2\x81\xa9", "contains format character U+2069 at byte 2"},
      {"vm\xe2\x80\x8b"
       "0",
       "contains format character U+200B at byte 2"},
      {"vm\xe2\x80\x8d", "contains format character U+200D at byte 2"},
      {"vm\xe2\x80\x8f", "contains format character U+200F at byte 2"},
      {"vm\xef\xbb\xbf", "contains format character U+FEFF at byte 2"},
      {"vm\xc2\xad", "contains format character U+00AD at byte 2"},
      {"vm\xd8\x9c", "contains format character U+061C at byte 2"},
      {"vm\xf3\xa0\x80\x81", "contains format character U+E0001 at byte 2"},
      {"vm\xe2\x80\xa8", "contains line separator U+2028 at byte 2"},
      {"vm\xe2\x80\xa9", "contains paragraph separator U+2029 at byte 2"},
      {"vm0\xff", "is not valid UTF-8 at byte 3 (0xff)"},
      {"vm0\xc2", "is not valid UTF-8 at byte 3 (0xc2)"},
      {"vm0\xe2\x80"
       "x",
       "is not valid UTF-8 at byte 3 (0xe2 0x80 0x78)"},
      {"vm0\xc0\x80", "is not valid UTF-8 at byte 3 (0xc0 0x80)"},           // overlong NUL
      {"vm0\xed\xa0\x80", "is not valid UTF-8 at byte 3 (0xed 0xa0 0x80)"},  // a surrogate
      // The first problem is named, wherever the name goes on.
      {std::string(250, 'x') + "\xe2\x80\xae", "contains format character U+202E at byte 250"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(TextProblem(c.name, TextRule::kGiven), c.problem) << ::testing::PrintToString(c.name);
    // What a blob may hold: the same but for C1 controls, format characters
    // and separators, which an older khod took.
    const bool stored_too = c.problem.find("UTF-8") != std::string::npos ||
                            c.problem.find("U+000") != std::string::npos ||
                            c.problem.find("U+001") != std::string::npos ||
                            c.problem.find("U+007F") != std::string::npos;
    EXPECT_EQ(TextProblem(c.name, TextRule::kStored), stored_too ? c.problem : "")
        << ::testing::PrintToString(c.name);
  }
}

// Every code point Unicode calls Cc or Cf, and the line and paragraph
// separators, is refused; the code points around each range are not.
TEST(TextRule, EveryControlAndFormatCharacterIsRefusedAndItsNeighboursAreNot) {
  const auto utf8 = [](uint32_t cp) {
    std::string o;
    if (cp < 0x80) {
      o += static_cast<char>(cp);
    } else if (cp < 0x800) {
      o += static_cast<char>(0xc0 | (cp >> 6));
      o += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      o += static_cast<char>(0xe0 | (cp >> 12));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      o += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      o += static_cast<char>(0xf0 | (cp >> 18));
      o += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      o += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      o += static_cast<char>(0x80 | (cp & 0x3f));
    }
    return o;
  };
  // Unicode 15.1's Cc, Cf, Zl and Zp.
  const std::pair<uint32_t, uint32_t> refused[] = {
      {0x0001, 0x001f},   {0x007f, 0x009f},   {0x00ad, 0x00ad},   {0x0600, 0x0605},
      {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},   {0x0890, 0x0891},
      {0x08e2, 0x08e2},   {0x180e, 0x180e},   {0x200b, 0x200f},   {0x2028, 0x202e},
      {0x2060, 0x2064},   {0x2066, 0x206f},   {0xfeff, 0xfeff},   {0xfff9, 0xfffb},
      {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
      {0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f},
  };
  for (const auto& [first, last] : refused) {
    for (uint32_t cp = first; cp <= last; ++cp) {
      EXPECT_NE(TextProblem("a" + utf8(cp), TextRule::kGiven), "") << std::hex << cp;
    }
    if (first > 1) {  // NUL has a test of its own
      EXPECT_EQ(TextProblem("a" + utf8(first - 1), TextRule::kGiven), "") << std::hex << first - 1;
    }
    EXPECT_EQ(TextProblem("a" + utf8(last + 1), TextRule::kGiven), "") << std::hex << last + 1;
  }
}

}  // namespace
}  // namespace khod
