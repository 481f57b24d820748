// A verify's result as khod's gRPC VerifyReply, and the verdict read back
// from one: khod's Verify and `khoctl verify FILE --pid P` fill the same
// reply, so both forms print and exit the same way (khoctl/status_report.h).
#ifndef KHOD_VERIFY_VERIFY_REPLY_H_
#define KHOD_VERIFY_VERIFY_REPLY_H_

#include <cstdint>
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

// Every difference the reply's verify found: its entries, but for a list cut
// at its limit, whose kListCut entry (verify/snapshot_diff.h) is none of them
// and says how many there were in all ("3000 differences in all"). The
// reply has no field of its own for it.
uint64_t DifferenceCount(const v1::VerifyReply& r);

}  // namespace khod

#endif  // KHOD_VERIFY_VERIFY_REPLY_H_
