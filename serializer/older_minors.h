// What a blob of an older minor version says of what it does not hold
// (docs/FORMAT.md "Versions and compatibility"): one rule per minor, applied
// by both decoders to what they decoded, before the invariants are checked.
//
// A field a minor added reads, in an older blob, as what the producer of
// that blob observed, never as more: a rule may only take a claim away.
// Every rule is of kernel files only: a MODEL or synthetic file's state says
// what it was given, not what a capture saw, and reads as it is.
#ifndef KHOD_SERIALIZER_OLDER_MINORS_H_
#define KHOD_SERIALIZER_OLDER_MINORS_H_

#include "state/snapshot.h"

namespace khod {

// Format 1.0 and 1.1 producers never saw a kernel policy's home node (no
// syscall or /proc file shows it): a kernel file's policy whose mode can hold
// one reads as home node not seen (-1), whatever the blob names; of another
// mode, as none.
//
// Format 1.0 to 1.2 producers never read a kernel file's whole shared policy:
// what they recorded as its inode policy was get_mempolicy at one page (for a
// HugeTLB memfd, which keeps no shared policy, khod's own mapping's). A
// kernel file's inode policy (policy_source inode) reads as policy_source
// unknown, the policy the default (as the observation invariants want of a
// source other than inode), with policy_unread saying why. An inode policy
// that breaks the invariants is left as it is, for them to refuse.
//
// Format 1.0 producers had no flags_known: a kernel guest_memfd's creation
// flags read as none shown by the kernel (flags_known 0), its `flags` then
// only a declaration. Its visibility (none recorded: every page in full) is
// left: what a 1.0 capture saw of a guest_memfd's pages is not known, and the
// blob's known PFNs and hashes are consistent only with full.
void ApplyOlderMinorRules(Snapshot* snap);

}  // namespace khod

#endif  // KHOD_SERIALIZER_OLDER_MINORS_H_
