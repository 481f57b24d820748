// What the VMMs declared, as the session record holds it (names, VMs and
// memslots, flags, attribute ranges), in the domain's types, and the one
// check of it.
#ifndef KHOD_DAEMON_SESSION_DECLARATIONS_H_
#define KHOD_DAEMON_SESSION_DECLARATIONS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "daemon/session_record.pb.h"
#include "restore/gmem_opener.h"
#include "state/snapshot.h"

namespace khod {

// One attached gmem's declaration, as its opener takes it.
GmemDeclaration DeclarationOf(const v1::GmemAttachment& a);

// The VMs of the snapshot, with the memslots the VMMs declared at attach.
std::vector<Vm> VmsOf(const v1::SessionRecord& r);

// The one check of what VMMs declare (names, sizes, VMs and memslots,
// attribute ranges): the snapshot invariant checker (state/invariants.h),
// which Prepare and Freeze run again on every capture, here on the
// declarations alone, before anything is recorded, and the request limits
// (daemon/request_limits.h) on the session as a whole. `sizes`: each gmem's
// size in bytes. INVALID_ARGUMENT saying what is wrong, prefixed by `op`: it
// is the caller's declaration, not a corrupt state; RESOURCE_EXHAUSTED where
// the session as a whole would pass a limit of its own (totals, record size).
Status CheckDeclared(const v1::SessionRecord& r, const std::map<uint64_t, uint64_t>& sizes,
                     const std::string& op);

}  // namespace khod

#endif  // KHOD_DAEMON_SESSION_DECLARATIONS_H_
