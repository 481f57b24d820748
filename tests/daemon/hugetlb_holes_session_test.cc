// Whose HugeTLB memfd khod's capture mapping reserves holes for, as the
// session decides it (the attaching caller's uid, GmemAttachment.owner_uid,
// through GmemDeclaration::owner_uid to the kernel source): a member's sparse
// file attached and prepared leaves the pool's reservations as they were,
// root's has a huge page reserved for each hole (kernel/mapping.h,
// docs/SECURITY.md). The capture itself: tests/capture/hugetlb_holes_test.cc.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "daemon/session_declarations.h"
#include "tests/support/huge_pool.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

constexpr long kHugePages = 4;  // of the file: the first allocated, three holes
constexpr long kHoles = kHugePages - 1;
constexpr uid_t kMember = 65534;

// A process of uid kMember holding a sparse HugeTLB memfd (made before it
// dropped root, so the pool's pages are the test's to arrange): a member's
// VMM. It lives until the test lets it go.
class MemberVmm {
 public:
  MemberVmm(const std::string& name, uint64_t bytes, uint64_t huge) {
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(hold, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready[0]);
      ::close(hold[1]);
      const int fd = ::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_HUGETLB);
      if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(bytes)) != 0 ||
          ::fallocate(fd, 0, 0, static_cast<off_t>(huge)) != 0)
        ::_exit(2);
      if (::setgroups(0, nullptr) != 0 || ::setresgid(kMember, kMember, kMember) != 0 ||
          ::setresuid(kMember, kMember, kMember) != 0)
        ::_exit(3);
      // Dropping root made it non-dumpable: a member's VMM is dumpable.
      if (::prctl(PR_SET_DUMPABLE, 1) != 0) ::_exit(4);
      if (::write(ready[1], &fd, sizeof(fd)) != static_cast<ssize_t>(sizeof(fd))) ::_exit(5);
      char c;
      (void)::read(hold[0], &c, 1);  // until the test closes its end
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    if (pid_ < 0 || ::read(ready[0], &fd_, sizeof(fd_)) != static_cast<ssize_t>(sizeof(fd_)))
      fd_ = -1;
    ::close(ready[0]);
  }
  ~MemberVmm() {
    if (hold_ >= 0) ::close(hold_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }  // in the member's process; -1: it could not make it

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int hold_ = -1;
};

class HugetlbHolesSessionTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: growing the huge page pool, reading "
                      "PFNs, a member's process";
    huge_ = static_cast<uint64_t>(MeminfoValue("Hugepagesize")) * 1024;
    ASSERT_GT(huge_, 0u);
    if (auto why = pool_.Arrange(kHugePages)) GTEST_SKIP() << *why;
  }
  static v1::AttachRequest HugetlbAttach(const std::string& name, pid_t pid, int fd) {
    v1::AttachRequest q;
    q.set_name(name);
    q.mutable_kernel()->set_pid(pid);
    q.mutable_kernel()->set_fd(fd);
    return q;
  }

  HugePool pool_;  // gives its pages back after the test's files and session went
  uint64_t huge_ = 0;
};

TEST_F(HugetlbHolesSessionTest, AMembersFileHasNoHoleReservedByKhod) {
  const std::string name = "khod-session-member-holes";
  MemberVmm vmm(name, kHugePages * huge_, huge_);
  ASSERT_GE(vmm.fd(), 0) << "the member's process could not make its HugeTLB memfd";
  PeerCred member;
  member.uid = kMember;
  member.gid = kMember;
  const long rsvd = MeminfoValue("HugePages_Rsvd");
  auto s = Open();
  ASSERT_TRUE(s);
  Result<v1::GmemInfo> a = s->Attach(HugetlbAttach(name, vmm.pid(), vmm.fd()), member);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Result<v1::PhaseReply> p = s->Prepare(member);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd) << "khod reserved the member's holes";
  const std::vector<std::vector<std::string>> flags = MemfdVmFlags(name);
  ASSERT_EQ(flags.size(), 1u) << "khod's capture mapping, alone in this process";
  EXPECT_TRUE(HasWord(flags[0], "nr")) << "the capture mapping is not MAP_NORESERVE";
  ASSERT_TRUE(s->Cancel(member).ok());
}

TEST_F(HugetlbHolesSessionTest, RootsFileHasItsHolesReserved) {
  const std::string name = "khod-session-root-holes";
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC | MFD_HUGETLB));
  ASSERT_TRUE(fd.valid()) << errno;
  ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(kHugePages * huge_)), 0);
  ASSERT_EQ(::fallocate(fd.get(), 0, 0, static_cast<off_t>(huge_)), 0) << errno;
  const long rsvd = MeminfoValue("HugePages_Rsvd");
  auto s = Open();
  ASSERT_TRUE(s);
  Result<v1::GmemInfo> a = s->Attach(HugetlbAttach(name, ::getpid(), fd.get()));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  Result<v1::PhaseReply> p = s->Prepare();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(MeminfoValue("HugePages_Rsvd"), rsvd + kHoles);
  const std::vector<std::vector<std::string>> flags = MemfdVmFlags(name);
  ASSERT_EQ(flags.size(), 1u) << "khod's capture mapping, alone in this process";
  EXPECT_FALSE(HasWord(flags[0], "nr"));
  ASSERT_TRUE(s->Cancel().ok());
}

// Every opening of a recorded gmem (Attach, a restart's retake, a reexec's
// adoption and restore) takes its declaration from the record: the owner
// comes with it, and a record without one is root's.
TEST(HugetlbHolesDeclarationTest, TheDeclarationCarriesTheRecordedOwner) {
  v1::GmemAttachment a;
  a.set_token(7);
  EXPECT_EQ(DeclarationOf(a).owner_uid, 0u);
  a.set_owner_uid(kMember);
  EXPECT_EQ(DeclarationOf(a).owner_uid, kMember);
  a.set_owner_uid(0);
  EXPECT_EQ(DeclarationOf(a).owner_uid, 0u);
}

}  // namespace
}  // namespace khod
