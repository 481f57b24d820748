// RestoreGmems: how each guest_memfd of a frozen snapshot comes back on the
// new side of a handover, and the notes that tell the VMM how it came back.
//
// Per gmem, the first way that applies (ChooseGmemRestore):
//   kHeldModel  a MODEL guest this process still holds (no exec happened): taken as it is
//   kModel      a MODEL guest from elsewhere: re-created by the opener with the frozen state
//   kAdopt      a file carried by the transport, or one this process still holds, unless a
//               rebuild is forced: the same file, so the same memory and PFNs
//   kIntoTarget a guest_memfd the restarted VMM offered (rebuild_into): new memory, on a
//               VM the VMM can bind
//   kRebuild    a new file of the same kind, size and flags made by the opener: new memory
// A file that comes back with another size than the frozen one's refuses the restore.
// A rebuild creates a guest_memfd only with creation flags known of the frozen
// one: observed by the capture, or declared at Attach (RebuildGmemFlags,
// restore/gmem_flags.h). One that would need a bit neither declared nor
// observed refuses the restore before any gmem is touched, naming the gmem,
// the bits and the way out (an offer in rebuild_into).
#ifndef KHOD_RESTORE_GMEM_RESTORE_H_
#define KHOD_RESTORE_GMEM_RESTORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "restore/gmem_opener.h"
#include "restore/rebuild_target.h"
#include "state/snapshot.h"

namespace khod {

enum class GmemRestoreWay { kHeldModel, kModel, kAdopt, kIntoTarget, kRebuild };

// "held model", "model", "adopt", "into target", "rebuild".
const char* GmemRestoreWayName(GmemRestoreWay way);

// What there is to bring one frozen gmem back from.
struct GmemRestoreChoice {
  bool held_model = false;      // this process holds it as a MODEL guest
  bool have_fd = false;         // a carried fd, or this process's own attached file
  bool force_rebuild = false;   // RestoreRequest.force_rebuild
  bool target_offered = false;  // the VMM offered a guest_memfd for it
};

GmemRestoreWay ChooseGmemRestore(const GuestMemfd& frozen, const GmemRestoreChoice& c);

// A carried file adopted at start-up and populating since (the warm-ups):
// Restore takes it when it is still the carried fd.
struct WarmGmem {
  int carried_fd = -1;
  std::unique_ptr<GmemHandle> handle;
};

// Everything the new side brings the gmems back from. The maps are the
// caller's: RestoreGmems takes out of `held` and `warming` what it uses and
// releases the fds of the `targets` it uses.
struct GmemRestoreInputs {
  // token -> the declaration the record holds; a gmem not there is declared
  // as the snapshot describes it.
  std::map<uint64_t, GmemDeclaration> declared;
  // token -> fd received over the transport; borrowed (adopted as a dup).
  std::map<uint64_t, int> carried;
  // token -> the inode a carried fd must be: where the transport carries the
  // very files attached (reexec, same boot: HandoverTransport::keeps_inodes),
  // the inode Attach recorded (GmemAttachment.inode). A carried fd of another
  // inode refuses the restore before anything is adopted, naming both. Empty
  // (LUO: a kexec gives new inodes) or a token absent or 0: not compared.
  std::map<uint64_t, uint64_t> carried_inodes;
  // The transport resets a carried file's NUMA policy (memfd LUO): it is
  // brought back as for a rebuilt file.
  bool carried_resets_mempolicy = false;
  // This process's attached gmems (it also sent the handover).
  std::map<uint64_t, std::unique_ptr<GmemHandle>>* held = nullptr;
  std::map<uint64_t, WarmGmem>* warming = nullptr;
  std::map<uint64_t, RebuildTarget>* targets = nullptr;  // checked offers
  bool force_rebuild = false;
  // The previous khod's mapping holder (reexec): a carried file adopted now
  // reads its PFNs through that process's page tables. -1: none.
  int holder_pid = -1;
};

struct RestoredGmems {
  std::map<uint64_t, std::unique_ptr<GmemHandle>> handles;  // by token
  // MODEL guests moved out of `held`, and warm handles out of `warming` (by
  // token, with the carried fd each was warmed from): GiveBackTaken returns
  // them when the restore does not stand.
  std::vector<uint64_t> from_held;
  std::map<uint64_t, int> from_warming;
  size_t adopted = 0, rebuilt = 0, model = 0;
  // What the VMM must know about individual gmems ("gmem 3: rebuilt on a VM
  // of khod's own ..."), in snapshot order.
  std::vector<std::string> notes;
};

// Brings every gmem of `frozen` back, in snapshot order. On an error no gmem
// is restored: what was taken out of `held` is back in it.
Result<RestoredGmems> RestoreGmems(const Snapshot& frozen, GmemRestoreInputs& in,
                                   GmemOpener* opener);

// What `r` took out of `held` (MODEL guests) and `warming` (handles adopted
// and warmed at start-up, with the pins a reexec passed on) goes back in.
void GiveBackTaken(RestoredGmems* r, std::map<uint64_t, std::unique_ptr<GmemHandle>>* held,
                   std::map<uint64_t, WarmGmem>* warming);

}  // namespace khod

#endif  // KHOD_RESTORE_GMEM_RESTORE_H_
