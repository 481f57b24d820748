// AssembleSnapshot: the one place a Snapshot is put together from the files
// being captured, for khoctl capture (capture/snapshot_capture.h) and for the
// session (Prepare, Freeze, Verify, GetSnapshot): one header made now, each
// file captured in turn under the identity the caller gives it, the VMs.
#ifndef KHOD_CAPTURE_SNAPSHOT_ASSEMBLY_H_
#define KHOD_CAPTURE_SNAPSHOT_ASSEMBLY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "capture/gmem_source.h"
#include "common/status.h"
#include "kernel/meminfo.h"
#include "state/snapshot.h"

namespace khod {

// The snapshot's name for a file, whatever its source calls it (the session's
// token, the VMM's name and VM).
struct GmemIdentity {
  uint64_t token = 0;
  std::string name;
  uint64_t vm_token = 0;
};

struct SnapshotPart {
  GmemSource* source = nullptr;  // borrowed
  CaptureOptions options;        // its `progress` counts this file's pages
  // Replaces the token, name and VM the source filled in; unset: the source's.
  std::optional<GmemIdentity> identity;
  std::string what;  // context of a capture error ("capture gmem 3"); empty: none
};

// Captures every part under CurrentSnapshotHeader(), the snapshot's files in
// the parts' order, and appends `vms` as given. The error of the first part
// (in order) that failed is returned (with the part's `what`); nothing else is
// checked: invariants are the caller's to run.
//
// The parts are captured by up to `threads` threads at once (0: the CPUs of
// this process's affinity mask), each taking the next part left, one file of
// each VMM before a second of any (GmemSource::mappings_pid): a round of
// many small files (many VMs) costs a fixed amount per file (its policy, its
// page-table walk, /proc reads), and while the guests are paused the host's
// cores are free (capture_threads.h). Each source is captured by one thread
// only; what parts share is safe to share: the round's ProcessMappingsCache,
// a part's `stats` (summed per part, added in order once all are done) and
// its `progress` (never called by two threads at once). The round's VMM
// policy reads (CaptureStats::vmm_policies_*) are added once to each
// distinct `stats` the parts name.
//
// HardwareCorrupted (capture/flag_reuse.h rule 4) is read from `meminfo_path`
// once before any part and once after all of them, and each part takes the
// first count (CaptureOptions::round_hw_corrupted_kb) instead of reading it
// twice itself. If the second read fails or differs, every part is captured
// again, reading the count for itself (its `progress` then runs twice).
// `hw_corrupted_kb_before` (optional) gets the first count, read before any
// part's pages, or nullopt when it could not be read: what a Freeze records
// as its captures' count.
//
// `witness` (optional, capture/pte_witness.h) is asked whether it holds once
// before any part and once after all of them; the parts get it
// (CaptureOptions::witness) only if it held before, and if it no longer
// holds after, every part is captured again without it. Any redo (the
// HardwareCorrupted one too) is without the witness: nothing checks it after.
Result<Snapshot> AssembleSnapshot(const std::vector<SnapshotPart>& parts, std::vector<Vm> vms,
                                  int threads = 0, const std::string& meminfo_path = kProcMeminfo,
                                  std::optional<uint64_t>* hw_corrupted_kb_before = nullptr,
                                  const PteWitness* witness = nullptr);

}  // namespace khod

#endif  // KHOD_CAPTURE_SNAPSHOT_ASSEMBLY_H_
