// GmemHandle / GmemOpener: how the session gets hold of a guest_memfd (or a
// memfd stand-in, or a model guest) and keeps it open. The opener hides where
// the object comes from - a VMM by pid+fd, an fd adopted across a handover, a
// rebuild from the blob, the model - so the session and restore only see
// GmemSource for capture and an fd for handover. Tests inject a fake opener.
#ifndef KHOD_RESTORE_GMEM_OPENER_H_
#define KHOD_RESTORE_GMEM_OPENER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "capture/gmem_source.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/memory_file.h"
#include "restore/policy_restore.h"
#include "state/snapshot.h"

namespace khod {

// What the VMM declares about a gmem: what the kernel cannot be asked.
struct GmemDeclaration {
  uint64_t token = 0;
  std::string name;
  uint64_t vm_token = 0;
  uint64_t gmem_flags = 0;  // GUEST_MEMFD_FLAG_*; ignored for memfds
  AttributeMap attributes;  // private pages are never touched by capture
  // Adopt: the process whose mappings hold the file's NUMA policy where the
  // kernel keeps no shared one (the VMM a held file was taken from, when its
  // source is re-made); 0: none, the policy is not read (a reexec's new side).
  int mappings_pid = 0;
  // The uid of the caller that attached it (GmemAttachment.owner_uid; a
  // record without one, and a gmem the record does not declare, are root's:
  // 0). Only root's HugeTLB memfds have their holes reserved by khod's
  // capture mapping (KernelSourceOptions::reserve_hugetlb_holes).
  uint32_t owner_uid = 0;
};

struct GmemHandle {
  std::unique_ptr<GmemSource> source;
  int fd = -1;  // borrowed from `source`; -1 for model guests (nothing to hand over)
  FileKind kind = FileKind::kGuestMemfd;
  bool is_model = false;
  uint64_t inode = 0;
  uint64_t size = 0;
  std::string how;       // "taken from pid 12 fd 7", "adopted fd 9", "rebuilt", "MODEL"
  PolicyRestore policy;  // new side: how its NUMA policy came back
  // New side: a kernel file Restore made anew (rebuilt, or into a file the
  // VMM offered): new memory, none of the guest's contents in it.
  bool new_memory = false;
};

// A file taken from a process and identified as a memory file
// (GmemOpener::TakeFromProcess), not yet a handle: FromTaken makes one that
// holds its own dup of `file`, so the taken file is closed where its owner
// drops it, whatever became of the handle.
struct TakenFile {
  int pid = 0;
  int fd = -1;    // its number in that process
  UniqueFd file;  // khod's; none from an opener that takes no kernel file (a test's)
  MemoryFileIdentity identity;
};

struct ModelSpec {
  uint64_t size = 0;
  uint8_t hstate_order = 0;  // 0 buddy, 9 or 18 HugeTLB
  bool populate = false;
};

class GmemOpener {
 public:
  virtual ~GmemOpener() = default;
  // pidfd_open + pidfd_getfd, then an identity check. NotFound for a dead pid
  // or a closed fd, FailedPrecondition for a file that is not a guest_memfd /
  // HugeTLB or shmem memfd, PermissionDenied when the kernel refuses. A
  // refused file is closed off this thread (kernel/memory_file.h
  // TakeMemoryFileFromProcess): its close can wait on the file's filesystem
  // for as long as its server likes (a FUSE FLUSH).
  virtual Result<TakenFile> TakeFromProcess(int pid, int fd) = 0;
  // The handle of a file TakeFromProcess took, captured as `decl` declares.
  // The handle holds a dup of `taken.file`: `taken` stays its owner's to drop.
  virtual Result<std::unique_ptr<GmemHandle>> FromTaken(const GmemDeclaration& decl,
                                                        const TakenFile& taken) = 0;
  // TakeFromProcess, then FromTaken: the file taken is closed before it
  // returns (a memory file's close waits on no server).
  Result<std::unique_ptr<GmemHandle>> TakeHandleFromProcess(const GmemDeclaration& decl, int pid,
                                                            int fd) {
    Result<TakenFile> taken = TakeFromProcess(pid, fd);
    if (!taken.ok()) return taken.status();
    return FromTaken(decl, *taken);
  }
  // An fd this process holds (received over a handover, or a dup of an
  // attached one); takes ownership of `fd`.
  virtual Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration& decl, int fd) = 0;
  virtual Result<std::unique_ptr<GmemHandle>> NewModel(const GmemDeclaration& decl,
                                                       const ModelSpec& spec) = 0;
  // New side: a model guest with exactly the frozen state (the model's restore).
  virtual Result<std::unique_ptr<GmemHandle>> RestoreModel(const GuestMemfd& frozen) = 0;
  // New side without a carried fd: a new object of the same kind, size, flags
  // and mempolicy. Its folios (and so PFNs and contents) are new: verify says so.
  // `frozen` is the gmem as restore describes it for a rebuild
  // (RebuildDescription, restore/gmem_flags.h): no per-page state, and its
  // `flags` the creation flags restore decided, every defined bit known.
  virtual Result<std::unique_ptr<GmemHandle>> Rebuild(const GmemDeclaration& decl,
                                                      const GuestMemfd& frozen) = 0;
};

}  // namespace khod

#endif  // KHOD_RESTORE_GMEM_OPENER_H_
