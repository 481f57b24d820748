// Which memory file an fd is, and how khod gets hold of one: directly, or
// from another process (a VMM) with pidfd_open + pidfd_getfd.
#ifndef KHOD_KERNEL_MEMORY_FILE_H_
#define KHOD_KERNEL_MEMORY_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/memory_facts.h"

namespace khod {

// `link` and `memfd_name` are names the file's creator chose (any bytes but
// '/'), printable as common/printable.h escapes them: every byte outside
// 0x20-0x7e and the backslash as \xNN. The kind is told from the raw link.
struct MemoryFileIdentity {
  FileKind kind = FileKind::kShmemMemfd;
  std::string link;  // readlink /proc/self/fd/N: "anon_inode:[kvm-gmem]", "/memfd:vm0 (deleted)"
  std::string memfd_name;  // "vm0" for memfds, empty otherwise
  uint64_t size = 0;       // st_size
  uint64_t inode = 0;      // st_ino
  uint64_t page_size = 0;  // bytes per page of the file: 4096, or the HugeTLB size
};

// What this process's `fd` is, as /proc/self/fd/N names it ("anon_inode:[kvm-gmem]",
// "/memfd:vm0 (deleted)", "anon_inode:[io_uring]"), escaped as `link` above.
Result<std::string> OwnFdLink(int fd);

// Identifies `fd`: a guest_memfd, a HugeTLB memfd (or hugetlbfs file) or a
// plain memfd. Anything else (regular file, pipe, socket, other anon inode)
// is FailedPrecondition naming what it is, and so is an fd not open for
// reading (O_PATH, write-only); a closed fd is NotFound. Errors
// call the fd `label` ("fd 7 of pid 1234": a dup's own number means nothing
// to the operator), or "fd N" when it is empty. It never asks the file's
// filesystem until the file is known to be shmem or hugetlbfs (statx with
// AT_STATX_DONT_SYNC, F_GET_SEALS before fstatfs): a FUSE file whose server
// does not answer is refused at once, not waited for.
Result<MemoryFileIdentity> IdentifyMemoryFile(int fd, const std::string& label = "");

// Duplicates fd number `target_fd` of process `pid` into this process.
// NotFound for a dead pid or a closed fd, PermissionDenied without
// PTRACE_MODE_ATTACH rights over the target, InvalidArgument for a pid that
// names no process (<= 0, a thread's id: kernel/pidfd.h).
Result<UniqueFd> TakeFdFromProcess(pid_t pid, int target_fd);

// A file taken from a process and identified as a memory file.
struct TakenMemoryFile {
  UniqueFd file;
  MemoryFileIdentity identity;
};
// TakeFdFromProcess, then IdentifyMemoryFile as "fd N of pid P". A file taken
// and refused (not a memory file) is closed by common/background_close.h,
// never on this thread: its close can wait on its filesystem's server (a
// FUSE FLUSH) for as long as the server likes. ResourceExhausted, nothing
// taken, while common/background_close.h has its most closes under way.
Result<TakenMemoryFile> TakeMemoryFileFromProcess(pid_t pid, int target_fd);

}  // namespace khod

#endif  // KHOD_KERNEL_MEMORY_FILE_H_
