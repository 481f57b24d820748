// HugePageAllocator: a std allocator whose blocks of 2 MiB and more are
// their own anonymous mappings, 2 MiB aligned and advised MADV_HUGEPAGE, so
// that the kernel backs them with transparent huge pages.
//
// Why: the first write to a fresh 4 KiB page is dear on a virtual machine (a
// fault, and for a shadow-paging hypervisor a shadow PTE as well; figures in
// docs/PERFORMANCE.md), and far cheaper on huge pages. The lists a capture builds,
// and the snapshot a new khod decodes, are megabytes of fresh memory in the
// middle of a live update's blackout.
//
// Smaller blocks come from operator new as usual. Where THP is off
// (/sys/kernel/mm/transparent_hugepage/enabled = never) the advice is
// ignored and the blocks are plain anonymous memory: only slower.
#ifndef KHOD_COMMON_HUGE_PAGE_ALLOCATOR_H_
#define KHOD_COMMON_HUGE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <new>
#include <vector>

namespace khod {

constexpr size_t kHugePageBytes = size_t{2} << 20;

// Under AddressSanitizer every block comes from operator new, so that ASan
// still guards the large ones (the fuzzers' builds); only slower.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kHugePageBlocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kHugePageBlocks = false;
#else
constexpr bool kHugePageBlocks = true;
#endif
#else
constexpr bool kHugePageBlocks = true;
#endif

// The mapping behind a block of `bytes` (>= kHugePageBytes): rounded up to
// whole huge pages. nullptr when mmap fails.
void* MapHugePageBlock(size_t bytes);
void UnmapHugePageBlock(void* p, size_t bytes);

// Advises MADV_HUGEPAGE over the whole 2 MiB-aligned ranges inside
// [p, p + bytes): for a large buffer another allocator owns (a std::string
// blob), before it is first written. Below one huge page, or where the
// advice is refused, nothing changes. Returns whether any range was advised.
bool AdviseHugePages(void* p, size_t bytes);

template <typename T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>&) {}  // NOLINT: stateless, converts freely

  T* allocate(size_t n) {
    if (n > static_cast<size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const size_t bytes = n * sizeof(T);
    if (!kHugePageBlocks || bytes < kHugePageBytes) return static_cast<T*>(::operator new(bytes));
    void* p = MapHugePageBlock(bytes);
    if (!p) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t n) {
    const size_t bytes = n * sizeof(T);
    if (!kHugePageBlocks || bytes < kHugePageBytes)
      ::operator delete(p);
    else
      UnmapHugePageBlock(p, bytes);
  }
  template <typename U>
  bool operator==(const HugePageAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const HugePageAllocator<U>&) const {
    return false;
  }
};

template <typename T>
using HugePageVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace khod

#endif  // KHOD_COMMON_HUGE_PAGE_ALLOCATOR_H_
