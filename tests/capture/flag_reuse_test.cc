// When a capture carries folio flags over instead of reading /proc/kpageflags
// (capture/flag_reuse.h): the rule on its own, then on real shmem memfds, where
// every carried flag is checked against kpageflags read independently.
#include "capture/flag_reuse.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "capture/kernel_source.h"
#include "kernel/meminfo.h"
#include "kernel/pagemap.h"
#include "tests/support/fixture.h"
#include "tests/support/own_pagemap.h"
#include "tests/support/pfns_visible.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint8_t kDirtyUptodate = kFolioUptodate | kFolioDirty;

using Piece = std::tuple<uint64_t, uint64_t, bool, uint8_t>;

std::vector<Piece> Pieces(const FlagBaseline& b, uint64_t index, uint64_t pfn, uint64_t len,
                          const std::vector<uint8_t>& origin) {
  std::vector<Piece> out;
  b.Split(index, pfn, len, origin.data(), [&](uint64_t off, uint64_t n, bool known, uint8_t f) {
    out.emplace_back(off, n, known, f);
  });
  return out;
}

FolioExtent Ext(uint64_t index, uint64_t pfn, uint32_t n, uint8_t flags) {
  FolioExtent e;
  e.first_index = index;
  e.first_pfn = pfn;
  e.nr_folios = n;
  e.flags = flags;
  return e;
}

TEST(FlagBaselineTest, NoBaselineReadsEverything) {
  FlagBaseline none;
  EXPECT_FALSE(none.usable());
  EXPECT_EQ(Pieces(none, 10, 500, 8, std::vector<uint8_t>(8, kPteHolder)),
            (std::vector<Piece>{{0, 8, false, 0}}));
}

TEST(FlagBaselineTest, SamePfnDirtyAndMappedThroughoutIsCarried) {
  FolioList x = {Ext(0, 1000, 16, kDirtyUptodate)};
  FlagBaseline b(&x, 0, kPteOwnBeforePopulate | kPteHolder);
  EXPECT_EQ(Pieces(b, 4, 1004, 8, std::vector<uint8_t>(8, kPteOwnBeforePopulate)),
            (std::vector<Piece>{{0, 8, true, kDirtyUptodate}}));
}

// Matches: pages exactly the baseline's, window by window, or not.
TEST(FlagBaselineTest, MatchesOnlyWhatAFullScanWouldRebuildAsTheBaseline) {
  // Pages 0-7 at 1000.., a hole at 8-9, pages 10-15 at 5000...
  FolioList x = {Ext(0, 1000, 8, kDirtyUptodate), Ext(10, 5000, 6, kDirtyUptodate)};
  FlagBaseline b(&x, 0, kPteHolder);
  auto now = [] {  // the pages as the baseline has them
    std::vector<uint64_t> p(16, kPfnUnknown);
    for (uint64_t i = 0; i < 8; ++i) p[i] = 1000 + i;
    for (uint64_t i = 10; i < 16; ++i) p[i] = 5000 + (i - 10);
    return p;
  };
  const std::vector<uint8_t> held(16, kPteHolder);
  size_t cursor = 0;
  std::vector<uint64_t> p = now();
  EXPECT_TRUE(b.Matches(0, 16, p.data(), held.data(), &cursor));
  // Two windows in turn, the cursor carried from the first to the second.
  cursor = 0;
  EXPECT_TRUE(b.Matches(0, 9, p.data(), held.data(), &cursor));
  EXPECT_TRUE(b.Matches(9, 7, p.data() + 9, held.data() + 9, &cursor));
  // A window after one the other thread took: the cursor is behind, and walks on.
  cursor = 0;
  EXPECT_TRUE(b.Matches(10, 6, p.data() + 10, held.data() + 10, &cursor));
  // ... and a cursor ahead of the window is searched back.
  EXPECT_TRUE(b.Matches(0, 8, p.data(), held.data(), &cursor));

  p = now();
  p[12] = 9999;  // migrated: mapped, another PFN
  cursor = 0;
  EXPECT_FALSE(b.Matches(0, 16, p.data(), held.data(), &cursor)) << "another PFN";
  p = now();
  p[3] = kPfnUnknown;  // the baseline's page is mapped nowhere now
  EXPECT_FALSE(b.Matches(0, 16, p.data(), held.data(), &cursor)) << "unmapped";
  p = now();
  p[9] = 7777;  // mapped where the baseline has a hole
  EXPECT_FALSE(b.Matches(0, 16, p.data(), held.data(), &cursor)) << "new page";
  p = now();
  std::vector<uint8_t> origins = held;
  origins[5] = kPteOwnBeforePopulate;  // rule 1: only the holder's PTEs count here
  EXPECT_FALSE(b.Matches(0, 16, p.data(), origins.data(), &cursor)) << "origin";
  // Rule 3 and unknown PFNs: the baseline's own extents decide.
  FolioList clean = {Ext(0, 1000, 8, kFolioUptodate)};
  FlagBaseline c(&clean, 0, kPteHolder);
  EXPECT_FALSE(c.Matches(0, 8, now().data(), held.data(), &cursor)) << "clean folios are read";
  FolioList hidden = {Ext(0, kPfnUnknown, 8, kDirtyUptodate)};
  FlagBaseline h(&hidden, 0, kPteHolder);
  EXPECT_FALSE(h.Matches(0, 8, now().data(), held.data(), &cursor)) << "PFN unknown then";
  EXPECT_FALSE(FlagBaseline().Matches(0, 8, now().data(), held.data(), &cursor)) << "no baseline";
}

TEST(FlagBaselineTest, EachBrokenConditionIsReadAgain) {
  FolioList x = {Ext(0, 1000, 8, kDirtyUptodate), Ext(8, 2000, 8, kFolioUptodate),
                 Ext(16, 3000, 8, kDirtyUptodate | kFolioHwpoison), Ext(24, kPfnUnknown, 8, 0)};
  FlagBaseline b(&x, 0, kPteHolder);
  const std::vector<uint8_t> held(8, kPteHolder);
  EXPECT_EQ(Pieces(b, 0, 1001, 8, held), (std::vector<Piece>{{0, 8, false, 0}})) << "another PFN";
  EXPECT_EQ(Pieces(b, 8, 2000, 8, held), (std::vector<Piece>{{0, 8, false, 0}})) << "clean";
  EXPECT_EQ(Pieces(b, 16, 3000, 8, held), (std::vector<Piece>{{0, 8, false, 0}})) << "poisoned";
  EXPECT_EQ(Pieces(b, 24, 4000, 8, held), (std::vector<Piece>{{0, 8, false, 0}}))
      << "PFN unknown then";
  EXPECT_EQ(Pieces(b, 32, 5000, 8, held), (std::vector<Piece>{{0, 8, false, 0}}))
      << "not in the baseline";
  // Rule 1 per page: only the origins given count (Verify: the holder's).
  std::vector<uint8_t> mixed = {kPteHolder, kPteHolder, kPteOwnBeforePopulate,
                                kPteNone,   kPteHolder, kPteHolder,
                                kPteHolder, kPteNone};
  EXPECT_EQ(Pieces(b, 0, 1000, 8, mixed), (std::vector<Piece>{{0, 2, true, kDirtyUptodate},
                                                              {2, 2, false, 0},
                                                              {4, 3, true, kDirtyUptodate},
                                                              {7, 1, false, 0}}));
}

TEST(FlagBaselineTest, PiecesFollowExtentsAndJoinWhenAlike) {
  // Two baseline extents, PFN-contiguous with each other, both carried: one piece.
  FolioList x = {Ext(0, 1000, 4, kDirtyUptodate), Ext(4, 1004, 4, kDirtyUptodate),
                 Ext(10, 1010, 4, kDirtyUptodate)};
  FlagBaseline b(&x, 0, kPteHolder);
  EXPECT_EQ(Pieces(b, 0, 1000, 14, std::vector<uint8_t>(14, kPteHolder)),
            (std::vector<Piece>{
                {0, 8, true, kDirtyUptodate}, {8, 2, false, 0}, {10, 4, true, kDirtyUptodate}}));
  // A run starting inside an extent is matched at its offset.
  EXPECT_EQ(Pieces(b, 2, 1002, 3, std::vector<uint8_t>(3, kPteHolder)),
            (std::vector<Piece>{{0, 3, true, kDirtyUptodate}}));
}

// The cursor only saves searching: runs in file order, with jumps forward
// and back (two threads' windows), cut exactly as without it.
TEST(FlagBaselineTest, CursorCutsAsASearchDoes) {
  FolioList x;
  uint64_t index = 0;
  for (uint32_t i = 0; i < 3000; ++i) {
    index += i % 7 == 0 ? 3 : 0;  // holes now and then
    const uint32_t n = 1 + i % 5;
    x.push_back(
        Ext(index, 100000 + index, n, i % 11 == 0 ? uint8_t{kFolioUptodate} : kDirtyUptodate));
    index += n;
  }
  FlagBaseline b(&x, 0, kPteHolder);
  std::vector<uint8_t> origin(64, kPteHolder);
  origin[5] = kPteNone;
  size_t cursor = 0;
  for (uint64_t start : {0, 40, 400, 9000, 12, 9100, 9190, 3000, 3005, 3011, 14000, 20000}) {
    for (uint64_t at = start; at < start + 200; at += 13) {
      const uint64_t len = 1 + at % 29;
      std::vector<Piece> with, without;
      b.Split(
          at, 100000 + at, len, origin.data(),
          [&](uint64_t o, uint64_t n, bool k, uint8_t f) { with.emplace_back(o, n, k, f); },
          &cursor);
      b.Split(at, 100000 + at, len, origin.data(),
              [&](uint64_t o, uint64_t n, bool k, uint8_t f) { without.emplace_back(o, n, k, f); });
      ASSERT_EQ(with, without) << "run at " << at << " len " << len;
    }
  }
}

TEST(FlagBaselineTest, ExtentsOutOfFileOrderDisableReuse) {
  FolioList x = {Ext(8, 2000, 8, kDirtyUptodate), Ext(0, 1000, 8, kDirtyUptodate)};
  FlagBaseline b(&x, 0, kPteHolder);
  EXPECT_FALSE(b.usable());
  EXPECT_EQ(Pieces(b, 0, 1000, 8, std::vector<uint8_t>(8, kPteHolder)),
            (std::vector<Piece>{{0, 8, false, 0}}));
}

TEST(HardwareCorruptedTest, ReadsTheLineOrZero) {
  const std::string path = ::testing::TempDir() + "/meminfo";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  write("MemTotal:  100 kB\nHardwareCorrupted:     12 kB\nAnonHugePages: 0 kB\n");
  auto v = ReadHardwareCorruptedKb(path);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, 12u);
  write("MemTotal:  100 kB\n");  // no CONFIG_MEMORY_FAILURE: nothing can be poisoned
  v = ReadHardwareCorruptedKb(path);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 0u);
  write("HardwareCorrupted: lots\n");
  v = ReadHardwareCorruptedKb(path);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("HardwareCorrupted has no number"), std::string::npos);
  write("HardwareCorrupted: 12x kB\n");  // the digit loop used to read 12
  v = ReadHardwareCorruptedKb(path);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("HardwareCorrupted has no number"), std::string::npos);
  write("HardwareCorrupted: 18446744073709551616 kB\n");
  v = ReadHardwareCorruptedKb(path);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("HardwareCorrupted overflows"), std::string::npos);
  v = ReadHardwareCorruptedKb(path + ".absent");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find(path + ".absent"), std::string::npos);
  EXPECT_TRUE(ReadHardwareCorruptedKb().ok()) << "this kernel's /proc/meminfo";
}

// ---- on real memfds ---------------------------------------------------------

// The folio flags of each page as kpageflags says now, through a mapping of
// this test's own (0xff: not mapped).
std::vector<uint8_t> IndependentFlags(int fd, uint64_t pages) {
  std::vector<uint8_t> out(pages, 0xff);
  const std::vector<uint64_t> e = OwnPagemap(fd, pages);
  auto r = PageFrameReader::Open();
  for (uint64_t p = 0; p < pages; ++p) {
    if (!PagemapPresent(e[p])) continue;
    uint64_t k = 0;
    EXPECT_TRUE(r->ReadKpageflags(PagemapPfn(e[p]), 1, &k).ok());
    out[p] = ((k & kKpfUptodate) ? kFolioUptodate : 0) | ((k & kKpfDirty) ? kFolioDirty : 0) |
             ((k & kKpfHwpoison) ? kFolioHwpoison : 0);
  }
  return out;
}

std::vector<uint8_t> CapturedFlags(const GuestMemfd& g, uint64_t pages) {
  std::vector<uint8_t> out(pages, 0xff);
  for (const auto& e : g.folios)
    for (uint64_t p = e.first_index; p < e.end_index(); ++p) out[p] = e.flags;
  return out;
}

// A memfd of `pages` pages: the first `clean` only read-faulted (uptodate,
// not dirty), the others written.
TestMemfd Memfd(uint64_t pages, uint64_t clean) {
  TestMemfd file(pages * kPage, "flags");
  auto* m = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0));
  for (uint64_t p = 0; p < pages; ++p) {
    if (p < clean)
      (void)*static_cast<volatile uint8_t*>(m + p * kPage);
    else
      m[p * kPage] = static_cast<uint8_t>(p | 1);
  }
  ::munmap(m, pages * kPage);
  return file;
}

class FlagReuseKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
    meminfo_ = ::testing::TempDir() + "/flag-reuse-meminfo";
    SetCorrupted(0);
  }
  void SetCorrupted(uint64_t kb) {
    std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: " << kb << " kB\n";
  }
  std::unique_ptr<KernelGmemSource> Source(int fd) {
    KernelSourceOptions o;
    o.meminfo_path = meminfo_;
    auto s = KernelGmemSource::FromFd(UniqueFd(::dup(fd)), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  std::string meminfo_;
};

// 32 MiB (one capture thread): the second capture reads no kpageflags for
// the dirty pages it still maps, and what it reports is still what kpageflags says.
TEST_F(FlagReuseKernelTest, UnchangedDirtyPagesAreCarriedAndStillExact) {
  const uint64_t pages = 8192;
  TestMemfd file = Memfd(pages, 0);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  EXPECT_EQ(src->flags_carried_pages(), 0u) << "a first capture has no baseline";
  EXPECT_EQ(src->flags_read_pages(), pages);
  EXPECT_FALSE(src->matched_baseline());
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_EQ(src->flags_carried_pages(), pages);
  EXPECT_EQ(src->flags_read_pages(), 0u);
  EXPECT_TRUE(src->matched_baseline()) << "nothing moved: the baseline's extents, nothing built";
  EXPECT_EQ(a, b);
  EXPECT_EQ(CapturedFlags(b, pages), IndependentFlags(fd, pages));
  EXPECT_NE(src->pfn_origin().find("folio flags of 8192 pages carried over, 0 read"),
            std::string::npos)
      << src->pfn_origin();
}

// Each page's PFN as a capture reports it (0: none known).
std::vector<uint64_t> CapturedPfns(const GuestMemfd& g, uint64_t pages) {
  std::vector<uint64_t> out(pages, 0);
  for (const auto& e : g.folios)
    if (e.first_pfn != kPfnUnknown)
      for (uint64_t p = e.first_index; p < e.end_index(); ++p)
        out[p] = e.first_pfn + (p - e.first_index);
  return out;
}

// Two windows and a part (528 MiB): the capture is shared by two threads,
// each with its own runs and flags, handed windows in turn. Every PFN and
// flag is what the test reads itself; carried flags and a poison-count change
// behave the same in both threads' shares.
TEST_F(FlagReuseKernelTest, TwoThreadCaptureIsExactAndCarriesFlagsInBothShares) {
  const uint64_t pages = 2 * 65536 + 4096, clean = 3000;
  TestMemfd file = Memfd(pages, clean);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b, c;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  const std::vector<uint64_t> own = OwnPagemap(fd, pages);
  std::vector<uint64_t> own_pfns(pages);
  // Pages this test finds resident with a PFN, all and of the clean ones: what
  // the capture must match, which is every page unless the kernel has dropped
  // some of them since they were touched.
  uint64_t resident = 0, resident_clean = 0;
  for (uint64_t p = 0; p < pages; ++p) {
    own_pfns[p] = PagemapPresent(own[p]) ? PagemapPfn(own[p]) : 0;
    resident += own_pfns[p] != 0;
    resident_clean += p < clean && own_pfns[p] != 0;
  }
  EXPECT_GE(resident, pages - 64) << "most of the file resident, as it was written";
  EXPECT_EQ(src->flags_read_pages(), resident);
  EXPECT_EQ(CapturedPfns(a, pages), own_pfns);
  const std::vector<uint8_t> flags = IndependentFlags(fd, pages);
  EXPECT_EQ(CapturedFlags(a, pages), flags);
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_EQ(src->flags_carried_pages(), resident - resident_clean)
      << "written pages in both shares";
  EXPECT_EQ(src->flags_read_pages(), resident_clean);
  EXPECT_FALSE(src->matched_baseline()) << "clean pages are read every time (rule 3)";
  EXPECT_EQ(a, b);
  SetCorrupted(8);
  ASSERT_TRUE(src->Capture({}, &c).ok());
  EXPECT_EQ(src->flags_carried_pages(), 0u) << "demoted in both shares";
  EXPECT_EQ(src->flags_read_pages(), resident);
  EXPECT_EQ(a, c);
}

// The same size, every page written: a second capture finds every page where
// the first left it, on both threads' windows, and takes the first one's
// extents; a page moved in the last window, or a poison-count change, sends
// it back to the full scan, which finds exactly what the kernel says.
TEST_F(FlagReuseKernelTest, UnchangedTwoThreadCaptureTakesTheBaselineAndAMoveDoesNot) {
  const uint64_t pages = 2 * 65536 + 4096;
  TestMemfd file = Memfd(pages, 0);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b, c, d;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_TRUE(src->matched_baseline());
  EXPECT_EQ(src->flags_carried_pages(), pages);
  EXPECT_EQ(a, b);
  const uint64_t moved = pages - 10;  // a new page where one was
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(moved * kPage), static_cast<off_t>(kPage)),
            0);
  const char two = 2;
  ASSERT_EQ(::pwrite(fd, &two, 1, static_cast<off_t>(moved * kPage)), 1);
  ASSERT_TRUE(src->Capture({}, &c).ok());
  EXPECT_FALSE(src->matched_baseline());
  EXPECT_EQ(src->flags_read_pages(), 1u)
      << "only the new page is read: nothing was populated before";
  EXPECT_EQ(CapturedPfns(c, pages)[moved], PagemapPfn(OwnPagemap(fd, pages)[moved]));
  EXPECT_EQ(CapturedFlags(c, pages), IndependentFlags(fd, pages));
  SetCorrupted(8);
  ASSERT_TRUE(src->Capture({}, &d).ok());
  EXPECT_FALSE(src->matched_baseline()) << "rule 4";
  EXPECT_EQ(src->flags_read_pages(), pages);
  EXPECT_EQ(c, d);
}

// A page written where the baseline had none exists but is mapped nowhere:
// the capture does not take the baseline, and finds the page.
TEST_F(FlagReuseKernelTest, APageWrittenIntoABaselineHoleIsFound) {
  const uint64_t pages = 256;
  TestMemfd file(pages * kPage, "holes");
  const int fd = file.fd();
  const char one = 1;
  for (uint64_t p = 0; p < pages; p += 2)
    ASSERT_EQ(::pwrite(fd, &one, 1, static_cast<off_t>(p * kPage)), 1);
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b, c;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_TRUE(src->matched_baseline());
  EXPECT_EQ(a, b);
  ASSERT_EQ(::pwrite(fd, &one, 1, 7 * kPage), 1);  // page 7 was a hole
  ASSERT_TRUE(src->Capture({}, &c).ok());
  EXPECT_FALSE(src->matched_baseline());
  EXPECT_NE(CapturedPfns(c, pages)[7], 0u);
  EXPECT_EQ(CapturedFlags(c, pages), IndependentFlags(fd, pages));
}

// Rule 3: a clean page is read every time, so a write between two captures
// (same PFN, now dirty) is seen.
TEST_F(FlagReuseKernelTest, CleanPageWrittenBetweenCapturesIsSeenDirty) {
  const uint64_t pages = 256, clean = 16;
  TestMemfd file = Memfd(pages, clean);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  ASSERT_EQ(CapturedFlags(a, pages)[3], kFolioUptodate) << "a read-faulted shmem page is clean";
  const char one = 1;
  ASSERT_EQ(::pwrite(fd, &one, 1, 3 * kPage), 1);
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_EQ(src->flags_read_pages(), clean);
  EXPECT_EQ(src->flags_carried_pages(), pages - clean);
  EXPECT_EQ(CapturedFlags(b, pages)[3], kDirtyUptodate);
  EXPECT_EQ(CapturedFlags(b, pages), IndependentFlags(fd, pages));
}

// Rule 1: a page punched out and written again is a new page this capture
// had to populate: read, whatever its PFN.
TEST_F(FlagReuseKernelTest, PageReplacedBetweenCapturesIsRead) {
  const uint64_t pages = 256;
  TestMemfd file = Memfd(pages, 0);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10 * kPage, 4 * kPage), 0);
  const char two = 2;
  for (uint64_t p = 10; p < 14; ++p)
    ASSERT_EQ(::pwrite(fd, &two, 1, static_cast<off_t>(p * kPage)), 1);
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_EQ(src->flags_read_pages(), 4u);
  EXPECT_EQ(src->flags_carried_pages(), pages - 4);
  EXPECT_EQ(CapturedFlags(b, pages), IndependentFlags(fd, pages));
}

// Rule 4: a page poisoned anywhere since the baseline (the count moved), or a
// count that cannot be read, makes the capture read every page.
TEST_F(FlagReuseKernelTest, PoisonCountChangeOrUnreadableReadsEveryPage) {
  const uint64_t pages = 256;
  TestMemfd file = Memfd(pages, 0);
  const int fd = file.fd();
  auto src = Source(fd);
  ASSERT_NE(src, nullptr);
  GuestMemfd a, b, c, d;
  ASSERT_TRUE(src->Capture({}, &a).ok());
  SetCorrupted(4);
  ASSERT_TRUE(src->Capture({}, &b).ok());
  EXPECT_EQ(src->flags_carried_pages(), 0u);
  EXPECT_EQ(src->flags_read_pages(), pages);
  ASSERT_TRUE(src->Capture({}, &c).ok());
  EXPECT_EQ(src->flags_carried_pages(), pages) << "the count is steady again";
  ASSERT_EQ(::unlink(meminfo_.c_str()), 0);
  ASSERT_TRUE(src->Capture({}, &d).ok()) << "an unreadable count is no failure";
  EXPECT_EQ(src->flags_carried_pages(), 0u);
  EXPECT_EQ(a, d);
}

// Verify after a reexec: a new source reading PFNs from a process that kept
// the pages mapped (the holder) carries the frozen flags for those pages
// only, and only with the frozen capture given.
TEST_F(FlagReuseKernelTest, FrozenFlagsAreCarriedForPagesTheHolderMaps) {
  const uint64_t pages = 512;
  TestMemfd file = Memfd(pages, 0);
  const int fd = file.fd();
  auto frozen_src = Source(fd);
  ASSERT_NE(frozen_src, nullptr);
  GuestMemfd frozen;
  ASSERT_TRUE(frozen_src->Capture({}, &frozen).ok());
  // The holder: a child mapping the first half only (pages it maps have been
  // mapped there since before "Freeze" read them, as an old khod's had).
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t holder = ::fork();
  if (holder == 0) {
    auto* m = static_cast<uint8_t*>(::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED, fd, 0));
    for (uint64_t p = 0; p < pages / 2; ++p) (void)*static_cast<volatile uint8_t*>(m + p * kPage);
    (void)!::write(ready[1], &m, sizeof(m));
    for (;;) ::pause();
  }
  uint8_t* at = nullptr;
  ASSERT_EQ(::read(ready[0], &at, sizeof(at)), static_cast<ssize_t>(sizeof(at)));
  frozen_src.reset();  // the old khod's own mapping is gone with it
  // What the holder maps: the first half and what fault-around mapped beside it.
  std::vector<uint64_t> hm(pages);
  UniqueFd hpm(
      ::open(("/proc/" + std::to_string(holder) + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(::pread(hpm.get(), hm.data(), pages * 8, reinterpret_cast<uintptr_t>(at) / kPage * 8),
            static_cast<ssize_t>(pages * 8));
  uint64_t held = 0;
  for (uint64_t e : hm) held += PagemapPresent(e);
  ASSERT_GE(held, pages / 2);
  ASSERT_LT(held, pages);

  auto fresh = Source(fd);
  ASSERT_NE(fresh, nullptr);
  fresh->UsePagesMappedBy(holder);
  CaptureOptions verify;
  verify.frozen = &frozen;
  verify.frozen_hw_corrupted_kb = 0;
  GuestMemfd now;
  ASSERT_TRUE(fresh->Capture(verify, &now).ok());
  EXPECT_EQ(fresh->flags_carried_pages(), held) << fresh->pfn_origin();
  EXPECT_EQ(fresh->flags_read_pages(), pages - held);
  EXPECT_EQ(now, frozen);
  EXPECT_EQ(CapturedFlags(now, pages), IndependentFlags(fd, pages));

  // The same pages, now mapped by this process too: without the frozen capture
  // given, pages this process populated are not carried from anything.
  auto other = Source(fd);
  other->UsePagesMappedBy(holder);
  GuestMemfd plain;
  ASSERT_TRUE(other->Capture({}, &plain).ok());
  EXPECT_EQ(other->flags_carried_pages(), 0u);
  // Another poison count than Freeze's: nothing carried.
  auto third = Source(fd);
  third->UsePagesMappedBy(holder);
  verify.frozen_hw_corrupted_kb = 8;
  GuestMemfd moved;
  ASSERT_TRUE(third->Capture(verify, &moved).ok());
  EXPECT_EQ(third->flags_carried_pages(), 0u);
  EXPECT_EQ(moved, frozen);
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
}

}  // namespace
}  // namespace khod
