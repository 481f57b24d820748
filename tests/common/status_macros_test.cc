// KHOD_RETURN_IF_ERROR and KHOD_ASSIGN_OR_RETURN: an error returns at once,
// unchanged, from functions returning Status or Result<U>; a value is moved
// (move-only types too); each expression is evaluated exactly once.
#include "common/status_macros.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace khod {
namespace {

int calls = 0;

Status Succeed() {
  ++calls;
  return Status::Ok();
}
Status Fail(std::string why) {
  ++calls;
  return Status::Corruption(std::move(why));
}
Result<int> Number(int v) {
  ++calls;
  return v;
}
Result<int> NoNumber() {
  ++calls;
  return Status::NotFound("no number");
}
Result<std::unique_ptr<int>> Boxed(int v) { return std::make_unique<int>(v); }

Status TwoSteps(bool fail_first, bool* reached_end) {
  KHOD_RETURN_IF_ERROR(fail_first ? Fail("first") : Succeed());
  KHOD_RETURN_IF_ERROR(Fail("second"));
  *reached_end = true;
  return Status::Ok();
}

TEST(StatusMacros, ReturnIfErrorReturnsTheFirstErrorUnchanged) {
  calls = 0;
  bool reached_end = false;
  Status s = TwoSteps(/*fail_first=*/true, &reached_end);
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_EQ(s.message(), "first");
  EXPECT_EQ(calls, 1) << "nothing after the failing step runs";
  EXPECT_FALSE(reached_end);

  calls = 0;
  s = TwoSteps(/*fail_first=*/false, &reached_end);
  EXPECT_EQ(s.message(), "second");
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(reached_end);
}

Status ReturnIfErrorThenOk() {
  KHOD_RETURN_IF_ERROR(Succeed());
  return Status::Internal("reached the end");
}

TEST(StatusMacros, ReturnIfErrorGoesOnWhenOk) {
  calls = 0;
  EXPECT_EQ(ReturnIfErrorThenOk().message(), "reached the end");
  EXPECT_EQ(calls, 1);
}

Status SumInto(bool fail_second, int* out) {
  KHOD_ASSIGN_OR_RETURN(int a, Number(2));
  KHOD_ASSIGN_OR_RETURN(const int b, fail_second ? NoNumber() : Number(3));
  *out = a + b;
  return Status::Ok();
}

TEST(StatusMacros, AssignOrReturnDeclaresAndAssigns) {
  calls = 0;
  int sum = 0;
  ASSERT_TRUE(SumInto(false, &sum).ok());
  EXPECT_EQ(sum, 5);
  EXPECT_EQ(calls, 2) << "each expression is evaluated once";

  calls = 0;
  sum = 0;
  Status s = SumInto(true, &sum);
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_EQ(s.message(), "no number");
  EXPECT_EQ(sum, 0) << "nothing after the failing step runs";
  EXPECT_EQ(calls, 2);
}

// Into an existing lvalue, in a function returning Result<U>, two on a line.
Result<std::string> Describe(bool fail) {
  int x = -1;
  KHOD_ASSIGN_OR_RETURN(x, fail ? NoNumber() : Number(7));
  int y = 0;
  KHOD_ASSIGN_OR_RETURN(y, Number(1));
  KHOD_ASSIGN_OR_RETURN(int z, Number(1));
  return std::to_string(x + y + z);
}

TEST(StatusMacros, AssignOrReturnWorksInResultFunctionsAndIntoLvalues) {
  Result<std::string> ok = Describe(false);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(*ok, "9");
  Result<std::string> bad = Describe(true);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(bad.status().message(), "no number");
}

Result<int> Unbox() {
  KHOD_ASSIGN_OR_RETURN(std::unique_ptr<int> p, Boxed(42));
  return *p;
}

TEST(StatusMacros, AssignOrReturnMovesMoveOnlyValues) {
  Result<int> r = Unbox();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 42);
}

}  // namespace
}  // namespace khod
