// PagePin on a shmem memfd: the kernel fact a change scan of pinned memory
// rests on (a pinned page is not migrated; compaction moves unpinned ones),
// the pin's accounting (VmPin) and its refusals.
#include "kernel/page_pin.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>

#include "gtest/gtest.h"
#include "kernel/pagemap.h"
#include "kernel/proc_status.h"
#include "tests/support/fixture.h"
#include "tests/support/own_pagemap.h"
#include "tests/support/pfns_visible.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

std::vector<uint64_t> Pfns(int fd, uint64_t pages) {
  std::vector<uint64_t> e = OwnPagemap(fd, pages);
  for (uint64_t& x : e) x = PagemapPresent(x) ? PagemapPfn(x) : 0;
  return e;
}

uint64_t VmPinKb() {
  Result<uint64_t> kb = ProcStatusNumber(0, "VmPin:");
  return kb.ok() ? *kb : ~0ull;
}

// Every page of `file` written, each beside a page of `other` that is then
// freed: holes between them for compaction to fill.
void WriteInterleaved(TestMemfd* file, uint64_t pages) {
  TestMemfd other(pages * kPage, "interleave");
  auto* a = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, file->fd(), 0));
  auto* b = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, other.fd(), 0));
  ASSERT_NE(a, MAP_FAILED);
  ASSERT_NE(b, MAP_FAILED);
  for (uint64_t p = 0; p < pages; ++p) {
    a[p * kPage] = static_cast<uint8_t>(p | 1);
    b[p * kPage] = 1;
  }
  ::munmap(a, pages * kPage);
  ::munmap(b, pages * kPage);
}

TEST(PagePinTest, CompactionMovesNoPinnedPage) {
  if (!PfnsVisible()) GTEST_SKIP() << "PFNs not visible (not root, or a user namespace)";
  const uint64_t pages = 32768;
  TestMemfd file(pages * kPage, "pinned");
  WriteInterleaved(&file, pages);
  // The first half pinned, in two spans with a gap page left unpinned.
  const uint64_t half = pages / 2;
  Result<PagePin> pin =
      PagePin::Pin(file.fd(), pages * kPage,
                   {PageSpan{0, half / 2}, PageSpan{half / 2 + 1, half / 2 - 1}}, kPage);
  if (!pin.ok() && pin.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << pin.status().ToString();
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(pin->pages(), half - 1);
  const std::vector<uint64_t> before = Pfns(file.fd(), pages);
  {
    std::ofstream compact("/proc/sys/vm/compact_memory");
    compact << "1\n";
    if (!compact) GTEST_SKIP() << "cannot write /proc/sys/vm/compact_memory";
  }
  const std::vector<uint64_t> after = Pfns(file.fd(), pages);
  uint64_t pinned_moved = 0, unpinned_moved = 0;
  for (uint64_t p = 0; p < pages; ++p) {
    ASSERT_NE(before[p], 0u) << "page " << p << " was written";
    const bool pinned = p < half && p != half / 2;
    (pinned ? pinned_moved : unpinned_moved) += before[p] != after[p];
  }
  std::printf("compaction moved %llu of %llu unpinned pages, %llu of %llu pinned\n",
              static_cast<unsigned long long>(unpinned_moved),
              static_cast<unsigned long long>(pages - half + 1),
              static_cast<unsigned long long>(pinned_moved),
              static_cast<unsigned long long>(half - 1));
  EXPECT_EQ(pinned_moved, 0u);
  if (unpinned_moved == 0) GTEST_SKIP() << "compaction moved no page: nothing shown either way";
}

TEST(PagePinTest, CountsInVmPinUntilReleased) {
  const uint64_t pages = 1024;
  TestMemfd file(pages * kPage, "counted");
  file.Fill(0, pages * kPage, 7);
  const uint64_t base = VmPinKb();
  ASSERT_NE(base, ~0ull);
  Result<PagePin> pin = PagePin::Pin(file.fd(), pages * kPage, {PageSpan{0, pages}}, kPage);
  if (!pin.ok() && pin.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << pin.status().ToString();
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_TRUE(pin->held());
  EXPECT_EQ(VmPinKb(), base + pages * kPage / 1024);
  PagePin moved = std::move(*pin);  // the pin goes with the object
  EXPECT_FALSE(pin->held());
  EXPECT_EQ(VmPinKb(), base + pages * kPage / 1024);
  moved.Release();
  EXPECT_FALSE(moved.held());
  EXPECT_EQ(moved.pages(), 0u);
  EXPECT_EQ(VmPinKb(), base);
}

// Shares of at least 64 MiB: three threads for 196 MiB, one for 4 MiB (a ring
// each, and every ring costs the exec that hands it on).
TEST(PagePinTest, ThreadsShareThePinOnRingsOfTheirOwn) {
  constexpr uint64_t kMiB = 1 << 20;
  const uint64_t pages = 196 * kMiB / kPage;
  TestMemfd file(pages * kPage, "threads");
  file.Fill(0, pages * kPage, 3);
  const uint64_t base = VmPinKb();
  Result<PagePin> pin =
      PagePin::Pin(file.fd(), pages * kPage, {PageSpan{0, 100}, PageSpan{200, pages - 200}}, kPage,
                   /*threads=*/3);
  if (!pin.ok() && pin.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << pin.status().ToString();
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  EXPECT_EQ(pin->pages(), pages - 100);
  EXPECT_EQ(pin->ring_fds().size(), 3u);
  EXPECT_EQ(VmPinKb(), base + (pages - 100) * kPage / 1024) << "every page pinned once";
  pin->Release();
  EXPECT_EQ(VmPinKb(), base);

  Result<PagePin> small =
      PagePin::Pin(file.fd(), pages * kPage, {PageSpan{0, 4 * kMiB / kPage}}, kPage, 3);
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(small->ring_fds().size(), 1u) << "4 MiB on one thread, one ring";
}

TEST(PagePinTest, AdoptsRingsOnlyAndAbsorbsMore) {
  TestMemfd file(16 * kPage, "adopted");
  file.Fill(0, 16 * kPage, 1);
  Result<PagePin> a = PagePin::Pin(file.fd(), 16 * kPage, {PageSpan{0, 8}}, kPage);
  if (!a.ok() && a.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << a.status().ToString();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Result<PagePin> b = PagePin::Pin(file.fd(), 16 * kPage, {PageSpan{8, 8}}, kPage);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  a->Absorb(std::move(*b));
  EXPECT_EQ(a->pages(), 16u);
  EXPECT_EQ(a->ring_fds().size(), 2u);
  std::vector<UniqueFd> dups;
  for (int fd : a->ring_fds()) dups.emplace_back(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
  Result<PagePin> adopted = PagePin::Adopt(std::move(dups));
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  EXPECT_TRUE(adopted->held());
  std::vector<UniqueFd> not_rings;
  not_rings.emplace_back(::fcntl(file.fd(), F_DUPFD_CLOEXEC, 3));  // a memfd
  Result<PagePin> refused = PagePin::Adopt(std::move(not_rings));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("not an io_uring ring"), std::string::npos)
      << refused.status().message();
  // Another anonymous inode is no ring either, nor is an fd that is not open.
  std::vector<UniqueFd> event;
  event.emplace_back(::eventfd(0, EFD_CLOEXEC));
  ASSERT_GE(event.back().get(), 0);
  EXPECT_EQ(PagePin::Adopt(std::move(event)).status().code(), Status::Code::kInvalidArgument);
  std::vector<UniqueFd> closed;
  closed.emplace_back(-1);
  EXPECT_EQ(PagePin::Adopt(std::move(closed)).status().code(), Status::Code::kInvalidArgument);
}

TEST(PagePinTest, PinsNothingItIsNotAskedFor) {
  const uint64_t pages = 64;
  TestMemfd file(pages * kPage, "holes");
  file.Fill(0, 8 * kPage, 1);
  Result<PagePin> pin = PagePin::Pin(file.fd(), pages * kPage, {PageSpan{0, 8}}, kPage);
  if (!pin.ok() && pin.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << pin.status().ToString();
  ASSERT_TRUE(pin.ok()) << pin.status().ToString();
  struct stat st;
  ASSERT_EQ(::fstat(file.fd(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 8 * kPage) << "no hole was allocated";
}

TEST(PagePinTest, RefusesSpansPastTheFileOrOutOfOrder) {
  TestMemfd file(16 * kPage, "refused");
  file.Fill(0, 16 * kPage, 1);
  for (const std::vector<PageSpan>& bad :
       {std::vector<PageSpan>{{8, 9}}, std::vector<PageSpan>{{4, 2}, {0, 2}},
        std::vector<PageSpan>{{0, 4}, {2, 4}}, std::vector<PageSpan>{{3, 0}}}) {
    Result<PagePin> pin = PagePin::Pin(file.fd(), 16 * kPage, bad, kPage);
    ASSERT_FALSE(pin.ok());
    EXPECT_EQ(pin.status().code(), Status::Code::kInvalidArgument) << pin.status().ToString();
  }
  Result<PagePin> none = PagePin::Pin(file.fd(), 16 * kPage, {}, kPage);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->held());
}

}  // namespace
}  // namespace khod
