// restore/rebuild.h: a guest_memfd is rebuilt, with the frozen one's size and
// flags, where the kernel makes one; where it cannot (no /dev/kvm, or a
// /dev/kvm whose kernel has no guest_memfd) Restore is told so, Unsupported,
// naming the gmem and why: never an I/O error an operator would chase. A shmem
// memfd is rebuilt everywhere.
#include "restore/rebuild.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "kernel/kvm_uapi.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 1 << 20;

GuestMemfd Frozen(uint64_t token, FileKind kind, uint64_t flags) {
  GuestMemfd g;
  g.token = token;
  g.name = "rebuilt";
  g.kind = kind;
  g.size = kSize;
  g.flags = flags;
  return g;
}

uint64_t SizeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

TEST(RebuildTest, AGuestMemfdWhereTheKernelMakesOneElseUnsupportedSayingWhy) {
  const uint64_t flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  const Status available = TestGuestMemfd::Available(flags);
  Result<UniqueFd> fd = RebuildMemoryFile(Frozen(7, FileKind::kGuestMemfd, flags));
  if (available.ok()) {
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    EXPECT_EQ(SizeOf(fd->get()), kSize);
    return;
  }
  ASSERT_EQ(available.code(), Status::Code::kUnsupported) << available.ToString();
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().code(), Status::Code::kUnsupported) << fd.status().ToString();
  const std::string& why = fd.status().message();
  EXPECT_NE(why.find("gmem 7"), std::string::npos) << why;
  EXPECT_NE(why.find(available.message()), std::string::npos) << why;
}

TEST(RebuildTest, AShmemMemfdIsRebuiltEverywhere) {
  Result<UniqueFd> fd = RebuildMemoryFile(Frozen(8, FileKind::kShmemMemfd, 0));
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_EQ(SizeOf(fd->get()), kSize);
}

}  // namespace
}  // namespace khod
