// Capture from the real kernel: the fixture's files come back as it made them,
// capture never creates or touches pages, bad fds get clear errors.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "capture/folio_extent_builder.h"
#include "capture/kernel_source.h"
#include "capture/snapshot_capture.h"
#include "common/status_macros.h"
#include "kernel/kvm_uapi.h"
#include "kernel/memory_file.h"
#include "kernel/mempolicy.h"
#include "kernel/pagemap.h"
#include "kernel/probe.h"
#include "kernel/shared_policy_iter.h"
#include "kernel/shared_policy_probe.h"
#include "state/observation_invariants.h"
#include "tests/support/content_hashes.h"
#include "tests/support/fixture.h"
#include "tests/support/own_pagemap.h"
#include "tests/support/test_guest_memfd.h"
#include "tests/support/vmm_fixture_process.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

// Root outside a user namespace: PFNs visible, other processes' fds takeable.
bool IsRoot() {
  static const bool root = [] {
    KernelCaps c = ProbeKernel();
    return ::geteuid() == 0 && c.pfns_readable && c.kpageflags_readable;
  }();
  return root;
}

std::unique_ptr<VmmFixtureProcess> StartFixture(const std::vector<std::string>& args) {
  auto f = VmmFixtureProcess::Start(args);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? std::move(*f) : nullptr;
}

// Which pages of [0, pages) are covered by extents.
std::vector<bool> Covered(const GuestMemfd& g) {
  std::vector<bool> c(g.size / kPage, false);
  for (const auto& e : g.folios)
    for (uint64_t p = e.first_index; p < e.end_index(); ++p) c[p] = true;
  return c;
}

// The PFN of each resident page as this process sees it through its own
// shared mapping, reading only pages that exist (so nothing is created):
// those in `exists`, or by default those mincore reports (not HugeTLB).
std::vector<uint64_t> IndependentPfns(int fd, uint64_t size,
                                      const std::vector<bool>* exists = nullptr) {
  std::vector<uint64_t> pfns = OwnPagemap(fd, size / kPage, exists);
  for (uint64_t& e : pfns) e = PagemapPresent(e) ? PagemapPfn(e) : 0;
  return pfns;
}

TEST(FolioExtentBuilderTest, MergesContiguousRunsOnly) {
  FolioExtentBuilder b;
  b.AddRun(0, 100, 4, 0, kFolioUptodate, true);
  b.AddRun(4, 104, 4, 0, kFolioUptodate, true);  // continues in file and PFN
  b.AddRun(8, 200, 1, 0, kFolioUptodate, true);  // PFN jump
  b.AddRun(9, 201, 1, 0, kFolioDirty, true);     // flags differ
  b.AddRun(11, 202, 1, 0, kFolioDirty, true);    // file gap
  b.AddRun(12, kPfnUnknown, 2, 0, 0, false);
  b.AddRun(14, kPfnUnknown, 2, 0, 0, false);  // unknown continues unknown
  ASSERT_EQ(b.extents().size(), 5u);
  EXPECT_EQ(b.extents()[0].nr_folios, 8u);
  EXPECT_EQ(b.extents()[1].first_pfn, 200u);
  EXPECT_EQ(b.extents()[2].flags, kFolioDirty);
  EXPECT_EQ(b.extents()[3].first_index, 11u);
  EXPECT_EQ(b.extents()[4].nr_folios, 4u);
  EXPECT_FALSE(b.readable_shared()[4]);
}

// Append gives what adding the tail's runs one by one gives, whether or not
// its first extent joins the last one before it.
TEST(FolioExtentBuilderTest, AppendIsAddingTheTailsRunsOneByOne) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::array<uint64_t, 4>> runs;  // index, pfn, len, flags
    uint64_t index = 0, pfn = 1000;
    for (int i = 0; i < 40; ++i) {
      const uint64_t len = 1 + rng() % 4;
      if (rng() % 3 == 0) pfn = 1000 + rng() % 100000;  // a PFN jump, else contiguous
      const uint64_t run_pfn = rng() % 7 == 0 ? kPfnUnknown : pfn;
      const uint64_t flags = rng() % 2 ? kFolioDirty : 0;
      runs.push_back({index, run_pfn, len, flags});
      index += len + (rng() % 9 == 0 ? 1 : 0);  // now and then a hole
      pfn += len;
    }
    const size_t cut = rng() % runs.size();
    FolioExtentBuilder whole, head, tail;
    for (size_t i = 0; i < runs.size(); ++i) {
      const auto& r = runs[i];
      whole.AddRun(r[0], r[1], r[2], 0, static_cast<uint8_t>(r[3]), r[1] != kPfnUnknown);
      (i < cut ? head : tail)
          .AddRun(r[0], r[1], r[2], 0, static_cast<uint8_t>(r[3]), r[1] != kPfnUnknown);
    }
    head.Append(tail);
    ASSERT_EQ(head.extents(), whole.extents()) << "round " << round << ", cut " << cut;
    ASSERT_EQ(head.readable_shared(), whole.readable_shared()) << "round " << round;
  }
  FolioExtentBuilder a, empty;
  a.AddRun(0, 5, 1, 0, 0, true);
  a.Append(empty);
  EXPECT_EQ(a.extents().size(), 1u);
  empty.Append(a);
  EXPECT_EQ(empty.extents(), a.extents());
}

// AddWholeExtents adds what AddRun, extent by extent at order 0, adds: over
// lists where neighbours sometimes join (contiguous in file and PFN, same
// flags), PFNs are sometimes unknown, an extent is now and then of a higher
// order, and the builder's last extent sometimes joins the first.
TEST(FolioExtentBuilderTest, AddWholeExtentsIsAddingEachOneByOne) {
  std::mt19937_64 rng(11);
  for (int round = 0; round < 300; ++round) {
    std::vector<FolioExtent> list;
    uint64_t index = rng() % 4, pfn = 5000;
    for (int i = 0; i < 60; ++i) {
      FolioExtent x;
      x.first_index = index;
      if (rng() % 3 == 0) pfn = 5000 + rng() % 100000;  // else contiguous with the one before
      x.first_pfn = rng() % 9 == 0 ? kPfnUnknown : pfn;
      x.order = rng() % 13 == 0 ? 9 : 0;
      x.nr_folios = static_cast<uint32_t>(1 + rng() % 5);
      x.flags = rng() % 4 == 0 ? kFolioDirty : kFolioUptodate;
      list.push_back(x);
      index += x.pages() + (rng() % 5 == 0 ? 1 + rng() % 3 : 0);  // now and then a hole
      pfn += x.pages();
    }
    const bool readable = rng() % 2;
    FolioExtentBuilder bulk, each;
    if (rng() % 2) {  // a last extent that the first may join
      const FolioExtent& f = list.front();
      const uint64_t before = std::min<uint64_t>(f.first_index, 2);
      const bool last_readable = rng() % 4 != 0 ? readable : !readable;
      for (FolioExtentBuilder* x : {&bulk, &each})
        x->AddRun(f.first_index - before,
                  f.first_pfn == kPfnUnknown ? kPfnUnknown : f.first_pfn - before, before, 0,
                  f.flags, last_readable);
    }
    bulk.AddWholeExtents(list.data(), list.data() + list.size(), readable);
    for (const FolioExtent& x : list)
      each.AddRun(x.first_index, x.first_pfn, x.pages(), 0, x.flags, readable);
    ASSERT_EQ(bulk.extents(), each.extents()) << "round " << round;
    ASSERT_EQ(bulk.readable_shared(), each.readable_shared()) << "round " << round;
  }
}

// A builder started in room faulted in ahead builds in that very memory
// (a FolioList made from an empty vector would drop its capacity), from
// nothing: what it held before is gone, and what it builds is what a fresh
// builder builds.
TEST(FolioExtentBuilderTest, UseRoomBuildsInTheRoomGiven) {
  FolioList::Extents room(1000);  // written: faulted in, and not empty
  const FolioExtent* memory = room.data();
  FolioExtentBuilder b, fresh;
  b.AddRun(0, 7, 1, 0, 0, true);
  b.UseRoom(std::move(room));
  EXPECT_TRUE(b.extents().empty());
  EXPECT_TRUE(b.readable_shared().empty());
  for (FolioExtentBuilder* x : {&b, &fresh}) {
    x->AddRun(0, 100, 4, 0, kFolioUptodate, true);
    x->AddRun(4, 104, 4, 0, kFolioUptodate, true);
    x->AddRun(9, 300, 1, 0, 0, false);
  }
  EXPECT_EQ(b.extents(), fresh.extents());
  EXPECT_EQ(b.readable_shared(), fresh.readable_shared());
  EXPECT_EQ(b.extents().extents().data(), memory);
  EXPECT_GE(b.extents().extents().capacity(), 1000u);
}

TEST(KernelCaptureTest, ShmemFixtureMatchesWhatItMade) {
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: pidfd_getfd of another process and PFNs "
                    "from pagemap";
  auto fx = StartFixture({"--shmem-mib", "16", "--gmem-mib", "0"});
  ASSERT_TRUE(fx);
  const int fd = fx->Fd("shmem0");
  ASSERT_GE(fd, 0) << fx->report_line();
  auto src = KernelGmemSource::FromPid(fx->pid(), fd, {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  GuestMemfd g;
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  EXPECT_EQ(g.kind, FileKind::kShmemMemfd);
  EXPECT_EQ(g.name, "shmem0");
  EXPECT_EQ(g.size, 16u << 20);
  EXPECT_EQ(g.backing, Backing::kBuddy);
  EXPECT_EQ(g.policy.mode, MPOL_INTERLEAVE);
  EXPECT_EQ(g.policy.nodemask, std::vector<uint64_t>{1});
  // Every page but the fixture's hole [256, 257) is resident.
  auto covered = Covered(g);
  for (uint64_t p = 0; p < covered.size(); ++p) EXPECT_EQ(covered[p], p != 256) << "page " << p;
  // PFNs equal what pagemap says through an independent mapping.
  auto taken = TakeFdFromProcess(fx->pid(), fd);
  ASSERT_TRUE(taken.ok());
  auto pfns = IndependentPfns(taken->get(), g.size);
  uint64_t checked = 0;
  for (const auto& e : g.folios) {
    ASSERT_NE(e.first_pfn, kPfnUnknown);
    EXPECT_EQ(e.order, 0);
    EXPECT_TRUE(e.flags & kFolioUptodate);
    for (uint64_t i = 0; i < e.pages(); ++i, ++checked)
      ASSERT_EQ(pfns[e.first_index + i], e.first_pfn + i) << "page " << e.first_index + i;
  }
  EXPECT_EQ(checked, 16u * 256 - 1);
  // One extent per run, not per page: where the allocator handed out PFN-contiguous pages
  // (how many it does depends on the machine's fragmentation, so this counts them rather
  // than assuming any), two neighbouring extents must differ in something else.
  for (size_t i = 1; i < g.folios.size(); ++i) {
    const auto& a = g.folios[i - 1];
    const auto& b = g.folios[i];
    const bool continues =
        a.first_index + a.pages() == b.first_index && a.first_pfn + a.pages() == b.first_pfn;
    EXPECT_FALSE(continues && a.flags == b.flags && a.order == b.order)
        << "extents " << i - 1 << " and " << i << " should be one";
  }
  uint64_t pfn_runs = 0;
  for (uint64_t p = 0; p < pfns.size(); ++p)
    if (p != 256 && (p == 0 || p == 257 || pfns[p] != pfns[p - 1] + 1)) ++pfn_runs;
  EXPECT_GE(g.folios.size(), pfn_runs);
}

TEST(KernelCaptureTest, CaptureNeverFaultsInPagesAndIsStable) {
  const uint64_t size = 8 << 20, pages = size / kPage;
  const TestMemfd file(size, "sparse");
  auto* w = static_cast<uint8_t*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0));
  ASSERT_NE(w, MAP_FAILED);
  for (uint64_t p = 0; p < pages; p += 3) w[p * kPage] = 1;  // every third page exists
  ::munmap(w, size);
  auto residency = [&]() {
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, file.fd(), 0);
    std::vector<uint8_t> v(pages);
    ::mincore(m, size, v.data());
    ::munmap(m, size);
    struct stat st;
    ::fstat(file.fd(), &st);
    v.push_back(static_cast<uint8_t>(st.st_blocks & 0xff));
    return v;
  };
  const auto before = residency();
  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(file.fd())), {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  CaptureOptions opts;
  opts.hash_contents = true;
  uint64_t last_done = 0;
  opts.progress = [&](uint64_t done, uint64_t total) {
    last_done = done;
    EXPECT_EQ(total, pages);
  };
  GuestMemfd a, b;
  ASSERT_TRUE((*src)->Capture(opts, &a).ok());
  ASSERT_TRUE((*src)->Capture(opts, &b).ok());
  EXPECT_EQ(residency(), before);  // no page created
  EXPECT_EQ(last_done, pages);
  EXPECT_EQ(a, b);  // capturing twice sees the same state
  auto covered = Covered(a);
  for (uint64_t p = 0; p < pages; ++p) ASSERT_EQ(covered[p], p % 3 == 0) << "page " << p;
  EXPECT_EQ(a.hashes.size(), a.folios.size());
  ExpectEachHashIsItsBytes(file.fd(), a.hashes);
}

// Pages a VMM declared private are seen initialized-only (docs/FORMAT.md
// "visibility"): however the capture came by them, no known PFN and no hash
// lies there, and a capture twice sees the same.
TEST(KernelCaptureTest, DeclaredPrivatePagesOfAMemfdAreNeverReadOrHashed) {
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: PFNs from pagemap, kpageflags";
  const uint64_t pages = 16, size = pages * kPage;
  const TestMemfd file(size, "declared-private");
  auto* w = static_cast<uint8_t*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0));
  ASSERT_NE(w, MAP_FAILED);
  for (uint64_t p = 0; p < pages; ++p) w[p * kPage] = static_cast<uint8_t>(p + 1);
  KernelSourceOptions o;
  o.declared_attributes.Set(3, 3, kAttrPrivate);
  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(file.fd())), std::move(o));
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  CaptureOptions opts;
  opts.hash_contents = true;
  GuestMemfd a, b;
  ASSERT_TRUE((*src)->Capture(opts, &a).ok());
  ASSERT_TRUE((*src)->Capture(opts, &b).ok());
  EXPECT_EQ(a, b);
  for (const GuestMemfd* g : {&a, &b}) {
    std::vector<Violation> v;
    CheckVisibility(*g, pages, &v);
    for (const Violation& x : v) ADD_FAILURE() << x.where << ": " << x.what;
    for (const FolioExtent& e : g->folios) {
      if (e.first_index < 6 && e.end_index() > 3) {
        EXPECT_EQ(e.first_pfn, kPfnUnknown) << "extent at page " << e.first_index;
      }
    }
    for (const ContentHash& h : g->hashes) {
      EXPECT_TRUE(h.first_index + h.count <= 3 || h.first_index >= 6) << h.first_index;
    }
  }
  auto covered = Covered(a);
  for (uint64_t p = 0; p < pages; ++p) EXPECT_TRUE(covered[p]) << "page " << p;
  ::munmap(w, size);
}

// A file large enough for two capture threads whose halves differ a lot in
// fragmentation (the first written in order, the second interleaved with
// another file, so nearly every page of it is its own PFN run): the kpageflags work is shared by
// PFN count across the halves, and what comes back must still be exactly what pagemap and
// kpageflags say page by page.
TEST(KernelCaptureTest, UnevenlyFragmentedHalvesCaptureExactly) {
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: PFNs from pagemap, kpageflags";
  const uint64_t size = 512 << 20, pages = size / kPage, half = pages / 2;
  const TestMemfd file(size, "uneven");
  auto* w = static_cast<uint8_t*>(
      ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0));
  ASSERT_NE(w, MAP_FAILED);
  auto exists = [&](uint64_t p) { return p < half ? (p < 1000 || p >= 1100) : p % 5 != 0; };
  for (uint64_t p = 0; p < half; ++p)
    if (exists(p)) w[p * kPage] = 1;
  // Each page of the second half allocated between two pages of another file.
  const TestMemfd other(size / 2, "interleaved");
  auto* o = static_cast<uint8_t*>(
      ::mmap(nullptr, size / 2, PROT_READ | PROT_WRITE, MAP_SHARED, other.fd(), 0));
  ASSERT_NE(o, MAP_FAILED);
  for (uint64_t p = half; p < pages; ++p) {
    if (exists(p)) w[p * kPage] = 2;
    o[(p - half) * kPage] = 3;
  }
  ::munmap(o, size / 2);
  ::munmap(w, size);

  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(file.fd())), {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  GuestMemfd g, again;
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  ASSERT_TRUE((*src)->Capture({}, &again).ok());
  EXPECT_EQ(g, again);  // the second capture reuses the buffers and plan

  auto pfns = IndependentPfns(file.fd(), size);
  UniqueFd kpf(::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC));
  ASSERT_GE(kpf.get(), 0);
  std::vector<bool> seen(pages, false);
  uint64_t second_half_extents = 0;
  for (const auto& e : g.folios) {
    ASSERT_NE(e.first_pfn, kPfnUnknown) << "extent at page " << e.first_index;
    if (e.first_index >= half) ++second_half_extents;
    for (uint64_t i = 0; i < e.pages(); ++i) {
      const uint64_t p = e.first_index + i, pfn = e.first_pfn + i;
      ASSERT_TRUE(exists(p)) << "page " << p << " is a hole";
      seen[p] = true;
      ASSERT_EQ(pfns[p], pfn) << "page " << p;
      uint64_t k = 0;
      ASSERT_EQ(::pread(kpf.get(), &k, 8, static_cast<off_t>(pfn * 8)), 8);
      const uint8_t want = ((k & kKpfUptodate) ? kFolioUptodate : 0) |
                           ((k & kKpfDirty) ? kFolioDirty : 0) |
                           ((k & kKpfHwpoison) ? kFolioHwpoison : 0);
      ASSERT_EQ(e.flags, want) << "page " << p << " pfn " << pfn;
    }
  }
  for (uint64_t p = 0; p < pages; ++p) ASSERT_EQ(seen[p], exists(p)) << "page " << p;
  // Interleaved, the second half is mostly one run per page.
  EXPECT_GT(second_half_extents, half / 4);
}

TEST(KernelCaptureTest, HugetlbMemfdIsCapturedAsHugeFolios) {
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: reserving huge pages and reading PFNs";
  auto fx = StartFixture({"--shmem-mib", "0", "--gmem-mib", "0", "--hugetlb-mib", "8"});
  ASSERT_TRUE(fx);
  if (fx->Fd("hugetlb0") < 0)
    GTEST_SKIP() << "huge pages could not be reserved: " << fx->report_line();
  const int fd = fx->Fd("hugetlb0");
  auto taken = TakeFdFromProcess(fx->pid(), fd);
  ASSERT_TRUE(taken.ok());
  struct stat st0;
  ::fstat(taken->get(), &st0);
  auto src = KernelGmemSource::FromPid(fx->pid(), fd, {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  GuestMemfd g;
  Status s = (*src)->Capture({}, &g);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st1;
  ::fstat(taken->get(), &st1);
  EXPECT_EQ(st0.st_blocks, st1.st_blocks) << "capture allocated a huge page";
  EXPECT_EQ(g.kind, FileKind::kHugetlbMemfd);
  EXPECT_EQ(g.backing, Backing::kHugetlb);
  EXPECT_EQ(g.hstate_order, 9);
  // 4 huge pages, the second punched: folios at pages 0, 1024, 1536.
  std::vector<uint64_t> heads;
  for (const auto& e : g.folios) {
    EXPECT_EQ(e.order, 9);
    for (uint32_t i = 0; i < e.nr_folios; ++i) heads.push_back(e.first_index + (uint64_t{i} << 9));
  }
  EXPECT_EQ(heads, (std::vector<uint64_t>{0, 1024, 1536}));
  std::vector<bool> exists(g.size / kPage, true);
  for (uint64_t p = 512; p < 1024; ++p) exists[p] = false;  // the fixture's hole
  auto pfns = IndependentPfns(taken->get(), g.size, &exists);
  for (const auto& e : g.folios) {
    EXPECT_EQ(e.first_pfn, pfns[e.first_index]) << "head pfn of page " << e.first_index;
    EXPECT_EQ(e.first_pfn % 512, 0u);
  }
}

// HugeTLB keeps no shared policy (its vm_ops have no set_policy): a VMM's mbind
// lives in the VMM's mapping, and khod's own mapping reads default. So the
// capture reads the VMM's mappings, as for a 6.18 guest_memfd, and claims no
// file policy (it once read khod's own mapping and called "default" the file's).
TEST(KernelCaptureTest, HugetlbMemfdPolicyIsReadFromTheVmmsMappings) {
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: reserving huge pages and reading PFNs";
  ASSERT_EQ(SharedPolicyOf(FileKind::kHugetlbMemfd).answer, SharedPolicyAnswer::kNo)
      << SharedPolicyOf(FileKind::kHugetlbMemfd).evidence;
  auto fx = StartFixture({"--shmem-mib", "0", "--gmem-mib", "0", "--hugetlb-mib", "8"});
  ASSERT_TRUE(fx);
  if (fx->Fd("hugetlb0") < 0)
    GTEST_SKIP() << "huge pages could not be reserved: " << fx->report_line();
  ASSERT_TRUE(fx->Command("policy hugetlb0 bind").ok());
  const int fd = fx->Fd("hugetlb0");
  auto src = KernelGmemSource::FromPid(fx->pid(), fd, {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  GuestMemfd g;
  Status s = (*src)->Capture({}, &g);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(g.policy_source, PolicySource::kVmmMappings);
  EXPECT_EQ(g.policy, Mempolicy()) << "no file policy is claimed";
  const uint64_t map = std::stoull(fx->File("hugetlb0")->map(), nullptr, 16);  // "0x.."
  const MappingPolicy* vmm = nullptr;
  for (const MappingPolicy& m : g.mapping_policies)
    if (m.start_address == map) vmm = &m;
  ASSERT_NE(vmm, nullptr) << "the fixture's mapping at " << std::hex << map;
  EXPECT_EQ(vmm->policy.mode, MPOL_BIND);
  EXPECT_EQ(vmm->policy.nodemask, (std::vector<uint64_t>{1}));
  EXPECT_EQ(vmm->first_index, 0u);
  EXPECT_EQ(vmm->count, g.size / kPage);
}

// A memfd's policy is its whole tree of ranges: bound over its second half only it is
// not "default" (what get_mempolicy shows at page 0), it is not one policy and is named
// unread; bound whole with a home node, the home node is seen. Skipped where the BPF
// reader cannot load (then every memfd's policy is unread, as the second half shows).
TEST(KernelCaptureTest, AMemfdsPolicyIsItsWholeSharedPolicy) {
  std::string why_not;
  if (LoadedSharedPolicyIterator(&why_not) == nullptr)
    GTEST_SKIP() << "the shared-policy BPF program cannot load here: " << why_not;
  constexpr size_t kPages = 16;
  auto capture = [](int mode, size_t first, size_t count, int home) -> Result<GuestMemfd> {
    UniqueFd fd(::memfd_create("khod-policy-capture", MFD_CLOEXEC));
    if (!fd.valid() || ::ftruncate(fd.get(), kPages * kPage) != 0)
      return Status::FromErrno("memfd", errno);
    void* m = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (m == MAP_FAILED) return Status::FromErrno("mmap", errno);
    std::memset(m, 1, kPages * kPage);
    unsigned long node0 = 1;
    char* at = static_cast<char*>(m) + first * kPage;
    Status set = ::syscall(SYS_mbind, at, count * kPage, mode, &node0, 2, 0) == 0
                     ? Status::Ok()
                     : Status::FromErrno("mbind", errno);
    if (set.ok() && home >= 0) set = SetMempolicyHomeNode(at, count * kPage, home);
    ::munmap(m, kPages * kPage);
    if (!set.ok()) return set;
    auto src = KernelGmemSource::FromFd(std::move(fd), {});
    if (!src.ok()) return src.status();
    GuestMemfd g;
    KHOD_RETURN_IF_ERROR((*src)->Capture({}, &g));
    return g;
  };
  Result<GuestMemfd> half = capture(MPOL_BIND, kPages / 2, kPages / 2, -1);
  ASSERT_TRUE(half.ok()) << half.status().ToString();
  EXPECT_EQ(half->policy_source, PolicySource::kUnknown);
  EXPECT_EQ(half->policy, Mempolicy()) << "page 0's default is not claimed for the file";
  EXPECT_NE(half->policy_unread.find("do not all have one policy"), std::string::npos)
      << half->policy_unread;
  EXPECT_NE(half->policy_unread.find("pages 8-15 bind"), std::string::npos) << half->policy_unread;
  Result<GuestMemfd> whole = capture(MPOL_BIND, 0, kPages, 0);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(whole->policy_source, PolicySource::kInode);
  EXPECT_EQ(whole->policy.mode, MPOL_BIND);
  EXPECT_TRUE(whole->policy.home_node_seen) << "read from the tree, which holds it";
  EXPECT_EQ(whole->policy.home_node, 0);
}

// A shmem memfd and a HugeTLB memfd, each mbound through one mapping and read
// through a second, answer as the probes say.
TEST(KernelCaptureTest, MemfdSharedPolicyProbesMatchADirectLook) {
  EXPECT_EQ(SharedPolicyOf(FileKind::kShmemMemfd).answer, SharedPolicyAnswer::kYes)
      << SharedPolicyOf(FileKind::kShmemMemfd).evidence;
  const SharedPolicyProbe& huge = SharedPolicyOf(FileKind::kHugetlbMemfd);
  // No hugetlbfs: the probe says so rather than guessing.
  if (huge.answer == SharedPolicyAnswer::kUnknown)
    EXPECT_NE(huge.evidence.find("HugeTLB memfd"), std::string::npos) << huge.evidence;
  else
    EXPECT_EQ(huge.answer, SharedPolicyAnswer::kNo) << huge.evidence;
}

// The policy each mapping of `file` in `pid` has per its numa_maps line, found
// by the mapping's start address; nullptr when the capture has none there.
const MappingPolicy* PolicyAt(const GuestMemfd& g, uint64_t start) {
  for (const MappingPolicy& m : g.mapping_policies)
    if (m.start_address == start) return &m;
  return nullptr;
}

// Against the real kernel (gmem-6.18-facts.md): the fixture's MMAP|INIT_SHARED
// file is seen in full with its VMM mapping's policy; its MMAP-only file, whose
// pages were only fallocated (never initialized), is initialized-only with
// none seen, never "absent because not looked at".
TEST(KernelCaptureTest, GuestMemfdSharedAndPrivate) {
  KHOD_SKIP_WITHOUT_GUEST_MEMFD();
  if (!IsRoot())
    GTEST_SKIP() << "needs root outside a user namespace: pidfd_getfd of another process";
  auto fx = StartFixture({"--shmem-mib", "0", "--gmem-mib", "8"});
  ASSERT_TRUE(fx);
  ASSERT_GE(fx->Fd("gmem_shared"), 0) << fx->report_line();
  v1::VmmDeclaration decl;  // the fixture's, read as khoctl reads a --memslots file
  ASSERT_TRUE(ParseVmmDeclaration(fx->DeclarationJson(), &decl).ok()) << fx->DeclarationJson();
  auto files = OpenVmmFiles(fx->pid(), {fx->Fd("gmem_shared"), fx->Fd("gmem_private")}, decl);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  CaptureOptions opts;
  opts.hash_contents = true;
  auto snap = CaptureSnapshot(*files, decl, opts);  // private pages untouched: no SIGBUS
  ASSERT_TRUE(snap.ok()) << snap.status().ToString();
  ASSERT_EQ(snap->gmems.size(), 2u);
  ASSERT_EQ(snap->vms.size(), 1u);
  EXPECT_EQ(snap->vms[0].memslots.size(), 2u);
  const GuestMemfd& shared = snap->gmems[0];
  const GuestMemfd& priv = snap->gmems[1];
  const uint64_t pages = shared.size / kPage;
  const uint64_t both = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  EXPECT_EQ(shared.kind, FileKind::kGuestMemfd);
  EXPECT_EQ(shared.flags, both);
  EXPECT_EQ(shared.flags_known, both) << "INIT_SHARED seen from a page mapped shared";
  EXPECT_EQ(shared.visibility, (std::vector<VisibilityRange>{{0, pages, PageVisibility::kFull}}));
  EXPECT_FALSE(shared.folios.empty());
  for (const auto& e : shared.folios) EXPECT_NE(e.first_pfn, kPfnUnknown);
  EXPECT_FALSE(shared.hashes.empty());
  // 6.18: no shared policy; the fixture's own mapping is mbound bind.
  const bool shared_policy = GuestMemfdSharedPolicy().answer == SharedPolicyAnswer::kYes;
  if (!shared_policy) {
    EXPECT_EQ(shared.policy_source, PolicySource::kVmmMappings);
    const uint64_t map = std::stoull(fx->File("gmem_shared")->map(), nullptr, 16);  // "0x.."
    const MappingPolicy* vmm = PolicyAt(shared, map);
    ASSERT_NE(vmm, nullptr) << "the fixture's mapping at " << std::hex << map;
    EXPECT_EQ(vmm->policy.mode, MPOL_BIND);
    EXPECT_EQ(vmm->pid, fx->pid());
    EXPECT_EQ(vmm->first_index, 0u);
    EXPECT_EQ(vmm->count, pages);
    EXPECT_EQ(shared.policy, Mempolicy()) << "no inode policy is claimed";
    EXPECT_EQ(priv.policy_source, PolicySource::kVmmMappings);
    // The fixture maps its private file once (PROT_NONE, mbound preferred): one policy, that
    // mapping's, over the whole file.
    ASSERT_EQ(priv.mapping_policies.size(), 1u) << "the fixture's one mapping of gmem_private";
    const MappingPolicy& only = priv.mapping_policies[0];
    EXPECT_EQ(only.start_address,
              std::stoull(fx->File("gmem_private")->private_map(), nullptr, 16));  // "0x.."
    EXPECT_EQ(only.pid, fx->pid());
    EXPECT_EQ(only.first_index, 0u);
    EXPECT_EQ(only.count, pages);
    EXPECT_EQ(only.policy.mode, MPOL_PREFERRED);
  }
  // MMAP without INIT_SHARED seen: initialized pages only, and fallocated
  // pages are not initialized (mincore 0): none seen, nothing claimed absent.
  EXPECT_EQ(priv.flags, uapi::kGuestMemfdFlagMmap);
  EXPECT_EQ(priv.flags_known, uapi::kGuestMemfdFlagMmap) << "INIT_SHARED cannot be told here";
  EXPECT_EQ(priv.visibility,
            (std::vector<VisibilityRange>{{0, pages, PageVisibility::kInitializedOnly}}));
  EXPECT_TRUE(priv.folios.empty());
  EXPECT_TRUE(priv.hashes.empty());  // never read
  EXPECT_EQ(UnobservedPages(priv, kPage), pages);
  EXPECT_EQ(UnobservedPages(shared, kPage), 0u);
}

// An independent VMM for one guest_memfd: a child that creates its own VM
// (VM ioctls work only in the VM creator's process) and a guest_memfd with
// `flags`, runs `setup` on it, reports the fd and waits to be killed.
class GmemChild {
 public:
  static std::unique_ptr<GmemChild> Start(uint64_t flags, uint64_t pages,
                                          const std::function<bool(int fd)>& setup) {
    int p[2];
    if (::pipe(p) != 0) return nullptr;
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) return nullptr;
    if (pid == 0) {
      // Dies with the test, however it ends: a crash leaves no VM and guest_memfd behind.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(1);  // the parent died before the prctl
      ::close(p[0]);
      int fd = -1;
      auto gmem = TestGuestMemfd::Make(pages * kPage, flags);
      if (gmem.ok() && setup(gmem->fd())) fd = gmem->fd();
      // Why not, after the fd: the parent's failure names what the kernel said.
      const std::string why = !gmem.ok() ? gmem.status().ToString()
                              : fd < 0   ? std::string("its setup failed")
                                         : std::string();
      if (::write(p[1], &fd, sizeof fd) != sizeof fd || fd < 0) {
        (void)!::write(p[1], why.data(), why.size());
        ::_exit(1);
      }
      for (;;) ::pause();
    }
    ::close(p[1]);
    auto c = std::unique_ptr<GmemChild>(new GmemChild(pid));
    if (::read(p[0], &c->fd_, sizeof c->fd_) != sizeof c->fd_) c->fd_ = -1;
    if (c->fd_ < 0) {
      char buf[1024];
      const ssize_t n = ::read(p[0], buf, sizeof buf);
      c->error_ = "the child could not make its guest_memfd: " +
                  (n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("no reason"));
    }
    ::close(p[0]);
    return c;
  }
  ~GmemChild() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  int fd() const { return fd_; }
  // Where fd() < 0: what the child was told.
  const std::string& error() const { return error_; }

 private:
  explicit GmemChild(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  int fd_ = -1;
  std::string error_;
};

int OpenFds() {
  int n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
  ::closedir(d);
  return n;
}

// A file's capture holds no fd beyond the file's own: /proc/self/pagemap
// and /proc/kpageflags are read through the process's one reader
// (PageFrameReader::Shared), so a khod holding hundreds of guest_memfds does
// not hold two more fds for each and stays far below RLIMIT_NOFILE.
TEST(KernelCaptureTest, EachFilesCaptureHoldsOnlyTheFilesOwnFd) {
  auto gmem = TestGuestMemfd::Make(4 * kPage);
  KHOD_GUEST_MEMFD_OR_SKIP(gmem);
  std::vector<std::unique_ptr<KernelGmemSource>> sources;
  auto capture_one = [&]() {
    auto fd = gmem->Another(4 * kPage);
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    auto src = KernelGmemSource::FromFd(std::move(*fd), KernelSourceOptions());
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    GuestMemfd g;
    ASSERT_TRUE((*src)->Capture(CaptureOptions(), &g).ok());
    sources.push_back(std::move(*src));
  };
  capture_one();  // the process's readers are open from here on
  const int before = OpenFds();
  constexpr int kFiles = 8;
  for (int i = 0; i < kFiles; ++i) capture_one();
  EXPECT_EQ(OpenFds() - before, kFiles);
}

bool Fallocate(int fd, uint64_t first, uint64_t count) {
  return ::fallocate(fd, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(first * kPage),
                     static_cast<off_t>(count * kPage)) == 0;
}

// Pages mincore reports initialized through a fresh PROT_NONE mapping of the
// VMM's file (taken again here): what the kernel holds, independently of khod.
uint64_t InitializedPages(pid_t pid, int fd, uint64_t pages) {
  auto taken = TakeFdFromProcess(pid, fd);
  if (!taken.ok()) return ~0ull;
  void* m = ::mmap(nullptr, pages * kPage, PROT_NONE, MAP_SHARED, taken->get(), 0);
  if (m == MAP_FAILED) return ~0ull;
  std::vector<unsigned char> v(pages);
  uint64_t n = ::mincore(m, pages * kPage, v.data()) == 0 ? 0 : ~0ull;
  for (unsigned char b : v) n += b & 1;
  ::munmap(m, pages * kPage);
  return n;
}

Result<GuestMemfd> CaptureChild(const GmemChild& c, KernelSourceOptions o = {}, bool hash = true) {
  auto src = KernelGmemSource::FromPid(c.pid(), c.fd(), std::move(o));
  if (!src.ok()) return src.status();
  CaptureOptions opts;
  opts.hash_contents = hash;
  GuestMemfd g;
  Status s = (*src)->Capture(opts, &g);
  if (!s.ok()) return s;
  return g;
}

#define KHOD_NEEDS_KVM_AND_ROOT()  \
  KHOD_SKIP_WITHOUT_GUEST_MEMFD(); \
  if (!IsRoot())                   \
  GTEST_SKIP() << "needs root outside a user namespace: pidfd_getfd of another process"

// Flags 0 and 2: mmap fails with ENODEV, nothing per page is visible. The
// capture records size, flags as known (MMAP only: 2 cannot be told from 0)
// and kNone over the file: no folio, no hash, no "absent" page.
TEST(KernelCaptureTest, UnmappableGuestMemfdIsCapturedAsNotObservable) {
  KHOD_NEEDS_KVM_AND_ROOT();
  for (uint64_t flags : {uint64_t{0}, uint64_t{uapi::kGuestMemfdFlagInitShared}}) {
    SCOPED_TRACE("flags " + std::to_string(flags));
    auto c = GmemChild::Start(flags, 64, [](int fd) { return Fallocate(fd, 0, 32); });
    ASSERT_TRUE(c && c->fd() >= 0) << (c ? c->error() : "no child");
    auto g = CaptureChild(*c);  // no declaration: nothing blocks
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_EQ(g->size, 64 * kPage);
    EXPECT_EQ(g->flags_known, uapi::kGuestMemfdFlagMmap);
    EXPECT_EQ(g->flags, 0u) << "INIT_SHARED is not visible: not claimed";
    EXPECT_EQ(g->visibility, (std::vector<VisibilityRange>{{0, 64, PageVisibility::kNone}}));
    EXPECT_TRUE(g->folios.empty());
    EXPECT_TRUE(g->hashes.empty());
    EXPECT_EQ(UnobservedPages(*g, kPage), 64u);
    EXPECT_NE(g->policy_source, PolicySource::kInode) << "no mapping to read an inode policy";
    EXPECT_TRUE(g->mapping_policies.empty()) << "such a file has no mapping";
    // A declared INIT_SHARED (which the kernel cannot show here) is recorded as declared.
    KernelSourceOptions o;
    o.declared_gmem_flags = flags;
    o.declared_gmem_mask = ~0ull;
    auto d = CaptureChild(*c, o);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->flags, flags);
    EXPECT_EQ(d->flags_known, uapi::kGuestMemfdFlagMmap);
  }
}

// MMAP without INIT_SHARED: fallocated pages are not initialized, so none is
// seen; nothing is read (SIGBUS) or allocated, and INIT_SHARED stays unknown.
TEST(KernelCaptureTest, MmapOnlyGuestMemfdShowsOnlyWhichPagesAreInitialized) {
  KHOD_NEEDS_KVM_AND_ROOT();
  auto c =
      GmemChild::Start(uapi::kGuestMemfdFlagMmap, 64, [](int fd) { return Fallocate(fd, 8, 40); });
  ASSERT_TRUE(c && c->fd() >= 0) << (c ? c->error() : "no child");
  auto g = CaptureChild(*c);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->flags, uapi::kGuestMemfdFlagMmap);
  EXPECT_EQ(g->flags_known, uapi::kGuestMemfdFlagMmap);
  EXPECT_EQ(g->visibility,
            (std::vector<VisibilityRange>{{0, 64, PageVisibility::kInitializedOnly}}));
  EXPECT_TRUE(g->folios.empty()) << "fallocated pages are not initialized: invisible";
  EXPECT_TRUE(g->hashes.empty());
  EXPECT_EQ(InitializedPages(c->pid(), c->fd(), 64), 0u) << "the capture initialized nothing";
}

// MMAP|INIT_SHARED with 100 pages used through the VMM's mapping and 50 only
// fallocated: mincore through a PROT_NONE mapping sees the 100 (the facts'
// measurement), the capture finds exactly those with their PFNs and
// contents, sees INIT_SHARED without a declaration, and allocates nothing.
TEST(KernelCaptureTest, InitSharedGuestMemfdCapturesUsedPagesOnly) {
  KHOD_NEEDS_KVM_AND_ROOT();
  const uint64_t both = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  auto c = GmemChild::Start(both, 512, [](int fd) {
    void* m = ::mmap(nullptr, 512 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return false;
    for (uint64_t p = 0; p < 100; ++p) static_cast<volatile uint8_t*>(m)[p * kPage] = 1 + p % 7;
    return Fallocate(fd, 300, 50);
  });
  ASSERT_TRUE(c && c->fd() >= 0) << (c ? c->error() : "no child");
  ASSERT_EQ(InitializedPages(c->pid(), c->fd(), 512), 100u) << "mincore sees the used pages only";
  auto g = CaptureChild(*c);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->flags, both);
  EXPECT_EQ(g->flags_known, both);
  EXPECT_EQ(g->visibility, (std::vector<VisibilityRange>{{0, 512, PageVisibility::kFull}}));
  auto covered = Covered(*g);
  uint64_t n = 0;
  for (uint64_t p = 0; p < 512; ++p) {
    n += covered[p];
    if (p < 100) {
      EXPECT_TRUE(covered[p]) << p;
    }
  }
  EXPECT_EQ(n, 100u) << "the fallocated pages are not initialized";
  for (const auto& e : g->folios) EXPECT_NE(e.first_pfn, kPfnUnknown);
  uint64_t hashed = 0;
  for (const auto& h : g->hashes) hashed += h.count;
  EXPECT_EQ(hashed, 100u);
  EXPECT_EQ(InitializedPages(c->pid(), c->fd(), 512), 100u) << "the capture allocated a page";
}

// A VMM that mbinds its mappings (interleave over the whole file, bind on a
// second mapping of pages 16..31) is captured as kVmmMappings with each
// mapping's policy and range; khod's own mapping is not among them.
TEST(KernelCaptureTest, VmmMappingPoliciesAreCapturedPerMapping) {
  KHOD_NEEDS_KVM_AND_ROOT();
  if (GuestMemfdSharedPolicy().answer != SharedPolicyAnswer::kNo)
    GTEST_SKIP() << "guest_memfd has a shared policy here (or it is unknown): "
                 << GuestMemfdSharedPolicy().evidence;
  const uint64_t both = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  auto c = GmemChild::Start(both, 64, [](int fd) {
    void* a = ::mmap(nullptr, 64 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    void* b = ::mmap(nullptr, 16 * kPage, PROT_READ, MAP_SHARED, fd, 16 * kPage);
    unsigned long node0 = 1;
    return a != MAP_FAILED && b != MAP_FAILED &&
           ::syscall(SYS_mbind, a, 64 * kPage, MPOL_INTERLEAVE, &node0, 2, 0) == 0 &&
           ::syscall(SYS_mbind, b, 16 * kPage, MPOL_BIND, &node0, 2, 0) == 0;
  });
  ASSERT_TRUE(c && c->fd() >= 0) << (c ? c->error() : "no child");
  auto g = CaptureChild(*c);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->policy_source, PolicySource::kVmmMappings);
  ASSERT_EQ(g->mapping_policies.size(), 2u);
  const MappingPolicy& whole = g->mapping_policies[0];
  const MappingPolicy& part = g->mapping_policies[1];
  EXPECT_EQ(whole.first_index, 0u);
  EXPECT_EQ(whole.count, 64u);
  EXPECT_EQ(whole.policy.mode, MPOL_INTERLEAVE);
  EXPECT_EQ(whole.policy.nodemask, (std::vector<uint64_t>{1}));
  EXPECT_EQ(whole.pid, c->pid());
  EXPECT_EQ(part.first_index, 16u);
  EXPECT_EQ(part.count, 16u);
  EXPECT_EQ(part.policy.mode, MPOL_BIND);
  EXPECT_EQ(g->policy, Mempolicy()) << "no inode policy is claimed";
}

// A declaration is optional; one the kernel contradicts is refused, naming
// the bit: MMAP declared for a file mmap refuses, MMAP denied for one it
// maps, INIT_SHARED denied for a file with a page mapped shared.
TEST(KernelCaptureTest, DeclaredFlagsThatLieAreRefused) {
  KHOD_NEEDS_KVM_AND_ROOT();
  const uint64_t both = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  auto declare = [](uint64_t flags) {
    KernelSourceOptions o;
    o.declared_gmem_flags = flags;
    o.declared_gmem_mask = ~0ull;
    return o;
  };
  auto priv = GmemChild::Start(0, 16, [](int) { return true; });
  ASSERT_TRUE(priv && priv->fd() >= 0) << (priv ? priv->error() : "no child");
  auto lie = KernelGmemSource::FromPid(priv->pid(), priv->fd(), declare(both));
  ASSERT_FALSE(lie.ok());
  EXPECT_EQ(lie.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(lie.status().message().find("MMAP is not set"), std::string::npos)
      << lie.status().message();

  auto shared = GmemChild::Start(both, 16, [](int fd) {
    void* m = ::mmap(nullptr, 16 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return false;
    static_cast<volatile uint8_t*>(m)[0] = 1;
    return true;
  });
  ASSERT_TRUE(shared && shared->fd() >= 0) << (shared ? shared->error() : "no child");
  auto none = KernelGmemSource::FromPid(shared->pid(), shared->fd(), declare(0));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("MMAP is set"), std::string::npos)
      << none.status().message();
  auto mmap_only = CaptureChild(*shared, declare(uapi::kGuestMemfdFlagMmap));
  ASSERT_FALSE(mmap_only.ok());
  EXPECT_EQ(mmap_only.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(mmap_only.status().message().find("INIT_SHARED is set"), std::string::npos)
      << mmap_only.status().message();
  auto bogus = KernelGmemSource::FromPid(shared->pid(), shared->fd(), declare(4 | both));
  ASSERT_FALSE(bogus.ok());
  EXPECT_NE(bogus.status().message().find("no guest_memfd flag"), std::string::npos);
  auto truth = CaptureChild(*shared, declare(both));
  ASSERT_TRUE(truth.ok()) << truth.status().ToString();
  EXPECT_EQ(truth->flags, both);
}

TEST(KernelCaptureTest, WrongFdsGetClearErrors) {
  const TempDir dir("regular");
  UniqueFd reg(::open(dir.Join("regular").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(reg.valid());
  auto r = KernelGmemSource::FromFd(UniqueFd(::dup(reg.get())), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("regular file"), std::string::npos) << r.status().message();

  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto pr = KernelGmemSource::FromFd(UniqueFd(p[0]), {});
  ::close(p[1]);
  ASSERT_FALSE(pr.ok());
  EXPECT_NE(pr.status().message().find("pipe:"), std::string::npos) << pr.status().message();

  auto closed = IdentifyMemoryFile(1000);
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.status().code(), Status::Code::kNotFound);

  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  auto dead = KernelGmemSource::FromPid(child, 0, {});
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.status().code(), Status::Code::kNotFound);
  EXPECT_NE(dead.status().message().find(std::to_string(child)), std::string::npos);

  if (IsRoot()) {
    auto fx = StartFixture({"--shmem-mib", "1", "--gmem-mib", "0"});
    ASSERT_TRUE(fx);
    auto nofd = KernelGmemSource::FromPid(fx->pid(), 999, {});
    ASSERT_FALSE(nofd.ok());
    EXPECT_EQ(nofd.status().code(), Status::Code::kNotFound);
    EXPECT_NE(nofd.status().message().find("fd 999"), std::string::npos);
    auto stdio = KernelGmemSource::FromPid(fx->pid(), 0, {});  // its stdin: a pipe
    ASSERT_FALSE(stdio.ok());
    EXPECT_EQ(stdio.status().code(), Status::Code::kFailedPrecondition);
  }
}

// A file of 0 bytes has no page to read its policy at: a capture returns
// before its policy step, and must not claim the default as read.
TEST(KernelCaptureTest, EmptyMemfdsPolicyIsNotClaimedAsRead) {
  const TestMemfd empty(0, "empty");
  auto src = KernelGmemSource::FromFd(UniqueFd(::dup(empty.fd())), {});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  GuestMemfd g;
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  EXPECT_EQ(g.kind, FileKind::kShmemMemfd);
  EXPECT_EQ(g.size, 0u);
  EXPECT_EQ(g.policy_source, PolicySource::kUnknown) << "the policy was never read";
  EXPECT_EQ(g.policy, Mempolicy()) << "nothing read, nothing claimed";
  EXPECT_EQ(g.policy_unread, "a file of 0 bytes has no page to read it at");
  // Once it has pages, the same source reads it from the inode.
  ASSERT_EQ(::ftruncate(empty.fd(), 16 * kPage), 0);
  ASSERT_TRUE((*src)->Capture({}, &g).ok());
  EXPECT_EQ(g.policy_source, PolicySource::kInode);
  EXPECT_EQ(g.policy_unread, "");
}

// Verify's capture takes the creation flags its frozen capture saw only for
// the file that capture saw. Values as the real kernel gave them
// (gmem-6.18-facts.md): a guest_memfd created MMAP|INIT_SHARED, /proc fdinfo
// "ino: 130198". Restored in place, the file is that one; rebuilt into a
// guest_memfd the VMM offered (created MMAP only, nothing of it mapped
// shared yet, so the kernel has shown only MMAP), it is another, whose
// INIT_SHARED nobody saw.
TEST(KernelCaptureTest, FrozenFlagsApplyOnlyToTheFileTheFrozenCaptureSaw) {
  const uint64_t both = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  GuestMemfd frozen;
  frozen.kind = FileKind::kGuestMemfd;
  frozen.provenance = Provenance::kKernel;
  frozen.inode = 130198;
  frozen.flags = both;
  frozen.flags_known = both;
  const GmemFlagsSeen mmap_seen{uapi::kGuestMemfdFlagMmap, uapi::kGuestMemfdFlagMmap};

  // The same file (restored in place, or after a reexec): INIT_SHARED stands.
  EXPECT_EQ(WithFrozenFlags(mmap_seen, &frozen, 130198), (GmemFlagsSeen{both, both}));
  // A file the VMM offered (another inode): only what its own kernel showed.
  EXPECT_EQ(WithFrozenFlags(mmap_seen, &frozen, 130211), mmap_seen);
  // Its MMAP not shown yet either: nothing of the frozen file's is taken.
  EXPECT_EQ(WithFrozenFlags(GmemFlagsSeen{}, &frozen, 130211), GmemFlagsSeen{});
  // No frozen capture, one that recorded no inode, one not of the kernel.
  EXPECT_EQ(WithFrozenFlags(mmap_seen, nullptr, 130198), mmap_seen);
  GuestMemfd no_inode = frozen;
  no_inode.inode = 0;
  EXPECT_EQ(WithFrozenFlags(mmap_seen, &no_inode, 0), mmap_seen);
  GuestMemfd model = frozen;
  model.provenance = Provenance::kModel;
  EXPECT_EQ(WithFrozenFlags(mmap_seen, &model, 130198), mmap_seen);
  // A bit the frozen capture did not know is not taken from it, even for the same file.
  GuestMemfd mmap_only = frozen;
  mmap_only.flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;  // declared
  mmap_only.flags_known = uapi::kGuestMemfdFlagMmap;
  EXPECT_EQ(WithFrozenFlags(GmemFlagsSeen{}, &mmap_only, 130198),
            (GmemFlagsSeen{uapi::kGuestMemfdFlagMmap, uapi::kGuestMemfdFlagMmap}));
  // What this file's kernel showed is never overridden by the frozen capture.
  GuestMemfd unmappable = frozen;
  unmappable.flags = 0;
  EXPECT_EQ(WithFrozenFlags(mmap_seen, &unmappable, 130198),
            (GmemFlagsSeen{uapi::kGuestMemfdFlagMmap, both}));
}

}  // namespace
}  // namespace khod
