#include "restore/gmem_restore.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "restore/gmem_flags.h"
#include "restore/policy_restore.h"

namespace khod {
namespace {

// A gmem the record does not declare: as the snapshot describes it.
GmemDeclaration DeclarationOfFrozen(const GuestMemfd& g) {
  GmemDeclaration d;
  d.token = g.token;
  d.name = g.name;
  d.vm_token = g.vm_token;
  d.gmem_flags = g.flags;
  d.attributes = g.attributes;
  return d;
}

std::string GmemNote(uint64_t token, const std::string& text) {
  return "gmem " + std::to_string(token) + ": " + text;
}

}  // namespace

const char* GmemRestoreWayName(GmemRestoreWay way) {
  switch (way) {
    case GmemRestoreWay::kHeldModel:
      return "held model";
    case GmemRestoreWay::kModel:
      return "model";
    case GmemRestoreWay::kAdopt:
      return "adopt";
    case GmemRestoreWay::kIntoTarget:
      return "into target";
    case GmemRestoreWay::kRebuild:
      return "rebuild";
  }
  return "?";
}

GmemRestoreWay ChooseGmemRestore(const GuestMemfd& frozen, const GmemRestoreChoice& c) {
  if (frozen.provenance == Provenance::kModel)
    return c.held_model ? GmemRestoreWay::kHeldModel : GmemRestoreWay::kModel;
  if (c.have_fd && !c.force_rebuild) return GmemRestoreWay::kAdopt;
  if (c.target_offered) return GmemRestoreWay::kIntoTarget;
  return GmemRestoreWay::kRebuild;
}

void GiveBackTaken(RestoredGmems* r, std::map<uint64_t, std::unique_ptr<GmemHandle>>* held,
                   std::map<uint64_t, WarmGmem>* warming) {
  for (uint64_t token : r->from_held) {
    auto it = r->handles.find(token);
    if (it != r->handles.end() && it->second) (*held)[token] = std::move(it->second);
    r->handles.erase(token);
  }
  r->from_held.clear();
  for (const auto& [token, carried_fd] : r->from_warming) {
    auto it = r->handles.find(token);
    if (it != r->handles.end() && it->second)
      (*warming)[token] = WarmGmem{carried_fd, std::move(it->second)};
    r->handles.erase(token);
  }
  r->from_warming.clear();
}

Result<RestoredGmems> RestoreGmems(const Snapshot& frozen, GmemRestoreInputs& in,
                                   GmemOpener* opener) {
  std::map<uint64_t, std::unique_ptr<GmemHandle>> no_held;
  std::map<uint64_t, WarmGmem> no_warming;
  std::map<uint64_t, RebuildTarget> no_targets;
  auto& held = in.held ? *in.held : no_held;
  auto& warming = in.warming ? *in.warming : no_warming;
  auto& targets = in.targets ? *in.targets : no_targets;
  const uint32_t page_size = frozen.header.page_size;
  // One read of the shared policies of every shmem file khod holds answers
  // for all adopted files (inside the blackout).
  SharedPolicyCache policies;

  RestoredGmems r;
  // Nothing restored stands unless every gmem is: what was taken goes back.
  auto refuse = [&](Status why) -> Result<RestoredGmems> {
    GiveBackTaken(&r, &held, &warming);
    return why;
  };
  // The fd a gmem comes back from (-1: none) and the choice it makes.
  auto choice_of = [&](const GuestMemfd& g, int* fd) {
    auto own = held.find(g.token);
    auto carried = in.carried.find(g.token);
    *fd = carried != in.carried.end() ? carried->second : -1;
    // Same process, transport without fds (dir): the attached file is still here.
    if (*fd < 0 && own != held.end() && own->second->fd >= 0) *fd = own->second->fd;
    GmemRestoreChoice c;
    c.held_model = own != held.end() && own->second->is_model;
    c.have_fd = *fd >= 0;
    c.force_rebuild = in.force_rebuild;
    c.target_offered = targets.count(g.token) > 0;
    return c;
  };
  // The flags a rebuild creates the file with: only bits the VMM declared at
  // Attach (the record's declaration; gmem_flags 0 declares nothing) or the
  // capture observed, never a guessed one.
  auto rebuild_flags_of = [&](const GuestMemfd& g) -> Result<uint64_t> {
    auto declared = in.declared.find(g.token);
    std::optional<uint64_t> declared_flags;
    if (declared != in.declared.end() && declared->second.gmem_flags != 0)
      declared_flags = declared->second.gmem_flags;
    Result<uint64_t> flags = RebuildGmemFlags(g, declared_flags);
    if (!flags.ok()) return flags.status().WithContext("Restore");
    return flags;
  };
  // Decided for every rebuild before any gmem is touched: one that cannot
  // be refuses the restore with nothing taken.
  for (const GuestMemfd& g : frozen.gmems) {
    int fd;
    if (ChooseGmemRestore(g, choice_of(g, &fd)) != GmemRestoreWay::kRebuild) continue;
    if (Result<uint64_t> flags = rebuild_flags_of(g); !flags.ok()) return flags.status();
  }
  for (const GuestMemfd& g : frozen.gmems) {
    auto declared = in.declared.find(g.token);
    const GmemDeclaration decl =
        declared != in.declared.end() ? declared->second : DeclarationOfFrozen(g);
    auto own = held.find(g.token);
    int fd;
    const GmemRestoreChoice c = choice_of(g, &fd);
    // Came through the transport (not one of this process's own handles).
    auto carried = in.carried.find(g.token);
    const bool via_transport = carried != in.carried.end() && carried->second >= 0;

    Result<std::unique_ptr<GmemHandle>> h = Status::Internal("unreached");
    switch (ChooseGmemRestore(g, c)) {
      case GmemRestoreWay::kHeldModel:
        // Same process (no exec happened): the model guest never went away.
        h = std::move(own->second);
        held.erase(own);
        r.from_held.push_back(g.token);
        ++r.model;
        break;
      case GmemRestoreWay::kModel:
        h = opener->RestoreModel(g);
        ++r.model;
        break;
      case GmemRestoreWay::kAdopt: {
        // The very file Attach took, where the medium keeps inodes (reexec):
        // checked before anything is adopted, warm or not.
        if (auto want = in.carried_inodes.find(g.token);
            via_transport && want != in.carried_inodes.end() && want->second != 0) {
          struct stat st;
          if (::fstat(fd, &st) != 0)
            return refuse(Status::FromErrno("Restore gmem " + std::to_string(g.token) +
                                                ": stat carried fd " + std::to_string(fd),
                                            errno));
          if (static_cast<uint64_t>(st.st_ino) != want->second)
            return refuse(Status::FailedPrecondition(
                "Restore gmem " + std::to_string(g.token) + ": the carried fd " +
                std::to_string(fd) + " is inode " + std::to_string(st.st_ino) + ", not inode " +
                std::to_string(want->second) +
                " recorded at Attach: not the file the previous khod held (a reexec keeps "
                "the same files); nothing was restored, every fd is still held "
                "(force_rebuild rebuilds instead)"));
        }
        if (c.target_offered)
          r.notes.push_back(GmemNote(g.token, "the offered " + targets.at(g.token).what +
                                                  " is not used, the carried fd was adopted"));
        auto warm = warming.find(g.token);
        if (via_transport && warm != warming.end() && warm->second.carried_fd == fd) {
          // Adopted (a dup, with the same declaration) at startup, populating since.
          h = std::move(warm->second.handle);
          r.from_warming[g.token] = warm->second.carried_fd;
          warming.erase(warm);
        } else {
          // A dup: the received fd stays the caller's, whatever happens next.
          const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
          if (dup < 0) return refuse(Status::FromErrno("dup received fd", errno));
          h = opener->Adopt(decl, dup);
          if (h.ok() && via_transport && in.holder_pid > 0)
            (*h)->source->UsePagesMappedBy(in.holder_pid);
        }
        if (h.ok() && g.kind == FileKind::kGuestMemfd && g.provenance != Provenance::kModel)
          r.notes.push_back(GmemNote(
              g.token,
              "adopted: the same file, still the guest_memfd of the VM it was made on (the "
              "file keeps that VM alive): the VMM that holds that VM goes on with it, but a new "
              "VM cannot bind it (KVM binds a guest_memfd to its own VM only), and a rebuild "
              "into a file offered from a new VM (force_rebuild, rebuild_into) starts with new, "
              "empty memory"));
        if (h.ok()) {
          (*h)->how = "adopted fd " + std::to_string(fd);
          // memfd LUO resets the policy: brought back as for a rebuild.
          (*h)->policy = via_transport && in.carried_resets_mempolicy
                             ? RestorePolicy((*h)->fd, g, page_size)
                             : PolicyOfAdopted((*h)->fd, g, page_size, &policies);
        }
        ++r.adopted;
        break;
      }
      case GmemRestoreWay::kIntoTarget: {
        RebuildTarget& t = targets.at(g.token);
        h = opener->Adopt(decl, t.fd.release());
        if (h.ok()) {
          (*h)->how = "rebuilt into the VMM's " + t.what;
          (*h)->new_memory = true;
          (*h)->policy = RestorePolicy((*h)->fd, g, page_size);
        }
        ++r.rebuilt;
        break;
      }
      case GmemRestoreWay::kRebuild: {
        Result<uint64_t> flags = rebuild_flags_of(g);
        if (!flags.ok()) return refuse(flags.status());
        h = opener->Rebuild(decl, RebuildDescription(g, *flags));
        if (h.ok()) {
          (*h)->how = "rebuilt";
          (*h)->new_memory = !(*h)->is_model;
        }
        if (h.ok() && !(*h)->is_model) (*h)->policy = RestorePolicy((*h)->fd, g, page_size);
        if (h.ok() && g.kind == FileKind::kGuestMemfd && g.provenance != Provenance::kModel)
          r.notes.push_back(
              GmemNote(g.token,
                       "rebuilt on a VM of khod's own, which the VMM cannot bind (KVM binds a "
                       "guest_memfd to the VM it was made on); offer one made on the VMM's VM in "
                       "rebuild_into"));
        ++r.rebuilt;
        break;
      }
    }
    if (!h.ok()) return refuse(h.status().WithContext("Restore gmem " + std::to_string(g.token)));
    // In `r` before any check: a held MODEL guest refused here goes back too.
    const GmemHandle& got = *(r.handles[g.token] = std::move(*h));
    if (got.size != g.size)
      return refuse(Status::FailedPrecondition("Restore gmem " + std::to_string(g.token) +
                                               ": size " + std::to_string(got.size) +
                                               " but the snapshot says " + std::to_string(g.size)));
    // Never "re-applied" unless it was: kept, handed to the VMM, or why not.
    if (!got.policy.note.empty()) r.notes.push_back(GmemNote(g.token, got.policy.note));
  }
  return r;
}

}  // namespace khod
