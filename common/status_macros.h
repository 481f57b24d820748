// Early returns for Status and Result<T> (common/status.h), in the manner of
// absl's status_macros:
//
//   KHOD_RETURN_IF_ERROR(dir.Replace(name, data));
//   KHOD_ASSIGN_OR_RETURN(SafeDir dir, SafeDir::Open(path, 0700));
//   KHOD_ASSIGN_OR_RETURN(*out, ReadRecordFile(path));
//
// Each evaluates its expression exactly once. On an error the enclosing
// function returns that Status unchanged (a function returning Result<U>
// converts it); context is added by the callee, or by writing the return out
// by hand where the caller's words matter (`.WithContext(...)`).
#ifndef KHOD_COMMON_STATUS_MACROS_H_
#define KHOD_COMMON_STATUS_MACROS_H_

#include <utility>

#include "common/status.h"

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define KHOD_RETURN_IF_ERROR(expr)     \
  do {                                 \
    ::khod::Status _khod_s = (expr);   \
    if (!_khod_s.ok()) return _khod_s; \
  } while (0)

// Evaluates `rexpr` (a Result<T>); when it holds a value, moves it into `lhs`
// (a declaration such as `auto x` or `UniqueFd fd`, or an lvalue), else
// returns its Status. A statement, not an expression: not for the body of a
// braceless if.
#define KHOD_ASSIGN_OR_RETURN(lhs, rexpr) \
  KHOD_ASSIGN_OR_RETURN_IMPL_(KHOD_STATUS_MACROS_CONCAT_(_khod_result_, __COUNTER__), lhs, rexpr)

#define KHOD_ASSIGN_OR_RETURN_IMPL_(result, lhs, rexpr) \
  auto result = (rexpr);                                \
  if (!result.ok()) return result.status();             \
  lhs = std::move(result.value())

#define KHOD_STATUS_MACROS_CONCAT_INNER_(a, b) a##b
#define KHOD_STATUS_MACROS_CONCAT_(a, b) KHOD_STATUS_MACROS_CONCAT_INNER_(a, b)

#endif  // KHOD_COMMON_STATUS_MACROS_H_
