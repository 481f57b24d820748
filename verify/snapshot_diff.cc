#include "verify/snapshot_diff.h"

#include <algorithm>
#include <functional>
#include <map>

#include "kernel/kvm_uapi.h"
#include "kernel/mempolicy_text.h"
#include "state/merged_mappings.h"
#include "verify/page_ranges.h"

namespace khod {

namespace {

std::string Pages(uint64_t first, uint64_t end) {
  return end - first == 1 ? "page " + std::to_string(first)
                          : "pages " + std::to_string(first) + "-" + std::to_string(end - 1);
}

// Two policies that agree on all both captures saw: mode, flags, nodes, and
// the home node where both saw it.
bool SameAsSeen(const Mempolicy& a, const Mempolicy& b) {
  return SameModeAndNodes(a, b) &&
         (!a.home_node_seen || !b.home_node_seen || a.home_node == b.home_node);
}

// Which capture did not see a home node ("" when both did).
const char* HomeNodeUnseenBy(const Mempolicy& expected, const Mempolicy& found) {
  if (expected.home_node_seen && found.home_node_seen) return "";
  if (!expected.home_node_seen && !found.home_node_seen) return "by either capture";
  return expected.home_node_seen ? "now" : "by the first capture";
}

constexpr char kHomeNodeWhy[] =
    ": no syscall or /proc file shows one; khod sees it only in a VMM mapping's "
    "own policy, with its BPF VMA reader";

// A guest_memfd with no shared policy (Linux 6.18: kernel/shared_policy_probe.h)
// allocates a page by the policy of the thread that faults or fallocates it
// (filemap_grab_folio passes no VMA); mbind on a mapping of it sets that VMA's
// policy, which numa_maps shows and nothing reads when a page is allocated.
constexpr char kGmemNoPolicyWhy[] =
    "NUMA placement of new pages: a guest_memfd with no shared policy (Linux 6.18) puts a "
    "new page where the policy of the thread that faults or fallocates it says, which khod "
    "does not see; its VMM mappings' policies place none of its pages";

// A piece of a page-range list: pages [begin, end) carry `value` (nullptr: nothing).
template <typename T>
struct Piece {
  uint64_t begin, end;
  const T* value;
};

// Walks two ordered, disjoint range lists together and reports every maximal
// page range where `same` says they differ. Adjacent differing segments are
// merged when `kind` gives them the same name, so one punched hole is one line.
template <typename T>
void SweepRanges(
    const std::vector<Piece<T>>& a, const std::vector<Piece<T>>& b,
    const std::function<bool(const T*, const T*, uint64_t)>& same,
    const std::function<std::string(const T*, uint64_t)>& describe,
    const std::function<std::string(const T*, const T*, uint64_t)>& kind,
    const std::function<void(uint64_t, uint64_t, const std::string&, const std::string&)>& emit,
    const std::vector<uint64_t>& extra_cuts = {}) {
  std::vector<uint64_t> cuts = extra_cuts;
  for (const auto& p : a) cuts.insert(cuts.end(), {p.begin, p.end});
  for (const auto& p : b) cuts.insert(cuts.end(), {p.begin, p.end});
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  size_t ia = 0, ib = 0;
  bool open = false;
  uint64_t run_begin = 0, run_end = 0;
  std::string run_kind, run_expected, run_found;
  auto flush = [&]() {
    if (open) emit(run_begin, run_end, run_expected, run_found);
    open = false;
  };
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    const uint64_t s = cuts[c], e = cuts[c + 1];
    while (ia < a.size() && a[ia].end <= s) ++ia;
    while (ib < b.size() && b[ib].end <= s) ++ib;
    const T* va = (ia < a.size() && a[ia].begin <= s) ? a[ia].value : nullptr;
    const T* vb = (ib < b.size() && b[ib].begin <= s) ? b[ib].value : nullptr;
    if (same(va, vb, s)) {
      flush();
      continue;
    }
    const std::string k = kind(va, vb, s);
    if (open && run_end == s && run_kind == k) {
      run_end = e;
      continue;
    }
    flush();
    open = true;
    run_begin = s;
    run_end = e;
    run_kind = k;
    run_expected = describe(va, s);
    run_found = describe(vb, s);
  }
  flush();
}

}  // namespace

std::vector<VisibilityRange> CombinedVisibility(const GuestMemfd& e, const GuestMemfd& f,
                                                uint64_t pages) {
  std::vector<uint64_t> cuts = {0, pages};
  for (const auto* g : {&e, &f})
    for (const VisibilityRange& r : g->visibility)
      if (r.first_index < pages)
        cuts.insert(cuts.end(), {r.first_index, std::min(pages, r.end_index())});
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  auto at = [](const GuestMemfd& g, uint64_t page) {
    auto it =
        std::upper_bound(g.visibility.begin(), g.visibility.end(), page,
                         [](uint64_t p, const VisibilityRange& r) { return p < r.first_index; });
    if (it == g.visibility.begin()) return PageVisibility::kFull;
    --it;
    return page < it->end_index() ? it->visibility : PageVisibility::kFull;
  };
  std::vector<VisibilityRange> out;
  for (size_t c = 0; c + 1 < cuts.size(); ++c) {
    const PageVisibility v = std::max(at(e, cuts[c]), at(f, cuts[c]));
    if (!out.empty() && out.back().visibility == v && out.back().end_index() == cuts[c])
      out.back().count += cuts[c + 1] - cuts[c];
    else
      out.push_back(VisibilityRange{cuts[c], cuts[c + 1] - cuts[c], v});
  }
  return out;
}

namespace {

// The pieces of a folio list, one an extent.
std::vector<Piece<FolioExtent>> FolioPieces(const FolioList& v) {
  std::vector<Piece<FolioExtent>> p;
  p.reserve(v.size());
  for (const auto& x : v) p.push_back({x.first_index, x.end_index(), &x});
  return p;
}

// Which capture did not see the PFNs of a page range both hold (a bit each).
enum PfnUnseenBy : int { kUnseenByExpected = 1, kUnseenByFound = 2 };

// Why resident pages with a PFN one side did not see were not verified.
std::string PfnUnseenReason(int by) {
  const char* who = by == (kUnseenByExpected | kUnseenByFound) ? "either capture"
                    : by == kUnseenByExpected                  ? "the first capture"
                                                               : "now";
  return std::string(
             "resident on both sides compared, not their PFNs or folio flags (PFN not "
             "seen by ") +
         who +
         ": pagemap shows PFNs only to a process with CAP_SYS_ADMIN, and folio flags are read "
         "from /proc/kpageflags by PFN)";
}

// Why pages of each visibility were not verified, for UnverifiedGmem::parts.
const char* UnverifiedReason(PageVisibility v) {
  switch (v) {
    case PageVisibility::kInitializedOnly:
      return "which are initialized compared, not their PFNs or contents (private to the guest: "
             "a guest_memfd created MMAP without INIT_SHARED, or pages the VMM declared private)";
    case PageVisibility::kNone:
      return "no per-page state visible to the host (guest_memfd created without MMAP)";
    case PageVisibility::kFull:
      break;
  }
  return "";
}

class GmemDiffer {
 public:
  GmemDiffer(const GuestMemfd& e, const GuestMemfd& f, const DiffOptions& o, SnapshotDiff* out)
      : e_(e), f_(f), o_(o), out_(out) {}

  void Run() {
    const uint32_t ps = o_.page_size ? o_.page_size : 4096;
    pages_ = std::max(e_.size, f_.size) / ps;
    vis_ = CombinedVisibility(e_, f_, pages_);
    Scalar("name", e_.name, f_.name);
    if (o_.compare_inodes) Scalar("inode", std::to_string(e_.inode), std::to_string(f_.inode));
    Scalar("provenance", ProvenanceName(e_.provenance), ProvenanceName(f_.provenance));
    Scalar("kind", FileKindName(e_.kind), FileKindName(f_.kind));
    // The pages past the smaller end are on one side only: different, never counted equal.
    if (e_.size != f_.size)
      Add("size", std::to_string(e_.size), std::to_string(f_.size), std::min(e_.size, f_.size) / ps,
          pages_);
    Flags();
    Scalar("backing", BackingName(e_.backing), BackingName(f_.backing));
    Scalar("hstate_order", std::to_string(e_.hstate_order), std::to_string(f_.hstate_order));
    Scalar("vm_token", Hex(e_.vm_token), Hex(f_.vm_token));
    Policy();
    Folios();
    PfnsUnseen();
    Attributes();
    Hashes();
    Restructures();
    Count();
  }

 private:
  // A difference; [first, end) are the pages it is about (none: first == end).
  void Add(const std::string& field, const std::string& expected, const std::string& found,
           uint64_t first = 0, uint64_t end = 0) {
    Difference d;
    d.in_gmem = true;
    d.gmem_token = e_.token;
    d.gmem_name = e_.name;
    d.field = field;
    d.expected = expected;
    d.found = found;
    out_->differences.push_back(std::move(d));
    if (end > first) different_.push_back({first, end});
  }
  void Scalar(const char* field, const std::string& a, const std::string& b) {
    if (a != b) Add(field, a, b);
  }
  // Something of this gmem that could not be verified (not a page range).
  void Unverified(UnverifiedKind kind, std::string part) {
    parts_.push_back({kind, std::move(part)});
  }

  PageVisibility VisAt(uint64_t page) const {
    auto it =
        std::upper_bound(vis_.begin(), vis_.end(), page,
                         [](uint64_t p, const VisibilityRange& r) { return p < r.first_index; });
    if (it == vis_.begin()) return PageVisibility::kFull;
    --it;
    return page < it->end_index() ? it->visibility : PageVisibility::kFull;
  }
  bool FullyObserved(uint64_t first, uint64_t end) const {
    for (const VisibilityRange& r : vis_)
      if (r.visibility != PageVisibility::kFull && r.first_index < end && first < r.end_index())
        return false;
    return true;
  }
  std::vector<uint64_t> VisibilityCuts() const {
    std::vector<uint64_t> cuts;
    for (const VisibilityRange& r : vis_) cuts.insert(cuts.end(), {r.first_index, r.end_index()});
    return cuts;
  }

  // Creation flags are compared on the bits both captures saw. A bit one of
  // them could not see (flags 2 cannot be told from 0) is not verified, unless
  // both are the same file: a guest_memfd's flags never change.
  void Flags() {
    const uint64_t defined = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
    const uint64_t known = e_.flags_known & f_.flags_known;
    auto text = [&](const GuestMemfd& g) {
      const uint64_t unknown = ~g.flags_known & defined;
      return Hex(g.flags & g.flags_known) +
             (unknown ? " (bits " + Hex(unknown) + " not known)" : "");
    };
    if ((e_.flags & known) != (f_.flags & known)) Add("flags", text(e_), text(f_));
    const uint64_t unknown = ~known & defined;
    const bool same_file = o_.compare_inodes && e_.inode == f_.inode;
    if (e_.kind == FileKind::kGuestMemfd && unknown && !same_file)
      Unverified(UnverifiedKind::kCreationFlags,
                 "creation flag bits " + Hex(unknown) + " not shown by the kernel");
  }

  // A policy one side could not read is not verified; a different source, or
  // a different policy where both read it, is a difference.
  void Policy() {
    const PolicySource se = e_.policy_source, sf = f_.policy_source;
    // The mapping policies below are the VMM's VMAs', compared as such; they
    // are not where the file's pages go.
    if (e_.kind == FileKind::kGuestMemfd &&
        (se == PolicySource::kVmmMappings || sf == PolicySource::kVmmMappings))
      Unverified(UnverifiedKind::kNumaPlacementByAllocator, kGmemNoPolicyWhy);
    // After a restore the VMM's mapping policies are the VMM's to apply: what
    // khod's own capture reads of them (nothing, or unknown) is not compared.
    if (se == PolicySource::kVmmMappings && !o_.compare_vmm_policies) {
      HandedToVmm();
      return;
    }
    if (se == PolicySource::kUnknown || sf == PolicySource::kUnknown) {
      // Why, where the capture said (a note of the process that captured it).
      std::string why;
      for (const GuestMemfd* g : {&e_, &f_})
        if (g->policy_source == PolicySource::kUnknown && !g->policy_unread.empty())
          why += (why.empty() ? ": " : "; ") + g->policy_unread;
      Unverified(UnverifiedKind::kNumaPolicyUnread,
                 std::string("NUMA policy not read ") +
                     (se == sf                       ? "by either capture"
                      : se == PolicySource::kUnknown ? "by the first capture"
                                                     : "now") +
                     why);
      return;
    }
    if (se != sf) {
      Add("policy_source", PolicySourceName(se), PolicySourceName(sf));
      return;
    }
    if (se == PolicySource::kInode) {
      if (!SameAsSeen(e_.policy, f_.policy))
        Add("policy", MempolicyToString(e_.policy), MempolicyToString(f_.policy));
      else if (*HomeNodeUnseenBy(e_.policy, f_.policy))
        Unverified(UnverifiedKind::kNumaHomeNodeUnseen,
                   "home node of NUMA policy " + MempolicyToString(e_.policy) + " not seen " +
                       HomeNodeUnseenBy(e_.policy, f_.policy) + kHomeNodeWhy);
      return;
    }
    MappingPolicies();
  }

  // Counted as mappings, a split VMA once (state/merged_mappings.h), as Restore's note counts them.
  void HandedToVmm() {
    const size_t set = MappingsWithPolicy(e_.mapping_policies, o_.page_size);
    if (set)
      Unverified(UnverifiedKind::kNumaPolicyHandedToVmm,
                 "NUMA policy of " + std::to_string(set) +
                     " VMM mapping(s): handed to the VMM to apply to its new mappings, not seen by "
                     "khod");
  }

  // Pairs the mappings `e` and `f` of one page range so that as many pairs as
  // can agree on all both captures saw (SameAsSeen), the exactly equal first:
  // the `f` index paired with each of `e` (-1: none). SameAsSeen is not
  // transitive (a home node one side did not see agrees with every home node),
  // so pairs taken greedily may leave unpaired two that some other pairing
  // agrees on, and call them different: augmenting paths (Kuhn) find a
  // largest pairing in O(|e| |f|) tests per mapping. A range is mapped by a
  // handful of mappings (one per process, at most a few); past
  // kMaxMappingsPaired on a side the greedy pairing stands alone, and a
  // difference it names there may be one another pairing would not.
  static constexpr size_t kMaxMappingsPaired = 128;
  static std::vector<int> PairAsSeen(const std::vector<const MappingPolicy*>& e,
                                     const std::vector<const MappingPolicy*>& f) {
    std::vector<int> e_to(e.size(), -1), f_to(f.size(), -1);
    for (bool exact : {true, false})
      for (size_t a = 0; a < e.size(); ++a)
        for (size_t b = 0; b < f.size() && e_to[a] < 0; ++b)
          if (f_to[b] < 0 &&
              (exact ? e[a]->policy == f[b]->policy : SameAsSeen(e[a]->policy, f[b]->policy)))
            e_to[a] = static_cast<int>(b), f_to[b] = static_cast<int>(a);
    if (e.size() > kMaxMappingsPaired || f.size() > kMaxMappingsPaired) return e_to;
    std::vector<bool> tried;
    std::function<bool(size_t)> augment = [&](size_t a) {
      for (size_t b = 0; b < f.size(); ++b) {
        if (tried[b] || !SameAsSeen(e[a]->policy, f[b]->policy)) continue;
        tried[b] = true;
        if (f_to[b] < 0 || augment(static_cast<size_t>(f_to[b]))) {
          e_to[a] = static_cast<int>(b), f_to[b] = static_cast<int>(a);
          return true;
        }
      }
      return false;
    };
    for (size_t a = 0; a < e.size(); ++a)
      if (e_to[a] < 0) {
        tried.assign(f.size(), false);
        augment(a);
      }
    return e_to;
  }

  // Each mapping's range and policy; which process mapped it, and where, is
  // informational (a VMM that maps again gets a new address). A home node
  // one capture did not see is compared by neither: it is named not verified.
  void MappingPolicies() {
    size_t unseen = 0;
    std::string by;  // which capture did not see them, when all agree
    auto count_unseen = [&](const MappingPolicy& m, const MappingPolicy& n) {
      const char* b = HomeNodeUnseenBy(m.policy, n.policy);
      if (!*b) return;
      by = unseen++ == 0 || by == b ? b : "by one capture or the other";
    };
    auto name_unseen = [&] {
      if (unseen)
        Unverified(UnverifiedKind::kNumaHomeNodeUnseen,
                   "home node of the NUMA policy of " + std::to_string(unseen) +
                       " VMM mapping(s) not seen " + by + kHomeNodeWhy);
    };
    // A split VMA is one mapping on either side (state/merged_mappings.h).
    const std::vector<MappingPolicy> em = MergedMappings(e_.mapping_policies, o_.page_size),
                                     fm = MergedMappings(f_.mapping_policies, o_.page_size);
    if (em == fm) {
      for (const MappingPolicy& m : em) count_unseen(m, m);
      name_unseen();
      return;
    }
    auto text = [](const MappingPolicy& m) {
      return MempolicyToString(m.policy) + " (pid " + std::to_string(m.pid) + " at " +
             Hex(m.start_address) + ")";
    };
    auto where = [](const MappingPolicy& m) {
      return "policy of VMM mapping " + Pages(m.first_index, m.end_index());
    };
    // The mappings of each page range, on either side, paired within it.
    std::map<std::pair<uint64_t, uint64_t>,
             std::pair<std::vector<const MappingPolicy*>, std::vector<const MappingPolicy*>>>
        ranges;
    for (const MappingPolicy& m : em) ranges[{m.first_index, m.count}].first.push_back(&m);
    for (const MappingPolicy& n : fm) ranges[{n.first_index, n.count}].second.push_back(&n);
    for (const auto& [range, sides] : ranges) {
      const auto& [e, f] = sides;
      const std::vector<int> e_to = PairAsSeen(e, f);
      std::vector<bool> f_paired(f.size(), false);
      std::vector<const MappingPolicy*> e_left;
      for (size_t a = 0; a < e.size(); ++a) {
        if (e_to[a] < 0) {
          e_left.push_back(e[a]);
          continue;
        }
        f_paired[static_cast<size_t>(e_to[a])] = true;
        count_unseen(*e[a], *f[static_cast<size_t>(e_to[a])]);
      }
      // What no pairing agrees on: a changed policy where the range has a
      // mapping left on both sides, else a mapping on one side only.
      size_t b = 0;
      for (const MappingPolicy* m : e_left) {
        while (b < f.size() && f_paired[b]) ++b;
        if (b < f.size()) {
          f_paired[b] = true;
          Add(where(*m), text(*m), text(*f[b]));
        } else {
          Add(where(*m), text(*m), "no such mapping");
        }
      }
      for (size_t i = 0; i < f.size(); ++i)
        if (!f_paired[i]) Add(where(*f[i]), "no such mapping", text(*f[i]));
    }
    name_unseen();
  }

  static uint64_t PfnAt(const FolioExtent& x, uint64_t page) {
    return x.first_pfn == kPfnUnknown ? kPfnUnknown : x.first_pfn + (page - x.first_index);
  }

  void Folios() {
    // Identical lists are equal on every page whatever is compared, and the
    // sweep costs ~0.5 us an extent (45 ms for a 2 GiB shmem file's 60k):
    // only lists that differ at all, even only in how runs are cut, go through
    // it. (Pages whose PFN a side did not see are PfnsUnseen's, lists equal or not.)
    if (e_.folios == f_.folios) return;
    const bool pfns = o_.compare_pfns, flags = o_.compare_folio_flags;
    SweepRanges<FolioExtent>(
        FolioPieces(e_.folios), FolioPieces(f_.folios),
        [&](const FolioExtent* a, const FolioExtent* b, uint64_t s) {
          switch (VisAt(s)) {
            case PageVisibility::kNone:
              return true;  // nothing seen: never a difference
            case PageVisibility::kInitializedOnly:
              return (a == nullptr) == (b == nullptr);
            case PageVisibility::kFull:
              break;
          }
          if (!a || !b) return a == b;  // resident on one side only: a difference
          if (a->order != b->order) return false;
          // A PFN either side did not see, and the folio flags read by it
          // (0, unread), are neither equal nor different: not verified (PfnsUnseen).
          if (a->first_pfn == kPfnUnknown || b->first_pfn == kPfnUnknown) return true;
          return (!flags || a->flags == b->flags) && (!pfns || PfnAt(*a, s) == PfnAt(*b, s));
        },
        [&](const FolioExtent* x, uint64_t s) -> std::string {
          if (VisAt(s) == PageVisibility::kInitializedOnly)
            return x ? "initialized (PFN not observable)" : "not initialized";
          if (!x) return "hole";
          if (x->first_pfn == kPfnUnknown)  // its flags were never read
            return "resident pfn unknown order " + std::to_string(x->order);
          if (!o_.show_pfns) return "resident pfn (root only) order " + std::to_string(x->order);
          return "resident pfn " + Hex(PfnAt(*x, s)) + " order " + std::to_string(x->order) +
                 " flags " + Hex(x->flags);
        },
        [&](const FolioExtent* a, const FolioExtent* b, uint64_t s) -> std::string {
          const std::string v = PageVisibilityName(VisAt(s));
          if (!a) return "appeared " + v;
          if (!b) return "vanished " + v;
          return "changed " + v;
        },
        [&](uint64_t s, uint64_t e, const std::string& x, const std::string& y) {
          Add("folios " + Pages(s, e), x, y, s, e);
        },
        VisibilityCuts());
  }

  // Pages observed in full and resident on both sides whose PFN either
  // capture did not see (pagemap hides PFNs without CAP_SYS_ADMIN; folio
  // flags are read by PFN, so theirs are 0, unread): what is resident is
  // compared (Folios), their PFNs and flags are not. They are not verified,
  // never counted equal, nor different for a PFN nobody saw. Found whatever
  // is compared: Count() names them only where PFNs or folio flags are
  // compared, and tells by them why contents went uncompared.
  void PfnsUnseen() {
    if (e_.folios.facts().all_pfns_known() && f_.folios.facts().all_pfns_known()) return;
    auto unknown = [](const FolioExtent* x) { return x && x->first_pfn == kPfnUnknown; };
    auto by = [&](const FolioExtent* a, const FolioExtent* b) {
      return (unknown(a) ? kUnseenByExpected : 0) | (unknown(b) ? kUnseenByFound : 0);
    };
    SweepRanges<FolioExtent>(
        FolioPieces(e_.folios), FolioPieces(f_.folios),
        [&](const FolioExtent* a, const FolioExtent* b, uint64_t s) {
          return !a || !b || VisAt(s) != PageVisibility::kFull || by(a, b) == 0;
        },
        [](const FolioExtent* x, uint64_t) -> std::string {
          return x && x->first_pfn == kPfnUnknown ? "unknown" : "known";
        },
        [&](const FolioExtent* a, const FolioExtent* b, uint64_t) {
          return std::to_string(by(a, b));
        },
        [&](uint64_t s, uint64_t e, const std::string& x, const std::string& y) {
          const int who =
              (x == "unknown" ? kUnseenByExpected : 0) | (y == "unknown" ? kUnseenByFound : 0);
          pfn_unseen_.push_back({s, e, who});
        },
        VisibilityCuts());
  }

  void Attributes() {
    const auto ra = e_.attributes.Ranges(), rb = f_.attributes.Ranges();
    auto pieces = [](const std::vector<AttributeRange>& v) {
      std::vector<Piece<AttributeRange>> p;
      for (const auto& r : v) p.push_back({r.first, r.first + r.count, &r});
      return p;
    };
    SweepRanges<AttributeRange>(
        pieces(ra), pieces(rb),
        [](const AttributeRange* a, const AttributeRange* b, uint64_t) {
          return (a ? a->value : 0) == (b ? b->value : 0);
        },
        [](const AttributeRange* x, uint64_t) { return "attributes " + Hex(x ? x->value : 0); },
        [](const AttributeRange*, const AttributeRange*, uint64_t) { return std::string("attr"); },
        [&](uint64_t s, uint64_t e, const std::string& x, const std::string& y) {
          Add("attributes " + Pages(s, e), x, y, s, e);
        });
    // A kernel file's attributes are what its VMM declared: KVM has no call
    // that reads them back, and answers a VM's calls only in the process
    // that created the VM. Compared, they show a change of declaration;
    // equal, they say nothing of the kernel (a MODEL guest's are the model's
    // own state, observed).
    const bool kernel =
        e_.provenance == Provenance::kKernel || f_.provenance == Provenance::kKernel;
    if (kernel && (!ra.empty() || !rb.empty()))
      Unverified(UnverifiedKind::kDeclaredAttributes,
                 "shared/private attributes (" + std::to_string(std::max(ra.size(), rb.size())) +
                     " ranges): the VMM's declaration, not read from the kernel");
  }

  // Content hashes only over pages both sides observed in full (a capture
  // never hashes others; a hash over them would not be comparable). One
  // that reaches other pages has no twin, so the contents of its pages both
  // observed in full were compared with nothing: not verified (Count).
  std::vector<ContentHash> Observed(const std::vector<ContentHash>& hs) {
    std::vector<ContentHash> out;
    out.reserve(hs.size());
    for (const ContentHash& h : hs) {
      const uint64_t end = h.first_index + h.count;
      if (FullyObserved(h.first_index, end)) {
        out.push_back(h);
        continue;
      }
      for (const VisibilityRange& r : vis_)
        if (r.visibility == PageVisibility::kFull &&
            std::max(r.first_index, h.first_index) < std::min(r.end_index(), end))
          contents_uncompared_.push_back(
              {std::max(r.first_index, h.first_index), std::min(r.end_index(), end)});
    }
    return out;
  }

  void Hashes() {
    // A capture hashed the file if it holds any hash of it (one captured
    // without --hash holds none), wherever the other capture observed.
    const bool e_hashed = !e_.hashes.empty(), f_hashed = !f_.hashes.empty();
    if (!e_hashed || !f_hashed) {
      // The contents of a kernel file's pages were compared with nothing: a
      // PFN kept in place says where they are, not what they hold.
      // Which pages, Count() says (it knows those counted otherwise).
      if (e_.provenance == Provenance::kKernel)
        unhashed_by_ = !e_hashed && !f_hashed ? "by neither capture"
                       : !e_hashed            ? "now only"
                                              : "by the first capture only";
      return;
    }
    if (e_.hashes == f_.hashes) return;
    const std::vector<ContentHash> eh = Observed(e_.hashes), fh = Observed(f_.hashes);
    // Only hashes over the very same pages on both sides are compared
    // (MatchHashes); the contents under a hash without a twin are not
    // verified (Count), never a difference.
    MatchHashes(
        eh, fh,
        [&](const ContentHash& x, const ContentHash& y) {
          const uint64_t end = x.first_index + x.count;
          if (x.xxh3 != y.xxh3)
            Add("contents " + Pages(x.first_index, end), "xxh3 " + Hex(x.xxh3),
                "xxh3 " + Hex(y.xxh3), x.first_index, end);
        },
        [&](const ContentHash& h) {
          contents_uncompared_.push_back({h.first_index, h.first_index + h.count});
        });
  }

  void Restructures() {
    if (e_.restructures == f_.restructures) return;
    std::map<uint64_t, const RestructureRecord*> found;
    for (const auto& r : f_.restructures) found[r.index] = &r;
    auto text = [&](const RestructureRecord& r) {
      return "order " + std::to_string(r.original_order) + " head " +
             (o_.show_pfns ? Hex(r.head_pfn) : std::string("(root only)")) + " " +
             std::to_string(r.layout.size()) + " runs" + (r.in_progress ? " in progress" : "");
    };
    for (const auto& r : e_.restructures) {
      auto it = found.find(r.index);
      const std::string where = "restructure at page " + std::to_string(r.index);
      if (it == found.end())
        Add(where, text(r), "none");
      else if (!(*it->second == r))
        Add(where, text(r), text(*it->second));
      if (it != found.end()) found.erase(it);
    }
    for (const auto& [index, r] : found)
      Add("restructure at page " + std::to_string(index), "none", text(*r));
  }

  // equal + different + unverified = pages_: a page in a listed difference is
  // different, else one not observed in full by both is unverified.
  void Count() {
    PageRanges within;  // the differences' pages inside the file
    for (const auto& r : different_) {
      const uint64_t first = std::min(r.first, pages_), end = std::min(r.second, pages_);
      if (first < end) within.push_back({first, end});
    }
    const PageRanges merged = Merged(std::move(within));
    uint64_t different = 0;
    for (const auto& r : merged) different += r.second - r.first;
    // The pages of [first, end) (within the file) not found different.
    auto not_different = [&](uint64_t first, uint64_t end) -> uint64_t {
      first = std::min(first, pages_), end = std::min(end, pages_);
      return first < end ? end - first - Overlap(merged, first, end) : 0;
    };
    // Unverified pages per visibility, without those found different.
    std::map<PageVisibility, uint64_t> unverified;
    for (const VisibilityRange& v : vis_)
      if (v.visibility != PageVisibility::kFull)
        if (const uint64_t n = not_different(v.first_index, v.end_index()))
          unverified[v.visibility] += n;
    // Pages observed in full whose PFN a side did not see, without those found
    // different (where PFNs or folio flags are compared). Then pages whose
    // contents went uncompared (Hashes), but for those counted already.
    std::map<int, uint64_t> pfn_unseen;
    PageRanges counted = merged;
    if (o_.compare_pfns || o_.compare_folio_flags)
      for (const PfnUnseenRange& p : pfn_unseen_) {
        if (const uint64_t n = not_different(p.first, p.end)) pfn_unseen[p.by] += n;
        counted.push_back({p.first, p.end});
      }
    counted = Merged(std::move(counted));
    // Contents not compared (Hashes), within the file: where a capture saw
    // no PFN over them (it joined pages across physical breaks), and where
    // both saw the PFNs (extents cut otherwise), but for pages found different.
    PageRanges uncompared;
    for (const auto& [first, end] : Merged(contents_uncompared_))
      if (std::min(first, pages_) < std::min(end, pages_))
        uncompared.push_back({first, std::min(end, pages_)});
    PageRanges pfn_unseen_ranges;
    for (const PfnUnseenRange& p : pfn_unseen_) pfn_unseen_ranges.push_back({p.first, p.end});
    pfn_unseen_ranges = Merged(std::move(pfn_unseen_ranges));
    const PageRanges uncompared_not_different = Without(uncompared, merged);
    const uint64_t uncompared_pfn_unseen =
        PageCount(Intersected(uncompared_not_different, pfn_unseen_ranges));
    const uint64_t uncompared_cut_otherwise =
        PageCount(Without(uncompared_not_different, pfn_unseen_ranges));
    UnverifiedGmem u;
    u.token = e_.token;
    u.name = e_.name;
    u.pages += PageCount(Without(uncompared, counted));
    for (const auto& [v, n] : unverified) {
      u.pages += n;
      u.AddPart(v == PageVisibility::kNone ? UnverifiedKind::kPagesInvisible
                                           : UnverifiedKind::kPagesPrivate,
                std::to_string(n) + " pages: " + UnverifiedReason(v));
    }
    for (const auto& [by, n] : pfn_unseen) {
      u.pages += n;
      u.AddPart(UnverifiedKind::kPfnsUnseen, std::to_string(n) + " pages: " + PfnUnseenReason(by));
    }
    if (uncompared_pfn_unseen)
      u.AddPart(UnverifiedKind::kPfnsUnseen,
                "contents of " + std::to_string(uncompared_pfn_unseen) +
                    " pages hashed over ranges cut otherwise, where a capture saw no PFN: not "
                    "compared");
    // Contents hashed on one side or neither: the initialized pages observed
    // in full whose PFN and flags were compared and found equal, but not what
    // they hold. Not verified, as pages hashed over ranges cut otherwise are:
    // a page is equal only when all of it was compared. Named, but for pages
    // found different or counted already.
    // Counted extent by extent, with no list of the file's size built: Verify
    // runs inside the blackout.
    uint64_t unhashed = 0;
    if (unhashed_by_) {
      PageRanges skip = counted;
      for (const VisibilityRange& r : vis_)
        if (r.visibility != PageVisibility::kFull) skip.push_back({r.first_index, r.end_index()});
      skip = Merged(std::move(skip));
      for (const FolioExtent& x : e_.folios) {
        const uint64_t first = std::min(x.first_index, pages_),
                       end = std::min(x.end_index(), pages_);
        if (first < end) unhashed += end - first - Overlap(skip, first, end);
      }
    }
    if (const uint64_t n = unhashed) {
      u.pages += n;
      u.AddPart(UnverifiedKind::kContentsNotHashed,
                "contents of " + std::to_string(n) + " initialized pages not compared: hashed " +
                    unhashed_by_ +
                    " (hash both: khoctl attach --hash, or khoctl capture --hash offline)");
    }
    if (uncompared_cut_otherwise)
      u.AddPart(UnverifiedKind::kContentsCutOtherwise,
                "contents of " + std::to_string(uncompared_cut_otherwise) +
                    " pages hashed over ranges cut otherwise by the two captures: not compared "
                    "(a hash is compared only with one over the same pages)");
    for (const auto& [kind, text] : parts_) u.AddPart(kind, text);
    DiffCounts& c = out_->counts;
    c.pages_different += different;
    c.pages_unverified += u.pages;
    c.pages_equal += pages_ - std::min(pages_, different + u.pages);
    if (!u.parts.empty()) out_->unverified.push_back(std::move(u));
  }

  const GuestMemfd& e_;
  const GuestMemfd& f_;
  const DiffOptions& o_;
  SnapshotDiff* out_;
  uint64_t pages_ = 0;
  std::vector<VisibilityRange> vis_;                           // CombinedVisibility
  PageRanges different_;                                       // [first, end) of page differences
  std::vector<std::pair<UnverifiedKind, std::string>> parts_;  // unverified, other than pages
  // [first, end) of pages resident on both sides, observed in full, whose PFN
  // the sides `by` (PfnUnseenBy bits) did not see.
  struct PfnUnseenRange {
    uint64_t first, end;
    int by;
  };
  std::vector<PfnUnseenRange> pfn_unseen_;
  PageRanges contents_uncompared_;  // Hashes(): hashed ranges compared with no hash
  // Hashes(): which side did not hash a kernel file's contents (nullptr: both did).
  const char* unhashed_by_ = nullptr;
};

void DiffVm(const Vm& e, const Vm& f, std::vector<Difference>* out) {
  const std::string vm = "vm " + Hex(e.token);
  auto add = [&](const std::string& field, const std::string& x, const std::string& y) {
    if (x != y) out->push_back(Difference{false, 0, "", field, x, y});
  };
  add(vm + " vm_type", std::to_string(e.vm_type), std::to_string(f.vm_type));
  std::map<uint32_t, const Memslot*> found;
  for (const auto& m : f.memslots) found[m.slot] = &m;
  for (const auto& m : e.memslots) {
    const std::string slot = vm + " slot " + std::to_string(m.slot);
    auto it = found.find(m.slot);
    if (it == found.end()) {
      add(slot, "present", "missing");
      continue;
    }
    const Memslot& g = *it->second;
    add(slot + " flags", Hex(m.flags), Hex(g.flags));
    add(slot + " base_gfn", Hex(m.base_gfn), Hex(g.base_gfn));
    add(slot + " npages", std::to_string(m.npages), std::to_string(g.npages));
    add(slot + " userspace_addr", Hex(m.userspace_addr), Hex(g.userspace_addr));
    add(slot + " gmem_token", Hex(m.gmem_token), Hex(g.gmem_token));
    add(slot + " gmem_offset", Hex(m.gmem_offset), Hex(g.gmem_offset));
    found.erase(it);
  }
  for (const auto& [slot, m] : found)
    add(vm + " slot " + std::to_string(slot), "missing", "present");
}

}  // namespace

std::string Difference::Where() const {
  return (in_gmem ? "gmem " + Hex(gmem_token) + " '" + gmem_name + "': " : std::string()) + field;
}

std::string Difference::ToString() const {
  return Where() + ": expected " + expected + ", found " + found;
}

std::string UnverifiedGmem::ToString() const {
  std::string s = "gmem " + Hex(token) + " '" + name + "': ";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : "") + parts[i];
  return s;
}

void DiffGmems(const GuestMemfd& expected, const GuestMemfd& found, const DiffOptions& opts,
               SnapshotDiff* out) {
  GmemDiffer(expected, found, opts, out).Run();
}

SnapshotDiff DiffSnapshots(const Snapshot& expected, const Snapshot& found,
                           const DiffOptions& opts_in) {
  DiffOptions opts = opts_in;
  opts.page_size = expected.header.page_size;
  SnapshotDiff result;
  std::vector<Difference>& out = result.differences;
  auto header = [&](const std::string& field, const std::string& x, const std::string& y) {
    if (x != y) out.push_back(Difference{false, 0, "", "header " + field, x, y});
  };
  const SnapshotHeader &he = expected.header, &hf = found.header;
  header("page_size", std::to_string(he.page_size), std::to_string(hf.page_size));
  if (opts.compare_header) {
    header("format", std::to_string(he.format_major) + "." + std::to_string(he.format_minor),
           std::to_string(hf.format_major) + "." + std::to_string(hf.format_minor));
    header("producer", he.producer, hf.producer);
    header("kernel_release", he.kernel_release, hf.kernel_release);
    header("boot_id", he.boot_id, hf.boot_id);
    header("capture_time_ns", std::to_string(he.capture_time_ns),
           std::to_string(hf.capture_time_ns));
  }
  for (const Vm& v : expected.vms) {
    if (const Vm* g = found.FindVm(v.token))
      DiffVm(v, *g, &out);
    else
      out.push_back(Difference{false, 0, "", "vm " + Hex(v.token), "present", "missing"});
  }
  for (const Vm& v : found.vms)
    if (!expected.FindVm(v.token))
      out.push_back(Difference{false, 0, "", "vm " + Hex(v.token), "missing", "present"});
  const uint32_t ps = opts.page_size ? opts.page_size : 4096;
  for (const GuestMemfd& g : expected.gmems) {
    if (const GuestMemfd* f = found.FindGmem(g.token)) {
      DiffGmems(g, *f, opts, &result);
      // Memslots are the VMM's declaration: KVM lists none, and answers a
      // VM's calls only in the process that created it. Compared above (a
      // change of declaration is a difference), never observed.
      // So is the VM a kernel file is bound to, and its type, with no
      // memslot (a MODEL guest's binding is the model's own state).
      size_t slots = 0;
      for (const Vm& v : expected.vms)
        for (const Memslot& m : v.memslots) slots += m.gmem_token == g.token;
      if (slots || (g.vm_token && g.provenance != Provenance::kModel)) {
        if (result.unverified.empty() || result.unverified.back().token != g.token)
          result.unverified.push_back(UnverifiedGmem{g.token, g.name, 0, {}, {}});
        const Vm* vm = expected.FindVm(g.vm_token);
        result.unverified.back().AddPart(
            UnverifiedKind::kDeclaredMemslots,
            (slots ? std::to_string(slots) + " memslot(s) of VM " + Hex(g.vm_token)
                   : "bound to VM " + Hex(g.vm_token) +
                         (vm ? " (type " + std::to_string(vm->vm_type) + ")" : std::string()) +
                         ", no memslot") +
                ": the VMM's declaration, not read from the kernel");
      }
    } else {
      out.push_back(Difference{true, g.token, g.name, "guest_memfd", "present", "missing"});
      result.counts.pages_different += g.size / ps;
    }
  }
  for (const GuestMemfd& g : found.gmems)
    if (!expected.FindGmem(g.token)) {
      out.push_back(Difference{true, g.token, g.name, "guest_memfd", "missing", "present"});
      result.counts.pages_different += g.size / ps;
    }
  CutDifferences(&result, opts.max_differences);
  return result;
}

void CutDifferences(SnapshotDiff* d, size_t max) {
  std::vector<Difference>& out = d->differences;
  if (out.size() <= max) return;
  const size_t total = out.size();
  d->differences_unlisted = total - max;
  out.resize(max);
  out.push_back(Difference{false, 0, "", kListCut, std::to_string(max) + " shown",
                           std::to_string(total) + " differences in all"});
}

}  // namespace khod
