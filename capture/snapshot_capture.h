// Captures a whole Snapshot of one VMM: its guest_memfds (taken by pid and fd
// number) plus what it declares (memslots, flags, attributes), checked
// against each other and against state/invariants before it is returned.
#ifndef KHOD_CAPTURE_SNAPSHOT_CAPTURE_H_
#define KHOD_CAPTURE_SNAPSHOT_CAPTURE_H_

#include <sys/types.h>

#include <memory>
#include <vector>

#include "capture/kernel_source.h"
#include "capture/snapshot_header.h"
#include "capture/vmm_declaration.h"

namespace khod {

// One guest_memfd of the VMM: its fd number there and the open source. Keep
// these between captures (verify, benchmarks): the mapping stays populated.
struct VmmFile {
  int vmm_fd = -1;
  std::unique_ptr<KernelGmemSource> source;
};

// Takes each fd of `pid` and identifies it; the declaration supplies names
// and attributes, and optionally guest_memfd flags (a declaration the kernel
// contradicts is refused: InvalidArgument). `pid` 0 means this process.
Result<std::vector<VmmFile>> OpenVmmFiles(pid_t pid, const std::vector<int>& fds,
                                          const v1::VmmDeclaration& decl);

// The declaration a VMM made when `snap` was captured, re-keyed to the fds
// given now (each fd is matched to a guest_memfd of `snap` by inode): what
// verify needs to capture the same files the same way again.
Result<v1::VmmDeclaration> DeclarationFromSnapshot(const Snapshot& snap, pid_t pid,
                                                   const std::vector<int>& fds);

// Gives each guest_memfd of `found` (a capture made now) the token of the
// file of `snap` it is (the same kind and inode), in its memslots too: a
// capture names a file by its inode, khod by the token it attached it as
// (`khoctl snapshot`), and a diff pairs files by token. A file that is none
// of `snap`'s keeps its token; two files left with one token are refused
// (InvalidArgument naming both).
Status TakeSnapshotTokens(const Snapshot& snap, Snapshot* found);

// Captures every file, attaches the declared VMs, validates the result.
Result<Snapshot> CaptureSnapshot(std::vector<VmmFile>& files, const v1::VmmDeclaration& decl,
                                 const CaptureOptions& opts);

}  // namespace khod

#endif  // KHOD_CAPTURE_SNAPSHOT_CAPTURE_H_
