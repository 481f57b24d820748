// Verify: is the restored state the frozen one? Captures of the restored
// objects are compared with the snapshot that was handed over using the
// shared snapshot diff (verify/snapshot_diff.h), and the restored snapshot
// must pass the shared invariant checker. "Memory stayed in place" means the
// folio list with its PFNs is equal; where the frozen snapshot hashed
// contents, the restored capture must carry equal hashes.
#ifndef KHOD_RESTORE_VERIFY_RESTORED_H_
#define KHOD_RESTORE_VERIFY_RESTORED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "state/snapshot.h"
#include "verify/snapshot_diff.h"
#include "verify/verify_counts.h"

namespace khod {

struct RestoreVerdict {
  std::vector<Difference> differences;  // diff and invariant violations
  uint64_t pages_compared = 0;  // resident pages in the frozen folio lists
  uint64_t pfns_compared = 0;   // of those, pages whose PFN was known
  uint64_t hashes_compared = 0;
  VerifyCounts counts;          // the same, real (kernel) and MODEL apart
  bool equal() const { return differences.empty(); }
};

RestoreVerdict VerifyRestored(const Snapshot& frozen, const Snapshot& restored);

}  // namespace khod

#endif  // KHOD_RESTORE_VERIFY_RESTORED_H_
