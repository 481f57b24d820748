// kernel/mempolicy.h on this kernel: a policy with a home node set through a shmem memfd's
// mapping and read back. get_mempolicy does not report the home node, so a policy read back
// says it was not seen where its mode can hold one; set_mempolicy_home_node(2) is called only
// for a home node, and its failure is named. The home node it set is read from the VMA by the
// BPF iterator, where that loads.
#include "kernel/mempolicy.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/mempolicy_text.h"
#include "kernel/vma_policy_iter.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

Mempolicy BindNode0(int32_t home_node) {
  Mempolicy p;
  p.mode = MPOL_BIND;
  p.nodemask = {1};
  p.home_node = home_node;
  return p;
}

// A mapping of `pages` pages of `fd` (MAP_SHARED), unmapped at the end of the scope.
class Mapped {
 public:
  Mapped(int fd, size_t pages) : bytes_(pages * static_cast<size_t>(::getpagesize())) {
    const int flags = fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED;
    addr_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, flags, fd, 0);
  }
  ~Mapped() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, bytes_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  bool ok() const { return addr_ != MAP_FAILED; }
  void* addr() const { return addr_; }
  size_t bytes() const { return bytes_; }

 private:
  size_t bytes_;
  void* addr_ = MAP_FAILED;
};

// BIND to node 0 with home node 0 on a memfd's mapping: set (the shared policy), and read back
// as bind to node 0 with the home node not seen ("home=?"), get_mempolicy not reporting it.
TEST(MempolicyTest, AHomeNodeIsSetAndReadBackAsNotSeen) {
  const TestMemfd file(2 * static_cast<size_t>(::getpagesize()), "mempolicy_test");
  const Mapped m(file.fd(), 2);
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  Status set = SetMempolicy(m.addr(), m.bytes(), BindNode0(0));
  if (set.code() == Status::Code::kUnsupported) GTEST_SKIP() << set.ToString();
  ASSERT_TRUE(set.ok()) << set.ToString();
  Result<Mempolicy> got = GetMempolicyAt(m.addr());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->mode, MPOL_BIND);
  EXPECT_EQ(got->nodemask, std::vector<uint64_t>{1});
  EXPECT_FALSE(got->home_node_seen);
  EXPECT_EQ(got->home_node, -1);
  EXPECT_EQ(MempolicyToString(*got), "bind nodes=0 home=?");
}

// A policy whose mode holds no home node is read back with none, seen; the string says a
// seen home node, and nothing of one a mode cannot hold.
TEST(MempolicyTest, AModeWithoutAHomeNodeHasNoneSeen) {
  const TestMemfd file(static_cast<size_t>(::getpagesize()), "mempolicy_test");
  const Mapped m(file.fd(), 1);
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  Mempolicy interleave = BindNode0(-1);
  interleave.mode = MPOL_INTERLEAVE;
  ASSERT_TRUE(SetMempolicy(m.addr(), m.bytes(), interleave).ok());
  Result<Mempolicy> got = GetMempolicyAt(m.addr());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, interleave);
  EXPECT_TRUE(got->home_node_seen);
  EXPECT_EQ(MempolicyToString(*got), "interleave nodes=0");
  EXPECT_EQ(MempolicyToString(BindNode0(2)), "bind nodes=0 home=2");
  EXPECT_EQ(MempolicyToString(BindNode0(-1)), "bind nodes=0");
  EXPECT_EQ(MempolicyToString(Mempolicy()), "default");
}

// A home node the kernel refuses fails SetMempolicy, naming set_mempolicy_home_node and the
// node: on an interleave policy (EOPNOTSUPP: Unsupported), and a node not online (EINVAL).
TEST(MempolicyTest, ARefusedHomeNodeIsNamed) {
  const TestMemfd file(static_cast<size_t>(::getpagesize()), "mempolicy_test");
  const Mapped m(file.fd(), 1);
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  Mempolicy interleave = BindNode0(0);
  interleave.mode = MPOL_INTERLEAVE;
  Status wrong_mode = SetMempolicy(m.addr(), m.bytes(), interleave);
  ASSERT_FALSE(wrong_mode.ok()) << "a home node on an interleave policy";
  if (wrong_mode.message().find(std::strerror(ENOSYS)) != std::string::npos)
    GTEST_SKIP() << wrong_mode.ToString();
  EXPECT_EQ(wrong_mode.code(), Status::Code::kUnsupported) << wrong_mode.ToString();
  EXPECT_EQ(wrong_mode.message(),
            std::string("set_mempolicy_home_node 0: ") + std::strerror(EOPNOTSUPP));
  Status offline = SetMempolicy(m.addr(), m.bytes(), BindNode0(1023));
  ASSERT_FALSE(offline.ok()) << "node 1023 is online";
  EXPECT_EQ(offline.code(), Status::Code::kIoError) << offline.ToString();
  EXPECT_EQ(offline.message(),
            std::string("set_mempolicy_home_node 1023: ") + std::strerror(EINVAL));
}

// The home node SetMempolicy gave an anonymous mapping's VMA, as the BPF iterator reads it
// (this process's own VMAs); a policy set without one has none, both seen.
TEST(MempolicyTest, TheHomeNodeSetIsTheVmasPolicys) {
  std::string why;
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator(&why);
  if (iterator == nullptr) GTEST_SKIP() << "the VMA policy iterator cannot load: " << why;
  const Mapped homed(-1, 1), plain(-1, 1);
  ASSERT_TRUE(homed.ok() && plain.ok()) << std::strerror(errno);
  Status set = SetMempolicy(homed.addr(), homed.bytes(), BindNode0(0));
  if (set.code() == Status::Code::kUnsupported) GTEST_SKIP() << set.ToString();
  ASSERT_TRUE(set.ok()) << set.ToString();
  ASSERT_TRUE(SetMempolicy(plain.addr(), plain.bytes(), BindNode0(-1)).ok());
  Result<std::vector<VmaPolicy>> vmas = iterator->Read(::getpid());
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  auto at = [&vmas](const void* addr) -> const VmaPolicy* {
    const uint64_t a = reinterpret_cast<uint64_t>(addr);
    for (const VmaPolicy& v : *vmas)
      if (v.start <= a && a < v.end) return &v;
    return nullptr;
  };
  const VmaPolicy* h = at(homed.addr());
  const VmaPolicy* p = at(plain.addr());
  ASSERT_NE(h, nullptr);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(h->answered);
  ASSERT_TRUE(p->answered);
  EXPECT_EQ(h->policy, BindNode0(0)) << MempolicyToString(h->policy);
  EXPECT_EQ(p->policy, BindNode0(-1)) << MempolicyToString(p->policy);
}

}  // namespace
}  // namespace khod
