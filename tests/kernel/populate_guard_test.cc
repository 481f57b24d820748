// PopulateGuard (kernel/residency.h) on a shmem memfd: a populate under it
// maps existing pages and fails on a hole instead of allocating; with
// `no_fault_around`, a read fault maps the one page asked for and none of
// its neighbours (which a fault without it maps from the page cache).
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gtest/gtest.h"
#include "kernel/mapping.h"
#include "kernel/pagemap.h"
#include "kernel/residency.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096, kPages = 64;

// Which of the mapping's pages are present in this process's page tables.
std::vector<bool> Present(const Mapping& m) {
  Result<PageFrameReader> r = PageFrameReader::Open();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<uint64_t> e(kPages);
  std::vector<bool> out(kPages);
  if (!r.ok() || !r->ReadPagemap(m.data(), kPages, e.data()).ok()) return out;
  for (uint64_t i = 0; i < kPages; ++i) out[i] = PagemapPresent(e[i]);
  return out;
}

size_t Count(const std::vector<bool>& v) {
  size_t n = 0;
  for (bool b : v) n += b;
  return n;
}

TEST(PopulateGuardTest, WithoutFaultAroundAReadFaultMapsOnlyItsPage) {
  TestMemfd file(kPages * kPage, "fault-around");
  file.Fill(0, kPages * kPage, 5);
  for (bool no_fault_around : {false, true}) {
    SCOPED_TRACE(no_fault_around ? "no fault-around" : "default");
    Result<Mapping> m = Mapping::Map(file.fd(), 0, kPages * kPage, PROT_READ);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    Result<PopulateGuard> g = PopulateGuard::Register(m->data(), kPages * kPage, no_fault_around);
    if (!g.ok() && no_fault_around) GTEST_SKIP() << g.status().ToString();
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(PopulateRead(m->data() + 20 * kPage, kPage).ok());
    const std::vector<bool> present = Present(*m);
    EXPECT_TRUE(present[20]);
    if (no_fault_around)
      EXPECT_EQ(Count(present), 1u) << "a neighbour was faulted around";
    else
      EXPECT_GT(Count(present), 1u) << "the kernel's default faults around (fault_around_bytes)";
  }
}

TEST(PopulateGuardTest, APopulateOfAHoleFailsAndAllocatesNothing) {
  TestMemfd file(kPages * kPage, "hole");
  file.Fill(0, 8 * kPage, 1);
  Result<Mapping> m = Mapping::Map(file.fd(), 0, kPages * kPage, PROT_READ);
  ASSERT_TRUE(m.ok());
  for (bool no_fault_around : {false, true}) {
    SCOPED_TRACE(no_fault_around ? "no fault-around" : "default");
    Result<PopulateGuard> g = PopulateGuard::Register(m->data(), kPages * kPage, no_fault_around);
    // Unsupported is Register's documented answer of a kernel that refuses userfaultfd (or its
    // write-protect mode): a skip, with the reason, once the modes before it have been checked.
    // Any other answer is a failure.
    if (!g.ok() && g.status().code() == Status::Code::kUnsupported)
      GTEST_SKIP() << (no_fault_around ? "no write-protect userfaultfd here: "
                                       : "no userfaultfd here: ")
                   << g.status().ToString();
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_FALSE(PopulateRead(m->data() + 30 * kPage, kPage).ok());
    struct stat st;
    ASSERT_EQ(::fstat(file.fd(), &st), 0);
    EXPECT_EQ(static_cast<uint64_t>(st.st_blocks) * 512, 8 * kPage);
  }
}

}  // namespace
}  // namespace khod
