// What Restore says of KHO's incoming tree after a luo handover: the tree as
// the kernel shows it (handover/kho_debugfs.h), said to be none of the
// handover's doing when this khod made the handover itself, or a warning when
// a luo handover finds no tree at all (not booted by a KHO kexec, or debugfs
// elsewhere). Reported, never acted on.
#ifndef KHOD_RESTORE_KHO_NOTE_H_
#define KHOD_RESTORE_KHO_NOTE_H_

#include <string>

namespace khod {

struct KhoRestoreNote {
  std::string text;     // for Restore's reply: the summary, then what it means
  std::string warning;  // also for khod's log; empty: nothing to warn of
};

// `summary`: KhoIncoming::Summary(), or why the tree is unusable; `present`:
// a tree was found (an unusable one included); `handed_over_here`: this
// process made the handover it restores (no kexec happened).
KhoRestoreNote KhoNoteForRestore(const std::string& summary, bool present, bool handed_over_here,
                                 const std::string& debugfs_root);

}  // namespace khod

#endif  // KHOD_RESTORE_KHO_NOTE_H_
