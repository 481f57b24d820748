#include "state/observation_invariants.h"

#include <tuple>

namespace khod {

namespace {

void Add(std::vector<Violation>* out, std::string where, std::string what) {
  out->push_back({std::move(where), std::move(what)});
}

// Calls bad(range) for each visibility range that [first, end) overlaps.
template <typename Fn>
void ForOverlapping(const std::vector<VisibilityRange>& v, uint64_t first, uint64_t end, Fn bad) {
  // Ranges are few (one per file in a kernel capture): a linear walk.
  for (const VisibilityRange& r : v)
    if (r.first_index < end && first < r.end_index()) bad(r);
}

}  // namespace

void CheckVisibility(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  if (g.visibility.empty()) return;  // 1.0, synthetic, MODEL: all kFull
  uint64_t next = 0;
  for (size_t i = 0; i < g.visibility.size(); ++i) {
    const VisibilityRange& r = g.visibility[i];
    auto where = [&] { return GmemWhere(g, "visibility", i); };
    if (static_cast<uint8_t>(r.visibility) > static_cast<uint8_t>(PageVisibility::kNone))
      Add(out, where(),
          "visibility " + std::to_string(static_cast<int>(r.visibility)) + " is unknown");
    if (r.count == 0) Add(out, where(), "count is 0");
    if (r.first_index != next) {
      Add(out, where(),
          "starts at page " + std::to_string(r.first_index) + ", expected " + std::to_string(next) +
              " (ranges are ordered, disjoint, covering)");
      return;
    }
    if (__builtin_add_overflow(r.first_index, r.count, &next)) {
      Add(out, where(), "index + count overflows");
      return;
    }
  }
  if (next != pages) {
    Add(out, "gmem " + Hex(g.token) + " visibility",
        "ranges cover " + std::to_string(next) + " pages of " + std::to_string(pages));
    return;
  }
  // Only ranges not observed in full constrain the extents.
  const bool all_full = ObservedInFull(g);
  for (size_t i = 0; !all_full && i < g.folios.size(); ++i) {
    const FolioExtent& e = g.folios[i];
    if (e.order > kMaxFolioOrder) continue;  // CheckFolios says so; pages() needs a sane order
    uint64_t end;
    if (__builtin_add_overflow(e.first_index, e.pages(), &end)) continue;  // CheckFolios says so
    ForOverlapping(g.visibility, e.first_index, end, [&](const VisibilityRange& r) {
      if (r.visibility == PageVisibility::kNone)
        Add(out, GmemWhere(g, "folios", i), "extent inside pages not observable (visibility none)");
      else if (r.visibility == PageVisibility::kInitializedOnly && e.first_pfn != kPfnUnknown)
        Add(out, GmemWhere(g, "folios", i),
            "known PFN inside pages whose PFNs are not observable (initialized-only)");
    });
  }
  for (size_t i = 0; i < g.hashes.size(); ++i) {
    const ContentHash& h = g.hashes[i];
    uint64_t end;
    if (__builtin_add_overflow(h.first_index, h.count, &end)) continue;
    ForOverlapping(g.visibility, h.first_index, end, [&](const VisibilityRange& r) {
      if (r.visibility != PageVisibility::kFull)
        Add(out, GmemWhere(g, "hashes", i),
            std::string("content hash inside pages whose contents are not observable (") +
                PageVisibilityName(r.visibility) + ")");
    });
  }
}

// A home node not seen is -1 and of a mode that can hold one: a reader that
// cannot see it says so only where one could be (kernel/memory_facts.h).
void CheckHomeNodeSeen(const Mempolicy& p, const std::string& where, std::vector<Violation>* out) {
  if (p.home_node_seen) return;
  if (p.home_node != -1)
    Add(out, where, "home node " + std::to_string(p.home_node) + " given but not seen");
  if (!ModeCanHaveHomeNode(p.mode))
    Add(out, where,
        "home node not seen for policy mode " + std::to_string(p.mode) + ", which cannot hold one");
}

void CheckPolicySource(const GuestMemfd& g, uint64_t pages, std::vector<Violation>* out) {
  const std::string where = "gmem " + Hex(g.token);
  CheckHomeNodeSeen(g.policy, where + " policy", out);
  if (static_cast<uint8_t>(g.policy_source) > static_cast<uint8_t>(PolicySource::kUnknown))
    Add(out, where,
        "policy source " + std::to_string(static_cast<int>(g.policy_source)) + " is unknown");
  if (g.policy_source != PolicySource::kInode && !(g.policy == Mempolicy()))
    Add(out, where,
        std::string("an inode policy with policy source ") + PolicySourceName(g.policy_source));
  if (g.policy_source != PolicySource::kVmmMappings && !g.mapping_policies.empty())
    Add(out, where,
        std::string("mapping policies with policy source ") + PolicySourceName(g.policy_source));
  for (size_t i = 0; i < g.mapping_policies.size(); ++i) {
    const MappingPolicy& m = g.mapping_policies[i];
    auto at = [&] { return GmemWhere(g, "mapping_policies", i); };
    CheckHomeNodeSeen(m.policy, at(), out);
    uint64_t end;
    if (m.count == 0) Add(out, at(), "count is 0");
    if (__builtin_add_overflow(m.first_index, m.count, &end))
      Add(out, at(), "index + count overflows");
    else if (end > pages)
      Add(out, at(),
          "mapping ends at page " + std::to_string(end) + ", past size (" + std::to_string(pages) +
              " pages)");
    if (i > 0) {
      const MappingPolicy& p = g.mapping_policies[i - 1];
      if (std::tie(m.first_index, m.pid, m.start_address) <
          std::tie(p.first_index, p.pid, p.start_address))
        Add(out, at(), "not ordered by (first_index, pid, start_address)");
    }
  }
}

}  // namespace khod
