// KernelGmemSource: captures one guest_memfd (or the HugeTLB / shmem memfd
// that stands in for it where /dev/kvm is missing) from the running kernel.
//
// How the folio list is read without changing it:
//  1. mmap the file MAP_SHARED, PROT_READ, without MAP_POPULATE;
//  2. mincore() says which pages exist (HugeTLB: see PopulateGuard);
//  3. pagemap says which of them this process already maps; the existing,
//     unmapped, shared ones are mapped with MADV_POPULATE_READ (which never
//     raises SIGBUS: a private page fails with EFAULT). Private pages are never
//     populated, read or hashed;
//  4. /proc/kpageflags is read for the PFN runs found, sorted by PFN and
//     coalesced across small gaps (a freshly faulted 2 GiB shmem file is ~60k
//     runs: one pread each cost 4x more than ~1k coalesced reads).
// After a reexec, pages another process (the old khod's mapping holder) still
// maps come from its pagemap instead (UsePagesMappedBy): step 3 then
// populates only the pages it does not map.
// The mapping stays alive between captures, so a second capture of an
// unchanged file costs mincore + pagemap + kpageflags only. With a baseline
// (the last capture, or at Verify the frozen one) the windows are first only
// read and compared, never populated (MatchBaseline): when every page is
// mapped where the baseline had it, with flags capture/flag_reuse.h lets it
// carry, the capture is the baseline's extents and steps 3-4 are skipped. Buddy-backed files
// are scanned by two threads (the cost is kernel work, which scales with
// cores): steps 2-3 window by window, each thread taking the next one left,
// step 4 over two shares of equal PFN count of the whole file's runs
// (fragmentation, which both costs follow, differs a lot within a file).
//
// guest_memfd, as the kernel shows it (../shared/notes/gmem-6.18-facts.md):
//  - Creation flags are found, not declared: MMAP from mmap(PROT_NONE)
//    succeeding or failing with ENODEV (at open); INIT_SHARED only from
//    positive evidence, a page of the file present in a mapping of it (ours,
//    populated from a page mincore showed initialized, or the holder's).
//    Flags 2 cannot be told from 0, nor MMAP alone from MMAP|INIT_SHARED
//    with no page used: those bits stay out of GuestMemfd::flags_known. A
//    declared flag the kernel contradicts is refused (InvalidArgument).
//  - Without MMAP nothing per page is visible: size, flags, policy and
//    visibility kNone, no folio, no hash. Without INIT_SHARED seen, which
//    pages are initialized (mincore) is visible, not their PFNs or contents:
//    kInitializedOnly, extents with PFN unknown. A populate tried on such a
//    page fails with EFAULT and allocates nothing.
//  - Every access touches only pages mincore or a pagemap entry showed
//    initialized at that moment, never a hole (populating a hole of an
//    INIT_SHARED file allocates a page, and userfaultfd cannot guard a
//    guest_memfd mapping). With guests running a punch can still land
//    between that look and the access; it is made harmless: a populate that
//    meets the punch maps a zeroed page the guest would read as zeros anyway
//    (and the capture records it as what it then is, an initialized page),
//    and a hashed extent is re-checked after its read, every page still
//    mapped at the PFN the capture recorded, else the capture fails asking
//    for a new one with the guests paused (Freeze hashes only with them paused).
//  - NUMA policy: shmem and HugeTLB memfds have a shared (inode) policy, read
//    through khod's own mapping (kInode). guest_memfd has one only where
//    kernel/shared_policy_probe.h says so; otherwise (6.18) each VMM mapping
//    has its own, read from /proc/PID/numa_maps of the process the fd was
//    taken from (kVmmMappings); khod's own mapping's policy is never the
//    file's. Where neither can be read: kUnknown.
// Per-page private/shared attributes (this kernel has none) are declared by
// the caller, who got them from the VMM.
#ifndef KHOD_CAPTURE_KERNEL_SOURCE_H_
#define KHOD_CAPTURE_KERNEL_SOURCE_H_

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "capture/flag_reuse.h"
#include "capture/folio_extent_builder.h"
#include "capture/gmem_source.h"
#include "kernel/held_mapping.h"
#include "kernel/mapping.h"
#include "kernel/meminfo.h"
#include "kernel/memory_file.h"
#include "kernel/pagemap.h"
#include "kernel/residency.h"
#include "common/unique_fd.h"

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
  // Where HardwareCorrupted is read (capture/flag_reuse.h rule 4); tests point it elsewhere.
  std::string meminfo_path = kProcMeminfo;
};

class KernelGmemSource : public GmemSource {
 public:
  // Takes ownership of `fd` after checking what it is.
  static Result<std::unique_ptr<KernelGmemSource>> FromFd(UniqueFd fd, KernelSourceOptions opts);
  // Takes fd number `fd` of process `pid` (pidfd_open + pidfd_getfd).
  static Result<std::unique_ptr<KernelGmemSource>> FromPid(pid_t pid, int fd,
                                                           KernelSourceOptions opts);

  ~KernelGmemSource() override;
  std::string Describe() const override;
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override;
  // Maps the file and populates its existing shared pages (the same guarded
  // runs a capture populates) on a background thread, so that a first
  // Capture after an adopt finds them mapped and only reads pagemap and
  // kpageflags. Capture joins it first; errors are left for Capture to meet.
  void StartWarmUp() override;
  void UsePagesMappedBy(int pid) override;
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
  Status CapturePolicy(GuestMemfd* out) const;
  void FillVisibility(GuestMemfd* out) const;
  Status RecheckHashedExtent(const FolioExtent& e) const;
  Status EnsureMapped(uint64_t size);
  bool PageMayBeTouched(uint64_t index) const;
  struct ScanPart;
  struct WindowRuns;
  struct BuddyScan;
  Status ScanBuddy(uint64_t total, size_t expected_extents, ScanPart* head);
  Result<bool> MatchBaseline(uint64_t total, ScanPart* head, ScanPart* tail);
  Status WindowMatches(uint64_t first, uint64_t npages, ScanPart* part, bool* matches);
  Status ScanWindows(uint64_t total, ScanPart* part);
  Status ScanWindow(uint64_t first, uint64_t npages, ScanPart* part, WindowRuns* out);
  Status ReadWindowPtes(uint64_t first, uint64_t npages, ScanPart* part);
  Status ReadWindowResidency(uint64_t first, uint64_t npages, ScanPart* part);
  Status PopulateWindow(uint64_t first, uint64_t npages, ScanPart* part);
  void CheckCarriedFlags(ScanPart* head, ScanPart* tail);
  void PlanFlagReads(const ScanPart& head, const ScanPart* tail);
  Status ReadFlags(size_t first, size_t last) const;
  void BuildExtents(size_t first, size_t last, FolioExtentBuilder* b) const;
  Status WarmUp();
  void PrefaultScanBuffers(uint64_t total);
  void JoinWarmUp();
  Status ScanHugetlbWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b);
  Status HashExtents(const FolioExtentBuilder& b, GuestMemfd* out);

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
  std::unique_ptr<PageFrameReader> frames_;
  // Per-thread scan state kept between captures: its buffers stay allocated
  // (first-touch page faults are slow on VMs), so a re-capture only scans.
  std::unique_ptr<ScanPart> parts_[2];
  std::unique_ptr<BuddyScan> scan_;  // kept for its buffers too
  std::vector<uint64_t> pagemap_buf_;  // HugeTLB scan
  std::vector<uint64_t> kpf_buf_;
  // Whether anything populated mapping_ since it was made (else it has no PTE).
  std::atomic<bool> own_populated_{false};
  int held_by_ = -1;  // UsePagesMappedBy's pid until EnsureMapped looks for it
  std::unique_ptr<HeldMapping> held_;
  std::string held_note_;  // why held_by_ was not used
  std::thread warm_;  // StartWarmUp's; owns the members above until joined
  // The last successful capture's extents and HardwareCorrupted when it
  // began: what the next capture may carry folio flags over from. Dropped
  // when a populate outside a capture (warm-up) or a failed capture could
  // have installed PTEs after those flags were read.
  FolioList last_folios_;
  uint64_t last_hw_kb_ = 0;
  bool have_last_ = false;
  FlagBaseline baseline_;  // the running capture's
  uint64_t flags_read_ = 0, flags_carried_ = 0;
  bool matched_baseline_ = false;  // the last capture was the baseline's extents (MatchBaseline)
};

}  // namespace khod

#endif  // KHOD_CAPTURE_KERNEL_SOURCE_H_
