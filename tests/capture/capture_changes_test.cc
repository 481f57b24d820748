// Capture threads and O(changes) captures (issue 12 items 1 and 2), each
// checked against a reference: a fresh source's first, full capture of the
// same file, which reads every page.
//  - Any number of capture threads gives the reference snapshot.
//  - guest_memfd (memory that cannot move): a capture with a baseline scans
//    only what changed (capture/change_scan.h) and is still the reference,
//    after punches, new pages, a punch of the tail, and through a holder's
//    mapping as Verify reads it after a reexec.
//  - shmem (memory that can move) always takes the full check, and stays
//    exact when compaction migrates its pages; guest_memfd's PFNs do not move.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "capture/kernel_source.h"
#include "kernel/pagemap.h"
#include "tests/support/fixture.h"
#include "tests/support/own_pagemap.h"
#include "tests/support/pfns_visible.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

class CaptureChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PfnsVisible())
      GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
    meminfo_ = ::testing::TempDir() + "/capture-changes-meminfo";
    std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 0 kB\n";
  }
  void TearDown() override { ::unlink(meminfo_.c_str()); }

  std::unique_ptr<KernelGmemSource> Source(int fd, int threads = 1, uint64_t window = 0,
                                           bool pin_movable = false) {
    KernelSourceOptions o;
    o.pin_movable = pin_movable;
    o.meminfo_path = meminfo_;
    o.name = "g";  // the same name for every source of the file
    o.capture_threads = threads;
    o.window_pages = window;
    auto s = KernelGmemSource::FromFd(UniqueFd(::dup(fd)), o);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // The reference: a fresh source's first capture, every page read.
  GuestMemfd Reference(int fd) {
    auto s = Source(fd);
    GuestMemfd g;
    Status st = s->Capture({}, &g);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_FALSE(s->changes_only());
    return g;
  }
  // shmem can migrate at any moment (compaction under other processes' load):
  // a capture of it is compared with references taken just before and after
  // it, on a try where those two agree.
  void ExpectStableReference(int fd, const std::function<GuestMemfd()>& capture,
                             const std::string& what) {
    for (int i = 0; i < 10; ++i) {
      const GuestMemfd before = Reference(fd);
      const GuestMemfd got = capture();
      if (before == Reference(fd)) {
        EXPECT_EQ(got, before) << what;
        return;
      }
    }
    ADD_FAILURE() << what << ": the memory moved during every try";
  }
  GuestMemfd Capture(KernelGmemSource* s, const CaptureOptions& o = {}) {
    GuestMemfd g;
    Status st = s->Capture(o, &g);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return g;
  }
  std::string meminfo_;
};

uint64_t Pages(const GuestMemfd& g) {
  uint64_t n = 0;
  for (const auto& e : g.folios) n += e.pages();
  return n;
}

void Punch(int fd, uint64_t first, uint64_t count) {
  ASSERT_EQ(::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(first * kPage), static_cast<off_t>(count * kPage)),
            0)
      << "punch " << first << "+" << count;
}

// Writes pages [first, first + count) of a mapping of the file (the VMM's).
void Write(uint8_t* vmm, uint64_t first, uint64_t count, uint8_t v) {
  for (uint64_t p = first; p < first + count; ++p) vmm[p * kPage] = static_cast<uint8_t>(v + p);
}

// Two shmem memfds written page by page in turn: PFN runs of a few pages,
// so every window of the scan has many runs. `file` is the one to capture.
struct Fragmented {
  TestMemfd file, other;
};
Fragmented FragmentedMemfds(uint64_t pages) {
  Fragmented f{TestMemfd(pages * kPage, "threads"), TestMemfd(pages * kPage, "interleave")};
  auto* a = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, f.file.fd(), 0));
  auto* b = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, f.other.fd(), 0));
  for (uint64_t p = 0; p < pages; ++p) {
    if (p % 97 == 13) continue;  // holes
    a[p * kPage] = static_cast<uint8_t>(p | 1);
    if (p % 3 == 0) b[p * kPage] = 1;
  }
  ::munmap(a, pages * kPage);
  ::munmap(b, pages * kPage);
  return f;
}

// Capture threads: 1, 2, 3 and 7 threads over 16 windows of a fragmented
// file give the reference snapshot, first and again after punches and new
// pages (the second capture compares with its baseline).
TEST_F(CaptureChangesTest, AnyNumberOfThreadsGivesTheReferenceSnapshot) {
  const uint64_t pages = 8192, window = 512;
  Fragmented f = FragmentedMemfds(pages);
  const int fd = f.file.fd();
  const GuestMemfd ref = Reference(fd);
  ASSERT_GT(ref.folios.size(), 1000u) << "fragmented: many runs per window";
  for (int threads : {1, 2, 3, 7}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    auto s = Source(fd, threads, window);
    ASSERT_NE(s, nullptr);
    ExpectStableReference(
        fd, [&] { return Capture(s.get()); }, "the first capture");
    EXPECT_EQ(s->threads_used(), threads);
    ExpectStableReference(
        fd, [&] { return Capture(s.get()); }, "a capture from its baseline");
  }
  auto* m = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  std::vector<std::unique_ptr<KernelGmemSource>> sources;
  for (int threads : {1, 2, 3, 7}) {
    sources.push_back(Source(fd, threads, window));
    Capture(sources.back().get());
  }
  Punch(fd, 700, 40);
  Punch(fd, 5000, 1);
  Write(m, 13, 1, 3);   // a hole filled
  Write(m, 720, 5, 4);  // part of the punch, new pages
  EXPECT_FALSE(Reference(fd) == ref);
  for (auto& s : sources)
    ExpectStableReference(
        fd, [&] { return Capture(s.get()); },
        std::to_string(s->threads_used()) + " threads after the changes");
  ::munmap(m, pages * kPage);
}

// A guest_memfd (MMAP|INIT_SHARED) on a VM of the test's own, with pages
// [0, used) written through the test's mapping (the VMM's).
struct Gmem {
  explicit Gmem(TestGuestMemfd f) : file(std::move(f)) {}
  ~Gmem() {
    if (vmm) ::munmap(vmm, pages * kPage);
  }
  int fd() const { return file.fd(); }

  TestGuestMemfd file;
  uint8_t* vmm = nullptr;
  uint64_t pages = 0;
};

// nullptr with *why Unsupported where this machine makes no guest_memfd;
// any other error is the test's failure (KHOD_GMEM_OR_SKIP).
std::unique_ptr<Gmem> MakeGmem(uint64_t pages, uint64_t used, Status* why) {
  Result<TestGuestMemfd> file = TestGuestMemfd::Make(pages * kPage);
  if (!file.ok()) {
    *why = file.status();
    return nullptr;
  }
  auto g = std::make_unique<Gmem>(std::move(*file));
  void* m = ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd(), 0);
  if (m == MAP_FAILED) {
    *why = Status::FromErrno("mmap of the guest_memfd", errno);
    return nullptr;
  }
  g->vmm = static_cast<uint8_t*>(m);
  g->pages = pages;
  Write(g->vmm, 0, used, 1);
  return g;
}

#define KHOD_GMEM_OR_SKIP(g, pages, used)                                \
  Status why;                                                            \
  std::unique_ptr<Gmem> g = MakeGmem(pages, used, &why);                 \
  if (!g && why.code() == Status::Code::kUnsupported)                    \
    GTEST_SKIP() << "no guest_memfd on this machine: " << why.message(); \
  ASSERT_TRUE(g) << "this machine makes guest_memfds, yet: " << why.ToString()

// Freeze after Prepare: the second capture looks only at what changed, and
// every result is the reference.
TEST_F(CaptureChangesTest, GuestMemfdRecaptureScansOnlyChangesAndIsExact) {
  const uint64_t pages = 4096, used = 3584;
  KHOD_GMEM_OR_SKIP(g, pages, used);
  const int fd = g->fd();
  auto s = Source(fd, 2, 512);
  ASSERT_NE(s, nullptr);
  const GuestMemfd first = Capture(s.get());
  EXPECT_FALSE(s->changes_only()) << "a first capture has no baseline";
  EXPECT_EQ(Pages(first), used);
  EXPECT_EQ(first, Reference(fd));

  const GuestMemfd same = Capture(s.get());
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(s->pages_rescanned(), 0u);
  EXPECT_EQ(s->flags_carried_pages(), used);
  EXPECT_EQ(same, first);

  // A punch: those pages are gone, nothing else is scanned but them.
  Punch(fd, 1000, 10);
  GuestMemfd now = Capture(s.get());
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_GE(s->pages_rescanned(), 10u);
  EXPECT_LE(s->pages_rescanned(), 10u + 2 * 64);
  EXPECT_EQ(Pages(now), used - 10);
  EXPECT_EQ(now, Reference(fd));

  // New pages in the hole at the end, and punched pages used again (new PFNs).
  Write(g->vmm, 3700, 10, 7);
  Write(g->vmm, 1002, 3, 9);
  Punch(fd, 2000, 5);
  Write(g->vmm, 2000, 5, 11);
  now = Capture(s.get());
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_LE(s->pages_rescanned(), 512u) << "the changes, not the file";
  EXPECT_EQ(Pages(now), used - 10 + 10 + 3);
  EXPECT_EQ(now, Reference(fd));

  // The tail punched off (a guest_memfd cannot be truncated: ftruncate is ESPIPE).
  Punch(fd, 3000, pages - 3000);
  now = Capture(s.get());
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_EQ(now, Reference(fd));
  EXPECT_EQ(Capture(s.get()), now);
  EXPECT_EQ(s->pages_rescanned(), 0u);
}

// flag_reuse.h rule 4: a HardwareCorrupted count other than the baseline's,
// read before any page, sends the capture down the full path; the next one,
// with that count in its baseline, scans changes only again.
TEST_F(CaptureChangesTest, GuestMemfdAfterHardwareCorruptedChangedTakesTheFullPath) {
  const uint64_t pages = 1024, used = 900;
  KHOD_GMEM_OR_SKIP(g, pages, used);
  const int fd = g->fd();
  auto s = Source(fd);
  ASSERT_NE(s, nullptr);
  const GuestMemfd first = Capture(s.get());
  EXPECT_EQ(Capture(s.get()), first);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  std::ofstream(meminfo_) << "MemTotal: 1000 kB\nHardwareCorrupted: 4 kB\n";
  EXPECT_EQ(Capture(s.get()), first);
  EXPECT_FALSE(s->changes_only());
  EXPECT_EQ(s->changes_note(), "HardwareCorrupted changed");
  EXPECT_EQ(s->flags_carried_pages(), 0u);  // rule 4: nothing carried across the change
  EXPECT_EQ(Capture(s.get()), first);
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
}

// A reexec's mapping holder as a test makes one: a child that maps `pages`
// pages of `fd` shared, populates them and waits, killed when this goes
// (however the test ends). pid() is -1 where it could not map them.
class TestHolder {
 public:
  TestHolder(int fd, uint64_t pages) {
    int ready[2];
    if (::pipe(ready) != 0) return;
    const pid_t parent = ::getpid();
    const pid_t child = ::fork();
    if (child == 0) {
      // Dies with the test, however it ends: a crash leaves no holder of the file behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the parent died before the prctl
      void* m = ::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED, fd, 0);
      const bool ok = m != MAP_FAILED && ::madvise(m, pages * kPage, MADV_POPULATE_READ) == 0;
      char c = ok ? 1 : 0;
      (void)!::write(ready[1], &c, 1);
      ::pause();
      ::_exit(0);
    }
    char c = 0;
    const bool ok = child > 0 && ::read(ready[0], &c, 1) == 1 && c == 1;
    ::close(ready[0]);
    ::close(ready[1]);
    child_ = child;
    if (ok) pid_ = child;
  }
  ~TestHolder() {
    if (child_ > 0) {
      ::kill(child_, SIGKILL);
      ::waitpid(child_, nullptr, 0);
    }
  }
  TestHolder(const TestHolder&) = delete;
  TestHolder& operator=(const TestHolder&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t child_ = -1, pid_ = -1;
};

// Verify after a reexec: the frozen capture is the baseline and the holder's
// mapping (here a child's, populated before the freeze) is the one scanned.
TEST_F(CaptureChangesTest, GuestMemfdVerifyThroughAHolderScansOnlyChanges) {
  const uint64_t pages = 2048, used = 2048;
  KHOD_GMEM_OR_SKIP(g, pages, used);
  const int fd = g->fd();
  TestHolder holder(fd, pages);
  ASSERT_GT(holder.pid(), 0) << "the holder could not map its pages";
  const pid_t child = holder.pid();
  auto old_khod = Source(fd);
  const GuestMemfd frozen = Capture(old_khod.get());
  ASSERT_EQ(Pages(frozen), used);
  Punch(fd, 100, 10);
  Write(g->vmm, 100, 4, 5);

  auto new_khod = Source(fd, 2, 512);
  new_khod->UsePagesMappedBy(child);
  CaptureOptions o;
  o.frozen = &frozen;
  o.frozen_hw_corrupted_kb = 0;
  const GuestMemfd now = Capture(new_khod.get(), o);
  EXPECT_TRUE(new_khod->changes_only()) << new_khod->changes_note();
  EXPECT_NE(new_khod->pfn_origin().find("pid " + std::to_string(child)), std::string::npos)
      << new_khod->pfn_origin();
  EXPECT_LE(new_khod->pages_rescanned(), 10u + 2 * 64);
  EXPECT_EQ(Pages(now), used - 6);
  EXPECT_EQ(now, Reference(fd));
}

// PFN of each present page as the test's own mapping sees it (0: none).
std::vector<uint64_t> Pfns(int fd, uint64_t pages) {
  std::vector<uint64_t> e = OwnPagemap(fd, pages);
  for (uint64_t& x : e) x = PagemapPresent(x) ? PagemapPfn(x) : 0;
  return e;
}

// Memory that can move: shmem is always checked in full (a migrated page stays
// mapped at a new PFN, which no non-present range shows). Compaction (this
// machine has one NUMA node, so move_pages has nowhere to move to) migrates
// what it can; the capture after it is the reference either way, and a
// guest_memfd's pages did not move.
TEST_F(CaptureChangesTest, MovableMemoryTakesTheFullCheckAndSurvivesCompaction) {
  const uint64_t pages = 16384;
  Fragmented f = FragmentedMemfds(pages);
  const int fd = f.file.fd();
  f.other.Close();  // its pages freed: holes for compaction to fill
  auto s = Source(fd, 2);
  ASSERT_NE(s, nullptr);
  Capture(s.get());
  const std::vector<uint64_t> before = Pfns(fd, pages);
  Status why;
  std::unique_ptr<Gmem> g = MakeGmem(1024, 1024, &why);
  if (!g && why.code() != Status::Code::kUnsupported)
    ADD_FAILURE() << "this machine makes guest_memfds, yet: " << why.ToString();
  // Said, not silently dropped: only the shmem half runs here.
  if (!g) std::printf("[   NOTE   ] the guest_memfd half is not run: %s\n", why.ToString().c_str());
  std::vector<uint64_t> gmem_before;
  std::unique_ptr<KernelGmemSource> gs;
  if (g) {
    gs = Source(g->fd());
    Capture(gs.get());
    gmem_before = Pfns(g->fd(), 1024);
  }
  {
    std::ofstream compact("/proc/sys/vm/compact_memory");
    compact << "1\n";
  }
  const std::vector<uint64_t> after = Pfns(fd, pages);
  uint64_t moved = 0;
  for (uint64_t p = 0; p < pages; ++p) moved += before[p] != after[p];
  std::printf("compaction moved %llu of %llu shmem pages\n", static_cast<unsigned long long>(moved),
              static_cast<unsigned long long>(pages));
  RecordProperty("shmem_pages_moved", std::to_string(moved));
  ExpectStableReference(
      fd, [&] { return Capture(s.get()); }, "after compaction");
  EXPECT_FALSE(s->changes_only());
  EXPECT_NE(s->changes_note().find("can move"), std::string::npos) << s->changes_note();
  if (moved > 0) {
    EXPECT_FALSE(s->matched_baseline()) << "moved pages are not the baseline's";
  }
  if (g) {
    EXPECT_EQ(Pfns(g->fd(), 1024), gmem_before) << "guest_memfd pages cannot move";
    const GuestMemfd gnow = Capture(gs.get());
    EXPECT_TRUE(gs->changes_only()) << gs->changes_note();
    EXPECT_EQ(gnow, Reference(g->fd()));
  }
}

// Memory that can move, pinned (KernelSourceOptions::pin_movable): the
// capture ready as a baseline (Prepare's) pins its pages, compaction moves
// none of them, and a capture from that baseline scans only what changed
// (punches, pages new in holes) and is the reference snapshot.
TEST_F(CaptureChangesTest, PinnedShmemScansOnlyWhatChangedAndSurvivesCompaction) {
  const uint64_t pages = 16384;
  Fragmented f = FragmentedMemfds(pages);
  const int fd = f.file.fd();
  f.other.Close();  // its pages freed: holes for compaction to fill
  auto s = Source(fd, 2, 0, /*pin_movable=*/true);
  ASSERT_NE(s, nullptr);
  CaptureOptions prepare;
  prepare.ready_as_baseline = true;
  const GuestMemfd prepared = Capture(s.get(), prepare);
  if (s->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << s->pin_note();
  EXPECT_EQ(s->pinned_pages(), Pages(prepared));
  // The next capture scans what changed: the whole scan's lists are let go.
  EXPECT_EQ(s->scan_list_bytes(), 0u);
  const std::vector<uint64_t> before = Pfns(fd, pages);
  {
    std::ofstream compact("/proc/sys/vm/compact_memory");
    compact << "1\n";
  }
  const std::vector<uint64_t> after = Pfns(fd, pages);
  EXPECT_EQ(before, after) << "compaction moved a pinned page";
  auto* m = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(m, MAP_FAILED);
  Punch(fd, 700, 40);
  Punch(fd, 5000, 1);
  Write(m, 13, 1, 3);  // holes filled (page % 97 == 13)
  Write(m, 110, 1, 5);
  const GuestMemfd got = Capture(s.get());
  EXPECT_TRUE(s->changes_only()) << s->changes_note();
  EXPECT_GT(s->pages_rescanned(), 0u);
  EXPECT_LT(s->pages_rescanned(), pages / 10);
  EXPECT_EQ(Pages(got), Pages(prepared) - 41 + 2);
  EXPECT_EQ(got, Reference(fd));
  ::munmap(m, pages * kPage);
}

// Released pins (Cancel, Finish) leave the memory free to move again, and a
// capture from the baseline they held takes the full check.
TEST_F(CaptureChangesTest, ReleasedPinsLeaveTheFullCheck) {
  const uint64_t pages = 4096;
  Fragmented f = FragmentedMemfds(pages);
  auto s = Source(f.file.fd(), 1, 0, /*pin_movable=*/true);
  ASSERT_NE(s, nullptr);
  CaptureOptions prepare;
  prepare.ready_as_baseline = true;
  Capture(s.get(), prepare);
  if (s->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << s->pin_note();
  s->ReleasePins();
  EXPECT_EQ(s->pinned_pages(), 0u);
  ExpectStableReference(
      f.file.fd(), [&] { return Capture(s.get()); }, "after the pins went");
  EXPECT_FALSE(s->changes_only());
  EXPECT_NE(s->changes_note().find("can move"), std::string::npos) << s->changes_note();
  // Without pin_movable nothing is pinned, and the next capture scans
  // every page again: the scan's lists are kept for it.
  auto plain = Source(f.file.fd(), 1);
  Capture(plain.get(), prepare);
  EXPECT_EQ(plain->pinned_pages(), 0u);
  EXPECT_TRUE(plain->pin_note().empty()) << plain->pin_note();
  EXPECT_GT(plain->scan_list_bytes(), 0u);
}

// Verify after a reexec, pinned shmem: the old khod's Freeze pins what it
// read anew (a punch filled again), its pins then cover the frozen capture,
// and the new khod, given them (AdoptPins) and the holder's mapping, scans
// only what changed and gets the reference; without them, the full check.
TEST_F(CaptureChangesTest, PinnedShmemVerifyThroughAHolderScansOnlyChanges) {
  const uint64_t pages = 4096;
  TestMemfd file(pages * kPage, "pinned-verify");
  file.Fill(0, pages * kPage, 9);
  const int fd = file.fd();
  TestHolder holder(fd, pages);
  ASSERT_GT(holder.pid(), 0) << "the holder could not map its pages";
  const pid_t child = holder.pid();
  auto old_khod = Source(fd, 1, 0, /*pin_movable=*/true);
  CaptureOptions prepare;
  prepare.ready_as_baseline = true;
  Capture(old_khod.get(), prepare);
  if (old_khod->pinned_pages() == 0) GTEST_SKIP() << "not pinned: " << old_khod->pin_note();
  auto* m = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(m, MAP_FAILED);
  Punch(fd, 100, 10);
  Write(m, 100, 4, 5);  // new pages, unpinned until Freeze pins them
  const GuestMemfd frozen = Capture(old_khod.get());
  EXPECT_TRUE(old_khod->changes_only()) << old_khod->changes_note();
  const std::vector<int> rings = old_khod->PinFdsCovering(frozen);
  ASSERT_FALSE(rings.empty()) << old_khod->pin_note();
  EXPECT_EQ(old_khod->pinned_pages(), pages + 4);
  {
    std::ofstream compact("/proc/sys/vm/compact_memory");
    compact << "1\n";
  }
  auto verify = [&](bool pinned) {
    auto new_khod = Source(fd);
    if (pinned) {
      std::vector<UniqueFd> dups;
      for (int r : rings) dups.emplace_back(::fcntl(r, F_DUPFD_CLOEXEC, 3));
      Result<PagePin> adopted = PagePin::Adopt(std::move(dups));
      EXPECT_TRUE(adopted.ok()) << adopted.status().ToString();
      if (adopted.ok()) new_khod->AdoptPins(std::move(*adopted));
    }
    new_khod->UsePagesMappedBy(child);
    CaptureOptions o;
    o.frozen = &frozen;
    o.frozen_hw_corrupted_kb = 0;
    const GuestMemfd now = Capture(new_khod.get(), o);
    EXPECT_EQ(now, frozen) << "nothing changed since Freeze";
    EXPECT_EQ(now, Reference(fd));
    return std::make_pair(new_khod->changes_only(), new_khod->changes_note());
  };
  const auto with_pins = verify(true);
  EXPECT_TRUE(with_pins.first) << with_pins.second;
  const auto without = verify(false);
  EXPECT_FALSE(without.first);
  EXPECT_NE(without.second.find("can move"), std::string::npos) << without.second;
  ::munmap(m, pages * kPage);
}

}  // namespace
}  // namespace khod
