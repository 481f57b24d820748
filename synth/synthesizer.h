// Synthetic snapshots for demos, benchmarks, fuzz corpora and tests: a guest
// of any size (1 TiB in milliseconds: extents are generated, never pages)
// with the shape measured on real machines. Deterministic: the same params
// and seed always give the same Snapshot. Every guest_memfd is marked
// Provenance::kSynthetic, so a synthetic blob is never taken for a capture.
#ifndef KHOD_SYNTH_SYNTHESIZER_H_
#define KHOD_SYNTH_SYNTHESIZER_H_

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

// Folio size of the synthetic guest_memfds.
enum class SynthBacking : uint8_t {
  k4K,  // buddy allocator, order-0 folios
  k2M,  // HugeTLB, hstate order 9
  k1G,  // HugeTLB, hstate order 18
};

// "4k" | "2m" | "1g" (case-insensitive).
Result<SynthBacking> ParseSynthBacking(std::string_view text);
const char* SynthBackingName(SynthBacking b);

struct SynthParams {
  uint64_t total_bytes = 1ull << 40;  // summed over all guest_memfds
  SynthBacking backing = SynthBacking::k4K;
  // Mean length of a physically contiguous PFN run, in pages. 214 is what a
  // freshly touched 2 GiB guest_memfd showed on this project's machines;
  // 1 gives the worst case (no two PFNs contiguous). HugeTLB runs are at
  // least one huge folio.
  uint64_t run_pages = 214;
  // Shared ranges punched into otherwise private memory (a confidential
  // guest's bounce buffers), spread over all guest_memfds. With
  // private_memory=false the guest is all shared and has no attribute ranges.
  // On HugeTLB they sit in split folios (see split_folios).
  uint64_t shared_ranges = 0;
  bool private_memory = true;
  uint32_t vms = 1;
  uint32_t gmems_per_vm = 1;
  // Memslots tiling each guest_memfd above 4 GiB of guest physical space (the
  // first guest_memfd of a VM also gets a slot for the memory below the PCI
  // hole at 3 GiB).
  uint32_t high_memslots = 1;
  // HugeTLB folios split for conversions, spread over all guest_memfds; each
  // gets a RestructureRecord and keeps its first 2 MiB as 4 KiB pages. This is
  // a minimum: a huge folio never holds both shared and private pages, so
  // every 64 shared ranges of a guest_memfd split one more folio to hold them.
  // Must be 0 for 4k backing.
  uint64_t split_folios = 0;
  // Of those, how many were mid-restructure at capture.
  uint64_t splits_in_progress = 0;
  uint64_t seed = 1;
  uint64_t capture_time_ns = 1767225600ull * 1000000000ull;  // 2026-01-01T00:00:00Z
};

// Builds the snapshot, or InvalidArgument when the params cannot describe a
// valid one (size zero or not a multiple of the folio size, too many gmems
// for the size, more splits than huge folios, ...).
Result<Snapshot> Synthesize(const SynthParams& params);

}  // namespace khod

#endif  // KHOD_SYNTH_SYNTHESIZER_H_
