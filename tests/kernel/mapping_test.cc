// kernel/mapping.h maps every file MAP_NORESERVE: khod's mapping of another
// caller's HugeTLB file reserves no huge page of the pool for it (before, a
// member's 2 MiB HugeTLB memfd with the pool empty failed khod's mmap with
// ENOMEM, and with pages free khod's mapping took the reservation).
#include "kernel/mapping.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/unique_fd.h"

namespace khod {
namespace {

// The VmFlags line of /proc/self/smaps for the mapping starting at `addr`
// ("" when there is none).
std::string VmFlagsAt(const void* addr) {
  char start[32];
  std::snprintf(start, sizeof(start), "%lx-", reinterpret_cast<unsigned long>(addr));
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_it = false;
  while (std::getline(smaps, line)) {
    if (line.rfind(start, 0) == 0) in_it = true;
    if (in_it && line.rfind("VmFlags:", 0) == 0) return line + " ";
  }
  return "";
}

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

// The flag itself, as the kernel keeps it on the mapping (VM_NORESERVE,
// "nr" in smaps), whatever the file and the pool.
TEST(MappingTest, EveryMappingIsNoReserve) {
  UniqueFd fd(::memfd_create("mapping-test", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), 1 << 16), 0);
  for (const int prot : {PROT_NONE, PROT_READ}) {
    Result<Mapping> m = Mapping::Map(fd.get(), 0, 1 << 16, prot);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    const std::string flags = VmFlagsAt(m->data());
    ASSERT_FALSE(flags.empty()) << "no smaps entry for the mapping";
    EXPECT_NE(flags.find(" nr "), std::string::npos) << flags;
  }
}

// A HugeTLB file with holes (every page of it here) maps where the pool has
// no huge page to reserve: khod's mapping asks for none.
TEST(MappingTest, AHugetlbFileWithHolesMapsWithAnEmptyPool) {
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
  for (const int prot : {PROT_NONE, PROT_READ}) {
    Result<Mapping> m = Mapping::Map(fd.get(), 0, bytes, prot);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
  }
  Result<bool> mappable = IsMappable(fd.get(), bytes);
  ASSERT_TRUE(mappable.ok()) << mappable.status().ToString();
  EXPECT_TRUE(*mappable);
}

}  // namespace
}  // namespace khod
