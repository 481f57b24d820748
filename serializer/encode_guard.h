// Encoders write only snapshots that pass CheckInvariants, so a blob never
// carries state the decoders (or the next kernel) would refuse.
#ifndef KHOD_SERIALIZER_ENCODE_GUARD_H_
#define KHOD_SERIALIZER_ENCODE_GUARD_H_

#include <string>

#include "common/status.h"
#include "state/invariants.h"

namespace khod {

// InvalidArgument (the caller's snapshot is wrong, not a blob) naming the
// first violations, or OK.
inline Status RefuseInvalid(const Snapshot& snap, const char* who) {
  const Status s = InvariantsStatus(snap);
  if (s.ok()) return s;
  return Status::InvalidArgument(std::string(who) + ": refusing snapshot: " + s.message());
}

}  // namespace khod

#endif  // KHOD_SERIALIZER_ENCODE_GUARD_H_
