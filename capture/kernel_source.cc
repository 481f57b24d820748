#include "capture/kernel_source.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <mutex>
#include <tuple>

#include "capture/change_scan.h"
#include "capture/content_hash.h"
#include "capture/swapped_pages.h"
#include "common/hex.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "kernel/file_mappings.h"
#include "kernel/kvm_uapi.h"
#include "kernel/shared_policy.h"
#include "kernel/shared_policy_cache.h"
#include "kernel/shared_policy_probe.h"
#include "kernel/vma_policy_iter.h"

namespace khod {

namespace {

// The pages of `folios` whose PFN is known, as spans in file order.
std::vector<PageSpan> KnownPfnPages(const FolioList& folios) {
  std::vector<PageSpan> spans;
  for (const FolioExtent& e : folios) {
    if (e.first_pfn == kPfnUnknown) continue;
    if (!spans.empty() && spans.back().end() == e.first_index)
      spans.back().count += e.end_index() - e.first_index;
    else
      spans.push_back(PageSpan{e.first_index, e.end_index() - e.first_index});
  }
  return spans;
}

// For each run of pages of `spans` (sorted) that an extent of `folios` with
// a known PFN holds, in order: `run(extent, from, to, span)`; stops at false.
bool ForEachKnownRunWithin(
    const FolioList& folios, const std::vector<PageSpan>& spans,
    const std::function<bool(const FolioExtent&, uint64_t, uint64_t, const PageSpan&)>& run) {
  for (const PageSpan& span : spans) {
    // The first extent that ends after the span's first page.
    auto e = std::lower_bound(folios.begin(), folios.end(), span.first,
                              [](const FolioExtent& x, uint64_t i) { return x.end_index() <= i; });
    for (; e != folios.end() && e->first_index < span.end(); ++e) {
      if (e->first_pfn == kPfnUnknown) continue;
      if (!run(*e, std::max(e->first_index, span.first), std::min(e->end_index(), span.end()),
               span))
        return false;
    }
  }
  return true;
}

constexpr uint64_t kGmemFlagBits = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;

}  // namespace

KernelGmemSource::KernelGmemSource(UniqueFd fd, MemoryFileIdentity id, KernelSourceOptions opts,
                                   std::string origin, pid_t vmm_pid)
    : fd_(std::move(fd)),
      identity_(std::move(id)),
      opts_(std::move(opts)),
      origin_(std::move(origin)),
      vmm_pid_(vmm_pid) {
  if (opts_.window_pages) buddy_.set_window_pages(opts_.window_pages);
}

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

GmemFlagsSeen WithFrozenFlags(GmemFlagsSeen seen, const GuestMemfd* frozen, uint64_t inode) {
  // The same file: a guest_memfd the kernel showed, its inode this one's. (A
  // capture records no device: every guest_memfd is on one kernel-internal mount.)
  if (!frozen || frozen->provenance != Provenance::kKernel ||
      frozen->kind != FileKind::kGuestMemfd || frozen->inode == 0 || frozen->inode != inode)
    return seen;
  const uint64_t add = frozen->flags_known & kGmemFlagBits & ~seen.mask;
  seen.flags |= frozen->flags & add;
  seen.mask |= add;
  return seen;
}

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
                                                                   KernelSourceOptions opts,
                                                                   pid_t mappings_pid) {
  const int n = fd.get();
  KHOD_ASSIGN_OR_RETURN(auto id, IdentifyMemoryFile(n));
  return Make(std::move(fd), std::move(id), std::move(opts), "fd " + std::to_string(n),
              mappings_pid);
}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromPid(pid_t pid, int fd,
                                                                    KernelSourceOptions opts) {
  KHOD_ASSIGN_OR_RETURN(TakenMemoryFile taken, TakeMemoryFileFromProcess(pid, fd));
  return FromTaken(std::move(taken.file), std::move(taken.identity), pid, fd, std::move(opts));
}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromTaken(UniqueFd taken,
                                                                      MemoryFileIdentity id,
                                                                      pid_t pid, int fd,
                                                                      KernelSourceOptions opts) {
  const std::string origin = "fd " + std::to_string(fd) + " of pid " + std::to_string(pid);
  // Its policy lives in the VMM's mappings where the kernel keeps no shared
  // one (CapturePolicy): the VMA iterator is loaded now, not by the first
  // capture that reads it, which can be a Freeze.
  if (id.kind != FileKind::kShmemMemfd && SharedPolicyOf(id.kind).answer == SharedPolicyAnswer::kNo)
    (void)SharedVmaPolicyIterator();
  // A shmem file's lives in its inode's tree: that reader is loaded now too.
  if (id.kind == FileKind::kShmemMemfd) (void)LoadedSharedPolicyIterator();
  return Make(std::move(taken), std::move(id), std::move(opts), origin, pid);
}

std::string KernelGmemSource::Describe() const {
  return std::string(FileKindName(identity_.kind)) + " " + origin_ + " (" + identity_.link + ")";
}

uint64_t KernelGmemSource::token() const { return opts_.token ? opts_.token : identity_.inode; }

Status KernelGmemSource::EnsureMapped(uint64_t size) {
  if (!frames_) {
    KHOD_ASSIGN_OR_RETURN(frames_, PageFrameReader::Shared());
  }
  if (mapping_.length() == size) return Status::Ok();
  guard_.reset();
  mapping_ = Mapping();
  // A HugeTLB file's holes are reserved only where the options ask it (root's files).
  const bool noreserve = identity_.kind == FileKind::kHugetlbMemfd && !opts_.reserve_hugetlb_holes;
  auto m = Mapping::Map(fd_.get(), 0, size, PROT_READ, noreserve ? MAP_NORESERVE : 0);
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
  if (identity_.kind == FileKind::kHugetlbMemfd)
    hugetlb_ = std::make_unique<HugetlbScanner>(mapping_.data(), frames_, identity_.page_size,
                                                &own_populated_);
  if (held_by_ > 0 && identity_.kind != FileKind::kHugetlbMemfd) {
    // HugeTLB keeps populating its own (64 entries per window, a few ms).
    Result<HeldMapping> h = HeldMapping::Find(held_by_, fd_.get(), size);
    if (h.ok())
      held_ = std::make_unique<HeldMapping>(std::move(*h));
    else
      held_note_ = h.status().message();
  }
  if (identity_.kind != FileKind::kGuestMemfd) {
    // A pinned shmem file's change scan needs a mapping without fault-around.
    const bool no_fault_around = opts_.pin_movable && identity_.kind == FileKind::kShmemMemfd;
    auto g = PopulateGuard::Register(mapping_.data(), size, no_fault_around);
    no_fault_around_ = g.ok() && no_fault_around;
    if (!g.ok() && no_fault_around) g = PopulateGuard::Register(mapping_.data(), size);
    if (g.ok()) {
      guard_ = std::make_unique<PopulateGuard>(std::move(*g));
    } else if (identity_.kind == FileKind::kHugetlbMemfd) {
      // Without the guard, populating a HugeTLB hole would allocate a huge page.
      return Status::Unsupported("HugeTLB residency needs userfaultfd (" + g.status().message() +
                                 ")");
    }
  }
  return Status::Ok();
}

PageWindowReader KernelGmemSource::WindowReader() const {
  return PageWindowReader(mapping_.data(), frames_, held_.get(), &opts_.declared_attributes,
                          const_cast<std::atomic<bool>*>(&own_populated_));
}

int KernelGmemSource::MaxThreads() const { return ThreadsToUse(opts_.capture_threads); }

// The rule of capture/change_scan.h, checked condition by condition; where
// one fails the capture takes the full path and changes_note() says why.
Result<bool> KernelGmemSource::ScanChanges(const FlagBaseline& baseline, bool frozen,
                                           bool same_mapping, uint64_t total, uint64_t hw_kb,
                                           const HwCorruptedCount& hw_count,
                                           const std::vector<PageSpan>* unwitnessed,
                                           const std::function<void(uint64_t)>& progress,
                                           FolioExtentBuilder* out, BuddyScanCounts* counts) {
  auto no = [&](const char* why) {
    changes_note_ = why;
    return false;
  };
  if (!baseline.usable()) return no("no baseline");
  if (!CannotMove(*baseline.folios(), frozen))
    return no(pin_note_.empty() ? "memory that can move: full check" : pin_note_.c_str());
  if (identity_.kind == FileKind::kGuestMemfd && !GmemInitSharedSeen())
    return no("pages not mapped shared: full scan");
  if (!frames_->kpageflags_readable()) return no("PFNs or kpageflags not readable");
  // The mapping scanned: the holder's, with nothing mapped in khod's own
  // (whose PTEs would be newer than the baseline), or khod's own, the one the
  // baseline was read through.
  if (held_ ? (own_populated_ || !(baseline.origins() & kPteHolder))
            : (!same_mapping || !(baseline.origins() & kPteOwnBeforePopulate)))
    return no("no mapping that kept its PTEs since the baseline");
  const FolioList& folios = *baseline.folios();
  if (folios.facts().max_order != 0) return no("baseline with folios of order > 0");
  if (folios.facts().end_index > total) return no("the file shrank");
  // Rule 4 before: the count the capture read before any page (no page has
  // been read since; a page poisoned since shows in the check after the scan).
  if (hw_kb != baseline.hw_corrupted_kb()) return no("HardwareCorrupted changed");
  const int pagemap = held_ ? held_->pagemap_fd() : frames_->pagemap_fd();
  const uint64_t address = held_ ? held_->address() : reinterpret_cast<uint64_t>(mapping_.data());
  // With a witness, only the pages it does not vouch for are walked; the
  // rest stayed mapped in the keeper since before the baseline read them.
  Result<std::vector<PageSpan>> non_present =
      unwitnessed ? NonPresentPagesWithin(pagemap, address, total, *unwitnessed)
                  : NonPresentPagesInShares(pagemap, address, total, MaxThreads());
  const uint64_t walked = unwitnessed ? PagesWithin(total, *unwitnessed) : total;
  if (!non_present.ok()) {
    if (non_present.status().code() == Status::Code::kUnsupported)
      return no("no PAGEMAP_SCAN in this kernel");
    return non_present.status();
  }
  const PageWindowReader reader = WindowReader();
  if (rescan_base_.version != folios.version()) rescan_base_ = MakeRescanBase(folios, MaxThreads());
  KHOD_ASSIGN_OR_RETURN(std::vector<PageSpan> spans,
                        PagesToRescan(rescan_base_, total, *non_present, reader));
  KHOD_RETURN_IF_ERROR(buddy_.ScanSpans(reader, baseline, total, spans, hw_count, threads_used_,
                                        progress, out, counts));
  if (pin_.held()) rescanned_ = spans;
  // Rule 4 once every page has been looked at, as a full scan checks it.
  Result<uint64_t> hw = hw_count.Get();
  if (!hw.ok() || *hw != baseline.hw_corrupted_kb()) {
    *counts = BuddyScanCounts();
    return no("HardwareCorrupted changed");
  }
  // Said only of a scan that stood: a fallback above reads every page.
  pages_walked_ = walked;
  pages_witnessed_ = total - walked;
  return true;
}

// Where the policy lives (kernel_source.h): the inode's, its whole tree of
// page ranges as the BPF reader gives it (kernel/shared_policy.h), or each VMM
// mapping's. A tree whose pages do not all have one policy, a file whose tree
// cannot be read, or a VMM whose mappings cannot be read leaves it kUnknown: a
// policy is never what khod's own mapping shows, nor what one page shows.
Status KernelGmemSource::CapturePolicy(const CaptureOptions& opts, GuestMemfd* out) const {
  ProcessMappingsCache* const vmm_mappings = opts.vmm_mappings;
  const SharedPolicyProbe& probe = SharedPolicyOf(identity_.kind);
  const SharedPolicyAnswer shared = probe.answer;
  out->policy_source = PolicySource::kUnknown;
  out->policy_unread.clear();
  if (shared == SharedPolicyAnswer::kYes) {
    if (identity_.kind != FileKind::kShmemMemfd) {
      // guest_memfd's shared policy (Linux 6.19) lives in its own inode, which the reader
      // does not walk: get_mempolicy would show one page's.
      out->policy_unread = std::string("a ") + FileKindName(identity_.kind) +
                           "'s shared policy is a tree of page ranges, which khod reads only "
                           "for shmem files";
      return Status::Ok();
    }
    struct stat st;
    if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
    const uint64_t dev = static_cast<uint64_t>(st.st_dev), ino = static_cast<uint64_t>(st.st_ino);
    SharedPolicyCache alone;
    Result<SharedPolicyTree> tree =
        (opts.shared_policies ? opts.shared_policies : &alone)->Of(dev, ino);
    if (!tree.ok()) {
      out->policy_unread = "its shared policy was not read: " + tree.status().message();
      return Status::Ok();
    }
    const uint64_t page = static_cast<uint64_t>(getpagesize());
    Result<Mempolicy> whole = WholeFilePolicy(*tree, out->size / page);
    if (!whole.ok()) {
      out->policy_unread = whole.status().message();
      return Status::Ok();
    }
    out->policy_source = PolicySource::kInode;
    out->policy = *whole;
    return Status::Ok();
  }
  if (shared == SharedPolicyAnswer::kUnknown) {
    out->policy_unread = std::string("whether this kernel keeps a ") +
                         FileKindName(identity_.kind) + "'s policy in the file is not known (" +
                         probe.evidence + ")";
    return Status::Ok();
  }
  if (vmm_pid_ <= 0) {
    out->policy_unread =
        "it lives in the VMM's mappings, and no VMM process was named for " + Describe();
    return Status::Ok();
  }
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const FileKey key{st.st_dev, st.st_ino};
  Result<std::vector<FileMapping>> maps =
      vmm_mappings ? vmm_mappings->Get(vmm_pid_, key, page, FileNaming::kItsOwnInode)
                   : ReadFileMappings(vmm_pid_, key, page, FileNaming::kItsOwnInode);
  if (!maps.ok()) {
    out->policy_unread = maps.status().message();
    return Status::Ok();
  }
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

KernelGmemSource::~KernelGmemSource() { JoinWarmUp(); }

void KernelGmemSource::UsePagesMappedBy(int pid) {
  JoinWarmUp();
  have_last_ = false;  // another mapping: continuity starts over
  held_by_ = pid;
  held_.reset();
  held_note_.clear();
  buddy_.ResetPopulated();
  guard_.reset();        // before the mapping it guards
  hugetlb_.reset();      // it points into the mapping
  mapping_ = Mapping();  // EnsureMapped looks for the holder's mapping
}

std::string KernelGmemSource::pfn_origin() const {
  std::string s;
  if (!held_) {
    s = "own mapping";
    if (held_by_ > 0) s += " (not pid " + std::to_string(held_by_) + "'s: " + held_note_ + ")";
  } else {
    s = held_->Describe() + " (" + std::to_string(buddy_.populated()) + " pages populated here)";
  }
  if (flags_carried_)
    s += "; folio flags of " + std::to_string(flags_carried_) + " pages carried over, " +
         std::to_string(flags_read_) + " read";
  return s;
}

bool WarmUpPrefaultsScanBuffers(FileKind kind, bool pins_cover_frozen) {
  const bool change_scan = kind == FileKind::kGuestMemfd || pins_cover_frozen;
  return !change_scan && kind != FileKind::kHugetlbMemfd;
}

void KernelGmemSource::StartWarmUp() {
  JoinWarmUp();
  // Its status is dropped on purpose: Capture redoes every step and reports.
  warm_ = WarmUpQueue::Submit([this] { (void)WarmUp(); });
}

void KernelGmemSource::JoinWarmUp() {
  WarmUpQueue::Finish(warm_);
  warm_.reset();
}

Status KernelGmemSource::WarmUp() {
  // The capture's policy step asks this once per process (a scratch VM and
  // guest_memfd, or memfd), and loads the BPF reader of shared policies (tens
  // of ms in the verifier): done here, a new khod's first Verify does neither.
  (void)SharedPolicyOf(identity_.kind);
  if (identity_.kind == FileKind::kShmemMemfd) (void)LoadedSharedPolicyIterator();
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0 || size % identity_.page_size != 0) return Status::Ok();  // Capture says why
  if (identity_.kind == FileKind::kGuestMemfd && !(seen_flags_ & uapi::kGuestMemfdFlagMmap))
    return Status::Ok();  // nothing to map
  have_last_ = false;     // it populates outside a capture (flag_reuse.h rule 1)
  KHOD_RETURN_IF_ERROR(EnsureMapped(size));
  const uint64_t total = size / page;
  const int threads = buddy_.ThreadsFor(total, MaxThreads());
  if (held_) {
    // The holder's mapping is populated already. What a first capture still
    // pays is its buffers faulting in; Verify waits for this warm-up, so it
    // faults in only what Verify's capture will fill (docs/PERFORMANCE.md).
    if (WarmUpPrefaultsScanBuffers(identity_.kind, pins_cover_frozen_))
      (void)buddy_.PrefaultBuffers(total, threads);
    return Status::Ok();
  }
  if (identity_.kind == FileKind::kHugetlbMemfd) {
    // HugeTLB populates inside its scan (under the guard): a throwaway scan.
    FolioExtentBuilder scratch;
    return hugetlb_->Scan(total, &scratch);
  }
  return buddy_.Populate(WindowReader(), total, threads);
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
  out->name = !opts_.name.empty()             ? opts_.name
              : !identity_.memfd_name.empty() ? identity_.memfd_name
                                              : "kvm-gmem " + origin_;
  out->provenance = Provenance::kKernel;
  out->kind = identity_.kind;
  out->size = size;
  const bool hugetlb = identity_.kind == FileKind::kHugetlbMemfd;
  out->backing = hugetlb ? Backing::kHugetlb : Backing::kBuddy;
  out->hstate_order = hugetlb ? FolioOrder(identity_.page_size / page) : 0;
  out->vm_token = opts_.vm_token;
  out->attributes = opts_.declared_attributes;
  // Not read until CapturePolicy reads it (a 0-byte file returns before).
  out->policy_source = PolicySource::kUnknown;
  out->policy_unread = "a file of 0 bytes has no page to read it at";
  const bool gmem = identity_.kind == FileKind::kGuestMemfd;
  if (gmem && opts.frozen) {
    // What the frozen capture saw of the creation flags stands only if it
    // saw this same file: not a guest_memfd rebuilt into one the VMM offered.
    const GmemFlagsSeen seen = WithFrozenFlags(GmemFlagsSeen{seen_flags_, seen_mask_}, opts.frozen,
                                               static_cast<uint64_t>(st.st_ino));
    seen_flags_ = seen.flags;
    seen_mask_ = seen.mask;
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
    return CapturePolicy(opts, out);
  }

  // Rule 4's count, read before any page is (or its round's, read before any
  // file's): a page poisoned after this shows as a change at the next capture
  // that carries flags from this one.
  const HwCorruptedCount hw_count = opts.round_hw_corrupted_kb
                                        ? HwCorruptedCount::OfRound(*opts.round_hw_corrupted_kb)
                                        : HwCorruptedCount::ReadFrom(opts_.meminfo_path);
  const Result<uint64_t> hw = hw_count.Get();
  const bool had_last = have_last_;
  have_last_ = false;  // until this capture has succeeded
  // It may point at the caller's frozen capture: not kept past this call.
  FlagBaseline baseline;
  if (hw.ok() && opts.frozen) {
    baseline = FlagBaseline(&opts.frozen->folios, opts.frozen_hw_corrupted_kb, kPteHolder);
    if (opts.frozen_rescan_base &&
        opts.frozen_rescan_base->version == opts.frozen->folios.version())
      rescan_base_ = *opts.frozen_rescan_base;
  } else if (hw.ok() && had_last)
    baseline = FlagBaseline(&last_folios_, last_hw_kb_, kPteOwnBeforePopulate | kPteHolder);
  flags_read_ = flags_carried_ = 0;
  matched_baseline_ = changes_only_ = false;
  pages_rescanned_ = 0;
  pages_walked_ = pages_witnessed_ = 0;
  changes_note_.clear();
  // The witness stands for the baseline only if that was captured under it
  // (after it started) and this file is one of its own. Verify's baseline is
  // the frozen capture: a witness the previous khod handed on stands for it
  // (it started at Prepare, before Freeze).
  const uint64_t witness_serial = opts.witness ? opts.witness->serial() : 0;
  const bool witness_stands =
      opts.witness && (opts.frozen ? opts.witness->covers_frozen()
                                   : had_last && last_witness_serial_ == witness_serial);
  const std::vector<PageSpan>* unwitnessed =
      witness_stands ? opts.witness->Unwitnessed(FileKey{static_cast<uint64_t>(st.st_dev),
                                                         static_cast<uint64_t>(st.st_ino)})
                     : nullptr;

  // The mapping the baseline was read through, if this capture keeps it.
  const uint8_t* mapped_before = mapping_.data();
  KHOD_RETURN_IF_ERROR(EnsureMapped(size));
  KHOD_RETURN_IF_ERROR(CapturePolicy(opts, out));
  const bool same_mapping = mapped_before != nullptr && mapped_before == mapping_.data();

  const uint64_t total = size / page;
  std::mutex progress_mu;
  uint64_t done = 0;
  auto progress = [&](uint64_t n) {
    if (!opts.progress) return;
    std::lock_guard<std::mutex> l(progress_mu);
    done += n;
    opts.progress(done, total);
  };
  FolioExtentBuilder builder;
  if (hugetlb) {
    Status s = hugetlb_->Scan(total, &builder, progress);
    if (!s.ok()) return s.WithContext(Describe());
  } else {
    // About as many extents as the capture compared with: it builds them once.
    const size_t expected_extents = opts.frozen ? opts.frozen->folios.size()
                                    : had_last  ? last_folios_.size()
                                                : 0;
    // Its match takes the baseline's extents as mapped: only where pages can be.
    const bool try_match = !gmem || GmemInitSharedSeen();
    BuddyScanCounts counts;
    threads_used_ = buddy_.ThreadsFor(total, MaxThreads());
    // A baseline is set only where `hw` was read.
    Result<bool> changes =
        ScanChanges(baseline, opts.frozen != nullptr, same_mapping, total, hw.ok() ? *hw : 0,
                    hw_count, unwitnessed, progress, &builder, &counts);
    if (!changes.ok()) return changes.status().WithContext(Describe());
    if (!*changes) {
      Status s = buddy_.Scan(WindowReader(), baseline, total, expected_extents, try_match, hw_count,
                             threads_used_, progress, &builder, &counts);
      if (!s.ok()) return s.WithContext(Describe());
    }
    changes_only_ = counts.changes_only;
    pages_rescanned_ = counts.pages_rescanned;
    flags_read_ = counts.flags_read;
    flags_carried_ = counts.flags_carried;
    matched_baseline_ = counts.matched_baseline;
  }
  // shmem pages out in swap look like holes to the scan (capture/swapped_pages.h).
  if (identity_.kind == FileKind::kShmemMemfd && HostHasSwap()) {
    Result<std::vector<PageSpan>> swapped =
        SwappedOutPages(fd_.get(), mapping_.data(), builder.extents(), total, page);
    if (!swapped.ok()) return swapped.status().WithContext(Describe());
    KHOD_RETURN_IF_ERROR(RefuseSwappedOut(Describe(), *swapped));
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
  if (opts.hash_contents) {
    HashSource hs;
    hs.fd = fd_.get();
    hs.through_mapping = gmem;
    hs.base = mapping_.data();
    hs.frames = frames_;
    hs.describe = Describe();
    const int threads = static_cast<int>(
        std::min<size_t>(static_cast<size_t>(MaxThreads()), builder.extents().size() + 1));
    KHOD_RETURN_IF_ERROR(HashExtents(hs, builder, threads, out));
  }
  out->folios = builder.TakeExtents();
  // A capture from the pinned baseline (Prepare's second, under the witness;
  // Freeze's): what it read anew is pinned too, so that the pins cover its
  // list (for Freeze, the frozen list the next khod's Verify starts from).
  if (changes_only_ && pin_.held() && !pins_cover_frozen_ && !opts.frozen &&
      out->folios.version() != pinned_version_)
    ExtendPins(rescanned_, out->folios, size);
  FillVisibility(out);
  if (opts.stats) {
    opts.stats->flags_read += flags_read_;
    opts.stats->flags_carried += flags_carried_;
    opts.stats->pages_walked += pages_walked_;
    opts.stats->pages_witnessed += pages_witnessed_;
  }
  // Verify's capture is no baseline: the VMM takes the memory back after it;
  // a later capture reads every page's flags.
  if (hw.ok() && !hugetlb && !opts.frozen) {
    // A capture that matched its baseline (last_folios_ here) is equal to it.
    if (!matched_baseline_) last_folios_ = out->folios;  // shares the array: O(1)
    if (opts.ready_as_baseline) {
      (void)last_folios_.facts();
      if (rescan_base_.version != last_folios_.version())
        rescan_base_ = MakeRescanBase(last_folios_, MaxThreads());
      PinBaseline(size);
      // Freeze's capture from it scans what changed, and builds a new list
      // when something did: room for that list, and none kept for a scan
      // of every page.
      if (!hugetlb && CannotMove(last_folios_, /*frozen=*/false)) {
        buddy_.PrefaultSpansRoom(last_folios_.size());
        buddy_.ReleaseWholeScanLists();
      }
    }
    last_hw_kb_ = *hw;
    last_witness_serial_ = witness_serial;
    have_last_ = true;
  }
  return Status::Ok();
}

bool KernelGmemSource::CannotMove(const FolioList& baseline, bool frozen) const {
  if (identity_.kind == FileKind::kGuestMemfd) return true;
  if (!pin_.held()) return false;
  return pins_cover_frozen_ ? frozen : pinned_version_ == baseline.version();
}

void KernelGmemSource::ReleasePins() {
  pin_.Release();
  ForgetPins();
  pin_note_.clear();
}

void KernelGmemSource::ReleasePinsInBackground() {
  pin_.ReleaseInBackground();
  ForgetPins();
}

void KernelGmemSource::ForgetPins() {
  pinned_version_ = 0;
  pins_cover_frozen_ = false;
  rescanned_.clear();
}

std::vector<int> KernelGmemSource::PinFdsCovering(const GuestMemfd& captured) const {
  if (!pin_.held() || pins_cover_frozen_ || pinned_version_ != captured.folios.version()) return {};
  return pin_.ring_fds();
}

void KernelGmemSource::AdoptPins(PagePin pins) {
  ReleasePins();
  if (!pins.held()) return;
  pin_ = std::move(pins);
  pins_cover_frozen_ = true;
}

bool KernelGmemSource::MappedAsListed(const FolioList& folios, const std::vector<PageSpan>& spans) {
  // Pagemap entries of khod's own mapping, a window at a time that ends with
  // its span: Freeze's few pages read a few entries, not a window's worth.
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  constexpr uint64_t kWindow = 1u << 18;
  std::vector<uint64_t> entries;
  uint64_t first = 0, count = 0;  // the window read
  return ForEachKnownRunWithin(
      folios, spans, [&](const FolioExtent& e, uint64_t from, uint64_t to, const PageSpan& span) {
        for (uint64_t i = from; i < to; ++i) {
          if (i < first || i >= first + count) {
            first = i;
            count = std::min(kWindow, span.end() - i);
            if (entries.size() < count) entries.resize(count);
            Status read =
                frames_->ReadPagemap(mapping_.data() + first * page, count, entries.data());
            if (!read.ok()) {
              pin_note_ = "memory that can move, pinned pages not read back (" + read.ToString() +
                          "): full check";
              return false;
            }
          }
          const uint64_t x = entries[i - first];
          if (!PagemapPresent(x) || PagemapPfn(x) != e.first_pfn + (i - e.first_index)) {
            pin_note_ = "memory that can move, a page moved before it was pinned: full check";
            return false;
          }
        }
        return true;
      });
}

void KernelGmemSource::ExtendPins(const std::vector<PageSpan>& spans, const FolioList& folios,
                                  uint64_t size) {
  // The pages of `spans` the list has at a known PFN: what to pin more.
  std::vector<PageSpan> more;
  ForEachKnownRunWithin(folios, spans,
                        [&](const FolioExtent&, uint64_t from, uint64_t to, const PageSpan&) {
                          if (!more.empty() && more.back().end() == from)
                            more.back().count += to - from;
                          else
                            more.push_back(PageSpan{from, to - from});
                          return true;
                        });
  std::optional<PagePin> pin =
      PinAsListed(folios, more, size, "memory that can move, new pages not pinned (", ")");
  if (!pin) return;
  pin_.Absorb(std::move(*pin));
  pinned_version_ = folios.version();
}

void KernelGmemSource::PinBaseline(uint64_t size) {
  if (pin_.held() && pinned_version_ == last_folios_.version()) return;  // pinned already
  ReleasePins();
  if (!opts_.pin_movable || identity_.kind != FileKind::kShmemMemfd) return;
  if (held_ || !mapping_.data()) {
    pin_note_ = "memory that can move, read through another mapping: not pinned, full check";
    return;
  }
  if (!no_fault_around_) {
    pin_note_ =
        "memory that can move, khod's mapping faults around (no userfaultfd write-protect mode "
        "for shmem): not pinned, full check";
    return;
  }
  const FolioList& folios = last_folios_;
  if (folios.facts().max_order != 0) {
    pin_note_ = "memory that can move, in folios of order > 0: not pinned, full check";
    return;
  }
  std::optional<PagePin> pin = PinAsListed(folios, KnownPfnPages(folios), size,
                                           "memory that can move, not pinned (", "): full check");
  if (!pin) return;
  pin_ = std::move(*pin);
  pinned_version_ = folios.version();
}

std::optional<PagePin> KernelGmemSource::PinAsListed(const FolioList& folios,
                                                     const std::vector<PageSpan>& spans,
                                                     uint64_t size, const char* failed,
                                                     const char* failed_end) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  Result<PagePin> pin = PagePin::Pin(fd_.get(), size, spans, page, MaxThreads());
  if (!pin.ok()) {
    pin_note_ = failed + pin.status().ToString() + failed_end;
    return std::nullopt;
  }
  // The pins hold the folios mapped now: the list's only where no page
  // moved between the capture's read and the pin, which this read shows.
  if (!MappedAsListed(folios, spans)) return std::nullopt;
  return std::move(*pin);
}

std::optional<PteWitness::File> KernelGmemSource::WitnessFile(const GuestMemfd& captured) const {
  // Memory that moves (unpinned) keeps its PTEs at a new PFN; without khod's own mapping
  // (a holder's) the unwitnessed rest would be walked elsewhere.
  // An empty file has nothing to witness (and nothing to map).
  const bool gmem = identity_.kind == FileKind::kGuestMemfd;
  if (!(gmem ? GmemInitSharedSeen() : CannotMove(captured.folios, /*frozen=*/false)) || held_ ||
      !mapping_.data() || captured.size == 0)
    return std::nullopt;
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return std::nullopt;
  PteWitness::File f;
  f.key = FileKey{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  f.fd = fd_.get();
  f.size = captured.size;
  f.pages = KnownPfnPages(captured.folios);
  return f;
}

}  // namespace khod
