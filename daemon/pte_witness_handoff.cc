#include "daemon/pte_witness_handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/file_read.h"
#include "common/status_macros.h"
#include "daemon/session_record.pb.h"

namespace khod {

namespace {
// A description of a witness over thousands of files with fragmented holes
// stays far below these; anything larger is not one.
constexpr uint64_t kMaxHandoffBytes = uint64_t{64} << 20;
constexpr int kMaxHandoffFiles = 1 << 16;
constexpr uint64_t kMaxHandoffSpans = uint64_t{1} << 22;
// The span every file's list ends with runs past any file's end.
constexpr uint64_t kPastEveryEnd = uint64_t{1} << 62;
constexpr int kHandoffSeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
}  // namespace

Result<UniqueFd> WriteWitnessHandoff(const PteWitness& w) {
  const PteWitness::Description d = w.Describe();
  v1::PteWitnessHandoff h;
  h.set_state(static_cast<uint32_t>(static_cast<unsigned char>(d.state.state)));
  h.set_rss_file_kb(d.state.rss_file_kb);
  h.set_rss_shmem_kb(d.state.rss_shmem_kb);
  h.set_context_switches(d.state.context_switches);
  for (const PteWitness::FileSpans& f : d.files) {
    v1::PteWitnessFile* out = h.add_files();
    out->set_dev(f.key.dev);
    out->set_inode(f.key.inode);
    for (const PageSpan& s : f.unwitnessed) {
      out->add_unwitnessed(s.first);
      out->add_unwitnessed(s.count);
    }
  }
  std::string bytes;
  if (!h.SerializeToString(&bytes)) return Status::Internal("PTE witness handoff: serialize");
  UniqueFd fd(::memfd_create("khod-pte-witness", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Status::FromErrno("memfd_create(pte witness)", errno);
  for (size_t at = 0; at < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + at, bytes.size() - at);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("write pte witness memfd", errno);
    at += static_cast<size_t>(n);
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, kHandoffSeals) != 0)
    return Status::FromErrno("seal pte witness memfd", errno);
  return fd;
}

namespace {

// Closes `fd` once it is a regular file (a memfd): anything else is left as it is.
Result<PteWitness::Description> ReadHandoff(int fd) {
  struct stat st;
  if (::fstat(fd, &st) < 0) return Status::FromErrno("fstat PTE witness handoff", errno);
  if (!S_ISREG(st.st_mode))
    return Status::InvalidArgument("PTE witness handoff fd " + std::to_string(fd) +
                                   " is not a regular file");
  // The memfd a khod wrote is sealed so; khod's own files (its lock, its
  // binary, a guest's memfd) are not, and are not this call's to close.
  if (::fcntl(fd, F_GET_SEALS) != kHandoffSeals)
    return Status::InvalidArgument("PTE witness handoff fd " + std::to_string(fd) +
                                   " is not a sealed handoff memfd");
  const UniqueFd owned(fd);
  FileReadOptions o;
  o.max_bytes = kMaxHandoffBytes;
  o.too_large_why = "not a PTE witness handoff";
  KHOD_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFd(fd, "PTE witness handoff", o));
  v1::PteWitnessHandoff h;
  if (!h.ParseFromString(bytes))
    return Status::Corruption("PTE witness handoff: not a PteWitnessHandoff message");
  if (h.state() == 0 || h.state() > 127)
    return Status::Corruption("PTE witness handoff: no keeper state letter");
  PteWitness::Description d;
  d.state.state = static_cast<char>(h.state());
  d.state.rss_file_kb = h.rss_file_kb();
  d.state.rss_shmem_kb = h.rss_shmem_kb();
  d.state.context_switches = h.context_switches();
  if (h.files_size() > kMaxHandoffFiles)
    return Status::Corruption("PTE witness handoff: more than " + std::to_string(kMaxHandoffFiles) +
                              " files");
  uint64_t spans = 0;
  for (const v1::PteWitnessFile& f : h.files()) {
    if (f.unwitnessed_size() % 2 != 0)
      return Status::Corruption("PTE witness handoff: an odd number of span numbers");
    spans += static_cast<uint64_t>(f.unwitnessed_size()) / 2;
    if (spans > kMaxHandoffSpans)
      return Status::Corruption("PTE witness handoff: more than " +
                                std::to_string(kMaxHandoffSpans) + " spans");
    PteWitness::FileSpans out;
    out.key = FileKey{f.dev(), f.inode()};
    uint64_t end = 0;
    for (int i = 0; i < f.unwitnessed_size(); i += 2) {
      const PageSpan s{f.unwitnessed(i), f.unwitnessed(i + 1)};
      if (s.count == 0 || s.first < end || s.first + s.count < s.first)
        return Status::Corruption("PTE witness handoff: spans not sorted, empty or overflowing");
      end = s.end();
      out.unwitnessed.push_back(s);
    }
    // Pages past the file's end when the witness started are never witnessed.
    if (end < kPastEveryEnd)
      return Status::Corruption("PTE witness handoff: a file's spans stop before its end");
    d.files.push_back(std::move(out));
  }
  return d;
}

}  // namespace

Result<std::unique_ptr<PteWitness>> AdoptWitnessHandoff(pid_t keeper_pid, int control_fd,
                                                        int handoff_fd, std::string* note) {
  std::optional<PteWitness::Description> d;
  if (handoff_fd >= 0) {
    Result<PteWitness::Description> read = ReadHandoff(handoff_fd);
    if (read.ok())
      d = std::move(*read);
    else
      *note = read.status().message();
  }
  KHOD_ASSIGN_OR_RETURN(PteKeeper keeper, PteKeeper::Adopt(keeper_pid, control_fd));
  return PteWitness::Adopt(std::move(keeper), std::move(d));
}

}  // namespace khod
