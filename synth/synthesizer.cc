#include "synth/synthesizer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "synth/rng.h"
#include "synth/size.h"

namespace khod {

namespace {

constexpr uint32_t kPageSize = 4096;
constexpr uint64_t kGmemFlagMmap = 1;         // GUEST_MEMFD_FLAG_MMAP
constexpr uint64_t kGmemFlagInitShared = 2;   // GUEST_MEMFD_FLAG_INIT_SHARED
constexpr uint32_t kMemGuestMemfd = 1u << 2;  // KVM_MEM_GUEST_MEMFD
constexpr uint32_t kVmTypeDefault = 0;
constexpr uint32_t kVmTypeSwProtected = 1;  // KVM_X86_SW_PROTECTED_VM: has private memory
constexpr int32_t kMpolInterleave = 3;
constexpr uint64_t kPciHoleStart = 3ull << 30;  // x86 guests: RAM below 3 GiB, then MMIO
constexpr uint64_t kHighMemStart = 4ull << 30;
constexpr uint64_t kUserspaceBase = 0x7f0000000000ull;
constexpr uint64_t kFirstPfn = 1ull << 20;       // 4 GiB: clear of low firmware memory; 1G aligned
constexpr uint64_t kMaxGapFolios = 64;           // PFN distance between runs, in folios
constexpr uint64_t kMaxSharedRangePages = 2048;  // bounce buffers are small
// A split huge folio keeps its first 2 MiB as 4 KiB pages (SplitLayout), which
// hold up to this many shared ranges (8 pages a slot).
constexpr uint64_t kSplitSmallPages = 512;
constexpr uint64_t kMaxHolesPerSplit = 64;
constexpr uint64_t kMaxSynthExtents = 64ull << 20;  // 1.5 GiB of FDT records
constexpr uint8_t kSynthFolioFlags = kFolioUptodate | kFolioDirty;
constexpr uint64_t kFirstMemcgId = 100;

uint8_t FolioOrder(SynthBacking b) {
  switch (b) {
    case SynthBacking::k4K:
      return 0;
    case SynthBacking::k2M:
      return 9;
    case SynthBacking::k1G:
      return 18;
  }
  return 0;
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

// floor(k * total / parts) without overflow: spreads `parts` items over `total`.
uint64_t Spread(uint64_t k, uint64_t total, uint64_t parts) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(k) * total / parts);
}

// Where the k-th of `count` evenly spread picks falls among `total` slots
// (the middle of its share, so picks never collide when count <= total).
uint64_t SpreadPick(uint64_t k, uint64_t total, uint64_t count) {
  const unsigned __int128 wide_k = k, wide_count = count;
  return static_cast<uint64_t>(((2 * wide_k + 1) * total) / (2 * wide_count));
}

// Layout of a huge folio split for a conversion: its first 2 MiB broken into
// 4 KiB pages (where the shared page sits), the rest kept as 2 MiB folios.
std::vector<SplitRun> SplitLayout(uint8_t order) {
  std::vector<SplitRun> layout = {{0, kSplitSmallPages, 0}};
  if (order > 9) layout.push_back({512, (1u << (order - 9)) - 1, 9});
  return layout;
}

std::string BootIdFromSeed(uint64_t seed) {
  SplitMix64 rng(seed ^ 0xb007b007b007b007ull);
  const uint64_t hi = rng.Next(), lo = rng.Next();
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(hi >> 32),
                static_cast<uint32_t>((hi >> 16) & 0xffff), static_cast<uint32_t>(hi & 0xffff),
                static_cast<uint32_t>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffull));
  return buf;
}

// Unique non-zero tokens; a seed gives the same tokens every time.
class TokenSource {
 public:
  explicit TokenSource(uint64_t seed) : rng_(seed) {}
  uint64_t Next() {
    for (;;) {
      const uint64_t t = rng_.Next();
      if (t != 0 && used_.insert(t).second) return t;
    }
  }

 private:
  SplitMix64 rng_;
  std::set<uint64_t> used_;
};

// Fills g.folios (and g.restructures) for `nfolios` folios of `order`,
// drawing PFNs from *pfn_cursor. `splits` are folio numbers (ascending,
// local to this gmem) to split.
void FillFolios(const SynthParams& p, uint8_t order, uint64_t nfolios,
                const std::vector<uint64_t>& splits, uint64_t* splits_in_progress_left,
                uint64_t memcg_id, SplitMix64* rng, uint64_t* pfn_cursor, GuestMemfd* g) {
  const uint64_t unit = 1ull << order;
  const uint64_t mean_run = std::max<uint64_t>(1, p.run_pages >> order);
  // Runs average mean_run folios; the margin avoids a late reallocation.
  g->folios.reserve(nfolios / mean_run * 21 / 20 + 2 * splits.size() + 16);
  size_t next_split = 0;
  uint64_t folio = 0;
  while (folio < nfolios) {
    const uint64_t pfn = *pfn_cursor;
    if (next_split < splits.size() && splits[next_split] == folio) {
      RestructureRecord rec;
      rec.index = folio * unit;
      rec.head_pfn = pfn;
      rec.original_order = order;
      rec.memcg_id = memcg_id;
      rec.in_progress = *splits_in_progress_left > 0;
      if (rec.in_progress) --*splits_in_progress_left;
      rec.layout = SplitLayout(order);
      for (const SplitRun& run : rec.layout)
        g->folios.push_back(FolioExtent{rec.index + run.offset, pfn + run.offset, run.count,
                                        run.order, kSynthFolioFlags});
      g->restructures.push_back(std::move(rec));
      ++next_split;
      ++folio;
      *pfn_cursor += unit * rng->Between(2, kMaxGapFolios);
      continue;
    }
    // Run lengths vary around the mean, as the allocator's do.
    uint64_t run = rng->Between(std::max<uint64_t>(1, mean_run / 2), mean_run + mean_run / 2);
    run = std::min(run, nfolios - folio);
    if (next_split < splits.size()) run = std::min(run, splits[next_split] - folio);
    run = std::min<uint64_t>(run, UINT32_MAX);
    g->folios.push_back(
        FolioExtent{folio * unit, pfn, static_cast<uint32_t>(run), order, kSynthFolioFlags});
    folio += run;
    // At least one folio of gap: the next run is never physically contiguous.
    *pfn_cursor += unit * (run + rng->Between(1, kMaxGapFolios));
  }
}

// A stretch of the file whose pages may be shared at 4 KiB granularity, and
// how many shared ranges to punch into it.
struct HoleRegion {
  uint64_t first;
  uint64_t pages;
  uint64_t holes;
};

// Private everywhere except the regions' shared holes, one per equal slot of
// its region, each with private pages on both sides so none coalesce.
void FillAttributes(uint64_t pages, const std::vector<HoleRegion>& regions, SplitMix64* rng,
                    GuestMemfd* g) {
  std::vector<AttributeRange> priv;
  uint64_t private_start = 0;
  for (const HoleRegion& region : regions) {
    if (region.holes == 0) continue;
    const uint64_t width = region.pages / region.holes;  // >= 2, checked by the caller
    for (uint64_t i = 0; i < region.holes; ++i) {
      const uint64_t slot = region.first + i * width;
      const uint64_t max_len = std::max<uint64_t>(1, std::min(width / 2, kMaxSharedRangePages));
      const uint64_t len = rng->Between(1, max_len);
      const uint64_t start = slot + rng->Between(1, width - len);
      priv.push_back({private_start, start - private_start, kAttrPrivate});
      private_start = start + len;
    }
  }
  if (private_start < pages) priv.push_back({private_start, pages - private_start, kAttrPrivate});
  g->attributes.Assign(priv);
}

// Memslots of one guest_memfd, placed at *gpa (advanced past them).
void AddMemslots(const SynthParams& p, const GuestMemfd& g, uint64_t unit_bytes, bool first_gmem,
                 uint64_t* gpa, Vm* vm) {
  auto add = [&](uint64_t offset, uint64_t bytes, uint64_t at) {
    Memslot s;
    s.slot = static_cast<uint32_t>(vm->memslots.size());
    s.flags = kMemGuestMemfd;
    s.base_gfn = at / kPageSize;
    s.npages = bytes / kPageSize;
    s.userspace_addr = kUserspaceBase + at;
    s.gmem_token = g.token;
    s.gmem_offset = offset;
    vm->memslots.push_back(s);
  };
  uint64_t offset = 0;
  if (first_gmem) {
    const uint64_t low = std::min(g.size, kPciHoleStart);
    add(0, low, 0);
    offset = low;
    *gpa = kHighMemStart;
  }
  const uint64_t rest_units = (g.size - offset) / unit_bytes;
  const uint64_t slots = std::min<uint64_t>(std::max<uint32_t>(p.high_memslots, 1), rest_units);
  for (uint64_t k = 0; k < slots; ++k) {
    const uint64_t begin = offset + Spread(k, rest_units, slots) * unit_bytes;
    const uint64_t end = offset + Spread(k + 1, rest_units, slots) * unit_bytes;
    add(begin, end - begin, *gpa + (begin - offset));
  }
  *gpa = AlignUp(*gpa + (g.size - offset), 1ull << 30);
}

}  // namespace

Result<SynthBacking> ParseSynthBacking(std::string_view text) {
  std::string t(text);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "4k") return SynthBacking::k4K;
  if (t == "2m") return SynthBacking::k2M;
  if (t == "1g") return SynthBacking::k1G;
  return Status::InvalidArgument("backing '" + std::string(text) + "' is not one of 4k, 2m, 1g");
}

const char* SynthBackingName(SynthBacking b) {
  switch (b) {
    case SynthBacking::k4K:
      return "4k";
    case SynthBacking::k2M:
      return "2m";
    case SynthBacking::k1G:
      return "1g";
  }
  return "?";
}

Result<Snapshot> Synthesize(const SynthParams& p) {
  const uint8_t order = FolioOrder(p.backing);
  const bool hugetlb = order > 0;
  const uint64_t unit_bytes = uint64_t{kPageSize} << order;
  const uint64_t ngmems = uint64_t{p.vms} * p.gmems_per_vm;
  if (p.vms == 0 || p.gmems_per_vm == 0)
    return Status::InvalidArgument("need at least one VM and one guest_memfd per VM");
  if (p.total_bytes == 0 || p.total_bytes % unit_bytes != 0)
    return Status::InvalidArgument("size " + FormatSize(p.total_bytes) +
                                   " is not a positive multiple of the " +
                                   SynthBackingName(p.backing) + " folio size");
  const uint64_t total_units = p.total_bytes / unit_bytes;
  if (total_units < ngmems)
    return Status::InvalidArgument("size " + FormatSize(p.total_bytes) + " is too small for " +
                                   std::to_string(ngmems) + " guest_memfds of " +
                                   SynthBackingName(p.backing) + " folios");
  if (p.run_pages == 0) return Status::InvalidArgument("run length must be at least 1 page");
  // Refuse before allocating: one FolioExtent per PFN run, and no blob format
  // holds more than about 89 M of them (FDT 24 B each, 2 GiB limit).
  const uint64_t run_units = std::max<uint64_t>(1, p.run_pages >> order);
  if (total_units / run_units > kMaxSynthExtents)
    return Status::InvalidArgument(
        "size " + FormatSize(p.total_bytes) + " in runs of " + std::to_string(p.run_pages) +
        " pages needs about " + std::to_string(total_units / run_units) +
        " folio extents; at most " + std::to_string(kMaxSynthExtents) +
        " fit a blob (use a larger --backing or --run-pages, or a smaller --size)");
  // Every other record, bounded the same way before anything is allocated:
  // guest_memfds, their memslots (at most --memslots + 1 each), two records
  // per split folio, one attribute range per shared range.
  const auto too_many = [](uint64_t n, const std::string& what) {
    return Status::InvalidArgument(what + " make about " + std::to_string(n) +
                                   " records; at most " + std::to_string(kMaxSynthExtents) +
                                   " fit a blob");
  };
  if (ngmems > kMaxSynthExtents) return too_many(ngmems, "--vms x --gmems-per-vm guest_memfds");
  const uint64_t memslots = ngmems * (std::min<uint64_t>(p.high_memslots, total_units) + 1);
  if (memslots > kMaxSynthExtents) return too_many(memslots, "--memslots per guest_memfd");
  if (p.split_folios > kMaxSynthExtents / 2) return too_many(p.split_folios * 2, "--split-folios");
  if (p.shared_ranges > kMaxSynthExtents) return too_many(p.shared_ranges, "--shared-ranges");
  if (!p.private_memory && p.shared_ranges > 0)
    return Status::InvalidArgument("shared ranges need private memory (a confidential guest)");
  if (p.split_folios > 0 && !hugetlb)
    return Status::InvalidArgument("split folios need HugeTLB backing (2m or 1g)");
  if (p.split_folios > total_units)
    return Status::InvalidArgument(std::to_string(p.split_folios) + " split folios but only " +
                                   std::to_string(total_units) + " huge folios");
  if (p.splits_in_progress > p.split_folios)
    return Status::InvalidArgument("more splits in progress than split folios");

  Snapshot snap;
  snap.header.producer = "khoctl synth (khod 0.1.0)";
  snap.header.kernel_release = "synthetic";
  snap.header.boot_id = BootIdFromSeed(p.seed);
  snap.header.capture_time_ns = p.capture_time_ns;
  snap.header.page_size = kPageSize;

  TokenSource tokens(p.seed);
  SplitMix64 rng(p.seed * 0x2545f4914f6cdd1dull + 7);
  uint64_t pfn_cursor = kFirstPfn;
  uint64_t splits_in_progress_left = p.splits_in_progress;
  const uint64_t total_pages = p.total_bytes / kPageSize;
  uint64_t units_before = 0;  // huge folios (or pages) in earlier gmems
  snap.vms.reserve(p.vms);
  snap.gmems.reserve(ngmems);
  for (uint32_t v = 0; v < p.vms; ++v) {
    Vm vm;
    vm.token = tokens.Next();
    vm.vm_type = p.private_memory ? kVmTypeSwProtected : kVmTypeDefault;
    uint64_t gpa = 0;
    for (uint32_t j = 0; j < p.gmems_per_vm; ++j) {
      const uint64_t gi = uint64_t{v} * p.gmems_per_vm + j;
      const uint64_t units = Spread(gi + 1, total_units, ngmems) - Spread(gi, total_units, ngmems);
      GuestMemfd g;
      g.token = tokens.Next();
      g.inode = 10000 + gi;
      g.name = "synth-vm" + std::to_string(v) + "-gmem" + std::to_string(j);
      g.provenance = Provenance::kSynthetic;
      g.kind = FileKind::kGuestMemfd;
      g.size = units * unit_bytes;
      g.flags = kGmemFlagMmap | (p.private_memory ? 0 : kGmemFlagInitShared);
      g.backing = hugetlb ? Backing::kHugetlb : Backing::kBuddy;
      g.hstate_order = order;
      g.vm_token = vm.token;
      if (gi % 2 == 1) g.policy = Mempolicy{kMpolInterleave, 0, {0x1}, -1};

      // This gmem's share of the shared ranges and of the split folios. On
      // HugeTLB a shared range sits in the 4 KiB part of a split folio (a huge
      // folio never holds both shared and private pages), so enough folios
      // are split to hold them.
      const uint64_t pages = units << order;
      const uint64_t pages_before = units_before << order;
      const uint64_t holes = p.private_memory
                                 ? Spread(pages_before + pages, p.shared_ranges, total_pages) -
                                       Spread(pages_before, p.shared_ranges, total_pages)
                                 : 0;
      uint64_t nsplits = Spread(units_before + units, p.split_folios, total_units) -
                         Spread(units_before, p.split_folios, total_units);
      if (hugetlb) nsplits = std::max(nsplits, (holes + kMaxHolesPerSplit - 1) / kMaxHolesPerSplit);
      if (nsplits > units)
        return Status::InvalidArgument(g.name + ": " + std::to_string(holes) +
                                       " shared ranges need " + std::to_string(nsplits) +
                                       " split folios but it has only " + std::to_string(units) +
                                       " huge folios");
      if (!hugetlb && holes > pages / 2)
        return Status::InvalidArgument(
            g.name + ": " + std::to_string(holes) + " shared ranges do not fit in " +
            FormatSize(pages * kPageSize) + " (at most one per 2 pages)");
      std::vector<uint64_t> splits;
      std::vector<HoleRegion> regions;
      if (!hugetlb) regions.push_back({0, pages, holes});
      for (uint64_t k = 0; k < nsplits; ++k) {
        splits.push_back(SpreadPick(k, units, nsplits));
        regions.push_back({splits.back() << order, kSplitSmallPages,
                           Spread(k + 1, holes, nsplits) - Spread(k, holes, nsplits)});
      }
      FillFolios(p, order, units, splits, &splits_in_progress_left, kFirstMemcgId + v, &rng,
                 &pfn_cursor, &g);
      if (p.private_memory) FillAttributes(pages, regions, &rng, &g);
      AddMemslots(p, g, unit_bytes, j == 0, &gpa, &vm);
      units_before += units;
      snap.gmems.push_back(std::move(g));
    }
    snap.vms.push_back(std::move(vm));
  }
  return snap;
}

}  // namespace khod
