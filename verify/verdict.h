// The verdict of a verify, the same everywhere it is shown (khoctl verify in
// both forms, Status's verdict, Restore, the rehearsal):
//   equal          everything was observed, and is equal          exit 0
//   different      a difference was seen                          exit 1
//   not verified   no difference where observable; the parts the  exit 3
//                  host could not or did not observe are named
//                  (their pages, or what of them: contents not
//                  hashed, a policy not read)
// (exit 2 stays "error": no verdict at all.)
#ifndef KHOD_VERIFY_VERDICT_H_
#define KHOD_VERIFY_VERDICT_H_

#include <string>
#include <vector>

#include "verify/snapshot_diff.h"
#include "verify/verify_counts.h"

namespace khod {

enum class Verdict { kEqual, kDifferent, kNotVerified };

Verdict VerdictOf(bool any_difference, bool any_unverified);
inline Verdict VerdictOf(const SnapshotDiff& d) {
  return VerdictOf(!d.differences.empty(), !d.unverified.empty());
}
// 0, 1 or 3.
int VerdictExitCode(Verdict v);
// "EQUAL", "DIFFERENT", "NOT VERIFIED".
const char* VerdictName(Verdict v);

// "gmem 0x2 'gmem_private': 65536 pages: no per-page state visible ...; gmem 0x3 ...".
std::string UnverifiedText(const std::vector<UnverifiedGmem>& u);

// One line for Status's verdict: "equal: <counts>", "3 differences, first:
// <where it is>" (every difference, listed or not: SnapshotDiff::
// difference_count; its values, maybe PFNs, are left to the Verify reply), or
// "no difference where observable (<counts>); not verified: <what>".
std::string VerdictLine(const SnapshotDiff& d, const VerifyCounts& c);

}  // namespace khod

#endif  // KHOD_VERIFY_VERDICT_H_
