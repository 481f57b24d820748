// PteKeeper: a child process with an address space of its own that maps
// memory files, populates the pages it is given and then runs no code: a
// witness, in O(1), that none of those pages has been unmapped since.
//
// Why: Freeze must find the pages that changed since the baseline capture.
// Walking page tables for non-present ranges (PAGEMAP_SCAN) costs per page,
// about 2 ms per GiB per thread on the machines measured (docs/PERFORMANCE.md),
// and is most of what grows with the guest. The kernel also keeps, per
// address space, the number of file pages its page tables map
// (MM_FILEPAGES, /proc/PID/status "RssFile"; on Linux 6.18 the read sums
// every CPU's share, exact to one page: ../shared/notes probe, and
// pte_keeper_test counts one page per punch). The facts the witness rests on:
//  - a file PTE is added only by a fault or a populate in that address space
//    (or by another process writing into it through /proc/PID/mem or
//    process_vm_writev: root's power, the same trust the holder's PTEs take,
//    capture/change_scan.h), and the keeper makes none once it is idle;
//  - every unmap of a file page there (hole punch, truncation, reclaim,
//    migration of movable memory excepted: it replaces the PTE) removes one.
// So while the keeper has not run (its context-switch count unchanged, and
// it is asleep), its RssFile can only fall, and an equal count means no page
// mapped there at the first read was unmapped before the second (shmem
// pages count in RssShmem instead, compared the same way). For memory that
// cannot move (guest_memfd, or shmem khod pins: kernel/page_pin.h) the page
// is then the same folio at the same PFN. What the keeper does not prove: anything about pages it
// does not map.
//
// The keeper is this program run again (posix_spawn of /proc/self/exe, a new
// address space, none of khod's memory shared or copied) with argv[0]
// kPteKeeperArgv0: a constructor in this file runs PteKeeperMain before main.
// It lives while its control socket is open: when khod closes it (Release,
// or khod's exit), the keeper's read returns and it exits.
#ifndef KHOD_KERNEL_PTE_KEEPER_H_
#define KHOD_KERNEL_PTE_KEEPER_H_

#include <sys/types.h>

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/pagemap_scan.h"

namespace khod {

inline constexpr char kPteKeeperArgv0[] = "khod-pte-keeper";

// What /proc/PID/status says of a keeper: the witness compares two of these.
struct PteKeeperState {
  char state = '?';          // "State:" letter; 'S' while it waits, idle
  uint64_t rss_file_kb = 0;  // "RssFile:"
  // "RssShmem:": shmem pages (pinned shmem guests', and the witness's probe
  // page until its punch, which PteWitness::Start checks apart).
  uint64_t rss_shmem_kb = 0;
  uint64_t context_switches = 0;  // voluntary + nonvoluntary: it ran if this moved
  bool operator==(const PteKeeperState& o) const {
    return state == o.state && rss_file_kb == o.rss_file_kb && rss_shmem_kb == o.rss_shmem_kb &&
           context_switches == o.context_switches;
  }
  bool operator!=(const PteKeeperState& o) const { return !(*this == o); }
};

// Parses a /proc/PID/status text; Corruption naming the field missing or bad.
Result<PteKeeperState> ParsePteKeeperState(std::string_view status_text);

// A file for the keeper to map whole (PROT_READ, MAP_SHARED) and the pages of
// it to populate (MADV_POPULATE_READ), in page units, sorted. Of those, only
// pages that exist when the keeper gets to them (mincore) are populated: a
// hole is never filled.
struct PteKeeperFile {
  int fd = -1;  // borrowed; the keeper gets its own copy
  uint64_t size = 0;
  std::vector<PageSpan> pages;
};

class PteKeeper {
 public:
  PteKeeper() = default;
  PteKeeper(PteKeeper&& o) noexcept { *this = std::move(o); }
  PteKeeper& operator=(PteKeeper&& o) noexcept;
  ~PteKeeper() { Release(); }

  // Starts a keeper, has it map and populate `files`, and returns once it
  // waits idle (asleep, its state read back). A page it could not populate
  // (private, or gone since) is left unmapped there: NonPresent names it.
  static Result<PteKeeper> Spawn(const std::vector<PteKeeperFile>& files);
  // New side of a reexec: the previous khod's keeper, `pid` (a child of this
  // process: exec keeps children) with its control socket `control_fd`
  // (kept open across the exec). Only held, to be released off the blackout;
  // its mappings are not known here. Anything else is refused, naming what.
  // `control_fd` is taken (closed on error) only once it is a SOCK_SEQPACKET
  // socket: an fd that is not one is not this call's to close.
  static Result<PteKeeper> Adopt(pid_t pid, int control_fd);

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // Where files[i] of Spawn is mapped in the keeper.
  uint64_t address(size_t i) const { return addresses_[i]; }
  size_t files() const { return addresses_.size(); }
  uint64_t populated_pages() const { return populated_; }
  // The control socket, for a reexec to keep open across its exec (the
  // keeper then outlives it: PassAcrossExec clears its close-on-exec flag,
  // KeepFromExec sets it again if the exec failed).
  int control_fd() const { return control_.get(); }
  Status PassAcrossExec() const;
  void KeepFromExec() const;

  // Its /proc/PID/status now.
  Result<PteKeeperState> State() const;
  // The pages of files[i] not mapped in the keeper now (PAGEMAP_SCAN of its
  // /proc/PID/pagemap), in pages from the file's start.
  Result<std::vector<PageSpan>> NonPresent(size_t i, uint64_t npages) const;

  // Closes its control socket (it exits) and reaps it on a detached thread:
  // its page tables are freed in the background. Idempotent.
  void Release();

 private:
  pid_t pid_ = -1;
  UniqueFd control_;
  UniqueFd pagemap_;
  std::vector<uint64_t> addresses_;
  uint64_t populated_ = 0;
};

// The keeper's side: serves `control_fd` until it is closed. Returns the exit
// status. Called by this file's constructor in a process run as
// kPteKeeperArgv0; exposed for tests.
int PteKeeperMain(int control_fd);

}  // namespace khod

#endif  // KHOD_KERNEL_PTE_KEEPER_H_
