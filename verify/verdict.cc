#include "verify/verdict.h"

namespace khod {

Verdict VerdictOf(bool any_difference, bool any_unverified) {
  if (any_difference) return Verdict::kDifferent;
  return any_unverified ? Verdict::kNotVerified : Verdict::kEqual;
}

int VerdictExitCode(Verdict v) {
  switch (v) {
    case Verdict::kEqual:
      return 0;
    case Verdict::kDifferent:
      return 1;
    case Verdict::kNotVerified:
      return 3;
  }
  return 1;
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kEqual:
      return "EQUAL";
    case Verdict::kDifferent:
      return "DIFFERENT";
    case Verdict::kNotVerified:
      return "NOT VERIFIED";
  }
  return "?";
}

std::string UnverifiedText(const std::vector<UnverifiedGmem>& u) {
  std::string s;
  for (size_t i = 0; i < u.size(); ++i) s += (i ? "; " : "") + u[i].ToString();
  return s;
}

std::string VerdictLine(const SnapshotDiff& d, const VerifyCounts& c) {
  switch (VerdictOf(d)) {
    case Verdict::kEqual:
      return "equal: " + VerifyCountsText(c, /*equal=*/true);
    case Verdict::kDifferent:
      // Where, not the values: Status shows this line to every caller it
      // lets in, and the values may be PFNs, which are root's alone (the
      // Verify reply has them, for its caller).
      // Every difference, not the entries of a list cut at its limit.
      return std::to_string(d.difference_count()) +
             " differences, first: " + d.differences.front().Where();
    case Verdict::kNotVerified:
      break;
  }
  return "no difference where observable (" + VerifyCountsText(c, /*equal=*/true) +
         "); not verified: " + UnverifiedText(d.unverified);
}

}  // namespace khod
