#include "kernel/pte_keeper.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "tests/support/fixture.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

const uint64_t kPage = static_cast<uint64_t>(::getpagesize());

// The fields the witness reads, as Linux 6.18 writes them (a keeper asleep).
constexpr char kStatus618[] =
    "Name:\tkhod-pte-keepe\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\n"
    "VmRSS:\t   70112 kB\nRssAnon:\t     604 kB\nRssFile:\t   69508 kB\nRssShmem:\t       0 kB\n"
    "Threads:\t1\nvoluntary_ctxt_switches:\t7\nnonvoluntary_ctxt_switches:\t2\n";

TEST(PteKeeperStateTest, ParsesTheFieldsOfA618StatusText) {
  Result<PteKeeperState> s = ParsePteKeeperState(kStatus618);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, 'S');
  EXPECT_EQ(s->rss_file_kb, 69508u);
  EXPECT_EQ(s->rss_shmem_kb, 0u);
  EXPECT_EQ(s->context_switches, 9u);
}

TEST(PteKeeperStateTest, RefusesATextWithoutEachField) {
  for (const char* key : {"State:", "RssFile:", "RssShmem:", "voluntary_ctxt_switches:",
                          "nonvoluntary_ctxt_switches:"}) {
    std::string text = kStatus618;
    // "voluntary_ctxt_switches:" is inside "nonvoluntary_...": cut the line that starts so.
    size_t at = text.find(std::string("\n") + key);
    ASSERT_NE(at, std::string::npos) << key;
    text.erase(at + 1, text.find('\n', at + 1) - at);
    Result<PteKeeperState> s = ParsePteKeeperState(text);
    EXPECT_EQ(s.status().code(), Status::Code::kCorruption) << key;
  }
  std::string bad = kStatus618;
  bad.replace(bad.find("69508 kB"), 8, "69508 MB");
  EXPECT_EQ(ParsePteKeeperState(bad).status().code(), Status::Code::kCorruption);
}

TEST(PteKeeperTest, MapsAndPopulatesOnlyThePagesItIsGivenThenSleeps) {
  TestMemfd memfd(64 * kPage);
  // Only the pages given exist: shmem's fault-around maps neighbours that do.
  for (const auto& [first, count] : {std::pair<uint64_t, uint64_t>{0, 8}, {20, 4}, {60, 4}})
    memfd.Fill(first * kPage, count * kPage, 0x5a);
  PteKeeperFile f;
  f.fd = memfd.fd();
  f.size = 64 * kPage;
  f.pages = {{0, 8}, {20, 4}, {60, 4}};
  Result<PteKeeper> k = PteKeeper::Spawn({f});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_NE(k->address(0), 0u);
  EXPECT_EQ(k->populated_pages(), 16u);
  Result<std::vector<PageSpan>> absent = k->NonPresent(0, 64);
  ASSERT_TRUE(absent.ok()) << absent.status().ToString();
  ASSERT_EQ(absent->size(), 2u);
  EXPECT_EQ((*absent)[0].first, 8u);
  EXPECT_EQ((*absent)[0].count, 12u);
  EXPECT_EQ((*absent)[1].first, 24u);
  EXPECT_EQ((*absent)[1].count, 36u);
  Result<PteKeeperState> a = k->State();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->state, 'S');
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Result<PteKeeperState> b = k->State();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b) << "an idle keeper's state moved";
}

// The keeper populates in pieces of 64 Ki pages on several threads: a span
// longer than a piece, ending off a piece boundary, is mapped whole, once.
TEST(PteKeeperTest, ASpanLongerThanAPieceIsPopulatedWhole) {
  const uint64_t pages = 64 * 1024 * 2 + 300;
  TestMemfd memfd(pages * kPage);
  memfd.Fill(0, pages * kPage, 1);
  Result<PteKeeper> k =
      PteKeeper::Spawn({PteKeeperFile{memfd.fd(), pages * kPage, {{5, pages - 10}}}});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->populated_pages(), pages - 10);
  Result<std::vector<PageSpan>> absent = k->NonPresent(0, pages);
  ASSERT_TRUE(absent.ok());
  // shmem's fault-around may map a few pages either side of the span; none inside is missing.
  for (const PageSpan& s : *absent)
    EXPECT_TRUE(s.end() <= 5 || s.first >= pages - 5) << s.first << "+" << s.count;
}

TEST(PteKeeperTest, AKeeperThatRanNoLongerShowsTheSameState) {
  TestMemfd memfd(4 * kPage);
  PteKeeperFile f{memfd.fd(), 4 * kPage, {{0, 4}}};
  Result<PteKeeper> k = PteKeeper::Spawn({f});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  Result<PteKeeperState> a = k->State();
  ASSERT_TRUE(a.ok());
  // Stopped and continued: it was scheduled, whatever it did.
  ASSERT_EQ(::kill(k->pid(), SIGSTOP), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(::kill(k->pid(), SIGCONT), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  Result<PteKeeperState> b = k->State();
  ASSERT_TRUE(b.ok());
  EXPECT_NE(*a, *b);
}

TEST(PteKeeperTest, ExitsWhenReleased) {
  TestMemfd memfd(4 * kPage);
  Result<PteKeeper> k = PteKeeper::Spawn({PteKeeperFile{memfd.fd(), 4 * kPage, {{0, 4}}}});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  const pid_t pid = k->pid();
  k->Release();
  EXPECT_FALSE(k->running());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::kill(pid, 0) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_NE(::kill(pid, 0), 0) << "keeper pid " << pid << " still there";
}

// A keeper that exited before a new khod adopts it is refused, and reaped:
// no zombie is left behind.
TEST(PteKeeperTest, AdoptingAKeeperThatExitedReapsIt) {
  TestMemfd memfd(4 * kPage);
  Result<PteKeeper> k = PteKeeper::Spawn({PteKeeperFile{memfd.fd(), 4 * kPage, {{0, 4}}}});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  const pid_t pid = k->pid();
  const int control = ::dup(k->control_fd());
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  siginfo_t info = {};
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT), 0);  // a zombie now
  Result<PteKeeper> again = PteKeeper::Adopt(pid, control);
  EXPECT_EQ(again.status().code(), Status::Code::kNotFound) << again.status().ToString();
  EXPECT_NE(::kill(pid, 0), 0) << "pid " << pid << " is still a zombie";
}

// The fact the witness rests on, on guest_memfd: a punch anywhere in the
// file lowers the keeper's RssFile by exactly the pages it had mapped there,
// and nothing else moves it.
TEST(PteKeeperTest, APunchOfAGuestMemfdPageLowersItsRssFileByThatPage) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(64 * kPage);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  void* m = ::mmap(nullptr, 64 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd(), 0);
  ASSERT_NE(m, MAP_FAILED);
  std::memset(m, 1, 64 * kPage);
  Result<PteKeeper> k = PteKeeper::Spawn({PteKeeperFile{g->fd(), 64 * kPage, {{0, 64}}}});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->populated_pages(), 64u);
  Result<PteKeeperState> before = k->State();
  ASSERT_TRUE(before.ok());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(::fallocate(g->fd(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                          static_cast<off_t>(i * 10 * kPage), static_cast<off_t>(kPage)),
              0);
    Result<PteKeeperState> now = k->State();
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(now->rss_file_kb + i * kPage / 1024, before->rss_file_kb) << "punch " << i;
    EXPECT_EQ(now->context_switches, before->context_switches);
  }
  // Written again through khod's side: a new page there, none in the keeper.
  static_cast<char*>(m)[10 * kPage] = 2;
  Result<PteKeeperState> after = k->State();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->rss_file_kb + 3 * kPage / 1024, before->rss_file_kb);
  Result<std::vector<PageSpan>> absent = k->NonPresent(0, 64);
  ASSERT_TRUE(absent.ok());
  ASSERT_EQ(absent->size(), 3u);
  EXPECT_EQ((*absent)[0].first, 10u);
  ::munmap(m, 64 * kPage);
}

// A page named but gone (or never there) is not filled: populating a hole of
// a shared guest_memfd mapping would allocate it.
TEST(PteKeeperTest, AHoleAmongThePagesGivenStaysAHole) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(64 * kPage);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  void* m = ::mmap(nullptr, 64 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd(), 0);
  ASSERT_NE(m, MAP_FAILED);
  for (uint64_t p = 0; p < 32; ++p) static_cast<char*>(m)[p * kPage] = 1;
  Result<PteKeeper> k = PteKeeper::Spawn({PteKeeperFile{g->fd(), 64 * kPage, {{0, 64}}}});
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->populated_pages(), 32u);
  std::vector<unsigned char> resident(64);
  ASSERT_EQ(::mincore(m, 64 * kPage, resident.data()), 0);
  for (uint64_t p = 32; p < 64; ++p) EXPECT_EQ(resident[p] & 1, 0) << "page " << p << " allocated";
  ::munmap(m, 64 * kPage);
}

}  // namespace
}  // namespace khod
