// HashExtents (capture/content_hash.h) through a mapping, as guest_memfd's
// contents are read, here over a shmem memfd that a mapping of this test
// holds: in batches of extents that follow each other in the file, each hash
// XXH3 of the extent's bytes (as the pread path gives them), no hole
// populated, and an extent whose pages are not at the PFNs recorded refused.
#include "capture/content_hash.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "capture/folio_extent_builder.h"
#include "kernel/pagemap.h"
#include "tests/support/content_hashes.h"
#include "tests/support/fixture.h"
#include "tests/support/pfns_visible.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096, kPages = 4096;

class ContentHashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PfnsVisible()) GTEST_SKIP() << "needs root outside a user namespace: PFNs";
    auto* w = static_cast<uint8_t*>(
        ::mmap(nullptr, kPages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, file_.fd(), 0));
    ASSERT_NE(w, MAP_FAILED);
    std::mt19937_64 rng(7);
    for (uint64_t p = 0; p < kPages; ++p)
      if (!InHole(p))
        for (uint64_t b = 0; b < kPage; b += 8) w[p * kPage + b] = static_cast<uint8_t>(rng());
    ::munmap(w, kPages * kPage);
    void* m = ::mmap(nullptr, kPages * kPage, PROT_READ, MAP_SHARED, file_.fd(), 0);
    ASSERT_NE(m, MAP_FAILED);
    base_ = static_cast<uint8_t*>(m);
    for (uint64_t p = 0; p < kPages; ++p)
      if (!InHole(p)) sink_ += base_[p * kPage];  // present here, as khod's capture leaves them
    Result<PageFrameReader> r = PageFrameReader::Open();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    frames_.emplace(std::move(*r));
    // The extents: runs of present pages at consecutive PFNs, as a capture finds them.
    std::vector<uint64_t> pm(kPages);
    ASSERT_TRUE(frames_->ReadPagemap(base_, kPages, pm.data()).ok());
    FolioExtentBuilder runs;
    for (uint64_t p = 0; p < kPages; ++p)
      if (PagemapPresent(pm[p])) runs.AddRun(p, PagemapPfn(pm[p]), 1, 0, 0, true);
    list_ = runs.TakeExtents();
    ASSERT_GT(list_.size(), 3u);
  }
  void TearDown() override {
    if (base_) ::munmap(base_, kPages * kPage);
  }
  static bool InHole(uint64_t p) { return (p >= 1000 && p < 1100) || (p >= 3000 && p < 3100); }
  HashSource Source(bool through_mapping) const {
    HashSource s;
    s.fd = file_.fd();
    s.through_mapping = through_mapping;
    s.base = base_;
    s.frames = &*frames_;
    s.describe = "test memfd";
    return s;
  }
  uint64_t Blocks() const {
    struct stat st;
    ::fstat(file_.fd(), &st);
    return static_cast<uint64_t>(st.st_blocks);
  }

  TestMemfd file_{kPages * kPage, "hashed"};
  uint8_t* base_ = nullptr;
  std::optional<PageFrameReader> frames_;
  FolioList list_;
  uint64_t sink_ = 0;
};

TEST_F(ContentHashTest, ThroughTheMappingEachHashIsItsBytesAndNoHoleIsPopulated) {
  FolioExtentBuilder b;
  b.Assign(list_);
  const uint64_t blocks = Blocks();
  GuestMemfd by_pread;
  ASSERT_TRUE(HashExtents(Source(false), b, 1, &by_pread).ok());
  ASSERT_EQ(by_pread.hashes.size(), list_.size());
  for (int threads : {1, 2, 3}) {
    GuestMemfd out;
    Status s = HashExtents(Source(true), b, threads, &out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(out.hashes, by_pread.hashes) << threads << " threads";
  }
  ExpectEachHashIsItsBytes(file_.fd(), by_pread.hashes);
  EXPECT_EQ(Blocks(), blocks) << "a hole was populated";
}

TEST_F(ContentHashTest, AnExtentNotAtItsRecordedPfnsIsRefusedByName) {
  // One extent in the middle of a run of extents that follow each other in
  // the file (one batch), recorded one PFN off.
  FolioList moved = list_;
  size_t k = moved.size() / 2;
  while (k + 1 < moved.size() && moved[k].first_index != moved[k - 1].end_index()) ++k;
  moved.Mutable()[k].first_pfn += 1;
  FolioExtentBuilder b;
  b.Assign(moved);
  GuestMemfd out;
  Status s = HashExtents(Source(true), b, 1, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
  EXPECT_NE(s.message().find("page " + std::to_string(moved[k].first_index) +
                             " changed while its contents were hashed"),
            std::string::npos)
      << s.ToString();
  EXPECT_TRUE(out.hashes.empty()) << "nothing recorded from a refused capture";
}

}  // namespace
}  // namespace khod
