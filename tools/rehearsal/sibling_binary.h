// A binary built in the same bazel configuration as the running one:
// <bin>/<own_dir>/<me> -> <bin>/<rel>. Resolved from /proc/self/exe, not
// argv[0] (a bare name, or bazel-bin, which points at whichever
// configuration was built last), so an opt tool runs the opt khod.
#ifndef KHOD_TOOLS_REHEARSAL_SIBLING_BINARY_H_
#define KHOD_TOOLS_REHEARSAL_SIBLING_BINARY_H_

#include <string>

namespace khod {

// "" when the running binary is not under a directory `own_dir`
// ("bench", "tools/rehearsal"). Whether <bin>/<rel> exists is the caller's check.
std::string SiblingBinary(const std::string& own_dir, const std::string& rel);

}  // namespace khod

#endif  // KHOD_TOOLS_REHEARSAL_SIBLING_BINARY_H_
