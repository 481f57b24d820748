// What every fuzzer's oracle does beyond "no crash": a broken rule is said on
// stderr (which oracle, the rule, the input's detail) and aborts, and libFuzzer
// keeps the input as a crash. Each fuzzer names its oracle once:
//   [[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
//     OracleFail("proc text", what, detail);
//   }
#ifndef KHOD_FUZZ_ORACLE_H_
#define KHOD_FUZZ_ORACLE_H_

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/status.h"

namespace khod {

// "<oracle> oracle: <what>: <detail>" (at most 200 bytes of the detail).
[[noreturn]] inline void OracleFail(const char* oracle, const std::string& what,
                                    std::string_view detail = {}) {
  std::fprintf(stderr, "%s oracle: %s%s%.*s\n", oracle, what.c_str(), detail.empty() ? "" : ": ",
               static_cast<int>(std::min<size_t>(detail.size(), 200)), detail.data());
  std::abort();
}

// A refusal names what is wrong: one without a message breaks the rule.
inline void RequireMessage(const char* oracle, const Status& st, const char* what) {
  if (!st.ok() && st.message().empty())
    OracleFail(oracle, std::string(what) + " refused without a message", st.ToString());
}

// How many fds this process has open (a call that leaks one shows here).
inline int OpenFdCount() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) OracleFail("fd", "opendir /proc/self/fd");
  int n = 0;
  while (::readdir(d) != nullptr) ++n;
  ::closedir(d);
  return n;
}

}  // namespace khod

#endif  // KHOD_FUZZ_ORACLE_H_
