// kernel/mapping.h's IsMappable asks with MAP_NORESERVE: whether a caller's
// HugeTLB file can be mapped is answered without reserving a huge page of the
// pool for it (with the pool empty, the question failed ENOMEM).
#include "kernel/mapping.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "common/unique_fd.h"

namespace khod {
namespace {

// /proc/meminfo's value for `key` ("HugePages_Free"), -1 when absent.
long Meminfo(const std::string& key) {
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  return -1;
}

long ProcSysLong(const char* path) {
  std::ifstream in(path);
  long v = -1;
  in >> v;
  return v;
}

// Whether a HugeTLB file with holes (every page of it here) can be mapped is
// answered where the pool has no huge page to reserve: the question reserves
// nothing. (A Mapping reserves unless asked MAP_NORESERVE: kernel/mapping.h
// says for whose files; tests/capture/hugetlb_holes_test.cc tests it.)
TEST(MappingTest, AHugetlbFileWithHolesIsMappableWithAnEmptyPool) {
  UniqueFd fd(::memfd_create("mapping-test-hugetlb", MFD_CLOEXEC | MFD_HUGETLB));
  if (!fd.valid()) GTEST_SKIP() << "no HugeTLB memfd here (memfd_create MFD_HUGETLB failed)";
  const long huge_kb = Meminfo("Hugepagesize");
  ASSERT_GT(huge_kb, 0);
  const size_t bytes = static_cast<size_t>(huge_kb) * 1024;
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(bytes)), 0);
  const long free_pages = Meminfo("HugePages_Free") - Meminfo("HugePages_Rsvd");
  const long overcommit = ProcSysLong("/proc/sys/vm/nr_overcommit_hugepages");
  if (free_pages > 0 || overcommit > 0)
    GTEST_SKIP() << "the default pool could reserve a huge page (" << free_pages << " free, "
                 << overcommit << " overcommit): a mapping that reserves would map too";
  Result<bool> mappable = IsMappable(fd.get(), bytes);
  ASSERT_TRUE(mappable.ok()) << mappable.status().ToString();
  EXPECT_TRUE(*mappable);
}

}  // namespace
}  // namespace khod
