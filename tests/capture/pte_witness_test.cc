// The PTE keeper as a witness (capture/pte_witness.h): a change scan of a
// guest_memfd under a witness that holds walks only the pages the keeper does
// not map, and every capture is still the reference (a fresh source's full
// capture): after new pages in holes, after a punch (the witness no longer
// holds and the round walks), after a punch in the middle of a round (the
// round's second look sees it and captures again), and for a baseline older
// than the witness (not used). shmem never gets a witness.
#include "capture/pte_witness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "capture/kernel_source.h"
#include "capture/snapshot_assembly.h"
#include "kernel/pagemap.h"
#include "tests/support/fixture.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

void Punch(int fd, uint64_t first, uint64_t count) {
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(first * kPage), static_cast<off_t>(count * kPage)),
            0);
}

void Write(uint8_t* vmm, uint64_t first, uint64_t count, uint8_t v) {
  for (uint64_t p = first; p < first + count; ++p) vmm[p * kPage] = static_cast<uint8_t>(v + p);
}

// A part of a round that does something between the round's first look at
// the witness and the next part's capture.
class ActionSource : public GmemSource {
 public:
  explicit ActionSource(std::function<void()> act) : act_(std::move(act)) {}
  std::string Describe() const override { return "action"; }
  Status Capture(const CaptureOptions&, GuestMemfd* out) override {
    act_();
    *out = GuestMemfd();
    out->name = "action";
    return Status::Ok();
  }

 private:
  std::function<void()> act_;
};

class PteWitnessTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kPages = 2048, kUsed = 1536;

  void SetUp() override {
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
    if (pinned_shmem_) {
      memfd_.emplace(kPages * kPage, "pinned-witness");
      pin_movable_ = true;
    } else {
      Result<TestGuestMemfd> g = TestGuestMemfd::Make(kPages * kPage);
      KHOD_GUEST_MEMFD_OR_SKIP(g);
      gmem_.emplace(std::move(*g));
    }
    void* m = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd(), 0);
    ASSERT_NE(m, MAP_FAILED);
    vmm_ = static_cast<uint8_t*>(m);
    Write(vmm_, 0, kUsed, 1);
    meminfo_ = ::testing::TempDir() + "/pte-witness-meminfo";
    std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 0 kB\n";
  }
  void TearDown() override {
    if (vmm_) ::munmap(vmm_, kPages * kPage);
    ::unlink(meminfo_.c_str());
  }
  int fd() const { return gmem_ ? gmem_->fd() : memfd_->fd(); }

  std::unique_ptr<KernelGmemSource> Source() {
    KernelSourceOptions o;
    o.meminfo_path = meminfo_;
    o.name = "g";
    o.capture_threads = 2;
    o.pin_movable = pin_movable_;
    auto s = KernelGmemSource::FromFd(UniqueFd(::dup(fd())), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  GuestMemfd Reference() {
    auto s = Source();
    GuestMemfd g;
    EXPECT_TRUE(s->Capture({}, &g).ok());
    return g;
  }
  // A round of `parts` (the source last) under `w`, as the session captures.
  GuestMemfd Round(KernelGmemSource* s, const PteWitness* w, CaptureStats* stats,
                   GmemSource* first = nullptr, bool ready_as_baseline = false) {
    std::vector<SnapshotPart> parts;
    if (first) parts.push_back(SnapshotPart{first, {}, std::nullopt, ""});
    SnapshotPart p;
    p.source = s;
    p.options.stats = stats;
    p.options.ready_as_baseline = ready_as_baseline;
    parts.push_back(p);
    Result<Snapshot> snap = AssembleSnapshot(parts, {}, /*threads=*/1, meminfo_, nullptr, w);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    return snap.ok() ? snap->gmems.back() : GuestMemfd();
  }
  std::unique_ptr<PteWitness> Witness(const KernelGmemSource& s, const GuestMemfd& captured) {
    std::optional<PteWitness::File> f = s.WitnessFile(captured);
    EXPECT_TRUE(f.has_value());
    if (!f) return nullptr;
    Result<std::unique_ptr<PteWitness>> w = PteWitness::Start({*f});
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    return w.ok() ? std::move(*w) : nullptr;
  }

  // As Prepare does: a capture, a witness over what it found, and the
  // capture Freeze compares with, under the witness.
  std::unique_ptr<PteWitness> Prepared(KernelGmemSource* s, GuestMemfd* first) {
    *first = Round(s, nullptr, nullptr);
    std::unique_ptr<PteWitness> w = Witness(*s, *first);
    if (w) Round(s, w.get(), nullptr);
    return w;
  }

  std::optional<TestGuestMemfd> gmem_;
  bool pinned_shmem_ = false;       // a pinned shmem memfd instead of a guest_memfd
  std::optional<TestMemfd> memfd_;  // its guest then
  bool pin_movable_ = false;
  uint8_t* vmm_ = nullptr;
  std::string meminfo_;
};

TEST_F(PteWitnessTest, AWitnessedScanWalksOnlyThePagesTheKeeperDoesNotMap) {
  auto s = Source();
  CaptureStats stats;
  const GuestMemfd first = Round(s.get(), nullptr, &stats);
  std::unique_ptr<PteWitness> w = Witness(*s, first);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->pages_mapped(), kUsed);
  // Prepare's second capture, under the witness: its baseline is older.
  stats = CaptureStats();
  EXPECT_EQ(Round(s.get(), w.get(), &stats), first);
  EXPECT_EQ(stats.pages_witnessed, 0u) << "the baseline was captured before the witness";
  // Freeze: nothing but the holes is walked.
  stats = CaptureStats();
  EXPECT_EQ(Round(s.get(), w.get(), &stats), first);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(stats.pages_witnessed, kUsed);
  EXPECT_EQ(stats.pages_walked, kPages - kUsed);

  // The VMM fills a hole and writes a witnessed page: its own page tables,
  // not the keeper's. The witness holds, and the hole is found by the walk.
  Write(vmm_, 1800, 8, 3);
  Write(vmm_, 10, 1, 4);
  EXPECT_TRUE(w->Holds());
  stats = CaptureStats();
  const GuestMemfd filled = Round(s.get(), w.get(), &stats);
  EXPECT_EQ(stats.pages_witnessed, kUsed);
  EXPECT_EQ(filled, Reference());
  EXPECT_FALSE(filled == first);
}

TEST_F(PteWitnessTest, APunchEndsTheWitnessAndTheRoundWalks) {
  auto s = Source();
  GuestMemfd first;
  std::unique_ptr<PteWitness> w = Prepared(s.get(), &first);
  ASSERT_NE(w, nullptr);
  Punch(fd(), 500, 3);
  Write(vmm_, 500, 3, 9);  // the same pages again: new folios, maybe the same count
  EXPECT_FALSE(w->Holds());
  CaptureStats stats;
  const GuestMemfd now = Round(s.get(), w.get(), &stats);
  EXPECT_EQ(stats.pages_witnessed, 0u);
  EXPECT_EQ(stats.pages_walked, kPages);
  EXPECT_EQ(now, Reference());
}

// A punch after the round looked at the witness and before the file's pages
// are read: the file's first capture trusts the witness, the round's second
// look sees it moved and captures again.
TEST_F(PteWitnessTest, APunchDuringTheRoundIsCapturedByTheRoundsSecondPass) {
  auto s = Source();
  GuestMemfd first;
  std::unique_ptr<PteWitness> w = Prepared(s.get(), &first);
  ASSERT_NE(w, nullptr);
  bool punched = false;
  ActionSource punch([&] {
    if (punched) return;
    punched = true;
    Punch(fd(), 700, 2);
  });
  CaptureStats stats;
  const GuestMemfd now = Round(s.get(), w.get(), &stats, &punch);
  EXPECT_TRUE(punched);
  EXPECT_EQ(stats.pages_witnessed, 0u) << "the second pass, without the witness, is kept";
  EXPECT_EQ(now, Reference());
  EXPECT_FALSE(now == first);
}

// A round captured again because HardwareCorrupted moved is not checked
// after: it must not take the witness's word either. Here the count moves
// during the first pass and back (an unpoison) during the second, with a
// punch: the second pass's files see their baseline's count again.
TEST_F(PteWitnessTest, ARoundRedoneForHardwareCorruptedWalks) {
  auto s = Source();
  GuestMemfd first;
  std::unique_ptr<PteWitness> w = Prepared(s.get(), &first);
  ASSERT_NE(w, nullptr);
  int calls = 0;
  ActionSource act([&] {
    if (++calls == 1) std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 4 kB\n";
    if (calls == 2) {
      std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 0 kB\n";
      Punch(fd(), 900, 2);
    }
  });
  CaptureStats stats;
  const GuestMemfd now = Round(s.get(), w.get(), &stats, &act);
  EXPECT_EQ(calls, 2) << "the round was not redone";
  EXPECT_EQ(stats.pages_witnessed, 0u);
  EXPECT_EQ(now, Reference());
  EXPECT_FALSE(now == first);
}

// shmem only: no guest_memfd (PteWitnessTest's SetUp makes one), so it runs wherever PFNs are
// visible, /dev/kvm or not.
TEST(UnpinnedShmemWitnessTest, MemoryThatCanMoveGetsNoWitness) {
  if (!PfnsVisible())
    GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
  TempDir dir("pte-witness-shmem");
  const std::string meminfo = dir.Join("meminfo");
  std::ofstream(meminfo) << "MemTotal: 1000 kB\nHardwareCorrupted: 0 kB\n";
  TestMemfd memfd(64 * kPage);
  memfd.Fill(0, 64 * kPage, 1);
  KernelSourceOptions o;
  o.meminfo_path = meminfo;
  auto s = KernelGmemSource::FromFd(UniqueFd(::dup(memfd.fd())), o);
  ASSERT_TRUE(s.ok());
  GuestMemfd g;
  ASSERT_TRUE((*s)->Capture({}, &g).ok());
  ASSERT_FALSE(g.folios.empty()) << "the capture found none of the 64 pages written";
  EXPECT_FALSE((*s)->WitnessFile(g).has_value());
}

// A shmem memfd whose pages khod pins (KernelSourceOptions::pin_movable):
// they cannot move, so the keeper witnesses them as it does a guest_memfd's
// (their unmaps count in its RssShmem).
class PinnedShmemWitnessTest : public PteWitnessTest {
 protected:
  PinnedShmemWitnessTest() { pinned_shmem_ = true; }
};

TEST_F(PinnedShmemWitnessTest, AWitnessedScanWalksOnlyThePagesTheKeeperDoesNotMap) {
  auto s = Source();
  CaptureStats stats;
  const GuestMemfd first = Round(s.get(), nullptr, &stats, nullptr, /*ready_as_baseline=*/true);
  if (s->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << s->pin_note();
  std::unique_ptr<PteWitness> w = Witness(*s, first);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->pages_mapped(), kUsed);
  // Prepare's second capture, under the witness (its baseline is older): the
  // pins stand, nothing pinned again.
  const uint64_t pinned = s->pinned_pages();
  EXPECT_EQ(Round(s.get(), w.get(), nullptr, nullptr, /*ready_as_baseline=*/true), first);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(s->pinned_pages(), pinned);
  // Freeze: nothing but the holes is walked.
  stats = CaptureStats();
  EXPECT_EQ(Round(s.get(), w.get(), &stats), first);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(stats.pages_witnessed, kUsed);
  EXPECT_EQ(stats.pages_walked, kPages - kUsed);
  EXPECT_EQ(first, Reference());
}

TEST_F(PinnedShmemWitnessTest, APunchEndsTheWitnessAndTheRoundWalks) {
  auto s = Source();
  const GuestMemfd first = Round(s.get(), nullptr, nullptr, nullptr, /*ready_as_baseline=*/true);
  if (s->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << s->pin_note();
  std::unique_ptr<PteWitness> w = Witness(*s, first);
  ASSERT_NE(w, nullptr);
  Round(s.get(), w.get(), nullptr, nullptr, /*ready_as_baseline=*/true);
  Punch(fd(), 500, 3);
  Write(vmm_, 500, 3, 9);  // the same pages again: new pages
  EXPECT_FALSE(w->Holds()) << "the keeper's RssShmem fell";
  CaptureStats stats;
  const GuestMemfd now = Round(s.get(), w.get(), &stats);
  EXPECT_EQ(stats.pages_witnessed, 0u);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(stats.pages_walked, kPages);
  EXPECT_EQ(now, Reference());
}

// A round redone because the witness stopped holding reads HardwareCorrupted
// for each part again: a page poisoned during the redo is a change there, and
// no flag is carried across it. The redo used the count read before the
// first pass, which the poisoning came after.
TEST_F(PinnedShmemWitnessTest, ARoundRedoneForTheWitnessReadsHardwareCorruptedAgain) {
  auto s = Source();
  const GuestMemfd first = Round(s.get(), nullptr, nullptr, nullptr, /*ready_as_baseline=*/true);
  if (s->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << s->pin_note();
  std::unique_ptr<PteWitness> w = Witness(*s, first);
  ASSERT_NE(w, nullptr);
  Round(s.get(), w.get(), nullptr, nullptr, /*ready_as_baseline=*/true);
  int calls = 0;
  ActionSource act([&] {
    if (++calls == 1) {  // the witness no longer holds once the round is over
      Punch(fd(), 500, 3);
      Write(vmm_, 500, 3, 9);
    }
    if (calls == 2)  // a page poisoned during the redo
      std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 4 kB\n";
  });
  CaptureStats stats;
  Round(s.get(), w.get(), &stats, &act);
  EXPECT_EQ(calls, 2) << "the round was not redone";
  EXPECT_EQ(stats.flags_carried, 0u) << "flags carried across a HardwareCorrupted change";
  EXPECT_GT(stats.flags_read, 0u);
}

TEST_F(PinnedShmemWitnessTest, WithoutThePinsNoWitness) {
  pin_movable_ = false;
  auto s = Source();
  const GuestMemfd first = Round(s.get(), nullptr, nullptr, nullptr, /*ready_as_baseline=*/true);
  EXPECT_FALSE(s->WitnessFile(first).has_value());
}

}  // namespace
}  // namespace khod
