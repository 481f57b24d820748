#include "capture/kernel_source.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <mutex>
#include <thread>
#include <tuple>

#include "common/hex.h"
#include "common/huge_page_allocator.h"
#include "common/status_macros.h"
#include "kernel/file_mappings.h"
#include "kernel/kvm_uapi.h"
#include "kernel/mempolicy.h"
#include "kernel/shared_policy_probe.h"

namespace khod {

namespace {

// Pages handled per pass (512 KiB of pagemap entries); a multiple of the 2 MiB
// HugeTLB folio, and 1 GiB folios get a pass each.
constexpr uint64_t kWindowPages = 64 * 1024;
constexpr size_t kHashChunk = 1 << 20;

constexpr uint64_t kGmemFlagBits = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;

uint8_t FolioFlagsFromKpf(uint64_t kpf) {
  uint8_t f = 0;
  if (kpf & kKpfUptodate) f |= kFolioUptodate;
  if (kpf & kKpfDirty) f |= kFolioDirty;
  if (kpf & kKpfHwpoison) f |= kFolioHwpoison;
  return f;
}

// Runs part(0) on this thread and, when `two`, part(1) on a second one;
// the first error wins, this thread's first.
Status OnParts(bool two, const std::function<Status(int)>& part) {
  if (!two) return part(0);
  Status tail;
  std::thread t([&] { tail = part(1); });
  Status head = part(0);
  t.join();
  return head.ok() ? tail : head;
}

// The least room a capture thread's run and flag lists are given, in bytes.
// Below a huge page a list is heap memory faulted in 4 KiB at a time: a file
// scanned by two threads (two windows or more) gets a huge page for each.
size_t MinListBytes(uint64_t total_pages) {
  return total_pages >= 2 * kWindowPages ? kHugePageBytes : 0;
}

uint8_t Log2(uint64_t v) {
  uint8_t r = 0;
  while (v > 1) {
    v >>= 1;
    ++r;
  }
  return r;
}

}  // namespace

KernelGmemSource::KernelGmemSource(UniqueFd fd, MemoryFileIdentity id, KernelSourceOptions opts,
                                   std::string origin, pid_t vmm_pid)
    : fd_(std::move(fd)),
      identity_(std::move(id)),
      opts_(std::move(opts)),
      origin_(std::move(origin)),
      vmm_pid_(vmm_pid) {}

// A guest_memfd's MMAP flag is read here, once: mmap(PROT_NONE) works or
// fails with ENODEV. A declaration the kernel contradicts is refused.
Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::Make(UniqueFd fd, MemoryFileIdentity id,
                                                                 KernelSourceOptions opts,
                                                                 std::string origin,
                                                                 pid_t vmm_pid) {
  std::unique_ptr<KernelGmemSource> src(new KernelGmemSource(
      std::move(fd), std::move(id), std::move(opts), std::move(origin), vmm_pid));
  if (src->identity_.kind != FileKind::kGuestMemfd) return src;
  const uint64_t size = std::max<uint64_t>(src->identity_.size, src->identity_.page_size);
  Result<bool> mappable = IsMappable(src->fd_.get(), static_cast<size_t>(size));
  if (!mappable.ok()) return mappable.status().WithContext(src->Describe());
  src->seen_mask_ = uapi::kGuestMemfdFlagMmap;
  src->seen_flags_ = *mappable ? uapi::kGuestMemfdFlagMmap : 0;
  KHOD_RETURN_IF_ERROR(src->CheckDeclaredFlags());
  return src;
}

namespace {

std::string GmemFlagsText(uint64_t flags) {
  std::string s = Hex(flags);
  if (flags & uapi::kGuestMemfdFlagMmap) s += " MMAP";
  if (flags & uapi::kGuestMemfdFlagInitShared) s += " INIT_SHARED";
  return s;
}

}  // namespace

Status KernelGmemSource::CheckDeclaredFlags() const {
  if (identity_.kind != FileKind::kGuestMemfd || opts_.declared_gmem_mask == 0) return Status::Ok();
  const uint64_t declared = opts_.declared_gmem_flags & opts_.declared_gmem_mask;
  const uint64_t unknown_bits =
      declared & ~(uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared);
  if (unknown_bits)
    return Status::InvalidArgument(Describe() + ": declared guest_memfd flags " +
                                   Hex(opts_.declared_gmem_flags) + " hold bits " +
                                   Hex(unknown_bits) + " that no guest_memfd flag has");
  const uint64_t differ = (declared ^ seen_flags_) & opts_.declared_gmem_mask & seen_mask_;
  if (!differ) return Status::Ok();
  std::string why;
  if (differ & uapi::kGuestMemfdFlagMmap)
    why = (seen_flags_ & uapi::kGuestMemfdFlagMmap)
              ? "MMAP is set: mmap(PROT_NONE) of the file works"
              : "MMAP is not set: mmap(PROT_NONE) of the file fails with ENODEV";
  if (differ & uapi::kGuestMemfdFlagInitShared)
    why += std::string(why.empty() ? "" : "; ") +
           "INIT_SHARED is set: a page of the file is mapped shared";
  return Status::InvalidArgument(Describe() + ": declared guest_memfd flags " +
                                 GmemFlagsText(declared) +
                                 " contradict what the kernel shows: " + why);
}

bool KernelGmemSource::GmemInitSharedSeen() const {
  return (seen_mask_ & seen_flags_ & uapi::kGuestMemfdFlagInitShared) != 0;
}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromFd(UniqueFd fd,
                                                                   KernelSourceOptions opts) {
  const int n = fd.get();
  auto id = IdentifyMemoryFile(n);
  if (!id.ok()) return id.status();
  return Make(std::move(fd), std::move(*id), std::move(opts), "fd " + std::to_string(n), 0);
}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromPid(pid_t pid, int fd,
                                                                    KernelSourceOptions opts) {
  auto taken = TakeFdFromProcess(pid, fd);
  if (!taken.ok()) return taken.status();
  const std::string origin = "fd " + std::to_string(fd) + " of pid " + std::to_string(pid);
  auto id = IdentifyMemoryFile(taken->get(), origin);
  if (!id.ok()) return id.status();
  return Make(std::move(*taken), std::move(*id), std::move(opts), origin, pid);
}

std::string KernelGmemSource::Describe() const {
  return std::string(FileKindName(identity_.kind)) + " " + origin_ + " (" + identity_.link + ")";
}

uint64_t KernelGmemSource::token() const { return opts_.token ? opts_.token : identity_.inode; }

// A guest_memfd page is tried whatever its INIT_SHARED: only pages mincore
// or a pagemap entry showed initialized are ever populated, and a private
// one fails with EFAULT, allocating nothing (gmem-6.18-facts.md).
bool KernelGmemSource::PageMayBeTouched(uint64_t index) const {
  return opts_.declared_attributes.empty() || !(opts_.declared_attributes.Get(index) & kAttrPrivate);
}

Status KernelGmemSource::EnsureMapped(uint64_t size) {
  if (!frames_) {
    auto r = PageFrameReader::Open();
    if (!r.ok()) return r.status();
    frames_ = std::make_unique<PageFrameReader>(std::move(*r));
  }
  if (mapping_.length() == size) return Status::Ok();
  guard_.reset();
  mapping_ = Mapping();
  auto m = Mapping::Map(fd_.get(), 0, size, PROT_READ);
  if (!m.ok()) {
    if (identity_.kind == FileKind::kGuestMemfd)
      return Status::FailedPrecondition(
          "cannot map " + Describe() + " (" + m.status().message() +
          "): a guest_memfd created without GUEST_MEMFD_FLAG_MMAP cannot be mapped, so its "
          "folios and mempolicy are not visible from userspace");
    return m.status().WithContext(Describe());
  }
  mapping_ = std::move(*m);
  own_populated_ = false;
  if (held_by_ > 0 && identity_.kind != FileKind::kHugetlbMemfd) {
    // HugeTLB keeps populating its own (64 entries per window, a few ms).
    Result<HeldMapping> h = HeldMapping::Find(held_by_, fd_.get(), size);
    if (h.ok()) held_ = std::make_unique<HeldMapping>(std::move(*h));
    else held_note_ = h.status().message();
  }
  if (identity_.kind != FileKind::kGuestMemfd) {
    auto g = PopulateGuard::Register(mapping_.data(), size);
    if (g.ok()) {
      guard_ = std::make_unique<PopulateGuard>(std::move(*g));
    } else if (identity_.kind == FileKind::kHugetlbMemfd) {
      // Without the guard, populating a HugeTLB hole would allocate a huge page.
      return Status::Unsupported("HugeTLB residency needs userfaultfd (" + g.status().message() + ")");
    }
  }
  return Status::Ok();
}

// A run of pages found by the scan, in file order. st: 1 resident but not
// mapped here (private), 2 mapped but PFN hidden (not root), 3 PFN known (its
// folio flags land in its thread's flags from flags_at once kpageflags is
// read, or are there already when carried over from the baseline).
// 32 bytes: a fragmented 2 GiB file is 70k-280k of them, written afresh by
// the first capture after a reexec. len stays within one window; flags_at
// indexes a thread's flags, which cover at most the file's pages (< 2^32).
struct PageRun {
  uint64_t index, pfn;
  uint32_t len, flags_at;
  uint8_t st;
  bool flags_known;
};
static_assert(sizeof(PageRun) == 32, "PageRun grew");

// What the scan of one window found: runs [begin, end) of the thread (part)
// that scanned it.
struct KernelGmemSource::WindowRuns {
  int part = 0;
  size_t begin = 0, end = 0;
};

// A PFN run whose folio flags come from kpageflags, and where they land: its
// thread's flags at flags_at.
struct FlagRun {
  uint64_t pfn, len;
  size_t flags_at;
};

// One thread's share of a capture: its buffers, PFN runs and extents.
// The runs and their folio flags of every window the thread scans are kept
// in one list each, on huge pages: after a reexec they are fresh memory, and
// per-window lists (~200 KiB each) faulted in 4 KiB at a time cost the
// first capture ~25 ms per thread at 200k runs.
struct KernelGmemSource::ScanPart {
  FolioExtentBuilder builder;
  HugePageVector<PageRun> runs;
  HugePageVector<uint8_t> flags;
  // A window's pagemap entries, the holder's, mincore bytes and the PteOrigin
  // of each page's PFN (flag_reuse.h rule 1), carved from one block: 18
  // bytes a page, 1.1 MiB for a whole window, one huge page.
  HugePageVector<uint64_t> window_block;
  uint64_t window_cap = 0;  // pages the block is laid out for
  uint64_t* pagemap = nullptr;
  uint64_t* held = nullptr;
  uint8_t* mincore = nullptr;
  uint8_t* origin = nullptr;
  uint64_t populated = 0;     // pages this process mapped itself
  size_t baseline_cursor = 0;  // FlagBaseline::Split's, over this thread's runs
  std::vector<FlagRun> by_pfn;  // its st 3 runs whose flags are read, by PFN
  std::function<void(uint64_t pages_done)> progress;

  // Lays the window buffers out for windows of up to `npages` pages (written
  // through when the block is new: faulted in here). A block for a whole
  // window is given a huge page of its own.
  void SizeWindowBuffers(uint64_t npages) {
    if (npages <= window_cap) return;
    const uint64_t words = 2 * npages + (2 * npages + 7) / 8;
    const uint64_t huge = npages >= kWindowPages / 4 ? kHugePageBytes / sizeof(uint64_t) : 0;
    window_block.assign(static_cast<size_t>(std::max(words, huge)), 0);
    window_cap = npages;
    pagemap = window_block.data();
    held = pagemap + npages;
    mincore = reinterpret_cast<uint8_t*>(held + npages);
    origin = mincore + npages;
  }
};

void SortByPfn(std::vector<FlagRun>* runs) {
  std::sort(runs->begin(), runs->end(), [](const FlagRun& a, const FlagRun& b) { return a.pfn < b.pfn; });
}

// One pread of kpageflags: PFNs [lo, hi), covering runs [first[l], last[l])
// of both parts' PFN-sorted lists l and the small gaps between them.
struct KpfRead {
  uint64_t lo, hi;
  size_t first[2], last[2];
};

// A buddy-backed file's capture shared by two threads: the windows (handed
// out in turn by `next_window`) with what each found, then the kpageflags
// reads of the whole file: the coalesced reads over both parts' runs (by_pfn)
// walked in PFN order, and where the second thread's share starts.
struct KernelGmemSource::BuddyScan {
  std::vector<WindowRuns> windows;
  std::atomic<size_t> next_window{0};
  const std::vector<FlagRun>* lists[2] = {};  // the parts' by_pfn
  uint8_t* flags[2] = {};                     // the parts' flags, where lists[l] land
  std::vector<KpfRead> reads;
  size_t share = 0;  // reads [0, share) are the first thread's
};

KernelGmemSource::~KernelGmemSource() { JoinWarmUp(); }

// Sizes and touches the buffers a buddy scan of `total` pages fills, keeping
// their capacity for the captures to come. Run counts are guessed; more
// only reallocate.
void KernelGmemSource::PrefaultScanBuffers(uint64_t total) {
  // A 2 GiB shmem file written on a fragmented host: 2k-9k runs per window;
  // each part is given room for half the file at 4k. Capped so that a huge
  // file does not prefault more than 32 MiB of guesses per list. PFN runs
  // whose flags are read (by_pfn) are few here: the holder's pages carry
  // theirs over (flag_reuse.h).
  const uint64_t half = (total + 1) / 2;
  constexpr uint64_t kCap = uint64_t{32} << 20;
  const size_t runs = static_cast<size_t>(std::min<uint64_t>(half / 16, kCap / sizeof(PageRun)));
  const size_t window = static_cast<size_t>(std::min<uint64_t>(total, kWindowPages));
  auto touch = [](auto* v, size_t n) {
    v->resize(std::max(v->size(), n));  // value-initialized: written, so faulted in
  };
  const size_t min_flags = MinListBytes(total), min_runs = min_flags / sizeof(PageRun);
  for (auto& p : parts_) {
    p->SizeWindowBuffers(window);
    touch(&p->runs, std::max(runs, min_runs));
    touch(&p->flags, std::max(static_cast<size_t>(std::min<uint64_t>(half, kCap)), min_flags));
    p->runs.clear();
    p->flags.clear();
  }
}

// Fills part->pagemap and part->origin for the window as the PTEs stand,
// populating nothing: this process's own entries, and the holder's for the
// pages not mapped here (part->held keeps the holder's as read).
Status KernelGmemSource::ReadWindowPtes(uint64_t first, uint64_t npages, ScanPart* part) {
  const size_t page = static_cast<size_t>(getpagesize());
  part->SizeWindowBuffers(npages);
  uint64_t* pm = part->pagemap;
  uint8_t* origin = part->origin;
  // A mapping nothing has populated yet has no PTE: its pagemap is all
  // zeroes, and reading it costs ~1-7 ms per 2 GiB (the first capture after
  // a reexec). Were a PTE missed, the page would only be populated again.
  if (own_populated_) KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(mapping_.data() + first * page, npages, pm));
  else std::fill(pm, pm + npages, 0);
  for (uint64_t i = 0; i < npages; ++i)
    origin[i] = PagemapPresent(pm[i]) ? kPteOwnBeforePopulate : kPteNone;
  if (held_) {
    // What the holder maps is the file's page now: take its entries for the
    // pages not mapped here (a private page is mapped by nobody).
    const uint64_t* hm = part->held;
    KHOD_RETURN_IF_ERROR(held_->Read(first, npages, part->held));
    for (uint64_t i = 0; i < npages; ++i)
      if (!PagemapPresent(pm[i]) && PagemapPresent(hm[i]) && PageMayBeTouched(first + i)) {
        pm[i] = hm[i];
        origin[i] = kPteHolder;
      }
  }
  return Status::Ok();
}

// Fills part->mincore for the window after ReadWindowPtes. A mapped page
// exists: residency is asked only for the others (mincore of an unmapped
// shmem range looks up the page cache page by page).
Status KernelGmemSource::ReadWindowResidency(uint64_t first, uint64_t npages, ScanPart* part) {
  const size_t page = static_cast<size_t>(getpagesize());
  uint8_t* base = mapping_.data() + first * page;
  const uint64_t* pm = part->pagemap;
  uint8_t* mc = part->mincore;
  for (uint64_t i = 0; i < npages;) {
    if (PagemapPresent(pm[i])) {
      mc[i++] = 1;
      continue;
    }
    uint64_t j = i + 1;
    while (j < npages && !PagemapPresent(pm[j])) ++j;
    KHOD_RETURN_IF_ERROR(Mincore(base + i * page, j - i, mc + i));
    i = j;
  }
  return Status::Ok();
}

// Fills part->mincore and part->pagemap for the window, having mapped the
// existing, shared pages this process did not map yet.
Status KernelGmemSource::PopulateWindow(uint64_t first, uint64_t npages, ScanPart* part) {
  const size_t page = static_cast<size_t>(getpagesize());
  uint8_t* base = mapping_.data() + first * page;
  KHOD_RETURN_IF_ERROR(ReadWindowPtes(first, npages, part));
  KHOD_RETURN_IF_ERROR(ReadWindowResidency(first, npages, part));
  const uint8_t* mc = part->mincore;
  uint64_t* pm = part->pagemap;
  auto resident = [&](uint64_t i) { return (mc[i] & 1) != 0; };
  auto present = [&](uint64_t i) { return PagemapPresent(pm[i]); };
  // Map the existing, shared pages this process does not map yet, run by run.
  for (uint64_t i = 0; i < npages;) {
    if (!resident(i) || present(i) || !PageMayBeTouched(first + i)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < npages && resident(j) && !present(j) && PageMayBeTouched(first + j)) ++j;
    part->populated += j - i;
    own_populated_ = true;  // before: a failed populate may still have mapped some
    Status s = PopulateRead(base + i * page, (j - i) * page);
    // EFAULT: a page went away (guarded hole) or is private after all; its
    // PFN stays unknown and its residency comes from mincore.
    if (!s.ok() && s.code() != Status::Code::kFailedPrecondition) return s;
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + i * page, j - i, pm + i));
    i = j;
  }
  return Status::Ok();
}

Status KernelGmemSource::ScanWindow(uint64_t first, uint64_t npages, ScanPart* part,
                                    WindowRuns* out) {
  KHOD_RETURN_IF_ERROR(PopulateWindow(first, npages, part));
  HugePageVector<PageRun>& runs = part->runs;
  HugePageVector<uint8_t>& flags = part->flags;
  out->begin = runs.size();
  const uint8_t* mc = part->mincore;
  const uint64_t* pm = part->pagemap;
  auto resident = [&](uint64_t i) { return (mc[i] & 1) != 0; };
  auto present = [&](uint64_t i) { return PagemapPresent(pm[i]); };
  const bool kpf = frames_->kpageflags_readable();
  auto state = [&](uint64_t i) -> int {
    if (!resident(i) && !present(i)) return 0;
    if (!present(i)) return 1;
    return (kpf && PagemapPfn(pm[i]) != 0) ? 3 : 2;
  };
  // Made once a window, not once a run: a std::function whose captures
  // outgrow its inline buffer allocates (~100k runs a thread when fragmented).
  uint64_t run_index = 0, run_pfn = 0;
  const std::function<void(uint64_t, uint64_t, bool, uint8_t)> piece =
      [&](uint64_t off, uint64_t n, bool known, uint8_t f) {
        runs.push_back({run_index + off, run_pfn + off, static_cast<uint32_t>(n),
                        static_cast<uint32_t>(flags.size()), /*st=*/3, known});
        flags.resize(flags.size() + n, f);
      };
  for (uint64_t i = 0; i < npages;) {
    const int st = state(i);
    if (st == 0) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    if (st != 3) {
      while (j < npages && state(j) == st) ++j;
      runs.push_back({first + i, kPfnUnknown, static_cast<uint32_t>(j - i), /*flags_at=*/0,
                      static_cast<uint8_t>(st), /*flags_known=*/false});
      i = j;
      continue;
    }
    run_index = first + i;
    run_pfn = PagemapPfn(pm[i]);
    while (j < npages && state(j) == 3 && PagemapPfn(pm[j]) == run_pfn + (j - i)) ++j;
    // Cut where the baseline's flags stand and where kpageflags is read.
    baseline_.Split(run_index, run_pfn, j - i, part->origin + i, piece, &part->baseline_cursor);
    i = j;
  }
  out->end = runs.size();
  return Status::Ok();
}

// Phase 1 (per thread): windows taken in turn until none is left, then the
// PFN runs found sorted by PFN. Taken in turn, not by halves: a window's cost
// grows with its PFN runs (measured: the half with 3x the runs took 2x as
// long), and fragmentation differs a lot between the halves of a file.
Status KernelGmemSource::ScanWindows(uint64_t total, ScanPart* part) {
  part->by_pfn.clear();
  part->baseline_cursor = 0;
  BuddyScan& scan = *scan_;
  for (size_t w; (w = scan.next_window.fetch_add(1)) < scan.windows.size();) {
    const uint64_t at = w * kWindowPages, n = std::min<uint64_t>(kWindowPages, total - at);
    WindowRuns& found = scan.windows[w];
    found.part = part == parts_[0].get() ? 0 : 1;
    KHOD_RETURN_IF_ERROR(ScanWindow(at, n, part, &found));
    for (size_t k = found.begin; k < found.end; ++k) {
      const PageRun& r = part->runs[k];
      if (r.st == 3 && !r.flags_known) part->by_pfn.push_back({r.pfn, r.len, r.flags_at});
    }
    if (part->progress) part->progress(n);
  }
  SortByPfn(&part->by_pfn);
  return Status::Ok();
}

// Phase 2 (once, between the threads' phases): walks both parts' sorted runs
// in PFN order and coalesces them into reads spanning gaps of up to kGap PFNs
// (reading a few unneeded entries is far cheaper than another pread). The
// reads are then cut into two shares of about equal PFN count: the parts'
// windows differ a lot in fragmentation (a freshly written 2 GiB shmem file:
// ~15k runs in one half, ~100k in the other), so reading each part's own runs
// left one thread idle.
void KernelGmemSource::PlanFlagReads(const ScanPart& head, const ScanPart* tail) {
  constexpr uint64_t kGap = 64, kMaxRead = 64 * 1024;
  BuddyScan& plan = *scan_;
  plan.reads.clear();
  // Walked as one list in PFN order without copying them (a merged copy of
  // ~100k runs cost ~10 ms of first-touch page faults after a reexec).
  static const std::vector<FlagRun> kNone;
  plan.lists[0] = &head.by_pfn;
  plan.lists[1] = tail ? &tail->by_pfn : &kNone;
  plan.flags[0] = parts_[0]->flags.data();  // no longer grow: the scan is over
  plan.flags[1] = tail ? parts_[1]->flags.data() : nullptr;
  const std::vector<FlagRun>& a = *plan.lists[0];
  const std::vector<FlagRun>& b = *plan.lists[1];
  size_t i = 0, j = 0;
  auto next = [&]() -> const FlagRun* {  // the lower of the two lists' next runs
    if (i == a.size()) return j == b.size() ? nullptr : &b[j];
    return (j == b.size() || a[i].pfn < b[j].pfn) ? &a[i] : &b[j];
  };
  auto take = [&](const FlagRun* r) { (i < a.size() && r == &a[i]) ? ++i : ++j; };
  uint64_t pfns = 0;
  while (const FlagRun* r = next()) {
    KpfRead rd{r->pfn, r->pfn + r->len, {i, j}, {}};
    take(r);
    while ((r = next()) && r->pfn <= rd.hi + kGap &&
           std::max(rd.hi, r->pfn + r->len) - rd.lo <= kMaxRead) {
      rd.hi = std::max(rd.hi, r->pfn + r->len);
      take(r);
    }
    rd.last[0] = i;
    rd.last[1] = j;
    plan.reads.push_back(rd);
    pfns += rd.hi - rd.lo;
  }
  plan.share = 0;  // a cut between reads: no coalesced read is split
  const uint64_t first_share = tail ? pfns / 2 : pfns;  // one thread: all of them
  for (uint64_t acc = 0; plan.share < plan.reads.size() && acc < first_share; ++plan.share)
    acc += plan.reads[plan.share].hi - plan.reads[plan.share].lo;
}

// Phase 2 (per thread): reads [first, last) of the plan, each run's folio
// flags into its part's flags.
Status KernelGmemSource::ReadFlags(size_t first, size_t last) const {
  std::vector<uint64_t> buf;
  for (size_t i = first; i < last; ++i) {
    const KpfRead& rd = scan_->reads[i];
    buf.resize(rd.hi - rd.lo);
    KHOD_RETURN_IF_ERROR(frames_->ReadKpageflags(rd.lo, rd.hi - rd.lo, buf.data()));
    for (int l = 0; l < 2; ++l)
      for (size_t k = rd.first[l]; k < rd.last[l]; ++k) {
        const FlagRun& r = (*scan_->lists[l])[k];
        uint8_t* flags = scan_->flags[l] + r.flags_at;
        for (uint64_t p = 0; p < r.len; ++p) flags[p] = FolioFlagsFromKpf(buf[r.pfn - rd.lo + p]);
      }
  }
  return Status::Ok();
}

// Phase 3 (per thread): the extents of windows [first, last) in file order,
// split where the folio flags change.
void KernelGmemSource::BuildExtents(size_t first, size_t last, FolioExtentBuilder* b) const {
  for (size_t w = first; w < last; ++w) {
    const WindowRuns& found = scan_->windows[w];
    const ScanPart& part = *parts_[found.part];
    const uint8_t* flags = part.flags.data();
    for (size_t i = found.begin; i < found.end; ++i) {
      const PageRun& r = part.runs[i];
      if (r.st != 3) {
        b->AddRun(r.index, kPfnUnknown, r.len, 0, 0, r.st == 2);
        continue;
      }
      if (r.flags_known) {  // carried: one Split piece, one flags value for all its pages
        b->AddRun(r.index, r.pfn, r.len, 0, flags[r.flags_at], true);
        continue;
      }
      for (uint64_t k = 0; k < r.len;) {
        const uint8_t f = flags[r.flags_at + k];
        uint64_t l = k + 1;
        while (l < r.len && flags[r.flags_at + l] == f) ++l;
        b->AddRun(r.index + k, r.pfn + k, l - k, 0, f, true);
        k = l;
      }
    }
  }
}

// Rule 4 of capture/flag_reuse.h, checked once every PFN has been read: if a
// page was poisoned anywhere since the baseline (or the count cannot be
// read), carried flags could hide it, so every page's flags are read after
// all. Then counts what is read and what is carried.
void KernelGmemSource::CheckCarriedFlags(ScanPart* head, ScanPart* tail) {
  flags_read_ = flags_carried_ = 0;
  bool demote = false;
  if (baseline_.usable()) {
    Result<uint64_t> hw = ReadHardwareCorruptedKb(opts_.meminfo_path);
    demote = !hw.ok() || *hw != baseline_.hw_corrupted_kb();
  }
  for (ScanPart* part : {head, tail}) {
    if (!part) continue;
    bool added = false;
    for (PageRun& r : part->runs) {
      if (r.st != 3) continue;
      if (r.flags_known && demote) {
        r.flags_known = false;
        part->by_pfn.push_back({r.pfn, r.len, r.flags_at});
        added = true;
      }
      (r.flags_known ? flags_carried_ : flags_read_) += r.len;
    }
    if (added) SortByPfn(&part->by_pfn);
  }
}

// Whether window [first, first + npages) is exactly the baseline's (see
// FlagBaseline::Matches), read without populating anything: so that a full
// scan after a "no" finds every PTE as it was (rule 1 of flag_reuse.h).
Status KernelGmemSource::WindowMatches(uint64_t first, uint64_t npages, ScanPart* part,
                                       bool* matches) {
  *matches = false;
  KHOD_RETURN_IF_ERROR(ReadWindowPtes(first, npages, part));
  const uint64_t* pm = part->pagemap;
  uint64_t* pfns = part->held;  // the holder's entries are merged into pm already
  for (uint64_t i = 0; i < npages; ++i)
    pfns[i] = PagemapPresent(pm[i]) && PagemapPfn(pm[i]) != 0 ? PagemapPfn(pm[i]) : kPfnUnknown;
  if (!baseline_.Matches(first, npages, pfns, part->origin, &part->baseline_cursor))
    return Status::Ok();
  // A page that exists but is mapped nowhere would be populated (or is
  // private): the baseline has none, so none may exist.
  KHOD_RETURN_IF_ERROR(ReadWindowResidency(first, npages, part));
  for (uint64_t i = 0; i < npages; ++i)
    if (!PagemapPresent(pm[i]) && (part->mincore[i] & 1)) return Status::Ok();
  *matches = true;
  return Status::Ok();
}

// The fast path of a capture with a baseline: every window read as in
// WindowMatches (windows in turn, both threads), then rule 4. True: the
// capture is the baseline's extents, every flag carried, nothing built.
// False: nothing was populated, and the full scan runs as if this had not.
Result<bool> KernelGmemSource::MatchBaseline(uint64_t total, ScanPart* head, ScanPart* tail) {
  if (!baseline_.usable() || !frames_->kpageflags_readable()) return false;
  // Its match takes the baseline's extents as mapped: only where pages can be.
  if (identity_.kind == FileKind::kGuestMemfd && !GmemInitSharedSeen()) return false;
  const size_t windows = static_cast<size_t>((total + kWindowPages - 1) / kWindowPages);
  std::atomic<size_t> next{0};
  std::atomic<bool> differs{false};
  Status s = OnParts(tail != nullptr, [&](int i) -> Status {
    ScanPart* part = i == 0 ? head : tail;
    part->baseline_cursor = 0;
    for (size_t w; !differs && (w = next.fetch_add(1)) < windows;) {
      const uint64_t at = w * kWindowPages, n = std::min<uint64_t>(kWindowPages, total - at);
      bool same = false;
      KHOD_RETURN_IF_ERROR(WindowMatches(at, n, part, &same));
      if (!same) differs = true;
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (differs) return false;
  const FolioList& folios = *baseline_.folios();
  if (!folios.empty() && folios.back().end_index() > total) return false;  // the file shrank
  Result<uint64_t> hw = ReadHardwareCorruptedKb(opts_.meminfo_path);
  if (!hw.ok() || *hw != baseline_.hw_corrupted_kb()) return false;  // rule 4
  head->builder.Assign(folios);
  flags_read_ = 0;
  flags_carried_ = 0;
  for (const FolioExtent& e : folios) flags_carried_ += e.pages();
  if (head->progress) head->progress(total);
  return true;
}

// A buddy-backed file on two threads (one below 2 windows), in three phases
// each shared by what it costs: windows taken in turn (ScanWindows), kpageflags
// reads by PFN count (PlanFlagReads), extents by runs.
Status KernelGmemSource::ScanBuddy(uint64_t total, size_t expected_extents, ScanPart* head) {
  if (total > std::numeric_limits<uint32_t>::max())
    return Status::Unsupported("files of more than 2^32 pages (16 TiB) are not captured");
  const bool two = total >= 2 * kWindowPages;
  ScanPart* tail = two ? parts_[1].get() : nullptr;
  if (tail) {
    tail->builder = FolioExtentBuilder();
    tail->builder.Reserve(expected_extents / 2 + 16);
    tail->progress = head->progress;
  }
  auto on_parts = [&](const std::function<Status(int)>& part) { return OnParts(tail, part); };
  if (!scan_) scan_ = std::make_unique<BuddyScan>();
  scan_->windows.assign((total + kWindowPages - 1) / kWindowPages, WindowRuns());
  // Capacity kept from the last capture. Either thread may scan most of the
  // runs (fragmentation differs within a file): room for all of them in
  // each, which costs address space only until it is written.
  const size_t min_flags = MinListBytes(total), min_runs = min_flags / sizeof(PageRun);
  for (ScanPart* part : {head, tail}) {
    if (!part) continue;
    part->runs.clear();
    part->flags.clear();
    part->runs.reserve(std::max(expected_extents + expected_extents / 8, min_runs));
    part->flags.reserve(std::max(static_cast<size_t>(total), min_flags));
  }
  // Most captures with a baseline (Freeze after Prepare, Verify after a
  // reexec) find every page where it was: they are read and compared, and
  // no run or extent is built.
  Result<bool> matched = MatchBaseline(total, head, tail);
  if (!matched.ok()) return matched.status();
  if (*matched) {
    matched_baseline_ = true;
    return Status::Ok();
  }
  scan_->next_window = 0;
  KHOD_RETURN_IF_ERROR(on_parts([&](int i) { return ScanWindows(total, i == 0 ? head : tail); }));
  CheckCarriedFlags(head, tail);
  PlanFlagReads(*head, tail);
  KHOD_RETURN_IF_ERROR(on_parts([&](int i) {
    return i == 0 ? ReadFlags(0, scan_->share) : ReadFlags(scan_->share, scan_->reads.size());
  }));
  // Extents: the first thread builds windows [0, cut) holding about half of the runs.
  const std::vector<WindowRuns>& windows = scan_->windows;
  size_t runs = 0, cut = 0;
  for (const WindowRuns& found : windows) runs += found.end - found.begin;
  for (size_t acc = 0; cut < windows.size() && (!tail || acc < runs / 2); ++cut)
    acc += windows[cut].end - windows[cut].begin;
  KHOD_RETURN_IF_ERROR(on_parts([&](int i) {
    if (i == 0) BuildExtents(0, cut, &head->builder);
    else BuildExtents(cut, windows.size(), &tail->builder);
    return Status::Ok();
  }));
  if (!tail) return Status::Ok();
  // The second thread's extents appended after the first's (an extent that
  // crosses the cut is joined, as a single scan would).
  head->builder.Append(tail->builder);
  return Status::Ok();
}

Status KernelGmemSource::ScanHugetlbWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b) {
  const size_t page = static_cast<size_t>(getpagesize());
  const uint64_t per_folio = identity_.page_size / page;
  const uint8_t order = Log2(per_folio);
  const uint64_t nfolios = npages / per_folio;
  uint8_t* base = mapping_.data() + first * page;
  pagemap_buf_.resize(npages);
  KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base, npages, pagemap_buf_.data()));
  auto head_present = [&](uint64_t f) { return PagemapPresent(pagemap_buf_[f * per_folio]); };

  // mincore cannot see HugeTLB page cache; under the guard, populating a run
  // maps the folios that exist and fails on holes without allocating.
  for (uint64_t f = 0; f < nfolios;) {
    if (head_present(f)) {
      ++f;
      continue;
    }
    uint64_t g = f + 1;
    while (g < nfolios && !head_present(g)) ++g;
    own_populated_ = true;
    Status s = PopulateRead(base + f * identity_.page_size, (g - f) * identity_.page_size);
    if (!s.ok()) {
      if (s.code() != Status::Code::kFailedPrecondition) return s;
      for (uint64_t h = f; h < g; ++h) {  // some are holes: find which, folio by folio
        Status one = PopulateRead(base + h * identity_.page_size, identity_.page_size);
        if (!one.ok() && one.code() != Status::Code::kFailedPrecondition) return one;
      }
    }
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + f * identity_.page_size, (g - f) * per_folio,
                                              pagemap_buf_.data() + f * per_folio));
    f = g;
  }

  const bool kpf = frames_->kpageflags_readable();
  for (uint64_t f = 0; f < nfolios; ++f) {
    if (!head_present(f)) continue;
    const uint64_t pfn = PagemapPfn(pagemap_buf_[f * per_folio]);
    if (!kpf || pfn == 0) {
      b->AddRun(first + f * per_folio, kPfnUnknown, 1, order, 0, true);
      continue;
    }
    uint64_t head_flags = 0;  // one entry per compound folio, from its head page
    KHOD_RETURN_IF_ERROR(frames_->ReadKpageflags(pfn, 1, &head_flags));
    b->AddRun(first + f * per_folio, pfn, 1, order, FolioFlagsFromKpf(head_flags), true);
  }
  return Status::Ok();
}

Status KernelGmemSource::HashExtents(const FolioExtentBuilder& b, GuestMemfd* out) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const auto& ext = b.extents();
  // Hashes one extent; guest_memfd has no read(), its shared pages are mapped.
  // Memfds use pread: a page punched meanwhile reads as zeros instead of faulting.
  auto hash_one = [&](const FolioExtent& e, std::vector<uint8_t>* buf, uint64_t* h) -> Status {
    const uint64_t offset = e.first_index * page, bytes = e.pages() * page;
    if (identity_.kind == FileKind::kGuestMemfd) {
      *h = XXH3_64bits(mapping_.data() + offset, bytes);
      return RecheckHashedExtent(e);
    }
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    buf->resize(kHashChunk);
    for (uint64_t done = 0; done < bytes;) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kHashChunk, bytes - done));
      ssize_t n = ::pread(fd_.get(), buf->data(), want, static_cast<off_t>(offset + done));
      if (n <= 0) {
        XXH3_freeState(st);
        return Status::FromErrno("pread for hash of " + Describe(), n < 0 ? errno : EIO);
      }
      XXH3_64bits_update(st, buf->data(), static_cast<size_t>(n));
      done += static_cast<uint64_t>(n);
    }
    *h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return Status::Ok();
  };
  // Two threads, each over extents holding about half of the bytes.
  std::vector<uint64_t> hashes(ext.size());
  uint64_t total = 0;
  for (size_t i = 0; i < ext.size(); ++i)
    if (b.readable_shared()[i]) total += ext[i].pages();
  size_t cut = 0;
  for (uint64_t acc = 0; cut < ext.size() && acc < total / 2; ++cut)
    if (b.readable_shared()[cut]) acc += ext[cut].pages();
  auto hash_range = [&](size_t lo, size_t hi) -> Status {
    std::vector<uint8_t> buf;
    for (size_t i = lo; i < hi; ++i)
      if (b.readable_shared()[i]) KHOD_RETURN_IF_ERROR(hash_one(ext[i], &buf, &hashes[i]));
    return Status::Ok();
  };
  KHOD_RETURN_IF_ERROR(
      OnParts(true, [&](int i) { return i == 0 ? hash_range(0, cut) : hash_range(cut, ext.size()); }));
  for (size_t i = 0; i < ext.size(); ++i)
    if (b.readable_shared()[i])  // private or unmapped: never read
      out->hashes.push_back(ContentHash{ext[i].first_index, ext[i].pages(), hashes[i]});
  return Status::Ok();
}

// After the read of a guest_memfd extent: every page still mapped here at
// the PFN the capture recorded. A page punched (or moved) between the scan and
// the read was not what the hash covers: the capture is refused, never recorded.
Status KernelGmemSource::RecheckHashedExtent(const FolioExtent& e) const {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  std::vector<uint64_t> pm(static_cast<size_t>(e.pages()));
  KHOD_RETURN_IF_ERROR(
      frames_->ReadPagemap(mapping_.data() + e.first_index * page, pm.size(), pm.data()));
  for (uint64_t i = 0; i < pm.size(); ++i) {
    const bool moved = e.first_pfn != kPfnUnknown && PagemapPfn(pm[i]) != 0 &&
                       PagemapPfn(pm[i]) != e.first_pfn + i;
    if (!PagemapPresent(pm[i]) || moved)
      return Status::Busy(Describe() + ": page " + std::to_string(e.first_index + i) +
                          " changed while its contents were hashed (punched or moved): capture "
                          "again with the guests paused");
  }
  return Status::Ok();
}

// Where the policy lives (kernel_source.h): the inode's, read through this
// mapping, or each VMM mapping's. A VMM whose mappings cannot be read
// leaves it kUnknown: a policy is never what khod's own mapping shows.
Status KernelGmemSource::CapturePolicy(GuestMemfd* out) const {
  const bool gmem = identity_.kind == FileKind::kGuestMemfd;
  const SharedPolicyAnswer shared =
      gmem ? GuestMemfdSharedPolicy().answer : SharedPolicyAnswer::kYes;
  out->policy_source = PolicySource::kUnknown;
  if (shared == SharedPolicyAnswer::kYes) {
    if (!mapping_.data()) return Status::Ok();  // not mappable: nothing to read it through
    auto policy = GetMempolicyAt(mapping_.data());
    if (!policy.ok()) return policy.status().WithContext(Describe());
    out->policy_source = PolicySource::kInode;
    out->policy = *policy;
    return Status::Ok();
  }
  if (shared == SharedPolicyAnswer::kUnknown || vmm_pid_ <= 0) return Status::Ok();
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  Result<std::vector<FileMapping>> maps =
      ReadFileMappings(vmm_pid_, FileKey{st.st_dev, st.st_ino}, page);
  if (!maps.ok()) return Status::Ok();
  const uint64_t total = out->size / page;
  const uintptr_t own = reinterpret_cast<uintptr_t>(mapping_.data());
  for (const FileMapping& m : *maps) {
    if ((vmm_pid_ == ::getpid() && m.start == own) || m.first_index >= total) continue;
    MappingPolicy mp;
    mp.first_index = m.first_index;
    mp.count = std::min(m.count, total - m.first_index);
    mp.pid = vmm_pid_;
    mp.start_address = m.start;
    mp.policy = m.policy;
    out->mapping_policies.push_back(std::move(mp));
  }
  std::sort(out->mapping_policies.begin(), out->mapping_policies.end(),
            [](const MappingPolicy& a, const MappingPolicy& b) {
              return std::tie(a.first_index, a.pid, a.start_address) <
                     std::tie(b.first_index, b.pid, b.start_address);
            });
  out->policy_source = PolicySource::kVmmMappings;
  return Status::Ok();
}

// How each page range was observed (state/snapshot.h): memfds and guest_memfd
// with INIT_SHARED seen in full, but for pages declared private (never
// touched: initialized or not is all that is seen); otherwise initialized only.
void KernelGmemSource::FillVisibility(GuestMemfd* out) const {
  const uint64_t total = out->size / static_cast<uint64_t>(getpagesize());
  out->visibility.clear();
  if (total == 0) return;
  if (identity_.kind == FileKind::kGuestMemfd && !GmemInitSharedSeen()) {
    out->visibility.push_back(VisibilityRange{0, total, PageVisibility::kInitializedOnly});
    return;
  }
  auto add = [&](uint64_t first, uint64_t count, PageVisibility v) {
    if (count == 0) return;
    if (!out->visibility.empty() && out->visibility.back().visibility == v &&
        out->visibility.back().end_index() == first)
      out->visibility.back().count += count;
    else
      out->visibility.push_back(VisibilityRange{first, count, v});
  };
  uint64_t at = 0;
  for (const AttributeRange& r : opts_.declared_attributes.Ranges()) {
    if (!(r.value & kAttrPrivate) || r.first >= total) continue;
    add(at, r.first - std::min(at, r.first), PageVisibility::kFull);
    const uint64_t from = std::max(at, r.first), to = std::min(total, r.first + r.count);
    if (to > from) add(from, to - from, PageVisibility::kInitializedOnly);
    at = std::max(at, to);
  }
  add(at, total - at, PageVisibility::kFull);
}

void KernelGmemSource::UsePagesMappedBy(int pid) {
  JoinWarmUp();
  have_last_ = false;  // another mapping: continuity starts over
  held_by_ = pid;
  held_.reset();
  held_note_.clear();
  for (auto& p : parts_)
    if (p) p->populated = 0;
  guard_.reset();  // before the mapping it guards
  mapping_ = Mapping();  // EnsureMapped looks for the holder's mapping
}

std::string KernelGmemSource::pfn_origin() const {
  uint64_t populated = 0;
  for (const auto& p : parts_)
    if (p) populated += p->populated;
  std::string s;
  if (!held_) {
    s = "own mapping";
    if (held_by_ > 0) s += " (not pid " + std::to_string(held_by_) + "'s: " + held_note_ + ")";
  } else {
    s = held_->Describe() + " (" + std::to_string(populated) + " pages populated here)";
  }
  if (flags_carried_)
    s += "; folio flags of " + std::to_string(flags_carried_) + " pages carried over, " +
         std::to_string(flags_read_) + " read";
  return s;
}

void KernelGmemSource::StartWarmUp() {
  JoinWarmUp();
  // Its status is dropped on purpose: Capture redoes every step and reports.
  warm_ = std::thread([this] { (void)WarmUp(); });
}

void KernelGmemSource::JoinWarmUp() {
  if (warm_.joinable()) warm_.join();
}

Status KernelGmemSource::WarmUp() {
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0 || size % identity_.page_size != 0) return Status::Ok();  // Capture says why
  if (identity_.kind == FileKind::kGuestMemfd && !(seen_flags_ & uapi::kGuestMemfdFlagMmap))
    return Status::Ok();  // nothing to map
  have_last_ = false;  // it populates outside a capture (flag_reuse.h rule 1)
  KHOD_RETURN_IF_ERROR(EnsureMapped(size));
  const uint64_t total = size / page;
  for (auto& p : parts_)
    if (!p) p = std::make_unique<ScanPart>();
  if (held_) {
    // The holder's mapping is populated already. What a first capture still
    // pays is its buffers faulting in page by page (~5 ms per 2 GiB file on
    // this VM): they are faulted in here, before Verify asks.
    if (identity_.kind != FileKind::kHugetlbMemfd) PrefaultScanBuffers(total);
    return Status::Ok();
  }
  if (identity_.kind == FileKind::kHugetlbMemfd) {
    // HugeTLB populates inside its scan (under the guard): a throwaway scan.
    FolioExtentBuilder scratch;
    const uint64_t window = std::max<uint64_t>(kWindowPages, identity_.page_size / page);
    for (uint64_t first = 0; first < total; first += window)
      KHOD_RETURN_IF_ERROR(ScanHugetlbWindow(first, std::min(window, total - first), &scratch));
    return Status::Ok();
  }
  // The guarded populate runs of a capture, over two halves (populating
  // costs the same per page wherever the PFN runs are).
  auto populate = [&](uint64_t from, uint64_t to, ScanPart* part) -> Status {
    for (uint64_t at = from; at < to; at += kWindowPages)
      KHOD_RETURN_IF_ERROR(PopulateWindow(at, std::min<uint64_t>(kWindowPages, to - at), part));
    return Status::Ok();
  };
  const bool two = total >= 2 * kWindowPages;
  const uint64_t cut = two ? (total / 2 + kWindowPages - 1) / kWindowPages * kWindowPages : total;
  return OnParts(two, [&](int i) {
    return i == 0 ? populate(0, cut, parts_[0].get()) : populate(cut, total, parts_[1].get());
  });
}

Status KernelGmemSource::Capture(const CaptureOptions& opts, GuestMemfd* out) {
  JoinWarmUp();  // it owns the mapping and scan buffers until done
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size % identity_.page_size != 0)
    return Status::FailedPrecondition(Describe() + ": size " + std::to_string(size) +
                                      " is not a multiple of its page size " +
                                      std::to_string(identity_.page_size));
  *out = GuestMemfd();
  out->token = token();
  out->inode = identity_.inode;
  out->name = !opts_.name.empty() ? opts_.name
              : !identity_.memfd_name.empty() ? identity_.memfd_name
                                              : "kvm-gmem " + origin_;
  out->provenance = Provenance::kKernel;
  out->kind = identity_.kind;
  out->size = size;
  const bool hugetlb = identity_.kind == FileKind::kHugetlbMemfd;
  out->backing = hugetlb ? Backing::kHugetlb : Backing::kBuddy;
  out->hstate_order = hugetlb ? Log2(identity_.page_size / page) : 0;
  out->vm_token = opts_.vm_token;
  out->attributes = opts_.declared_attributes;
  const bool gmem = identity_.kind == FileKind::kGuestMemfd;
  if (gmem && opts.frozen) {
    // The frozen capture observed this same file: its creation flags are
    // fixed for the file's life, so what it saw stands.
    const uint64_t add = opts.frozen->flags_known & kGmemFlagBits & ~seen_mask_;
    seen_flags_ |= opts.frozen->flags & add;
    seen_mask_ |= add;
  }
  auto set_flags = [&] {
    if (!gmem) return;
    out->flags_known = seen_mask_;
    out->flags = (seen_flags_ & seen_mask_) |
                 (opts_.declared_gmem_flags & opts_.declared_gmem_mask & ~seen_mask_);
  };
  set_flags();
  if (size == 0) return Status::Ok();
  if (gmem && !(seen_flags_ & uapi::kGuestMemfdFlagMmap)) {
    // Not mappable: nothing per page can be seen (gmem-6.18-facts.md).
    out->visibility.push_back(VisibilityRange{0, size / page, PageVisibility::kNone});
    return CapturePolicy(out);
  }

  // Rule 4's count, read before any page is: a page poisoned after this
  // shows as a change at the next capture that carries flags from this one.
  const Result<uint64_t> hw = ReadHardwareCorruptedKb(opts_.meminfo_path);
  const bool had_last = have_last_;
  have_last_ = false;  // until this capture has succeeded
  baseline_ = FlagBaseline();
  if (hw.ok() && opts.frozen)
    baseline_ = FlagBaseline(&opts.frozen->folios, opts.frozen_hw_corrupted_kb, kPteHolder);
  else if (hw.ok() && had_last)
    baseline_ = FlagBaseline(&last_folios_, last_hw_kb_, kPteOwnBeforePopulate | kPteHolder);
  flags_read_ = flags_carried_ = 0;
  matched_baseline_ = false;
  struct Drop {  // it may point at the caller's frozen capture: not past this call
    FlagBaseline* b;
    ~Drop() { *b = FlagBaseline(); }
  } drop{&baseline_};

  KHOD_RETURN_IF_ERROR(EnsureMapped(size));
  KHOD_RETURN_IF_ERROR(CapturePolicy(out));

  const uint64_t total = size / page;
  std::mutex progress_mu;
  uint64_t done = 0;
  auto progress = [&](uint64_t n) {
    if (!opts.progress) return;
    std::lock_guard<std::mutex> l(progress_mu);
    done += n;
    opts.progress(done, total);
  };
  for (auto& p : parts_)
    if (!p) p = std::make_unique<ScanPart>();
  ScanPart& head = *parts_[0];
  head.builder = FolioExtentBuilder();
  // About as many extents as the capture compared with: it builds them once.
  const size_t expected_extents =
      opts.frozen ? opts.frozen->folios.size() : had_last ? last_folios_.size() : 0;
  head.builder.Reserve(expected_extents + expected_extents / 8);
  head.progress = progress;
  FolioExtentBuilder& builder = head.builder;
  if (hugetlb) {
    const uint64_t window = std::max<uint64_t>(kWindowPages, identity_.page_size / page);
    for (uint64_t first = 0; first < total; first += window) {
      const uint64_t n = std::min(window, total - first);
      Status s = ScanHugetlbWindow(first, n, &builder);
      if (!s.ok()) return s.WithContext(Describe());
      progress(n);
    }
  } else {
    Status s = ScanBuddy(total, expected_extents, &head);
    if (!s.ok()) return s.WithContext(Describe());
  }
  if (gmem && !GmemInitSharedSeen()) {
    // A page present in a mapping of the file is shared: INIT_SHARED.
    const std::vector<bool>& mapped = builder.readable_shared();
    if (std::find(mapped.begin(), mapped.end(), true) != mapped.end()) {
      seen_mask_ |= uapi::kGuestMemfdFlagInitShared;
      seen_flags_ |= uapi::kGuestMemfdFlagInitShared;
      KHOD_RETURN_IF_ERROR(CheckDeclaredFlags());
      set_flags();
    }
  }
  if (opts.hash_contents) KHOD_RETURN_IF_ERROR(HashExtents(builder, out));
  out->folios = builder.TakeExtents();
  FillVisibility(out);
  if (opts.stats) {
    opts.stats->flags_read += flags_read_;
    opts.stats->flags_carried += flags_carried_;
  }
  // Verify's capture is no baseline: the VMM takes the memory back after it,
  // and keeping it would cost a copy of every extent (fresh memory after a
  // reexec); a later capture reads every page's flags.
  if (hw.ok() && !hugetlb && !opts.frozen) {
    // A capture that matched its baseline (last_folios_ here) is equal to it.
    if (!matched_baseline_) last_folios_ = out->folios;
    last_hw_kb_ = *hw;
    have_last_ = true;
  }
  head.progress = nullptr;  // they captured this call's locals
  if (parts_[1]) parts_[1]->progress = nullptr;
  return Status::Ok();
}

}  // namespace khod
