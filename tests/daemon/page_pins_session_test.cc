// Page pins through a session and a reexec (khod --pin-movable-memory,
// kernel/page_pin.h), in this process: Prepare pins the shmem guest's pages
// and the PTE keeper witnesses them, Freeze walks only the holes and hands
// the pins on (--page-pins), and
// the new side, with a mapping holder as a reexec leaves one, verifies by a
// change scan too; without the pins it takes the full check.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "handover/reexec_transport.h"
#include "kernel/pte_keeper.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

class PagePinsSessionTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    if (!PfnsVisible()) GTEST_SKIP() << "needs root outside a user namespace: PFNs";
  }

  // Attach, Prepare and a REEXEC Freeze in `old_` (khod --pin-movable-memory);
  // the new side opened as the re-executed khod would be, given dups of the
  // pins' fds when `pass_pins` (this process also stays the old side), and
  // `before_release` as its SessionOptions::before_release_after_reply.
  std::unique_ptr<Session> HandOver(bool pass_pins, std::function<void()> before_release = nullptr,
                                    bool warm_up_thread_fails = false) {
    Result<std::unique_ptr<Session>> old = Session::Open(Opts(), &pinning_);
    if (!old.ok()) return nullptr;
    old_ = std::move(*old);
    v1::AttachRequest q = KernelAttach(memfd_);
    q.set_hash_contents(false);
    if (!AttachPrepareReexecFreeze(old_.get(), q, &prepared_, &frozen_)) return nullptr;
    SessionOptions n = NewSideOpts(exec_argv_);
    n.before_release_after_reply = std::move(before_release);
    n.warm_up_thread_fails_for_test = warm_up_thread_fails;
    pins_arg_ = ExecArg(exec_argv_, "--page-pins");
    Result<std::map<uint64_t, std::vector<int>>> pins = ParsePagePinsSpec(pins_arg_);
    EXPECT_TRUE(pins.ok()) << pins.status().ToString();
    if (pass_pins && pins.ok())
      for (const auto& [token, fds] : *pins)
        for (int fd : fds) n.page_pins[token].push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 3));
    return OpenNewSideWithHolder(std::move(n));
  }

  SystemOpener pinning_{0, /*pin_movable=*/true};
  std::unique_ptr<Session> old_;
  std::string prepared_, frozen_, pins_arg_;
};

TEST_F(PagePinsSessionTest, PinsGoFromPrepareThroughTheReexecToVerify) {
  std::unique_ptr<Session> s = HandOver(/*pass_pins=*/true);
  ASSERT_TRUE(s);
  if (prepared_.find("not pinned") != std::string::npos) GTEST_SKIP() << prepared_;
  // The guest: 128 resident pages, then holes (SessionTest).
  EXPECT_NE(prepared_.find("; 128 pages of 1 memfds pinned until the handover"), std::string::npos)
      << prepared_;
  // Pinned, the pages cannot move: the PTE keeper witnesses them (it maps
  // the 128 pages), and Freeze walks only the holes.
  EXPECT_NE(prepared_.find("maps 128 pages"), std::string::npos) << prepared_;
  EXPECT_NE(
      frozen_.find("change scan walked the PTEs of 128 pages, 128 witnessed by the PTE keeper"),
      std::string::npos)
      << frozen_;
  EXPECT_FALSE(pins_arg_.empty()) << "no --page-pins in the exec argv";
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*v);
  // The change scan walked the guest's pages (its holes too); no full read.
  EXPECT_EQ(v->real_pages_walked(), 256u);
}

// A session finished in the process that sent the handover (dir) lets its
// PTE keeper go: the keeper maps every guest page, which would otherwise stay
// allocated after the VMM lets go of them.
TEST_F(PagePinsSessionTest, FinishLetsThePteKeeperGo) {
  Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &pinning_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
  Result<v1::PhaseReply> p = (*s)->Prepare();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const size_t at = p->message().find("PTE keeper pid ");
  if (at == std::string::npos) GTEST_SKIP() << "no PTE keeper: " << p->message();
  const pid_t keeper = std::atoi(p->message().c_str() + at + 15);
  ASSERT_GT(keeper, 0) << p->message();
  ASSERT_TRUE((*s)->Freeze(PausedFreeze()).ok());
  ASSERT_TRUE((*s)->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE((*s)->Verify().ok());
  ASSERT_EQ(::kill(keeper, 0), 0) << "the keeper went before Finish";
  ASSERT_TRUE((*s)->Finish().ok());
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {
    gone = ::kill(keeper, 0) != 0 && errno == ESRCH;
    if (!gone) ::usleep(10000);
  }
  EXPECT_TRUE(gone) << "PTE keeper pid " << keeper << " still runs after Finish";
}

// Children of this process started as the PTE keeper, not yet exited.
std::vector<pid_t> LiveKeepers() {
  std::vector<pid_t> keepers;
  DIR* d = ::opendir("/proc");
  if (!d) return keepers;
  while (dirent* e = ::readdir(d)) {
    const pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    std::getline(stat, line);
    const size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 >= line.size())
      continue;
    const char state = line[close + 2];
    const pid_t ppid = std::atoi(line.c_str() + close + 4);
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    std::string argv0;
    std::getline(cmdline, argv0, '\0');
    if (argv0 == kPteKeeperArgv0 && ppid == ::getpid() && state != 'Z') keepers.push_back(pid);
  }
  ::closedir(d);
  return keepers;
}

// This process's io_uring instances: what holds page pins (kernel/page_pin.h).
int PinRings() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (dirent* e = ::readdir(d)) {
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(path.c_str(), link, sizeof(link) - 1) > 0 &&
        std::string(link) == "anon_inode:[io_uring]")
      ++n;
  }
  ::closedir(d);
  return n;
}

// A Prepare that fails from IDLE (here its record write) lets go of what it
// took: the PTE keeper it started and the pages it pinned. The session is
// IDLE with its attached file alone, and a Prepare that succeeds then takes
// both again.
TEST_F(PagePinsSessionTest, APrepareThatFailsFromIdleLetsGoOfItsKeeperAndPins) {
  Result<std::unique_ptr<Session>> s = Session::Open(Opts(), &pinning_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE((*s)->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(LiveKeepers().empty());
  const int rings_before = PinRings();
  ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
  Result<v1::PhaseReply> failed = (*s)->Prepare();
  ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ((*s)->phase(), v1::IDLE);
  // The keeper is told to go and reaped on a thread of its own: given a few seconds.
  for (int i = 0; i < 500 && !LiveKeepers().empty(); ++i) ::usleep(10000);
  EXPECT_TRUE(LiveKeepers().empty()) << "a keeper of a session that stayed IDLE";
  EXPECT_EQ(PinRings(), rings_before) << "pins of a session that stayed IDLE";
  Result<v1::PhaseReply> p = (*s)->Prepare();
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  if (p->message().find("PTE keeper pid") == std::string::npos ||
      p->message().find("pinned until the handover") == std::string::npos)
    GTEST_SKIP() << "no PTE keeper or no pins here, so none to let go: " << p->message();
  EXPECT_EQ(LiveKeepers().size(), 1u);
  EXPECT_GT(PinRings(), rings_before);
}

// Open adopts the carried files on a thread; where none can be started it
// adopts them itself, the pins with them: Verify still scans only what
// changed (the pins reached the file), as with the thread.
TEST_F(PagePinsSessionTest, AWarmUpWithNoThreadStillGivesThePinsToTheFile) {
  std::unique_ptr<Session> s = HandOver(/*pass_pins=*/true, nullptr, /*warm_up_thread_fails=*/true);
  ASSERT_TRUE(s);
  if (prepared_.find("not pinned") != std::string::npos) GTEST_SKIP() << prepared_;
  ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*v);
  EXPECT_EQ(v->real_pages_walked(), 256u) << "the pins were lost with the thread";
}

TEST_F(PagePinsSessionTest, WithoutThePinsTheNewSideChecksInFull) {
  std::unique_ptr<Session> s = HandOver(/*pass_pins=*/false);
  ASSERT_TRUE(s);
  if (prepared_.find("not pinned") != std::string::npos) GTEST_SKIP() << prepared_;
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*v);
  EXPECT_EQ(v->real_pages_walked(), 0u) << "read in full";
}

// A Restore that fails (here its record write) gives back the file it had
// taken warm, with the pins the handover passed on: the retry takes it again,
// and Verify still scans only what changed.
TEST_F(PagePinsSessionTest, AFailedRestoreKeepsTheWarmFileAndItsPins) {
  std::unique_ptr<Session> s = HandOver(/*pass_pins=*/true);
  ASSERT_TRUE(s);
  if (prepared_.find("not pinned") != std::string::npos) GTEST_SKIP() << prepared_;
  ASSERT_NO_FATAL_FAILURE(BreakRecordWrites());
  Result<v1::PhaseReply> failed = s->Restore(v1::RestoreRequest());
  ASSERT_NO_FATAL_FAILURE(MendRecordWrites());
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(s->phase(), v1::HANDED_OVER);
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*v);
  EXPECT_EQ(v->real_pages_walked(), 256u) << "the pins were lost with the failed Restore";
}

// Verify's reply does not wait for the previous khod's mapping holder,
// keeper and pins to be let go (milliseconds with 100 files, inside the
// blackout): that runs after it, once Verify has given up the session's lock.
TEST_F(PagePinsSessionTest, VerifyRepliesBeforeLettingGoOfWhatTheHandoverLent) {
  std::promise<void> open_gate;
  std::shared_future<void> gate = open_gate.get_future().share();
  std::unique_ptr<Session> s = HandOver(/*pass_pins=*/true, [gate] { gate.wait(); });
  ASSERT_TRUE(s);
  if (prepared_.find("not pinned") != std::string::npos) GTEST_SKIP() << prepared_;
  struct OpenAtEnd {  // a failed ASSERT must not leave the release waiting
    std::promise<void>* p;
    bool opened = false;
    void Open() {
      if (!opened) p->set_value();
      opened = true;
    }
    ~OpenAtEnd() { Open(); }
  } opener{&open_gate};
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->holds_mapping_holder());
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*v);
  EXPECT_TRUE(s->holds_mapping_holder()) << "Verify let the holder go before its reply";
  // A call that comes first sees the holds as they were (a second Verify
  // reads every page, as it always does), and leaves its release to the one
  // still waiting.
  Result<v1::VerifyReply> again = s->Verify();
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*again), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*again);
  EXPECT_TRUE(s->holds_mapping_holder());
  opener.Open();
  s->WaitForReleaseAfterReply();
  EXPECT_FALSE(s->holds_mapping_holder());
  // Released, a Verify still verifies, and there is nothing more to let go.
  Result<v1::VerifyReply> last = s->Verify();
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*last), UnchangedKernelAttachVerdict(Contents::kNotHashed))
      << FirstDifferenceOf(*last);
  s->WaitForReleaseAfterReply();
  EXPECT_FALSE(s->holds_mapping_holder());
}

}  // namespace
}  // namespace khod
