#include "kernel/vma_policy_iter.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "kernel/bpf/vma_policy_program.h"
#include "kernel/bpf/vma_policy_record.h"
#include "kernel/pidfd.h"

namespace khod {

namespace {

constexpr char kProgramName[] = "khod_vma_policy";

// Reads while the process's mappings keep changing, before Read gives up.
constexpr int kReadAttempts = 8;

// The most records one read may hold: more VMAs than vm.max_map_count allows by default.
constexpr size_t kMaxRecords = size_t{1} << 19;
// The first read's buffer: room for the VMAs of a usual VMM.
constexpr size_t kFirstBuffer = 256 * 1024;

Status ExitedDuringRead(pid_t pid) {
  return Status::NotFound("process " + std::to_string(pid) + " exited during the read");
}

}  // namespace

Result<std::unique_ptr<VmaPolicyIterator>> VmaPolicyIterator::Load() {
  KHOD_ASSIGN_OR_RETURN(
      BpfProgram program,
      BpfProgram::Load(kVmaPolicyBpfObject, kVmaPolicyBpfObjectSize, kProgramName));
  return FromProgram(std::move(program));
}

Result<std::unique_ptr<VmaPolicyIterator>> VmaPolicyIterator::FromProgram(BpfProgram program) {
  std::unique_ptr<VmaPolicyIterator> it(new VmaPolicyIterator(std::move(program)));
  // Busy passes: the records were whole and of this layout up to where this process's own
  // threads changed its mappings, which says nothing of the kernel.
  Result<std::vector<VmaPolicy>> self = it->Read(::getpid());
  if (!self.ok() && self.status().code() != Status::Code::kBusy)
    return self.status().WithContext("reading this process's own VMAs with the program");
  return it;
}

Result<std::vector<VmaPolicy>> VmaPolicyIterator::Read(pid_t pid) const {
  const std::string proc = "process " + std::to_string(pid);
  // The process still running after the read (checked on the pidfd) proves the pid named
  // it throughout. OpenPidfd never returns 0 to 2 (as libbpf keeps its own fds off them):
  // a pidfd of 0 would walk every process (kernel/bpf_program.h).
  KHOD_ASSIGN_OR_RETURN(const UniqueFd pidfd, OpenPidfd(pid));
  // Sized before each read, so that reading khod's own mappings does not change them (a
  // growth that maps memory is a writer); a read that outgrows it leaves the size for the next.
  std::string buffer(kFirstBuffer, '\0');
  for (int attempt = 0; attempt < kReadAttempts; ++attempt) {
    Result<std::vector<VmaPolicy>> vmas = ReadOnce(pid, pidfd.get(), &buffer);
    if (vmas.ok() || vmas.status().code() != Status::Code::kBusy) return vmas;
  }
  return Status::Busy("the mappings of " + proc + " changed during each of " +
                      std::to_string(kReadAttempts) + " reads of them");
}

Result<std::vector<VmaPolicy>> VmaPolicyIterator::ReadOnce(pid_t pid, int pidfd,
                                                           std::string* buffer) const {
  const std::string proc = "process " + std::to_string(pid);
  KHOD_ASSIGN_OR_RETURN(const UniqueFd iter, program_.OpenTaskIterator(pid, pidfd, "task_vma"));
  constexpr size_t kRecord = sizeof(khod_vma_policy_record);
  constexpr size_t kMaxBytes = kMaxRecords * kRecord;
  size_t used = 0;
  for (;;) {
    // The task's record first, then exactly the VMA records it counts: a read() stops where
    // its size is reached, so the kernel stops at the end of the leader's walk instead of
    // walking the mm again for each other thread with a file table of its own (writing
    // nothing, and failing with EAGAIN after a million VMAs: vma_policy_record.h).
    const std::optional<size_t> whole = VmaPolicyReadBytes(std::string_view(buffer->data(), used));
    if (whole && used >= *whole) break;
    if (whole && *whole > kMaxBytes)
      return Status::ResourceExhausted(proc + " has " + std::to_string(*whole / kRecord - 1) +
                                       " VMAs, more than the " + std::to_string(kMaxRecords - 1) +
                                       " a read takes");
    if (whole && buffer->size() < *whole) buffer->resize(*whole);
    if (used == buffer->size()) {
      if (buffer->size() >= kMaxBytes)
        return Status::ResourceExhausted(proc + " gives more than " + std::to_string(kMaxRecords) +
                                         " records");
      buffer->resize(std::min(2 * buffer->size(), kMaxBytes));
    }
    size_t want = buffer->size() - used;
    if (used < kRecord)
      want = std::min(want, kRecord - used);
    else if (whole)
      want = std::min(want, *whole - used);
    const ssize_t n = ::read(iter.get(), buffer->data() + used, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("reading the task_vma iterator of " + proc, errno);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  pollfd exited = {pidfd, POLLIN, 0};
  const int ready = ::poll(&exited, 1, 0);
  if (ready < 0) return Status::FromErrno("poll of the pidfd of " + proc, errno);
  if (ready > 0) return ExitedDuringRead(pid);
  return DecodeVmaPolicyRecords(std::string_view(buffer->data(), used), pid);
}

const VmaPolicyIterator* SharedVmaPolicyIterator(std::string* why_not) {
  struct Shared {
    std::unique_ptr<VmaPolicyIterator> iterator;
    std::string why_not;
  };
  // Never destroyed: a thread may still read through it while the process exits.
  static const Shared* const shared = [] {
    auto* s = new Shared;
    Result<std::unique_ptr<VmaPolicyIterator>> loaded =
        AdoptOrLoadReader<VmaPolicyIterator>(kProgramName);
    if (loaded.ok())
      s->iterator = std::move(*loaded);
    else
      s->why_not = loaded.status().ToString();
    return s;
  }();
  if (shared->iterator == nullptr && why_not != nullptr) *why_not = shared->why_not;
  return shared->iterator.get();
}

}  // namespace khod
