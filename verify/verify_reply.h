// A verify's result as khod's gRPC VerifyReply, and the verdict read back
// from one: khod's Verify and `khoctl verify FILE --pid P` fill the same
// reply, so both forms print and exit the same way (khoctl/status_report.h).
#ifndef KHOD_VERIFY_VERIFY_REPLY_H_
#define KHOD_VERIFY_VERIFY_REPLY_H_

#include <vector>

#include "proto/khod.pb.h"
#include "verify/snapshot_diff.h"
#include "verify/verdict.h"
#include "verify/verify_counts.h"

namespace khod {

// Sets every field of `r` from the diff and what it compared.
void FillVerifyReply(const SnapshotDiff& d, const VerifyCounts& c, v1::VerifyReply* r);

// The reply's unverified parts, and its verdict (a khod from before the
// unverified fields: equal or different only).
std::vector<UnverifiedGmem> UnverifiedOf(const v1::VerifyReply& r);
Verdict VerdictOf(const v1::VerifyReply& r);

}  // namespace khod

#endif  // KHOD_VERIFY_VERIFY_REPLY_H_
