#include "common/printable.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace khod {
namespace {

TEST(PrintableTest, PrintableAsciiButTheBackslashIsKept) {
  EXPECT_EQ(EscapeNonPrintable(""), "");
  EXPECT_EQ(EscapeNonPrintable("/memfd:vm0 (deleted)"), "/memfd:vm0 (deleted)");
  EXPECT_EQ(EscapeNonPrintable("anon_inode:[kvm-gmem]"), "anon_inode:[kvm-gmem]");
  EXPECT_EQ(EscapeNonPrintable(" ~"), " ~");
}

TEST(PrintableTest, EveryOtherByteAndTheBackslashBecomeHex) {
  EXPECT_EQ(EscapeNonPrintable("a\x1b[31m\n\xff\\"), "a\\x1b[31m\\x0a\\xff\\x5c");
  EXPECT_EQ(EscapeNonPrintable(std::string("\0\x1f\x7f\x80", 4)), "\\x00\\x1f\\x7f\\x80");
  EXPECT_EQ(EscapeNonPrintable("\xc3\xa9"), "\\xc3\\xa9");  // UTF-8 too: a terminal shows it
}

// Every byte: printable output, and no two inputs alike once escaped (a
// literal "\x1b" is not the escape byte).
TEST(PrintableTest, OutputIsPrintableAndUnambiguous) {
  std::set<std::string> seen;
  for (int b = 0; b < 256; ++b) {
    const std::string e = EscapeNonPrintable(std::string(1, static_cast<char>(b)));
    for (const char c : e) {
      EXPECT_GE(static_cast<unsigned char>(c), 0x20) << b;
      EXPECT_LE(static_cast<unsigned char>(c), 0x7e) << b;
    }
    EXPECT_TRUE(seen.insert(e).second) << b;
  }
  EXPECT_NE(EscapeNonPrintable("\\x1b"), EscapeNonPrintable("\x1b"));
}

}  // namespace
}  // namespace khod
