// The handback: after Restore the restarted VMM takes its memory back from
// khod (GmemInfo.khod_fd, pidfd_getfd), and a rebuilt guest_memfd goes onto
// the VMM's own VM (RestoreRequest.rebuild_into). Real khod over its socket,
// real reexec handover, real memfd, PFNs read through this process's pagemap.
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/kvm_uapi.h"
#include "kernel/pagemap.h"
#include "khoctl/client.h"
#include "khoctl/take_back.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tests/support/test_guest_memfd.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

constexpr size_t kPages = 256;
constexpr size_t kPage = 4096;

uint8_t PatternByte(size_t page) { return static_cast<uint8_t>(page * 7 + 3); }

uint64_t InodeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

// PFNs of every page of `fd`, through a fresh read-only mapping of this process.
std::vector<uint64_t> Pfns(int fd, size_t pages) {
  void* m = ::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  EXPECT_NE(m, MAP_FAILED);
  if (m == MAP_FAILED) return {};
  Result<PageFrameReader> r = PageFrameReader::Open();
  EXPECT_TRUE(r.ok());
  std::vector<uint64_t> e(pages, 0), pfns;
  EXPECT_TRUE(r->ReadPagemap(m, pages, e.data()).ok());
  for (uint64_t x : e) pfns.push_back(PagemapPresent(x) ? PagemapPfn(x) : 0);
  ::munmap(m, pages * kPage);
  return pfns;
}

bool PatternIntact(int fd, size_t pages) {
  std::vector<uint8_t> buf(kPage);
  for (size_t p = 0; p < pages; ++p) {
    if (::pread(fd, buf.data(), kPage, static_cast<off_t>(p * kPage)) !=
        static_cast<ssize_t>(kPage))
      return false;
    for (uint8_t b : buf)
      if (b != PatternByte(p)) return false;
  }
  return true;
}

class TakeBackTest : public ::testing::Test {
 protected:
  std::string Socket() const { return dir_ + "/k.sock"; }
  ChildProcess Start(const std::string& transport, const std::string& extra = "") {
    std::vector<std::string> argv = {"daemon/khod", "--socket=" + Socket(),
                                     "--state-dir=" + dir_ + "/state", "--transport=" + transport};
    if (!extra.empty()) argv.push_back(extra);
    Result<ChildProcess> c = ChildProcess::Start(argv, false, dir_ + "/khod.log");
    EXPECT_TRUE(c.ok());
    EXPECT_TRUE(KhodClient(Socket()).WaitHealthy(std::chrono::seconds(10)).ok());
    return std::move(*c);
  }
  // A shmem memfd of the "first VMM", every page written with its pattern.
  TestMemfd PatternMemfd() {
    TestMemfd file(kPages * kPage, "guest0");
    const int fd = file.fd();
    std::vector<uint8_t> page(kPage);
    for (size_t p = 0; p < kPages; ++p) {
      std::memset(page.data(), PatternByte(p), kPage);
      EXPECT_EQ(::pwrite(fd, page.data(), kPage, static_cast<off_t>(p * kPage)),
                static_cast<ssize_t>(kPage));
    }
    return file;
  }
  // attach -> prepare -> freeze over reexec -> the new khod serving.
  void HandOver(KhodClient& c, int memfd) {
    v1::AttachRequest q;
    q.set_name("guest0");
    q.mutable_kernel()->set_pid(::getpid());
    q.mutable_kernel()->set_fd(memfd);
    ASSERT_TRUE(c.Attach(q).ok());
    ExpectNoFd(c, "IDLE");
    ASSERT_TRUE(c.Prepare().ok());
    ExpectNoFd(c, "PREPARED");
    Result<v1::StatusReply> before = c.GetStatus();
    ASSERT_TRUE(before.ok());
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    ASSERT_TRUE(c.Freeze(f).ok());
    ASSERT_TRUE(c.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(20)).ok());
    ExpectNoFd(c, "HANDED_OVER");
  }
  // Before RESTORED khod has nothing to hand back, and says so.
  void ExpectNoFd(KhodClient& c, const char* when) {
    Result<v1::StatusReply> s = c.GetStatus();
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(s->gmems_size(), 1) << when;
    EXPECT_EQ(s->gmems(0).khod_fd(), 0) << when;
    Result<TakenBack> t = TakeBackFromKhod(s->pid(), s->gmems(0));
    EXPECT_EQ(t.status().code(), Status::Code::kFailedPrecondition) << when;
    EXPECT_NE(t.status().message().find("from RESTORED until Finish"), std::string::npos)
        << t.status().message();
  }
  TempDir tmp_{"take-back-test", TempDir::Use::kSocket};
  const std::string dir_ = tmp_.path();
};

TEST_F(TakeBackTest, RestartedVmmTakesTheSameMemoryBackAfterReexecRestore) {
  TestMemfd guest = PatternMemfd();
  const int memfd = guest.fd();
  const uint64_t inode = InodeOf(memfd);
  const std::vector<uint64_t> frozen_pfns = Pfns(memfd, kPages);  // read before freeze
  ASSERT_EQ(frozen_pfns.size(), kPages);
  ASSERT_NE(frozen_pfns[0], 0u) << "pagemap hides PFNs: needs root";
  ChildProcess k = Start("reexec");
  KhodClient c(Socket());
  ASSERT_NO_FATAL_FAILURE(HandOver(c, memfd));
  guest.Close();  // the first VMM is gone: only khod holds the memory

  Result<v1::PhaseReply> r = c.Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->gmems_size(), 1);
  EXPECT_EQ(static_cast<pid_t>(r->pid()), k.pid());
  const int khod_fd = r->gmems(0).khod_fd();
  EXPECT_GE(khod_fd, 3);
  EXPECT_NE(r->message().find("holds them for the VMM until Finish (gmem 1 fd " +
                              std::to_string(khod_fd) + ")"),
            std::string::npos)
      << r->message();
  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->gmems(0).khod_fd(), khod_fd);

  // khoctl fds shows the same to an operator's script.
  FILE* p = ::popen(("khoctl/khoctl fds --socket " + Socket()).c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof(buf), p)) out += buf;
  EXPECT_EQ(::pclose(p), 0);
  char line[256];
  std::snprintf(line, sizeof(line), "%-6d %-16s %-14s %-8d %-6d %d\n", 1, "guest0", "shmem-memfd",
                k.pid(), khod_fd, 0);  // attached by root (this test)
  EXPECT_NE(out.find(line), std::string::npos) << out;

  // The restarted VMM (this process) takes it back.
  Result<TakenBack> t = TakeBackFromKhod(s->pid(), s->gmems(0));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->identity.inode, inode);
  EXPECT_EQ(InodeOf(t->fd.get()), inode);
  EXPECT_TRUE(PatternIntact(t->fd.get(), kPages));
  EXPECT_EQ(Pfns(t->fd.get(), kPages), frozen_pfns);

  // The old khod's address space outlived the exec in a mapping holder:
  // Verify reads PFNs from its page tables, then lets it go.
  const std::string tag = "previous khod's mappings (holder pid ";
  const size_t at = r->message().find(tag);
  ASSERT_NE(at, std::string::npos) << r->message();
  const pid_t holder = std::atoi(r->message().c_str() + at + tag.size());
  ASSERT_GT(holder, 0);
  EXPECT_EQ(::kill(holder, 0), 0) << "holder " << holder << " gone before Verify";
  Result<v1::VerifyReply> v = c.Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedMemfdVerdict()) << FirstDifferenceOf(*v);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(holder, 0) != 0 && errno == ESRCH;  // killed and reaped by khod
    if (!gone) ::usleep(10000);
  }
  EXPECT_TRUE(gone) << "holder " << holder << " still there after Verify";
  Result<v1::PhaseReply> fin = c.Finish();
  ASSERT_TRUE(fin.ok()) << fin.status().ToString();
  // khod let go: no fd to take any more, and the VMM's memory is untouched.
  s = c.GetStatus();
  EXPECT_EQ(s->gmems(0).khod_fd(), 0);
  EXPECT_TRUE(PatternIntact(t->fd.get(), kPages));
  EXPECT_EQ(Pfns(t->fd.get(), kPages), frozen_pfns);
}

TEST_F(TakeBackTest, AMappingHolderThatIsNotKhodsChildIsIgnoredAndSaidSo) {
  ChildProcess k = Start("reexec", "--mapping-holder=1");
  KhodClient c(Socket());
  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(
      s->recovery().find("mapping holder not used: pid 1 is not a mapping holder of this khod"),
      std::string::npos)
      << s->recovery();
  EXPECT_EQ(::kill(1, 0), 0);  // never signalled
}

// --pte-keeper names fds of this process: one that is not what it should be
// is refused by name and left alone (khod's stdin, here), khod serves on.
TEST_F(TakeBackTest, APteKeeperArgumentThatIsNotOneIsIgnoredAndSaidSo) {
  ChildProcess k = Start("reexec", "--pte-keeper=1:0:0");
  KhodClient c(Socket());
  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(s->recovery().find("PTE keeper not used: PTE witness handoff fd 0 is not a regular "
                               "file; PTE keeper control fd 0 is not a socket"),
            std::string::npos)
      << s->recovery();
  EXPECT_EQ(::kill(1, 0), 0);  // never signalled
}

TEST_F(TakeBackTest, BadRebuildOfferRestoresNothingAndALaterRestoreWorks) {
  TestMemfd guest = PatternMemfd();
  const int memfd = guest.fd();
  const std::vector<uint64_t> frozen_pfns = Pfns(memfd, kPages);
  ChildProcess k = Start("reexec");
  KhodClient c(Socket());
  ASSERT_NO_FATAL_FAILURE(HandOver(c, memfd));
  guest.Close();
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  auto offer = [&](uint64_t token, uint64_t vm, int pid, int fd) {
    v1::RestoreRequest q;
    v1::RebuildTarget* t = q.add_rebuild_into();
    t->set_token(token);
    t->set_vm_token(vm);
    t->set_pid(pid);
    t->set_fd(fd);
    return c.Restore(q).status();
  };
  Status s = offer(77, 1, ::getpid(), pipefd[0]);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("gmem token 77 is not in the frozen snapshot"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("nothing was restored, every fd is still held"), std::string::npos)
      << s.message();
  s = offer(1, 0, ::getpid(), pipefd[0]);  // gmem 1 is a shmem memfd: nothing to rebuild into
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("shmem-memfd: only a kernel guest_memfd"), std::string::npos)
      << s.message();
  s = offer(1, 0, 0, pipefd[0]);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  ::close(pipefd[0]);
  ::close(pipefd[1]);
  Result<v1::StatusReply> st = c.GetStatus();
  EXPECT_EQ(st->phase(), v1::HANDED_OVER);
  EXPECT_EQ(st->gmems(0).khod_fd(), 0);

  // Nothing lost: the plain Restore adopts the very same pages.
  Result<v1::PhaseReply> r = c.Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = c.Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedMemfdVerdict()) << FirstDifferenceOf(*v);
  st = c.GetStatus();
  Result<TakenBack> t = TakeBackFromKhod(st->pid(), st->gmems(0));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(Pfns(t->fd.get(), kPages), frozen_pfns);
}

TEST_F(TakeBackTest, RebuiltGuestMemfdGoesOntoTheVmmsVm) {
  const uint64_t size = kPages * kPage, flags = uapi::kGuestMemfdFlagMmap;
  Result<TestGuestMemfd> first = TestGuestMemfd::Make(size, flags);
  KHOD_GUEST_MEMFD_OR_SKIP(first);
  ChildProcess k = Start("dir");
  KhodClient c(Socket());
  v1::AttachRequest q;
  q.set_name("gmem0");
  q.mutable_kernel()->set_pid(::getpid());
  q.mutable_kernel()->set_fd(first->fd());
  q.set_vm_token(5);
  q.set_gmem_flags(flags);
  ASSERT_TRUE(c.Attach(q).ok());
  ASSERT_TRUE(c.Prepare().ok());
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  ASSERT_TRUE(c.Freeze(f).ok());
  // The restarted VMM makes the new guest_memfd on its VM and offers it.
  Result<UniqueFd> target = first->Another(size, flags);
  ASSERT_TRUE(target.ok()) << target.status().ToString();
  v1::RestoreRequest rq;
  rq.set_force_rebuild(true);
  v1::RebuildTarget* t = rq.add_rebuild_into();
  t->set_token(1);
  t->set_vm_token(5);
  t->set_pid(::getpid());
  t->set_fd(target->get());
  Result<v1::PhaseReply> r = c.Restore(rq);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 rebuilt"), std::string::npos) << r->message();
  // How it came back is said beside what it is (source: Describe()), in the
  // Restore reply and in Status.
  ASSERT_EQ(r->gmems_size(), 1);
  EXPECT_EQ(r->gmems(0).how(), "rebuilt into the VMM's guest_memfd fd " +
                                   std::to_string(target->get()) + " of pid " +
                                   std::to_string(::getpid()) + " (VM 5)");
  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->gmems(0).how(), r->gmems(0).how());
  EXPECT_NE(s->gmems(0).source().find("guest_memfd"), std::string::npos) << s->gmems(0).source();
  Result<TakenBack> back = TakeBackFromKhod(s->pid(), s->gmems(0));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->identity.inode, InodeOf(target->get()));
  // KVM binds it: it is this VM's guest_memfd.
  void* ua = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(ua, MAP_FAILED);
  Status bind = first->vm().SetGuestMemfdRegion(0, 0, size, reinterpret_cast<uint64_t>(ua),
                                                back->fd.get(), 0);
  EXPECT_TRUE(bind.ok()) << bind.ToString();
}

}  // namespace
}  // namespace khod
