#include "capture/buddy_scan.h"

#include <algorithm>
#include <limits>

#include "capture/baseline_match.h"
#include "capture/window_buffers_pool.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"

namespace khod {

namespace {

// A run of pages found by the scan, in file order. st: 1 resident but not
// mapped here (private), 2 mapped but PFN hidden (not root), 3 PFN known (its
// folio flags land in its thread's flags from flags_at once kpageflags is
// read, or are there already when carried over from the baseline).
// 32 bytes: a fragmented file is many of them. len stays within one window;
// flags_at indexes a thread's flags, which cover at most the file's pages (< 2^32).
struct PageRun {
  uint64_t index, pfn;
  uint32_t len, flags_at;
  uint8_t st;
  bool flags_known;
};
static_assert(sizeof(PageRun) == 32, "PageRun grew");

// A PFN run whose folio flags come from kpageflags, and where they land: the
// flags of thread `part` at flags_at.
struct FlagRun {
  uint64_t pfn, len;
  uint32_t flags_at, part;
};

void SortByPfn(std::vector<FlagRun>* runs) {
  std::sort(runs->begin(), runs->end(),
            [](const FlagRun& a, const FlagRun& b) { return a.pfn < b.pfn; });
}

// The least room a capture thread's run and flag lists are given, in bytes.
// Below a huge page a list is heap memory faulted in 4 KiB at a time: a file
// scanned by several threads gets a huge page for each.
size_t MinListBytes(uint64_t total_pages, uint64_t window_pages) {
  return total_pages >= 2 * window_pages ? kHugePageBytes : 0;
}

// The room a list built from a baseline of `extents` extents is given: an
// eighth more, for what a change splits.
size_t SpansRoomFor(size_t extents) { return extents + extents / 8 + 16; }

}  // namespace

// One thread's share of a scan: its window buffers, PFN runs and folio
// flags (one list each for every window it scans, on huge pages) and extents.
struct BuddyScanner::Part {
  FolioExtentBuilder builder;
  HugePageVector<PageRun> runs;
  HugePageVector<uint8_t> flags;
  // From WindowBuffersPool for the length of one call (BuddyScanner::Lease).
  std::unique_ptr<WindowBuffers> window;
  size_t baseline_cursor = 0;   // FlagBaseline::Split's, over this thread's runs
  std::vector<FlagRun> by_pfn;  // its st 3 runs whose flags are read, by PFN
};

// What one window of a scan found: runs [begin, end) of thread `part`.
struct WindowRuns {
  uint64_t first = 0, npages = 0;
  uint32_t part = 0;
  size_t begin = 0, end = 0;
};

// One pread of kpageflags: PFNs [lo, hi), covering merged runs [first, last)
// and the small gaps between them.
struct KpfRead {
  uint64_t lo, hi;
  size_t first, last;
};

// A scan shared by the threads: the windows (handed out in turn by
// `next_window`) with what each found, then the kpageflags reads of the
// whole file: every thread's runs merged in PFN order, the coalesced reads
// over them, and where each thread's share of the reads starts.
struct BuddyScanner::Plan {
  std::vector<WindowRuns> windows;
  std::atomic<size_t> next_window{0};
  HugePageVector<FlagRun> merged;
  std::vector<uint8_t*> flags;  // each part's flags, where its runs land
  std::vector<KpfRead> reads;
  std::vector<size_t> read_cuts;  // thread i reads [read_cuts[i], read_cuts[i + 1])
};

BuddyScanner::BuddyScanner() : window_pages_(kWindowPages), plan_(std::make_unique<Plan>()) {}
BuddyScanner::~BuddyScanner() = default;

int BuddyScanner::ThreadsFor(uint64_t total, int max_threads) const {
  const uint64_t windows = (total + window_pages_ - 1) / window_pages_;
  return static_cast<int>(std::max<uint64_t>(1, std::min<uint64_t>(windows, max_threads)));
}

void BuddyScanner::EnsureParts(int threads) {
  while (parts_.size() < static_cast<size_t>(threads)) parts_.push_back(std::make_unique<Part>());
}

// Parts [0, threads) with window buffers from the pool for one call; they go
// back, their populated pages counted, when it returns.
class BuddyScanner::Lease {
 public:
  Lease(BuddyScanner* s, int threads) : s_(s) {
    s_->EnsureParts(threads);
    for (int i = 0; i < threads; ++i)
      if (!s_->parts_[i]->window) s_->parts_[i]->window = WindowBuffersPool::Take();
  }
  ~Lease() {
    for (auto& p : s_->parts_) {
      if (!p->window) continue;
      s_->populated_ += p->window->populated;
      WindowBuffersPool::Give(std::move(p->window));
    }
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;

 private:
  BuddyScanner* s_;
};

uint64_t BuddyScanner::populated() const { return populated_.load(); }

void BuddyScanner::ResetPopulated() { populated_.store(0); }

size_t BuddyScanner::PrefaultBuffers(uint64_t total, int threads) {
  // Each part is given room for its share at 16 pages a run, capped so that
  // a huge file does not prefault more than 32 MiB of guesses per list. PFN
  // runs whose flags are read (by_pfn) are few here: the holder's pages
  // carry theirs over (flag_reuse.h). The window buffers are the pool's:
  // prefaulted here, they serve whichever file is scanned next.
  Lease lease(this, threads);
  const uint64_t share = (total + threads - 1) / threads;
  constexpr uint64_t kCap = uint64_t{32} << 20;
  const size_t runs = static_cast<size_t>(std::min<uint64_t>(share / 16, kCap / sizeof(PageRun)));
  const size_t flags = static_cast<size_t>(std::min<uint64_t>(share, kCap));
  const size_t window = static_cast<size_t>(std::min<uint64_t>(total, window_pages_));
  auto touch = [](auto* v, size_t n) {
    v->resize(std::max(v->size(), n));  // value-initialized: written, so faulted in
  };
  const size_t min_flags = MinListBytes(total, window_pages_);
  const size_t min_runs = min_flags / sizeof(PageRun);
  size_t bytes = 0;
  for (int i = 0; i < threads; ++i) {
    Part& p = *parts_[i];
    p.window->Size(window);
    touch(&p.runs, std::max(runs, min_runs));
    touch(&p.flags, std::max(flags, min_flags));
    bytes += p.runs.size() * sizeof(PageRun) + p.flags.size();
    p.runs.clear();
    p.flags.clear();
  }
  return bytes;
}

Status BuddyScanner::Populate(const PageWindowReader& reader, uint64_t total, int threads) {
  Lease lease(this, threads);
  const uint64_t windows = (total + window_pages_ - 1) / window_pages_;
  return RunShares(threads, [&](int i) -> Status {
    const uint64_t from = windows * i / threads * window_pages_;
    const uint64_t to = std::min(total, windows * (i + 1) / threads * window_pages_);
    for (uint64_t at = from; at < to; at += window_pages_)
      KHOD_RETURN_IF_ERROR(
          reader.Populate(at, std::min(window_pages_, to - at), parts_[i]->window.get()));
    return Status::Ok();
  });
}

Status BuddyScanner::ScanWindow(const PageWindowReader& reader, const FlagBaseline& baseline,
                                uint64_t first, uint64_t npages, Part* part, size_t window) {
  KHOD_RETURN_IF_ERROR(reader.Populate(first, npages, part->window.get()));
  HugePageVector<PageRun>& runs = part->runs;
  HugePageVector<uint8_t>& flags = part->flags;
  WindowRuns& found = plan_->windows[window];
  found.begin = runs.size();
  const uint8_t* mc = part->window->mincore;
  const uint64_t* pm = part->window->pagemap;
  auto resident = [&](uint64_t i) { return (mc[i] & 1) != 0; };
  auto present = [&](uint64_t i) { return PagemapPresent(pm[i]); };
  const bool kpf = reader.frames().kpageflags_readable();
  auto state = [&](uint64_t i) -> int {
    if (!resident(i) && !present(i)) return 0;
    if (!present(i)) return 1;
    return (kpf && PagemapPfn(pm[i]) != 0) ? 3 : 2;
  };
  // Made once a window, not once a run: a std::function whose captures
  // outgrow its inline buffer allocates.
  uint64_t run_index = 0, run_pfn = 0;
  const std::function<void(uint64_t, uint64_t, bool, uint8_t)> piece = [&](uint64_t off, uint64_t n,
                                                                           bool known, uint8_t f) {
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
    baseline.Split(run_index, run_pfn, j - i, part->window->origin + i, piece,
                   &part->baseline_cursor);
    i = j;
  }
  found.end = runs.size();
  return Status::Ok();
}

// Phase 1 (per thread): windows taken in turn until none is left, then the
// PFN runs found sorted by PFN.
Status BuddyScanner::ScanWindows(const PageWindowReader& reader, const FlagBaseline& baseline,
                                 Part* part) {
  part->by_pfn.clear();
  part->baseline_cursor = 0;
  const uint32_t me = static_cast<uint32_t>(
      std::find_if(parts_.begin(), parts_.end(), [&](const auto& p) { return p.get() == part; }) -
      parts_.begin());
  Plan& plan = *plan_;
  for (size_t w; (w = plan.next_window.fetch_add(1)) < plan.windows.size();) {
    WindowRuns& found = plan.windows[w];
    found.part = me;
    KHOD_RETURN_IF_ERROR(ScanWindow(reader, baseline, found.first, found.npages, part, w));
    for (size_t k = found.begin; k < found.end; ++k) {
      const PageRun& r = part->runs[k];
      if (r.st == 3 && !r.flags_known) part->by_pfn.push_back({r.pfn, r.len, r.flags_at, me});
    }
    if (progress_) progress_(found.npages);
  }
  SortByPfn(&part->by_pfn);
  return Status::Ok();
}

// Rule 4 of capture/flag_reuse.h, checked once every PFN has been read: if a
// page was poisoned anywhere since the baseline (or the count cannot be
// read), carried flags could hide it, so every page's flags are read after
// all. Then counts what is read and what is carried.
void BuddyScanner::CheckCarriedFlags(const FlagBaseline& baseline, const HwCorruptedCount& hw_count,
                                     int threads, BuddyScanCounts* counts) {
  counts->flags_read = counts->flags_carried = 0;
  bool demote = false;
  if (baseline.usable()) {
    Result<uint64_t> hw = hw_count.Get();
    demote = !hw.ok() || *hw != baseline.hw_corrupted_kb();
  }
  for (int i = 0; i < threads; ++i) {
    Part* part = parts_[i].get();
    bool added = false;
    for (PageRun& r : part->runs) {
      if (r.st != 3) continue;
      if (r.flags_known && demote) {
        r.flags_known = false;
        part->by_pfn.push_back({r.pfn, r.len, r.flags_at, static_cast<uint32_t>(i)});
        added = true;
      }
      (r.flags_known ? counts->flags_carried : counts->flags_read) += r.len;
    }
    if (added) SortByPfn(&part->by_pfn);
  }
}

// Phase 2 (once, between the threads' phases): merges every thread's sorted
// runs in PFN order and coalesces them into reads spanning gaps of up to
// kGap PFNs (reading a few unneeded entries is far cheaper than another
// pread). The reads are then cut into shares of about equal PFN count: the
// windows differ a lot in fragmentation, so reading each thread's own runs
// would leave threads idle.
void BuddyScanner::PlanFlagReads(int threads) {
  constexpr uint64_t kGap = 64, kMaxRead = uint64_t{64} * 1024;
  Plan& plan = *plan_;
  plan.merged.clear();
  plan.flags.assign(static_cast<size_t>(threads), nullptr);
  std::vector<size_t> at(static_cast<size_t>(threads), 0);
  for (int l = 0; l < threads; ++l) plan.flags[l] = parts_[l]->flags.data();  // no longer grow
  for (;;) {  // the lowest of the lists' next runs, list by list
    int low = -1;
    for (int l = 0; l < threads; ++l) {
      const std::vector<FlagRun>& list = parts_[l]->by_pfn;
      if (at[l] < list.size() && (low < 0 || list[at[l]].pfn < parts_[low]->by_pfn[at[low]].pfn))
        low = l;
    }
    if (low < 0) break;
    plan.merged.push_back(parts_[low]->by_pfn[at[low]++]);
  }
  plan.reads.clear();
  std::vector<uint64_t> pfns;
  const HugePageVector<FlagRun>& m = plan.merged;
  for (size_t i = 0; i < m.size();) {
    KpfRead rd{m[i].pfn, m[i].pfn + m[i].len, i, 0};
    for (++i; i < m.size() && m[i].pfn <= rd.hi + kGap &&
              std::max(rd.hi, m[i].pfn + m[i].len) - rd.lo <= kMaxRead;
         ++i)
      rd.hi = std::max(rd.hi, m[i].pfn + m[i].len);
    rd.last = i;
    plan.reads.push_back(rd);
    pfns.push_back(rd.hi - rd.lo);
  }
  plan.read_cuts = BalancedCuts(pfns, threads);  // a cut between reads: none is split
}

// Phase 2 (per thread): reads [first, last) of the plan, each run's folio
// flags into its thread's flags.
Status BuddyScanner::ReadFlags(const PageFrameReader& frames, size_t first, size_t last) const {
  std::vector<uint64_t> buf;
  for (size_t i = first; i < last; ++i) {
    const KpfRead& rd = plan_->reads[i];
    buf.resize(rd.hi - rd.lo);
    KHOD_RETURN_IF_ERROR(frames.ReadKpageflags(rd.lo, rd.hi - rd.lo, buf.data()));
    for (size_t k = rd.first; k < rd.last; ++k) {
      const FlagRun& r = plan_->merged[k];
      uint8_t* flags = plan_->flags[r.part] + r.flags_at;
      for (uint64_t p = 0; p < r.len; ++p) flags[p] = FolioFlagsFromKpf(buf[r.pfn - rd.lo + p]);
    }
  }
  return Status::Ok();
}

// Phase 3 (per thread): the extents of windows [first, last) in file order,
// split where the folio flags change.
void BuddyScanner::BuildExtents(size_t first, size_t last, FolioExtentBuilder* b) const {
  for (size_t w = first; w < last; ++w) {
    const WindowRuns& found = plan_->windows[w];
    const Part& part = *parts_[found.part];
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

Status BuddyScanner::Scan(const PageWindowReader& reader, const FlagBaseline& baseline,
                          uint64_t total, size_t expected_extents, bool try_match,
                          const HwCorruptedCount& hw, int threads,
                          const std::function<void(uint64_t)>& progress, FolioExtentBuilder* out,
                          BuddyScanCounts* counts) {
  if (total > std::numeric_limits<uint32_t>::max())
    return Status::Unsupported("files of more than 2^32 pages (16 TiB) are not captured");
  *counts = BuddyScanCounts();
  threads = std::max(1, threads);
  Lease lease(this, threads);
  progress_ = progress;
  struct Forget {  // it captured the caller's locals
    std::function<void(uint64_t)>* p;
    ~Forget() { *p = nullptr; }
  } forget{&progress_};
  // Capacity kept from the last capture. Any thread may scan most of the
  // runs (fragmentation differs within a file): room for all of them in
  // each, which costs address space only until it is written.
  const size_t min_flags = MinListBytes(total, window_pages_);
  const size_t min_runs = min_flags / sizeof(PageRun);
  for (int i = 0; i < threads; ++i) {
    Part& part = *parts_[i];
    part.builder = FolioExtentBuilder();
    part.builder.Reserve(i == 0 ? expected_extents + expected_extents / 8
                                : expected_extents / threads + 16);
    part.runs.clear();
    part.flags.clear();
    part.runs.reserve(std::max(expected_extents + expected_extents / 8, min_runs));
    part.flags.reserve(std::max(static_cast<size_t>(total), min_flags));
  }
  // Most captures with a baseline (Freeze after Prepare, Verify after a
  // reexec) find every page where it was: they are read and compared, and
  // no run or extent is built.
  if (try_match && baseline.usable() && reader.frames().kpageflags_readable()) {
    std::vector<WindowBuffers*> buffers;
    for (int i = 0; i < threads; ++i) buffers.push_back(parts_[i]->window.get());
    KHOD_ASSIGN_OR_RETURN(bool matched,
                          FileMatchesBaseline(reader, baseline, total, window_pages_, buffers, hw));
    if (matched) {
      TakeBaseline(*baseline.folios(), total, progress, out, counts);
      return Status::Ok();
    }
  }
  Plan& plan = *plan_;
  plan.windows.assign(static_cast<size_t>((total + window_pages_ - 1) / window_pages_),
                      WindowRuns());
  for (size_t w = 0; w < plan.windows.size(); ++w) {
    plan.windows[w].first = w * window_pages_;
    plan.windows[w].npages = std::min<uint64_t>(window_pages_, total - w * window_pages_);
  }
  KHOD_RETURN_IF_ERROR(ScanPlannedWindows(reader, baseline, hw, threads, counts));
  // Extents: shares of windows holding about equal numbers of runs.
  std::vector<uint64_t> runs;
  for (const WindowRuns& found : plan.windows) runs.push_back(found.end - found.begin);
  const std::vector<size_t> cuts = BalancedCuts(runs, threads);
  KHOD_RETURN_IF_ERROR(RunShares(threads, [&](int i) {
    BuildExtents(cuts[i], cuts[i + 1], &parts_[i]->builder);
    return Status::Ok();
  }));
  // Each share's extents appended after the one before (an extent that
  // crosses a cut is joined, as a single scan would).
  for (int i = 1; i < threads; ++i) parts_[0]->builder.Append(parts_[i]->builder);
  *out = std::move(parts_[0]->builder);
  return Status::Ok();
}

// The windows of plan_ scanned on `threads` shares, then the flags they
// need read: the two steps every scan takes once its windows are planned.
Status BuddyScanner::ScanPlannedWindows(const PageWindowReader& reader,
                                        const FlagBaseline& baseline, const HwCorruptedCount& hw,
                                        int threads, BuddyScanCounts* counts) {
  Plan& plan = *plan_;
  plan.next_window = 0;
  KHOD_RETURN_IF_ERROR(
      RunShares(threads, [&](int i) { return ScanWindows(reader, baseline, parts_[i].get()); }));
  CheckCarriedFlags(baseline, hw, threads, counts);
  PlanFlagReads(threads);
  return RunShares(threads, [&](int i) {
    return ReadFlags(reader.frames(), plan.read_cuts[i], plan.read_cuts[i + 1]);
  });
}

void BuddyScanner::TakeBaseline(const FolioList& folios, uint64_t total,
                                const std::function<void(uint64_t)>& progress,
                                FolioExtentBuilder* out, BuddyScanCounts* counts) {
  *out = FolioExtentBuilder();
  out->Assign(folios);  // shares the baseline's array: O(1)
  counts->flags_carried += folios.facts().pages;
  counts->matched_baseline = true;
  if (progress) progress(total);
}

void BuddyScanner::PrefaultSpansRoom(size_t baseline_extents) {
  const size_t room = SpansRoomFor(baseline_extents);
  if (spans_room_.capacity() >= room) return;
  spans_room_ = FolioList::Extents();
  spans_room_.resize(room);  // value-initialized: written, so faulted in
  spans_room_.clear();       // the capacity stays
}

void BuddyScanner::ReleaseWholeScanLists() {
  for (auto& p : parts_) {
    p->builder = FolioExtentBuilder();
    HugePageVector<PageRun>().swap(p->runs);
    HugePageVector<uint8_t>().swap(p->flags);
    std::vector<FlagRun>().swap(p->by_pfn);
  }
  Plan& plan = *plan_;
  std::vector<WindowRuns>().swap(plan.windows);
  HugePageVector<FlagRun>().swap(plan.merged);
  std::vector<uint8_t*>().swap(plan.flags);
  std::vector<KpfRead>().swap(plan.reads);
  std::vector<size_t>().swap(plan.read_cuts);
}

size_t BuddyScanner::ListBytes() const {
  size_t bytes = 0;
  for (const auto& p : parts_)
    bytes += p->builder.extents().extents().capacity() * sizeof(FolioExtent) +
             p->builder.readable_shared().capacity() / 8 + p->runs.capacity() * sizeof(PageRun) +
             p->flags.capacity() + p->by_pfn.capacity() * sizeof(FlagRun);
  const Plan& plan = *plan_;
  return bytes + plan.windows.capacity() * sizeof(WindowRuns) +
         plan.merged.capacity() * sizeof(FlagRun) + plan.flags.capacity() * sizeof(uint8_t*) +
         plan.reads.capacity() * sizeof(KpfRead) + plan.read_cuts.capacity() * sizeof(size_t);
}

Status BuddyScanner::ScanSpans(const PageWindowReader& reader, const FlagBaseline& baseline,
                               uint64_t total, const std::vector<PageSpan>& spans,
                               const HwCorruptedCount& hw, int threads,
                               const std::function<void(uint64_t)>& progress,
                               FolioExtentBuilder* out, BuddyScanCounts* counts) {
  *counts = BuddyScanCounts();
  const FolioList& folios = *baseline.folios();
  if (spans.empty()) {  // nothing changed: the baseline's extents
    TakeBaseline(folios, total, progress, out, counts);
    counts->changes_only = true;
    return Status::Ok();
  }
  Plan& plan = *plan_;
  plan.windows.clear();
  for (const PageSpan& s : spans)
    for (uint64_t at = s.first; at < s.end(); at += window_pages_) {
      WindowRuns w;
      w.first = at;
      w.npages = std::min(window_pages_, s.end() - at);
      plan.windows.push_back(w);
      counts->pages_rescanned += w.npages;
    }
  threads = static_cast<int>(std::max<size_t>(1, std::min<size_t>(threads, plan.windows.size())));
  Lease lease(this, threads);
  progress_ = progress;
  struct Forget {
    std::function<void(uint64_t)>* p;
    ~Forget() { *p = nullptr; }
  } forget{&progress_};
  for (int i = 0; i < threads; ++i) {
    parts_[i]->runs.clear();
    parts_[i]->flags.clear();
  }
  KHOD_RETURN_IF_ERROR(ScanPlannedWindows(reader, baseline, hw, threads, counts));
  // In file order: the baseline's extents between the windows, clipped to
  // the pages no window covers, then each window's runs.
  FolioExtentBuilder b;
  const size_t room = SpansRoomFor(folios.size());
  if (spans_room_.capacity() >= room)
    b.UseRoom(std::move(spans_room_));
  else
    b.Reserve(room);
  size_t e = 0;
  uint64_t clean = 0;
  // The baseline's pages outside the spans are added readable_shared, as a
  // full scan would find them: present in the mapping now, at their known
  // PFN. Extents whose PFN was unknown (not mapped here, or hidden) are in
  // the spans every time (change_scan.h, RescanBase::always), so no carried
  // extent joins one that a full scan would keep apart by readability.
  auto add_clipped = [&](const FolioExtent& f, uint64_t from, uint64_t to) {
    const uint64_t a = std::max(from, f.first_index), z = std::min(to, f.end_index());
    b.AddRun(a, f.first_pfn + (a - f.first_index), z - a, 0, f.flags, true);
    clean += z - a;
  };
  auto baseline_pages = [&](uint64_t from, uint64_t to) {
    while (e < folios.size() && folios[e].end_index() <= from) ++e;
    // [k, j): the extents that start before `to`; all but the first and the
    // last lie wholly in [from, to) and are carried over as they are.
    const size_t k = e;
    const size_t j = static_cast<size_t>(
        std::partition_point(folios.begin() + static_cast<std::ptrdiff_t>(k), folios.end(),
                             [&](const FolioExtent& f) { return f.first_index < to; }) -
        folios.begin());
    if (k == j) return;
    add_clipped(folios[k], from, to);
    if (j - k == 1) return;
    const FolioExtent* whole = &folios[k + 1];
    const FolioExtent* last = &folios[j - 1];
    for (const FolioExtent* f = whole; f != last; ++f) clean += f->pages();
    b.AddWholeExtents(whole, last, true);
    add_clipped(*last, from, to);
  };
  uint64_t at = 0;
  for (size_t w = 0; w < plan.windows.size(); ++w) {
    baseline_pages(at, plan.windows[w].first);
    BuildExtents(w, w + 1, &b);
    at = plan.windows[w].first + plan.windows[w].npages;
  }
  baseline_pages(at, total);
  counts->flags_carried += clean;
  counts->changes_only = true;
  if (progress) progress(total - counts->pages_rescanned);
  *out = std::move(b);
  return Status::Ok();
}

}  // namespace khod
