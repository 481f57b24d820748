#include "tests/support/random_snapshot.h"

#include <algorithm>
#include <set>
#include <tuple>

namespace khod {
namespace {

uint64_t Uniform(std::mt19937_64& rng, uint64_t lo, uint64_t hi) {  // inclusive
  return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
}
bool Chance(std::mt19937_64& rng, double p) { return std::bernoulli_distribution(p)(rng); }

std::string RandomString(std::mt19937_64& rng, size_t max_len) {
  std::string s(Uniform(rng, 0, max_len), ' ');
  for (char& c : s) c = static_cast<char>(Uniform(rng, 0x20, 0x7e));
  return s;
}

uint64_t RandomPfn(std::mt19937_64& rng) {
  if (Chance(rng, 0.1)) return kPfnUnknown;
  return Uniform(rng, 0, uint64_t{1} << 40);
}

uint8_t RandomFlags(std::mt19937_64& rng) { return static_cast<uint8_t>(Uniform(rng, 0, 7)); }

// Buddy folios (order 0) in runs; gap_max/run_max shape sparse vs. dense.
void FillBuddy(std::mt19937_64& rng, GuestMemfd* g, uint64_t pages, uint64_t gap_max,
               uint64_t run_min, uint64_t run_max, bool contiguous_pfn) {
  uint64_t index = 0;
  while (true) {
    index += Uniform(rng, 0, gap_max);
    if (index >= pages) break;
    const uint64_t run = std::min(Uniform(rng, run_min, run_max), pages - index);
    FolioExtent e;
    e.first_index = index;
    e.first_pfn = RandomPfn(rng);
    e.nr_folios = static_cast<uint32_t>(run);
    e.order = 0;
    e.flags = RandomFlags(rng);
    if (!contiguous_pfn) e.nr_folios = 1;
    g->folios.push_back(e);
    index += e.pages();
  }
}

// A random split layout of a 2^order folio: runs of aligned sub-folios.
std::vector<SplitRun> RandomLayout(std::mt19937_64& rng, uint8_t order) {
  std::vector<SplitRun> layout;
  const uint32_t total = 1u << order;
  uint32_t offset = 0;
  while (offset < total) {
    std::vector<uint8_t> fits;
    for (uint8_t o = 0; o < order; ++o)
      if (offset % (1u << o) == 0 && (1u << o) <= total - offset) fits.push_back(o);
    const uint8_t o = fits[Uniform(rng, 0, fits.size() - 1)];
    const uint32_t max_count = std::min<uint32_t>((total - offset) >> o, 64);
    SplitRun run{offset, static_cast<uint32_t>(Uniform(rng, 1, max_count)), o};
    offset += run.count << o;
    // Canonical layout: equal-order neighbours are one run.
    if (!layout.empty() && layout.back().order == o)
      layout.back().count += run.count;
    else
      layout.push_back(run);
  }
  return layout;
}

void FillHugetlb(std::mt19937_64& rng, GuestMemfd* g, uint8_t order, uint64_t nr_huge,
                 double split_chance) {
  g->backing = Backing::kHugetlb;
  g->kind = Chance(rng, 0.5) ? FileKind::kGuestMemfd : FileKind::kHugetlbMemfd;
  g->hstate_order = order;
  const uint64_t folio = uint64_t{1} << order;
  for (uint64_t h = 0; h < nr_huge; ++h) {
    if (Chance(rng, 0.2)) continue;  // hole
    const uint64_t index = h * folio;
    const uint64_t pfn = Chance(rng, 0.1) ? kPfnUnknown : Uniform(rng, 0, 1ull << 30) << order;
    if (Chance(rng, split_chance)) {
      RestructureRecord r;
      r.index = index;
      r.head_pfn = pfn;
      r.original_order = order;
      r.memcg_id = Uniform(rng, 0, 1000);
      r.in_progress = Chance(rng, 0.2);
      r.layout = RandomLayout(rng, order);
      for (const SplitRun& run : r.layout) {
        FolioExtent e{index + run.offset, pfn == kPfnUnknown ? kPfnUnknown : pfn + run.offset,
                      run.count, run.order, RandomFlags(rng)};
        g->folios.push_back(e);
      }
      g->restructures.push_back(std::move(r));
      continue;
    }
    // Merge with the previous extent when it is a contiguous unsplit run.
    if (!g->folios.empty()) {
      FolioExtent& last = g->folios.Mutable().back();
      if (last.order == order && last.end_index() == index && pfn != kPfnUnknown &&
          last.first_pfn != kPfnUnknown && last.first_pfn + last.pages() == pfn &&
          Chance(rng, 0.7)) {
        ++last.nr_folios;
        continue;
      }
    }
    g->folios.push_back(FolioExtent{index, pfn, 1, order, RandomFlags(rng)});
  }
}

// Ranges are aligned to the hstate size on HugeTLB files: an unsplit huge
// folio never holds both shared and private pages (state/hugetlb_invariants.h).
void FillAttributes(std::mt19937_64& rng, GuestMemfd* g, uint64_t pages, int sets) {
  const uint64_t granule = uint64_t{1} << g->hstate_order;
  const uint64_t units = pages / granule;
  if (units == 0) return;
  for (int i = 0; i < sets; ++i) {
    const uint64_t first_unit = Uniform(rng, 0, units - 1);
    const uint64_t first = first_unit * granule;
    const uint64_t count =
        granule * Uniform(rng, 1, std::min<uint64_t>(units - first_unit, 1 + units / 64));
    const uint64_t value = Chance(rng, 0.8) ? kAttrPrivate : Uniform(rng, 0, 0xff);
    g->attributes.Set(first, count, value);
  }
}

void FillHashes(std::mt19937_64& rng, GuestMemfd* g, uint64_t pages) {
  uint64_t index = 0;
  const int n = static_cast<int>(Uniform(rng, 0, 8));
  for (int i = 0; i < n && pages > 0; ++i) {
    index += Uniform(rng, 0, pages / 8 + 1);
    if (index >= pages) break;
    const uint64_t count = Uniform(rng, 1, std::min<uint64_t>(pages - index, 4096));
    g->hashes.push_back(ContentHash{index, count, rng()});
    index += count;
  }
}

Mempolicy RandomPolicy(std::mt19937_64& rng) {
  Mempolicy p;
  p.mode = static_cast<int32_t>(Uniform(rng, 0, 6));
  p.mode_flags = Chance(rng, 0.3) ? static_cast<uint32_t>(1u << Uniform(rng, 13, 15)) : 0;
  const int words = static_cast<int>(Uniform(rng, 0, 2));
  for (int i = 0; i < words; ++i) p.nodemask.push_back(rng());
  if (!p.nodemask.empty() && p.nodemask.back() == 0) p.nodemask.back() = 1;
  p.home_node = Chance(rng, 0.5) ? -1 : static_cast<int32_t>(Uniform(rng, 0, 3));
  return p;
}

// Format 1.1's observation fields, consistent with the extents and hashes
// already drawn: visibility stays kFull (split into a few ranges), the policy
// is sometimes per VMM mapping or unknown (the inode policy then default).
void FillObservation(std::mt19937_64& rng, GuestMemfd* g, uint64_t pages) {
  static const uint64_t kKnown[] = {~0ull, 0, 1, 3};
  g->flags_known = kKnown[Uniform(rng, 0, 3)];
  const uint64_t source = Uniform(rng, 0, 3);
  if (source == 1 || source == 2) {
    g->policy = Mempolicy();
    g->policy_source = source == 1 ? PolicySource::kVmmMappings : PolicySource::kUnknown;
  }
  if (g->policy_source == PolicySource::kVmmMappings && pages > 0) {
    const int n = static_cast<int>(Uniform(rng, 0, 3));
    for (int i = 0; i < n; ++i) {
      MappingPolicy m;
      m.first_index = Uniform(rng, 0, pages - 1);
      m.count = Uniform(rng, 1, pages - m.first_index);
      m.pid = static_cast<int32_t>(Uniform(rng, 1, 1 << 22));
      m.start_address = rng() & ~0xfffull;
      m.policy = RandomPolicy(rng);
      g->mapping_policies.push_back(m);
    }
    std::sort(g->mapping_policies.begin(), g->mapping_policies.end(),
              [](const MappingPolicy& a, const MappingPolicy& b) {
                return std::tie(a.first_index, a.pid, a.start_address) <
                       std::tie(b.first_index, b.pid, b.start_address);
              });
  }
  if (pages > 0 && Chance(rng, 0.5)) {
    const uint64_t cut = Uniform(rng, 0, pages);
    if (cut > 0) g->visibility.push_back({0, cut, PageVisibility::kFull});
    if (cut < pages) g->visibility.push_back({cut, pages - cut, PageVisibility::kFull});
  }
}

}  // namespace

GuestMemfd RandomGmem(std::mt19937_64& rng, GmemShape shape, uint64_t token, uint32_t page_size) {
  GuestMemfd g;
  g.token = token;
  g.inode = Uniform(rng, 1, 1u << 30);
  g.name = RandomString(rng, 24);
  g.provenance = static_cast<Provenance>(Uniform(rng, 0, 2));
  g.kind = Chance(rng, 0.8) ? FileKind::kGuestMemfd : FileKind::kShmemMemfd;
  g.flags = Uniform(rng, 0, 3);
  g.policy = RandomPolicy(rng);
  uint64_t pages = 0;
  switch (shape) {
    case GmemShape::kEmpty:
      break;
    case GmemShape::kOnePage:
      pages = Uniform(rng, 1, 4);
      g.folios.push_back(
          FolioExtent{Uniform(rng, 0, pages - 1), RandomPfn(rng), 1, 0, RandomFlags(rng)});
      break;
    case GmemShape::kSparse:
      pages = Uniform(rng, 1, 1ull << 28);  // up to 1 TiB
      FillBuddy(rng, &g, pages, pages / 4 + 1, 1, 64, true);
      break;
    case GmemShape::kFragmented:
      pages = Uniform(rng, 1, 4096);
      FillBuddy(rng, &g, pages, 1, 1, 1, false);
      break;
    case GmemShape::kBuddyRuns:
      pages = Uniform(rng, 1, 1 << 16);
      FillBuddy(rng, &g, pages, 2, 150, 280, true);
      break;
    case GmemShape::kHugetlb2M: {
      const uint64_t huge = Uniform(rng, 1, 64);
      pages = huge << 9;
      FillHugetlb(rng, &g, 9, huge, 0.3);
      break;
    }
    case GmemShape::kHugetlb1G: {
      const uint64_t huge = Uniform(rng, 1, 1024);
      pages = huge << 18;
      FillHugetlb(rng, &g, 18, huge, 0.0);
      break;
    }
    case GmemShape::kManyAttributes:
      pages = Uniform(rng, 1 << 12, 1 << 22);
      FillBuddy(rng, &g, pages, 64, 1, 512, true);
      FillAttributes(rng, &g, pages, 3000);
      break;
  }
  g.size = pages * page_size;
  if (shape != GmemShape::kManyAttributes) FillAttributes(rng, &g, pages, Uniform(rng, 0, 20));
  FillHashes(rng, &g, pages);
  FillObservation(rng, &g, pages);
  return g;
}

Snapshot RandomSnapshot(uint64_t seed) {
  std::mt19937_64 rng(seed);
  Snapshot s;
  s.header.producer = "khod-test " + RandomString(rng, 8);
  s.header.kernel_release = RandomString(rng, 20);
  s.header.boot_id = RandomString(rng, 36);
  s.header.capture_time_ns = rng();
  s.header.page_size = 4096;
  std::set<uint64_t> tokens{0};
  auto token = [&] {
    uint64_t t;
    do t = Chance(rng, 0.5) ? Uniform(rng, 1, 100) : rng();
    while (!tokens.insert(t).second);
    return t;
  };
  const int nr_vms = static_cast<int>(Uniform(rng, 0, 3));
  for (int i = 0; i < nr_vms; ++i) {
    Vm vm;
    vm.token = token();
    vm.vm_type = static_cast<uint32_t>(Uniform(rng, 0, 4));
    s.vms.push_back(vm);
  }
  const int nr_gmems = static_cast<int>(Uniform(rng, 0, 6));
  for (int i = 0; i < nr_gmems; ++i) {
    const auto shape = static_cast<GmemShape>(Uniform(rng, 0, kGmemShapeCount - 1));
    s.gmems.push_back(RandomGmem(rng, shape, token(), s.header.page_size));
  }
  // Bind some gmems to VMs with memslots slicing the gmem; gfns never overlap
  // because each VM hands out increasing bases.
  std::vector<uint64_t> next_gfn(s.vms.size(), 0);
  std::vector<uint32_t> next_slot(s.vms.size(), 0);
  for (GuestMemfd& g : s.gmems) {
    if (s.vms.empty() || Chance(rng, 0.3)) continue;
    const size_t v = Uniform(rng, 0, s.vms.size() - 1);
    g.vm_token = s.vms[v].token;
    const uint64_t pages = g.size / s.header.page_size;
    uint64_t offset = 0;
    const int slots = static_cast<int>(Uniform(rng, 0, 3));
    for (int i = 0; i < slots && offset < pages; ++i) {
      const uint64_t n = Uniform(rng, 1, std::min<uint64_t>(pages - offset, 1 << 20));
      Memslot m;
      m.slot = (static_cast<uint32_t>(Uniform(rng, 0, 1)) << 16) | next_slot[v]++;
      m.flags = 1u << 2;
      m.base_gfn = next_gfn[v];
      m.npages = n;
      m.userspace_addr = Chance(rng, 0.5) ? 0 : (rng() & ~0xfffull);
      m.gmem_token = g.token;
      m.gmem_offset = offset * s.header.page_size;
      s.vms[v].memslots.push_back(m);
      next_gfn[v] += n + Uniform(rng, 0, 1024);
      offset += n + Uniform(rng, 0, 16);
    }
  }
  return s;
}

}  // namespace khod
