// kernel/sigbus_guard.h: a load from a page that went away under a mapping
// ends the guarded read with an error, in the thread that read it, and
// leaves every other SIGBUS as it was.
#include "kernel/sigbus_guard.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "common/unique_fd.h"

namespace khod {
namespace {

// Two pages of a memfd mapped shared, then the file cut to one: the second
// page is past the end, and a load from it raises SIGBUS.
class PastTheEnd {
 public:
  PastTheEnd() : page_(static_cast<size_t>(::getpagesize())) {
    fd_.reset(::memfd_create("sigbus-guard", MFD_CLOEXEC));
    EXPECT_TRUE(fd_.valid());
    EXPECT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(2 * page_)), 0);
    void* p = ::mmap(nullptr, 2 * page_, PROT_READ, MAP_SHARED, fd_.get(), 0);
    EXPECT_NE(p, MAP_FAILED);
    base_ = static_cast<const volatile uint8_t*>(p);
    EXPECT_EQ(::ftruncate(fd_.get(), static_cast<off_t>(page_)), 0);
  }
  ~PastTheEnd() { ::munmap(const_cast<uint8_t*>(base_), 2 * page_); }
  uint8_t ReadFirst() const { return base_[0]; }
  uint8_t ReadSecond() const { return base_[page_]; }

 private:
  size_t page_;
  UniqueFd fd_;
  const volatile uint8_t* base_ = nullptr;
};

TEST(SigbusGuardTest, ALoadFromAPageThatWentAwayIsAnError) {
  PastTheEnd m;
  uint8_t got = 1;
  Status s = ReadCatchingSigbus("test file", [&] { got = m.ReadSecond(); });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("test file: SIGBUS while reading"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("0x"), std::string::npos) << "no address: " << s.message();
  EXPECT_EQ(got, 1);
  // The jump gave SIGBUS back: a second fault is caught the same way, and a
  // read that does not fault returns OK.
  EXPECT_FALSE(ReadCatchingSigbus("again", [&] { got = m.ReadSecond(); }).ok());
  EXPECT_TRUE(ReadCatchingSigbus("first page", [&] { got = m.ReadFirst(); }).ok());
  EXPECT_EQ(got, 0);
}

TEST(SigbusGuardTest, EachThreadCatchesItsOwn) {
  PastTheEnd m;
  std::atomic<int> caught{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (!ReadCatchingSigbus("thread", [&] { (void)m.ReadSecond(); }).ok()) ++caught;
    });
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(caught.load(), 400);
}

// Outside a guarded read a SIGBUS does what it did before: here the default
// action, which ends the process (or a sanitizer's handler, which does too).
TEST(SigbusGuardDeathTest, ASigbusOutsideAGuardedReadIsNotSwallowed) {
  PastTheEnd m;
  ASSERT_FALSE(ReadCatchingSigbus("installs the handler", [&] { (void)m.ReadSecond(); }).ok());
  EXPECT_DEATH((void)m.ReadSecond(), "");
}

// A SIGBUS sent (kill) outside a guarded read is not lost: the default
// action ends the process.
TEST(SigbusGuardDeathTest, ASigbusSentOutsideAGuardedReadIsNotLost) {
  PastTheEnd m;
  ASSERT_FALSE(ReadCatchingSigbus("installs the handler", [&] { (void)m.ReadSecond(); }).ok());
  EXPECT_DEATH(
      {
        ::kill(::getpid(), SIGBUS);
        for (int i = 0; i < 100; ++i) ::usleep(10000);
        std::fprintf(stderr, "still alive\n");
        std::exit(0);
      },
      "");
}

// A read that throws leaves no guard behind: a later fault outside any
// guarded read is not caught by a stale one.
TEST(SigbusGuardDeathTest, AReadThatThrowsLeavesNoGuardBehind) {
  PastTheEnd m;
  EXPECT_THROW((void)ReadCatchingSigbus("throws", [] { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_DEATH((void)m.ReadSecond(), "");
}

}  // namespace
}  // namespace khod
