// The bound on the file bytes a caller other than root may have khod walk
// (docs/SECURITY.md "What a caller may act on"). A capture walks a file by
// its size, and a sparse memfd of 8 EiB costs nothing to make and hours to
// capture, inside root's Prepare and Freeze as well as the caller's: such a
// caller attaches no more than the host's RAM and swap in all, and a file of
// its that grew since its Attach is captured by no one. Root's own files are
// not bounded.
#ifndef KHOD_DAEMON_CALLER_BYTES_H_
#define KHOD_DAEMON_CALLER_BYTES_H_

#include <cstdint>
#include <map>
#include <string>

#include "common/status.h"
#include "daemon/caller_access.h"
#include "daemon/session_record.pb.h"

namespace khod {

// OK when `caller` may attach `adding` more bytes (`what`: "a MODEL guest",
// "fd 7 of pid 42"), its gmems in `record` counted at their `sizes` (token ->
// bytes); RESOURCE_EXHAUSTED naming the bound otherwise.
Status CheckCallerBytes(const PeerCred& caller, const v1::SessionRecord& record,
                        const std::map<uint64_t, uint64_t>& sizes, uint64_t adding,
                        const std::string& what);

// OK unless `gmem` belongs to a caller other than root and the file `fd`
// holds more bytes than when its Attach counted them (attached_bytes; in a
// record before it, `taken_bytes`, the size at its take): FAILED_PRECONDITION
// naming both sizes and the way out (detach, attach again).
Status CheckNotGrown(const v1::GmemAttachment& gmem, int fd, uint64_t taken_bytes);

}  // namespace khod

#endif  // KHOD_DAEMON_CALLER_BYTES_H_
