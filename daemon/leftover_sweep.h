// The start-up sweep of what a killed khod leaves in its state directory:
// files of the exact names khod writes there that the durable session record
// does not name (the rule, kill point by kill point, is at SweepLeftovers in
// leftover_sweep.cc). Session::Open runs it once its record is read, checked
// and written again; a sweep that cannot remove something says so and khod
// starts all the same.
#ifndef KHOD_DAEMON_LEFTOVER_SWEEP_H_
#define KHOD_DAEMON_LEFTOVER_SWEEP_H_

#include <string>
#include <vector>

#include "common/safe_file.h"

namespace khod {

// The name of the default handover root in the state dir (khod
// --handover-root unset: <state-dir>/handover).
constexpr char kDefaultHandoverRootName[] = "handover";

// What the durable record names, as the sweep needs it.
struct RecordedNames {
  std::string prepared_blob;  // in the state dir; "" none
  std::string frozen_blob;    // in the state dir; "" none
  // A dir handover stands (phase HANDED_OVER, RESTORED or VERIFIED, transport
  // DIR): handover_dir's handover.blob is what Restore reads.
  bool dir_handover_stands = false;
  std::string handover_dir;  // the record's: a name beneath the root, "" the root itself
};

// One entry the sweep met: its path relative to the state dir ("frozen-9.blob",
// "handover/pmem0/handover.blob") and why it went, stayed or could not go.
struct SweptEntry {
  std::string path;
  std::string why;
};

struct SweepReport {
  std::vector<SweptEntry> removed;  // unlinked
  std::vector<SweptEntry> kept;     // left on purpose: not provably a khod leftover
  std::vector<SweptEntry> failed;   // to be removed, but listing or unlinking it failed
};

// Removes the leftovers beneath `state_dir` that `named` does not name: the
// state dir's session blobs, and, where `handover_root` is the state dir's own
// "handover" directory, its handover blobs and their cut writes. Never
// follows a link, never leaves the state dir, never removes a directory.
SweepReport SweepLeftovers(const SafeDir& state_dir, const SafeDir& handover_root,
                           const RecordedNames& named);

// Prepare's draft (frozen-draft.blob in `state_dir`) alone, judged as
// SweepLeftovers judges it: no record ever names it and only the process
// that wrote it uses it, so it may go at any instant, before any record is
// written too. Session::Open removes it before its first record write, and
// Prepare and Cancel before theirs: on a full state dir its room (a frozen
// blob's) is what that write needs.
SweepReport SweepFrozenDraft(const SafeDir& state_dir);

// The regular files of the names a session writes (those SweepLeftovers
// judges: the state dir's prepared-G.blob, frozen-G.blob and
// frozen-draft.blob; handover.blob and handover.blob.tmp in `handover_root`
// and in each directory directly beneath it that opens as a safe one,
// wherever the root is), each as a path relative to the state dir
// ("frozen-9.blob", "handover/pmem0/handover.blob") or, beneath a root
// elsewhere, as its full path. Where no record is, they are an earlier
// session's (its record moved aside or removed: a crash never removes the
// record), and a new session would write over them or sweep them. An error
// when a directory cannot be listed.
Result<std::vector<std::string>> FindSessionFiles(const SafeDir& state_dir,
                                                  const SafeDir& handover_root);

}  // namespace khod

#endif  // KHOD_DAEMON_LEFTOVER_SWEEP_H_
