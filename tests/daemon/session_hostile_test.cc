// Session (daemon/session.h) against a hostile or unlucky caller, in-process
// on real memfds of this test process: the attacks of issue 11 that reach the
// session (docs/SECURITY.md): a program named by a request, Restore on the
// side whose exec never happened, malformed or oversized requests, state
// kept in memory although its record could not be written, phases with no
// way out, blobs left behind.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/record_file.h"
#include "daemon/session.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

// Item numbers are issue 11's.
class HostileSessionTest : public SessionTest {
 protected:
  // The session record on disk, parsed.
  v1::SessionRecord RecordOnDisk() {
    Result<std::string> raw = ReadRecordFile(dir_ + "/session.rec");
    EXPECT_TRUE(raw.ok()) << raw.status().ToString();
    v1::SessionRecord r;
    EXPECT_TRUE(raw.ok() && r.ParseFromString(*raw));
    return r;
  }
  // Attach, Prepare, Freeze (dir), Restore and Verify in `s`: a session
  // handed over and verified in this one process.
  void HandOverAndVerify(Session* s) {
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
    ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
    ASSERT_TRUE(s->Verify().ok());
  }
};

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

// Item 1: a request never names the program a reexec runs as root.
TEST_F(HostileSessionTest, FreezeNamingAReexecBinaryIsRefusedAndChangesNothing) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  const uint64_t generation = s->GetStatus().generation();
  v1::FreezeRequest f = PausedFreeze(v1::REEXEC);
  f.set_reexec_binary("/tmp/x/evil.sh");
  Result<v1::PhaseReply> r = s->Freeze(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("reexec_binary"), std::string::npos) << r.status().message();
  EXPECT_TRUE(exec_argv_.empty()) << exec_argv_[0];
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_EQ(s->GetStatus().generation(), generation);
  // Without it the reexec names khod's own program.
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_FALSE(exec_argv_.empty());
  EXPECT_EQ(exec_argv_[0], Opts().self_binary);
}

// Item 14: Restore in the process whose reexec did not happen (it adopts its
// own handles) used to lock the session's mutex twice and never return.
TEST_F(HostileSessionTest, RestoreWhereTheReexecDidNotHappenReturns) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_FALSE(exec_argv_.empty());  // the exec was asked for; this test never makes it
  auto done = std::make_shared<std::promise<Result<v1::PhaseReply>>>();
  std::future<Result<v1::PhaseReply>> restored = done->get_future();
  Session* session = s.get();
  std::thread([done, session] {
    done->set_value(session->Restore(v1::RestoreRequest()));
  }).detach();
  if (restored.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    s.release();  // deadlocked: its mutex is never unlocked, so never destroyed
    FAIL() << "Restore did not return within 20 s (the session's mutex locked twice)";
  }
  Result<v1::PhaseReply> r = restored.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

// The window between a REEXEC Freeze's reply and the exec: a Restore then
// would close what the exec hands the new khod (it adopts this process's own
// files). Once the daemon begins the exec, Restore is refused until the exec
// fails; a Restore that came first keeps the session here and stops the exec.
TEST_F(HostileSessionTest, RestoreWhileTheReexecIsUnderWayIsRefusedAndOneBeforeItStopsIt) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_TRUE(s->BeginExec(exec_argv_));
  const Status refused = s->Restore(v1::RestoreRequest()).status();
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("re-executing"), std::string::npos) << refused.message();
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
  s->ExecFailed(Status::IoError("execveat: test"));
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  ASSERT_TRUE(s->Verify().ok());
  ASSERT_TRUE(s->Finish().ok());
  // A Restore before the daemon begins the exec: no exec then.
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(s->BeginExec(exec_argv_));
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

// ---- Item 4: state changes only once its record is durable -----------------

// How a record write is made to fail in the state directory (a tmpfs of its
// own, mounted by the test: tests run as root).
enum class Fault {
  kFull,        // the tmpfs is full: every write fails with ENOSPC
  kReadOnly,    // the tmpfs is remounted read-only: EROFS
  kRecordOnly,  // a directory where the record's temporary goes: only the record fails
};

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kFull:
      return "full tmpfs";
    case Fault::kReadOnly:
      return "read-only dir";
    case Fault::kRecordOnly:
      return "record write blocked";
  }
  return "?";
}

class FailedWriteTest : public SessionTest, public ::testing::WithParamInterface<Fault> {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    if (::mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=4m,mode=0700") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs for the state dir (" << std::strerror(errno)
                   << "): needs root in a mount namespace that allows it";
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
    SessionTest::TearDown();
  }
  void Break() {
    switch (GetParam()) {
      case Fault::kFull: {
        const int fd = ::open((dir_ + "/filler").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
        ASSERT_GE(fd, 0);
        std::string chunk(64 << 10, 'f');
        while (::write(fd, chunk.data(), chunk.size()) > 0) {
        }
        while (::write(fd, chunk.data(), 1) > 0) {
        }
        ASSERT_EQ(errno, ENOSPC);
        ::close(fd);
        break;
      }
      case Fault::kReadOnly:
        ASSERT_EQ(::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr), 0)
            << std::strerror(errno);
        break;
      case Fault::kRecordOnly:
        ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
        break;
    }
  }
  void Mend() {
    switch (GetParam()) {
      case Fault::kFull:
        ASSERT_EQ(::unlink((dir_ + "/filler").c_str()), 0);
        break;
      case Fault::kReadOnly:
        ASSERT_EQ(::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, nullptr), 0)
            << std::strerror(errno);
        break;
      case Fault::kRecordOnly:
        ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
        break;
    }
  }
  std::string DurableRecord() {
    Result<std::string> r = ReadRecordFile(dir_ + "/session.rec");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : "";
  }
  // Runs `call` with record writes failing: it must fail, and leave Status
  // and the durable record as they were.
  template <typename Call>
  void FailsChangingNothing(Session* s, const char* what, Call call) {
    const v1::StatusReply before = s->GetStatus();
    const std::string record = DurableRecord();
    Break();
    ASSERT_FALSE(HasFailure());
    const Status st = call();
    Mend();
    EXPECT_FALSE(st.ok()) << what << " succeeded with " << FaultName(GetParam());
    const v1::StatusReply after = s->GetStatus();
    EXPECT_EQ(after.phase(), before.phase()) << what << ": " << st.ToString();
    EXPECT_EQ(after.generation(), before.generation()) << what;
    EXPECT_EQ(after.gmems_size(), before.gmems_size()) << what;
    EXPECT_EQ(after.last_verdict(), before.last_verdict()) << what;
    EXPECT_EQ(DurableRecord(), record) << what << ": the durable record changed";
  }
  std::unique_ptr<Session> Prepared() {
    auto s = Open();
    EXPECT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    EXPECT_TRUE(s->Prepare().ok());
    return s;
  }

  bool mounted_ = false;
};

template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.ok() ? Status::Ok() : r.status();
}

TEST_P(FailedWriteTest, Attach) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  const TestMemfd second(1 << 20, "guest1");
  v1::AttachRequest q = KernelAttach(second.fd());
  q.clear_memslots();
  q.set_vm_token(0);
  FailsChangingNothing(s.get(), "Attach", [&] { return StatusOf(s->Attach(q)); });
  // The next write does not carry the failed attach with it.
  ASSERT_TRUE(s->Detach(1).ok());
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  ASSERT_TRUE(s->Attach(q).ok());  // and it can be attached now
}

TEST_P(FailedWriteTest, Detach) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  FailsChangingNothing(s.get(), "Detach", [&] { return s->Detach(1); });
  ASSERT_TRUE(s->Detach(1).ok());  // still attached: a second Detach finds it
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
}

TEST_P(FailedWriteTest, UpdateAttributes) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  v1::UpdateAttributesRequest q;
  q.set_token(1);
  auto* r = q.add_ranges();
  r->set_first(200);
  r->set_count(8);
  r->set_value(8);
  FailsChangingNothing(s.get(), "UpdateAttributes", [&] { return s->UpdateAttributes(q); });
  // The next write does not carry the failed update with it.
  ASSERT_TRUE(s->Prepare().ok());
  v1::SessionRecord rec;
  ASSERT_TRUE(rec.ParseFromString(DurableRecord()));
  ASSERT_EQ(rec.gmems_size(), 1);
  EXPECT_EQ(rec.gmems(0).attributes_size(), 0) << rec.gmems(0).DebugString();
  ASSERT_TRUE(s->UpdateAttributes(q).ok());
}

TEST_P(FailedWriteTest, Prepare) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  FailsChangingNothing(s.get(), "Prepare", [&] { return StatusOf(s->Prepare()); });
  // Still IDLE: Freeze is refused, a new Prepare works.
  EXPECT_EQ(s->Freeze(PausedFreeze()).status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
}

TEST_P(FailedWriteTest, Freeze) {
  auto s = Prepared();
  FailsChangingNothing(s.get(), "Freeze", [&] { return StatusOf(s->Freeze(PausedFreeze())); });
  Result<v1::PhaseReply> f = s->Freeze(PausedFreeze());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
}

TEST_P(FailedWriteTest, Restore) {
  auto s = Prepared();
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  FailsChangingNothing(s.get(), "Restore",
                       [&] { return StatusOf(s->Restore(v1::RestoreRequest())); });
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

TEST_P(FailedWriteTest, Verify) {
  auto s = Prepared();
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  FailsChangingNothing(s.get(), "Verify", [&] { return StatusOf(s->Verify()); });
  // No verdict is durable: still RESTORED, so Finish is refused.
  EXPECT_EQ(s->Finish().status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(s->Verify().ok());
  EXPECT_EQ(s->phase(), v1::VERIFIED);
  ASSERT_TRUE(s->Finish().ok());
}

TEST_P(FailedWriteTest, Finish) {
  auto s = Prepared();
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->Verify().ok());
  FailsChangingNothing(s.get(), "Finish", [&] { return StatusOf(s->Finish()); });
  // khod still holds the restored file for the VMM.
  const v1::StatusReply st = s->GetStatus();
  ASSERT_EQ(st.gmems_size(), 1);
  EXPECT_GT(st.gmems(0).khod_fd(), 0);
  EXPECT_EQ(::fcntl(st.gmems(0).khod_fd(), F_GETFD) >= 0, true);
  ASSERT_TRUE(s->Finish().ok());
  EXPECT_EQ(s->phase(), v1::FINISHED);
}

TEST_P(FailedWriteTest, Cancel) {
  auto s = Prepared();
  if (GetParam() == Fault::kFull) {
    // Prepare's draft, which no record names, goes before the IDLE record:
    // its room is the record's, so the way out works on a full state dir.
    Break();
    Result<v1::PhaseReply> c = s->Cancel();
    Mend();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(s->GetStatus().phase(), v1::IDLE);
    return;
  }
  FailsChangingNothing(s.get(), "Cancel", [&] { return StatusOf(s->Cancel()); });
  // Still PREPARED: Freeze goes on from there.
  Result<v1::PhaseReply> f = s->Freeze(PausedFreeze());
  ASSERT_TRUE(f.ok()) << f.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Faults, FailedWriteTest,
                         ::testing::Values(Fault::kFull, Fault::kReadOnly, Fault::kRecordOnly),
                         [](const ::testing::TestParamInfo<Fault>& i) {
                           switch (i.param) {
                             case Fault::kFull:
                               return std::string("FullTmpfs");
                             case Fault::kReadOnly:
                               return std::string("ReadOnlyDir");
                             case Fault::kRecordOnly:
                               return std::string("RecordWriteBlocked");
                           }
                           return std::string("Unknown");
                         });

// A VM belongs to whoever attached the gmems bound to it: another caller
// adding a gmem and memslots to root's VM would have them handed over and
// restored as part of root's guest. Root's session takes no other user's
// gmem at all (RootsSessionTakesNoOtherUsersGmem), and the refusal names
// nothing of the VM.
TEST_F(HostileSessionTest, AnotherUsersVmIsNotJoinedNorDescribed) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());  // root's, VM 1
  const uint64_t generation = s->GetStatus().generation();
  PeerCred nobody;
  nobody.uid = 65534;
  nobody.gid = 65534;
  v1::AttachRequest q;
  q.set_name("intruder");
  q.mutable_model()->set_size(1 << 20);
  q.set_vm_token(1);
  auto* m = q.add_memslots();
  m->set_slot(1);
  m->set_base_gfn(4096);
  m->set_npages(256);
  m->set_flags(4);
  Result<v1::GmemInfo> g = s->Attach(q, nobody);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied) << g.status().ToString();
  EXPECT_NE(g.status().message().find("owned by uid 0"), std::string::npos) << g.status().message();
  // Another type is refused the same way: the refusal tells nothing of the VM.
  q.set_vm_type(3);
  g = s->Attach(q, nobody);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied) << g.status().ToString();
  EXPECT_EQ(g.status().message().find("type"), std::string::npos) << g.status().message();
  EXPECT_EQ(g.status().message().find("VM"), std::string::npos) << g.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
  EXPECT_EQ(s->GetStatus().generation(), generation);
  // In a session of its own it declares its VM; root joins it no more than
  // it joined root's.
  ASSERT_TRUE(s->Detach(1).ok());
  q.set_vm_token(2);
  ASSERT_TRUE(s->Attach(q, nobody).ok());
  v1::AttachRequest roots = q;
  roots.set_name("root-joins");
  roots.mutable_memslots(0)->set_slot(2);
  roots.mutable_memslots(0)->set_base_gfn(8192);
  Result<v1::GmemInfo> joined = s->Attach(roots);
  ASSERT_FALSE(joined.ok());
  EXPECT_EQ(joined.status().code(), Status::Code::kPermissionDenied) << joined.status().ToString();
  EXPECT_NE(joined.status().message().find("owned by uid 65534"), std::string::npos)
      << joined.status().message();
}

// A capture walks a file by its size: a caller other than root attaches no
// more bytes than the host's RAM and swap could hold; root is not bounded.
TEST_F(HostileSessionTest, ACallerOtherThanRootAttachesNoMoreThanTheHostCouldHold) {
  auto s = Open();
  PeerCred nobody;
  nobody.uid = 65534;
  nobody.gid = 65534;
  struct sysinfo si;
  ASSERT_EQ(::sysinfo(&si), 0);
  const uint64_t host = (static_cast<uint64_t>(si.totalram) + si.totalswap) * si.mem_unit;
  v1::AttachRequest q;
  q.set_name("sparse");
  q.mutable_model()->set_size((host / 2 + (uint64_t{1} << 30)) & ~((uint64_t{1} << 30) - 1));
  ASSERT_TRUE(s->Attach(q, nobody).ok());  // half the host: within
  q.set_name("sparse2");
  Result<v1::GmemInfo> g = s->Attach(q, nobody);  // the caller's second half and more
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kResourceExhausted) << g.status().ToString();
  EXPECT_NE(g.status().message().find("more than the host's RAM and swap"), std::string::npos)
      << g.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
  // Another caller's bytes are its own (in its own session, once this one's
  // gmems are gone); root's are not bounded.
  ASSERT_TRUE(s->Detach(s->GetStatus().gmems(0).token(), nobody).ok());
  PeerCred other = nobody;
  other.uid = 65533;
  other.gid = 65533;
  ASSERT_TRUE(s->Attach(q, other).ok());
  q.set_name("sparse3");
  EXPECT_EQ(s->Attach(q, other).status().code(), Status::Code::kResourceExhausted);
  ASSERT_TRUE(s->Detach(s->GetStatus().gmems(0).token(), other).ok());
  q.set_name("roots");
  q.mutable_model()->set_size(uint64_t{1} << 50);
  Result<v1::GmemInfo> root = s->Attach(q);
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  q.set_name("roots2");
  root = s->Attach(q);
  EXPECT_TRUE(root.ok()) << root.status().ToString();
}

// ---- One owner a session: the uid whose Attach put its first gmem in -------

PeerCred Uid(uid_t uid) {
  PeerCred c;
  c.uid = uid;
  c.gid = uid;
  return c;
}

v1::AttachRequest ModelAttach(uint64_t token, const std::string& name, uint64_t size = 1 << 20) {
  v1::AttachRequest q;
  q.set_token(token);
  q.set_name(name);
  q.mutable_model()->set_size(size);
  return q;
}

// Tokens were one namespace for every caller: another user's gmem under the
// token root's retry names was taken for root's own ("already attached"),
// and root's VMM took that user's memory back after the handover. Another
// owner's session refuses root's Attach, naming its owner and the way out.
TEST_F(HostileSessionTest, AnotherUsersTokenIsNeverTakenForOnesOwnAttach) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(ModelAttach(42, "prod-vm-42"), Uid(65534)).ok());
  const uint64_t generation = s->GetStatus().generation();
  v1::AttachRequest mine = KernelAttach(memfd_);
  mine.set_token(42);
  mine.set_name("prod-vm-42");
  for (uint64_t token : {uint64_t{42}, uint64_t{0}}) {  // its own token or khod's: the same
    mine.set_token(token);
    Result<v1::GmemInfo> g = s->Attach(mine);
    ASSERT_FALSE(g.ok()) << "attached as gmem " << g->token();
    EXPECT_EQ(g.status().code(), Status::Code::kPermissionDenied) << g.status().ToString();
    EXPECT_NE(g.status().message().find("owned by uid 65534"), std::string::npos)
        << g.status().message();
    EXPECT_NE(g.status().message().find("root may Cancel it and Detach its gmems"),
              std::string::npos)
        << g.status().message();
    EXPECT_EQ(g.status().message().find("already attached"), std::string::npos)
        << g.status().message();
  }
  ASSERT_EQ(s->GetStatus().gmems_size(), 1);
  EXPECT_EQ(s->GetStatus().gmems(0).provenance(), "MODEL");
  EXPECT_EQ(s->GetStatus().generation(), generation);  // nothing was written
  // Another user than root is refused the same way.
  const Status other = s->Attach(ModelAttach(7, "b"), Uid(65533)).status();
  EXPECT_EQ(other.code(), Status::Code::kPermissionDenied) << other.ToString();
  EXPECT_NE(other.message().find("owned by uid 65534"), std::string::npos) << other.message();
}

// A member's gmem beside root's made root's live update the member's to
// veto (a file truncated under Prepare, shrunk under Verify): root's session
// takes no other user's gmem.
TEST_F(HostileSessionTest, RootsSessionTakesNoOtherUsersGmem) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  const uint64_t generation = s->GetStatus().generation();
  const Status g = s->Attach(ModelAttach(0, "veto"), Uid(65534)).status();
  EXPECT_EQ(g.code(), Status::Code::kPermissionDenied) << g.ToString();
  EXPECT_NE(g.message().find("owned by uid 0 (root)"), std::string::npos) << g.message();
  EXPECT_NE(g.message().find("wait for it to end"), std::string::npos) << g.message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
  EXPECT_EQ(s->GetStatus().generation(), generation);
  Result<v1::PhaseReply> p = s->Prepare();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
}

// A retry of an Attach whose reply was lost is answered as the first was
// only when it names the same file (any fd of it) and the same declaration:
// another file under the token is refused naming the token's.
TEST_F(HostileSessionTest, ARetriedAttachIsIdempotentOnlyForTheSameFile) {
  auto s = Open();
  v1::AttachRequest q = KernelAttach(memfd_);
  q.set_token(42);
  Result<v1::GmemInfo> first = s->Attach(q);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const uint64_t generation = s->GetStatus().generation();
  Result<v1::GmemInfo> again = s->Attach(q);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->token(), 42u);
  EXPECT_EQ(again->source(), first->source());
  // Another fd of the same file: the same inode.
  const int dup = ::fcntl(memfd_, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(dup, 0);
  v1::AttachRequest via_dup = q;
  via_dup.mutable_kernel()->set_fd(dup);
  Result<v1::GmemInfo> same = s->Attach(via_dup);
  ::close(dup);
  EXPECT_TRUE(same.ok()) << same.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
  EXPECT_EQ(s->GetStatus().generation(), generation);  // nothing was written
  // Another file under the token.
  TestMemfd other(1 << 20, "other");
  v1::AttachRequest another = q;
  another.mutable_kernel()->set_fd(other.fd());
  Result<v1::GmemInfo> g = s->Attach(another);
  ASSERT_FALSE(g.ok()) << "attached as gmem " << g->token();
  EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
  EXPECT_NE(g.status().message().find("gmem 42 ('guest0') is fd " + std::to_string(memfd_) +
                                      " of pid " + std::to_string(::getpid())),
            std::string::npos)
      << g.status().message();
  // The same file declared otherwise is not a retry either.
  v1::AttachRequest renamed = q;
  renamed.set_name("guest1");
  g = s->Attach(renamed);
  EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
  // A MODEL guest: the same spec is a retry, another size is not.
  ASSERT_TRUE(s->Attach(ModelAttach(7, "spare")).ok());
  EXPECT_TRUE(s->Attach(ModelAttach(7, "spare")).ok());
  g = s->Attach(ModelAttach(7, "spare", 2 << 20));
  EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 2);
  // The retry's file is held once: the session prepares.
  Result<v1::PhaseReply> p = s->Prepare();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
}

// Root's way out of another user's session: Cancel it and Detach its gmems;
// root's Attach then starts root's own.
TEST_F(HostileSessionTest, RootCancelsAnotherUsersSessionAndThenAttaches) {
  auto s = Open();
  const PeerCred nobody = Uid(65534);
  ASSERT_TRUE(s->Attach(ModelAttach(5, "theirs"), nobody).ok());
  ASSERT_TRUE(s->Prepare(nobody).ok());
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(s->phase(), v1::IDLE);
  // Its gmems stay attached, and the session its.
  Status refused = s->Attach(KernelAttach(memfd_)).status();
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied) << refused.ToString();
  EXPECT_NE(refused.message().find("owned by uid 65534"), std::string::npos) << refused.message();
  ASSERT_TRUE(s->Detach(5).ok());
  Result<v1::GmemInfo> mine = s->Attach(KernelAttach(memfd_));
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  // Now root's: the other user's Attach is refused.
  refused = s->Attach(ModelAttach(5, "theirs"), nobody).status();
  EXPECT_EQ(refused.code(), Status::Code::kPermissionDenied) << refused.ToString();
  EXPECT_TRUE(s->Prepare().ok());
}

// ---- Item 11: one validator, at Attach, before anything is recorded --------

TEST_F(HostileSessionTest, MemslotsWhoseOverlapWrapsAt2To64AreRefusedAtAttach) {
  auto s = Open();
  v1::AttachRequest q = KernelAttach(memfd_);
  q.mutable_memslots(0)->set_base_gfn(~uint64_t{0} - 9);  // + 256 pages wraps past 2^64
  auto* low = q.add_memslots();
  low->set_slot(1);
  low->set_base_gfn(0);
  low->set_npages(1);
  low->set_gmem_offset(1 << 19);
  low->set_flags(4);
  Result<v1::GmemInfo> g = s->Attach(q);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
  EXPECT_NE(g.status().message().find("overflows"), std::string::npos) << g.status().message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  // Nothing was recorded: a sound declaration attaches and prepares.
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  Result<v1::PhaseReply> p = s->Prepare();
  EXPECT_TRUE(p.ok()) << p.status().ToString();
}

TEST_F(HostileSessionTest, NamesWithNulOrControlCharactersAreRefusedAtAttach) {
  auto s = Open();
  for (const std::string& name : {std::string("vm\0x", 4), std::string("vm\x1b[31m"),
                                  std::string("a\nb"), std::string("\xff\xfe")}) {
    v1::AttachRequest q = KernelAttach(memfd_);
    q.set_name(name);
    Result<v1::GmemInfo> g = s->Attach(q);
    ASSERT_FALSE(g.ok()) << "name of " << name.size() << " bytes accepted";
    EXPECT_EQ(g.status().code(), Status::Code::kInvalidArgument) << g.status().ToString();
    EXPECT_NE(g.status().message().find("name"), std::string::npos) << g.status().message();
  }
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  EXPECT_EQ(s->GetStatus().generation(), 1u);  // nothing was written
}

TEST_F(HostileSessionTest, AttributeRangesPastTheGmemOrEmptyAreRefused) {
  auto s = Open();
  v1::AttachRequest q = KernelAttach(memfd_);
  auto* r = q.add_attributes();
  r->set_first(250);
  r->set_count(~uint64_t{0} - 100);  // wraps
  r->set_value(8);
  EXPECT_EQ(s->Attach(q).status().code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  v1::UpdateAttributesRequest u;
  u.set_token(1);
  u.add_ranges()->set_first(3);  // count 0
  EXPECT_EQ(s->UpdateAttributes(u).code(), Status::Code::kInvalidArgument);
  u.mutable_ranges(0)->set_count(1000);  // past 256 pages
  u.mutable_ranges(0)->set_value(8);
  EXPECT_EQ(s->UpdateAttributes(u).code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(s->Prepare().ok());
}

TEST_F(HostileSessionTest, UnknownEnumValuesAreRefusedNotRecorded) {
  auto s = Open();
  v1::AttachRequest m;
  m.set_name("model");
  m.mutable_model()->set_size(1 << 21);
  m.mutable_model()->set_hstate_order(256 + 9);  // would wrap to 9 in a byte
  EXPECT_EQ(s->Attach(m).status().code(), Status::Code::kInvalidArgument);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  const uint64_t generation = s->GetStatus().generation();
  v1::FreezeRequest f = PausedFreeze();
  f.set_format(static_cast<v1::BlobFormat>(77));
  Result<v1::PhaseReply> r = s->Freeze(f);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("format"), std::string::npos) << r.status().message();
  f = PausedFreeze();
  f.set_transport(static_cast<v1::Transport>(77));
  EXPECT_EQ(s->Freeze(f).status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_EQ(s->GetStatus().generation(), generation);
  Result<std::string> raw = ReadRecordFile(dir_ + "/session.rec");
  ASSERT_TRUE(raw.ok());
  v1::SessionRecord rec;
  ASSERT_TRUE(rec.ParseFromString(*raw));
  EXPECT_NE(static_cast<int>(rec.format()), 77);
  v1::SnapshotRequest snapshot;
  snapshot.set_format(static_cast<v1::BlobFormat>(77));
  Result<v1::SnapshotReply> blob = s->GetSnapshot(snapshot);
  EXPECT_EQ(blob.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(blob.status().message().find("SnapshotRequest.format"), std::string::npos)
      << blob.status().message();
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
}

// ---- Item 5: a way out of every phase --------------------------------------

// The attack of issue 11: the handover's fds were lost (khod killed after a
// dir Freeze), Restore rebuilt (forced here: on the same boot it takes the
// file again from its VMM), Verify said DIFFERENT. Cancel ends the
// session, the VMM's memory is untouched, and a new Attach works.
TEST_F(HostileSessionTest, LostFdSessionCanBeCancelledAndANewAttachWorks) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }  // khod gone: the new one holds none of the fds
  auto s = Open();
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  v1::RestoreRequest rebuild;
  rebuild.set_force_rebuild(true);
  Result<v1::PhaseReply> r = s->Restore(rebuild);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 rebuilt"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_GT(v->differences_size(), 0);  // new memory
  EXPECT_EQ(s->phase(), v1::RESTORED);
  EXPECT_EQ(s->Finish().status().code(), Status::Code::kFailedPrecondition);
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->phase(), v1::IDLE);
  EXPECT_NE(c->message().find("closed its references to 1 restored"), std::string::npos)
      << c->message();
  EXPECT_EQ(s->GetStatus().gmems_size(), 0);
  // The VMM's file is as it was.
  char page[4096];
  ASSERT_EQ(::pread(memfd_, page, sizeof(page), 0), 4096);
  EXPECT_EQ(page[0], static_cast<char>(0xab));
  Result<v1::GmemInfo> g = s->Attach(KernelAttach(memfd_));
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(s->Prepare().ok());
  // A restart agrees: the durable record is the new session.
  s.reset();
  s = Open();
  EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
}

// A record written before handover dirs became names beneath --handover-root
// names an absolute path (FORMAT.md, SessionRecord.handover_dir). Start-up
// goes on without reading that path: Restore reads the state-dir copy (the
// file taken again from its VMM: the same boot), and the session can be
// ended and a new one started.
TEST_F(HostileSessionTest, ARecordNamingAnAbsoluteHandoverDirDoesNotStopStartUp) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  // What an older khod left: the handover dir recorded as a path, with a
  // file there khod must not read.
  const std::string elsewhere = dir_ + "/elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
  { std::ofstream(elsewhere + "/handover.blob") << "not khod's to read"; }
  Result<std::string> raw = ReadRecordFile(dir_ + "/session.rec");
  ASSERT_TRUE(raw.ok()) << raw.status().ToString();
  v1::SessionRecord rec;
  ASSERT_TRUE(rec.ParseFromString(*raw));
  ASSERT_EQ(rec.phase(), v1::HANDED_OVER);
  rec.set_handover_dir(elsewhere);
  ASSERT_TRUE(WriteRecordFile(dir_ + "/session.rec", rec.SerializeAsString()).ok());

  auto s = Open();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
  EXPECT_NE(s->recovery().find("the recorded handover dir '" + elsewhere + "' is not read"),
            std::string::npos)
      << s->recovery();
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted, 0 rebuilt"), std::string::npos) << r->message();
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_TRUE(Exists(elsewhere + "/handover.blob"));  // not khod's to remove
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
}

TEST_F(HostileSessionTest, CancelWorksFromHandedOverAndVerifiedToo) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  {
    auto s = Open();
    ASSERT_EQ(s->phase(), v1::HANDED_OVER);
    Result<v1::PhaseReply> c = s->Cancel();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_EQ(s->phase(), v1::IDLE);
    EXPECT_FALSE(Exists(dir_ + "/handover/handover.blob"));  // the medium is consumed
  }
  // Same process, restored and verified equal: Cancel instead of Finish.
  auto s = Open();
  ASSERT_NO_FATAL_FAILURE(HandOverAndVerify(s.get()));
  ASSERT_EQ(s->phase(), v1::VERIFIED);
  Result<v1::PhaseReply> c = s->Cancel();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);  // this process still holds the VMM's file
  ASSERT_TRUE(s->Prepare().ok());
}

// ---- Item 6: blob lifetime -------------------------------------------------

std::vector<std::string> Blobs(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (struct dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".blob") == 0) out.push_back(n);
    }
    ::closedir(d);
  }
  return out;
}

TEST_F(HostileSessionTest, FinishDeletesTheSessionsBlobsAndTheHandoverBlob) {
  auto s = Open();
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  EXPECT_EQ(Blobs(dir_).size(), 2u);
  EXPECT_TRUE(Exists(dir_ + "/handover/handover.blob"));
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->Verify().ok());
  ASSERT_TRUE(s->Finish().ok());
  EXPECT_TRUE(Blobs(dir_).empty()) << Blobs(dir_)[0];
  EXPECT_FALSE(Exists(dir_ + "/handover/handover.blob"));
  EXPECT_GT(s->GetStatus().blob_bytes(), 0u);  // what was handed over is still reported
  // A new session starts from nothing and leaves nothing of the old one.
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  EXPECT_TRUE(Blobs(dir_).empty());
}

// The new side's Finish consumes the medium first; one that cannot be
// consumed (here an entry khod cannot unlink in place of the dir's blob, as
// on a medium gone read-only) would refuse every Finish, leaving only
// Cancel. It finishes all the same, saying what stays and who removes it.
TEST_F(HostileSessionTest, FinishWhoseMediumCannotBeConsumedFinishesAndSaysWhatStays) {
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(2 << 20);
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(q).ok());
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
  }
  auto s = Open();  // the new side
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(s->phase(), v1::VERIFIED) << FirstDifferenceOf(*v);
  const std::string blob = dir_ + "/handover/handover.blob";
  ASSERT_EQ(::unlink(blob.c_str()), 0);
  ASSERT_EQ(::mkdir(blob.c_str(), 0700), 0);  // unlinkat(..., 0) fails: EISDIR
  Result<v1::PhaseReply> f = s->Finish();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_NE(f->message().find("the dir handover medium was not consumed"), std::string::npos)
      << f->message();
  EXPECT_NE(f->message().find(blob), std::string::npos) << f->message();
  EXPECT_EQ(s->phase(), v1::FINISHED);
  EXPECT_EQ(RecordOnDisk().phase(), v1::FINISHED);
  EXPECT_TRUE(Blobs(dir_).empty());  // the session's own blobs went as ever
  EXPECT_EQ(::rmdir(blob.c_str()), 0);
}

// A dir Send that fails after its rename put handover.blob in place (the
// directory's fsync failing) is undone like any failed handover: the blob is
// unlinked and the dir this Freeze made goes with it, so the session is
// PREPARED as it was, on disk as in memory.
TEST_F(HostileSessionTest, ASendThatFailsAfterItsRenameLeavesNoHandoverBehind) {
  SessionOptions o = Opts();
  bool failing = true;
  o.after_send_for_test = [&failing] {
    return failing ? Status::IoError("fsync dir (test fault)") : Status::Ok();
  };
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE((*s)->Prepare().ok());
  v1::FreezeRequest f = PausedFreeze();
  f.set_dir("made-by-freeze");
  Result<v1::PhaseReply> r = (*s)->Freeze(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("dir handover failed; still PREPARED"), std::string::npos)
      << r.status().ToString();
  EXPECT_EQ((*s)->phase(), v1::PREPARED);
  EXPECT_EQ(RecordOnDisk().phase(), v1::PREPARED);
  EXPECT_FALSE(Exists(dir_ + "/handover/made-by-freeze/handover.blob"));
  EXPECT_FALSE(Exists(dir_ + "/handover/made-by-freeze"));
  for (const std::string& n : Blobs(dir_)) EXPECT_NE(n.rfind("frozen-", 0), 0u) << n;
  failing = false;
  Result<v1::PhaseReply> again = (*s)->Freeze(f);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(Exists(dir_ + "/handover/made-by-freeze/handover.blob"));
}

// An Attach after FINISHED starts a new session only once its record is
// durable: one refused before that leaves the finished session as it was, in
// memory as on disk.
TEST_F(HostileSessionTest, AttachRefusedAfterFinishLeavesTheFinishedSession) {
  auto s = Open();
  ASSERT_NO_FATAL_FAILURE(HandOverAndVerify(s.get()));
  ASSERT_TRUE(s->Finish().ok());
  const v1::StatusReply finished = s->GetStatus();
  Result<v1::SnapshotReply> snapshot = s->GetSnapshot(v1::SnapshotRequest());
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  v1::AttachRequest gone;
  gone.mutable_kernel()->set_pid(999999);
  gone.mutable_kernel()->set_fd(3);
  EXPECT_FALSE(s->Attach(gone).ok());
  EXPECT_EQ(s->phase(), v1::FINISHED);
  EXPECT_EQ(s->GetStatus().session_id(), finished.session_id());
  // Its frozen snapshot is still there to read (Finish deleted the blobs).
  Result<v1::SnapshotReply> again = s->GetSnapshot(v1::SnapshotRequest());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->blob(), snapshot->blob());
  // Phases agree with the record: nothing is attached to detach or prepare.
  EXPECT_EQ(s->Detach(1).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(s->Prepare().status().code(), Status::Code::kFailedPrecondition);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  EXPECT_EQ(s->phase(), v1::IDLE);
  EXPECT_NE(s->GetStatus().session_id(), finished.session_id());
}

// A record write that fails after its rename has replaced the record (the
// directory's fsync) left the change on disk while the call undoes it: the
// record is written back as it was, so that disk and memory agree and a
// restart finds the session the call left.
TEST_F(HostileSessionTest, AWriteThatFailsAfterReplacingTheRecordIsWrittenBack) {
  SessionOptions o = Opts();
  int failing = 0;
  o.after_record_written_for_test = [&failing] {
    if (failing == 0) return Status::Ok();
    --failing;
    return Status::IoError("fsync dir " + std::string("(test fault)"));
  };
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE((*s)->Prepare().ok());
  failing = 1;
  Result<v1::PhaseReply> f = (*s)->Freeze(PausedFreeze());
  ASSERT_FALSE(f.ok()) << "the fault did not reach Freeze's record";
  EXPECT_NE(f.status().message().find("so nothing changed"), std::string::npos)
      << f.status().ToString();
  EXPECT_EQ((*s)->phase(), v1::PREPARED);
  const v1::SessionRecord on_disk = RecordOnDisk();
  EXPECT_EQ(on_disk.phase(), v1::PREPARED) << "the record on disk says the undone Freeze";
  EXPECT_TRUE(on_disk.frozen_blob().empty()) << on_disk.frozen_blob();
  // The session goes on: Freeze again.
  EXPECT_TRUE((*s)->Freeze(PausedFreeze()).ok());
}

// The write-back fails too: the record on disk names the Freeze that memory
// undid, so the frozen blob it names is kept, and a restart restores from it
// (the handover undone reads as nothing carried) instead of finding a record
// that names a deleted file.
TEST_F(HostileSessionTest, AFreezeWhoseRecordMayBeOnDiskKeepsTheBlobItNames) {
  {
    SessionOptions o = Opts();
    bool failing = false;
    // The HANDED_OVER record reaches the disk and its fsync fails; the
    // write-back then cannot even make its temporary.
    o.after_record_written_for_test = [this, &failing] {
      if (!failing) return Status::Ok();
      failing = false;
      BreakRecordWrites();
      return Status::IoError("fsync dir (test fault)");
    };
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE((*s)->Prepare().ok());
    failing = true;
    Result<v1::PhaseReply> f = (*s)->Freeze(PausedFreeze());
    MendRecordWrites();
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find("nor written back"), std::string::npos)
        << f.status().ToString();
    EXPECT_EQ((*s)->phase(), v1::PREPARED);
    const v1::SessionRecord on_disk = RecordOnDisk();
    ASSERT_EQ(on_disk.phase(), v1::HANDED_OVER);
    EXPECT_TRUE(Exists(dir_ + "/" + on_disk.frozen_blob()))
        << on_disk.frozen_blob() << " was deleted while the record on disk names it";
  }
  // khod restarts on that record: Restore finds the blob it names.
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_EQ(s->phase(), v1::HANDED_OVER);
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

// One file attached twice (another fd of it, under another token) is refused,
// naming the gmem that has it: it would be captured and handed over twice.
TEST_F(HostileSessionTest, TheSameFileAttachedTwiceIsRefused) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  const int again = ::fcntl(memfd_, F_DUPFD_CLOEXEC, 3);
  ASSERT_GE(again, 0);
  v1::AttachRequest q = KernelAttach(again);
  q.set_vm_token(0);
  q.clear_memslots();
  Result<v1::GmemInfo> twice = s->Attach(q);
  ::close(again);
  ASSERT_FALSE(twice.ok()) << "attached as gmem " << twice->token();
  EXPECT_EQ(twice.status().code(), Status::Code::kInvalidArgument) << twice.status().ToString();
  EXPECT_NE(twice.status().message().find("is the file gmem 1 already is"), std::string::npos)
      << twice.status().ToString();
  EXPECT_EQ(s->GetStatus().gmems_size(), 1);
}

TEST_F(HostileSessionTest, ManyFinishedSessionsLeaveNoBlobs) {
  auto s = Open();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok()) << i;
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
    ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
    ASSERT_TRUE(s->Verify().ok());
    ASSERT_TRUE(s->Finish().ok());
  }
  EXPECT_TRUE(Blobs(dir_).empty()) << Blobs(dir_).size() << " blobs left";
}

TEST_F(HostileSessionTest, RecoverySweepsBlobsNoRecordNames) {
  std::string prepared;
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
    prepared = s->GetStatus().prepared_blob_bytes() ? Blobs(dir_).at(0) : "";
  }
  // What a kill during Freeze leaves: a frozen blob its record never named.
  { std::ofstream(dir_ + "/frozen-99.blob") << "half a blob"; }
  { std::ofstream(dir_ + "/prepared-3.blob") << "an older one"; }
  auto s = Open();
  EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
  EXPECT_EQ(Blobs(dir_), std::vector<std::string>{prepared});
  EXPECT_NE(s->recovery().find("swept unnamed frozen-99.blob"), std::string::npos) << s->recovery();
  // Status, served from what the last record write published, says it too.
  EXPECT_NE(s->GetStatus().recovery().find("swept unnamed frozen-99.blob"), std::string::npos)
      << s->GetStatus().recovery();
  ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());  // the named one still serves
}

// The files in `dir` and its handover dirs, each with its size and a hash of
// its bytes.
std::map<std::string, std::string> FilesBeneath(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) {
      std::ifstream f(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      out[e.path().string().substr(dir.size() + 1)] =
          std::to_string(ss.str().size()) + " bytes, hash " +
          std::to_string(std::hash<std::string>{}(ss.str()));
    }
  return out;
}

// A record khod cannot use is moved aside by hand (as an older khod advised):
// the files of that session stay where they are, named by no record. No new
// session starts beside them, which would sweep them at its next start and
// write its own blobs over theirs: khod refuses, naming them and the state
// directory to move aside, as many times as it is started; once the state
// directory is moved aside a new one is made, and the earlier session's files
// are all there, byte for byte.
TEST_F(HostileSessionTest, AnEarlierSessionsFilesAreNeitherSweptNorWrittenOver) {
  SessionOptions o = Opts();
  o.state_dir = dir_ + "/state";
  {
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE((*s)->Prepare().ok());
    v1::FreezeRequest f = PausedFreeze();
    f.set_dir("pmem0");
    ASSERT_TRUE((*s)->Freeze(f).ok());
  }
  ASSERT_EQ(::rename((o.state_dir + "/session.rec").c_str(),
                     (o.state_dir + "/session.rec.aside").c_str()),
            0);
  const std::map<std::string, std::string> before = FilesBeneath(o.state_dir);
  int frozen = 0, prepared = 0;
  for (const auto& [path, bytes] : before) {
    frozen += path.rfind("frozen-", 0) == 0;
    prepared += path.rfind("prepared-", 0) == 0;
  }
  ASSERT_EQ(frozen, 1);
  ASSERT_EQ(prepared, 1);
  ASSERT_EQ(before.count("handover/pmem0/handover.blob"), 1u);
  for (int start = 0; start < 2; ++start) {
    SCOPED_TRACE(start);
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    EXPECT_FALSE(s.ok()) << "a new session started beside them: " << (*s)->recovery();
    EXPECT_EQ(s.status().code(), Status::Code::kFailedPrecondition) << s.status().ToString();
    for (const std::string& part :
         {"no session record in " + o.state_dir, std::string("handover/pmem0/handover.blob"),
          std::string("frozen-"), std::string("prepared-"),
          "move the state directory aside (mv " + o.state_dir + " " + o.state_dir + ".aside"})
      EXPECT_NE(s.status().message().find(part), std::string::npos)
          << part << " in " << s.status().ToString();
  }
  EXPECT_EQ(FilesBeneath(o.state_dir), before);
  // As advised: a new session in a new state directory; the earlier one's
  // files are all where it was moved.
  ASSERT_EQ(::rename(o.state_dir.c_str(), (o.state_dir + ".aside").c_str()), 0);
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE((*s)->recovery().find("new session"), std::string::npos) << (*s)->recovery();
  EXPECT_EQ(FilesBeneath(o.state_dir + ".aside"), before);
}

// The first Prepare of a new session names its blob as the earlier session's
// first Prepare did (generations count from 1 again with a new record): that
// session's blob is not written over, because no new session starts beside it.
TEST_F(HostileSessionTest, ANewSessionsPrepareWritesOverNoEarlierSessionsBlob) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  const std::string prepared = RecordOnDisk().prepared_blob();
  ASSERT_FALSE(prepared.empty());
  ASSERT_EQ(::unlink((dir_ + "/session.rec").c_str()), 0);  // removed, or moved aside
  const std::map<std::string, std::string> before = FilesBeneath(dir_);
  Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &opener_);
  if (s.ok()) {
    // What a new session beside it did: the same name for its own capture.
    ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE((*s)->Prepare().ok());
    EXPECT_EQ(RecordOnDisk().prepared_blob(), prepared) << "expected the same name";
  }
  EXPECT_FALSE(s.ok()) << "a new session started beside " << prepared;
  EXPECT_NE(s.status().message().find(prepared), std::string::npos) << s.status().ToString();
  EXPECT_EQ(FilesBeneath(dir_).at(prepared), before.at(prepared))
      << prepared << " was written over";
}

// A sweep that cannot remove a leftover (here a handover blob on a medium
// mounted read-only: EROFS) says so, naming it, and khod starts all the same
// with nothing lost; the next start that can remove it does.
TEST_F(HostileSessionTest, ASweepThatCannotRemoveALeftoverDoesNotStopTheStart) {
  {
    auto s = Open();
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE(s->Prepare().ok());
  }
  const std::string ro = dir_ + "/handover/ro";
  ASSERT_EQ(::mkdir(ro.c_str(), 0700), 0);
  if (::mount("tmpfs", ro.c_str(), "tmpfs", 0, "size=1m,mode=0700") != 0)
    GTEST_SKIP() << "cannot mount a tmpfs (" << std::strerror(errno)
                 << "): needs root in a mount namespace that allows it";
  struct Unmount {
    const std::string& at;
    ~Unmount() { ::umount2(at.c_str(), MNT_DETACH); }
  } unmount{ro};
  { std::ofstream(ro + "/handover.blob") << "a killed Freeze's"; }
  { std::ofstream(dir_ + "/frozen-77.blob") << "a killed Freeze's"; }
  ASSERT_EQ(::mount("tmpfs", ro.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr), 0)
      << std::strerror(errno);
  {
    auto s = Open();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
    const std::string said = "not swept handover/ro/handover.blob (cannot unlink it: ";
    EXPECT_NE(s->recovery().find(said), std::string::npos) << s->recovery();
    EXPECT_NE(s->GetStatus().recovery().find(said), std::string::npos);
    EXPECT_NE(s->recovery().find("swept unnamed frozen-77.blob"), std::string::npos);
    EXPECT_TRUE(Exists(ro + "/handover.blob"));
    EXPECT_FALSE(Exists(dir_ + "/frozen-77.blob"));
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());  // into the root: the session goes on
  }
  ASSERT_EQ(::mount("tmpfs", ro.c_str(), "tmpfs", MS_REMOUNT, nullptr), 0) << std::strerror(errno);
  auto s = Open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  EXPECT_NE(s->recovery().find("swept unnamed handover/ro/handover.blob"), std::string::npos)
      << s->recovery();
  EXPECT_FALSE(Exists(ro + "/handover.blob"));
  EXPECT_TRUE(Exists(dir_ + "/handover/handover.blob"));  // the handover that stands
  EXPECT_TRUE(s->Restore(v1::RestoreRequest()).ok());
}

}  // namespace
}  // namespace khod
