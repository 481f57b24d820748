#include "handover/blob_memfd.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/atomic_file.h"

namespace khod {

Result<BlobMemfd> BlobMemfd::Create(std::string_view bytes) {
  UniqueFd fd(::memfd_create(kName, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return Status::FromErrno("memfd_create(handover blob)", errno);
  Status written = WriteAll(fd.get(), bytes, "handover memfd");
  if (!written.ok()) return written;
  return BlobMemfd(std::move(fd), bytes.size());
}

Status BlobMemfd::Overwrite(std::string_view bytes, const PageRuns& differing) {
  if (!fd_.valid()) return Status::FailedPrecondition("handover memfd: already sealed");
  Status s = WritePageRuns(fd_.get(), bytes, differing, "handover memfd");
  if (s.ok() && ::ftruncate(fd_.get(), static_cast<off_t>(bytes.size())) != 0)
    s = Status::FromErrno("truncate handover memfd", errno);
  if (s.ok()) size_ = bytes.size();
  return s;
}

Result<UniqueFd> BlobMemfd::Seal() && {
  if (!fd_.valid()) return Status::FailedPrecondition("handover memfd: already sealed");
  // Sealed: nothing in between can alter what the new khod reads.
  if (::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) !=
      0)
    return Status::FromErrno("seal handover memfd", errno);
  return std::move(fd_);
}

}  // namespace khod
