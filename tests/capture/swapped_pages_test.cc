// capture/swapped_pages.h: shmem pages out in swap are found, never taken
// for holes. The rule's parts on crafted spans, then the kernel: a memfd's pages
// written out to a swap file this test turns on (MADV_PAGEOUT), where the
// machine lets it (root, a filesystem that takes a swap file).
#include "capture/swapped_pages.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "capture/kernel_source.h"
#include "common/unique_fd.h"
#include "kernel/seek_data.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

FolioList Seen(std::vector<std::pair<uint64_t, uint32_t>> extents) {
  FolioList::Extents v;
  for (const auto& [first, n] : extents) {
    FolioExtent e;
    e.first_index = first;
    e.nr_folios = n;
    v.push_back(e);
  }
  return FolioList(std::move(v));
}

std::string Text(const std::vector<PageSpan>& v) {
  std::string s;
  for (const PageSpan& p : v) s += std::to_string(p.first) + "+" + std::to_string(p.count) + " ";
  return s;
}

TEST(SwappedPagesTest, TheGapsOfTheExtentsFound) {
  EXPECT_EQ(Text(GapsOf(Seen({{0, 10}, {50, 10}}), 100)), "10+40 60+40 ");
  EXPECT_EQ(Text(GapsOf(Seen({{0, 100}}), 100)), "");  // found whole: nothing to ask
  EXPECT_EQ(Text(GapsOf(Seen({}), 8)), "0+8 ");
  EXPECT_EQ(Text(GapsOf(Seen({{2, 3}, {5, 1}}), 6)), "0+2 ");
}

TEST(SwappedPagesTest, DataNotResidentAfterTheScan) {
  // Data at 10..13 and 20..21 (indexed from page 10): 11 and 20 resident
  // now (written after the scan passed), the others out.
  const std::vector<uint8_t> resident = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
  EXPECT_EQ(Text(NotResident({{10, 4}, {20, 2}}, 10, resident)), "10+1 12+2 21+1 ");
  EXPECT_EQ(Text(NotResident({}, 0, {})), "");
}

TEST(SwappedPagesTest, TheRefusalNamesThePagesAndTheWayOut) {
  EXPECT_TRUE(RefuseSwappedOut("memfd g", {}).ok());
  const Status s = RefuseSwappedOut("memfd g", {{10, 40}, {60, 40}});
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("memfd g: 80 pages are out in swap (pages 10..49, 60..99)"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("--pin-movable-memory"), std::string::npos) << s.message();
}

constexpr const char* kSwapDir = "/var/tmp";
constexpr const char* kSwapPrefix = "khod-swapped-pages-";

// The pid a swap file of this test is named after ("" when `name` is not one), and whether that
// process is gone: a file of a live run (another checkout's, at the same time) is not stale.
bool StaleSwapName(const std::string& name) {
  const std::string prefix = kSwapPrefix;
  if (name.compare(0, prefix.size(), prefix) != 0) return false;
  const std::string digits = name.substr(prefix.size());
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  const pid_t pid = static_cast<pid_t>(std::stol(digits));
  return pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH;
}

// Turns off and removes the swap files a run of this test that died left behind (SwapFile's
// clean-up is RAII only: a crash leaves swap on for the whole machine). "" when none is left,
// else what could not be undone.
std::string RemoveStaleSwapFiles() {
  if (::geteuid() != 0) return "";  // neither swapon nor swapoff here
  std::string failed;
  std::ifstream swaps("/proc/swaps");
  std::string line;
  std::getline(swaps, line);  // the header
  while (std::getline(swaps, line)) {
    const std::string path = line.substr(0, line.find_first_of(" \t"));
    const std::string dir = std::string(kSwapDir) + "/";
    if (path.compare(0, dir.size(), dir) != 0 || !StaleSwapName(path.substr(dir.size()))) continue;
    if (::swapoff(path.c_str()) != 0)
      failed += "swapoff " + path + ": " + std::strerror(errno) + "; ";
  }
  if (DIR* d = ::opendir(kSwapDir)) {
    std::vector<std::string> stale;
    while (const dirent* e = ::readdir(d))
      if (StaleSwapName(e->d_name)) stale.push_back(std::string(kSwapDir) + "/" + e->d_name);
    ::closedir(d);
    // A file still on as swap (its swapoff failed above) is kept: unlinked, no path would turn
    // it off again.
    for (const std::string& path : stale)
      if (failed.find("swapoff " + path + ":") == std::string::npos && ::unlink(path.c_str()) != 0)
        failed += "unlink " + path + ": " + std::strerror(errno) + "; ";
  }
  return failed;
}

// A swap file for the test's life, where the machine lets one be made.
class SwapFile {
 public:
  SwapFile() {
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    path_ = std::string(kSwapDir) + "/" + kSwapPrefix + std::to_string(::getpid());
    const std::string cmd = "fallocate -l 64M " + path_ + " && chmod 600 " + path_ + " && mkswap " +
                            path_ + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      why_ = "could not make a swap file at " + path_;
      return;
    }
    if (::swapon(path_.c_str(), 0) != 0) {
      why_ = std::string("swapon ") + path_ + ": " + std::strerror(errno);
      return;
    }
    on_ = true;
  }
  // A file whose swapoff fails stays (named after this pid): unlinked while on, no path would
  // turn it off again; the next run of this test, or scripts/test.sh, does.
  ~SwapFile() {
    if (on_ && ::swapoff(path_.c_str()) == 0) on_ = false;
    if (!path_.empty() && !on_) ::unlink(path_.c_str());
  }
  bool on() const { return on_; }
  const std::string& why() const { return why_; }
  bool Off() {
    if (!on_) return true;
    on_ = ::swapoff(path_.c_str()) != 0;
    return !on_;
  }

 private:
  std::string path_, why_;
  bool on_ = false;
};

TEST(SwappedPagesLiveTest, AMemfdsPagesOutInSwapAreRefusedNotCalledHoles) {
  EXPECT_EQ(RemoveStaleSwapFiles(), "") << "swap files of a run that died, still there";
  SwapFile swap;
  if (!swap.on()) GTEST_SKIP() << "no swap for this test: " << swap.why();
  const size_t page = static_cast<size_t>(::getpagesize());
  const size_t pages = 256;
  TestMemfd file(pages * page, "swapped");
  {
    void* m = ::mmap(nullptr, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
    ASSERT_NE(m, MAP_FAILED);
    for (size_t i = 0; i < pages; ++i) static_cast<char*>(m)[i * page] = static_cast<char>(i + 1);
    if (::madvise(m, pages * page, MADV_PAGEOUT) != 0) {
      ::munmap(m, pages * page);
      GTEST_SKIP() << "MADV_PAGEOUT: " << std::strerror(errno);
    }
    std::vector<unsigned char> in(pages);
    ASSERT_EQ(::mincore(m, pages * page, in.data()), 0);
    ::munmap(m, pages * page);
    size_t out = 0;
    for (unsigned char c : in) out += !(c & 1);
    if (out == 0) GTEST_SKIP() << "the kernel wrote no page out to swap";
  }
  // Every page still holds data for the file, resident or not.
  Result<std::vector<PageSpan>> data = FileDataPagesIn(file.fd(), {{0, pages}}, page);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  ASSERT_EQ(Text(*data), "0+" + std::to_string(pages) + " ");
  KernelSourceOptions o;
  o.name = "g";
  auto s = KernelGmemSource::FromFd(UniqueFd(::dup(file.fd())), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  GuestMemfd g;
  const Status refused = (*s)->Capture(CaptureOptions(), &g);
  ASSERT_FALSE(refused.ok()) << "captured " << g.folios.size()
                             << " extents, the swapped pages as holes";
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("are out in swap"), std::string::npos) << refused.ToString();
  // Brought back, every page is seen.
  ASSERT_TRUE(swap.Off());
  const Status ok = (*s)->Capture(CaptureOptions(), &g);
  ASSERT_TRUE(ok.ok()) << ok.ToString();
  uint64_t found = 0;
  for (const FolioExtent& e : g.folios) found += e.pages();
  EXPECT_EQ(found, pages);
}

}  // namespace
}  // namespace khod
