// The crash guarantee of daemon_crash_test for the REEXEC transport (khod's
// default on hosts): the real khod binary is killed at every crash point a
// reexec live update reaches, in the old khod before its exec (--crash-at),
// in the new one after it (--crash-at=after-reexec:POINT: the same pid), and
// with a real SIGKILL at random moments of a reexec cycle; it is restarted on
// the same state dir with the command line it was started with (as systemd
// would), and the test checks that it starts, says a phase that is the old or
// the new one and what happened, that the guest memory is untouched, that the
// session goes on from there to FINISHED or back to IDLE through the
// documented way out, and that no process is left holding the guest memory.
// A crash after the handover loses the fds the exec carried, not the files:
// the restarted khod's Restore takes each again from its VMM (the recorded
// pid and fd, inode checked) and says so, and Verify finds the guest's own
// memory EQUAL; the VMM's own memory is untouched either way.
// An operator's stop (SIGTERM) that comes while a reexec is under way is not
// lost: the khod after the exec (or this one, when the exec fails) stops
// gracefully, and the restarted khod goes on from HANDED_OVER.
// This test process plays the VMM: khod takes its memfd with pidfd_getfd.
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "khoctl/client.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tests/support/khod_fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPage = 4096;
constexpr int kWrittenPages = 64;

// The byte the VMM wrote over page `i` of its memory (0: never written, a hole).
unsigned char PatternOf(size_t i) {
  return i < kWrittenPages ? static_cast<unsigned char>(0x40 + i) : 0;
}

// Whether process `pid` has exited (a zombie, or gone), without reaping it.
bool Exited(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z' ||
         stat[paren + 2] == 'X';
}

// The processes other than this one that hold `file` open, or map it:
// "PID (argv[0])" each.
std::vector<std::string> OtherHolders(const struct stat& file) {
  std::vector<std::string> holders;
  const std::string self = std::to_string(::getpid());
  char want[64];
  std::snprintf(want, sizeof(want), " %llu ", static_cast<unsigned long long>(file.st_ino));
  for (const std::string& pid : DirNames("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self) continue;
    const std::string proc = "/proc/" + pid;
    bool holds = false;
    for (const std::string& fd : DirNames(proc + "/fd")) {
      struct stat st;
      if (::stat((proc + "/fd/" + fd).c_str(), &st) == 0 && st.st_dev == file.st_dev &&
          st.st_ino == file.st_ino)
        holds = true;
    }
    // A mapping of it: "addr perms offset dev inode path".
    std::ifstream maps(proc + "/maps");
    for (std::string line; !holds && std::getline(maps, line);)
      holds = line.find(want) != std::string::npos && line.find("vmm-guest") != std::string::npos;
    if (holds) {
      const std::string cmdline = ReadTestFile(proc + "/cmdline");
      holders.push_back(pid + " (" + cmdline.substr(0, cmdline.find('\0')) + ")");
    }
  }
  return holders;
}

class ReexecCrashTest : public KhodProcessTest {
 protected:
  ReexecCrashTest() : KhodProcessTest("reexec-crash", "reexec", std::chrono::seconds(20)) {}
  void SetUp() override {
    for (int i = 0; i < kWrittenPages; ++i) guest_.Fill(i * kPage, kPage, PatternOf(i));
    ASSERT_EQ(::fstat(memfd_, &guest_stat_), 0);
  }
  void TearDown() override {
    if (HasFailure()) std::printf("khod.log:\n%s\n", ReadTestFile(dir_ + "/khod.log").c_str());
  }

  // The guest memory reads back as the VMM wrote it, page by page.
  void ExpectGuestUntouched(const std::string& when) {
    SCOPED_TRACE(when);
    struct stat st;
    ASSERT_EQ(::fstat(memfd_, &st), 0);
    EXPECT_EQ(static_cast<size_t>(st.st_size), kGuestBytes);
    std::string page(kPage, '\0');
    for (size_t i = 0; i < kGuestBytes / kPage; ++i) {
      ASSERT_EQ(::pread(memfd_, page.data(), kPage, static_cast<off_t>(i * kPage)),
                static_cast<ssize_t>(kPage));
      if (page != std::string(kPage, static_cast<char>(PatternOf(i)))) {
        ADD_FAILURE() << "guest page " << i << " changed";
        return;
      }
    }
  }

  // Freeze by reexec, then the re-executed khod's status once it answers
  // (an error at once when the khod `pid` dies instead).
  Result<v1::StatusReply> FreezeIntoNewKhod(KhodClient& c, pid_t pid) {
    Result<v1::StatusReply> before = c.GetStatus();
    if (!before.ok()) return before.status();
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    f.set_transport(v1::REEXEC);
    Result<v1::PhaseReply> fr = c.Freeze(f);
    if (!fr.ok()) return fr.status();
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline && !Exited(pid)) {
      Result<v1::StatusReply> after =
          c.WaitNewIncarnation(before->incarnation(), std::chrono::milliseconds(300));
      if (after.ok()) return after;
    }
    return Status::Busy("no re-executed khod answered");
  }

  // From IDLE with the guest attached: a whole reexec live update, which
  // keeps the memory in place (Verify EQUAL), to FINISHED.
  void LiveUpdateToFinished(KhodClient& c, pid_t pid) {
    ASSERT_TRUE(c.Prepare().ok());
    FreezeToFinished(c, pid);
  }
  // A khod started with flags_ (naming the stop fault) through Attach,
  // Prepare and a reexec Freeze, until it exits: gracefully, exit 0.
  void FreezeAndStopDuringTheReexec(KhodClient& c) {
    ChildProcess khod = StartKhod();
    ASSERT_TRUE(c.Attach(Attach()).ok());
    ASSERT_TRUE(c.Prepare().ok());
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    f.set_transport(v1::REEXEC);
    Result<v1::PhaseReply> fr = c.Freeze(f);
    ASSERT_TRUE(fr.ok()) << fr.status().ToString();
    for (int i = 0; i < 400 && !Exited(khod.pid()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(Exited(khod.pid()))
        << "khod serves on after the SIGTERM that came during its reexec";
    const int st = khod.Stop(SIGKILL);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "not a graceful stop: " << st;
  }

  // A Freeze (reexec) with the stop `fault` sends during it: the exec happens,
  // the new khod adopts the handover and stops in HANDED_OVER, and a restart
  // goes on from there like after any stop.
  void StopDuringAReexecStopsTheNewKhod(const std::string& fault) {
    flags_ = {fault};
    KhodClient c(Socket());
    ASSERT_NO_FATAL_FAILURE(FreezeAndStopDuringTheReexec(c));
    const std::string log = ReadTestFile(dir_ + "/khod.log");
    const size_t exec = log.find("khod: re-executing");
    ASSERT_NE(exec, std::string::npos) << "no exec:\n" << log;
    const size_t adopted = log.find("resumed HANDED_OVER after reexec: adopted 1 fds", exec);
    EXPECT_NE(adopted, std::string::npos) << "the new khod did not adopt the handover";
    EXPECT_NE(log.find("khod: stopping on signal; session stays in HANDED_OVER", adopted),
              std::string::npos)
        << "the new khod did not stop on the signal";
    ExpectGuestUntouched("after the stop");
    ASSERT_NO_FATAL_FAILURE(
        RestartFromHandedOverAndGoOut(c, "resumed HANDED_OVER without the reexec fds"));
  }

  // After a stop in HANDED_OVER: khod started again as systemd would, its
  // recovery (starting with `says`, else one ExpectRecoveryFits accepts),
  // the way out to FINISHED, and a graceful stop that leaves nothing held.
  void RestartFromHandedOverAndGoOut(KhodClient& c, const std::string& says) {
    flags_.clear();
    ChildProcess again = StartKhod();
    Result<v1::StatusReply> s = c.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
    if (says.empty())
      ExpectRecoveryFits(*s);
    else
      EXPECT_EQ(s->recovery().rfind(says, 0), 0u) << s->recovery();
    WayOut(c, *s, again.pid());
    ExpectGuestUntouched("after the way out");
    const int stopped = again.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
    ExpectNothingLeft("after the way out");
  }

  void FreezeToFinished(KhodClient& c, pid_t pid) {
    Result<v1::StatusReply> after = FreezeIntoNewKhod(c, pid);
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    EXPECT_NE(after->recovery().find("resumed HANDED_OVER after reexec: adopted 1 fds"),
              std::string::npos)
        << after->recovery();
    Result<v1::PhaseReply> r = c.Restore(v1::RestoreRequest());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->message().find("1 adopted, 0 rebuilt"), std::string::npos) << r->message();
    Result<v1::VerifyReply> v = c.Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(VerdictAndKinds(*v), UnchangedMemfdVerdict({}, Contents::kHashed))
        << FirstDifferenceOf(*v);
    Result<v1::PhaseReply> f = c.Finish();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(f->phase(), v1::FINISHED);
  }

  // From the phase a restarted khod reports, the documented way on: a live
  // update to FINISHED where the guests are still the VMM's (IDLE, PREPARED,
  // FINISHED); after the handover, whose carried fds died with the process,
  // `out`: Restore (by the medium, which falls back to the state-dir blob, or
  // from_state_dir) takes the file again from its VMM (this process), Verify
  // finds the guest's own memory EQUAL, and Finish ends that session; or
  // Cancel at once. Then the guest is attached again for a live update to
  // FINISHED.
  enum class HandedOverOut { kRestoreThenFinish, kRestoreFromStateDir, kCancel };
  void WayOut(KhodClient& c, const v1::StatusReply& s, pid_t pid,
              HandedOverOut out = HandedOverOut::kRestoreThenFinish) {
    switch (s.phase()) {
      case v1::IDLE:
        if (s.gmems_size() == 0) {
          ASSERT_TRUE(c.Attach(Attach()).ok());
        }
        LiveUpdateToFinished(c, pid);
        break;
      case v1::PREPARED:
        ASSERT_EQ(s.gmems_size(), 1);
        FreezeToFinished(c, pid);
        break;
      case v1::HANDED_OVER: {
        if (out != HandedOverOut::kCancel) {
          v1::RestoreRequest q;
          q.set_from_state_dir(out == HandedOverOut::kRestoreFromStateDir);
          Result<v1::PhaseReply> r = c.Restore(q);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          EXPECT_NE(r->message().find(q.from_state_dir() ? "from " + StateDir() + "/frozen-"
                                                         : "from state dir (reexec handover: "
                                                           "this khod was not started with "
                                                           "--adopt"),
                    std::string::npos)
              << r->message();
          EXPECT_NE(r->message().find("1 of 1 files taken again from their VMMs"),
                    std::string::npos)
              << r->message();
          EXPECT_NE(r->message().find("1 adopted, 0 rebuilt"), std::string::npos) << r->message();
          Result<v1::VerifyReply> v = c.Verify();
          ASSERT_TRUE(v.ok()) << v.status().ToString();
          EXPECT_EQ(VerdictAndKinds(*v), UnchangedMemfdVerdict({}, Contents::kHashed))
              << "the VMM's own file, taken again: " << FirstDifferenceOf(*v);
          Result<v1::PhaseReply> f = c.Finish();
          ASSERT_TRUE(f.ok()) << f.status().ToString();
          EXPECT_EQ(f->phase(), v1::FINISHED);
          ExpectGuestUntouched("after the session of the lost handover was finished");
        } else {
          Result<v1::PhaseReply> x = c.Cancel();
          ASSERT_TRUE(x.ok()) << x.status().ToString();
          EXPECT_EQ(x->phase(), v1::IDLE);
          EXPECT_NE(x->message().find("no gmem is attached"), std::string::npos) << x->message();
          ExpectGuestUntouched("after the session of the lost handover was cancelled");
        }
        ASSERT_TRUE(c.Attach(Attach()).ok());
        LiveUpdateToFinished(c, pid);
        break;
      }
      case v1::FINISHED:
        ASSERT_TRUE(c.Attach(Attach()).ok());
        LiveUpdateToFinished(c, pid);
        break;
      default:
        ADD_FAILURE() << "no way out tried from " << v1::Phase_Name(s.phase());
    }
  }

  // Once khod has stopped: no process (an old khod's mapping holder or PTE
  // keeper, a lost child) holds or maps the guest memory but the VMM, and the
  // state dir keeps no file of the session that ended: its record and lock.
  void ExpectNothingLeft(const std::string& when) {
    SCOPED_TRACE(when);
    std::vector<std::string> holders = OtherHolders(guest_stat_);
    for (int i = 0; i < 100 && !holders.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      holders = OtherHolders(guest_stat_);
    }
    for (const std::string& h : holders) ADD_FAILURE() << "still holds the guest memory: " << h;
    for (const std::string& name : DirNames(StateDir()))
      EXPECT_TRUE(name == "session.rec" || name == "khod.lock" || name == "handover")
          << "left in the state dir: " << name;
    for (const std::string& name : DirNames(StateDir() + "/handover"))
      ADD_FAILURE() << "left in the handover dir: " << name;
  }

  // Where the live update a case drives goes: to Finish, or Cancel from
  // PREPARED (the old khod) or RESTORED (the new one); or two live updates
  // to Finish, the second one by the khod the first one's exec started.
  enum class Drive { kToFinish, kCancelOld, kCancelNew, kTwoToFinish };
  struct Case {
    const char* crash_at;  // --crash-at
    Drive drive;
    v1::Phase after_restart;
    const char* says;                                       // part of the recovery message
    HandedOverOut out = HandedOverOut::kRestoreThenFinish;  // the way on from HANDED_OVER
  };

  // Drives a reexec live update on khod `pid` until it dies at its crash
  // point; false when every call went through.
  bool DriveUntilCrash(KhodClient& c, pid_t pid, Drive drive) {
    if (!c.Attach(Attach()).ok() || !c.Prepare().ok()) return true;
    if (drive == Drive::kCancelOld) return !c.Cancel().ok();
    if (!FreezeIntoNewKhod(c, pid).ok() || !c.Restore(v1::RestoreRequest()).ok()) return true;
    if (drive == Drive::kCancelNew) return !c.Cancel().ok();
    if (!c.Verify().ok() || !c.Finish().ok()) return true;
    return drive == Drive::kTwoToFinish && DriveUntilCrash(c, pid, Drive::kToFinish);
  }

  // One crash point: khod killed there, restarted as it was started, checked,
  // driven out, stopped.
  void RunCase(const Case& c) {
    SCOPED_TRACE(c.crash_at);
    std::filesystem::remove_all(StateDir());
    ChildProcess khod = StartKhod(c.crash_at);
    KhodClient client(Socket());
    EXPECT_TRUE(DriveUntilCrash(client, khod.pid(), c.drive))
        << "khod never reached " << c.crash_at;
    // Reaped with its status once it died at its point; killed (and the case
    // failed) when it never reached it.
    const int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st)) << "khod did not exit at " << c.crash_at;
    EXPECT_EQ(WEXITSTATUS(st), 137);
    ExpectGuestUntouched("after the crash");

    ChildProcess again = StartKhod();
    Result<v1::StatusReply> s = client.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), c.after_restart) << s->recovery();
    EXPECT_NE(s->recovery().find(c.says), std::string::npos) << s->recovery();
    ExpectGuestUntouched("after the restart");
    WayOut(client, *s, again.pid(), c.out);
    ExpectGuestUntouched("after the way out");
    Result<v1::StatusReply> end = client.GetStatus();
    ASSERT_TRUE(end.ok()) << end.status().ToString();
    EXPECT_EQ(end->phase(), v1::FINISHED);
    const int stopped = again.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
    ExpectNothingLeft("after the way out");
  }

  // The phase a restarted khod reports fits what it says of its recovery.
  static void ExpectRecoveryFits(const v1::StatusReply& s) {
    const std::string& r = s.recovery();
    switch (s.phase()) {
      case v1::IDLE:
        EXPECT_EQ(r.rfind("resumed IDLE with " + std::to_string(s.gmems_size()) + " gmems", 0), 0u)
            << r;
        break;
      case v1::PREPARED:
        EXPECT_EQ(r.rfind("resumed PREPARED (1 gmems re-taken)", 0), 0u) << r;
        break;
      case v1::HANDED_OVER:
        EXPECT_TRUE(r.rfind("resumed HANDED_OVER without the reexec fds", 0) == 0 ||
                    r.rfind("rolled back RESTORED -> HANDED_OVER", 0) == 0 ||
                    r.rfind("rolled back VERIFIED -> HANDED_OVER", 0) == 0)
            << r;
        break;
      case v1::FINISHED:
        EXPECT_EQ(r.rfind("resumed FINISHED", 0), 0u) << r;
        break;
      default:
        ADD_FAILURE() << "a restarted khod in " << v1::Phase_Name(s.phase()) << ": " << r;
    }
  }

  struct stat guest_stat_ = {};
};

// The old khod: every crash point of a live update up to its exec.
TEST_F(ReexecCrashTest, OldKhodCrashLeavesTheOldOrTheNewState) {
  const Case cases[] = {
      {"pre-attached", Drive::kToFinish, v1::IDLE, "resumed IDLE with 0"},
      {"attached", Drive::kToFinish, v1::IDLE, "resumed IDLE with 1"},
      {"pre-prepared", Drive::kToFinish, v1::IDLE, "resumed IDLE with 1"},
      {"prepared", Drive::kToFinish, v1::PREPARED, "resumed PREPARED (1 gmems re-taken)"},
      {"cancelled", Drive::kCancelOld, v1::IDLE, "resumed IDLE with 1"},
      // Freeze's blob is written, no handover is: PREPARED, the blob swept.
      {"pre-frozen", Drive::kToFinish, v1::PREPARED, "resumed PREPARED (1 gmems re-taken)"},
      // Sent (the blob memfd and the inheritable dups live in this process
      // only), not recorded: PREPARED.
      {"pre-handed_over", Drive::kToFinish, v1::PREPARED, "resumed PREPARED (1 gmems re-taken)"},
      // HANDED_OVER is durable, and the fds it carries die with the process
      // before or after the mapping holder starts.
      {"handed_over", Drive::kToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds (the process holding them is gone): Restore "
       "takes each file again from its VMM",
       HandedOverOut::kCancel},
      {"exec", Drive::kToFinish, v1::HANDED_OVER, "resumed HANDED_OVER without the reexec fds",
       HandedOverOut::kRestoreFromStateDir},
  };
  for (const Case& c : cases) RunCase(c);
}

// Pinned shmem (khod --pin-movable-memory) also has a PTE keeper from Prepare
// and page pins, which the exec hands on with the fds: after a crash on either
// side of it none of them holds the guest memory any more.
TEST_F(ReexecCrashTest, CrashWithPinsAndKeeperLeavesNothingHeld) {
  flags_ = {"--pin-movable-memory"};
  {
    ChildProcess k = StartKhod();
    KhodClient c(Socket());
    ASSERT_TRUE(c.Attach(Attach()).ok());
    Result<v1::PhaseReply> p = c.Prepare();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    if (p->message().find("pinned until the handover") == std::string::npos ||
        p->message().find("PTE keeper pid") == std::string::npos)
      GTEST_SKIP() << "no pins or no PTE keeper here: " << p->message();
    // What finds a holder finds the keeper.
    const std::vector<std::string> holders = OtherHolders(guest_stat_);
    EXPECT_EQ(holders.size(), 2u);
    bool keeper = false;
    for (const std::string& h : holders) keeper |= h.find("(khod-pte-keeper)") != std::string::npos;
    std::string all;
    for (const std::string& h : holders) all += " " + h;
    EXPECT_TRUE(keeper) << "none the keeper:" << all;
    k.Stop(SIGTERM);
  }
  // Restarted in PREPARED, khod holds no pins and no keeper of the dead
  // process's: Freeze reads every page, and Verify is EQUAL all the same.
  const Case cases[] = {
      {"prepared", Drive::kToFinish, v1::PREPARED, "resumed PREPARED (1 gmems re-taken)"},
      {"pre-handed_over", Drive::kToFinish, v1::PREPARED, "resumed PREPARED (1 gmems re-taken)"},
      {"handed_over", Drive::kToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds"},
      {"exec", Drive::kToFinish, v1::HANDED_OVER, "resumed HANDED_OVER without the reexec fds"},
      {"after-reexec:opened", Drive::kToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds"},
      {"after-reexec:restored", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back RESTORED -> HANDED_OVER"},
      // A reexec's fds died with the new khod too: said, as for HANDED_OVER.
      {"after-reexec:verified", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back VERIFIED -> HANDED_OVER: the restored objects died with the previous khod; "
       "Restore again (the reexec fds died with it too: Restore takes each file again from its "
       "VMM"},
  };
  for (const Case& c : cases) RunCase(c);
}

// Crashes on the way out of a lost reexec handover, one after another: the
// restarted khod dying as its session opens, at Restore's record and at
// Cancel's. Each restart finds the state the previous one left and says so,
// and the last one gets out: no crash loop, nothing held, nothing left.
TEST_F(ReexecCrashTest, CrashesOnTheWayOutOfALostHandover) {
  KhodClient client(Socket());
  {
    ChildProcess khod = StartKhod("after-reexec:restored");
    ASSERT_TRUE(client.Attach(Attach()).ok());
    ASSERT_TRUE(client.Prepare().ok());
    ASSERT_TRUE(FreezeIntoNewKhod(client, khod.pid()).ok());
    EXPECT_FALSE(client.Restore(v1::RestoreRequest()).ok());
    const int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 137) << st;
  }
  {
    // Dies once its session is open (the recovery durable), before it serves.
    ChildProcess khod = StartKhod("opened", /*serves=*/false);
    for (int i = 0; i < 400 && !Exited(khod.pid()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 137) << st;
  }
  {
    ChildProcess khod = StartKhod("restored");
    Result<v1::StatusReply> s = client.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::HANDED_OVER);
    EXPECT_EQ(s->recovery().rfind("resumed HANDED_OVER without the reexec fds", 0), 0u)
        << s->recovery();
    EXPECT_FALSE(client.Restore(v1::RestoreRequest()).ok());
    const int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 137) << st;
  }
  {
    ChildProcess khod = StartKhod("cancelled");
    Result<v1::StatusReply> s = client.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->phase(), v1::HANDED_OVER);
    EXPECT_EQ(s->recovery().rfind("rolled back RESTORED -> HANDED_OVER", 0), 0u) << s->recovery();
    EXPECT_FALSE(client.Cancel().ok());
    const int st = khod.Stop(SIGKILL);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 137) << st;
  }
  ExpectGuestUntouched("after four crashes");
  ChildProcess khod = StartKhod();
  Result<v1::StatusReply> s = client.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->phase(), v1::IDLE);
  EXPECT_EQ(s->recovery().rfind("resumed IDLE with 0 gmems", 0), 0u) << s->recovery();
  WayOut(client, *s, khod.pid());
  ExpectGuestUntouched("after the way out");
  const int stopped = khod.Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
  ExpectNothingLeft("after the way out");
}

// SIGKILL at random moments of reexec live updates, one after another on the
// same state dir: whatever the moment (a call, the exec, the new khod's
// start, between calls), the restarted khod says a phase its recovery text
// fits, the memory is untouched, and the session goes on to FINISHED.
// KHOD_REEXEC_CRASH_SEED=<n> (--test_env) replays a run's moments.
TEST_F(ReexecCrashTest, SigkillAtRandomMomentsOfAReexecCycle) {
  const char* env = std::getenv("KHOD_REEXEC_CRASH_SEED");
  const uint64_t seed = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device()();
  std::printf("daemon_reexec_crash_test: KHOD_REEXEC_CRASH_SEED=%llu\n",
              static_cast<unsigned long long>(seed));
  std::fflush(stdout);
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);
  static const char* const kCalls[] = {"Attach",  "Prepare", "Freeze, exec, new khod",
                                       "Restore", "Verify",  "Finish"};
  constexpr int kNumCalls = 6;
  // The calls of a cycle from FINISHED (or a new session) on khod `pid`.
  const auto cycle = [this](KhodClient& d, pid_t pid) {
    return std::vector<std::function<bool()>>{
        [&d, this] { return d.Attach(Attach()).ok(); },
        [&d] { return d.Prepare().ok(); },
        [&d, pid, this] { return FreezeIntoNewKhod(d, pid).ok(); },
        [&d] { return d.Restore(v1::RestoreRequest()).ok(); },
        [&d] { return d.Verify().ok(); },
        [&d] { return d.Finish().ok(); },
    };
  };
  // An uncut cycle, each call timed: each kill lands in a call drawn at
  // random, at a random moment of it (Prepare alone is most of a cycle).
  std::vector<int64_t> start_us, took_us;
  {
    ChildProcess k = StartKhod();
    KhodClient c(Socket());
    ASSERT_TRUE(c.GetStatus().ok());
    const auto t0 = Clock::now();
    for (const auto& call : cycle(c, k.pid())) {
      const auto t = Clock::now();
      ASSERT_TRUE(call()) << kCalls[start_us.size()];
      start_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t - t0).count());
      took_us.push_back(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
      if (start_us.size() == 1) {
        // What finds a holder finds this khod's.
        const std::vector<std::string> holders = OtherHolders(guest_stat_);
        ASSERT_EQ(holders.size(), 1u);
        EXPECT_EQ(holders[0].rfind(std::to_string(k.pid()) + " (daemon/khod)", 0), 0u)
            << holders[0];
      }
    }
    k.Stop(SIGTERM);
  }
  std::map<std::string, int> seen;
  for (int round = 0; round < 12; ++round) {
    const int call = std::uniform_int_distribution<int>(0, kNumCalls - 1)(rng);
    const int64_t kill_us =
        start_us[call] + std::uniform_int_distribution<int64_t>(0, took_us[call])(rng);
    SCOPED_TRACE("round " + std::to_string(round) + ": SIGKILL " + std::to_string(kill_us) +
                 " us into a cycle, aimed at " + kCalls[call]);
    ChildProcess khod = StartKhod();
    const pid_t pid = khod.pid();
    // From a client already connected; `done`: the calls that returned ok.
    std::promise<void> connected;
    std::atomic<int> done{0};
    std::thread drive([&] {
      KhodClient d(Socket());
      (void)d.GetStatus();
      connected.set_value();
      for (const auto& next : cycle(d, pid)) {
        if (!next()) break;
        ++done;
      }
    });
    connected.get_future().wait();
    std::this_thread::sleep_for(std::chrono::microseconds(kill_us));
    const int st = khod.Stop(SIGKILL);
    drive.join();
    const std::string during = done < kNumCalls ? kCalls[done.load()] : "none (after Finish)";
    SCOPED_TRACE("killed during " + during);
    EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
    ExpectGuestUntouched("after the kill");

    ChildProcess again = StartKhod();
    KhodClient c(Socket());
    Result<v1::StatusReply> s = c.GetStatus();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ++seen[during + " -> " + v1::Phase_Name(s->phase())];
    ExpectRecoveryFits(*s);
    ExpectGuestUntouched("after the restart");
    WayOut(c, *s, again.pid(),
           static_cast<HandedOverOut>(std::uniform_int_distribution<int>(0, 2)(rng)));
    ExpectGuestUntouched("after the way out");
    const int stopped = again.Stop(SIGTERM);
    EXPECT_TRUE(WIFEXITED(stopped) && WEXITSTATUS(stopped) == 0) << stopped;
    ExpectNothingLeft("after the way out");
    if (HasFatalFailure()) break;
  }
  std::string text;
  for (const auto& [what, n] : seen) text += "\n  " + what + " x" + std::to_string(n);
  std::printf("daemon_reexec_crash_test: killed during -> restarted in:%s\n", text.c_str());
}

// The new khod, the same pid after the exec: every crash point it reaches.
// The fds the exec carried die with it.
TEST_F(ReexecCrashTest, NewKhodCrashLeavesTheOldOrTheNewState) {
  const Case cases[] = {
      {"after-reexec:opened", Drive::kToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds", HandedOverOut::kRestoreFromStateDir},
      {"after-reexec:pre-restored", Drive::kToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds"},
      {"after-reexec:restored", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back RESTORED -> HANDED_OVER: the restored objects died with the previous khod",
       HandedOverOut::kCancel},
      {"after-reexec:pre-verified", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back RESTORED -> HANDED_OVER"},
      {"after-reexec:verified", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back VERIFIED -> HANDED_OVER"},
      {"after-reexec:pre-finished", Drive::kToFinish, v1::HANDED_OVER,
       "rolled back VERIFIED -> HANDED_OVER"},
      {"after-reexec:finished", Drive::kToFinish, v1::FINISHED, "resumed FINISHED"},
      {"after-reexec:cancelled", Drive::kCancelNew, v1::IDLE, "resumed IDLE with 0"},
      // The new khod's own reexec, and the khod that one starts.
      {"after-reexec:exec", Drive::kTwoToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds", HandedOverOut::kRestoreFromStateDir},
      {"after-reexec:after-reexec:pre-restored", Drive::kTwoToFinish, v1::HANDED_OVER,
       "resumed HANDED_OVER without the reexec fds"},
      {"after-reexec:after-reexec:verified", Drive::kTwoToFinish, v1::HANDED_OVER,
       "rolled back VERIFIED -> HANDED_OVER"},
  };
  for (const Case& c : cases) RunCase(c);
}

// An operator's stop (SIGTERM, systemd's) that comes once the old khod has
// decided to exec (--fault=sigterm-before-exec: khod sends it to itself there
// and waits for its signal thread to take it) is not lost: the new khod (the
// same pid) opens its session, adopting the handed-over fds, then stops
// gracefully in HANDED_OVER, and a restart goes on from there like after any
// stop. The stop used to be taken by the old khod's signal thread and dropped
// with it at the exec: the new khod served on.
TEST_F(ReexecCrashTest, StopSignalDuringAReexecStopsTheNewKhod) {
  ASSERT_NO_FATAL_FAILURE(StopDuringAReexecStopsTheNewKhod("--fault=sigterm-before-exec"));
}

// The stop comes earlier, while the Freeze that decides the reexec still runs
// (--fault=sigterm-during-freeze: before its record): the main thread takes
// the stop path first, and that Freeze's handover, durable and replied, used
// to be left behind with no exec (khod exited, the handed-on fds with it).
// Now the calls in flight end first and the reexec goes ahead, the stop
// carried to the new khod, which adopts the handover and stops.
TEST_F(ReexecCrashTest, StopSignalWhileTheFreezeRunsStillReexecs) {
  ASSERT_NO_FATAL_FAILURE(StopDuringAReexecStopsTheNewKhod("--fault=sigterm-during-freeze"));
}

// The same stop when the exec then fails (a --reexec-binary no one may
// execute): this khod, which goes on as the new side, stops gracefully once it
// serves again, in HANDED_OVER, and a restart goes on from there.
TEST_F(ReexecCrashTest, StopSignalDuringAFailedReexecStopsThisKhod) {
  const std::string program = dir_ + "/not-executable-khod";
  { std::ofstream(program) << "not a program\n"; }
  ASSERT_EQ(::chmod(program.c_str(), 0600), 0);
  flags_ = {"--fault=sigterm-before-exec", "--reexec-binary=" + program};
  KhodClient c(Socket());
  ASSERT_NO_FATAL_FAILURE(FreezeAndStopDuringTheReexec(c));
  const std::string log = ReadTestFile(dir_ + "/khod.log");
  const size_t failed = log.find("khod: reexec failed");
  ASSERT_NE(failed, std::string::npos) << "the exec did not fail";
  EXPECT_NE(log.find("khod: stopping on signal; session stays in HANDED_OVER", failed),
            std::string::npos)
      << "khod did not stop on the signal after its failed exec";
  ExpectGuestUntouched("after the stop");

  ASSERT_NO_FATAL_FAILURE(RestartFromHandedOverAndGoOut(c, ""));
}

}  // namespace
}  // namespace khod
