// GmemSource: one guest_memfd's state, from wherever it lives. The kernel
// (capture/kernel_source.*) and the model (model/model_source.*) both implement
// it, so the daemon, khoctl and verify never care which one they talk to; the
// GuestMemfd they fill says which (GuestMemfd::provenance).
#ifndef KHOD_CAPTURE_GMEM_SOURCE_H_
#define KHOD_CAPTURE_GMEM_SOURCE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capture/pte_witness.h"
#include "common/status.h"
#include "kernel/page_pin.h"
#include "state/snapshot.h"

namespace khod {

struct RescanBase;  // capture/change_scan.h

class ProcessMappingsCache;  // kernel/file_mappings.h
class SharedPolicyCache;     // kernel/shared_policy_cache.h

// What a capture did besides filling its GuestMemfd (sources add to it).
struct CaptureStats {
  uint64_t flags_read = 0;     // pages whose folio flags were read from the kernel
  uint64_t flags_carried = 0;  // pages whose folio flags were carried over (flag_reuse.h)
  // Change scans (capture/change_scan.h): pages whose PTEs were walked, and
  // pages a witness vouched for instead (capture/pte_witness.h).
  uint64_t pages_walked = 0;
  uint64_t pages_witnessed = 0;
  // VMM processes whose mappings' NUMA policies a capture round read (the
  // policy of a guest_memfd without a shared one, kernel/file_mappings.h):
  // from their VMAs by the BPF iterator, in O(mappings); or through
  // numa_maps, which walks every page they map (O(guest memory)).
  uint64_t vmm_policies_from_vmas = 0;
  uint64_t vmm_policies_from_numa_maps = 0;
};

struct CaptureOptions {
  bool hash_contents = false;  // XXH3 of each resident shared extent
  // Verify after a reexec: the frozen capture of this same file, and
  // /proc/meminfo's HardwareCorrupted when that capture began. Pages the
  // mapping holder still maps at their frozen PFN keep their frozen folio
  // flags instead of being read again (capture/flag_reuse.h says when that
  // holds). nullptr: a source compares with its own last capture only.
  const GuestMemfd* frozen = nullptr;
  uint64_t frozen_hw_corrupted_kb = 0;
  // Optional: change_scan.h's RescanBase of `frozen`'s list, made ahead of
  // the capture (it is used only if made from that very list: its version).
  const RescanBase* frozen_rescan_base = nullptr;
  CaptureStats* stats = nullptr;  // optional
  // Optional: the VMM processes' mappings read once for a whole capture round
  // (AssembleSnapshot's), shared by every file of one VMM. nullptr: read for
  // this file alone.
  ProcessMappingsCache* vmm_mappings = nullptr;
  // Optional: the shared policies of the shmem files khod holds, read once for
  // a whole capture round (AssembleSnapshot's). nullptr: read for this file alone.
  SharedPolicyCache* shared_policies = nullptr;
  // Set by a capture round (AssembleSnapshot): HardwareCorrupted as the round
  // read it before any file's pages. The source takes it as its own count
  // before any page and, where it would read the count again after its pages
  // (capture/flag_reuse.h rule 4), takes it again instead of reading: the
  // round reads once all its files are done and, if the count moved, captures
  // every file again without it. Unset: the source reads for itself.
  std::optional<uint64_t> round_hw_corrupted_kb;
  // Set by a capture round when its witness (capture/pte_witness.h) held
  // before any file's pages: a change scan takes the pages it witnesses as
  // unchanged instead of walking their PTEs. The round checks it again after
  // all files and, if it moved, captures every file again without it.
  const PteWitness* witness = nullptr;
  // Not the last capture before a blackout (Prepare's): what the next
  // capture needs of this one as its baseline (state/folio_list.h facts,
  // change_scan.h's RescanBase) is worked out now, not inside the blackout.
  bool ready_as_baseline = false;
  // Called now and then with pages done / pages total (for a progress bar).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

class GmemSource {
 public:
  virtual ~GmemSource() = default;
  // "guest_memfd fd 7 of pid 1234", "MODEL guest_memfd 'vm0'".
  virtual std::string Describe() const = 0;
  // Fills `out` with everything this source knows. Must not change the state it
  // records: never faults in an unallocated page, never touches a private one.
  virtual Status Capture(const CaptureOptions& opts, GuestMemfd* out) = 0;
  // Optional cache warm-up in the background (a new khod does this for the
  // fds it adopted, before Restore and Verify ask): whatever it prepares,
  // the next Capture waits for it (or drops it, not started yet) and still
  // reads every page itself.
  virtual void StartWarmUp() {}
  // Optional: process `pid` maps this same file (a reexec's mapping holder):
  // read the PFNs of the pages it maps from its page tables rather than
  // populating a mapping of our own. Sources without PFNs ignore it.
  virtual void UsePagesMappedBy(int pid) { (void)pid; }
  // The process whose mappings of this file a capture may read (its VMM's
  // /proc/PID/maps and numa_maps, for the policy), 0: none. A capture round
  // reads each process's once for all of its files (ProcessMappingsCache),
  // and takes one file of each process before a second of any, so that
  // different processes are read at once rather than waited for.
  virtual int mappings_pid() const { return 0; }
  // Drops what the source holds of the file's pages beyond its own mapping
  // (KernelSourceOptions::pin_movable's pins): Cancel, Finish.
  virtual void ReleasePins() {}
  // The fds of the pins that hold every page of `captured` (this source's
  // last capture) with a known PFN at that PFN, to hand to the next khod
  // (a reexec's --page-pins); empty where none do.
  virtual std::vector<int> PinFdsCovering(const GuestMemfd& captured) const {
    (void)captured;
    return {};
  }
  // Takes a previous khod's pins, which it said cover the frozen capture of
  // this file: a capture from that baseline may then scan only what changed.
  virtual void AdoptPins(PagePin pins) { (void)pins; }
  // Drops the pins, the kernel unpinning off this thread (after Verify).
  virtual void ReleasePinsInBackground() {}
  // The userfaultfd that keeps fault-around off in the source's mapping of
  // a file it pins (kernel/residency.h), -1: none. A reexec's mapping holder
  // keeps it open, so that its release is not the exec's (kernel/mapping_holder.h).
  virtual int fault_guard_fd() const { return -1; }
  // Pages pinned now, and why not where a pin was asked for and not taken.
  virtual uint64_t pinned_pages() const { return 0; }
  virtual std::string pin_note() const { return ""; }
  // What a witness (capture/pte_witness.h) would keep of this file after
  // `captured`, this source's last capture: the file and the pages it found.
  // nullopt where a witness cannot stand in for a walk (memory that moves, no
  // mapping of khod's own whose PTEs the rest is walked in).
  virtual std::optional<PteWitness::File> WitnessFile(const GuestMemfd& captured) const {
    (void)captured;
    return std::nullopt;
  }
};

}  // namespace khod

#endif  // KHOD_CAPTURE_GMEM_SOURCE_H_
