#include "restore/kho_note.h"

namespace khod {

KhoRestoreNote KhoNoteForRestore(const std::string& summary, bool present, bool handed_over_here,
                                 const std::string& debugfs_root) {
  KhoRestoreNote n;
  n.text = summary;
  if (present) return n;
  if (handed_over_here) {
    n.text += " (no kexec happened: this khod made the handover itself)";
    return n;
  }
  n.warning = "warning: the handover was luo but this kernel shows no KHO incoming tree under " +
              debugfs_root + "/kho/in: was it booted by a KHO kexec, with debugfs mounted at " +
              debugfs_root + "?";
  n.text += "; " + n.warning;
  return n;
}

}  // namespace khod
