#include "kernel/shared_policy_iter.h"

#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <utility>

#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "kernel/bpf/shared_policy_program.h"
#include "kernel/pidfd.h"

namespace khod {

namespace {

constexpr char kProgramName[] = "khod_shared_policy";

// Reads in a row that may disagree (a tree changing while it is read) before Read gives up.
constexpr int kReadAttempts = 8;

// The most bytes one read may hold: 65,536 shmem files with every range the program writes.
constexpr size_t kMaxBytes = size_t{65536} * 9 * 200;

}  // namespace

Result<std::unique_ptr<SharedPolicyIterator>> SharedPolicyIterator::Load() {
  KHOD_ASSIGN_OR_RETURN(
      BpfProgram program,
      BpfProgram::Load(kSharedPolicyBpfObject, kSharedPolicyBpfObjectSize, kProgramName));
  return FromProgram(std::move(program));
}

Result<std::unique_ptr<SharedPolicyIterator>> SharedPolicyIterator::FromProgram(
    BpfProgram program) {
  std::unique_ptr<SharedPolicyIterator> it(new SharedPolicyIterator(std::move(program)));
  // A shmem file of this process's own, so that the read has a record to decode: a program
  // that writes none, or records of another layout (a previous khod's of another version),
  // is refused here.
  const UniqueFd probe(static_cast<int>(
      ::syscall(SYS_memfd_create, "khod-policy-probe", static_cast<unsigned>(MFD_CLOEXEC))));
  struct stat st;
  if (!probe.valid() || ::fstat(probe.get(), &st) != 0)
    return Status::FromErrno("a memfd for the program's first read", errno);
  // Busy passes: the records were whole and of this layout.
  Result<std::vector<SharedPolicyTree>> self = it->Read(::getpid());
  if (!self.ok() && self.status().code() != Status::Code::kBusy)
    return self.status().WithContext("reading this process's own files with the program");
  if (self.ok() && std::none_of(self->begin(), self->end(), [&](const SharedPolicyTree& t) {
        return t.inode == static_cast<uint64_t>(st.st_ino);
      }))
    return Status::Unsupported("the program did not give this process's own memfd (inode " +
                               std::to_string(st.st_ino) + ")");
  return it;
}

Result<std::vector<SharedPolicyTree>> SharedPolicyIterator::Read(pid_t pid) const {
  const std::string proc = "process " + std::to_string(pid);
  KHOD_ASSIGN_OR_RETURN(const UniqueFd pidfd, OpenPidfd(pid));
  KHOD_ASSIGN_OR_RETURN(std::string before, ReadOnce(pid, pidfd.get()));
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    KHOD_ASSIGN_OR_RETURN(std::string after, ReadOnce(pid, pidfd.get()));
    if (after == before) {
      Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(after, pid);
      if (trees.ok() || trees.status().code() != Status::Code::kBusy) return trees;
    }
    before = std::move(after);
  }
  return Status::Busy("the shared policies of " + proc + "'s files changed during each of " +
                      std::to_string(kReadAttempts + 1) + " reads of them");
}

Result<std::string> SharedPolicyIterator::ReadOnce(pid_t pid, int pidfd) const {
  const std::string proc = "process " + std::to_string(pid);
  KHOD_ASSIGN_OR_RETURN(const UniqueFd iter, program_.OpenTaskIterator(pid, pidfd, "task_file"));
  std::string bytes(64 * 1024, '\0');
  size_t used = 0;
  for (;;) {
    if (used == bytes.size()) {
      if (bytes.size() >= kMaxBytes)
        return Status::ResourceExhausted("the shmem files of " + proc + " give more than " +
                                         std::to_string(kMaxBytes) + " bytes of records");
      bytes.resize(std::min(2 * bytes.size(), kMaxBytes));
    }
    const ssize_t n = ::read(iter.get(), bytes.data() + used, bytes.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("reading the task_file iterator of " + proc, errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  bytes.resize(used);
  // Still running: the pid named this process throughout the read.
  pollfd exited = {pidfd, POLLIN, 0};
  const int ready = ::poll(&exited, 1, 0);
  if (ready < 0) return Status::FromErrno("poll of the pidfd of " + proc, errno);
  if (ready > 0) return Status::NotFound(proc + " exited during the read");
  return bytes;
}

const SharedPolicyIterator* LoadedSharedPolicyIterator(std::string* why_not) {
  struct Loaded {
    std::unique_ptr<SharedPolicyIterator> iterator;
    std::string why_not;
  };
  // Never destroyed: a thread may still read through it while the process exits.
  static const Loaded* const loaded = [] {
    auto* l = new Loaded;
    Result<std::unique_ptr<SharedPolicyIterator>> it =
        AdoptOrLoadReader<SharedPolicyIterator>(kProgramName);
    if (it.ok())
      l->iterator = std::move(*it);
    else
      l->why_not = it.status().ToString();
    return l;
  }();
  if (loaded->iterator == nullptr && why_not != nullptr) *why_not = loaded->why_not;
  return loaded->iterator.get();
}

}  // namespace khod
