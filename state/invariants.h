// One invariant checker for a guest_memfd's state, used by the decoders (a
// blob that breaks one is refused), by the model after every step, and by
// restore/verify. It returns every violation with where it is, not just the
// first, so a diff can show them all.
#ifndef KHOD_STATE_INVARIANTS_H_
#define KHOD_STATE_INVARIANTS_H_

#include <string>
#include <vector>

#include "common/status.h"
#include "state/snapshot.h"

namespace khod {

// Largest folio order the checker accepts: 1 GiB of 4 KiB pages.
constexpr uint8_t kMaxFolioOrder = 18;

struct Violation {
  std::string where;  // "gmem 0x2a folios[5]", "vm 0x1 memslots[2]"
  std::string what;   // "index 1000 not aligned to folio order 9"
};

// Checks one guest_memfd against page_size:
// - its name a text a blob may hold (state/text_rule.h, TextRule::kStored);
// - size a multiple of page_size; HugeTLB size a multiple of the hstate size;
// - folio extents ordered, non-overlapping, inside size, each aligned to its
//   order, nr_folios > 0, order <= kMaxFolioOrder; buddy-backed folios have order 0;
//   HugeTLB folios have the hstate order unless covered by a restructure record;
// - attribute ranges inside size; content hashes ordered, disjoint, inside size;
// - restructure records: ordered, aligned to their original order, inside size,
//   layout runs ordered, contiguous and covering exactly the original folio;
//   only on HugeTLB-backed files;
// - how it was observed: visibility and policy source (state/observation_invariants.h).
void CheckGmem(const GuestMemfd& g, uint32_t page_size, std::vector<Violation>* out);

// Checks a whole snapshot: header (page_size a power of two >= 4096, texts
// as TextRule::kStored says), unique
// tokens, every gmem (above), every VM's memslots: unique slot ids, no gfn
// overlap within an address space, no two slots overlapping in one gmem's
// offsets, gmem_offset page aligned and inside that gmem's size, gmem_token
// naming a gmem of the snapshot.
std::vector<Violation> CheckInvariants(const Snapshot& snap);

// Corruption status listing the first few violations, or OK when none.
Status InvariantsStatus(const Snapshot& snap);

}  // namespace khod

#endif  // KHOD_STATE_INVARIANTS_H_
