// KernelGmemSource: captures one guest_memfd (or a shmem or HugeTLB memfd)
// from the running kernel through a mapping khod keeps between captures,
// without changing the folio list it records: only pages mincore or a pagemap
// entry showed initialized are ever touched, pages declared private never.
// What the kernel shows of each kind of file, and how a capture reads it,
// is in docs/DESIGN.md ("Capture"); the steps live in capture/page_window.h,
// buddy_scan.h, hugetlb_scan.h, baseline_match.h, flag_reuse.h and
// content_hash.h. Creation flags are found, not declared: a declared flag the
// kernel contradicts is refused (InvalidArgument).
#ifndef KHOD_CAPTURE_KERNEL_SOURCE_H_
#define KHOD_CAPTURE_KERNEL_SOURCE_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "capture/buddy_scan.h"
#include "capture/change_scan.h"
#include "capture/flag_reuse.h"
#include "capture/folio_extent_builder.h"
#include "capture/gmem_source.h"
#include "capture/hugetlb_scan.h"
#include "capture/page_window.h"
#include "capture/warm_up_queue.h"
#include "common/unique_fd.h"
#include "kernel/held_mapping.h"
#include "kernel/mapping.h"
#include "kernel/meminfo.h"
#include "kernel/memory_file.h"
#include "kernel/page_pin.h"
#include "kernel/pagemap.h"
#include "kernel/residency.h"

namespace khod {

struct KernelSourceOptions {
  // GUEST_MEMFD_FLAG_* the VMM declares it created the guest_memfd with
  // (optional): only the bits in declared_gmem_mask are declared. Checked
  // against what the kernel shows (a contradiction is refused); a bit the
  // kernel cannot show is recorded as declared, outside flags_known.
  // Ignored for memfds.
  uint64_t declared_gmem_flags = 0;
  uint64_t declared_gmem_mask = 0;
  // Per-page attributes the VMM declares (pages with kAttrPrivate are never
  // touched). Stored as the snapshot's attributes.
  AttributeMap declared_attributes;
  std::string name;    // empty: memfd name, or "kvm-gmem fd N"
  uint64_t token = 0;  // 0: the inode number (stable while the file lives)
  uint64_t vm_token = 0;
  // Where HardwareCorrupted is read (capture/flag_reuse.h rule 4) outside a
  // capture round (CaptureOptions::round_hw_corrupted_kb); tests point it elsewhere.
  std::string meminfo_path = kProcMeminfo;
  // Threads a capture may use (khod --capture-threads); 0: the CPUs of this
  // process's affinity mask.
  int capture_threads = 0;
  // Pages of a scan window; 0: kWindowPages. Tests give a small file many.
  uint64_t window_pages = 0;
  // khod --pin-movable-memory: a shmem memfd's pages are pinned once a
  // capture is ready as a baseline (Prepare's), until the next such capture,
  // ReleasePins or the source's end, so that a capture from that baseline
  // may scan only what changed (capture/change_scan.h, kernel/page_pin.h).
  bool pin_movable = false;
  // Whether the capture mapping of a HugeTLB memfd reserves a huge page of
  // the pool for each hole of the file (kernel/mapping.h): only for root's
  // files (khod's opener: the attaching caller's uid is 0), whose VMM's
  // take-back after the handover needs it. Otherwise the file is mapped
  // MAP_NORESERVE. Ignored for other files, which no mapping reserves for.
  bool reserve_hugetlb_holes = true;
};

// Whether a new khod's warm-up of a file its mapping holder keeps populated
// faults in the buffers of a whole-file scan ahead of Verify: only where
// Verify's capture scans every page (memory that can move, which no
// previous khod's pins hold). A change scan touches buffers only for what
// changed; a HugeTLB scan has its own.
bool WarmUpPrefaultsScanBuffers(FileKind kind, bool pins_cover_frozen);

// guest_memfd creation flag bits a capture takes as shown (`mask`) and
// their values (`flags`).
struct GmemFlagsSeen {
  uint64_t flags = 0;
  uint64_t mask = 0;
  bool operator==(const GmemFlagsSeen& o) const { return flags == o.flags && mask == o.mask; }
};

// What a capture of the guest_memfd whose inode is `inode` takes as shown:
// `seen`, what the kernel showed of this file, plus the bits `frozen`
// (Verify's frozen capture, may be null) knew, but only where that capture
// observed this same file (a kernel capture of a guest_memfd with this
// inode). A guest_memfd's flags are fixed for its life, so the frozen
// capture's stand for the file it saw; a file restored into a new
// guest_memfd (one the VMM offered) has flags of its own that no capture saw.
GmemFlagsSeen WithFrozenFlags(GmemFlagsSeen seen, const GuestMemfd* frozen, uint64_t inode);

class KernelGmemSource : public GmemSource {
 public:
  // Takes ownership of `fd` after checking what it is. `mappings_pid`: the
  // process whose mappings hold its policy where it has no shared one (the
  // VMM it came from); 0: none (mappings_pid()).
  static Result<std::unique_ptr<KernelGmemSource>> FromFd(UniqueFd fd, KernelSourceOptions opts,
                                                          pid_t mappings_pid = 0);
  // Takes fd number `fd` of process `pid` (pidfd_open + pidfd_getfd).
  static Result<std::unique_ptr<KernelGmemSource>> FromPid(pid_t pid, int fd,
                                                           KernelSourceOptions opts);
  // FromPid's source of a file already taken from fd number `fd` of process
  // `pid` (TakeFdFromProcess) and identified as `id` (IdentifyMemoryFile);
  // takes ownership of `taken`.
  static Result<std::unique_ptr<KernelGmemSource>> FromTaken(UniqueFd taken, MemoryFileIdentity id,
                                                             pid_t pid, int fd,
                                                             KernelSourceOptions opts);

  ~KernelGmemSource() override;
  std::string Describe() const override;
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override;
  // Maps the file and populates its existing shared pages (the same guarded
  // runs a capture populates) in the background (capture/warm_up_queue.h:
  // one thread for all files, in turn), so that a first Capture after an
  // adopt finds them mapped and only reads pagemap and kpageflags. Capture
  // waits for it if it has started, else drops it and does the work itself;
  // errors are left for Capture to meet.
  void StartWarmUp() override;
  void UsePagesMappedBy(int pid) override;
  int mappings_pid() const override { return vmm_pid_; }
  // A guest_memfd mapped shared in khod's own mapping: the pages `captured`
  // has (capture/pte_witness.h).
  std::optional<PteWitness::File> WitnessFile(const GuestMemfd& captured) const override;
  void ReleasePins() override;
  std::vector<int> PinFdsCovering(const GuestMemfd& captured) const override;
  void AdoptPins(PagePin pins) override;
  void ReleasePinsInBackground() override;
  int fault_guard_fd() const override { return no_fault_around_ && guard_ ? guard_->fd() : -1; }
  // Pages pinned now (KernelSourceOptions::pin_movable), and why not where
  // a pin was asked for and not taken.
  uint64_t pinned_pages() const override { return pin_.pages(); }
  std::string pin_note() const override { return pin_note_; }
  // Where the last capture's PFNs came from, for messages: "own mapping", or
  // "pid 12's mapping at 0x7f..." (+ "N pages populated here"), and how many
  // pages' folio flags were read or carried over (capture/flag_reuse.h).
  std::string pfn_origin() const;
  // Pages of the last capture whose folio flags were read from kpageflags,
  // and those carried over from the baseline instead.
  uint64_t flags_read_pages() const { return flags_read_; }
  uint64_t flags_carried_pages() const { return flags_carried_; }
  // Whether the last capture found every page as its baseline had it and so
  // took the baseline's extents without building its own (MatchBaseline).
  bool matched_baseline() const { return matched_baseline_; }
  // Bytes of scan lists kept for the next capture (BuddyScanner::ListBytes):
  // none after a baseline whose next capture scans only what changed.
  size_t scan_list_bytes() const { return buddy_.ListBytes(); }
  // Whether the last capture scanned only what changed since its baseline
  // (capture/change_scan.h), and how many pages it scanned; else why not.
  bool changes_only() const { return changes_only_; }
  uint64_t pages_rescanned() const { return pages_rescanned_; }
  const std::string& changes_note() const { return changes_note_; }
  // Pages whose PTEs the last change scan walked (PAGEMAP_SCAN): all of the
  // file, or with a witness only those it does not witness.
  uint64_t pages_walked() const { return pages_walked_; }
  uint64_t pages_witnessed() const { return pages_witnessed_; }
  // The threads the last buddy-backed capture scanned with.
  int threads_used() const { return threads_used_; }

  const MemoryFileIdentity& identity() const { return identity_; }
  // guest_memfd creation flag bits the kernel has shown so far, and their values.
  uint64_t seen_flags_mask() const { return seen_mask_; }
  uint64_t seen_flags() const { return seen_flags_; }
  int fd() const { return fd_.get(); }
  uint64_t token() const;

 private:
  KernelGmemSource(UniqueFd fd, MemoryFileIdentity id, KernelSourceOptions opts, std::string origin,
                   pid_t vmm_pid);
  static Result<std::unique_ptr<KernelGmemSource>> Make(UniqueFd fd, MemoryFileIdentity id,
                                                        KernelSourceOptions opts,
                                                        std::string origin, pid_t vmm_pid);
  Status CheckDeclaredFlags() const;
  bool GmemInitSharedSeen() const;
  // Pins last_folios_'s pages where opts_.pin_movable asks it (a shmem
  // memfd's order-0 pages in khod's own mapping), if none moved before the pin.
  void PinBaseline(uint64_t size);
  // Pins the pages of `spans` (the last change scan's) that `folios` (its
  // result) has, if none moved before the pin: after it, the pins cover
  // `folios` as they covered its baseline.
  void ExtendPins(const std::vector<PageSpan>& spans, const FolioList& folios, uint64_t size);
  // Whether every page of `folios` within `spans` with a known PFN is mapped
  // at that PFN in khod's own mapping (a pagemap read), else pin_note_ says.
  bool MappedAsListed(const FolioList& folios, const std::vector<PageSpan>& spans);
  // Pins the pages of `spans`, and returns the pins if MappedAsListed then
  // holds; else pin_note_ says why (a failed pin: `failed`, its status,
  // `failed_end`) and nothing stays pinned.
  std::optional<PagePin> PinAsListed(const FolioList& folios, const std::vector<PageSpan>& spans,
                                     uint64_t size, const char* failed, const char* failed_end);
  // What a release of pin_ leaves: no pinned list, no adopted pins.
  void ForgetPins();
  // Whether the pages of `baseline` cannot move: a guest_memfd's, a list this
  // source pinned at the PFNs it holds, or (`frozen`) the frozen list a
  // previous khod's pins cover (AdoptPins).
  bool CannotMove(const FolioList& baseline, bool frozen) const;
  // `opts`' vmm_mappings and shared_policies: the round's reads, or nullptr.
  Status CapturePolicy(const CaptureOptions& opts, GuestMemfd* out) const;
  void FillVisibility(GuestMemfd* out) const;
  Status EnsureMapped(uint64_t size);
  PageWindowReader WindowReader() const;
  int MaxThreads() const;
  // `hw_kb`: HardwareCorrupted as the capture read it before any page;
  // `hw`: where the count after every page comes from.
  // `unwitnessed`: with a witness that stands for this file's baseline, the
  // pages it does not witness (only those are walked); nullptr: none.
  // `frozen`: the baseline is the frozen capture (CaptureOptions::frozen).
  Result<bool> ScanChanges(const FlagBaseline& baseline, bool frozen, bool same_mapping,
                           uint64_t total, uint64_t hw_kb, const HwCorruptedCount& hw,
                           const std::vector<PageSpan>* unwitnessed,
                           const std::function<void(uint64_t)>& progress, FolioExtentBuilder* out,
                           BuddyScanCounts* counts);
  Status WarmUp();
  void JoinWarmUp();

  UniqueFd fd_;
  MemoryFileIdentity identity_;
  KernelSourceOptions opts_;
  std::string origin_;  // "fd 7 of pid 1234"
  pid_t vmm_pid_ = 0;   // the process the fd was taken from; 0: none (FromFd)
  // guest_memfd creation flag bits the kernel has shown, and their values
  // (fixed for a file's life).
  uint64_t seen_mask_ = 0, seen_flags_ = 0;
  Mapping mapping_;
  std::unique_ptr<PopulateGuard> guard_;  // shmem / HugeTLB only
  PagePin pin_;                           // PinBaseline's
  uint64_t pinned_version_ = 0;           // FolioList::version() of the list pin_ holds
  bool pins_cover_frozen_ = false;        // pin_ is a previous khod's (AdoptPins)
  // guard_ keeps the kernel from faulting around in mapping_ (kernel/residency.h).
  bool no_fault_around_ = false;
  std::string pin_note_;
  std::vector<PageSpan> rescanned_;          // the last change scan's spans
  const PageFrameReader* frames_ = nullptr;  // PageFrameReader::Shared()
  // Scan state kept between captures: its buffers stay allocated (first-touch
  // page faults are slow on VMs), so a re-capture only scans.
  BuddyScanner buddy_;
  std::unique_ptr<HugetlbScanner> hugetlb_;
  // Whether anything populated mapping_ since it was made (else it has no PTE).
  std::atomic<bool> own_populated_{false};
  int held_by_ = -1;  // UsePagesMappedBy's pid until EnsureMapped looks for it
  std::unique_ptr<HeldMapping> held_;
  std::string held_note_;  // why held_by_ was not used
  // StartWarmUp's; while it runs it owns the members above.
  std::shared_ptr<WarmUpTicket> warm_;
  // The last successful capture's extents and HardwareCorrupted when it
  // began: what the next capture may carry folio flags over from. Dropped
  // when a populate outside a capture (warm-up) or a failed capture could
  // have installed PTEs after those flags were read.
  FolioList last_folios_;
  // What PagesToRescan needs of the last baseline a change scan used
  // (last_folios_ or Verify's frozen list), by its version.
  RescanBase rescan_base_;
  uint64_t last_hw_kb_ = 0;
  bool have_last_ = false;
  // The serial of the witness the last capture was made under (0: none): a
  // witness stands for a baseline captured after it started.
  uint64_t last_witness_serial_ = 0;
  uint64_t flags_read_ = 0, flags_carried_ = 0;
  bool matched_baseline_ = false;  // the last capture was the baseline's extents (MatchBaseline)
  bool changes_only_ = false;
  uint64_t pages_rescanned_ = 0;
  uint64_t pages_walked_ = 0, pages_witnessed_ = 0;
  std::string changes_note_;
  int threads_used_ = 0;
};

}  // namespace khod

#endif  // KHOD_CAPTURE_KERNEL_SOURCE_H_
