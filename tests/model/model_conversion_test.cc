// Property and scenario tests of the MODEL guest_memfd's conversion flow and
// HugeTLB restructuring, against a brute-force per-page reference.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <vector>

#include "model/model_gmem.h"
#include "model/model_invariants.h"

namespace khod {
namespace {

// The seed's semantics, one page at a time, with nothing clever: per-page
// arrays, a split bit per huge folio, whole-folio reference counting while a
// huge folio is not split.
class ReferenceGmem {
 public:
  ReferenceGmem(uint64_t pages, uint8_t hstate_order)
      : pages_(pages),
        hp_(uint64_t{1} << hstate_order),
        huge_(hstate_order > 0),
        priv_(pages, false),
        mapped_(pages, false),
        refs_(pages, 0),
        split_(huge_ ? pages / hp_ : 0, false) {}

  uint64_t FolioFirst(uint64_t p) const { return huge_ && !split_[p / hp_] ? p - p % hp_ : p; }
  uint64_t FolioPages(uint64_t p) const { return huge_ && !split_[p / hp_] ? hp_ : 1; }
  bool FolioHasRefs(uint64_t p) const {
    for (uint64_t q = FolioFirst(p); q < FolioFirst(p) + FolioPages(p); ++q)
      if (refs_[q]) return true;
    return false;
  }
  bool Uniform(uint64_t first, uint64_t n, bool v) const {
    for (uint64_t p = first; p < first + n; ++p)
      if (priv_[p] != v) return false;
    return true;
  }

  std::vector<PageRange> Busy(uint64_t first, uint64_t count) const {
    std::vector<PageRange> out;
    for (uint64_t p = first; p < first + count; ++p) {
      if (!FolioHasRefs(p)) continue;
      if (!out.empty() && out.back().end() == p)
        ++out.back().count;
      else
        out.push_back({p, 1});
    }
    return out;
  }

  Status::Code Convert(uint64_t first, uint64_t count, bool to_private) {
    if (!Busy(first, count).empty()) return Status::Code::kBusy;
    std::set<uint64_t> to_split;
    if (huge_) {
      for (uint64_t p = first; p < first + count; ++p) {
        const uint64_t h = p / hp_;
        const bool partial = h * hp_ < first || (h + 1) * hp_ > first + count;
        if (!split_[h] && partial && !Uniform(h * hp_, hp_, to_private)) to_split.insert(h);
      }
    }
    if (preserved_ && !to_split.empty()) return Status::Code::kFailedPrecondition;
    for (uint64_t p = first; p < first + count; ++p) {
      if (to_private) mapped_[p] = false;
      priv_[p] = to_private;
    }
    for (uint64_t h : to_split) split_[h] = true;
    if (huge_)
      for (uint64_t h = first / hp_; h <= (first + count - 1) / hp_; ++h) TryMerge(h);
    return Status::Code::kOk;
  }

  void TryMerge(uint64_t h) {
    if (!split_[h] || preserved_) return;
    if (!Uniform(h * hp_, hp_, priv_[h * hp_])) return;
    for (uint64_t q = h * hp_; q < (h + 1) * hp_; ++q)
      if (refs_[q]) return;
    split_[h] = false;
  }

  void TakeRef(uint64_t p) { ++refs_[p]; }
  void DropRef(uint64_t p) {
    --refs_[p];
    if (huge_ && refs_[p] == 0) TryMerge(p / hp_);
  }
  Status::Code Map(uint64_t first, uint64_t count) {
    for (uint64_t p = first; p < first + count; ++p)
      if (priv_[p]) return Status::Code::kFailedPrecondition;
    for (uint64_t p = first; p < first + count; ++p) mapped_[p] = true;
    return Status::Code::kOk;
  }
  void Preserve() { preserved_ = true; }
  void Unpreserve() {
    preserved_ = false;
    for (uint64_t h = 0; h < split_.size(); ++h) TryMerge(h);
  }

  uint64_t pages_, hp_;
  bool huge_;
  std::vector<bool> priv_, mapped_;
  std::vector<uint32_t> refs_;
  std::vector<bool> split_;
  bool preserved_ = false;
};

void ExpectSameState(const ModelGuestMemfd& m, const ReferenceGmem& r, int step) {
  SCOPED_TRACE("step " + std::to_string(step));
  std::vector<bool> priv(r.pages_, false), mapped(r.pages_, false);
  for (const AttributeRange& a : m.attributes().Ranges())
    for (uint64_t p = a.first; p < a.first + a.count; ++p) priv[p] = (a.value & kAttrPrivate) != 0;
  m.mapped().ForEach(0, r.pages_, [&](uint64_t f, uint64_t n) {
    for (uint64_t p = f; p < f + n; ++p) mapped[p] = true;
  });
  ASSERT_EQ(priv, r.priv_);
  ASSERT_EQ(mapped, r.mapped_);
  std::set<uint64_t> split_model, split_ref;
  for (const auto& [index, head] : m.split_folios()) split_model.insert(index);
  for (uint64_t h = 0; h < r.split_.size(); ++h)
    if (r.split_[h]) split_ref.insert(h * r.hp_);
  ASSERT_EQ(split_model, split_ref);
  const std::vector<Violation> v = CheckModelGmem(m);
  for (const Violation& x : v) ADD_FAILURE() << x.where << ": " << x.what;
  ASSERT_TRUE(v.empty());
}

struct PropertyCase {
  Backing backing;
  uint8_t hstate_order;
  uint64_t pages;
  uint64_t flags;
  uint32_t seed;
};

class ConversionPropertyTest : public ::testing::TestWithParam<PropertyCase> {};

TEST_P(ConversionPropertyTest, RandomConversionsMatchPerPageReference) {
  const PropertyCase c = GetParam();
  ModelKernel kernel;
  ModelGmemOptions o;
  o.name = "prop";
  o.size = c.pages * kModelPageSize;
  o.backing = c.backing;
  o.hstate_order = c.hstate_order;
  o.flags = c.flags;
  auto created = ModelGuestMemfd::Create(&kernel, o);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  ModelGuestMemfd& m = **created;
  ReferenceGmem r(c.pages, c.hstate_order);
  if (!(c.flags & kGmemFlagInitShared)) r.priv_.assign(c.pages, true);

  std::mt19937_64 rng(c.seed);
  auto uniform = [&](uint64_t lo, uint64_t hi) {  // inclusive
    return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
  };
  std::vector<uint64_t> held;  // pages holding one extra reference each
  int busy_seen = 0, split_refused = 0;
  for (int step = 0; step < 4000; ++step) {
    const uint64_t first = uniform(0, c.pages - 1);
    const uint64_t span_cap = std::vector<uint64_t>{4, r.hp_ + 2, c.pages}[uniform(0, 2)];
    const uint64_t count = uniform(1, std::min(span_cap, c.pages - first));
    const uint64_t op = uniform(0, 99);
    if (op < 60) {
      const bool to_private = uniform(0, 1);
      const Status s = m.Convert(first, count, to_private);
      const std::vector<PageRange> busy_model = m.BusyPages(first, count);
      const std::vector<PageRange> busy_ref = r.Busy(first, count);
      ASSERT_EQ(busy_model, busy_ref) << "step " << step;
      const Status::Code want = r.Convert(first, count, to_private);
      ASSERT_EQ(s.code(), want) << "step " << step << ": " << s.ToString();
      busy_seen += want == Status::Code::kBusy;
      split_refused += want == Status::Code::kFailedPrecondition;
    } else if (op < 75) {
      ASSERT_TRUE(m.TakeRef(first).ok());
      r.TakeRef(first);
      held.push_back(first);
    } else if (op < 92) {
      if (held.empty()) continue;
      const size_t i = uniform(0, held.size() - 1);
      ASSERT_TRUE(m.DropRef(held[i]).ok());
      r.DropRef(held[i]);
      held.erase(held.begin() + i);
    } else if (op < 97) {
      ASSERT_EQ(m.Map(first, count).code(), r.Map(first, count)) << "step " << step;
    } else {
      if (m.preserved()) {
        ASSERT_TRUE(m.Unpreserve().ok());
        r.Unpreserve();
      } else {
        ASSERT_TRUE(m.Preserve().ok());
        r.Preserve();
      }
    }
    ExpectSameState(m, r, step);
    if (HasFatalFailure()) return;
  }
  EXPECT_GT(busy_seen, 0) << "the sequence never exercised a busy refusal";
  if (c.backing == Backing::kHugetlb) {
    EXPECT_GT(split_refused, 0);
  }
  // Drop everything: every split folio that is uniform must merge back.
  if (m.preserved()) {
    ASSERT_TRUE(m.Unpreserve().ok());
    r.Unpreserve();
  }
  for (uint64_t p : held) {
    ASSERT_TRUE(m.DropRef(p).ok());
    r.DropRef(p);
  }
  ASSERT_TRUE(m.Convert(0, c.pages, true).ok());
  r.Convert(0, c.pages, true);
  ExpectSameState(m, r, -1);
  EXPECT_TRUE(m.split_folios().empty());
  EXPECT_EQ(kernel.registry().size(), 0u);
  m.Close();
  if (c.backing == Backing::kHugetlb) {
    EXPECT_EQ(kernel.hugetlb(c.hstate_order)->free_folios(),
              kernel.hugetlb(c.hstate_order)->total_folios());
  } else {
    EXPECT_EQ(kernel.buddy().free_folios(), kernel.buddy().total_folios());
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ConversionPropertyTest,
                         ::testing::Values(PropertyCase{Backing::kHugetlb, kHstateOrder2M, 4 << 9,
                                                        kGmemFlagMmap | kGmemFlagInitShared, 1},
                                           PropertyCase{Backing::kHugetlb, kHstateOrder2M, 4 << 9,
                                                        kGmemFlagMmap, 2},
                                           PropertyCase{Backing::kHugetlb, kHstateOrder2M, 3 << 9,
                                                        kGmemFlagMmap | kGmemFlagInitShared, 3},
                                           PropertyCase{Backing::kBuddy, 0, 1500,
                                                        kGmemFlagMmap | kGmemFlagInitShared, 4}));

// --- scenarios ---------------------------------------------------------------

std::unique_ptr<ModelGuestMemfd> MakeHuge(ModelKernel* k, uint64_t folios,
                                          uint8_t order = kHstateOrder2M) {
  ModelGmemOptions o;
  o.name = "vm0";
  o.size = (folios << order) * kModelPageSize;
  o.backing = Backing::kHugetlb;
  o.hstate_order = order;
  auto r = ModelGuestMemfd::Create(k, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : nullptr;
}

TEST(ModelConversionTest, DescribesItselfAsModel) {
  ModelKernel k;
  auto m = MakeHuge(&k, 1);
  EXPECT_EQ(m->Describe().rfind("MODEL ", 0), 0u) << m->Describe();
  GuestMemfd g;
  m->Fill(&g);
  EXPECT_EQ(g.provenance, Provenance::kModel);
}

TEST(ModelConversionTest, RefusedWhileBusyAcceptedAfterRelease) {
  ModelKernel k;
  auto m = MakeHuge(&k, 2);
  // Not split: a reference on page 100 pins the whole 2 MiB folio.
  ASSERT_TRUE(m->TakeRef(100).ok());
  Status s = m->Convert(300, 4, true);
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_NE(s.message().find("[300, 304)"), std::string::npos) << s.message();
  EXPECT_EQ(m->attributes().Get(300), 0u) << "a refused conversion changed state";
  EXPECT_TRUE(m->Convert(600, 4, true).ok()) << "the other folio is not busy";
  ASSERT_TRUE(m->DropRef(100).ok());
  ASSERT_TRUE(m->Convert(300, 4, true).ok());
  EXPECT_EQ(m->split_folios().count(0), 1u);
  // Split now: a reference on page 5 no longer blocks page 6.
  ASSERT_TRUE(m->TakeRef(5).ok());
  EXPECT_TRUE(m->Convert(6, 1, true).ok());
  s = m->Convert(4, 3, false);
  EXPECT_EQ(s.code(), Status::Code::kBusy);
  EXPECT_EQ(m->BusyPages(4, 3), (std::vector<PageRange>{{5, 1}}));
  ASSERT_TRUE(m->DropRef(5).ok());
  EXPECT_TRUE(m->Convert(4, 3, false).ok());
}

TEST(ModelConversionTest, SharedToPrivateUnmapsFirstAndPrivateCannotBeMapped) {
  ModelKernel k;
  auto m = MakeHuge(&k, 1);
  ASSERT_TRUE(m->Map(0, 512).ok());
  ASSERT_TRUE(m->Convert(10, 20, true).ok());
  EXPECT_FALSE(m->mapped().ContainsAny(10, 20));
  EXPECT_TRUE(m->mapped().ContainsAll(0, 10));
  EXPECT_EQ(m->Map(15, 1).code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(CheckModelGmem(*m).empty());
}

TEST(ModelConversionTest, SplitOfPreservedFolioRefused) {
  ModelKernel k;
  auto m = MakeHuge(&k, 2);
  ASSERT_TRUE(m->Preserve().ok());
  Status s = m->Convert(3, 1, true);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(m->attributes().Get(3), 0u);
  EXPECT_TRUE(m->Convert(0, 512, true).ok()) << "a whole-folio conversion needs no split";
  EXPECT_TRUE(m->split_folios().empty());
  // Unpreserve -> split -> preserve again.
  ASSERT_TRUE(m->Unpreserve().ok());
  ASSERT_TRUE(m->Convert(3, 1, false).ok());
  EXPECT_EQ(m->split_folios().size(), 1u);
  ASSERT_TRUE(m->Preserve().ok());
  // Making it uniform again is allowed, but the merge waits for Unpreserve.
  ASSERT_TRUE(m->Convert(3, 1, true).ok());
  EXPECT_EQ(m->split_folios().size(), 1u);
  ASSERT_TRUE(m->Unpreserve().ok());
  EXPECT_TRUE(m->split_folios().empty());
}

TEST(ModelConversionTest, PoisonDuringSplitIsQueuedNotLost) {
  ModelKernel k;
  auto m = MakeHuge(&k, 2);
  const uint64_t head = *m->PfnOf(0);
  int hooked = 0;
  k.set_restructure_hook([&](const RestructureRecord& r) {
    if (hooked++) return;
    EXPECT_TRUE(r.in_progress);
    GuestMemfd mid;
    m->Fill(&mid);
    ASSERT_EQ(mid.restructures.size(), 1u);
    EXPECT_TRUE(mid.restructures[0].in_progress);
    EXPECT_EQ(m->Convert(400, 1, true).code(), Status::Code::kBusy) << "re-entered a restructure";
    ASSERT_TRUE(k.MemoryFailure(head + 7).ok());
    EXPECT_EQ(k.pending_poison(), 1u);
    EXPECT_FALSE(k.IsPoisoned(head + 7));
  });
  ASSERT_TRUE(m->Convert(3, 1, true).ok());
  EXPECT_EQ(hooked, 1);
  EXPECT_TRUE(k.IsPoisoned(head + 7));
  EXPECT_EQ(k.pending_poison(), 0u);
  GuestMemfd g;
  m->Fill(&g);
  bool flagged = false;
  for (const FolioExtent& e : g.folios)
    if (e.first_index == 7 && e.order == 0 && e.nr_folios == 1) flagged = e.flags & kFolioHwpoison;
  EXPECT_TRUE(flagged);
  EXPECT_FALSE(g.restructures[0].in_progress);
  // A poisoned page is never merged back into a huge folio.
  ASSERT_TRUE(m->Convert(3, 1, false).ok());
  EXPECT_EQ(m->split_folios().size(), 1u);
  PfnPool* pool = k.hugetlb(kHstateOrder2M);
  m->Close();
  EXPECT_EQ(pool->dissolved_folios(), 1u);
  EXPECT_EQ(pool->free_folios(), pool->total_folios() - 1);
  EXPECT_EQ(k.registry().size(), 0u);
}

TEST(ModelConversionTest, ClosedFdWithPinnedSplitFoliosKeepsRegistryUntilRelease) {
  ModelKernel k;
  PfnPool* pool = k.hugetlb(kHstateOrder1G);
  auto m = MakeHuge(&k, 4, kHstateOrder1G);
  EXPECT_EQ(pool->free_folios(), pool->total_folios() - 4);
  ASSERT_TRUE(m->Convert(10, 1, true).ok());  // split folio 0
  ASSERT_TRUE(m->TakeRef(20).ok());           // pin a piece of it
  const uint64_t split_pfn = *m->PfnOf(20);
  const uint64_t whole = uint64_t{2} << kHstateOrder1G;
  ASSERT_TRUE(m->TakeRef(whole + 1).ok());  // pin unsplit folio 2
  const uint64_t whole_pfn = *m->PfnOf(whole + 1);
  m->Close();
  EXPECT_TRUE(m->closed());
  EXPECT_EQ(m->Convert(0, 1, false).code(), Status::Code::kFailedPrecondition);
  ASSERT_EQ(k.registry().size(), 1u);
  EXPECT_EQ(k.registry().orphaned(), 1u);
  const RegistryEntry* e = k.registry().Find(split_pfn);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->record.original_order, kHstateOrder1G);
  EXPECT_EQ(e->record.memcg_id, 1u);
  EXPECT_EQ(k.pinned_orphans(), 1u);
  EXPECT_EQ(pool->free_folios(), pool->total_folios() - 2);
  ASSERT_TRUE(k.PutPage(split_pfn).ok());
  EXPECT_EQ(k.registry().size(), 0u) << "unpinned split folio not merged back";
  ASSERT_TRUE(k.PutPage(whole_pfn).ok());
  EXPECT_EQ(k.pinned_orphans(), 0u);
  EXPECT_EQ(pool->free_folios(), pool->total_folios());
  EXPECT_EQ(k.PutPage(whole_pfn).code(), Status::Code::kFailedPrecondition);
}

TEST(ModelConversionTest, MixedHugeFolioWithoutSplitIsAViolation) {
  ModelKernel k;
  auto m = MakeHuge(&k, 2);
  GuestMemfd g;
  m->Fill(&g);
  g.attributes.Set(5, 1, kAttrPrivate);  // mixed, but no record and order 9
  std::vector<Violation> v;
  CheckGmem(g, kModelPageSize, &v);
  ASSERT_FALSE(v.empty());
  EXPECT_NE(v[0].what.find("not split"), std::string::npos) << v[0].what;
  EXPECT_NE(v[0].where.find("folios[0]"), std::string::npos) << v[0].where;
}

TEST(ModelConversionTest, RestructureRecordMustMatchFolios) {
  ModelKernel k;
  auto m = MakeHuge(&k, 2);
  ASSERT_TRUE(m->Convert(5, 1, true).ok());
  GuestMemfd g;
  m->Fill(&g);
  std::vector<Violation> v;
  CheckGmem(g, kModelPageSize, &v);
  EXPECT_TRUE(v.empty());
  g.restructures[0].head_pfn += 512;
  g.restructures.push_back(g.restructures[0]);
  g.restructures[1].index = 512;  // a record over a folio that is not split
  CheckGmem(g, kModelPageSize, &v);
  ASSERT_GE(v.size(), 2u);
  EXPECT_NE(v[0].what.find("head pfn"), std::string::npos) << v[0].what;
}

}  // namespace
}  // namespace khod
