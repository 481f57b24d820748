// common/text_lines.h: the one line splitter of texts read whole.
#include "common/text_lines.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace khod {
namespace {

TEST(TextLinesTest, EachNonEmptyLineInOrderTheLastWithOrWithoutItsNewline) {
  for (const char* text : {"a b\n\nc\nd", "a b\n\nc\nd\n"}) {
    std::vector<std::string> lines;
    EXPECT_TRUE(ForEachLine(text, [&](std::string_view l) {
                  lines.emplace_back(l);
                  return Status::Ok();
                }).ok());
    EXPECT_EQ(lines, (std::vector<std::string>{"a b", "c", "d"})) << text;
  }
  EXPECT_TRUE(ForEachLine("", [](std::string_view) { return Status::Internal("called"); }).ok());
}

TEST(TextLinesTest, TheFirstErrorStopsAndIsReturned) {
  int calls = 0;
  Status s = ForEachLine("ok\nbad\nnever\n", [&](std::string_view l) {
    ++calls;
    return l == "bad" ? Status::InvalidArgument("bad line") : Status::Ok();
  });
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace khod
