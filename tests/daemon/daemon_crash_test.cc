// Kills the real khod binary at every phase boundary (--crash-at, which
// _exit(137)s there) and with a real SIGKILL, restarts it on the same state
// dir, and checks that the session is the previous good state or the new one,
// that khod says which, and that the session can go on from there.
// This test process plays the VMM: khod takes its memfd with pidfd_getfd.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "khoctl/client.h"
#include "tests/support/fixture.h"
#include "tests/support/khod_fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

class CrashTest : public KhodProcessTest {
 protected:
  CrashTest() : KhodProcessTest("crash-test", "dir", std::chrono::seconds(10)) {}
  void SetUp() override { guest_.Fill(0, 64 * 4096, 0x5a); }

  // Drives the session forward until khod dies at `point`; returns the
  // step index that failed.
  int DriveUntilCrash(KhodClient* c) {
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    f.set_transport(v1::DIR);
    const std::vector<std::function<Status()>> steps = {
        [&] { return c->Attach(Attach()).status(); },
        [&] { return c->Prepare().status(); },
        [&] { return c->Freeze(f).status(); },
        [&] { return c->Restore(v1::RestoreRequest()).status(); },
        [&] { return c->Verify().status(); },
        [&] { return c->Finish().status(); },
        [&] { return c->Cancel().status(); },
    };
    for (size_t i = 0; i < steps.size(); ++i)
      if (!steps[i]().ok()) return static_cast<int>(i);
    return -1;
  }
};

struct Case {
  const char* point;
  v1::Phase after_restart;
  const char* says;  // part of the recovery message
};

TEST_F(CrashTest, EveryPhaseBoundaryLeavesTheOldOrTheNewState) {
  const Case cases[] = {
      {"pre-attached", v1::IDLE, "resumed IDLE with 0"},
      {"attached", v1::IDLE, "resumed IDLE with 1"},
      {"pre-prepared", v1::IDLE, "resumed IDLE"},
      {"prepared", v1::PREPARED, "resumed PREPARED"},
      {"pre-frozen", v1::PREPARED, "resumed PREPARED"},
      {"pre-handed_over", v1::PREPARED, "resumed PREPARED"},
      {"handed_over", v1::HANDED_OVER, "resumed HANDED_OVER"},
      {"pre-restored", v1::HANDED_OVER, "resumed HANDED_OVER"},
      {"restored", v1::HANDED_OVER, "rolled back RESTORED -> HANDED_OVER"},
      {"pre-verified", v1::HANDED_OVER, "rolled back RESTORED -> HANDED_OVER"},
      {"verified", v1::HANDED_OVER, "rolled back VERIFIED -> HANDED_OVER"},
      {"pre-finished", v1::HANDED_OVER, "rolled back VERIFIED -> HANDED_OVER"},
      {"finished", v1::FINISHED, "resumed FINISHED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.point);
    std::filesystem::remove_all(dir_ + "/state");
    ChildProcess khod = StartKhod(c.point);
    KhodClient client(Socket());
    int failed_step = DriveUntilCrash(&client);
    EXPECT_GE(failed_step, 0) << "khod never reached " << c.point;
    // One that died at its point is reaped with its status (a kill does not
    // change an exit under way: the call failed because the process exited);
    // one that never reached it is killed, and the case fails at once
    // instead of waiting for an exit that never comes.
    int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st)) << "khod did not exit at " << c.point;
    EXPECT_EQ(WEXITSTATUS(st), 137);

    ChildProcess again = StartKhod();
    Result<v1::StatusReply> s = client.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), c.after_restart) << s->recovery();
    EXPECT_NE(s->recovery().find(c.says), std::string::npos) << s->recovery();
    // The state is usable, not just readable: take the next step from it.
    switch (s->phase()) {
      case v1::IDLE:
        EXPECT_TRUE(client.Prepare().ok() || s->gmems_size() == 0);
        break;
      case v1::PREPARED: {
        v1::FreezeRequest f;
        f.set_guests_paused(true);
        f.set_transport(v1::DIR);
        EXPECT_TRUE(client.Freeze(f).ok());
        break;
      }
      case v1::HANDED_OVER:
        EXPECT_TRUE(client.Restore(v1::RestoreRequest()).ok());
        break;
      case v1::FINISHED:
        EXPECT_TRUE(client.Attach(Attach()).ok());
        break;
      default:
        break;
    }
    again.Stop(SIGTERM);
  }
}

// The state dir's names that start with `prefix` and end in ".blob".
std::vector<std::string> BlobsNamed(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const std::string& n : DirNames(dir))
    if (n.rfind(prefix, 0) == 0 && n.size() > 5 && n.compare(n.size() - 5, 5, ".blob") == 0)
      out.push_back(n);
  return out;
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A khod killed inside a dir Freeze (its blob written, the handover sent or
// not, no record naming either) leaves files that only the next start can
// tell are orphans: it removes those of khod's names, one log line each,
// keeps what the record names and what khod did not write, follows no link,
// and the next Freeze into the same dir succeeds and its handover stands.
TEST_F(CrashTest, TheNextStartSweepsWhatAKhodKilledInFreezeLeft) {
  const std::string state = StateDir(), root = state + "/handover", pmem0 = root + "/pmem0";
  const std::string outside = dir_ + "/outside", victim = outside + "/victim";
  ASSERT_EQ(::mkdir(outside.c_str(), 0700), 0);
  std::ofstream(victim) << "precious";
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  f.set_transport(v1::DIR);
  f.set_dir("pmem0");
  for (const std::string point : {"pre-frozen", "pre-handed_over"}) {
    SCOPED_TRACE(point);
    std::filesystem::remove_all(state);
    {
      ChildProcess khod = StartKhod(point);
      KhodClient c(Socket());
      ASSERT_TRUE(c.Attach(Attach()).ok());
      ASSERT_TRUE(c.Prepare().ok());
      EXPECT_FALSE(c.Freeze(f).ok());
      const int st = khod.Stop(SIGKILL);
      ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 137) << "khod did not exit at " << point;
    }
    // What the kill left: Freeze's blob, its handover dir and (sent) its
    // handover blob, named by no record (PREPARED).
    const std::vector<std::string> frozen = BlobsNamed(state, "frozen-");
    ASSERT_EQ(frozen.size(), 1u);
    const std::vector<std::string> prepared = BlobsNamed(state, "prepared-");
    ASSERT_EQ(prepared.size(), 1u);
    const bool sent = point == "pre-handed_over";
    ASSERT_EQ(IsRegular(pmem0 + "/handover.blob"), sent);
    // What a kill inside Send's write, or an earlier such Freeze into the
    // root, leaves; a link planted under an orphan's name; the operator's.
    std::ofstream(pmem0 + "/handover.blob.tmp") << "a cut wri";
    std::ofstream(root + "/handover.blob") << "an earlier killed Freeze's";
    ASSERT_EQ(::symlink(victim.c_str(), (state + "/frozen-999.blob").c_str()), 0);
    std::ofstream(state + "/frozen-backup.blob") << "the operator's";
    std::ofstream(pmem0 + "/notes") << "the operator's";

    ChildProcess again = StartKhod();
    KhodClient c(Socket());
    Result<v1::StatusReply> s = c.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::PREPARED) << s->recovery();
    std::vector<std::string> swept = {frozen[0], "handover/handover.blob",
                                      "handover/pmem0/handover.blob.tmp"};
    if (sent) swept.push_back("handover/pmem0/handover.blob");
    const std::string log = ReadTestFile(dir_ + "/khod.log");
    for (const std::string& p : swept) {
      EXPECT_TRUE(Has(s->recovery() + ";", "swept unnamed " + p + ";"))
          << p << ": " << s->recovery();
      EXPECT_TRUE(Has(log, "khod: swept " + state + "/" + p + ": ")) << p;
      EXPECT_FALSE(IsRegular(state + "/" + p)) << p;
    }
    EXPECT_EQ(BlobsNamed(state, "prepared-"), prepared);  // the record names it
    EXPECT_TRUE(IsLink(state + "/frozen-999.blob"));
    EXPECT_TRUE(Has(log, "khod: kept " + state + "/frozen-999.blob: a symbolic link"));
    EXPECT_EQ(ReadTestFile(victim), "precious");
    EXPECT_TRUE(IsRegular(state + "/frozen-backup.blob"));
    EXPECT_TRUE(IsRegular(pmem0 + "/notes"));

    // The next Freeze, into the same dir, hands over; a kill then leaves the
    // handover, which the start after it keeps whole and Restore reads.
    Result<v1::PhaseReply> fr = c.Freeze(f);
    ASSERT_TRUE(fr.ok()) << fr.status().ToString();
    const std::vector<std::string> named = BlobsNamed(state, "frozen-");
    again.Stop(SIGKILL);
    ChildProcess third = StartKhod();
    s = c.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
    EXPECT_FALSE(Has(s->recovery(), "swept")) << s->recovery();
    EXPECT_EQ(BlobsNamed(state, "frozen-"), named);
    EXPECT_TRUE(IsRegular(pmem0 + "/handover.blob"));
    Result<v1::PhaseReply> r = c.Restore(v1::RestoreRequest());
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    third.Stop(SIGTERM);
  }
}

TEST_F(CrashTest, SigkillDuringAttachDetachStormLeavesAReadableRecord) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(round);
    ChildProcess khod = StartKhod();
    KhodClient client(Socket());
    std::atomic<bool> stop{false};
    std::thread storm([&] {
      while (!stop) {
        Result<v1::AttachReply> a = client.Attach(Attach());
        if (a.ok()) client.Detach(a->gmem().token());
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(30 + 17 * round));
    int st = khod.Stop(SIGKILL);
    EXPECT_TRUE(WIFSIGNALED(st));
    stop = true;
    ChildProcess again = StartKhod();
    storm.join();
    Result<v1::StatusReply> s = client.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::IDLE);
    EXPECT_LE(s->gmems_size(), 1);
    EXPECT_NE(s->recovery().find("resumed IDLE"), std::string::npos) << s->recovery();
    // Leave it empty for the next round.
    for (const auto& g : s->gmems()) EXPECT_TRUE(client.Detach(g.token()).ok());
    again.Stop(SIGTERM);
  }
}

}  // namespace
}  // namespace khod
