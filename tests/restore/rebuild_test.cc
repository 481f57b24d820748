// restore/rebuild.h: a guest_memfd is rebuilt, with the frozen one's size and
// flags, where the kernel makes one; where it cannot (no /dev/kvm, or a
// /dev/kvm whose kernel has no guest_memfd) Restore is told so, Unsupported,
// naming the gmem and why: never an I/O error an operator would chase. A shmem
// memfd is rebuilt everywhere. A guest_memfd is made only with the flags
// known of the frozen one: a flag neither observed nor declared refuses the
// rebuild, wherever it runs, before any kernel is asked.
#include "restore/rebuild.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "kernel/kvm_uapi.h"
#include "kernel/mapping.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 1 << 20;

// `known`: the bits a capture observed (memfds: all).
GuestMemfd Frozen(uint64_t token, FileKind kind, uint64_t flags, uint64_t known = ~0ull) {
  GuestMemfd g;
  g.token = token;
  g.name = "rebuilt";
  g.kind = kind;
  g.size = kSize;
  g.flags = flags;
  g.flags_known = known;
  return g;
}

uint64_t SizeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

TEST(RebuildTest, AGuestMemfdWhereTheKernelMakesOneElseUnsupportedSayingWhy) {
  const uint64_t flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
  const Status available = TestGuestMemfd::Available(flags);
  Result<UniqueFd> fd = RebuildMemoryFile(Frozen(7, FileKind::kGuestMemfd, flags, flags));
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

// An MMAP|INIT_SHARED file none of whose pages was used reads MMAP alone,
// and flags INIT_SHARED alone read as none: such a snapshot, with nothing
// declared, is refused the same with or without /dev/kvm.
TEST(RebuildTest, AGuestMemfdWithAFlagNotKnownIsRefusedBeforeAnyKernelIsAsked) {
  const uint64_t mmap = uapi::kGuestMemfdFlagMmap;
  for (uint64_t flags : {mmap, uint64_t{0}}) {
    Result<UniqueFd> fd = RebuildMemoryFile(Frozen(7, FileKind::kGuestMemfd, flags, mmap));
    ASSERT_FALSE(fd.ok());
    EXPECT_EQ(fd.status().code(), Status::Code::kFailedPrecondition) << fd.status().ToString();
    const std::string& why = fd.status().message();
    EXPECT_NE(why.find("gmem 7 ('rebuilt'): not rebuilt: a new guest_memfd would need INIT_SHARED"),
              std::string::npos)
        << why;
    EXPECT_NE(why.find("rebuild_into"), std::string::npos) << why;
  }
}

// Where the kernel makes one, the file has the known flags: MMAP (whether
// mmap(PROT_NONE) works) as the frozen one had it, with INIT_SHARED known by
// observation or carried as declared.
TEST(RebuildTest, AGuestMemfdIsMadeWithTheKnownFlags) {
  const uint64_t mmap = uapi::kGuestMemfdFlagMmap, shared = uapi::kGuestMemfdFlagInitShared;
  struct Case {
    uint64_t flags, known;
  };
  for (const Case& c : {Case{mmap | shared, mmap | shared}, Case{mmap | shared, mmap},
                        Case{shared, mmap}, Case{mmap, mmap | shared}}) {
    const Status available = TestGuestMemfd::Available(c.flags);
    if (available.code() == Status::Code::kUnsupported)
      GTEST_SKIP() << "no guest_memfd on this machine: " << available.message();
    ASSERT_TRUE(available.ok()) << available.ToString();
    Result<UniqueFd> fd = RebuildMemoryFile(Frozen(7, FileKind::kGuestMemfd, c.flags, c.known));
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    EXPECT_EQ(SizeOf(fd->get()), kSize);
    Result<bool> mappable = IsMappable(fd->get(), kSize);
    ASSERT_TRUE(mappable.ok()) << mappable.status().ToString();
    EXPECT_EQ(*mappable, (c.flags & mmap) != 0) << "flags " << c.flags;
  }
}

TEST(RebuildTest, AShmemMemfdIsRebuiltEverywhere) {
  Result<UniqueFd> fd = RebuildMemoryFile(Frozen(8, FileKind::kShmemMemfd, 0));
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_EQ(SizeOf(fd->get()), kSize);
}

}  // namespace
}  // namespace khod
