// The synthetic snapshot generator: sizes parse, snapshots have the asked-for
// shape and always pass CheckInvariants, and a seed fully determines them.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "state/invariants.h"
#include "synth/size.h"
#include "synth/synthesizer.h"

namespace khod {
namespace {

constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kTiB = 1ull << 40;

std::string ViolationsText(const Snapshot& s) {
  std::string out;
  for (const auto& v : CheckInvariants(s)) out += v.where + ": " + v.what + "\n";
  return out;
}

uint64_t SummedPrivatePages(const GuestMemfd& g) {
  uint64_t n = 0;
  for (const auto& r : g.attributes.Ranges()) n += r.count;
  return n;
}

Snapshot MustSynthesize(const SynthParams& p) {
  Result<Snapshot> r = Synthesize(p);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : Snapshot{};
}

// Extents of one gmem cover [0, size) with no gap (synthetic guests are fully populated).
void ExpectFullyPopulated(const GuestMemfd& g, uint32_t page_size) {
  uint64_t next = 0;
  for (const auto& e : g.folios) {
    ASSERT_EQ(e.first_index, next) << g.name;
    next = e.end_index();
  }
  EXPECT_EQ(next, g.size / page_size) << g.name;
}

TEST(ParseSize, AcceptsBinarySuffixes) {
  EXPECT_EQ(*ParseSize("1T"), kTiB);
  EXPECT_EQ(*ParseSize("64G"), 64 * kGiB);
  EXPECT_EQ(*ParseSize("256m"), 256ull << 20);
  EXPECT_EQ(*ParseSize("4k"), 4096u);
  EXPECT_EQ(*ParseSize("2GiB"), 2 * kGiB);
  EXPECT_EQ(*ParseSize("3GB"), 3 * kGiB);
  EXPECT_EQ(*ParseSize("12345"), 12345u);
  EXPECT_EQ(*ParseSize("512B"), 512u);
}

TEST(ParseSize, RejectsMalformed) {
  for (const char* bad :
       {"", "T", "1X", "1TT", "1 T", "-1G", "1.5G", "99999999999999999999", "20000000P", "1Gx"}) {
    Result<uint64_t> r = ParseSize(bad);
    EXPECT_FALSE(r.ok()) << "'" << bad << "' parsed as " << (r.ok() ? *r : 0);
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    }
  }
  EXPECT_NE(ParseSize("1X").status().message().find("suffix"), std::string::npos);
}

TEST(FormatSize, ShortestExactForm) {
  EXPECT_EQ(FormatSize(kTiB), "1T");
  EXPECT_EQ(FormatSize(3ull << 20), "3M");
  EXPECT_EQ(FormatSize(1000), "1000");
  EXPECT_EQ(FormatSize(0), "0");
  EXPECT_EQ(FormatSize(1536ull << 10), "1536K");
}

TEST(ParseSynthBacking, KnownAndUnknown) {
  EXPECT_EQ(*ParseSynthBacking("4k"), SynthBacking::k4K);
  EXPECT_EQ(*ParseSynthBacking("2M"), SynthBacking::k2M);
  EXPECT_EQ(*ParseSynthBacking("1g"), SynthBacking::k1G);
  EXPECT_FALSE(ParseSynthBacking("8k").ok());
}

TEST(Synthesize, OneTebibyteOf4kFoliosInRunsOf214) {
  SynthParams p;  // defaults: 1 TiB, 4k, runs of 214 pages
  p.shared_ranges = 100;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  ASSERT_EQ(s.gmems.size(), 1u);
  const GuestMemfd& g = s.gmems[0];
  EXPECT_EQ(g.size, kTiB);
  EXPECT_EQ(g.provenance, Provenance::kSynthetic);
  EXPECT_EQ(g.backing, Backing::kBuddy);
  ExpectFullyPopulated(g, s.header.page_size);
  // Mean run length is about 214 pages.
  const double mean = static_cast<double>(kTiB / 4096) / g.folios.size();
  EXPECT_NEAR(mean, 214.0, 214.0 * 0.05);
  // Neighbouring extents are never physically contiguous (else they would be one extent).
  for (size_t i = 1; i < g.folios.size(); ++i)
    ASSERT_NE(g.folios[i - 1].first_pfn + g.folios[i - 1].pages(), g.folios[i].first_pfn) << i;
  // 100 shared holes in private memory: 101 private ranges.
  EXPECT_EQ(g.attributes.range_count(), 101u);
  EXPECT_EQ(g.attributes.Get(0), kAttrPrivate);
}

TEST(Synthesize, RunOfOnePageIsTheWorstCase) {
  SynthParams p;
  p.total_bytes = kGiB;
  p.run_pages = 1;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  const GuestMemfd& g = s.gmems[0];
  ASSERT_EQ(g.folios.size(), kGiB / 4096);
  for (size_t i = 0; i < g.folios.size(); ++i) {
    ASSERT_EQ(g.folios[i].nr_folios, 1u);
    if (i > 0) {
      ASSERT_NE(g.folios[i - 1].first_pfn + 1, g.folios[i].first_pfn);
    }
  }
}

TEST(Synthesize, HugetlbWithSharedRangesAndSplitFolios) {
  SynthParams p;
  p.backing = SynthBacking::k1G;
  p.shared_ranges = 10000;
  p.split_folios = 16;
  p.splits_in_progress = 2;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  const GuestMemfd& g = s.gmems[0];
  EXPECT_EQ(g.backing, Backing::kHugetlb);
  EXPECT_EQ(g.hstate_order, 18);
  ExpectFullyPopulated(g, s.header.page_size);
  EXPECT_EQ(g.attributes.range_count(), 10001u);
  // 10,000 shared ranges need ceil(10000 / 64) = 157 split folios, more than the 16 asked.
  const uint64_t splits = 157;
  ASSERT_EQ(g.restructures.size(), splits);
  int in_progress = 0;
  for (const auto& r : g.restructures) {
    EXPECT_EQ(r.original_order, 18);
    in_progress += r.in_progress;
  }
  EXPECT_EQ(in_progress, 2);
  std::map<uint8_t, uint64_t> folios_by_order;
  for (const auto& e : g.folios) folios_by_order[e.order] += e.nr_folios;
  EXPECT_EQ(folios_by_order[18], 1024u - splits);
  EXPECT_EQ(folios_by_order[9], splits * 511u);
  EXPECT_EQ(folios_by_order[0], splits * 512u);
  // Every shared page lies in the 4 KiB part of a split folio.
  uint64_t shared_pages = 0;
  for (const auto& r : g.restructures) {
    for (uint64_t i = r.index; i < r.index + 512; ++i) shared_pages += g.attributes.Get(i) == 0;
  }
  EXPECT_EQ(shared_pages, g.size / 4096 - SummedPrivatePages(g));
}

TEST(Synthesize, TwoMegHugetlbSplits) {
  SynthParams p;
  p.total_bytes = 8 * kGiB;
  p.backing = SynthBacking::k2M;
  p.split_folios = 3;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  EXPECT_EQ(s.gmems[0].restructures.size(), 3u);
}

TEST(Synthesize, ManyVmsMemslotsTileEachGmem) {
  SynthParams p;
  p.total_bytes = 64 * kGiB + 6 * (2ull << 20);  // not evenly divisible by 6
  p.backing = SynthBacking::k2M;
  p.vms = 3;
  p.gmems_per_vm = 2;
  p.high_memslots = 3;
  p.shared_ranges = 50;
  p.split_folios = 7;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  ASSERT_EQ(s.vms.size(), 3u);
  ASSERT_EQ(s.gmems.size(), 6u);
  uint64_t total = 0, splits = 0;
  std::set<uint64_t> tokens;
  for (const auto& g : s.gmems) {
    total += g.size;
    splits += g.restructures.size();
    tokens.insert(g.token);
    const Vm* vm = s.FindVm(g.vm_token);
    ASSERT_NE(vm, nullptr);
    // The gmem's memslots cover its offsets exactly once, back to back.
    std::vector<Memslot> slots;
    for (const auto& m : vm->memslots)
      if (m.gmem_token == g.token) slots.push_back(m);
    std::sort(slots.begin(), slots.end(),
              [](const Memslot& a, const Memslot& b) { return a.gmem_offset < b.gmem_offset; });
    uint64_t offset = 0;
    for (const auto& m : slots) {
      EXPECT_EQ(m.gmem_offset, offset) << g.name;
      offset += m.npages * 4096;
    }
    EXPECT_EQ(offset, g.size) << g.name;
    ExpectFullyPopulated(g, s.header.page_size);
  }
  for (const auto& v : s.vms) tokens.insert(v.token);
  EXPECT_EQ(tokens.size(), 9u);
  EXPECT_EQ(total, p.total_bytes);
  EXPECT_EQ(splits, 7u);
  // Physical memory is never handed to two folios.
  std::vector<std::pair<uint64_t, uint64_t>> pfns;
  for (const auto& g : s.gmems)
    for (const auto& e : g.folios) pfns.push_back({e.first_pfn, e.first_pfn + e.pages()});
  std::sort(pfns.begin(), pfns.end());
  for (size_t i = 1; i < pfns.size(); ++i) ASSERT_LE(pfns[i - 1].second, pfns[i].first);
}

TEST(Synthesize, SharedGuestHasNoAttributes) {
  SynthParams p;
  p.total_bytes = kGiB;
  p.private_memory = false;
  Snapshot s = MustSynthesize(p);
  EXPECT_EQ(ViolationsText(s), "");
  EXPECT_TRUE(s.gmems[0].attributes.empty());
  EXPECT_EQ(s.vms[0].vm_type, 0u);
}

TEST(Synthesize, SeedDeterminesTheSnapshot) {
  SynthParams p;
  p.total_bytes = 4 * kGiB;
  p.shared_ranges = 20;
  p.vms = 2;
  Snapshot a = MustSynthesize(p), b = MustSynthesize(p);
  EXPECT_EQ(a, b);
  p.seed = 2;
  Snapshot c = MustSynthesize(p);
  EXPECT_NE(a, c);
}

TEST(Synthesize, RejectsImpossibleParams) {
  auto error = [](SynthParams p) {
    Result<Snapshot> r = Synthesize(p);
    EXPECT_FALSE(r.ok());
    return r.ok() ? std::string() : r.status().message();
  };
  SynthParams p;
  p.total_bytes = 3ull << 20;
  p.backing = SynthBacking::k1G;
  EXPECT_NE(error(p).find("multiple"), std::string::npos);
  p = SynthParams{};
  p.total_bytes = 1 << 20;
  p.shared_ranges = 1000;
  EXPECT_NE(error(p).find("shared ranges"), std::string::npos);
  p = SynthParams{};
  p.split_folios = 1;
  EXPECT_NE(error(p).find("HugeTLB"), std::string::npos);
  p = SynthParams{};
  p.total_bytes = 2 * kGiB;
  p.backing = SynthBacking::k1G;
  p.shared_ranges = 200;  // needs 4 split folios, there are 2
  EXPECT_NE(error(p).find("split folios"), std::string::npos);
  p = SynthParams{};
  p.vms = 0;
  error(p);
  p = SynthParams{};
  p.total_bytes = 2ull << 30;
  p.backing = SynthBacking::k1G;
  p.vms = 3;
  EXPECT_NE(error(p).find("too small"), std::string::npos);
  p = SynthParams{};
  p.run_pages = 0;
  error(p);
  // 1 PiB of 4 KiB folios would need 1.28 G extents: refused before allocating.
  p = SynthParams{};
  p.total_bytes = 1ull << 50;
  EXPECT_NE(error(p).find("folio extents"), std::string::npos);
  p.backing = SynthBacking::k1G;  // 1 M folios of 1 GiB: fine
  EXPECT_TRUE(Synthesize(p).ok());
  // Records other than extents are bounded too, before anything is allocated
  // (each of these asked for gigabytes and ended in std::bad_alloc).
  p = SynthParams{};
  p.high_memslots = 4294967295u;
  EXPECT_NE(error(p).find("--memslots per guest_memfd make about"), std::string::npos) << error(p);
  p = SynthParams{};
  p.total_bytes = 16383ull << 50;
  p.run_pages = ~0ull;
  p.vms = 4294967295u;
  p.gmems_per_vm = 4;
  EXPECT_NE(error(p).find("--vms x --gmems-per-vm"), std::string::npos) << error(p);
  p = SynthParams{};
  p.run_pages = 100000;
  p.shared_ranges = 100000000;
  EXPECT_NE(error(p).find("--shared-ranges"), std::string::npos) << error(p);
  p = SynthParams{};
  p.backing = SynthBacking::k2M;
  p.total_bytes = 64ull << 40;
  p.run_pages = ~0ull;
  p.split_folios = 40000000;
  EXPECT_NE(error(p).find("--split-folios"), std::string::npos) << error(p);
}

}  // namespace
}  // namespace khod
