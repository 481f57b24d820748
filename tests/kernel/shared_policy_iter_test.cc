// kernel/shared_policy_iter.h on this kernel: memfds of this process mbound over all, part or
// none of their pages (and with a home node) read back whole, each range equal to what
// get_mempolicy(MPOL_F_ADDR) answers for every page of it, and WholeFilePolicy's decision on
// each. Skipped, with the reason, where the program cannot be loaded.
#include "kernel/shared_policy_iter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "kernel/mempolicy.h"
#include "kernel/mempolicy_text.h"
#include "kernel/shared_policy.h"

namespace khod {
namespace {

constexpr size_t kPage = 4096;

const SharedPolicyIterator* IteratorOrSkip(std::string* why) {
  return LoadedSharedPolicyIterator(why);
}

#define KHOD_NEEDS_SHARED_POLICY_ITERATOR()                   \
  std::string why_not_;                                       \
  const SharedPolicyIterator* it = IteratorOrSkip(&why_not_); \
  if (it == nullptr) GTEST_SKIP() << "the shared-policy BPF program cannot load here: " << why_not_

// A memfd of `pages` pages, mapped shared, unmapped and closed with the test.
struct Memfd {
  UniqueFd fd;
  void* map = MAP_FAILED;
  size_t pages = 0;
  explicit Memfd(size_t n) : fd(::memfd_create("khod-shared-policy-test", MFD_CLOEXEC)), pages(n) {
    if (fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(n * kPage)) == 0)
      map = ::mmap(nullptr, n * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  }
  ~Memfd() {
    if (map != MAP_FAILED) ::munmap(map, pages * kPage);
  }
  char* at(size_t page) const { return static_cast<char*>(map) + page * kPage; }
  // mbind of pages [first, first + count) to `mode` over node 0.
  bool Bind(size_t first, size_t count, int mode) const {
    unsigned long node0 = 1;
    return ::syscall(SYS_mbind, at(first), count * kPage, mode, &node0, 2, 0) == 0;
  }
  uint64_t inode() const {
    struct stat st;
    return ::fstat(fd.get(), &st) == 0 ? st.st_ino : 0;
  }
};

// The tree the read holds for `m`, or a failure.
testing::AssertionResult TreeOf(const SharedPolicyIterator* it, const Memfd& m,
                                SharedPolicyTree* out) {
  Result<std::vector<SharedPolicyTree>> trees = it->Read(::getpid());
  if (!trees.ok()) return testing::AssertionFailure() << trees.status().ToString();
  struct stat st;
  ::fstat(m.fd.get(), &st);
  for (const SharedPolicyTree& t : *trees)
    if (t.inode == st.st_ino && t.dev == st.st_dev) {
      *out = t;
      return testing::AssertionSuccess();
    }
  return testing::AssertionFailure()
         << "no tree for inode " << st.st_ino << " among " << trees->size();
}

// Each range's policy is what get_mempolicy answers at every page of it, and a page no range
// covers answers default: the tree is the kernel's per-page answer, whole.
void ExpectEveryPageAnswersAsTheTree(const Memfd& m, const SharedPolicyTree& t) {
  for (size_t p = 0; p < m.pages; ++p) {
    Result<Mempolicy> got = GetMempolicyAt(m.at(p));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    Mempolicy want;
    for (const SharedPolicyRange& r : t.ranges)
      if (r.start <= p && p < r.end) want = r.policy;
    EXPECT_TRUE(SameModeAndNodes(*got, want))
        << "page " << p << ": get_mempolicy " << MempolicyToString(*got) << ", the tree "
        << MempolicyToString(want);
  }
}

TEST(SharedPolicyIterTest, AFileNeverMboundHasNoRange) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(8);
  ASSERT_NE(m.map, MAP_FAILED);
  SharedPolicyTree t;
  ASSERT_TRUE(TreeOf(it, m, &t));
  EXPECT_FALSE(t.cut);
  EXPECT_TRUE(t.ranges.empty());
  Result<Mempolicy> whole = WholeFilePolicy(t, m.pages);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, Mempolicy());
}

TEST(SharedPolicyIterTest, AWholeFilePolicyIsTheFilesWithItsHomeNodeSeen) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(16);
  ASSERT_NE(m.map, MAP_FAILED);
  ASSERT_TRUE(m.Bind(0, 16, MPOL_BIND));
  Status home = SetMempolicyHomeNode(m.at(0), 16 * kPage, 0);
  ASSERT_TRUE(home.ok()) << home.ToString();
  SharedPolicyTree t;
  ASSERT_TRUE(TreeOf(it, m, &t));
  ASSERT_EQ(t.ranges.size(), 1u);
  EXPECT_EQ(t.ranges[0].start, 0u);
  EXPECT_EQ(t.ranges[0].end, 16u);
  ExpectEveryPageAnswersAsTheTree(m, t);
  Result<Mempolicy> whole = WholeFilePolicy(t, m.pages);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->mode, MPOL_BIND);
  EXPECT_EQ(whole->nodemask, (std::vector<uint64_t>{1}));
  EXPECT_TRUE(whole->home_node_seen);
  EXPECT_EQ(whole->home_node, 0) << "set_mempolicy_home_node's node, which no syscall shows";
}

// The case get_mempolicy at page 0 called "default" for the whole file.
TEST(SharedPolicyIterTest, APolicyOverPartOfTheFileIsNotTheFilesPolicy) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(16);
  ASSERT_NE(m.map, MAP_FAILED);
  ASSERT_TRUE(m.Bind(8, 8, MPOL_BIND));
  SharedPolicyTree t;
  ASSERT_TRUE(TreeOf(it, m, &t));
  ASSERT_EQ(t.ranges.size(), 1u);
  EXPECT_EQ(t.ranges[0].start, 8u);
  EXPECT_EQ(t.ranges[0].end, 16u);
  EXPECT_EQ(t.ranges[0].policy.mode, MPOL_BIND);
  ExpectEveryPageAnswersAsTheTree(m, t);
  Result<Mempolicy> whole = WholeFilePolicy(t, m.pages);
  ASSERT_FALSE(whole.ok());
  EXPECT_NE(whole.status().message().find("pages 8-15 bind"), std::string::npos)
      << whole.status().ToString();
  // Cut at 8 pages, the file's pages have one policy: the range lies past its end.
  Result<Mempolicy> first_half = WholeFilePolicy(t, 8);
  ASSERT_TRUE(first_half.ok()) << first_half.status().ToString();
  EXPECT_EQ(*first_half, Mempolicy());
}

// Two mbinds of adjacent halves with one policy are two ranges of one policy: the whole file's.
TEST(SharedPolicyIterTest, AdjacentRangesOfOnePolicyAreTheFilesPolicy) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(16);
  ASSERT_NE(m.map, MAP_FAILED);
  ASSERT_TRUE(m.Bind(0, 8, MPOL_INTERLEAVE));
  ASSERT_TRUE(m.Bind(8, 8, MPOL_INTERLEAVE));
  SharedPolicyTree t;
  ASSERT_TRUE(TreeOf(it, m, &t));
  EXPECT_GE(t.ranges.size(), 1u);
  ExpectEveryPageAnswersAsTheTree(m, t);
  Result<Mempolicy> whole = WholeFilePolicy(t, m.pages);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->mode, MPOL_INTERLEAVE);
}

// More ranges than the program writes: cut, never a guess.
TEST(SharedPolicyIterTest, ATreeOfMoreRangesThanARecordHoldsIsCut) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(40);
  ASSERT_NE(m.map, MAP_FAILED);
  for (size_t p = 0; p < 40; p += 2) ASSERT_TRUE(m.Bind(p, 1, p % 4 ? MPOL_BIND : MPOL_INTERLEAVE));
  SharedPolicyTree t;
  ASSERT_TRUE(TreeOf(it, m, &t));
  EXPECT_TRUE(t.cut);
  EXPECT_TRUE(t.ranges.empty());
  Result<Mempolicy> whole = WholeFilePolicy(t, m.pages);
  ASSERT_FALSE(whole.ok());
  EXPECT_NE(whole.status().message().find("more than"), std::string::npos);
}

// A file open at two fds is one tree.
TEST(SharedPolicyIterTest, AFileAtTwoFdsIsOneTree) {
  KHOD_NEEDS_SHARED_POLICY_ITERATOR();
  Memfd m(4);
  ASSERT_NE(m.map, MAP_FAILED);
  ASSERT_TRUE(m.Bind(0, 4, MPOL_PREFERRED));
  UniqueFd again(::fcntl(m.fd.get(), F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(again.valid());
  Result<std::vector<SharedPolicyTree>> trees = it->Read(::getpid());
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  int found = 0;
  for (const SharedPolicyTree& t : *trees) found += t.inode == m.inode();
  EXPECT_EQ(found, 1);
}

}  // namespace
}  // namespace khod
