#include "state/invariants.h"

#include <algorithm>
#include <map>
#include <set>

#include "state/hugetlb_invariants.h"
#include "state/observation_invariants.h"
#include "state/text_rule.h"

namespace khod {
namespace {

void Add(std::vector<Violation>* out, std::string where, std::string what) {
  out->push_back({std::move(where), std::move(what)});
}

// True when a + b overflows; guards every end computation below so that a
// hostile blob cannot make an extent wrap around and look "inside size".
bool AddOverflows(uint64_t a, uint64_t b, uint64_t* sum) {
  return __builtin_add_overflow(a, b, sum);
}

void CheckSize(const GuestMemfd& g, uint32_t page_size, std::vector<Violation>* out) {
  const std::string where = "gmem " + Hex(g.token);
  if (page_size == 0) return;  // reported by the header check
  if (g.size % page_size != 0)
    Add(out, where,
        "size " + std::to_string(g.size) + " not a multiple of page size " +
            std::to_string(page_size));
  if (g.backing == Backing::kBuddy && g.hstate_order != 0)
    Add(out, where, "buddy-backed file has hstate order " + std::to_string(g.hstate_order));
  if (g.backing == Backing::kHugetlb) {
    if (g.hstate_order == 0 || g.hstate_order > kMaxFolioOrder) {
      Add(out, where,
          "HugeTLB hstate order " + std::to_string(g.hstate_order) + " outside 1.." +
              std::to_string(kMaxFolioOrder));
    } else {
      const uint64_t hsize = uint64_t{page_size} << g.hstate_order;
      if (g.size % hsize != 0)
        Add(out, where,
            "size " + std::to_string(g.size) + " not a multiple of the hstate size " +
                std::to_string(hsize));
    }
  }
}

// Page ranges [first, end) covered by restructure records, used to allow
// split sub-folios of a HugeTLB file to have orders below the hstate order.
bool CoveredByRestructure(const GuestMemfd& g, uint64_t first, uint64_t end) {
  auto it = std::upper_bound(g.restructures.begin(), g.restructures.end(), first,
                             [](uint64_t v, const RestructureRecord& r) { return v < r.index; });
  if (it == g.restructures.begin()) return false;
  --it;
  if (it->original_order > kMaxFolioOrder) return false;
  return end <= it->index + (uint64_t{1} << it->original_order);
}

void CheckFolios(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  // What the list's facts (worked out once per list) vouch for is every
  // check below for a buddy file: no extent to look at again.
  const FolioListFacts& facts = g.folios.facts();
  if (g.backing == Backing::kBuddy && facts.well_formed && facts.max_order == 0 &&
      facts.end_index <= pages)
    return;
  uint64_t prev_end = 0;
  for (size_t i = 0; i < g.folios.size(); ++i) {
    const FolioExtent& e = g.folios[i];
    auto where = [&] { return GmemWhere(g, "folios", i); };
    if (e.nr_folios == 0) Add(out, where(), "nr_folios is 0");
    if (e.order > kMaxFolioOrder) {
      Add(out, where(),
          "order " + std::to_string(e.order) + " above " + std::to_string(kMaxFolioOrder));
      continue;  // every later check needs a sane order
    }
    uint64_t end;
    if (AddOverflows(e.first_index, e.pages(), &end)) {
      Add(out, where(), "index " + std::to_string(e.first_index) + " + pages overflows");
      continue;
    }
    if (e.first_index & ((uint64_t{1} << e.order) - 1))
      Add(out, where(),
          "index " + std::to_string(e.first_index) + " not aligned to folio order " +
              std::to_string(e.order));
    if (end > pages)
      Add(out, where(),
          "extent ends at page " + std::to_string(end) + ", past size (" + std::to_string(pages) +
              " pages)");
    if (i > 0 && e.first_index < prev_end)
      Add(out, where(),
          "index " + std::to_string(e.first_index) +
              " overlaps or precedes the previous extent (ends at " + std::to_string(prev_end) +
              ")");
    if (e.first_pfn != kPfnUnknown) {
      uint64_t pfn_end;
      if (AddOverflows(e.first_pfn, e.pages(), &pfn_end))
        Add(out, where(), "pfn " + Hex(e.first_pfn) + " + pages overflows");
    }
    if (g.backing == Backing::kBuddy && e.order != 0)
      Add(out, where(), "buddy-backed folio has order " + std::to_string(e.order));
    if (g.backing == Backing::kHugetlb && e.order != g.hstate_order &&
        !CoveredByRestructure(g, e.first_index, end))
      Add(out, where(),
          "HugeTLB folio order " + std::to_string(e.order) + " differs from hstate order " +
              std::to_string(g.hstate_order) + " and no restructure record covers it");
    prev_end = std::max(prev_end, end);
  }
}

void CheckAttributes(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  // The map is ordered and disjoint by construction, but a range that was
  // set with a wrapping end must not reach an encoder (its record would be
  // refused by every decoder).
  if (const auto bad = g.attributes.FirstMalformedRun())
    Add(out, "gmem " + Hex(g.token) + " attributes",
        "range at page " + std::to_string(*bad) + " is empty or wraps");
  if (g.attributes.end() > pages)
    Add(out, "gmem " + Hex(g.token) + " attributes",
        "range ends at page " + std::to_string(g.attributes.end()) + ", past size (" +
            std::to_string(pages) + " pages)");
}

void CheckHashes(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  uint64_t prev_end = 0;
  for (size_t i = 0; i < g.hashes.size(); ++i) {
    const ContentHash& h = g.hashes[i];
    auto where = [&] { return GmemWhere(g, "hashes", i); };
    uint64_t end;
    if (h.count == 0) Add(out, where(), "count is 0");
    if (AddOverflows(h.first_index, h.count, &end)) {
      Add(out, where(), "index " + std::to_string(h.first_index) + " + count overflows");
      continue;
    }
    if (end > pages)
      Add(out, where(),
          "hash range ends at page " + std::to_string(end) + ", past size (" +
              std::to_string(pages) + " pages)");
    if (i > 0 && h.first_index < prev_end)
      Add(out, where(),
          "index " + std::to_string(h.first_index) +
              " overlaps or precedes the previous hash range");
    prev_end = std::max(prev_end, end);
  }
}

void CheckSplitLayout(const GuestMemfd& g, size_t i, const RestructureRecord& r,
                      std::vector<Violation>* out) {
  auto where = [&] { return GmemWhere(g, "restructures", i); };
  const uint64_t folio_pages = uint64_t{1} << r.original_order;
  uint64_t next = 0;
  for (size_t j = 0; j < r.layout.size(); ++j) {
    const SplitRun& run = r.layout[j];
    auto rw = [&] { return where() + " layout[" + std::to_string(j) + "]"; };
    if (run.count == 0) Add(out, rw(), "count is 0");
    if (run.order > r.original_order) {
      Add(out, rw(),
          "order " + std::to_string(run.order) + " above the original order " +
              std::to_string(r.original_order));
      return;
    }
    if (run.offset != next) {
      Add(out, rw(),
          "offset " + std::to_string(run.offset) + " leaves a gap or overlap (expected " +
              std::to_string(next) + ")");
      return;
    }
    if (run.offset & ((uint64_t{1} << run.order) - 1))
      Add(out, rw(),
          "offset " + std::to_string(run.offset) + " not aligned to order " +
              std::to_string(run.order));
    next = uint64_t{run.offset} + (uint64_t{run.count} << run.order);
    if (next > folio_pages) {
      Add(out, rw(),
          "run ends at " + std::to_string(next) + ", past the original folio (" +
              std::to_string(folio_pages) + " pages)");
      return;
    }
  }
  if (next != folio_pages)
    Add(out, where(),
        "layout covers " + std::to_string(next) + " of " + std::to_string(folio_pages) + " pages");
}

void CheckRestructures(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  if (!g.restructures.empty() && g.backing != Backing::kHugetlb)
    Add(out, "gmem " + Hex(g.token) + " restructures",
        "restructure records on a file that is not HugeTLB-backed");
  uint64_t prev_end = 0;
  for (size_t i = 0; i < g.restructures.size(); ++i) {
    const RestructureRecord& r = g.restructures[i];
    auto where = [&] { return GmemWhere(g, "restructures", i); };
    if (r.original_order == 0 || r.original_order > kMaxFolioOrder) {
      Add(out, where(),
          "original order " + std::to_string(r.original_order) + " outside 1.." +
              std::to_string(kMaxFolioOrder));
      continue;
    }
    const uint64_t folio_pages = uint64_t{1} << r.original_order;
    uint64_t end;
    if (AddOverflows(r.index, folio_pages, &end)) {
      Add(out, where(), "index " + std::to_string(r.index) + " + folio overflows");
      continue;
    }
    if (r.index & (folio_pages - 1))
      Add(out, where(),
          "index " + std::to_string(r.index) + " not aligned to original order " +
              std::to_string(r.original_order));
    if (end > pages)
      Add(out, where(),
          "folio ends at page " + std::to_string(end) + ", past size (" + std::to_string(pages) +
              " pages)");
    if (i > 0 && r.index < prev_end)
      Add(out, where(),
          "index " + std::to_string(r.index) + " overlaps or precedes the previous record");
    prev_end = std::max(prev_end, end);
    CheckSplitLayout(g, i, r, out);
  }
}

void CheckText(const std::string& where, const char* field, const std::string& s,
               std::vector<Violation>* out) {
  if (const std::string problem = TextProblem(s, TextRule::kStored); !problem.empty())
    Add(out, where, std::string(field) + " " + problem);
}

void CheckHeader(const SnapshotHeader& h, std::vector<Violation>* out) {
  CheckText("header", "producer", h.producer, out);
  CheckText("header", "kernel release", h.kernel_release, out);
  CheckText("header", "boot id", h.boot_id, out);
  if (h.page_size < 4096 || (h.page_size & (h.page_size - 1)) != 0)
    Add(out, "header",
        "page size " + std::to_string(h.page_size) + " is not a power of two >= 4096");
}

void CheckTokens(const Snapshot& snap, std::vector<Violation>* out) {
  std::set<uint64_t> gmem_tokens, vm_tokens;
  for (size_t i = 0; i < snap.gmems.size(); ++i)
    if (!gmem_tokens.insert(snap.gmems[i].token).second)
      Add(out, "gmems[" + std::to_string(i) + "]",
          "duplicate gmem token " + Hex(snap.gmems[i].token));
  for (size_t i = 0; i < snap.vms.size(); ++i)
    if (!vm_tokens.insert(snap.vms[i].token).second)
      Add(out, "vms[" + std::to_string(i) + "]", "duplicate vm token " + Hex(snap.vms[i].token));
  for (const GuestMemfd& g : snap.gmems)
    if (g.vm_token != 0 && vm_tokens.count(g.vm_token) == 0)
      Add(out, "gmem " + Hex(g.token), "bound to vm " + Hex(g.vm_token) + " not in the snapshot");
}

void CheckMemslots(const Snapshot& snap, const Vm& vm, std::vector<Violation>* out) {
  const uint32_t page_size = snap.header.page_size;
  std::set<uint32_t> ids;
  // Per address space, gfn ranges keyed by base; per gmem, byte ranges.
  std::map<uint16_t, std::map<uint64_t, std::pair<uint64_t, size_t>>> gfns;
  std::map<uint64_t, std::map<uint64_t, std::pair<uint64_t, size_t>>> offsets;
  auto overlaps = [](std::map<uint64_t, std::pair<uint64_t, size_t>>& m, uint64_t first,
                     uint64_t end, size_t idx, size_t* other) {
    auto it = m.lower_bound(first);
    if (it != m.end() && it->first < end) {
      *other = it->second.second;
      return true;
    }
    if (it != m.begin() && std::prev(it)->second.first > first) {
      *other = std::prev(it)->second.second;
      return true;
    }
    m.emplace(first, std::make_pair(end, idx));
    return false;
  };
  for (size_t i = 0; i < vm.memslots.size(); ++i) {
    const Memslot& s = vm.memslots[i];
    const std::string where = "vm " + Hex(vm.token) + " memslots[" + std::to_string(i) + "]";
    if (!ids.insert(s.slot).second)
      Add(out, where,
          "duplicate slot id " + std::to_string(s.slot & 0xffff) + " in address space " +
              std::to_string(s.address_space()));
    uint64_t gfn_end;
    size_t other = 0;
    if (AddOverflows(s.base_gfn, s.npages, &gfn_end)) {
      Add(out, where, "base gfn + npages overflows");
    } else if (s.npages > 0 && overlaps(gfns[s.address_space()], s.base_gfn, gfn_end, i, &other)) {
      Add(out, where,
          "gfns overlap memslots[" + std::to_string(other) + "] in address space " +
              std::to_string(s.address_space()));
    }
    const GuestMemfd* g = snap.FindGmem(s.gmem_token);
    if (g == nullptr) {
      Add(out, where, "gmem token " + Hex(s.gmem_token) + " names no gmem of the snapshot");
      continue;
    }
    if (page_size != 0 && s.gmem_offset % page_size != 0)
      Add(out, where, "gmem offset " + std::to_string(s.gmem_offset) + " not page aligned");
    uint64_t bytes, off_end;
    if (__builtin_mul_overflow(s.npages, uint64_t{page_size}, &bytes) ||
        AddOverflows(s.gmem_offset, bytes, &off_end)) {
      Add(out, where, "gmem offset + size overflows");
      continue;
    }
    if (off_end > g->size)
      Add(out, where,
          "gmem range ends at byte " + std::to_string(off_end) + ", past the gmem size " +
              std::to_string(g->size));
    if (bytes > 0 && overlaps(offsets[s.gmem_token], s.gmem_offset, off_end, i, &other))
      Add(out, where,
          "gmem offsets overlap memslots[" + std::to_string(other) + "] in gmem " +
              Hex(s.gmem_token));
  }
}

}  // namespace

std::string GmemWhere(const GuestMemfd& g, const char* table, size_t i) {
  return "gmem " + Hex(g.token) + " " + table + "[" + std::to_string(i) + "]";
}

void CheckGmem(const GuestMemfd& g, uint32_t page_size, std::vector<Violation>* out) {
  CheckText("gmem " + Hex(g.token), "name", g.name, out);
  CheckSize(g, page_size, out);
  const uint64_t pages = page_size ? g.size / page_size : 0;
  CheckFolios(g, pages, out);
  CheckAttributes(g, pages, out);
  CheckHashes(g, pages, out);
  CheckRestructures(g, pages, out);
  CheckRestructureMembership(g, out);  // state/hugetlb_invariants.h
  CheckMixedFoliosSplit(g, out);
  CheckVisibility(g, pages, out);  // state/observation_invariants.h
  CheckPolicySource(g, pages, out);
}

std::vector<Violation> CheckInvariants(const Snapshot& snap) {
  std::vector<Violation> out;
  CheckHeader(snap.header, &out);
  CheckTokens(snap, &out);
  for (const GuestMemfd& g : snap.gmems) CheckGmem(g, snap.header.page_size, &out);
  for (const Vm& vm : snap.vms) CheckMemslots(snap, vm, &out);
  return out;
}

Status InvariantsStatus(const Snapshot& snap) {
  const std::vector<Violation> v = CheckInvariants(snap);
  if (v.empty()) return Status::Ok();
  constexpr size_t kShown = 3;
  std::string msg = std::to_string(v.size()) + " invariant violation(s): ";
  for (size_t i = 0; i < v.size() && i < kShown; ++i) {
    if (i) msg += "; ";
    msg += v[i].where + ": " + v[i].what;
  }
  if (v.size() > kShown) msg += "; ...";
  return Status::Corruption(msg);
}

}  // namespace khod
