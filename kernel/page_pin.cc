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
#include "common/thread_shares.h"
#include "kernel/mapping.h"

namespace khod {
namespace {

// io_uring's limits on registered buffers (io_uring/rsrc.c): at most 1 GiB
// each and IORING_MAX_REG_BUFFERS (1 << 14) per ring.
constexpr uint64_t kMaxBufferBytes = 1ull << 30;
constexpr size_t kMaxBuffersPerRing = 1u << 14;

// The least a thread's share holds: each share is a ring of its own, and a
// ring costs every exec that hands it on and every adoption of it
// (docs/PERFORMANCE.md "Stop 34"), while pinning a share this small on one
// thread is quick.
constexpr uint64_t kMinShareBytes = 64ull << 20;

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
                             uint64_t page_size, int threads) {
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
  // The pin faults each page in through `rw`: the bytes are cut into one
  // share per thread, each registered on rings of its own.
  uint64_t total = 0;
  for (const PageSpan& s : spans) total += s.count * page_size;
  const uint64_t n =
      std::max<uint64_t>(1, std::min<uint64_t>(static_cast<uint64_t>(std::max(1, threads)),
                                               (total + kMinShareBytes - 1) / kMinShareBytes));
  const uint64_t share = std::max(page_size, (total + n - 1) / n / page_size * page_size);
  std::vector<std::vector<iovec>> shares(1);
  uint64_t in_share = 0;
  for (const PageSpan& s : spans)
    for (uint64_t off = s.first * page_size; off < s.end() * page_size;) {
      if (in_share >= share) {
        shares.emplace_back();
        in_share = 0;
      }
      const uint64_t len = std::min({kMaxBufferBytes, s.end() * page_size - off, share - in_share});
      shares.back().push_back(iovec{rw.data() + off, len});
      off += len;
      in_share += len;
    }
  std::vector<std::vector<UniqueFd>> rings(shares.size());
  // A failed share leaves its rings in `rings`: `pin` does not take them,
  // and they unpin what they registered as they close.
  KHOD_RETURN_IF_ERROR(RunShares(static_cast<int>(shares.size()), [&](int k) -> Status {
    const std::vector<iovec>& buffers = shares[k];
    for (size_t i = 0; i < buffers.size(); i += kMaxBuffersPerRing) {
      io_uring_params params{};
      const int ring = static_cast<int>(::syscall(__NR_io_uring_setup, 1, &params));
      if (ring < 0) return RingError("io_uring_setup", errno);
      UniqueFd owned(ring);
      const unsigned count =
          static_cast<unsigned>(std::min(kMaxBuffersPerRing, buffers.size() - i));
      if (::syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &buffers[i], count) < 0)
        return RingError("io_uring_register(IORING_REGISTER_BUFFERS)", errno);
      rings[k].push_back(std::move(owned));
    }
    return Status::Ok();
  }));
  for (std::vector<UniqueFd>& r : rings)
    for (UniqueFd& fd : r) pin.rings_.push_back(std::move(fd));
  pin.pages_ = total / page_size;
  return pin;
}

namespace {

// io_uring_register(2) refuses any file but an io_uring instance
// (EOPNOTSUPP; EBADF: no file; fd -1 is its "blind" form, EINVAL for a
// probe), and a probe of 0 ops changes nothing in the ring: only a ring
// answers 0. A ring that restricts its register ops (khod's never do) says
// EACCES and is refused too: its pages then take the full check. Cheaper
// than readlink of /proc/self/fd, which a new khod paid once a ring in the
// blackout (docs/PERFORMANCE.md "The new khod's open with 100 files").
bool IsIoUringRing(int fd) {
  if (fd < 0) return false;
  io_uring_probe probe;
  std::memset(&probe, 0, sizeof probe);
  return ::syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, &probe, 0) == 0;
}

}  // namespace

Result<PagePin> PagePin::Adopt(std::vector<UniqueFd> rings) {
  for (const UniqueFd& r : rings)
    if (!IsIoUringRing(r.get()))
      return Status::InvalidArgument("page pin: fd " + std::to_string(r.get()) +
                                     " is not an io_uring ring");
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
