// khod's capture mapping of a HugeTLB memfd reserves a huge page of the pool
// for each hole of the file only where KernelSourceOptions::reserve_hugetlb_holes
// asks it, root's files (kernel/mapping.h): a member's file is mapped
// MAP_NORESERVE, so its holes reserve nothing of the pool for khod, and the
// member's VMM reserves them itself when it maps the file again
// (docs/SECURITY.md).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "capture/kernel_source.h"
#include "common/unique_fd.h"
#include "tests/support/huge_pool.h"
#include "tests/support/pfns_visible.h"

namespace khod {
namespace {

constexpr long kHugePages = 4;  // of the file: the first allocated, three holes
constexpr long kHoles = kHugePages - 1;

class HugetlbHolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: growing the huge page pool and "
                      "reading PFNs";
    huge_ = static_cast<uint64_t>(MeminfoValue("Hugepagesize")) * 1024;
    ASSERT_GT(huge_, 0u);
    // The allocated page, and the holes a reserving mapping takes.
    if (auto why = pool_.Arrange(kHugePages)) GTEST_SKIP() << *why;
  }

  // A HugeTLB memfd named `name` of kHugePages huge pages, its first alone
  // allocated: a guest that touched one page, or whose VMM punched the rest.
  UniqueFd SparseFile(const std::string& name) {
    UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_HUGETLB));
    EXPECT_TRUE(fd.valid()) << "memfd_create MFD_HUGETLB: " << errno;
    if (!fd.valid()) return fd;
    EXPECT_EQ(::ftruncate(fd.get(), static_cast<off_t>(kHugePages * huge_)), 0);
    EXPECT_EQ(::fallocate(fd.get(), 0, 0, static_cast<off_t>(huge_)), 0) << errno;
    return fd;
  }

  // Captures `fd` through a kernel source made with `reserve`, and returns
  // it still holding its mapping.
  std::unique_ptr<KernelGmemSource> Captured(int fd, bool reserve) {
    KernelSourceOptions o;
    o.reserve_hugetlb_holes = reserve;
    auto src = KernelGmemSource::FromFd(UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 3)), o);
    EXPECT_TRUE(src.ok()) << src.status().ToString();
    if (!src.ok()) return nullptr;
    GuestMemfd g;
    Status s = (*src)->Capture({}, &g);
    EXPECT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(g.kind, FileKind::kHugetlbMemfd);
    // The allocated page alone: the capture filled no hole.
    EXPECT_EQ(g.folios.size(), 1u);
    if (!g.folios.empty()) {
      EXPECT_EQ(g.folios[0].first_index, 0u);
      EXPECT_EQ(g.folios[0].nr_folios, 1u);
    }
    return std::move(*src);
  }

  HugePool pool_;
  uint64_t huge_ = 0;
};

// A member's file: the capture mapping is MAP_NORESERVE ("nr") and the pool's
// reservations are as they were; the member's VMM mapping the file again
// reserves its holes itself.
TEST_F(HugetlbHolesTest, AMembersFileIsCapturedWithoutReservingItsHoles) {
  const std::string name = "khod-holes-member";
  UniqueFd fd = SparseFile(name);
  ASSERT_TRUE(fd.valid());
  const long rsvd = MeminfoValue("HugePages_Rsvd");
  std::unique_ptr<KernelGmemSource> src = Captured(fd.get(), /*reserve=*/false);
  ASSERT_TRUE(src);
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd) << "khod reserved the member's holes";
  const std::vector<std::vector<std::string>> flags = MemfdVmFlags(name);
  ASSERT_EQ(flags.size(), 1u) << "khod's capture mapping, alone";
  EXPECT_TRUE(HasWord(flags[0], "ht"));
  EXPECT_TRUE(HasWord(flags[0], "nr")) << "the capture mapping is not MAP_NORESERVE";
  src.reset();
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd);
  // The VMM's own mapping of its file reserves its holes, as any does.
  void* vmm = ::mmap(nullptr, kHugePages * huge_, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  ASSERT_NE(vmm, MAP_FAILED) << errno;
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd + kHoles);
  ::munmap(vmm, kHugePages * huge_);
}

// Root's file: the capture mapping reserves a huge page for each hole, and the
// reservation is the file's: it stays after the mapping goes, until the file does.
TEST_F(HugetlbHolesTest, RootsFileHasItsHolesReservedUntilTheFileGoes) {
  const std::string name = "khod-holes-root";
  UniqueFd fd = SparseFile(name);
  ASSERT_TRUE(fd.valid());
  const long rsvd = MeminfoValue("HugePages_Rsvd");
  std::unique_ptr<KernelGmemSource> src = Captured(fd.get(), /*reserve=*/true);
  ASSERT_TRUE(src);
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd + kHoles);
  const std::vector<std::vector<std::string>> flags = MemfdVmFlags(name);
  ASSERT_EQ(flags.size(), 1u) << "khod's capture mapping, alone";
  EXPECT_TRUE(HasWord(flags[0], "ht"));
  EXPECT_FALSE(HasWord(flags[0], "nr"));
  src.reset();
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd + kHoles) << "kept by the file";
  fd.reset();
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd);
}

// The default, for a source made without a caller (tests, tools): root's rule.
TEST(KernelSourceOptionsTest, HugetlbHolesAreReservedByDefault) {
  EXPECT_TRUE(KernelSourceOptions().reserve_hugetlb_holes);
}

}  // namespace
}  // namespace khod
