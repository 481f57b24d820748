// SessionTest: a Session (daemon/session.h) in a fresh state directory of
// its own, on a 1 MiB memfd of this test process (first half written, second
// half holes) taken with pidfd_getfd: the fixture of the session's tests.
#ifndef KHOD_TESTS_SUPPORT_SESSION_FIXTURE_H_
#define KHOD_TESTS_SUPPORT_SESSION_FIXTURE_H_

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "daemon/session.h"
#include "daemon/system_opener.h"
#include "handover/reexec_transport.h"
#include "kernel/mapping_holder.h"
#include "tests/support/fixture.h"

namespace khod {

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override { guest_.Fill(0, 512 * 1024, 0xab); }  // half resident, half holes
  void TearDown() override {}

  SessionOptions Opts() {
    SessionOptions o;
    o.state_dir = dir_;
    o.default_transport = v1::DIR;
    o.on_exec_ready = [this](std::vector<std::string> a) { exec_argv_ = std::move(a); };
    return o;
  }
  // The value of `flag` ("--adopt") in a reexec's exec argv, "" where absent.
  static std::string ExecArg(const std::vector<std::string>& argv, const std::string& flag) {
    const std::string prefix = flag + "=";
    for (const std::string& a : argv)
      if (a.rfind(prefix, 0) == 0) return a.substr(prefix.size());
    return "";
  }
  // The new side's options as the re-executed khod would have them: the fds
  // the exec argv's --adopt hands it (a malformed one fails the test).
  SessionOptions NewSideOpts(const std::vector<std::string>& argv) {
    SessionOptions o = Opts();
    const std::string adopt = ExecArg(argv, "--adopt");
    if (adopt.empty()) return o;
    Result<AdoptSpec> spec = ParseAdoptSpec(adopt);
    EXPECT_TRUE(spec.ok()) << spec.status().ToString();
    if (spec.ok()) o.adopted = *spec;
    return o;
  }
  // The record's temporary made a directory: the next record write fails
  // (root ignores modes; EISDIR does not). MendRecordWrites undoes it.
  void BreakRecordWrites() { ASSERT_EQ(::mkdir((dir_ + "/session.rec.tmp").c_str(), 0700), 0); }
  void MendRecordWrites() { ASSERT_EQ(::rmdir((dir_ + "/session.rec.tmp").c_str()), 0); }
  std::unique_ptr<Session> Open() {
    Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  v1::AttachRequest KernelAttach(int fd) {
    v1::AttachRequest q;
    q.set_name("guest0");
    q.mutable_kernel()->set_pid(::getpid());
    q.mutable_kernel()->set_fd(fd);
    q.set_hash_contents(true);
    q.set_vm_token(1);
    auto* m = q.add_memslots();
    m->set_slot(0);
    m->set_npages(256);
    m->set_flags(4);
    return q;
  }
  v1::FreezeRequest PausedFreeze(v1::Transport t = v1::DIR) {
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    f.set_transport(t);
    return f;
  }
  // Attach `q`, Prepare and a REEXEC Freeze in `old` (its exec argv caught
  // in exec_argv_ by Opts()), their messages into *prepared and *frozen;
  // false where Prepare or Freeze failed (the test fails too).
  bool AttachPrepareReexecFreeze(Session* old, const v1::AttachRequest& q, std::string* prepared,
                                 std::string* frozen) {
    Result<v1::GmemInfo> a = old->Attach(q);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    Result<v1::PhaseReply> p = old->Prepare();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return false;
    *prepared = p->message();
    Result<v1::PhaseReply> fr = old->Freeze(PausedFreeze(v1::REEXEC));
    EXPECT_TRUE(fr.ok()) << fr.status().ToString();
    if (!fr.ok()) return false;
    *frozen = fr->message();
    return true;
  }
  // The new side opened with `n` as the re-executed khod would be, adopting
  // a mapping holder of this process (what a reexec leaves it).
  std::unique_ptr<Session> OpenNewSideWithHolder(SessionOptions n) {
    Result<MappingHolder> h = MappingHolder::Spawn();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    if (!h.ok()) return nullptr;
    n.mapping_holder = h->Detach();  // the new side adopts it
    Result<std::unique_ptr<Session>> s = Session::Open(n, &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }

  TempDir tmp_{"session-test"};
  const std::string dir_ = tmp_.path();
  TestMemfd guest_{1 << 20};
  const int memfd_ = guest_.fd();
  SystemOpener opener_;
  // What a REEXEC Freeze asked the daemon to exec (these tests never exec).
  std::vector<std::string> exec_argv_;
};

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_SESSION_FIXTURE_H_
