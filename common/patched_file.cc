#include "common/patched_file.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/atomic_file.h"
#include "common/status_macros.h"

namespace khod {

Result<PatchedFile> PatchedFile::Create(const SafeDir& dir, std::string_view name,
                                        std::string_view data) {
  KHOD_ASSIGN_OR_RETURN(UniqueFd fd, dir.CreateNew(name));
  PatchedFile f(dir, std::string(name), std::move(fd));
  const std::string named = dir.PathOf(name);
  Status s = WriteAll(f.fd_.get(), data, named);
  if (s.ok() && ::fsync(f.fd_.get()) != 0) s = Status::FromErrno("fsync " + named, errno);
  if (!s.ok()) {
    dir.Remove(name);
    return s;
  }
  f.holds_.assign(data.data(), data.size());
  return f;
}

Result<uint64_t> PatchedFile::Patch(std::string_view data) {
  const std::string named = dir_.PathOf(name_);
  const int fd = fd_.get();
  // Runs of differing pages, each written with one pwrite.
  uint64_t written = 0;
  const size_t common = known_ ? std::min(holds_.size(), data.size()) : 0;
  auto differs = [&](size_t at) {
    if (at >= common) return true;
    const size_t n = std::min(kPageBytes, data.size() - at);
    // A page the old contents end inside differs unless both end there.
    if (at + n > common && holds_.size() != data.size()) return true;
    return std::memcmp(holds_.data() + at, data.data() + at, n) != 0;
  };
  known_ = false;  // from here on the file holds neither holds_ nor, until done, data
  for (size_t at = 0; at < data.size();) {
    if (!differs(at)) {
      at += kPageBytes;
      continue;
    }
    size_t end = at + kPageBytes;
    while (end < data.size() && differs(end)) end += kPageBytes;
    end = std::min(end, data.size());
    for (size_t done = at; done < end;) {
      const ssize_t w = ::pwrite(fd, data.data() + done, end - done, static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return Status::FromErrno("write " + named, w < 0 ? errno : EIO);
      done += static_cast<size_t>(w);
    }
    written += (end - at + kPageBytes - 1) / kPageBytes;
    at = end;
  }
  if (::ftruncate(fd, static_cast<off_t>(data.size())) != 0)
    return Status::FromErrno("truncate " + named, errno);
  if (::fdatasync(fd) != 0) return Status::FromErrno("fdatasync " + named, errno);
  return written;
}

Status PatchedFile::Rename(std::string_view to) {
  KHOD_RETURN_IF_ERROR(dir_.Rename(name_, to));
  name_ = std::string(to);
  return Status::Ok();
}

}  // namespace khod
