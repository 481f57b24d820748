// A capture round (AssembleSnapshot) reads HardwareCorrupted (capture/flag_reuse.h
// rule 4) twice, before any file's pages and after all of them, whatever the
// number of files; each file takes the round's count instead of reading its
// own. A count that moves during the round makes the round capture every file
// again, each reading the count itself: no flag is carried across the change,
// and the snapshot is a full capture's. Both kinds of memory: shmem memfds (the
// full check; no /dev/kvm needed) and guest_memfds (the changes-only scan).
#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "capture/kernel_source.h"
#include "capture/snapshot_assembly.h"
#include "kernel/pagemap.h"
#include "tests/support/fixture.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096, kPages = 256;
constexpr int kFiles = 4;

// The opens of one file, seen by inotify from now on.
class OpenCounter {
 public:
  explicit OpenCounter(const std::string& path) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    // A close between two opens keeps them apart: identical events in a row
    // would be merged into one.
    if (fd_ < 0 || ::inotify_add_watch(fd_, path.c_str(), IN_OPEN | IN_CLOSE_NOWRITE) < 0) {
      std::perror("inotify");
      std::abort();
    }
  }
  ~OpenCounter() { ::close(fd_); }
  OpenCounter(const OpenCounter&) = delete;
  OpenCounter& operator=(const OpenCounter&) = delete;

  // Opens since the last call.
  int Take() {
    int opens = 0;
    alignas(inotify_event) char buf[4096];
    for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) > 0;)
      for (ssize_t at = 0; at < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + at);
        if (e->mask & IN_OPEN) ++opens;
        at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
      }
    return opens;
  }

 private:
  int fd_ = -1;
};

enum class Kind { kShmem, kGuestMemfd };

std::string KindName(const ::testing::TestParamInfo<Kind>& k) {
  return k.param == Kind::kShmem ? "Shmem" : "GuestMemfd";
}

// kFiles files of kPages pages, every page written through a mapping (dirty:
// a later capture carries its flags, rule 3). The guest_memfds are on one VM:
// the fixture's file and the others it made.
struct Files {
  std::vector<TestMemfd> memfds;
  std::optional<TestGuestMemfd> gmem;
  std::vector<UniqueFd> more_gmems;
  std::vector<int> fds;
};

void WriteEveryPage(int fd) {
  void* m = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(m, MAP_FAILED) << std::strerror(errno);
  std::memset(m, 0x5a, kPages * kPage);
  ::munmap(m, kPages * kPage);
}

// OK `why` when made; Unsupported where this machine makes no guest_memfd;
// any other error is the test's failure.
void MakeFiles(Kind kind, Files* f, Status* why) {
  for (int i = 0; i < kFiles; ++i) {
    if (kind == Kind::kShmem) {
      f->memfds.emplace_back(kPages * kPage, "round");
      f->fds.push_back(f->memfds.back().fd());
    } else if (!f->gmem) {
      Result<TestGuestMemfd> gmem = TestGuestMemfd::Make(kPages * kPage);
      if (!gmem.ok()) return (void)(*why = gmem.status());
      f->gmem.emplace(std::move(*gmem));
      f->fds.push_back(f->gmem->fd());
    } else {
      Result<UniqueFd> fd = f->gmem->Another(kPages * kPage);
      if (!fd.ok()) return (void)(*why = fd.status());
      f->more_gmems.push_back(std::move(*fd));
      f->fds.push_back(f->more_gmems.back().get());
    }
    WriteEveryPage(f->fds.back());
  }
}

class RoundHwCorruptedTest : public ::testing::TestWithParam<Kind> {
 protected:
  void SetUp() override {
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
    Status why;
    MakeFiles(GetParam(), &files_, &why);
    if (why.code() == Status::Code::kUnsupported)
      GTEST_SKIP() << "no guest_memfd on this machine: " << why.message();
    ASSERT_TRUE(why.ok()) << "this machine makes guest_memfds, yet: " << why.ToString();
    SetCorrupted(0);
  }
  void SetCorrupted(uint64_t kb) {
    std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: " << kb << " kB\n";
  }
  // A source of each file, reading the fake meminfo outside a round.
  std::vector<std::unique_ptr<KernelGmemSource>> Sources() {
    std::vector<std::unique_ptr<KernelGmemSource>> out;
    for (size_t i = 0; i < files_.fds.size(); ++i) {
      KernelSourceOptions o;
      o.meminfo_path = meminfo_;
      o.name = "g" + std::to_string(i);  // the same for every source of the file
      auto s = KernelGmemSource::FromFd(UniqueFd(::dup(files_.fds[i])), o);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      out.push_back(s.ok() ? std::move(*s) : nullptr);
    }
    return out;
  }
  // One round over `sources` on `threads` threads; `during` (optional) runs
  // once, from the first file's first progress call: in the middle of the round.
  std::vector<GuestMemfd> Round(const std::vector<std::unique_ptr<KernelGmemSource>>& sources,
                                int threads, CaptureStats* stats,
                                std::function<void()> during = nullptr) {
    std::vector<SnapshotPart> parts(sources.size());
    for (size_t i = 0; i < sources.size(); ++i) {
      parts[i].source = sources[i].get();
      parts[i].options.stats = stats;
    }
    if (during)
      parts[0].options.progress = [&during](uint64_t, uint64_t) {
        if (during) std::exchange(during, nullptr)();
      };
    Result<Snapshot> snap = AssembleSnapshot(parts, {}, threads, meminfo_);
    EXPECT_TRUE(snap.ok()) << snap.status().ToString();
    return snap.ok() ? snap->gmems : std::vector<GuestMemfd>();
  }
  // A full capture: fresh sources, every page's flags read.
  std::vector<GuestMemfd> Reference() {
    CaptureStats stats;
    std::vector<GuestMemfd> g = Round(Sources(), 1, &stats);
    EXPECT_EQ(stats.flags_carried, 0u);
    return g;
  }

  TempDir dir_{"round-hw"};
  const std::string meminfo_ = dir_.Join("meminfo");
  Files files_;
};

constexpr uint64_t kAllPages = kFiles * kPages;

TEST_P(RoundHwCorruptedTest, ARoundReadsTheCountTwiceWhateverItsFiles) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    auto sources = Sources();
    OpenCounter opens(meminfo_);
    CaptureStats first, second;
    const std::vector<GuestMemfd> a = Round(sources, threads, &first);
    EXPECT_EQ(opens.Take(), 2) << "a first capture of " << kFiles << " files (no baseline)";
    EXPECT_EQ(first.flags_read, kAllPages);
    const std::vector<GuestMemfd> b = Round(sources, threads, &second);
    EXPECT_EQ(opens.Take(), 2) << "a second capture of " << kFiles << " files (flags carried)";
    EXPECT_EQ(second.flags_carried, kAllPages) << "every page is dirty and where it was";
    EXPECT_EQ(a, b);
    if (GetParam() == Kind::kGuestMemfd) {
      for (const auto& s : sources) EXPECT_TRUE(s->changes_only()) << s->changes_note();
    }
  }
}

// The count moves while the round's first file is captured: the files taken
// after it (and it) would carry their flags under the round's first count; the
// round sees the move after all of them and captures every file again.
TEST_P(RoundHwCorruptedTest, ACountThatMovesDuringTheRoundMakesItCaptureEveryFileAgain) {
  for (int attempt = 0; attempt < 10; ++attempt) {  // shmem may migrate under load: see below
    SetCorrupted(0);
    auto sources = Sources();
    CaptureStats baseline, moved, after;
    Round(sources, 1, &baseline);
    const std::vector<GuestMemfd> before = Reference();
    int progress_calls = 0;
    const std::vector<GuestMemfd> got = Round(sources, 1, &moved, [&] {
      ++progress_calls;
      SetCorrupted(4);
    });
    EXPECT_EQ(progress_calls, 1);
    EXPECT_EQ(moved.flags_carried, 0u) << "no flag carried across the change";
    EXPECT_EQ(moved.flags_read, kAllPages);
    if (GetParam() == Kind::kGuestMemfd) {
      for (const auto& s : sources) EXPECT_EQ(s->changes_note(), "HardwareCorrupted changed");
    }
    // Each baseline now holds the new count: the next round carries again.
    const std::vector<GuestMemfd> next = Round(sources, 1, &after);
    EXPECT_EQ(after.flags_carried, kAllPages);
    // A full capture now; shmem that moved between the two references is tried again.
    if (before != Reference()) continue;
    EXPECT_EQ(got, before);
    EXPECT_EQ(next, before);
    return;
  }
  ADD_FAILURE() << "the memory moved during every try";
}

// The count a round read before any page is what it reports (a Freeze
// records it for Verify's carried flags); none when it could not be read.
TEST_P(RoundHwCorruptedTest, TheRoundReportsTheCountItReadBeforeAnyPage) {
  SetCorrupted(12);
  std::vector<std::unique_ptr<KernelGmemSource>> sources = Sources();
  std::vector<SnapshotPart> parts(sources.size());
  for (size_t i = 0; i < sources.size(); ++i) parts[i].source = sources[i].get();
  std::optional<uint64_t> before;
  ASSERT_TRUE(AssembleSnapshot(parts, {}, 2, meminfo_, &before).ok());
  EXPECT_EQ(before, std::optional<uint64_t>(12));
  ASSERT_TRUE(AssembleSnapshot(parts, {}, 2, dir_.Join("no-meminfo"), &before).ok());
  EXPECT_EQ(before, std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(Kinds, RoundHwCorruptedTest,
                         ::testing::Values(Kind::kShmem, Kind::kGuestMemfd), KindName);

}  // namespace
}  // namespace khod
