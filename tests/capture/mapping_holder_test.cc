// The pieces of a reexec that keep the old address space (kernel/mapping_holder)
// and read PFNs through it (kernel/held_mapping, KernelGmemSource::UsePagesMappedBy),
// on real shmem memfds. Needs root for PFNs (pagemap hides them otherwise).
#include "kernel/mapping_holder.h"

#include <dirent.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "capture/kernel_source.h"
#include "kernel/held_mapping.h"
#include "kernel/pagemap.h"
#include "tests/support/fixture.h"
#include "tests/support/own_pagemap.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

bool PfnsVisible() {
  if (::geteuid() != 0) return false;
  auto r = PageFrameReader::Open();
  if (!r.ok()) return false;
  static char probe = 1;
  uint64_t e = 0;
  return r->ReadPagemap(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(&probe) & ~(kPage - 1)),
                        1, &e)
             .ok() &&
         PagemapPfn(e) != 0;
}

// A memfd of `pages` pages, every page written but `hole`.
TestMemfd PatternedMemfd(uint64_t pages, uint64_t hole) {
  TestMemfd file(pages * kPage, "held");
  auto* w = static_cast<uint8_t*>(
      ::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0));
  for (uint64_t p = 0; p < pages; ++p)
    if (p != hole) w[p * kPage] = static_cast<uint8_t>(p + 1);
  ::munmap(w, pages * kPage);
  return file;
}

// PFNs through a mapping of this process's own, populated (independent of khod's code).
std::vector<uint64_t> OwnPfns(int fd, uint64_t pages) {
  std::vector<uint64_t> out = OwnPagemap(fd, pages);
  for (uint64_t& e : out) e = PagemapPresent(e) ? PagemapPfn(e) : 0;
  return out;
}

// A child that maps `fd` (all pages but `hole` populated) and waits: stands
// in for the holder of an old khod's address space.
pid_t ChildMapping(int fd, uint64_t pages) {
  int ready[2];
  EXPECT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    auto* m = static_cast<uint8_t*>(::mmap(nullptr, pages * kPage, PROT_READ, MAP_SHARED, fd, 0));
    std::vector<uint8_t> vec(pages);
    ::mincore(m, pages * kPage, vec.data());
    for (uint64_t p = 0; p < pages; ++p)
      if (vec[p] & 1) (void)*static_cast<volatile uint8_t*>(m + p * kPage);
    char c = 1;
    (void)!::write(ready[1], &c, 1);
    for (;;) ::pause();
  }
  char c;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ::close(ready[1]);
  return pid;
}

void Kill(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

TEST(HeldMappingTest, ReadsTheSamePfnsAsAMappingOfOurOwn) {
  if (!PfnsVisible()) GTEST_SKIP() << "needs root: pagemap hides PFNs from this process";
  const uint64_t pages = 1024, hole = 100;
  TestMemfd file = PatternedMemfd(pages, hole);
  const int fd = file.fd();
  pid_t child = ChildMapping(fd, pages);
  auto held = HeldMapping::Find(child, fd, pages * kPage);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  std::vector<uint64_t> e(pages);
  ASSERT_TRUE(held->Read(0, pages, e.data()).ok());
  auto own = OwnPfns(fd, pages);
  for (uint64_t p = 0; p < pages; ++p) {
    ASSERT_EQ(PagemapPresent(e[p]), p != hole) << "page " << p;
    if (p != hole) {
      ASSERT_EQ(PagemapPfn(e[p]), own[p]) << "page " << p;
    }
  }
  // Longer than the child maps: not this mapping.
  auto too_long = HeldMapping::Find(child, fd, 2 * pages * kPage);
  EXPECT_EQ(too_long.status().code(), Status::Code::kNotFound);
  EXPECT_NE(too_long.status().message().find("covering"), std::string::npos)
      << too_long.status().ToString();
  Kill(child);
}

TEST(HeldMappingTest, AProcessWithFixedMappingsHasItsMapsReadAndPagemapOpenedOnce) {
  const uint64_t pages = 16;
  TestMemfd file = PatternedMemfd(pages, pages);
  const int fd = file.fd();
  TestMemfd other_file = PatternedMemfd(pages, pages);
  const int other = other_file.fd();
  pid_t child = ChildMapping(fd, pages);
  const uint64_t before = HeldMapping::maps_reads();
  auto first = HeldMapping::Find(child, fd, pages * kPage);
  auto second = HeldMapping::Find(child, fd, pages * kPage);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(HeldMapping::maps_reads(), before + 2);      // any process: read at every Find
  EXPECT_NE(first->pagemap_fd(), second->pagemap_fd());  // and its pagemap opened
  HeldMapping::FixedMappings(child);
  std::optional<HeldMapping> kept;
  for (int i = 0; i < 3; ++i) {
    auto held = HeldMapping::Find(child, fd, pages * kPage);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    EXPECT_EQ(held->pid(), child);
    // One pagemap fd for all of a fixed process's mappings, not one per file.
    if (kept) {
      EXPECT_EQ(held->pagemap_fd(), kept->pagemap_fd());
    }
    kept.emplace(std::move(*held));
    EXPECT_EQ(HeldMapping::Find(child, other, pages * kPage).status().code(),
              Status::Code::kNotFound);
  }
  EXPECT_EQ(HeldMapping::maps_reads(), before + 3);  // once for six Finds
  HeldMapping::ForgetFixedMappings(child);
  ASSERT_TRUE(HeldMapping::Find(child, fd, pages * kPage).ok());
  EXPECT_EQ(HeldMapping::maps_reads(), before + 4);
  Kill(child);
}

TEST(HeldMappingTest, AnotherFileIsNotFound) {
  const uint64_t pages = 16;
  TestMemfd file = PatternedMemfd(pages, pages);
  const int fd = file.fd();
  TestMemfd other_file = PatternedMemfd(pages, pages);
  const int other = other_file.fd();
  pid_t child = ChildMapping(fd, pages);
  auto h = HeldMapping::Find(child, other, pages * kPage);
  EXPECT_EQ(h.status().code(), Status::Code::kNotFound);
  EXPECT_NE(h.status().message().find("pid " + std::to_string(child)), std::string::npos);
  Kill(child);
  auto gone = HeldMapping::Find(child, fd, pages * kPage);
  EXPECT_FALSE(gone.ok());
}

TEST(HeldMappingTest, CaptureTakesHeldPfnsAndPopulatesOnlyNewPages) {
  if (!PfnsVisible()) GTEST_SKIP() << "needs root: pagemap hides PFNs from this process";
  const uint64_t pages = 2048, hole = 700;
  TestMemfd file = PatternedMemfd(pages, hole);
  const int fd = file.fd();
  pid_t child = ChildMapping(fd, pages);
  // A page the holder never mapped appears after it took its mapping.
  const uint8_t one = 9;
  ASSERT_EQ(::pwrite(fd, &one, 1, static_cast<off_t>(hole * kPage)), 1);
  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(fd)), {});
  ASSERT_TRUE(src.ok());
  (*src)->UsePagesMappedBy(child);
  GuestMemfd g;
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  EXPECT_NE((*src)->pfn_origin().find("pid " + std::to_string(child) + "'s mapping"),
            std::string::npos)
      << (*src)->pfn_origin();
  EXPECT_NE((*src)->pfn_origin().find("(1 pages populated here)"), std::string::npos)
      << (*src)->pfn_origin();
  auto own = OwnPfns(fd, pages);
  uint64_t checked = 0;
  for (const auto& e : g.folios)
    for (uint64_t i = 0; i < e.pages(); ++i, ++checked)
      ASSERT_EQ(e.first_pfn + i, own[e.first_index + i]) << "page " << e.first_index + i;
  EXPECT_EQ(checked, pages);
  // Without the holder (it went away): the source maps and populates its own.
  Kill(child);
  (*src)->UsePagesMappedBy(-1);
  GuestMemfd again;
  ASSERT_TRUE((*src)->Capture({}, &again).ok());
  EXPECT_EQ((*src)->pfn_origin(), "own mapping");
  EXPECT_EQ(again.folios, g.folios);
}

TEST(HeldMappingTest, AHolderThatMapsNothingFallsBackAndSaysWhy) {
  const uint64_t pages = 64;
  TestMemfd file = PatternedMemfd(pages, pages);
  const int fd = file.fd();
  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(fd)), {});
  ASSERT_TRUE(src.ok());
  (*src)->UsePagesMappedBy(::getppid());  // a process that does not map this file
  GuestMemfd g;
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  EXPECT_NE((*src)->pfn_origin().find("own mapping (not pid"), std::string::npos)
      << (*src)->pfn_origin();
  uint64_t covered = 0;
  for (const auto& e : g.folios) covered += e.pages();
  EXPECT_EQ(covered, pages);
}

bool Gone(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST(MappingHolderTest, SharesTheAddressSpaceHoldsNoFdsAndIsReleased) {
  TestMemfd file = PatternedMemfd(4, 4);
  const int fd = file.fd();
  auto* probe = static_cast<uint8_t*>(::mmap(nullptr, 4 * kPage, PROT_READ, MAP_SHARED, fd, 0));
  ASSERT_NE(probe, MAP_FAILED);
  auto h = MappingHolder::Spawn();
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  const pid_t pid = h->pid();
  // Same address space: the holder maps what this process maps.
  auto held = HeldMapping::Find(pid, fd, 4 * kPage);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  EXPECT_EQ(held->address(), reinterpret_cast<uint64_t>(probe));
  // No fd of ours survives in it (a socket it kept would never see EOF).
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  ASSERT_NE(d, nullptr);
  int fds = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++fds;
  ::closedir(d);
  EXPECT_EQ(fds, 0);
  // Signals other than SIGKILL do nothing to it.
  ::kill(pid, SIGTERM);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(::kill(pid, 0), 0);
  // It is this process's child: Adopt accepts it; pid 1 is refused, untouched.
  auto adopted = MappingHolder::Adopt(pid);
  ASSERT_TRUE(adopted.ok()) << adopted.status().ToString();
  adopted->Detach();
  auto init = MappingHolder::Adopt(1);
  EXPECT_EQ(init.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(init.status().message().find("not a mapping holder of this khod"), std::string::npos);
  h->Release();
  EXPECT_FALSE(h->held());
  EXPECT_TRUE(Gone(pid)) << "holder " << pid << " still there after Release";
  ::munmap(probe, 4 * kPage);
}

// The fds it is asked to keep stay open in it, and only those (the
// userfaultfds of guarded mappings: their release waits for its exit).
TEST(MappingHolderTest, KeepsOnlyTheFdsItIsAskedToKeep) {
  TestMemfd a = PatternedMemfd(1, 1), b = PatternedMemfd(1, 1), c = PatternedMemfd(1, 1);
  auto h = MappingHolder::Spawn({c.fd(), a.fd()});
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  std::vector<int> open;
  DIR* d = ::opendir(("/proc/" + std::to_string(h->pid()) + "/fd").c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') open.push_back(std::atoi(e->d_name));
  ::closedir(d);
  std::sort(open.begin(), open.end());
  std::vector<int> want = {a.fd(), c.fd()};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(open, want) << "fd " << b.fd() << " and every other one closed";
  h->Release();
}

// Whether the task whose /proc/PID/task/TID/children is `path` has a child.
bool HasChildren(const std::string& path) {
  std::ifstream children(path);
  pid_t pid = 0;
  return static_cast<bool>(children >> pid);
}

// Kills and reaps every child of this thread (orphans it reaped as subreaper included).
void KillOwnChildren() {
  std::ifstream children("/proc/self/task/" + std::to_string(::gettid()) + "/children");
  for (pid_t pid = 0; children >> pid;) Kill(pid);
}

// A khod killed while its holder starts (before the holder asked to be
// killed with its parent): the holder, re-parented, exits instead of pausing
// for ever with the old address space, every guest mapping of it, alive.
TEST(MappingHolderTest, AHolderWhoseParentDiedAsItStartedExits) {
  // The orphan comes to this process, which can then wait for it.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const pid_t khod = ::fork();
  ASSERT_GE(khod, 0);
  if (khod == 0) {
    MappingHolder::DelayStartForTest(std::chrono::milliseconds(300));
    (void)MappingHolder::Spawn();
    ::_exit(0);
  }
  // Killed only once its holder exists (it then waits out its 300 ms delay): killed before
  // the clone, khod would leave no holder, and the wait below would blame one.
  const std::string khods_children =
      "/proc/" + std::to_string(khod) + "/task/" + std::to_string(khod) + "/children";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool started = false;
  while (!(started = HasChildren(khods_children)) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Kill(khod);
  if (!started) {
    ADD_FAILURE() << "khod (pid " << khod << ") started no holder within 10 s";
    KillOwnChildren();  // a holder cloned after the last look
    ::prctl(PR_SET_CHILD_SUBREAPER, 0);
    return;
  }
  pid_t holder = 0;
  int status = 0;
  for (int i = 0; i < 300 && holder <= 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    holder = ::waitpid(-1, &status, WNOHANG | __WALL);
  }
  if (holder <= 0) {
    ADD_FAILURE() << "the holder of a dead khod is still running after 3 s";
    KillOwnChildren();
  } else {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
}  // namespace khod
