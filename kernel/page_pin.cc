#include "kernel/page_pin.h"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "common/status_macros.h"
#include "kernel/mapping.h"

namespace khod {
namespace {

// io_uring's limits on registered buffers (io_uring/rsrc.c): at most 1 GiB
// each and IORING_MAX_REG_BUFFERS (1 << 14) per ring.
constexpr uint64_t kMaxBufferBytes = 1ull << 30;
constexpr size_t kMaxBuffersPerRing = 1u << 14;

Status RingError(const char* what, int err) {
  if (err == EPERM || err == ENOSYS)
    return Status::Unsupported(std::string(what) + ": " + std::strerror(err) +
                               " (io_uring disabled or absent: kernel.io_uring_disabled)");
  if (err == ENOMEM)
    return Status::ResourceExhausted(std::string(what) + ": " + std::strerror(err) +
                                     " (pinned pages are charged to RLIMIT_MEMLOCK without "
                                     "CAP_IPC_LOCK)");
  return Status::FromErrno(what, err);
}

}  // namespace

Result<PagePin> PagePin::Pin(int fd, uint64_t file_size, const std::vector<PageSpan>& spans,
                             uint64_t page_size) {
  PagePin pin;
  if (spans.empty()) return pin;
  const uint64_t file_pages = file_size / page_size;
  uint64_t last_end = 0;
  for (const PageSpan& s : spans) {
    if (s.count == 0 || s.first < last_end || s.end() > file_pages || s.end() < s.first)
      return Status::InvalidArgument(
          "page pin: span [" + std::to_string(s.first) + ", +" + std::to_string(s.count) +
          ") empty, out of order or past the file's " + std::to_string(file_pages) + " pages");
    last_end = s.end();
  }
  // Writable only for the registration (FOLL_WRITE), unmapped on return.
  KHOD_ASSIGN_OR_RETURN(Mapping rw,
                        Mapping::Map(fd, 0, last_end * page_size, PROT_READ | PROT_WRITE));
  std::vector<iovec> buffers;
  for (const PageSpan& s : spans)
    for (uint64_t off = s.first * page_size; off < s.end() * page_size; off += kMaxBufferBytes)
      buffers.push_back(
          iovec{rw.data() + off, std::min<uint64_t>(kMaxBufferBytes, s.end() * page_size - off)});
  for (size_t i = 0; i < buffers.size(); i += kMaxBuffersPerRing) {
    io_uring_params params{};
    const int ring = static_cast<int>(::syscall(__NR_io_uring_setup, 1, &params));
    if (ring < 0) return RingError("io_uring_setup", errno);
    UniqueFd owned(ring);
    const unsigned n = static_cast<unsigned>(std::min(kMaxBuffersPerRing, buffers.size() - i));
    if (::syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &buffers[i], n) < 0)
      return RingError("io_uring_register(IORING_REGISTER_BUFFERS)", errno);
    pin.rings_.push_back(std::move(owned));
  }
  for (const PageSpan& s : spans) pin.pages_ += s.count;
  return pin;
}

Result<PagePin> PagePin::Adopt(std::vector<UniqueFd> rings) {
  for (const UniqueFd& r : rings) {
    char target[64] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(r.get());
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n < 0 || std::string(target, static_cast<size_t>(n)) != "anon_inode:[io_uring]")
      return Status::InvalidArgument("page pin: fd " + std::to_string(r.get()) +
                                     " is not an io_uring ring");
  }
  PagePin pin;
  pin.rings_ = std::move(rings);
  return pin;
}

std::vector<int> PagePin::ring_fds() const {
  std::vector<int> fds;
  for (const UniqueFd& r : rings_) fds.push_back(r.get());
  return fds;
}

void PagePin::Absorb(PagePin&& more) {
  for (UniqueFd& r : more.rings_) rings_.push_back(std::move(r));
  more.rings_.clear();
  pages_ += std::exchange(more.pages_, 0);
}

void PagePin::ReleaseInBackground() {
  rings_.clear();
  pages_ = 0;
}

void PagePin::Release() {
  for (UniqueFd& ring : rings_)
    (void)::syscall(__NR_io_uring_register, ring.get(), IORING_UNREGISTER_BUFFERS, nullptr, 0);
  rings_.clear();
  pages_ = 0;
}

}  // namespace khod
