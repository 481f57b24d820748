#include "verify/snapshot_diff.h"

#include <algorithm>
#include <functional>
#include <map>

namespace khod {

namespace {

std::string Pages(uint64_t first, uint64_t end) {
  return end - first == 1 ? "page " + std::to_string(first)
                          : "pages " + std::to_string(first) + "-" + std::to_string(end - 1);
}

std::string PolicyText(const Mempolicy& p) {
  std::string s = "mode " + std::to_string(p.mode);
  if (p.mode_flags) s += " flags " + Hex(p.mode_flags);
  s += " nodes [";
  for (size_t i = 0; i < p.nodemask.size(); ++i) s += (i ? " " : "") + Hex(p.nodemask[i]);
  s += "]";
  if (p.home_node >= 0) s += " home " + std::to_string(p.home_node);
  return s;
}

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
void SweepRanges(const std::vector<Piece<T>>& a, const std::vector<Piece<T>>& b,
                 const std::function<bool(const T*, const T*, uint64_t)>& same,
                 const std::function<std::string(const T*, uint64_t)>& describe,
                 const std::function<std::string(const T*, const T*)>& kind,
                 const std::function<void(uint64_t, uint64_t, const std::string&, const std::string&)>& emit) {
  std::vector<uint64_t> cuts;
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
    const std::string k = kind(va, vb);
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

class GmemDiffer {
 public:
  GmemDiffer(const GuestMemfd& e, const GuestMemfd& f, const DiffOptions& o, std::vector<Difference>* out)
      : e_(e), f_(f), o_(o), out_(out) {}

  void Run() {
    Scalar("name", e_.name, f_.name);
    if (o_.compare_inodes) Scalar("inode", std::to_string(e_.inode), std::to_string(f_.inode));
    Scalar("provenance", ProvenanceName(e_.provenance), ProvenanceName(f_.provenance));
    Scalar("kind", FileKindName(e_.kind), FileKindName(f_.kind));
    Scalar("size", std::to_string(e_.size), std::to_string(f_.size));
    Scalar("flags", Hex(e_.flags), Hex(f_.flags));
    Scalar("backing", BackingName(e_.backing), BackingName(f_.backing));
    Scalar("hstate_order", std::to_string(e_.hstate_order), std::to_string(f_.hstate_order));
    Scalar("vm_token", Hex(e_.vm_token), Hex(f_.vm_token));
    if (!(e_.policy == f_.policy)) Add("policy", PolicyText(e_.policy), PolicyText(f_.policy));
    Folios();
    Attributes();
    Hashes();
    Restructures();
  }

 private:
  void Add(const std::string& field, const std::string& expected, const std::string& found) {
    Difference d;
    d.in_gmem = true;
    d.gmem_token = e_.token;
    d.gmem_name = e_.name;
    d.field = field;
    d.expected = expected;
    d.found = found;
    out_->push_back(std::move(d));
  }
  void Scalar(const char* field, const std::string& a, const std::string& b) {
    if (a != b) Add(field, a, b);
  }

  static uint64_t PfnAt(const FolioExtent& x, uint64_t page) {
    return x.first_pfn == kPfnUnknown ? kPfnUnknown : x.first_pfn + (page - x.first_index);
  }

  void Folios() {
    // Identical lists are equal on every page whatever is compared, and the
    // sweep costs ~0.5 us an extent (45 ms for a 2 GiB shmem file's 60k):
    // only lists that differ at all, even only in how runs are cut, go through it.
    if (e_.folios == f_.folios) return;
    auto pieces = [](const FolioList& v) {
      std::vector<Piece<FolioExtent>> p;
      for (const auto& x : v) p.push_back({x.first_index, x.end_index(), &x});
      return p;
    };
    const bool pfns = o_.compare_pfns, flags = o_.compare_folio_flags;
    SweepRanges<FolioExtent>(
        pieces(e_.folios), pieces(f_.folios),
        [&](const FolioExtent* a, const FolioExtent* b, uint64_t s) {
          if (!a || !b) return a == b;
          return a->order == b->order && (!flags || a->flags == b->flags) &&
                 (!pfns || PfnAt(*a, s) == PfnAt(*b, s));
        },
        [](const FolioExtent* x, uint64_t s) -> std::string {
          if (!x) return "hole";
          std::string pfn = x->first_pfn == kPfnUnknown ? "unknown" : Hex(PfnAt(*x, s));
          return "resident pfn " + pfn + " order " + std::to_string(x->order) + " flags " +
                 Hex(x->flags);
        },
        [](const FolioExtent* a, const FolioExtent* b) -> std::string {
          if (!a) return "appeared";
          if (!b) return "vanished";
          return "changed";
        },
        [&](uint64_t s, uint64_t e, const std::string& x, const std::string& y) {
          Add("folios " + Pages(s, e), x, y);
        });
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
        [](const AttributeRange*, const AttributeRange*) { return std::string("attr"); },
        [&](uint64_t s, uint64_t e, const std::string& x, const std::string& y) {
          Add("attributes " + Pages(s, e), x, y);
        });
  }

  void Hashes() {
    if (e_.hashes == f_.hashes) return;  // both empty included
    if (e_.hashes.empty() || f_.hashes.empty()) {
      if (o_.require_hashes)
        Add("hashes", std::to_string(e_.hashes.size()) + " content hashes",
            std::to_string(f_.hashes.size()) + " content hashes");
      return;
    }
    std::map<std::pair<uint64_t, uint64_t>, uint64_t> found;
    for (const auto& h : f_.hashes) found[{h.first_index, h.count}] = h.xxh3;
    std::map<std::pair<uint64_t, uint64_t>, bool> seen;
    for (const auto& h : e_.hashes) {
      const std::string where = "contents " + Pages(h.first_index, h.first_index + h.count);
      auto it = found.find({h.first_index, h.count});
      if (it == found.end()) {
        Add(where, "xxh3 " + Hex(h.xxh3), "no hash over this exact range");
        continue;
      }
      seen[it->first] = true;
      if (it->second != h.xxh3) Add(where, "xxh3 " + Hex(h.xxh3), "xxh3 " + Hex(it->second));
    }
    for (const auto& h : f_.hashes)
      if (!seen.count({h.first_index, h.count}))
        Add("contents " + Pages(h.first_index, h.first_index + h.count), "no hash over this exact range",
            "xxh3 " + Hex(h.xxh3));
  }

  void Restructures() {
    if (e_.restructures == f_.restructures) return;
    std::map<uint64_t, const RestructureRecord*> found;
    for (const auto& r : f_.restructures) found[r.index] = &r;
    auto text = [](const RestructureRecord& r) {
      return "order " + std::to_string(r.original_order) + " head " + Hex(r.head_pfn) + " " +
             std::to_string(r.layout.size()) + " runs" + (r.in_progress ? " in progress" : "");
    };
    for (const auto& r : e_.restructures) {
      auto it = found.find(r.index);
      const std::string where = "restructure at page " + std::to_string(r.index);
      if (it == found.end()) Add(where, text(r), "none");
      else if (!(*it->second == r)) Add(where, text(r), text(*it->second));
      if (it != found.end()) found.erase(it);
    }
    for (const auto& [index, r] : found) Add("restructure at page " + std::to_string(index), "none", text(*r));
  }

  const GuestMemfd& e_;
  const GuestMemfd& f_;
  const DiffOptions& o_;
  std::vector<Difference>* out_;
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
  for (const auto& [slot, m] : found) add(vm + " slot " + std::to_string(slot), "missing", "present");
}

}  // namespace

std::string Difference::ToString() const {
  std::string s;
  if (in_gmem) s = "gmem " + Hex(gmem_token) + " '" + gmem_name + "': ";
  return s + field + ": expected " + expected + ", found " + found;
}

void DiffGmems(const GuestMemfd& expected, const GuestMemfd& found, const DiffOptions& opts,
               std::vector<Difference>* out) {
  GmemDiffer(expected, found, opts, out).Run();
}

std::vector<Difference> DiffSnapshots(const Snapshot& expected, const Snapshot& found,
                                      const DiffOptions& opts) {
  std::vector<Difference> out;
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
    header("capture_time_ns", std::to_string(he.capture_time_ns), std::to_string(hf.capture_time_ns));
  }
  for (const Vm& v : expected.vms) {
    if (const Vm* g = found.FindVm(v.token)) DiffVm(v, *g, &out);
    else out.push_back(Difference{false, 0, "", "vm " + Hex(v.token), "present", "missing"});
  }
  for (const Vm& v : found.vms)
    if (!expected.FindVm(v.token))
      out.push_back(Difference{false, 0, "", "vm " + Hex(v.token), "missing", "present"});
  for (const GuestMemfd& g : expected.gmems) {
    if (const GuestMemfd* f = found.FindGmem(g.token)) {
      DiffGmems(g, *f, opts, &out);
    } else {
      out.push_back(Difference{true, g.token, g.name, "guest_memfd", "present", "missing"});
    }
  }
  for (const GuestMemfd& g : found.gmems)
    if (!expected.FindGmem(g.token))
      out.push_back(Difference{true, g.token, g.name, "guest_memfd", "missing", "present"});
  if (out.size() > opts.max_differences) {
    const size_t total = out.size();
    out.resize(opts.max_differences);
    out.push_back(Difference{false, 0, "", "(list cut)", std::to_string(opts.max_differences) + " shown",
                             std::to_string(total) + " differences in all"});
  }
  return out;
}

}  // namespace khod
