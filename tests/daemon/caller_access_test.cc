// daemon/caller_access.h through Session::Attach and Restore: a caller other
// than root may have khod take memory only from processes it could ptrace
// itself (issue 11 item 3: a group member read PFNs and hashes of root's
// memory). Runs outside the sandbox (tag local): it needs uid 65534.
#include "daemon/caller_access.h"

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <future>
#include <set>
#include <string>
#include <thread>

#include "tests/support/fixture.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

constexpr uid_t kNobody = 65534;

// A process running as uid and gid 65534 that holds a 1 MiB memfd, dumpable
// or not, until the test ends.
class NobodyProcess {
 public:
  // `keep_caps`: it keeps root's permitted capabilities across its setuid.
  bool Start(bool dumpable, bool keep_caps = false) {
    int report[2], hold[2];
    if (::pipe(report) != 0 || ::pipe(hold) != 0) return false;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(report[0]);
      ::close(hold[1]);
      const TestMemfd guest(1 << 20, "nobody-guest");  // the child's, until it exits
      const int fd = guest.fd();
      if (keep_caps && ::prctl(PR_SET_KEEPCAPS, 1) != 0) ::_exit(98);
      if (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)
        ::_exit(99);
      ::prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0);
      if (::write(report[1], &fd, sizeof(fd)) != sizeof(fd)) ::_exit(97);
      // Until the test closes its end: 'n' makes it non-dumpable, as a
      // setuid program's exec would, and says so.
      char c;
      while (::read(hold[0], &c, 1) == 1) {
        if (c == 'n') ::prctl(PR_SET_DUMPABLE, 0);
        if (::write(report[1], &c, 1) != 1) ::_exit(96);
      }
      ::_exit(0);
    }
    ::close(report[1]);
    ::close(hold[0]);
    hold_ = hold[1];
    report_ = report[0];
    return ::read(report_, &fd_, sizeof(fd_)) == sizeof(fd_);
  }
  // Ends it and reaps it: its pid may be any other process's from here on.
  void KillAndReap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  bool BecomeNonDumpable() {
    char c = 'n';
    return ::write(hold_, &c, 1) == 1 && ::read(report_, &c, 1) == 1;
  }
  ~NobodyProcess() {
    if (hold_ >= 0) ::close(hold_);
    if (report_ >= 0) ::close(report_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  int hold_ = -1;
  int report_ = -1;
};

// What a caller other than root is told of any process it may not act on.
std::string NotYoursText(pid_t pid) {
  return "pid " + std::to_string(pid) +
         ": not a process you may act on (it must be yours, not privileged, and dumpable; as "
         "ptrace would allow)";
}

// A pid no process holds: a child's, reaped (the test skips were it reused).
pid_t ReapedPid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

class CallerAccessTest : public SessionTest {
 protected:
  v1::AttachRequest AttachOf(pid_t pid, int fd) {
    v1::AttachRequest q;
    q.set_name("guest");
    q.mutable_kernel()->set_pid(pid);
    q.mutable_kernel()->set_fd(fd);
    q.set_hash_contents(true);
    return q;
  }
  static PeerCred As(uid_t uid, gid_t gid) {
    PeerCred c;
    c.uid = uid;
    c.gid = gid;
    c.pid = 1;
    return c;
  }
  void StartOrSkip(NobodyProcess* p, bool dumpable, bool keep_caps = false) {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as uid 65534";
    if (!p->Start(dumpable, keep_caps)) GTEST_SKIP() << "cannot run a process as uid 65534 here";
  }
};

TEST_F(CallerAccessTest, ANonRootCallerAttachesOnlyItsOwnProcesses) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  auto s = Open();
  // Root's memory (this test process) is not the caller's.
  Result<v1::GmemInfo> g = s->Attach(AttachOf(::getpid(), memfd_), As(kNobody, kNobody));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied) << g.status().ToString();
  EXPECT_NE(g.status().message().find(NotYoursText(::getpid())), std::string::npos)
      << g.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  // Nor is another user's.
  EXPECT_EQ(
      s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody - 1, kNobody - 1)).status().code(),
      Status::Code::kPermissionDenied);
  EXPECT_EQ(
      s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody - 1)).status().code(),
      Status::Code::kPermissionDenied);
  // Its own is.
  g = s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
}

// Whatever makes a process not the caller's (root's, another user's, not
// dumpable, holding capabilities, a thread's id, no process at all), a
// caller other than root is told the same: which it was is the target's, and
// would get around /proc's hidepid (before, "it runs as uid 0", "no process
// with pid N", "CapPrm ..."). Root is told what went wrong.
TEST_F(CallerAccessTest, ARefusalIsTheSameWhateverTheTargetButRootIsToldWhy) {
  NobodyProcess nobody, undumpable, privileged;
  StartOrSkip(&nobody, /*dumpable=*/true);
  StartOrSkip(&undumpable, /*dumpable=*/false);
  StartOrSkip(&privileged, /*dumpable=*/true, /*keep_caps=*/true);
  const pid_t missing = ReapedPid();
  if (::kill(missing, 0) == 0) GTEST_SKIP() << "pid " << missing << " was given again at once";
  std::promise<pid_t> tid;
  std::promise<void> done;
  std::thread thread([&] {
    tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
    done.get_future().wait();
  });
  const pid_t thread_id = tid.get_future().get();
  struct Target {
    const char* what;
    pid_t pid;
    PeerCred caller;
  };
  const Target targets[] = {
      {"root's process", ::getpid(), As(kNobody, kNobody)},
      {"another user's process", nobody.pid(), As(kNobody - 1, kNobody - 1)},
      {"a process of another gid", nobody.pid(), As(kNobody, kNobody - 1)},
      {"a non-dumpable process", undumpable.pid(), As(kNobody, kNobody)},
      {"a process holding capabilities", privileged.pid(), As(kNobody, kNobody)},
      {"a thread's id", thread_id, As(kNobody, kNobody)},
      {"no process", missing, As(kNobody, kNobody)},
  };
  // Each refusal from "may not have khod take" on (before it, the caller's
  // own ids), its pid written "pid N": one text for all.
  const auto alike = [](const std::string& m, pid_t pid) {
    const size_t from = m.find("may not have khod take");
    std::string text = from == std::string::npos ? m : m.substr(from);
    const std::string p = "pid " + std::to_string(pid);
    for (size_t at = text.find(p); at != std::string::npos; at = text.find(p, at))
      text.replace(at, p.size(), "pid N");
    return text;
  };
  std::set<std::string> texts;
  for (const Target& t : targets) {
    int takes = 0;
    Status s = WithCallerAccess(t.caller, t.pid, "fd 3", [&] {
      ++takes;
      return Status::Ok();
    });
    EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << t.what << ": " << s.ToString();
    EXPECT_NE(s.message().find(NotYoursText(t.pid)), std::string::npos)
        << t.what << ": " << s.message();
    EXPECT_EQ(takes, 0) << t.what;
    texts.insert(alike(s.message(), t.pid));
  }
  EXPECT_EQ(texts.size(), 1u) << ::testing::PrintToString(texts);
  done.set_value();
  thread.join();

  // Through Attach, as khoctl sees it: a missing pid is PERMISSION_DENIED to
  // a caller other than root, and root is told there is no such process.
  auto s = Open();
  Result<v1::GmemInfo> g = s->Attach(AttachOf(missing, 3), As(kNobody, kNobody));
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied) << g.status().ToString();
  EXPECT_NE(g.status().message().find(NotYoursText(missing)), std::string::npos)
      << g.status().message();
  g = s->Attach(AttachOf(missing, 3));  // root
  EXPECT_EQ(g.status().code(), Status::Code::kNotFound) << g.status().ToString();
  EXPECT_NE(g.status().message().find("no process with pid " + std::to_string(missing)),
            std::string::npos)
      << g.status().message();
  g = s->Attach(AttachOf(undumpable.pid(), undumpable.fd()));  // root may take any
  EXPECT_TRUE(g.ok()) << g.status().ToString();
}

TEST_F(CallerAccessTest, ANonDumpableProcessIsRefusedUnlessTheCallerIsRoot) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/false);
  auto s = Open();
  Result<v1::GmemInfo> g = s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(g.status().message().find(NotYoursText(nobody.pid())), std::string::npos)
      << g.status().message();
  g = s->Attach(AttachOf(nobody.pid(), nobody.fd()));  // root
  EXPECT_TRUE(g.ok()) << g.status().ToString();
}

// The kernel's ptrace check wants the target's permitted capabilities to be
// the caller's too: a process of the caller's uid that kept capabilities
// across its setuid is refused to a caller other than root, named so.
TEST_F(CallerAccessTest, AProcessHoldingCapabilitiesIsRefusedUnlessTheCallerIsRoot) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true, /*keep_caps=*/true);
  auto s = Open();
  Result<v1::GmemInfo> g = s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody));
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied);
  EXPECT_NE(g.status().message().find(NotYoursText(nobody.pid())), std::string::npos)
      << g.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  g = s->Attach(AttachOf(nobody.pid(), nobody.fd()));  // root
  EXPECT_TRUE(g.ok()) << g.status().ToString();
}

// A process that changes between the check and the take (a setuid
// program exec'd makes it non-dumpable) is refused after the take: what was
// taken is not kept.
TEST_F(CallerAccessTest, AProcessThatChangesWhileItsFileIsTakenIsRefused) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  bool taken = false;
  Status s = WithCallerAccess(As(kNobody, kNobody), nobody.pid(), "fd 3", [&] {
    taken = nobody.BecomeNonDumpable();
    return Status::Ok();
  });
  ASSERT_TRUE(taken);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find(NotYoursText(nobody.pid())), std::string::npos) << s.message();
}

// A process that exits while its file is taken (its pid free, for another
// process to be given) is refused after the take: the pidfd opened before the
// check says it is gone, whatever now holds its pid.
TEST_F(CallerAccessTest, AProcessThatExitsWhileItsFileIsTakenIsRefused) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  const pid_t pid = nobody.pid();
  bool taken = false;
  Status s = WithCallerAccess(As(kNobody, kNobody), pid, "fd 3", [&] {
    nobody.KillAndReap();
    taken = true;
    return Status::Ok();
  });
  ASSERT_TRUE(taken);
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find(NotYoursText(pid)), std::string::npos) << s.message();
}

// A take that fails names what it found there; once the process is no longer
// the one checked, that is not the caller's to learn: the refusal stands.
TEST_F(CallerAccessTest, AFailedTakeFromAProcessThatExitedSaysOnlyThatItExited) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  const pid_t pid = nobody.pid();
  Status s = WithCallerAccess(As(kNobody, kNobody), pid, "fd 3", [&] {
    nobody.KillAndReap();
    return Status::FailedPrecondition("fd 3 of pid 1 (/etc/shadow) is a regular file");
  });
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find(NotYoursText(pid)), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("/etc/shadow"), std::string::npos) << s.message();
}

// Attach bounds a caller's bytes by the file's size then; a file that grew
// since (an ftruncate after Attach) is refused at capture, in root's Prepare
// too, instead of walked at its new size.
TEST_F(CallerAccessTest, AFileThatGrewSinceItsAttachIsNotCaptured) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  auto s = Open();
  ASSERT_TRUE(s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody)).ok());
  const std::string path =
      "/proc/" + std::to_string(nobody.pid()) + "/fd/" + std::to_string(nobody.fd());
  const int f = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(f, 0) << path;
  ASSERT_EQ(::ftruncate(f, off_t{1} << 40), 0);
  Result<v1::PhaseReply> p = s->Prepare();  // root's
  ASSERT_FALSE(p.ok()) << "captured a file grown to 1 TiB";
  EXPECT_EQ(p.status().code(), Status::Code::kFailedPrecondition) << p.status().ToString();
  EXPECT_NE(p.status().message().find("grew from 1048576 to 1099511627776 bytes"),
            std::string::npos)
      << p.status().ToString();
  EXPECT_EQ(s->phase(), v1::IDLE);
  // Back at its size, it is captured.
  ASSERT_EQ(::ftruncate(f, 1 << 20), 0);
  ::close(f);
  Result<v1::PhaseReply> again = s->Prepare();
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

// The size Attach counted stands for the file's life in the session: an
// UpdateAttributes (which takes the file again) refuses a file that grew, and
// a restart's re-take, which finds it grown, leaves it uncaptured too.
TEST_F(CallerAccessTest, AFileThatGrewIsRefusedByUpdateAttributesAndAfterARestart) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  auto s = Open();
  Result<v1::GmemInfo> g = s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  const std::string path =
      "/proc/" + std::to_string(nobody.pid()) + "/fd/" + std::to_string(nobody.fd());
  const int f = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(f, 0) << path;
  ASSERT_EQ(::ftruncate(f, off_t{1} << 40), 0);
  v1::UpdateAttributesRequest u;
  u.set_token(g->token());
  const Status updated = s->UpdateAttributes(u, As(kNobody, kNobody));
  EXPECT_EQ(updated.code(), Status::Code::kFailedPrecondition) << updated.ToString();
  EXPECT_NE(updated.message().find("grew from 1048576 to 1099511627776 bytes"), std::string::npos)
      << updated.ToString();
  EXPECT_EQ(s->Prepare().status().code(), Status::Code::kFailedPrecondition);
  // A restart takes the file again at its new size; the record's attached size still stands.
  s.reset();
  s = Open();
  ASSERT_EQ(s->GetStatus().gmems_size(), 1) << s->recovery();
  const Status prepared = s->Prepare().status();
  EXPECT_EQ(prepared.code(), Status::Code::kFailedPrecondition) << prepared.ToString();
  EXPECT_NE(prepared.message().find("grew from 1048576"), std::string::npos) << prepared.ToString();
  ASSERT_EQ(::ftruncate(f, 1 << 20), 0);
  ::close(f);
  EXPECT_TRUE(s->Prepare().ok());
}

// One session for the host, of one owner: a caller other than root acts on
// the gmems it attached, on the session as a whole only when every gmem is
// its own, attaches to no other uid's session, and the owner survives a
// restart (the record's GmemAttachment.owner_uid).
TEST_F(CallerAccessTest, ANonRootCallerActsOnlyOnGmemsItAttached) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  const PeerCred me = As(kNobody, kNobody), other = As(kNobody - 1, kNobody - 1);
  auto s = Open();
  Result<v1::GmemInfo> root = s->Attach(KernelAttach(memfd_));
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  const uint64_t generation = s->GetStatus().generation();
  // Root's session takes none of its gmems, though it may ptrace the process.
  const Status joined = s->Attach(AttachOf(nobody.pid(), nobody.fd()), me).status();
  EXPECT_EQ(joined.code(), Status::Code::kPermissionDenied) << joined.ToString();
  EXPECT_NE(joined.message().find("owned by uid 0 (root)"), std::string::npos) << joined.ToString();
  EXPECT_EQ(s->Detach(root->token(), me).code(), Status::Code::kPermissionDenied);
  v1::UpdateAttributesRequest u;
  u.set_token(root->token());
  EXPECT_EQ(s->UpdateAttributes(u, me).code(), Status::Code::kPermissionDenied);
  const Status prepare = s->Prepare(me).status();
  EXPECT_EQ(prepare.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(prepare.message().find("gmem " + std::to_string(root->token())), std::string::npos)
      << prepare.message();
  EXPECT_EQ(s->GetSnapshot(v1::SnapshotRequest(), me).status().code(),
            Status::Code::kPermissionDenied);
  EXPECT_EQ(s->Cancel(me).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->GetStatus().generation(), generation);  // nothing was written
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
  // Root lets go of its own; the session is then the caller's to attach to,
  // and stays its across a restart, for it and for no other uid.
  ASSERT_TRUE(s->Detach(root->token()).ok());
  Result<v1::GmemInfo> mine = s->Attach(AttachOf(nobody.pid(), nobody.fd()), me);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems(0).owner_uid(), kNobody);
  s.reset();
  s = Open();
  EXPECT_EQ(s->Prepare(other).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->Detach(mine->token(), other).code(), Status::Code::kPermissionDenied);
  v1::AttachRequest model;
  model.set_name("other");
  model.mutable_model()->set_size(1 << 20);
  const Status theirs = s->Attach(model, other).status();
  EXPECT_EQ(theirs.code(), Status::Code::kPermissionDenied) << theirs.ToString();
  EXPECT_NE(theirs.message().find("owned by uid " + std::to_string(kNobody)), std::string::npos)
      << theirs.ToString();
  Result<v1::PhaseReply> p = s->Prepare(me);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  // Its own session's snapshot holds PFNs, which the kernel shows only to root.
  const Status snapshot = s->GetSnapshot(v1::SnapshotRequest(), me).status();
  EXPECT_EQ(snapshot.code(), Status::Code::kPermissionDenied);
  EXPECT_NE(snapshot.message().find("PFNs"), std::string::npos) << snapshot.message();
  EXPECT_TRUE(s->GetSnapshot(v1::SnapshotRequest()).ok());
  ASSERT_TRUE(s->Cancel(me).ok());
  ASSERT_TRUE(s->Detach(mine->token(), me).ok());
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
}

// After the handover the new side's calls are checked the same way.
TEST_F(CallerAccessTest, ANonRootCallerCannotRestoreVerifyFinishOrCancelRootsHandover) {
  if (::geteuid() != 0) GTEST_SKIP() << "the session's gmem is this root process's";
  const PeerCred me = As(kNobody, kNobody);
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    EXPECT_EQ(s->Freeze(PausedFreeze(), me).status().code(), Status::Code::kPermissionDenied);
    EXPECT_EQ(s->phase(), v1::PREPARED);
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  auto s = Open();
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  EXPECT_EQ(s->Restore(v1::RestoreRequest(), me).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->Cancel(me).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  EXPECT_EQ(s->Verify(me).status().code(), Status::Code::kPermissionDenied);
  ASSERT_TRUE(s->Verify().ok());
  const v1::Phase verified = s->phase();  // RESTORED: the memory was rebuilt, not adopted
  EXPECT_EQ(s->Finish(me).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->Cancel(me).status().code(), Status::Code::kPermissionDenied);
  EXPECT_EQ(s->phase(), verified);
}

// A caller other than root is told what differs, never the PFNs: the kernel
// shows those only to CAP_SYS_ADMIN.
TEST_F(CallerAccessTest, ANonRootCallersVerifyNamesNoPfn) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  const PeerCred me = As(kNobody, kNobody);
  {
    // Pages in its memory, written through /proc (this test is root).
    const std::string path =
        "/proc/" + std::to_string(nobody.pid()) + "/fd/" + std::to_string(nobody.fd());
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path;
    const std::string pages(16 * 4096, '\x5a');
    EXPECT_EQ(::pwrite(fd, pages.data(), pages.size(), 0), static_cast<ssize_t>(pages.size()));
    ::close(fd);
  }
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(AttachOf(nobody.pid(), nobody.fd()), me).ok());
    ASSERT_TRUE(s->Prepare(me).ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze(), me).ok());
  }  // khod gone: the new one rebuilds, in new memory
  auto s = Open();
  // Asked to: on this boot Restore would take the file again from its VMM.
  v1::RestoreRequest rebuild;
  rebuild.set_force_rebuild(true);
  ASSERT_TRUE(s->Restore(rebuild, me).ok());
  auto text = [](const v1::VerifyReply& r) {
    std::string t;
    for (const auto& d : r.differences()) t += d.expected() + " / " + d.found() + "\n";
    return t;
  };
  Result<v1::VerifyReply> v = s->Verify(me);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_GT(v->differences_size(), 0);  // rebuilt memory: its pages moved
  EXPECT_EQ(text(*v).find("pfn 0x"), std::string::npos) << text(*v);
  EXPECT_NE(text(*v).find("pfn (root only)"), std::string::npos) << text(*v);
  v = s->Verify();  // root's
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_NE(text(*v).find("pfn 0x"), std::string::npos) << text(*v);
  // Status, which every allowed caller reads, says where the first
  // difference is, never its PFNs, whoever verified.
  const std::string line = s->GetStatus().last_verdict();
  EXPECT_NE(line.find("differences, first: gmem"), std::string::npos) << line;
  EXPECT_EQ(line.find("pfn"), std::string::npos) << line;
}

TEST_F(CallerAccessTest, RebuildOffersNamingAnotherUsersProcessAreRefused) {
  NobodyProcess nobody;
  StartOrSkip(&nobody, /*dumpable=*/true);
  auto s = Open();
  // The caller's own session, so that what is refused is the offer.
  ASSERT_TRUE(s->Attach(AttachOf(nobody.pid(), nobody.fd()), As(kNobody, kNobody)).ok());
  ASSERT_TRUE(s->Prepare(As(kNobody, kNobody)).ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(), As(kNobody, kNobody)).ok());
  v1::RestoreRequest q;
  auto* t = q.add_rebuild_into();
  t->set_token(1);
  t->set_vm_token(1);
  t->set_pid(::getpid());  // root's
  t->set_fd(memfd_);
  Result<v1::PhaseReply> r = s->Restore(q, As(kNobody, kNobody));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kPermissionDenied) << r.status().ToString();
  EXPECT_NE(r.status().message().find("rebuild_into[0]"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
}

}  // namespace
}  // namespace khod
