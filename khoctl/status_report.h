// Text forms of khod's replies, shared by khoctl and the rehearsal report.
#ifndef KHOD_KHOCTL_STATUS_REPORT_H_
#define KHOD_KHOCTL_STATUS_REPORT_H_

#include <string>

#include "proto/khod.pb.h"

namespace khod {

// Every text of a khod reply below is shown as common/printable.h escapes
// it (bytes outside printable ASCII, and the backslash, as \xNN): names and
// notes come from callers and files, and one line of a reply must not forge
// another, or an escape sequence, on root's terminal. Lines are built whole,
// never cut at a width. (--json prints the reply as it is: JSON's own
// escaping, khoctl/proto_json.h.)

// Phase, session, recovery, reexec timeline, owner, gmems (each with the
// uid that attached it), per-phase durations, blob sizes, verdict.
std::string FormatStatus(const v1::StatusReply& s);
// `khoctl fds`: "TOKEN NAME KIND PID FD OWNER" and a line per gmem (columns
// padded, a longer text pushing the rest on), then a line per NUMA range the
// VMM mbinds itself ("policy for the VMM: gmem 1 pages 0-511 bind nodes=0").
std::string FormatFds(const v1::StatusReply& s);
// Whose session it is, from its gmems' owner_uid: "uid 0 (root)", "uid
// 65534"; "" with no gmem (or from a khod that does not say).
std::string SessionOwnerText(const v1::StatusReply& s);
// "EQUAL: <real PFNs> ...; MODEL: ..." then one line per difference as
// verify/snapshot_diff.h spells it ("  gmem 0x2a 'ram0': folios pages 256-511:
// expected hole, found ..."; a list cut at its limit ends with "  (list cut:
// 1000 shown of 1867 differences)"), or
// "NOT VERIFIED: no difference where observable ..." then one line per gmem
// with parts that were not verified (verify/verdict.h).
std::string FormatVerify(const v1::VerifyReply& v);
// Prints the reply (text, or with `json` khoctl/proto_json.h's JSON) and
// returns its exit code: 0 equal, 1 different, 3 not verified (2: no JSON).
int PrintVerifyReply(const v1::VerifyReply& v, bool json);
// "12.3 ms"
std::string FormatNanos(uint64_t ns);
std::string FormatBytes(uint64_t n);

}  // namespace khod

#endif  // KHOD_KHOCTL_STATUS_REPORT_H_
