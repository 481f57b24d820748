// WindowBuffersPool (capture/window_buffers_pool.h): buffers outlive the scan
// that used them, keep their size and come back largest first; the pool is
// bounded; and a scan of one file after another's takes the kept buffers
// instead of making (and faulting in) new ones, what a new khod's first
// Verify of a hundred adopted files relies on.
#include "capture/window_buffers_pool.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "capture/kernel_source.h"
#include "tests/support/fixture.h"
#include "tests/support/pfns_visible.h"

namespace khod {
namespace {

// Empties the pool (its buffers are freed) so each test starts from none kept.
void Drain() {
  std::vector<std::unique_ptr<WindowBuffers>> taken;
  while (WindowBuffersPool::Kept() > 0) taken.push_back(WindowBuffersPool::Take());
}

TEST(WindowBuffersPoolTest, AGivenBufferComesBackSizedWithItsCountReset) {
  Drain();
  std::unique_ptr<WindowBuffers> w = WindowBuffersPool::Take();
  ASSERT_NE(w, nullptr);
  w->Size(100);
  w->populated = 7;
  WindowBuffers* const was = w.get();
  WindowBuffersPool::Give(std::move(w));
  EXPECT_EQ(WindowBuffersPool::Kept(), 1u);
  const size_t made = WindowBuffersPool::Made();
  std::unique_ptr<WindowBuffers> again = WindowBuffersPool::Take();
  EXPECT_EQ(again.get(), was);
  EXPECT_EQ(again->cap, 100u);
  EXPECT_EQ(again->populated, 0u);
  EXPECT_EQ(WindowBuffersPool::Made(), made);
  EXPECT_EQ(WindowBuffersPool::Kept(), 0u);
}

TEST(WindowBuffersPoolTest, LargestFirstAndBounded) {
  Drain();
  for (uint64_t cap : {10, 300, 20}) {
    auto w = std::make_unique<WindowBuffers>();
    w->Size(cap);
    WindowBuffersPool::Give(std::move(w));
  }
  EXPECT_EQ(WindowBuffersPool::Take()->cap, 300u);
  EXPECT_EQ(WindowBuffersPool::Take()->cap, 20u);
  for (size_t i = 0; i < WindowBuffersPool::kMaxKept + 5; ++i)
    WindowBuffersPool::Give(std::make_unique<WindowBuffers>());
  EXPECT_EQ(WindowBuffersPool::Kept(), WindowBuffersPool::kMaxKept);
  Drain();
}

// Two files, each captured for the first time by a source of its own (as a
// new khod captures its adopted files): the second scan makes no buffer.
TEST(WindowBuffersPoolTest, ASecondFilesFirstScanTakesTheKeptBuffers) {
  if (!PfnsVisible())
    GTEST_SKIP() << "needs root outside a user namespace: PFNs and /proc/kpageflags";
  const std::string meminfo = ::testing::TempDir() + "/window-pool-meminfo";
  std::ofstream(meminfo) << "MemTotal: 1000 kB\nHardwareCorrupted: 0 kB\n";
  constexpr uint64_t kPages = 256, kPage = 4096;
  TestMemfd a(kPages * kPage, "pool-a"), b(kPages * kPage, "pool-b");
  for (TestMemfd* f : {&a, &b}) {
    void* m = ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd(), 0);
    ASSERT_NE(m, MAP_FAILED);
    for (uint64_t p = 0; p < kPages; ++p) static_cast<char*>(m)[p * kPage] = 1;
    ::munmap(m, kPages * kPage);
  }
  auto capture = [&](int fd) {
    KernelSourceOptions o;
    o.meminfo_path = meminfo;
    o.name = "g";
    o.capture_threads = 1;
    auto s = KernelGmemSource::FromFd(UniqueFd(::dup(fd)), o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    GuestMemfd g;
    Status st = (*s)->Capture({}, &g);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(g.folios.facts().pages, kPages);
  };
  capture(a.fd());
  const size_t made = WindowBuffersPool::Made();
  EXPECT_GE(WindowBuffersPool::Kept(), 1u) << "the first scan's buffer is kept";
  capture(b.fd());
  EXPECT_EQ(WindowBuffersPool::Made(), made) << "the second file's scan made a buffer of its own";
  ::unlink(meminfo.c_str());
}

}  // namespace
}  // namespace khod
