// Session (daemon/session.h) in-process, on real memfds of this test process
// taken with pidfd_getfd, and on MODEL guests: the phase machine, every
// refusal, and what a restart on the same state dir resumes or rolls back.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libfdt.h>
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/file_read.h"
#include "daemon/record_file.h"
#include "daemon/session.h"
#include "daemon/system_opener.h"
#include "handover/blob_memfd.h"
#include "handover/luo_transport.h"
#include "handover/luo_uapi.h"
#include "handover/reexec_transport.h"
#include "kernel/fd_table.h"
#include "kernel/memory_file.h"
#include "kernel/mempolicy.h"
#include "kernel/probe.h"
#include "serializer/serializer.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tests/support/kho_tree.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

// A handover dir beneath the default root whose blob cannot be written:
// a directory stands where the blob's temporary goes.
std::string BlockedHandoverDir(const std::string& state_dir) {
  const std::string d = state_dir + "/handover/blocked";
  EXPECT_EQ(::mkdir(d.c_str(), 0700), 0);
  EXPECT_EQ(::mkdir((d + "/handover.blob.tmp").c_str(), 0700), 0);
  return "blocked";
}
TEST_F(SessionTest, FullCycleOverDirAdoptsTheHeldFileAndVerifiesEqual) {
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_NE(s->recovery().find("new session"), std::string::npos);
  Result<v1::GmemInfo> g = s->Attach(KernelAttach(memfd_));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->kind(), "shmem-memfd");
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
  // dir carries no fds, but this process still holds them: Restore adopts.
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
  EXPECT_EQ(v->pages_compared(), 128u);
  EXPECT_GT(v->hashes_compared(), 0u);
  ASSERT_TRUE(s->Finish().ok());
  v1::StatusReply st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::FINISHED);
  EXPECT_GE(st.durations_size(), 5);
  EXPECT_GT(st.blob_bytes(), 0u);
}

// A HugeTLB memfd's pages are seen only through a mapping, and a private
// page is never mapped: declaring one private is refused, naming why, at
// Attach and at UpdateAttributes, and the session stays as it was.
// A file whose policy its capture could not read is said so, with why, at
// Prepare (before the blackout) and at Freeze.
TEST_F(SessionTest, APolicyNotReadIsSaidWithWhyAtPrepareAndFreeze) {
  const TestMemfd empty(16 * 4096, "no-pages");
  auto s = Open();
  ASSERT_TRUE(s);
  v1::AttachRequest q = KernelAttach(empty.fd());
  q.clear_memslots();  // none to outlive the file's pages
  Result<v1::GmemInfo> a = s->Attach(q);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(::ftruncate(empty.fd(), 0), 0);  // its pages gone since Attach
  const std::string why =
      "gmem 1's NUMA policy not read: a file of 0 bytes has no page to read it at";
  Result<v1::PhaseReply> p = s->Prepare();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_NE(p->message().find(why), std::string::npos) << p->message();
  Result<v1::PhaseReply> f = s->Freeze(PausedFreeze());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_NE(f->message().find(why), std::string::npos) << f->message();
}

TEST_F(SessionTest, PrivatePagesOfAHugetlbMemfdAreRefusedNamingWhy) {
  const int fd = ::memfd_create("huge-guest", MFD_HUGETLB | MFD_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "no HugeTLB memfd here: " << std::strerror(errno);
  if (::ftruncate(fd, 2 << 20) != 0) {
    ::close(fd);
    GTEST_SKIP() << "no 2 MiB HugeTLB memfd here: " << std::strerror(errno);
  }
  auto s = Open();
  ASSERT_TRUE(s);
  v1::AttributeRange priv;
  priv.set_first(0);
  priv.set_count(512);
  priv.set_value(8);  // KVM_MEMORY_ATTRIBUTE_PRIVATE
  v1::AttachRequest q = KernelAttach(fd);
  *q.add_attributes() = priv;
  Result<v1::GmemInfo> refused = s->Attach(q);
  ASSERT_EQ(refused.status().code(), Status::Code::kInvalidArgument) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("HugeTLB memfd cannot be declared private"),
            std::string::npos)
      << refused.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  Result<v1::GmemInfo> g = s->Attach(KernelAttach(fd));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->kind(), "hugetlb-memfd");
  v1::UpdateAttributesRequest u;
  u.set_token(g->token());
  *u.add_ranges() = priv;
  EXPECT_EQ(s->UpdateAttributes(u).code(), Status::Code::kInvalidArgument);
  priv.set_value(0x10);  // an attribute other than PRIVATE: no page goes unseen
  *u.mutable_ranges(0) = priv;
  EXPECT_TRUE(s->UpdateAttributes(u).ok());
  ::close(fd);
}

// A memfd's pages declared private, at Attach or after Prepare, are seen
// initialized-only in every capture: Freeze keeps the invariants (no PFN, no
// hash there) and every Verify says the same, however many times it runs.
TEST_F(SessionTest, DeclaredPrivatePagesOfAHashedMemfdVerifyTheSameEveryTime) {
  for (const bool after_prepare : {false, true}) {
    SCOPED_TRACE(after_prepare ? "declared after Prepare" : "declared at Attach");
    TempDir dir("private-pages");
    SessionOptions o = Opts();
    o.state_dir = dir.path();
    o.handover_root.clear();
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    v1::AttachRequest q = KernelAttach(memfd_);
    q.set_hash_contents(true);
    v1::AttributeRange priv;
    priv.set_first(2);
    priv.set_count(4);
    priv.set_value(8);  // KVM_MEMORY_ATTRIBUTE_PRIVATE
    if (!after_prepare) *q.add_attributes() = priv;
    Result<v1::GmemInfo> g = (*s)->Attach(q);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE((*s)->Prepare().ok());
    if (after_prepare) {
      v1::UpdateAttributesRequest u;
      u.set_token(g->token());
      *u.add_ranges() = priv;
      ASSERT_TRUE((*s)->UpdateAttributes(u).ok());
    }
    Result<v1::PhaseReply> f = (*s)->Freeze(PausedFreeze());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*s)->Restore(v1::RestoreRequest()).ok());
    // The 4 pages declared private are compared initialized-only, and the
    // declaration itself (attributes, memslot) is the VMM's, never read back.
    const std::string private_pages =
        UnchangedMemfdVerdict({v1::UNVERIFIED_PAGES_PRIVATE, v1::UNVERIFIED_DECLARED_MEMSLOTS,
                               v1::UNVERIFIED_DECLARED_ATTRIBUTES},
                              Contents::kHashed);
    for (int i = 0; i < 3; ++i) {
      Result<v1::VerifyReply> v = (*s)->Verify();
      ASSERT_TRUE(v.ok()) << v.status().ToString();
      EXPECT_EQ(VerdictAndKinds(*v), private_pages)
          << "verify " << i << ": " << FirstDifferenceOf(*v);
    }
  }
}

// A reexec's new side in this process: the old session freezes over REEXEC
// (no exec: its argv is caught), the new one opens with what --adopt names.
class ReexecSessionTest : public SessionTest {
 protected:
  // Attach -> Prepare -> Freeze over REEXEC in a session that then goes
  // away; returns the new side's options, as the re-executed khod would
  // have them (what --adopt names).
  SessionOptions FreezeOverReexec(bool corrupt_blob = false) {
    std::vector<std::string> argv;
    {
      SessionOptions o = Opts();
      o.corrupt_handover_blob = corrupt_blob;
      o.stage_blob_ahead_from = 0;  // the blob copied ahead of Send, however small
      o.on_exec_ready = [&argv](std::vector<std::string> a) { argv = std::move(a); };
      Result<std::unique_ptr<Session>> old = Session::Open(o, &opener_);
      EXPECT_TRUE(old.ok()) << old.status().ToString();
      if (!old.ok()) return Opts();
      EXPECT_TRUE((*old)->Attach(KernelAttach(memfd_)).ok());
      EXPECT_TRUE((*old)->Prepare().ok());
      Result<v1::PhaseReply> fr = (*old)->Freeze(PausedFreeze(v1::REEXEC));
      EXPECT_TRUE(fr.ok()) << fr.status().ToString();
    }
    SessionOptions n = NewSideOpts(argv);
    EXPECT_FALSE(n.adopted.empty()) << "no --adopt in the exec argv";
    return n;
  }
  // FreezeOverReexec, then the new side opened.
  std::unique_ptr<Session> HandOver(bool corrupt_blob = false) {
    Result<std::unique_ptr<Session>> s = Session::Open(FreezeOverReexec(corrupt_blob), &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
};

// The system opener, but its first Adopt (the warm-up's, on its thread from
// Open) throws, as one that finds no memory or no thread would.
class FirstAdoptThrows : public GmemOpener {
 public:
  explicit FirstAdoptThrows(GmemOpener* inner) : inner_(inner) {}
  Result<TakenFile> TakeFromProcess(int pid, int fd) override {
    return inner_->TakeFromProcess(pid, fd);
  }
  Result<std::unique_ptr<GmemHandle>> FromTaken(const GmemDeclaration& decl,
                                                const TakenFile& taken) override {
    return inner_->FromTaken(decl, taken);
  }
  Result<std::unique_ptr<GmemHandle>> Adopt(const GmemDeclaration& decl, int fd) override {
    if (!thrown_.exchange(true)) {
      ::close(fd);  // the opener owns the fd it is given
      throw std::runtime_error("no memory for the warm-up");
    }
    return inner_->Adopt(decl, fd);
  }
  Result<std::unique_ptr<GmemHandle>> NewModel(const GmemDeclaration& decl,
                                               const ModelSpec& spec) override {
    return inner_->NewModel(decl, spec);
  }
  Result<std::unique_ptr<GmemHandle>> RestoreModel(const GuestMemfd& frozen) override {
    return inner_->RestoreModel(frozen);
  }
  Result<std::unique_ptr<GmemHandle>> Rebuild(const GmemDeclaration& decl,
                                              const GuestMemfd& frozen) override {
    return inner_->Rebuild(decl, frozen);
  }
  bool thrown() const { return thrown_; }

 private:
  GmemOpener* inner_;
  std::atomic<bool> thrown_{false};
};

// The adopted files are opened and warmed on a thread from Open: one that
// fails there, even by an exception, is only not warm. Restore adopts it
// itself and the verdict is as without the warm-up; a Cancel then is whole.
TEST_F(ReexecSessionTest, AWarmUpThatThrowsLeavesRestoreToAdoptTheFile) {
  FirstAdoptThrows opener(&opener_);
  {
    Result<std::unique_ptr<Session>> s = Session::Open(FreezeOverReexec(), &opener);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Result<v1::PhaseReply> r = (*s)->Restore(v1::RestoreRequest());
    EXPECT_TRUE(opener.thrown());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
    Result<v1::VerifyReply> v = (*s)->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
    ASSERT_TRUE((*s)->Finish().ok());  // the next Attach starts a new session
  }
  FirstAdoptThrows again(&opener_);
  Result<std::unique_ptr<Session>> s = Session::Open(FreezeOverReexec(), &again);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Cancel().ok());
  EXPECT_TRUE(again.thrown());
  EXPECT_EQ((*s)->phase(), v1::IDLE);
}

// The new side decodes the blob ahead of Restore; a Restore refused after
// that (a bad rebuild_into offer) must leave the next one a whole snapshot.
TEST_F(ReexecSessionTest, RestoreRefusedAfterTheReadAheadCanBeRetried) {
  auto s = HandOver();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  v1::RestoreRequest bad;
  auto* t = bad.add_rebuild_into();
  t->set_token(1);
  t->set_vm_token(1);
  t->set_pid(::getpid());
  t->set_fd(p[0]);  // a pipe is no guest_memfd
  Result<v1::PhaseReply> refused = s->Restore(bad);
  ::close(p[0]);
  ::close(p[1]);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("rebuild_into[0]"), std::string::npos)
      << refused.status().message();
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
  EXPECT_EQ(v->pages_compared(), 128u);
}

// Cancel on the new side before any Restore: what the read-ahead received
// (the carried files, the blob memfd) is let go, and a new session's Restore
// in the same process reads its own handover, never the cancelled one.
TEST_F(ReexecSessionTest, CancelBeforeRestoreLetsTheReadAheadGoAndANewSessionRestoresItsOwn) {
  SessionOptions n = FreezeOverReexec();
  ASSERT_FALSE(n.adopted.empty());
  std::vector<int> carried = {n.adopted.blob_fd};
  for (const auto& [token, fd] : n.adopted.fds) carried.push_back(fd);
  Result<std::unique_ptr<Session>> opened = Session::Open(n, &opener_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Session> s = std::move(*opened);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int fd : carried)
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1) << "carried fd " << fd << " still open";
  // A new session, handed over by dir and restored in this same process.
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::DIR)).ok());
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

// A read-ahead that could not receive (here the blob memfd's fd was a pipe
// when the new khod started) leaves the next Restore to receive again. (The
// fd stays open throughout: a number closed could become another file of
// this process's.)
TEST_F(ReexecSessionTest, AFailedReadAheadIsReceivedAgainByTheNextRestore) {
  SessionOptions n = FreezeOverReexec();
  ASSERT_GE(n.adopted.blob_fd, 0);
  const int blob = n.adopted.blob_fd;
  UniqueFd saved(::fcntl(blob, F_DUPFD_CLOEXEC, 3));
  ASSERT_TRUE(saved.valid());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd pipe_read(p[0]), pipe_write(p[1]);
  ASSERT_EQ(::dup2(pipe_read.get(), blob), blob);
  Result<std::unique_ptr<Session>> opened = Session::Open(n, &opener_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<Session> s = std::move(*opened);
  const Status first = s->Restore(v1::RestoreRequest()).status();
  EXPECT_FALSE(first.ok());
  EXPECT_NE(first.message().find("not a regular file but a FIFO or pipe"), std::string::npos)
      << first.ToString();
  ASSERT_EQ(::dup2(saved.get(), blob), blob);
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
}

// A reexec carries the very files attached: a carried fd that is another
// file (another inode) is refused, naming both, and nothing is restored.
TEST_F(ReexecSessionTest, ACarriedFdOfAnotherFileIsRefusedNamingBothInodes) {
  SessionOptions n = FreezeOverReexec();
  ASSERT_EQ(n.adopted.fds.size(), 1u);
  const int carried = n.adopted.fds.begin()->second;
  TestMemfd other(1 << 20, "another-file");
  ASSERT_EQ(::dup2(other.fd(), carried), carried);
  Result<std::unique_ptr<Session>> opened = Session::Open(n, &opener_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  const Status refused = (*opened)->Restore(v1::RestoreRequest()).status();
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("recorded at Attach"), std::string::npos) << refused.message();
  EXPECT_EQ((*opened)->phase(), v1::HANDED_OVER);
}

// A khod that dies on either side of a reexec's exec takes the fds the exec
// carried with it, not the files: on the same boot the VMM still holds them,
// and Restore takes each again from its VMM (the recorded pid and fd, inode
// checked), so the restored file is the guest's own memory and Verify can
// find it EQUAL. `prepare` may change the VMM's file or this khod's boot first.
class ReexecCrashSessionTest : public ReexecSessionTest {
 protected:
  // The new side as a restart after the crash opens it: no --adopt, the
  // carried fds closed (the process that held them is gone). With `boot_id`,
  // on another boot, opened `opens` times (each start writes the record).
  std::unique_ptr<Session> OpenAfterTheCarriedFdsDied(const std::string& boot_id = "",
                                                      int opens = 1) {
    SessionOptions n = FreezeOverReexec();
    EXPECT_EQ(n.adopted.fds.size(), 1u);
    ::close(n.adopted.blob_fd);
    for (const auto& [token, fd] : n.adopted.fds) ::close(fd);
    n.adopted = AdoptSpec();
    if (!boot_id.empty()) n.boot_id = boot_id;
    Result<std::unique_ptr<Session>> s = Status::Internal("not opened");
    for (int i = 0; i < opens; ++i) {
      s = Session::Open(n, &opener_);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      if (!s.ok()) return nullptr;
      EXPECT_EQ((*s)->phase(), v1::HANDED_OVER);
      EXPECT_NE((*s)->recovery().find(boot_id.empty() ? "Restore takes each file again from its VMM"
                                                      : "the files were attached on another boot"),
                std::string::npos)
          << (*s)->recovery();
    }
    return std::move(*s);
  }
};

TEST_F(ReexecCrashSessionTest, RestoreTakesTheFilesAgainFromTheVmmAndVerifiesEqual) {
  for (const bool from_state_dir : {false, true}) {
    SCOPED_TRACE(from_state_dir ? "from_state_dir" : "by the medium");
    auto s = OpenAfterTheCarriedFdsDied();
    ASSERT_TRUE(s);
    v1::RestoreRequest q;
    q.set_from_state_dir(from_state_dir);
    Result<v1::PhaseReply> r = s->Restore(q);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find("1 of 1 files taken again from their VMMs"), std::string::npos)
        << r->message();
    EXPECT_NE(r->message().find("1 adopted, 0 rebuilt"), std::string::npos) << r->message();
    Result<v1::VerifyReply> v = s->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
    ASSERT_TRUE(s->Finish().ok());
  }
}

// What the VMM's recorded fd no longer is, or a record of another boot: that
// file is rebuilt from the blob, new memory Verify does not find EQUAL.
TEST_F(ReexecCrashSessionTest, AFileTheVmmNoLongerHoldsIsRebuilt) {
  for (const bool other_boot : {false, true}) {
    SCOPED_TRACE(other_boot ? "another boot" : "another file at the recorded fd");
    TestMemfd other(1 << 20, "another-file");
    const int saved = ::fcntl(memfd_, F_DUPFD_CLOEXEC, 3);
    ASSERT_GE(saved, 0);
    // On another boot, twice: the second start finds a record the first one wrote.
    auto s = OpenAfterTheCarriedFdsDied(other_boot ? "another-boot" : "", other_boot ? 2 : 1);
    ASSERT_TRUE(s);
    if (!other_boot) {
      ASSERT_EQ(::dup2(other.fd(), memfd_), memfd_);
    }
    Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
    ASSERT_EQ(::dup2(saved, memfd_), memfd_);
    ::close(saved);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find("0 of 1 files taken again from their VMMs"), std::string::npos)
        << r->message();
    EXPECT_NE(r->message().find(other_boot ? "this is boot another-boot" : "is now another file"),
              std::string::npos)
        << r->message();
    EXPECT_NE(r->message().find("0 adopted, 1 rebuilt"), std::string::npos) << r->message();
    Result<v1::VerifyReply> v = s->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_GT(v->differences_size(), 0) << "a rebuilt file is new memory: " << v->verdict();
    ASSERT_TRUE(s->Cancel().ok());
  }
}

// --adopt given to a khod whose record is no reexec handover (here IDLE):
// the fds are not used, and never inherited by a child or a later exec.
TEST_F(SessionTest, AdoptedFdsNoHandoverUsesAreNotInherited) {
  TestMemfd blob(4096, "blob"), file(4096, "file");
  const int b = ::fcntl(blob.fd(), F_DUPFD, 3), f = ::fcntl(file.fd(), F_DUPFD, 3);
  ASSERT_GE(b, 0);
  ASSERT_GE(f, 0);
  SessionOptions o = Opts();
  o.adopted.blob_fd = b;
  o.adopted.fds[1] = f;
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE((*s)->recovery().find("--adopt not used: the record is IDLE"), std::string::npos)
      << (*s)->recovery();
  EXPECT_EQ(::fcntl(b, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  EXPECT_EQ(::fcntl(f, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  ::close(b);
  ::close(f);
}

// A corrupt carried blob is refused whether its checksum was computed ahead
// or not, on every try; khod's own copy then restores.
TEST_F(ReexecSessionTest, CorruptCarriedBlobIsRefusedThenTheStateDirCopyRestores) {
  auto s = HandOver(/*corrupt_blob=*/true);
  ASSERT_TRUE(s);
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(s->Restore(v1::RestoreRequest()).status().code(), Status::Code::kCorruption) << i;
  v1::RestoreRequest sd;
  sd.set_from_state_dir(true);
  Result<v1::PhaseReply> r = s->Restore(sd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

// Prepare grows the descriptor table for what Freeze's handover opens (a dup
// of every file's fd, and more: kernel/fd_table.h), so that Freeze does not
// grow it inside the blackout.
TEST_F(SessionTest, PrepareLeavesTheFdTableRoomForTheHandover) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  // The table's last slots in use, as a busy khod's may be: room must be made.
  Result<int> before = FdTableSize();
  ASSERT_TRUE(before.ok());
  const int top = ::fcntl(memfd_, F_DUPFD_CLOEXEC, *before - 2);
  ASSERT_EQ(top, *before - 2);
  ASSERT_TRUE(s->Prepare().ok());
  Result<int> size = FdTableSize();
  Result<int> highest = HighestOpenFd();
  ASSERT_TRUE(size.ok() && highest.ok());
  EXPECT_GT(*size, *highest + 64) << "FDSize " << *size << ", highest fd " << *highest;
  ::close(top);
}

TEST_F(SessionTest, ForcedRebuildIsReportedAsNewMemory) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  v1::RestoreRequest q;
  q.set_force_rebuild(true);
  ASSERT_TRUE(s->Restore(q).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok());
  EXPECT_GT(v->differences_size(), 0);  // a rebuilt memfd has no folios where the old one had
  EXPECT_EQ(s->phase(), v1::RESTORED);
  EXPECT_EQ(s->Finish().status().code(), Status::Code::kFailedPrecondition);
}

TEST_F(SessionTest, RefusalsSayWhy) {
  auto s = Open();
  // Wrong phase.
  EXPECT_EQ(s->Freeze(PausedFreeze()).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(s->Restore(v1::RestoreRequest()).status().code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(s->Prepare().status().code(), Status::Code::kFailedPrecondition);  // nothing attached
  // Not a memory file.
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  Result<v1::GmemInfo> bad = s->Attach(KernelAttach(pipefd[0]));
  EXPECT_EQ(bad.status().code(), Status::Code::kFailedPrecondition) << bad.status().ToString();
  // Closed fd (a number far above anything this process has open).
  ::close(pipefd[1]);
  Result<v1::GmemInfo> closed = s->Attach(KernelAttach(900));
  EXPECT_EQ(closed.status().code(), Status::Code::kNotFound) << closed.status().ToString();
  ::close(pipefd[0]);
  // Dead pid.
  v1::AttachRequest dead = KernelAttach(memfd_);
  dead.mutable_kernel()->set_pid(999999);
  EXPECT_EQ(s->Attach(dead).status().code(), Status::Code::kNotFound);
  // Memslot past the end of the file.
  v1::AttachRequest big = KernelAttach(memfd_);
  big.mutable_memslots(0)->set_npages(1 << 20);
  Result<v1::GmemInfo> r = s->Attach(big);
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("past the gmem size"), std::string::npos);
  // Freeze without paused guests.
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  v1::FreezeRequest unpaused;
  Result<v1::PhaseReply> f = s->Freeze(unpaused);
  EXPECT_EQ(f.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(f.status().message().find("pause"), std::string::npos);
  // Attach after prepare, detach of an unknown token.
  EXPECT_EQ(s->Attach(KernelAttach(memfd_)).status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_EQ(s->Detach(77).code(), Status::Code::kNotFound);
}

TEST_F(SessionTest, RestartResumesPreparedWithTheSameFiles) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_NE(s->recovery().find("resumed PREPARED"), std::string::npos) << s->recovery();
  EXPECT_TRUE(s->Freeze(PausedFreeze()).ok());
}

TEST_F(SessionTest, RestartRollsBackPreparedWhenAFileIsGone) {
  TestMemfd extra_file(1 << 20, "guest1");
  const int extra = extra_file.fd();
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    v1::AttachRequest q = KernelAttach(extra);
    q.set_vm_token(0);
    q.clear_memslots();
    ASSERT_TRUE(s->Attach(q).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  extra_file.Close();  // the VMM closed it while khod was down
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::IDLE);
  EXPECT_NE(s->recovery().find("rolled back PREPARED -> IDLE"), std::string::npos) << s->recovery();
  EXPECT_NE(s->recovery().find("dropped gmem 2"), std::string::npos) << s->recovery();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
}

// A dir handover carries no file. Restored by a khod started again on the
// boot the file was attached on (a restart, no kexec), the VMM still holds
// it: Restore takes it again from the VMM (pid, fd, inode and kind checked)
// instead of rebuilding it as new memory, and Verify finds the guest's own
// memory EQUAL. On another boot (a kexec) nothing is taken: it is rebuilt.
TEST_F(SessionTest, RestartAfterADirHandoverTakesTheFileAgainFromTheVmm) {
  for (const bool other_boot : {false, true}) {
    SCOPED_TRACE(other_boot ? "another boot" : "the same boot");
    TempDir dir(other_boot ? "dir-restart-other-boot" : "dir-restart-same-boot");
    SessionOptions o = Opts();
    o.state_dir = dir.path();
    {
      Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
      ASSERT_TRUE((*s)->Prepare().ok());
      ASSERT_TRUE((*s)->Freeze(PausedFreeze()).ok());
    }
    if (other_boot) o.boot_id = "boot-after-kexec";
    Result<std::unique_ptr<Session>> opened = Session::Open(o, &opener_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Session* s = opened->get();
    ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
    EXPECT_EQ(s->recovery().find("Restore takes each file again from its VMM") != std::string::npos,
              !other_boot)
        << s->recovery();
    Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find(other_boot ? "0 adopted, 1 rebuilt" : "1 adopted, 0 rebuilt"),
              std::string::npos)
        << r->message();
    EXPECT_EQ(r->message().find("1 of 1 files taken again from their VMMs") != std::string::npos,
              !other_boot)
        << r->message();
    Result<v1::VerifyReply> v = s->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    if (other_boot) {
      EXPECT_GT(v->differences_size(), 0) << "a rebuilt file is new memory: " << v->verdict();
      ASSERT_TRUE(s->Cancel().ok());
    } else {
      EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
      ASSERT_TRUE(s->Finish().ok());
    }
  }
}

// Restore from khod's own copy when the medium lost everything, on a boot
// where no file can be taken again from its VMM (after a kexec): the reply
// says that no file came, so every kernel gmem was rebuilt.
TEST_F(SessionTest, RestoreFromTheStateDirSaysWhenTheHandoverCarriedNothing) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  std::filesystem::remove_all(dir_ + "/handover");  // the medium is gone
  SessionOptions o = Opts();
  o.boot_id = "boot-after-kexec";
  Result<std::unique_ptr<Session>> opened = Session::Open(o, &opener_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  Session* s = opened->get();
  v1::RestoreRequest q;
  q.set_from_state_dir(true);
  Result<v1::PhaseReply> r = s->Restore(q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 rebuilt"), std::string::npos) << r->message();
  EXPECT_NE(r->message().find("the handover carried no file"), std::string::npos) << r->message();
}

v1::SessionRecord ReadRecord(const std::string& dir) {
  v1::SessionRecord r;
  Result<std::string> raw = ReadRecordFile(dir + "/session.rec");
  EXPECT_TRUE(raw.ok()) << raw.status().ToString();
  if (raw.ok()) {
    EXPECT_TRUE(r.ParseFromString(*raw));
  }
  return r;
}

void WriteRecord(const std::string& dir, const v1::SessionRecord& rec) {
  std::string bytes;
  ASSERT_TRUE(rec.SerializeToString(&bytes));
  ASSERT_TRUE(WriteRecordFile(dir + "/session.rec", bytes).ok());
}

// A pid and fd of the record name a process of the boot that wrote it: on
// another boot (a reboot, a kexec) the same numbers may hold another guest's
// file, so nothing is re-taken, whatever the fd holds now.
TEST_F(SessionTest, RestartOnAnotherBootReTakesNothing) {
  for (const bool prepared : {false, true}) {
    SCOPED_TRACE(prepared ? "PREPARED" : "IDLE");
    TempDir dir(prepared ? "other-boot-prepared" : "other-boot-idle");
    SessionOptions o = Opts();
    o.state_dir = dir.path();
    o.handover_root.clear();
    o.boot_id = "boot-a";
    {
      Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
      if (prepared) {
        ASSERT_TRUE((*s)->Prepare().ok());
      }
    }
    EXPECT_EQ(ReadRecord(dir.path()).gmems(0).boot_id(), "boot-a");
    o.boot_id = "boot-b";  // the same file is still at the recorded pid and fd
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    const std::string r = (*s)->recovery();
    EXPECT_EQ((*s)->phase(), v1::IDLE) << r;
    EXPECT_EQ((*s)->GetStatus().gmems_size(), 0) << r;
    EXPECT_NE(r.find(prepared ? "rolled back PREPARED -> IDLE" : "resumed IDLE with 0 gmems"),
              std::string::npos)
        << r;
    EXPECT_NE(r.find("attached on boot boot-a, this is boot boot-b"), std::string::npos) << r;
  }
}

// A boot that cannot be named is no boot a pid and fd are known to belong to.
TEST_F(SessionTest, RestartReTakesNoFileAttachedOnAnUnknownBoot) {
  SessionOptions o = Opts();
  o.boot_id = kUnknownBootId;
  {
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE((*s)->Prepare().ok());
  }
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->phase(), v1::IDLE) << (*s)->recovery();
  EXPECT_NE((*s)->recovery().find("attached on boot unknown"), std::string::npos)
      << (*s)->recovery();
}

// An inode number is one filesystem's: the re-take checks the kind too.
TEST_F(SessionTest, RestartReTakesNoFileOfAnotherKindWithTheSameInode) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  v1::SessionRecord rec = ReadRecord(dir_);
  ASSERT_EQ(rec.gmems_size(), 1);
  EXPECT_EQ(rec.gmems(0).kind(), "shmem-memfd");
  rec.mutable_gmems(0)->set_kind("guest_memfd");
  ASSERT_NO_FATAL_FAILURE(WriteRecord(dir_, rec));
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::IDLE) << s->recovery();
  EXPECT_NE(s->recovery().find("is now a shmem-memfd (inode "), std::string::npos) << s->recovery();
  EXPECT_NE(s->recovery().find("was a guest_memfd"), std::string::npos) << s->recovery();
}

// Records of khods before the boot id was written: the inode check alone.
TEST_F(SessionTest, RestartOfARecordWithoutABootIdReTakesByInode) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  v1::SessionRecord rec = ReadRecord(dir_);
  ASSERT_EQ(rec.gmems_size(), 1);
  EXPECT_FALSE(rec.gmems(0).boot_id().empty());
  rec.mutable_gmems(0)->clear_boot_id();
  ASSERT_NO_FATAL_FAILURE(WriteRecord(dir_, rec));
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
  EXPECT_NE(s->recovery().find("resumed PREPARED (1 gmems re-taken)"), std::string::npos)
      << s->recovery();
}

// exec_count (Status, khod_reexecs_total) counts the reexecs that happened:
// the khod an exec started counts its arrival in the record it writes at
// start; a REEXEC Freeze whose exec fails, or a khod stopped before its
// exec, counts none.
TEST_F(ReexecSessionTest, OnlyAReexecThatHappenedIsCounted) {
  auto s = HandOver();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->GetStatus().exec_count(), 1u) << s->recovery();
  EXPECT_EQ(ReadRecord(dir_).exec_count(), 1u);
  // The new khod's own reexec, whose exec fails.
  ASSERT_TRUE(s->Cancel().ok());
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  exec_argv_.clear();
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_FALSE(exec_argv_.empty());
  EXPECT_EQ(s->GetStatus().exec_count(), 1u) << "a reexec counted before its exec";
  EXPECT_EQ(ReadRecord(dir_).exec_count(), 1u);
  ASSERT_TRUE(s->BeginExec(exec_argv_));
  s->ExecFailed(Status::PermissionDenied("execveat: Permission denied"));
  EXPECT_EQ(s->GetStatus().exec_count(), 1u) << "a failed exec counted";
  // Stopped before any exec: the next start finds no exec to count.
  s.reset();
  auto again = Open();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->phase(), v1::HANDED_OVER) << again->recovery();
  EXPECT_EQ(again->GetStatus().exec_count(), 1u) << again->recovery();
}

// The record's XXH3 of its frozen blob rewritten, as an edited or damaged
// record would hold it.
void SetRecordedFrozenBlobXxh3(const std::string& dir, uint64_t xxh3) {
  v1::SessionRecord rec = ReadRecord(dir);
  ASSERT_GT(rec.frozen_blob_bytes(), 0u);
  rec.set_frozen_blob_xxh3(xxh3);
  WriteRecord(dir, rec);
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

TEST_F(SessionTest, CancelWhoseRecordWriteFailsDeletesNothingTheRecordNames) {
  std::string prepared, frozen;
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    v1::FreezeRequest f = PausedFreeze();
    f.set_dir(BlockedHandoverDir(dir_));  // Send fails: back to PREPARED
    ASSERT_FALSE(s->Freeze(f).ok());
    ASSERT_TRUE(s->Prepare().ok());
    prepared = ReadRecord(dir_).prepared_blob();
    ASSERT_FALSE(prepared.empty());
    // The IDLE record cannot be written.
    ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
    Result<v1::PhaseReply> c = s->Cancel();
    EXPECT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("nothing the record names was deleted"), std::string::npos)
        << c.status().ToString();
    // The durable record still names the blob: it must still be there.
    v1::SessionRecord r = ReadRecord(dir_);
    EXPECT_EQ(r.phase(), v1::PREPARED);
    EXPECT_EQ(r.prepared_blob(), prepared);
    EXPECT_TRUE(Exists(dir_ + "/" + prepared));
    ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
  }
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::IDLE);
  EXPECT_FALSE(Exists(dir_ + "/" + prepared));  // deleted once the IDLE record is durable
}

// Prepare writes Freeze's blob as its own capture would make it; Freeze
// writes over it only the pages that differ, and the file it names holds its
// blob exactly (the record's checksum), changed guest or not.
TEST_F(SessionTest, FreezePatchesPreparesDraftIntoExactlyItsBlob) {
  const std::string draft = dir_ + "/frozen-draft.blob";
  struct Case {
    bool hashed, change;
    const char* what;
  };
  for (const Case& c : {Case{false, false, "nothing changed"},
                        Case{false, true, "pages written between Prepare and Freeze"},
                        Case{true, false, "nothing changed, contents hashed at Freeze only"}}) {
    SCOPED_TRACE(c.what);
    auto s = Open();
    ASSERT_TRUE(s);
    v1::AttachRequest q = KernelAttach(memfd_);
    q.set_hash_contents(c.hashed);
    Result<v1::GmemInfo> g = s->Attach(q);
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(Exists(draft));
    if (c.change) guest_.Fill(512 * 1024, 256 * 1024, 0xcd);  // holes become pages
    Result<v1::PhaseReply> r = s->Freeze(PausedFreeze());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find(" pages written, the rest as Prepare wrote them"),
              std::string::npos)
        << r->message();
    // A capture equal to Prepare's: the draft given Freeze's time, not encoded again.
    EXPECT_EQ(r->message().find("its draft given this capture's time") != std::string::npos,
              !c.hashed && !c.change)
        << r->message();
    EXPECT_FALSE(Exists(draft));  // renamed to the frozen blob's name
    const v1::SessionRecord rec = ReadRecord(dir_);
    Result<std::string> bytes = ReadWholeFile(dir_ + "/" + rec.frozen_blob());
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ(bytes->size(), rec.frozen_blob_bytes());
    EXPECT_EQ(XXH3_64bits(bytes->data(), bytes->size()), rec.frozen_blob_xxh3());
    // Byte for byte what encoding the frozen snapshot makes, restamped or not.
    Snapshot frozen;
    ASSERT_TRUE(DecodeFdt(*bytes, &frozen).ok());
    std::string encoded;
    ASSERT_TRUE(EncodeFdt(frozen, &encoded).ok());
    EXPECT_TRUE(encoded == *bytes);
    ASSERT_TRUE(s->Cancel().ok());
    ASSERT_TRUE(s->Detach(g->token()).ok());
  }
}

// The inodes of this process's open memfds named `name` (/proc/self/fd).
std::vector<ino_t> MemfdInodesNamed(const std::string& name) {
  std::vector<ino_t> inodes;
  for (int fd = 3; fd < 4096; ++fd) {
    Result<std::string> link = OwnFdLink(fd);
    struct stat st;
    if (link.ok() && link->find("/memfd:" + name) == 0 && ::fstat(fd, &st) == 0)
      inodes.push_back(st.st_ino);
  }
  return inodes;
}

// Prepare writes the draft of Freeze's blob into a memfd too; a REEXEC
// Freeze overwrites the pages that differ and hands that memfd over sealed
// (no copy of the whole blob inside the blackout). It holds the frozen blob
// exactly, changed guest or not, and the new side restores from it; the
// same when the pages are overwritten beside the blob's durable write.
TEST_F(ReexecSessionTest, FreezeHandsOverPreparesDraftMemfdWithWhatChangedWritten) {
  for (int run = 0; run < 4; ++run) {
    const bool change = run % 2 == 1, beside = run >= 2;
    SCOPED_TRACE(change ? "pages written between Prepare and Freeze" : "nothing changed");
    SCOPED_TRACE(beside ? "overwritten on a thread beside the blob's write" : "overwritten first");
    std::vector<std::string> argv;
    v1::SessionRecord rec;
    ino_t drafted = 0;
    {
      SessionOptions o = Opts();
      o.default_transport = v1::REEXEC;         // what the draft memfd is made for
      if (beside) o.stage_blob_ahead_from = 0;  // however few pages differ
      o.on_exec_ready = [&argv](std::vector<std::string> a) { argv = std::move(a); };
      Result<std::unique_ptr<Session>> old = Session::Open(o, &opener_);
      ASSERT_TRUE(old.ok()) << old.status().ToString();
      ASSERT_TRUE((*old)->Attach(KernelAttach(memfd_)).ok());  // FINISHED: a new session
      ASSERT_TRUE(MemfdInodesNamed(BlobMemfd::kName).empty());
      ASSERT_TRUE((*old)->Prepare().ok());
      const std::vector<ino_t> after_prepare = MemfdInodesNamed(BlobMemfd::kName);
      ASSERT_EQ(after_prepare.size(), 1u);
      drafted = after_prepare[0];
      if (change) guest_.Fill(512 * 1024, 256 * 1024, 0xcd);  // holes become pages
      v1::FreezeRequest f = PausedFreeze();
      f.set_transport(v1::REEXEC);
      Result<v1::PhaseReply> fr = (*old)->Freeze(f);
      ASSERT_TRUE(fr.ok()) << fr.status().ToString();
      rec = ReadRecord(dir_);
    }
    SessionOptions o = NewSideOpts(argv);
    ASSERT_GE(o.adopted.blob_fd, 0);
    struct stat st;
    ASSERT_EQ(::fstat(o.adopted.blob_fd, &st), 0);
    EXPECT_EQ(st.st_ino, drafted);  // Prepare's memfd, not a copy made at Freeze
    EXPECT_EQ(::pwrite(o.adopted.blob_fd, "X", 1, 0), -1);  // sealed
    EXPECT_EQ(::ftruncate(o.adopted.blob_fd, 0), -1);
    std::string carried(static_cast<size_t>(st.st_size), '\0');
    ASSERT_EQ(::pread(o.adopted.blob_fd, &carried[0], carried.size(), 0),
              static_cast<ssize_t>(carried.size()));
    Result<std::string> frozen = ReadWholeFile(dir_ + "/" + rec.frozen_blob());
    ASSERT_TRUE(frozen.ok()) << frozen.status().ToString();
    EXPECT_EQ(carried, *frozen);
    EXPECT_EQ(XXH3_64bits(carried.data(), carried.size()), rec.frozen_blob_xxh3());
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Restore(v1::RestoreRequest()).ok());
    Result<v1::VerifyReply> v = (*s)->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
    ASSERT_TRUE((*s)->Finish().ok());
  }
}

// A Freeze in another format than the draft's writes its blob whole, and
// the draft goes.
TEST_F(SessionTest, FreezeInAnotherFormatWritesItsBlobWholeAndDropsTheDraft) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());  // the draft in the default format, FDT
  ASSERT_TRUE(Exists(dir_ + "/frozen-draft.blob"));
  v1::FreezeRequest f = PausedFreeze();
  f.set_format(v1::PROTO);
  Result<v1::PhaseReply> r = s->Freeze(f);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->message().find("pages written"), std::string::npos) << r->message();
  EXPECT_FALSE(Exists(dir_ + "/frozen-draft.blob"));
  const v1::SessionRecord rec = ReadRecord(dir_);
  Result<std::string> bytes = ReadWholeFile(dir_ + "/" + rec.frozen_blob());
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  EXPECT_EQ(XXH3_64bits(bytes->data(), bytes->size()), rec.frozen_blob_xxh3());
  EXPECT_EQ(bytes->compare(0, 8, "KHODSNAP"), 0);  // the proto frame
}

TEST_F(SessionTest, CancelFromPreparedRemovesTheDraft) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(Exists(dir_ + "/frozen-draft.blob"));
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_FALSE(Exists(dir_ + "/frozen-draft.blob"));
}

// Prepare's draft is named by no record: it goes before each record write
// whose room it may be on a full state dir (Cancel's, a repeated Prepare's,
// a start's), so that it is gone even where that write fails, and a way out
// (Cancel, a restart) has its room.
TEST_F(SessionTest, PreparesDraftGoesBeforeTheRecordWritesThatMayNeedItsRoom) {
  const std::string draft = dir_ + "/frozen-draft.blob";
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(Exists(draft));
    ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
    EXPECT_FALSE(s->Cancel().ok());
    EXPECT_FALSE(Exists(draft)) << "after a Cancel whose record write failed";
    EXPECT_EQ(s->phase(), v1::PREPARED);
    ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(Exists(draft));
    ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
    EXPECT_FALSE(s->Prepare().ok());
    EXPECT_FALSE(Exists(draft)) << "after a Prepare whose record write failed";
    EXPECT_EQ(s->phase(), v1::PREPARED);
    ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
    ASSERT_TRUE(s->Prepare().ok());
  }
  ASSERT_TRUE(Exists(draft));  // what a khod stopped in PREPARED leaves
  ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
  Result<std::unique_ptr<Session>> failed = Session::Open(Opts(), &opener_);
  EXPECT_FALSE(failed.ok());
  EXPECT_FALSE(Exists(draft)) << "after a start whose record write failed";
  ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
  Result<v1::PhaseReply> f = s->Freeze(PausedFreeze());  // its blob written whole
  ASSERT_TRUE(f.ok()) << f.status().ToString();
}

// A record write that fails once its rename is done (the state dir's fsync,
// EIO), whose write-back of the record before it then succeeds: the status
// that write-back publishes is the session's after the call's undo, listing
// the files khod still holds (khod_fd, which the VMM takes them back by) and
// none it let go.
class FailedDirSyncTest : public SessionTest {
 protected:
  std::unique_ptr<Session> OpenWithFaults() {
    SessionOptions o = Opts();
    o.after_record_written_for_test = [this] {
      return fail_next_.exchange(false)
                 ? Status::IoError("fsync " + dir_ + ": Input/output error (injected)")
                 : Status::Ok();
    };
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // Attach, Prepare and a dir Freeze, restored here when `restore`.
  void HandOverHere(Session* s, bool restore) {
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
    if (!restore) return;
    Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

  std::atomic<bool> fail_next_{false};
};

TEST_F(FailedDirSyncTest, AFailedFinishStillListsTheRestoredFilesKhodHolds) {
  auto s = OpenWithFaults();
  ASSERT_TRUE(s);
  ASSERT_NO_FATAL_FAILURE(HandOverHere(s.get(), /*restore=*/true));
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(s->phase(), v1::VERIFIED) << FirstDifferenceOf(*v);
  const v1::StatusReply held = s->GetStatus();
  ASSERT_EQ(held.gmems_size(), 1);
  const int khod_fd = held.gmems(0).khod_fd();
  ASSERT_GT(khod_fd, 0);
  fail_next_ = true;
  Result<v1::PhaseReply> f = s->Finish();
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("the session record was not written, so nothing changed"),
            std::string::npos)
      << f.status().ToString();
  const v1::StatusReply st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::VERIFIED);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::VERIFIED);
  ASSERT_EQ(st.gmems_size(), 1);
  EXPECT_EQ(st.gmems(0).khod_fd(), khod_fd) << "the status lists no fd of the file khod holds";
  EXPECT_TRUE(IsOpen(khod_fd));
  Result<v1::PhaseReply> again = s->Finish();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems(0).khod_fd(), 0);
}

TEST_F(FailedDirSyncTest, AFailedRestoreListsNoFdItClosed) {
  auto s = OpenWithFaults();
  ASSERT_TRUE(s);
  ASSERT_NO_FATAL_FAILURE(HandOverHere(s.get(), /*restore=*/false));
  fail_next_ = true;
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("the session record was not written, so nothing changed"),
            std::string::npos)
      << r.status().ToString();
  const v1::StatusReply st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::HANDED_OVER);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::HANDED_OVER);
  ASSERT_EQ(st.gmems_size(), 1);
  EXPECT_EQ(st.gmems(0).khod_fd(), 0)
      << "the status lists fd " << st.gmems(0).khod_fd() << ", which the failed Restore closed";
  r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const int khod_fd = s->GetStatus().gmems(0).khod_fd();
  EXPECT_GT(khod_fd, 0);
  EXPECT_TRUE(IsOpen(khod_fd));
}

// Cancel in the khod that restored its own handover: the IDLE status lists
// the attached file, and no fd of the restored one, which Cancel closed.
TEST_F(FailedDirSyncTest, CancelAfterARestoreHereListsNoKhodFd) {
  auto s = OpenWithFaults();
  ASSERT_TRUE(s);
  ASSERT_NO_FATAL_FAILURE(HandOverHere(s.get(), /*restore=*/true));
  const int khod_fd = s->GetStatus().gmems(0).khod_fd();
  ASSERT_GT(khod_fd, 0);
  fail_next_ = true;
  ASSERT_FALSE(s->Cancel().ok());
  v1::StatusReply st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::RESTORED);
  ASSERT_EQ(st.gmems_size(), 1);
  EXPECT_EQ(st.gmems(0).khod_fd(), khod_fd);  // still held: nothing changed
  EXPECT_TRUE(IsOpen(khod_fd));
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::IDLE);
  ASSERT_EQ(st.gmems_size(), 1);  // still attached
  EXPECT_EQ(st.gmems(0).khod_fd(), 0)
      << "the status lists fd " << st.gmems(0).khod_fd() << ", which Cancel closed";
}

// Freeze writes one record, HANDED_OVER, after the handover: a handover that
// fails leaves the durable record as Prepare wrote it (not one write more)
// and no frozen blob on disk.
TEST_F(SessionTest, FailedSendLeavesPreparedAsItWasNamingNoFrozenBlob) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  const uint64_t prepared_generation = ReadRecord(dir_).generation();
  v1::FreezeRequest f = PausedFreeze();
  f.set_dir(BlockedHandoverDir(dir_));
  Result<v1::PhaseReply> r = s->Freeze(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("dir handover failed; still PREPARED"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(s->phase(), v1::PREPARED);
  v1::SessionRecord rec = ReadRecord(dir_);
  EXPECT_EQ(rec.generation(), prepared_generation);
  for (const std::string& n : DirNames(dir_)) EXPECT_NE(n.rfind("frozen-", 0), 0u) << n;
  EXPECT_EQ(rec.phase(), v1::PREPARED);
  EXPECT_EQ(rec.frozen_blob(), "");
  EXPECT_EQ(rec.frozen_blob_bytes(), 0u);
  EXPECT_EQ(rec.frozen_blob_xxh3(), 0u);
  EXPECT_FALSE(rec.prepared_blob().empty());
  EXPECT_EQ(s->GetStatus().blob_bytes(), 0u);
  // And Freeze works again from there.
  Result<v1::PhaseReply> again = s->Freeze(PausedFreeze());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::HANDED_OVER);
}

// An older khod wrote FROZEN before its handover: such a record rolls back to
// PREPARED at start (the handover had not been made), and its frozen blob
// goes once the PREPARED record is durable.
TEST_F(SessionTest, AnOlderKhodsFrozenRecordRollsBackToPrepared) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  v1::SessionRecord rec = ReadRecord(dir_);
  const std::string frozen = rec.frozen_blob();
  ASSERT_FALSE(frozen.empty());
  rec.set_phase(v1::FROZEN);
  rec.clear_transport();
  rec.clear_handover_dir();
  ASSERT_NO_FATAL_FAILURE(WriteRecord(dir_, rec));
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_NE(s->recovery().find("rolled back FROZEN -> PREPARED"), std::string::npos)
      << s->recovery();
  rec = ReadRecord(dir_);
  EXPECT_EQ(rec.phase(), v1::PREPARED);
  EXPECT_EQ(rec.frozen_blob(), "");
  EXPECT_FALSE(Exists(dir_ + "/" + frozen));
  Result<v1::PhaseReply> again = s->Freeze(PausedFreeze());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::HANDED_OVER);
}

// What Freeze is done with waits for the next Prepare to be freed (not the
// blackout), but Freezes that fail again and again do not pile it up.
TEST_F(SessionTest, BuffersFreezeKeepsAreBoundedAndFreedByPrepare) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  EXPECT_EQ(s->buffers_kept_past_blackout(), 0u);
  v1::FreezeRequest f = PausedFreeze();
  f.set_dir(BlockedHandoverDir(dir_));
  for (int i = 0; i < 10; ++i) {
    ASSERT_FALSE(s->Freeze(f).ok());
    EXPECT_GE(s->buffers_kept_past_blackout(), 1u) << i;
    EXPECT_LE(s->buffers_kept_past_blackout(), 4u) << i;
  }
  ASSERT_TRUE(s->Prepare().ok());
  EXPECT_EQ(s->buffers_kept_past_blackout(), 0u);
}

TEST_F(SessionTest, RestoreChecksTheBlobEvenWhenTheRecordedHashIsZero) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  // A record naming a frozen blob with xxh3 0 (a blob whose hash is 0, or a
  // damaged field): 0 is a value to compare, not "no check".
  ASSERT_NO_FATAL_FAILURE(SetRecordedFrozenBlobXxh3(dir_, 0));
  auto s = Open();
  ASSERT_EQ(s->phase(), v1::HANDED_OVER);
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("corrupt handover"), std::string::npos);
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
}

// The record's XXH3 of the frozen blob is Restore's one check of the bytes
// it decodes (CodecOptions::recorded_xxh3): a carried blob whose own FDT
// checksum field is off, recorded as it is, restores (the decode did not
// compute that checksum again), and the same bytes against a record one bit
// off are a corrupt handover that restores nothing.
TEST_F(SessionTest, RestoreChecksTheCarriedBytesOnceAgainstTheRecord) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  const std::string carried = dir_ + "/handover/handover.blob";
  Result<std::string> read = ReadWholeFile(carried);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  std::string blob = *read;
  int len = 0;
  const void* sum = fdt_getprop(blob.data(), 0, "checksum", &len);
  ASSERT_TRUE(sum != nullptr && len == 8);
  blob[static_cast<const char*>(sum) - blob.data() + 2] ^= 0x40;
  {
    const int fd = ::open(carried.c_str(), O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, blob.data(), blob.size()), static_cast<ssize_t>(blob.size()));
    ::close(fd);
  }
  Snapshot own;
  ASSERT_EQ(DecodeAny(blob, &own).code(), Status::Code::kCorruption);  // by its own checksum
  for (const bool one_bit_off : {true, false}) {
    SCOPED_TRACE(one_bit_off ? "record one bit off" : "record of these bytes");
    ASSERT_NO_FATAL_FAILURE(SetRecordedFrozenBlobXxh3(
        dir_, XXH3_64bits(blob.data(), blob.size()) ^ (one_bit_off ? 1 : 0)));
    auto s = Open();
    ASSERT_EQ(s->phase(), v1::HANDED_OVER);
    Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
    if (one_bit_off) {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("corrupt handover"), std::string::npos)
          << r.status().ToString();
      EXPECT_EQ(s->phase(), v1::HANDED_OVER);
    } else {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(s->phase(), v1::RESTORED);
    }
  }
}

// /dev/liveupdate stand-in for an in-process LUO handover: preserved files
// are dups of the very files (the kernel's memfd_luo keeps the folios too).
class DupLuo : public LuoDevice {
 public:
  int Open(const std::string&) override { return 1000; }
  int Ioctl(int, unsigned long req, void* arg) override {
    if (req == luo::kIoctlCreateSession)
      static_cast<luo::CreateSession*>(arg)->fd = 2000;
    else if (req == luo::kIoctlRetrieveSession)
      static_cast<luo::RetrieveSession*>(arg)->fd = 2001;
    else if (req == luo::kSessionPreserveFd) {
      auto* a = static_cast<luo::PreserveFd*>(arg);
      preserved[a->token] = ::dup(a->fd);
    } else if (req == luo::kSessionRetrieveFd) {
      auto* a = static_cast<luo::RetrieveFd*>(arg);
      a->fd = ::dup(preserved.at(a->token));
    }
    return 0;
  }
  void Close(int) override {}
  std::map<uint64_t, int> preserved;
};

Mempolicy PolicyOf(int fd) {
  void* p = ::mmap(nullptr, 4096, PROT_NONE, MAP_SHARED, fd, 0);
  Result<Mempolicy> m = GetMempolicyAt(p);
  ::munmap(p, 4096);
  return m.ok() ? *m : Mempolicy();
}

void SetPolicy(int fd, int mode, std::vector<uint64_t> nodes) {
  void* p = ::mmap(nullptr, 1 << 20, PROT_NONE, MAP_SHARED, fd, 0);
  Mempolicy m;
  m.mode = mode;
  m.nodemask = std::move(nodes);
  // mbind(MPOL_DEFAULT) is a no-op on a mapping that has no policy of its
  // own: give it one first, so the default replaces the inode's.
  if (mode == MPOL_DEFAULT) {
    Mempolicy local;
    local.mode = MPOL_LOCAL;
    EXPECT_TRUE(SetMempolicy(p, 1 << 20, local).ok());
  }
  EXPECT_TRUE(SetMempolicy(p, 1 << 20, m).ok());
  ::munmap(p, 1 << 20);
}

TEST_F(SessionTest, RestoreAfterALuoAdoptReappliesTheMempolicy) {
  SetPolicy(memfd_, MPOL_PREFERRED, {1});
  ASSERT_EQ(PolicyOf(memfd_).mode, MPOL_PREFERRED);
  DupLuo luo;
  SessionOptions o = Opts();
  o.luo_device = &luo;
  Result<std::unique_ptr<Session>> sr = Session::Open(o, &opener_);
  ASSERT_TRUE(sr.ok());
  Session* s = sr->get();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  v1::FreezeRequest f = PausedFreeze();
  f.set_transport(v1::LUO);
  Result<v1::PhaseReply> fr = s->Freeze(f);
  ASSERT_TRUE(fr.ok()) << fr.status().ToString();
  // What memfd_luo does: the file comes back with the default policy.
  SetPolicy(memfd_, MPOL_DEFAULT, {});
  ASSERT_EQ(PolicyOf(memfd_).mode, MPOL_DEFAULT);
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  EXPECT_EQ(PolicyOf(memfd_).mode, MPOL_PREFERRED);  // same inode: re-applied
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
  for (auto& kv : luo.preserved) ::close(kv.second);
}

// DupLuo that also remembers what was closed and lets a test act (inject a
// fault, refuse) when a file is preserved.
class ScriptedLuo : public DupLuo {
 public:
  int Ioctl(int fd, unsigned long req, void* arg) override {
    ++ioctls;
    if (req == luo::kSessionPreserveFd && on_preserve) {
      int rc = on_preserve(static_cast<luo::PreserveFd*>(arg)->token);
      if (rc != 0) return rc;
    }
    if (req == luo::kIoctlRetrieveSession && retrieve_session_rc != 0) return retrieve_session_rc;
    return DupLuo::Ioctl(fd, req, arg);
  }
  void Close(int fd) override { closed.push_back(fd); }
  std::function<int(uint64_t token)> on_preserve;
  int retrieve_session_rc = 0;  // RETRIEVE_SESSION's answer when not 0 (-ENOENT: no such session)
  int ioctls = 0;
  std::vector<int> closed;
};

class LuoSessionTest : public SessionTest {
 protected:
  void TearDown() override {
    for (auto& kv : luo_.preserved) ::close(kv.second);
    SessionTest::TearDown();
  }
  // `boot_id`: this khod's boot; "" this machine's. A khod after a kexec
  // runs on another boot (kAfterKexec).
  SessionOptions LuoOpts(const std::string& boot_id = "") {
    SessionOptions o = Opts();
    o.default_transport = v1::LUO;
    o.luo_device = &luo_;
    o.debugfs_root = dir_ + "/debugfs";
    o.boot_id = boot_id;
    return o;
  }
  std::unique_ptr<Session> OpenLuo(const std::string& boot_id = "") {
    Result<std::unique_ptr<Session>> s = Session::Open(LuoOpts(boot_id), &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  static constexpr char kAfterKexec[] = "boot-after-kexec";
  v1::FreezeRequest LuoFreeze() {
    v1::FreezeRequest f = PausedFreeze();
    f.set_transport(v1::LUO);
    return f;
  }

  ScriptedLuo luo_;
};

TEST_F(LuoSessionTest, AttachRefusesTheBlobTokenWhenLuoIsTheDefaultTransport) {
  auto s = OpenLuo();
  ASSERT_TRUE(s);
  v1::AttachRequest q = KernelAttach(memfd_);
  q.set_token(kLuoBlobToken);
  Result<v1::GmemInfo> g = s->Attach(q);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
  for (const char* part : {"Attach", "luo", "0x4b484f44424c4f42", "'KHODBLOB'", "reserved"})
    EXPECT_NE(g.status().message().find(part), std::string::npos)
        << part << " in " << g.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  EXPECT_EQ(ReadRecord(dir_).gmems_size(), 0);
  // Tokens khod picks itself skip it too.
  q.set_token(kLuoBlobToken - 1);
  ASSERT_TRUE(s->Attach(q).ok());
  q.set_token(0);
  q.clear_memslots();
  q.set_vm_token(0);
  const TestMemfd other(4096, "other");  // another file: one is attached once
  q.mutable_kernel()->set_fd(other.fd());
  Result<v1::GmemInfo> picked = s->Attach(q);
  ASSERT_TRUE(picked.ok()) << picked.status().ToString();
  EXPECT_EQ(picked->token(), kLuoBlobToken + 1);
}

TEST_F(LuoSessionTest, SendStillRefusesTheBlobTokenOfARecordFromBeforeTheAttachCheck) {
  {
    // A session whose default was dir took the token, as any khod before the
    // Attach check did whatever its transport.
    auto s = Open();
    v1::AttachRequest q = KernelAttach(memfd_);
    q.set_token(kLuoBlobToken);
    ASSERT_TRUE(s->Attach(q).ok());
  }
  auto s = OpenLuo();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->GetStatus().gmems_size(), 1) << s->recovery();
  ASSERT_TRUE(s->Prepare().ok());
  Result<v1::PhaseReply> f = s->Freeze(LuoFreeze());
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), Status::Code::kInvalidArgument) << f.status().ToString();
  EXPECT_NE(f.status().message().find("'KHODBLOB'"), std::string::npos) << f.status().ToString();
  EXPECT_NE(f.status().message().find("still PREPARED"), std::string::npos)
      << f.status().ToString();
  EXPECT_EQ(luo_.ioctls, 0);  // refused before the device was touched
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::PREPARED);
}

// A Send that fails needs no record write to undo it (the durable record is
// still Prepare's): record writes that fail meanwhile change nothing, the
// LUO session is closed, and no frozen blob is left; a restart resumes
// PREPARED and the live update goes on from there.
TEST_F(LuoSessionTest, FailedSendNeedsNoRecordWriteToUndoIt) {
  std::string prepared;
  {
    auto s = OpenLuo();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    prepared = ReadRecord(dir_).prepared_blob();
    luo_.on_preserve = [this](uint64_t token) {
      if (token != kLuoBlobToken) return 0;
      BreakRecordWrites();
      return -EOPNOTSUPP;
    };
    Result<v1::PhaseReply> f = s->Freeze(LuoFreeze());
    luo_.on_preserve = nullptr;
    ASSERT_FALSE(f.ok());
    for (const char* part : {"Freeze: luo handover failed; still PREPARED", "preserve blob memfd",
                             "kernel refused (Operation not supported)"})
      EXPECT_NE(f.status().message().find(part), std::string::npos)
          << part << " in " << f.status().ToString();
    EXPECT_EQ(f.status().message().find("record"), std::string::npos) << f.status().ToString();
    EXPECT_EQ(s->phase(), v1::PREPARED);
    // The LUO session was closed: the kernel drops what it held.
    EXPECT_EQ(std::count(luo_.closed.begin(), luo_.closed.end(), 2000), 1);
    for (const std::string& n : DirNames(dir_)) EXPECT_NE(n.rfind("frozen-", 0), 0u) << n;
  }
  MendRecordWrites();
  auto s = OpenLuo();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_NE(s->recovery().find("resumed PREPARED"), std::string::npos) << s->recovery();
  v1::SessionRecord rec = ReadRecord(dir_);
  EXPECT_EQ(rec.frozen_blob(), "");
  EXPECT_EQ(rec.prepared_blob(), prepared);
  EXPECT_TRUE(Exists(dir_ + "/" + prepared));
  luo_.closed.clear();
  Result<v1::PhaseReply> again = s->Freeze(LuoFreeze());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  rec = ReadRecord(dir_);
  EXPECT_EQ(rec.phase(), v1::HANDED_OVER);
  EXPECT_TRUE(Exists(dir_ + "/" + rec.frozen_blob()));
  // This session stays open until the kexec; only the device was let go.
  EXPECT_EQ(luo_.closed, std::vector<int>{1000});
}

TEST_F(LuoSessionTest, HandedOverRecordThatCannotBeWrittenUndoesTheSend) {
  auto s = OpenLuo();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  // Every preserve succeeds; the record writes after them fail.
  luo_.on_preserve = [this](uint64_t token) {
    if (token != kLuoBlobToken) BreakRecordWrites();
    return 0;
  };
  Result<v1::PhaseReply> f = s->Freeze(LuoFreeze());
  luo_.on_preserve = nullptr;
  ASSERT_FALSE(f.ok());
  for (const char* part : {"Freeze: the luo handover was undone", "still PREPARED",
                           "the session record was not written", "session.rec.tmp"})
    EXPECT_NE(f.status().message().find(part), std::string::npos)
        << part << " in " << f.status().ToString();
  // Abort closed the LUO session; the blob no record names is gone.
  EXPECT_EQ(std::count(luo_.closed.begin(), luo_.closed.end(), 2000), 1);
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::PREPARED);
  for (const std::string& n : DirNames(dir_)) EXPECT_NE(n.rfind("frozen-", 0), 0u) << n;
  // Restore and Cancel see a consistent PREPARED session, not a handover
  // without a transport.
  EXPECT_EQ(s->Restore(v1::RestoreRequest()).status().code(), Status::Code::kFailedPrecondition);
  MendRecordWrites();
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::IDLE);
}

// A luo handover is held by the LUO session fd of the khod that sent it: a
// khod stopped or killed before the kexec closes it, and the kernel drops
// what it preserved. Started again on the boot every file was attached on
// (no kexec came), the session does not say HANDED_OVER: it goes back to
// PREPARED as a PREPARED record does, each file taken again from its VMM,
// the frozen blob an orphan, saying why, and Freeze works again.
TEST_F(LuoSessionTest, ARestartOnTheSameBootRollsTheDeadLuoHandoverBackToPrepared) {
  for (const bool restored : {false, true}) {
    SCOPED_TRACE(restored ? "restored and verified here" : "handed over");
    TempDir dir(restored ? "luo-died-restored" : "luo-died-handed-over");
    SessionOptions o = LuoOpts();
    o.state_dir = dir.path();
    std::string frozen;
    v1::Phase was = v1::PHASE_UNSPECIFIED;
    {
      Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
      ASSERT_TRUE((*s)->Prepare().ok());
      Result<v1::PhaseReply> f = (*s)->Freeze(LuoFreeze());
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      if (restored) {
        Result<v1::PhaseReply> r = (*s)->Restore(v1::RestoreRequest());
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        ASSERT_TRUE((*s)->Verify().ok());
      }
      was = (*s)->phase();
      frozen = ReadRecord(dir.path()).frozen_blob();
      ASSERT_FALSE(frozen.empty());
      // The khod stops, its LUO session with it: a stop in HANDED_OVER says
      // that it drops the handover.
      ::testing::internal::CaptureStderr();
      s->reset();
      const std::string said = ::testing::internal::GetCapturedStderr();
      EXPECT_EQ(said.find("khod: WARNING: this stop drops the luo handover") != std::string::npos,
                was == v1::HANDED_OVER)
          << said;
    }
    Result<std::unique_ptr<Session>> opened = Session::Open(o, &opener_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Session* s = opened->get();
    const std::string r = s->recovery();
    EXPECT_EQ(s->phase(), v1::PREPARED) << r;
    EXPECT_EQ(r.rfind("rolled back " + v1::Phase_Name(was) +
                          " -> PREPARED: the luo session died with the previous khod on this "
                          "boot: a kexec would carry nothing; Freeze again, or Cancel",
                      0),
              0u)
        << r;
    const v1::StatusReply st = s->GetStatus();
    EXPECT_EQ(st.phase(), v1::PREPARED);
    EXPECT_EQ(st.recovery(), r);
    EXPECT_EQ(st.blob_bytes(), 0u);
    EXPECT_EQ(st.last_verdict(), "");
    ASSERT_EQ(st.gmems_size(), 1);
    EXPECT_EQ(st.gmems(0).source().find("not held"), std::string::npos)  // taken again
        << st.gmems(0).source();
    const v1::SessionRecord rec = ReadRecord(dir.path());
    EXPECT_EQ(rec.phase(), v1::PREPARED);
    EXPECT_EQ(rec.frozen_blob(), "");
    EXPECT_FALSE(Exists(dir.path() + "/" + frozen)) << "the orphaned frozen blob stays";
    for (auto& kv : luo_.preserved) ::close(kv.second);
    luo_.preserved.clear();
    Result<v1::PhaseReply> f = s->Freeze(LuoFreeze());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(s->phase(), v1::HANDED_OVER);
    EXPECT_EQ(luo_.preserved.size(), 2u);  // the file and the blob, preserved again
  }
}

// The same restart of a session of MODEL guests alone, which has no kernel
// file whose boot shows that no kexec came: the record says which boot the
// handover was sent on. MODEL guests lived in the khod that died, so the
// session goes back to IDLE, never to a HANDED_OVER a kexec would find empty;
// on another boot (a kexec came) the handover stands.
TEST_F(LuoSessionTest, ARestartOnTheBootTheHandoverWasSentOnEndsADeadModelOnlyLuoHandover) {
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(2 << 20);
  for (const char* boot : {"boot-sent-on", kAfterKexec}) {
    SCOPED_TRACE(boot);
    TempDir dir(std::string("luo-model-") + boot);
    SessionOptions o = LuoOpts("boot-sent-on");
    o.state_dir = dir.path();
    std::string frozen;
    {
      Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
      ASSERT_TRUE(s.ok()) << s.status().ToString();
      ASSERT_TRUE((*s)->Attach(q).ok());
      ASSERT_TRUE((*s)->Prepare().ok());
      Result<v1::PhaseReply> f = (*s)->Freeze(LuoFreeze());
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      const v1::SessionRecord rec = ReadRecord(dir.path());
      EXPECT_EQ(rec.handed_over_boot_id(), "boot-sent-on");
      frozen = rec.frozen_blob();
      ASSERT_FALSE(frozen.empty());
      ::testing::internal::CaptureStderr();
      s->reset();
      (void)::testing::internal::GetCapturedStderr();
    }
    o.boot_id = boot;
    Result<std::unique_ptr<Session>> opened = Session::Open(o, &opener_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Session* s = opened->get();
    const v1::SessionRecord rec = ReadRecord(dir.path());
    if (std::string(boot) == kAfterKexec) {
      EXPECT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
      EXPECT_EQ(rec.frozen_blob(), frozen);
      continue;
    }
    EXPECT_EQ(s->phase(), v1::IDLE) << s->recovery();
    EXPECT_EQ(s->recovery().rfind("rolled back HANDED_OVER -> IDLE: the luo session died with the "
                                  "previous khod on this boot",
                                  0),
              0u)
        << s->recovery();
    EXPECT_EQ(rec.phase(), v1::IDLE);
    EXPECT_EQ(rec.frozen_blob(), "");
    EXPECT_EQ(rec.handed_over_boot_id(), "");
    EXPECT_FALSE(Exists(dir.path() + "/" + frozen)) << "the orphaned frozen blob stays";
    for (auto& kv : luo_.preserved) ::close(kv.second);
    luo_.preserved.clear();
  }
}

// A restarted new side whose LUO session is gone (the kernel finished it when
// the previous khod's fd closed: RETRIEVE_SESSION answers ENOENT) restores
// from the state-dir copy, verifies, and finishes: there is no retrieved
// session to finish, which is nothing left to do, not a refusal.
TEST_F(LuoSessionTest, FinishAfterARestoreFromTheStateDirCopyIsNotRefused) {
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(2 << 20);
  {
    auto s = OpenLuo();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Attach(q).ok());
    ASSERT_TRUE(s->Prepare().ok());
    Result<v1::PhaseReply> f = s->Freeze(LuoFreeze());
    ASSERT_TRUE(f.ok()) << f.status().ToString();
  }
  luo_.retrieve_session_rc = -ENOENT;
  auto s = OpenLuo(kAfterKexec);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("from state dir"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->differences_size(), 0) << FirstDifferenceOf(*v);
  ASSERT_EQ(s->phase(), v1::VERIFIED);
  Result<v1::PhaseReply> fin = s->Finish();
  ASSERT_TRUE(fin.ok()) << fin.status().ToString();
  EXPECT_EQ(s->phase(), v1::FINISHED);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::FINISHED);
}

TEST_F(LuoSessionTest, NewSideReportsTheKhoIncomingTreeInStatusAndRestore) {
  const std::string luo = LuoFdt(1);
  WriteKhoIn(dir_ + "/debugfs", KhoRootFdt("kho-v1", {{"LUO"}}), {{"LUO", luo}});
  {
    auto s = OpenLuo();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(LuoFreeze()).ok());
    EXPECT_EQ(s->GetStatus().kho_incoming(), "");  // the old side reads none
  }
  auto s = OpenLuo(kAfterKexec);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  const std::string want =
      "KHO incoming FDT: " + HumanBytes(KhoRootFdt("kho-v1", {{"LUO"}}).size()) +
      ", compatible kho-v1, sub-FDTs: LUO (luo-v1, " + HumanBytes(luo.size()) + ")";
  EXPECT_EQ(s->GetStatus().kho_incoming(), want);
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  EXPECT_NE(r->message().find("; " + want), std::string::npos) << r->message();
  EXPECT_EQ(r->message().find("warning"), std::string::npos) << r->message();
  EXPECT_EQ(s->GetStatus().kho_incoming(), want);
}

TEST_F(LuoSessionTest, NewSideWithoutAKhoTreeWarnsAndAMalformedOneIsNamed) {
  {
    auto s = OpenLuo();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(LuoFreeze()).ok());
  }
  {
    auto s = OpenLuo(kAfterKexec);
    EXPECT_NE(s->GetStatus().kho_incoming().find("KHO incoming FDT: none (" + dir_ +
                                                 "/debugfs/kho/in missing"),
              std::string::npos)
        << s->GetStatus().kho_incoming();
    Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find("warning: the handover was luo but this kernel shows no KHO "
                                "incoming tree under " +
                                dir_ + "/debugfs/kho/in"),
              std::string::npos)
        << r->message();
  }
  // A truncated root FDT: Status says what is wrong, Restore still works.
  const std::string fdt = KhoRootFdt("kho-v1", {{"LUO"}});
  WriteKhoIn(dir_ + "/debugfs", fdt.substr(0, 50), {});
  auto s = OpenLuo(kAfterKexec);  // RESTORED rolls back to HANDED_OVER
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  const std::string st = s->GetStatus().kho_incoming();
  EXPECT_EQ(st.rfind("KHO incoming FDT unusable: Corruption: " + dir_ + "/debugfs/kho/in/fdt", 0),
            0u)
      << st;
  EXPECT_NE(st.find("truncated: header says totalsize " + std::to_string(fdt.size()) +
                    ", the file has 50 bytes"),
            std::string::npos)
      << st;
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("KHO incoming FDT unusable"), std::string::npos) << r->message();
  EXPECT_EQ(r->message().find("warning"), std::string::npos) << r->message();
}

TEST_F(SessionTest, CorruptRecordIsRefusedNotDiscarded) {
  { auto s = Open(); }
  const std::string rec = dir_ + "/session.rec";
  Result<std::string> raw = ReadWholeFile(rec);
  std::string bad = *raw;
  bad[bad.size() - 1] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(rec, bad).ok());
  Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &opener_);
  EXPECT_EQ(s.status().code(), Status::Code::kCorruption);
  EXPECT_NE(s.status().message().find("move the state directory aside"), std::string::npos)
      << s.status().ToString();
  EXPECT_EQ(*ReadWholeFile(rec), bad);  // left for the operator
}

TEST_F(SessionTest, ModelGuestRoundTripsThroughRestoreModel) {
  auto s = Open();
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(uint64_t{4} << 30);
  q.mutable_model()->set_hstate_order(18);
  q.mutable_model()->set_populate(true);
  auto* a = q.add_attributes();
  a->set_first(0);
  a->set_count(512);
  a->set_value(8);
  Result<v1::GmemInfo> g = s->Attach(q);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->provenance(), "MODEL");
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  // The old side's model still holds the PFNs in this process; the restore
  // claims them in the same model, so this checks refusal or equality.
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
}

// A MODEL guest is made with the creation flags its Attach declares (they
// were recorded and then ignored: every MODEL guest was MMAP|INIT_SHARED).
TEST_F(SessionTest, AModelGuestHasTheFlagsItsAttachDeclares) {
  auto s = Open();
  v1::AttachRequest q;
  q.set_name("model-private");
  q.set_gmem_flags(1);  // MMAP, not INIT_SHARED
  q.mutable_model()->set_size(uint64_t{4} << 20);
  // A flag no guest_memfd has is refused, as KVM_CREATE_GUEST_MEMFD refuses it.
  v1::AttachRequest impossible = q;
  impossible.set_gmem_flags(4);
  impossible.set_name("impossible");
  const Status refused = s->Attach(impossible).status();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("unknown flags 4"), std::string::npos) << refused.ToString();
  // INIT_SHARED without MMAP, which Linux 6.18 makes (gmem-6.18-facts.md):
  // shared pages no one can map.
  v1::AttachRequest unmappable = q;
  unmappable.set_gmem_flags(2);
  unmappable.set_name("shared-unmappable");
  ASSERT_TRUE(s->Attach(unmappable).ok());
  ASSERT_TRUE(s->Detach(1).ok());
  ASSERT_TRUE(s->Attach(q).ok());
  ASSERT_TRUE(s->Prepare().ok());
  Result<v1::SnapshotReply> r = s->GetSnapshot(v1::SnapshotRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Snapshot snap;
  ASSERT_TRUE(DecodeAny(r->blob(), &snap).ok());
  ASSERT_EQ(snap.gmems.size(), 1u);
  EXPECT_EQ(snap.gmems[0].flags, 1u);
}

// A real memfd and a MODEL guest in one session: Verify counts the memfd's
// pages as real PFNs and the model's made-up frames as MODEL pages, apart,
// so a large MODEL guest never reads as that many real PFNs checked.
TEST_F(SessionTest, VerifyCountsRealPfnsAndModelPagesApart) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(uint64_t{64} << 20);
  q.mutable_model()->set_hstate_order(9);
  q.mutable_model()->set_populate(true);
  Result<v1::GmemInfo> g = s->Attach(q);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g->provenance(), "MODEL");
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
  // The memfd: 512 KiB written of 1 MiB, 128 resident pages, with their PFNs
  // where pagemap shows them (not in a sandbox without CAP_SYS_ADMIN).
  const bool pfns = ProbeKernel().pfns_readable;
  EXPECT_EQ(v->real_pages_compared(), 128u);
  EXPECT_EQ(v->real_pfns_compared(), pfns ? 128u : 0u);
  EXPECT_GT(v->real_hashes_compared(), 0u);
  EXPECT_EQ(v->real_kinds(), "shmem-memfd");
  // The MODEL guest: 64 MiB populated, 16384 pages, no contents to hash.
  EXPECT_EQ(v->model_pages_compared(), 16384u);
  EXPECT_EQ(v->model_hashes_compared(), 0u);
  // The old totals still add both.
  EXPECT_EQ(v->pages_compared(), 128u + 16384u);
  EXPECT_EQ(v->hashes_compared(), v->real_hashes_compared());
  // Status's verdict says them apart too.
  const std::string verdict = s->GetStatus().last_verdict();
  const std::string counts =
      std::string(pfns ? "128 real PFNs (shmem-memfd)"
                       : "128 real pages (shmem-memfd), 0 of them with a known PFN,") +
      " and " + std::to_string(v->real_hashes_compared()) +
      " content hashes unchanged; MODEL: 16384 pages compared";
  // Never "equal": KernelAttach declares a memslot, the VMM's declaration,
  // which no capture observes. Where pagemap hides PFNs, the PFNs (and the
  // folio flags read by them) were compared by neither capture: the memfd's
  // resident pages are not verified either.
  EXPECT_EQ(v->verdict(), "NOT VERIFIED");
  EXPECT_EQ(verdict.rfind("no difference where observable (" + counts + "); not verified: ", 0), 0u)
      << verdict;
  EXPECT_NE(verdict.find("1 memslot(s) of VM 0x1: the VMM's declaration, not read from the kernel"),
            std::string::npos)
      << verdict;
  if (pfns) {
    EXPECT_EQ(v->pages_unverified(), 0u);
  } else {
    EXPECT_EQ(v->pages_unverified(), 128u);
    EXPECT_NE(verdict.find("'guest0': 128 pages: resident on both sides compared, not their PFNs "
                           "or folio flags (PFN not seen by either capture"),
              std::string::npos)
        << verdict;
  }
}

// VERIFIED says the last verdict found no difference. A later Verify that
// finds one takes it back to RESTORED, durably, and Finish, which needs
// VERIFIED, is refused saying what is left, until a Verify finds none again.
TEST_F(SessionTest, AVerdictWithADifferenceTakesVerifiedBack) {
  auto s = Open();
  ASSERT_TRUE(s);
  v1::AttachRequest q = KernelAttach(memfd_);
  q.set_hash_contents(true);
  ASSERT_TRUE(s->Attach(q).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(s->phase(), v1::VERIFIED) << FirstDifferenceOf(*v);

  char page[4096];
  ASSERT_EQ(::pread(memfd_, page, sizeof page, 0), 4096);
  page[7] ^= 0x5a;
  ASSERT_EQ(::pwrite(memfd_, page, sizeof page, 0), 4096);
  v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_GT(v->differences_size(), 0);
  EXPECT_EQ(s->phase(), v1::RESTORED);
  EXPECT_EQ(s->GetStatus().phase(), v1::RESTORED);
  EXPECT_EQ(ReadRecord(dir_).phase(), v1::RESTORED);
  Result<v1::PhaseReply> f = s->Finish();
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("Finish needs phase VERIFIED, session is RESTORED (next: "
                                      "Verify; a verdict with a difference stays RESTORED"),
            std::string::npos)
      << f.status().ToString();

  page[7] ^= 0x5a;  // as frozen again
  ASSERT_EQ(::pwrite(memfd_, page, sizeof page, 0), 4096);
  v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->differences_size(), 0) << FirstDifferenceOf(*v);
  EXPECT_EQ(s->phase(), v1::VERIFIED);
  Result<v1::PhaseReply> fin = s->Finish();
  EXPECT_TRUE(fin.ok()) << fin.status().ToString();
}

// Status says how a handover was made only while one stands or stood: after
// a Cancel the record still holds the last one's transport and format, which
// a new session's status must not show as its own.
TEST_F(SessionTest, StatusNamesNoTransportOfAHandoverCancelled) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  EXPECT_EQ(s->GetStatus().transport(), v1::DIR);
  EXPECT_NE(s->GetStatus().blob_format(), v1::FORMAT_UNSPECIFIED);
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const v1::StatusReply st = s->GetStatus();
  EXPECT_EQ(st.phase(), v1::IDLE);
  EXPECT_EQ(st.transport(), v1::TRANSPORT_UNSPECIFIED);
  EXPECT_EQ(st.blob_format(), v1::FORMAT_UNSPECIFIED);
}

}  // namespace
}  // namespace khod
