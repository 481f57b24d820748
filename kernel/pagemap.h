// /proc/self/pagemap and /proc/kpageflags, read by runs: one pread for a
// window of pagemap entries and one pread per contiguous PFN run of
// kpageflags. A syscall per page costs ~10x more (machine-facts.md).
#ifndef KHOD_KERNEL_PAGEMAP_H_
#define KHOD_KERNEL_PAGEMAP_H_

#include <cstddef>
#include <cstdint>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

// pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapSwapped = 1ull << 62;
constexpr uint64_t kPagemapFile = 1ull << 61;  // file page or shared anon
constexpr uint64_t kPagemapPfnMask = (1ull << 55) - 1;

inline bool PagemapPresent(uint64_t e) { return (e & kPagemapPresent) != 0; }
// 0 when the reader lacks CAP_SYS_ADMIN: the kernel hides PFNs.
inline uint64_t PagemapPfn(uint64_t e) { return e & kPagemapPfnMask; }

// kpageflags bits (include/uapi/linux/kernel-page-flags.h).
constexpr uint64_t kKpfUptodate = 1ull << 3;
constexpr uint64_t kKpfDirty = 1ull << 4;
constexpr uint64_t kKpfCompoundHead = 1ull << 15;
constexpr uint64_t kKpfCompoundTail = 1ull << 16;
constexpr uint64_t kKpfHuge = 1ull << 17;
constexpr uint64_t kKpfHwpoison = 1ull << 19;
constexpr uint64_t kKpfNopage = 1ull << 20;

// pread of exactly `bytes`, retrying short reads (procfs may return less);
// `what` names the file in errors.
Status PreadAll(int fd, void* buf, size_t bytes, uint64_t offset, const char* what);

class PageFrameReader {
 public:
  // Opens /proc/self/pagemap (required) and /proc/kpageflags (root only; when
  // it cannot be opened, kpageflags_readable() is false and ReadKpageflags fails).
  static Result<PageFrameReader> Open();
  // This process's one reader, opened on first use and shared by every
  // caller (khod's capture of each file): a pread at an offset is safe from
  // any thread, and a process holding hundreds of files does not hold two
  // more fds, and open them again, for each. A failed open is not kept (the
  // next call opens again); a forked child opens its own.
  static Result<const PageFrameReader*> Shared();

  // One pread: the pagemap entries of `npages` pages starting at page-aligned `addr`.
  Status ReadPagemap(const void* addr, size_t npages, uint64_t* out) const;
  // One pread: the kpageflags of PFNs [pfn, pfn + count).
  Status ReadKpageflags(uint64_t pfn, size_t count, uint64_t* out) const;
  bool kpageflags_readable() const { return kpageflags_.valid(); }
  int pagemap_fd() const { return pagemap_.get(); }  // /proc/self/pagemap

 private:
  PageFrameReader(UniqueFd pagemap, UniqueFd kpageflags)
      : pagemap_(std::move(pagemap)), kpageflags_(std::move(kpageflags)) {}
  UniqueFd pagemap_;
  UniqueFd kpageflags_;
};

}  // namespace khod

#endif  // KHOD_KERNEL_PAGEMAP_H_
