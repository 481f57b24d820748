// What a blob of an older minor version says of what it does not hold
// (docs/FORMAT.md "Versions and compatibility"): one rule per minor, applied
// by both decoders to what they decoded, before the invariants are checked.
//
// A field a minor added reads, in an older blob, as what the producer of
// that blob observed, never as more: a rule may only take a claim away.
#ifndef KHOD_SERIALIZER_OLDER_MINORS_H_
#define KHOD_SERIALIZER_OLDER_MINORS_H_

#include "state/snapshot.h"

namespace khod {

// Format 1.0 and 1.1 producers never saw a kernel policy's home node (no
// syscall or /proc file shows it): a kernel file's policy whose mode can hold
// one reads as home node not seen (-1), whatever the blob names; of another
// mode, as none. A MODEL or synthetic file's home node stays what it says.
void ApplyOlderMinorRules(Snapshot* snap);

}  // namespace khod

#endif  // KHOD_SERIALIZER_OLDER_MINORS_H_
