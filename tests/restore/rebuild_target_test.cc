// RestoreRequest.rebuild_into checks (restore/rebuild_target.h), on real fds
// of this process taken back with pidfd_getfd: what is not a guest_memfd, an
// unknown token or VM, a duplicate, a bad pid/fd are refused naming them.
// The accepted case, and an offer whose MMAP is not the frozen file's, need a
// real guest_memfd: they skip without /dev/kvm.
#include "restore/rebuild_target.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "kernel/kvm_uapi.h"
#include "tests/support/fixture.h"
#include "tests/support/test_guest_memfd.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 1 << 20;

// A guest_memfd as a capture records one made MMAP (with INIT_SHARED or not,
// none of its pages used): MMAP observed, INIT_SHARED not.
GuestMemfd Gmem(uint64_t token, const char* name, FileKind kind, uint64_t vm,
                Provenance provenance = Provenance::kKernel) {
  GuestMemfd g;
  g.token = token;
  g.name = name;
  g.kind = kind;
  g.size = kSize;
  g.vm_token = vm;
  g.provenance = provenance;
  if (kind == FileKind::kGuestMemfd) g.flags = g.flags_known = uapi::kGuestMemfdFlagMmap;
  return g;
}

// A kernel guest_memfd on VM 5, a shmem memfd, a MODEL guest.
Snapshot Frozen() {
  Snapshot s;
  s.gmems = {Gmem(1, "gmem_shared", FileKind::kGuestMemfd, 5),
             Gmem(2, "shmem0", FileKind::kShmemMemfd, 0),
             Gmem(3, "model-1g", FileKind::kGuestMemfd, 5, Provenance::kModel)};
  return s;
}

RebuildTargetOffer Offer(uint64_t token, uint64_t vm, int fd) {
  return RebuildTargetOffer{token, vm, static_cast<int>(::getpid()), fd};
}

Status Take(std::vector<RebuildTargetOffer> offers) {
  return TakeRebuildTargets(offers, Frozen()).status();
}

std::string Self() { return "of pid " + std::to_string(::getpid()); }

TEST(RebuildTargetTest, PipeOfferedAsGuestMemfdIsRefusedNamingIt) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  Status s = Take({Offer(1, 5, p[0])});
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("rebuild_into[0]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("fd " + std::to_string(p[0]) + " " + Self()), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("pipe:"), std::string::npos) << s.message();
  ::close(p[0]);
  ::close(p[1]);
}

TEST(RebuildTargetTest, MemfdOfferedAsGuestMemfdIsRefusedNamingIt) {
  const TestMemfd notavm(kSize, "notavm");
  Status s = Take({Offer(1, 5, notavm.fd())});
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("/memfd:notavm"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("shmem-memfd, not a guest_memfd"), std::string::npos) << s.message();
}

TEST(RebuildTargetTest, RequestMistakesAreRefusedBeforeAnyFdIsTaken) {
  // fd 900 is not open: the checks below must fail before taking it.
  Status s = Take({Offer(9, 5, 900)});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("gmem token 9 is not in the frozen snapshot (tokens: 1, 2, 3)"),
            std::string::npos)
      << s.message();
  s = Take({Offer(1, 6, 900)});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("belonged to VM 5, the offer names VM 6"), std::string::npos)
      << s.message();
  s = Take({Offer(2, 0, 900)});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("shmem-memfd: only a kernel guest_memfd"), std::string::npos)
      << s.message();
  s = Take({Offer(3, 5, 900)});
  EXPECT_NE(s.message().find("a MODEL guest"), std::string::npos) << s.message();
  s = Take({RebuildTargetOffer{1, 5, 0, 3}});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("needs pid > 0"), std::string::npos) << s.message();
  // A duplicate is refused, naming both offers, before any fd is taken.
  s = Take({Offer(1, 5, 900), Offer(1, 5, 901)});
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("rebuild_into[1]: gmem 1 is already offered by rebuild_into[0]"),
            std::string::npos)
      << s.message();
}

TEST(RebuildTargetTest, ClosedFdAndDeadPidAreNotFound) {
  Status s = Take({Offer(1, 5, 900)});
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
  EXPECT_NE(s.message().find("rebuild_into[0]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("fd 900 of pid"), std::string::npos) << s.message();
  s = Take({RebuildTargetOffer{1, 5, 999999, 3}});
  EXPECT_EQ(s.code(), Status::Code::kNotFound);
}

// The file is taken by the caller's `take` (khod's: under the caller's
// access check), never behind its back; what it refuses refuses the offer.
TEST(RebuildTargetTest, TheCallersTakeTakesEachFileAndItsRefusalRefusesAll) {
  const TestMemfd notavm(kSize, "notavm");
  std::vector<size_t> asked;
  const TakeOfferedFd refuse = [&](size_t i, const RebuildTargetOffer& o) -> Result<UniqueFd> {
    asked.push_back(i);
    return Status::PermissionDenied("caller may not take fd " + std::to_string(o.fd));
  };
  Status s = TakeRebuildTargets({Offer(1, 5, notavm.fd())}, Frozen(), refuse).status();
  EXPECT_EQ(s.code(), Status::Code::kPermissionDenied) << s.ToString();
  EXPECT_NE(s.message().find("rebuild_into[0]"), std::string::npos) << s.message();
  EXPECT_EQ(asked, std::vector<size_t>{0});
  // What it hands back is what is checked (here a memfd: not a guest_memfd).
  const TakeOfferedFd dup = [&](size_t i, const RebuildTargetOffer& o) -> Result<UniqueFd> {
    asked.push_back(i);
    return UniqueFd(::fcntl(o.fd, F_DUPFD_CLOEXEC, 3));
  };
  s = TakeRebuildTargets({Offer(1, 5, notavm.fd())}, Frozen(), dup).status();
  EXPECT_NE(s.message().find("shmem-memfd, not a guest_memfd"), std::string::npos) << s.message();
  EXPECT_EQ(asked, (std::vector<size_t>{0, 0}));
}

TEST(RebuildTargetTest, GuestMemfdOfTheVmmIsTakenAndOneFileCannotServeTwice) {
  Result<TestGuestMemfd> gmem = TestGuestMemfd::Make(kSize, uapi::kGuestMemfdFlagMmap);
  KHOD_GUEST_MEMFD_OR_SKIP(gmem);
  Snapshot frozen = Frozen();
  auto t = TakeRebuildTargets({Offer(1, 5, gmem->fd())}, frozen);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->count(1), 1u);
  EXPECT_TRUE(t->at(1).fd.valid());
  EXPECT_NE(t->at(1).what.find("VM 5"), std::string::npos);
  // Wrong size.
  Result<UniqueFd> small = gmem->Another(kSize / 2, uapi::kGuestMemfdFlagMmap);
  ASSERT_TRUE(small.ok());
  Status s = TakeRebuildTargets({Offer(1, 5, small->get())}, frozen).status();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("524288 bytes"), std::string::npos) << s.message();
  // One file for two gmems.
  frozen.gmems.push_back(Gmem(4, "gmem_second", FileKind::kGuestMemfd, 5));
  s = TakeRebuildTargets({Offer(1, 5, gmem->fd()), Offer(4, 5, gmem->fd())}, frozen).status();
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("same guest_memfd as rebuild_into[0]"), std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace khod

namespace khod {
namespace {

// An offer is refused at Restore where its MMAP (mmap(PROT_NONE) works or
// fails with ENODEV) is not the frozen file's, naming the offer, what it is
// and what the frozen file had; where the frozen MMAP bit is not known it is
// accepted.
TEST(RebuildTargetTest, AnOfferWhoseMmapIsNotTheFrozenFilesIsRefused) {
  const uint64_t mmap = uapi::kGuestMemfdFlagMmap;
  Result<TestGuestMemfd> mappable = TestGuestMemfd::Make(kSize, mmap);
  KHOD_GUEST_MEMFD_OR_SKIP(mappable);
  Result<UniqueFd> not_mappable = mappable->Another(kSize, 0);
  ASSERT_TRUE(not_mappable.ok()) << not_mappable.status().ToString();
  Snapshot frozen = Frozen();  // gmem 1: made with MMAP
  Status s = TakeRebuildTargets({Offer(1, 5, not_mappable->get())}, frozen).status();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("rebuild_into[0]: fd " + std::to_string(not_mappable->get()) + " " +
                             Self() + " cannot be mapped (mmap(PROT_NONE) fails with ENODEV"),
            std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("gmem 1 ('gmem_shared') was made with MMAP"), std::string::npos)
      << s.message();
  // Made without MMAP (flags 0 or INIT_SHARED alone, which read the same).
  frozen.gmems[0].flags = 0;
  s = TakeRebuildTargets({Offer(1, 5, mappable->fd())}, frozen).status();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("can be mapped (mmap(PROT_NONE) works: made with MMAP), gmem 1 "
                             "('gmem_shared') was made without MMAP"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(TakeRebuildTargets({Offer(1, 5, not_mappable->get())}, frozen).ok());
  // The frozen MMAP bit not known: either is accepted.
  frozen.gmems[0].flags_known = 0;
  EXPECT_TRUE(TakeRebuildTargets({Offer(1, 5, mappable->fd())}, frozen).ok());
  EXPECT_TRUE(TakeRebuildTargets({Offer(1, 5, not_mappable->get())}, frozen).ok());
}

// INIT_SHARED shows only to a fault: Restore populates page 0 of the offer
// (a private page refuses with EFAULT, allocating nothing) and punches out a
// page that made. An offer whose INIT_SHARED is not the frozen file's known
// bit is refused; the accepted one is left with page 0 not allocated.
TEST(RebuildTargetTest, AnOfferWhoseInitSharedIsNotTheFrozenFilesIsRefused) {
  const uint64_t mmap = uapi::kGuestMemfdFlagMmap, both = mmap | uapi::kGuestMemfdFlagInitShared;
  Result<TestGuestMemfd> shared = TestGuestMemfd::Make(kSize, both);
  KHOD_GUEST_MEMFD_OR_SKIP(shared);
  Result<UniqueFd> private_pages = shared->Another(kSize, mmap);
  ASSERT_TRUE(private_pages.ok()) << private_pages.status().ToString();
  Snapshot frozen = Frozen();
  frozen.gmems[0].flags = frozen.gmems[0].flags_known = both;  // INIT_SHARED seen
  Status s = TakeRebuildTargets({Offer(1, 5, private_pages->get())}, frozen).status();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("has private pages (a populate of page 0 fails with EFAULT: made "
                             "without INIT_SHARED), gmem 1 ('gmem_shared') was made with "
                             "INIT_SHARED"),
            std::string::npos)
      << s.message();
  ASSERT_TRUE(TakeRebuildTargets({Offer(1, 5, shared->fd())}, frozen).ok());
  void* m = ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, shared->fd(), 0);
  ASSERT_NE(m, MAP_FAILED);
  unsigned char resident = 1;
  ASSERT_EQ(::mincore(m, 4096, &resident), 0);
  ::munmap(m, 4096);
  EXPECT_EQ(resident & 1, 0) << "the probe's page 0 was left allocated";
  // INIT_SHARED not known (never seen, not declared): either is accepted.
  frozen.gmems[0].flags = frozen.gmems[0].flags_known = mmap;
  EXPECT_TRUE(TakeRebuildTargets({Offer(1, 5, private_pages->get())}, frozen).ok());
  EXPECT_TRUE(TakeRebuildTargets({Offer(1, 5, shared->fd())}, frozen).ok());
}

}  // namespace
}  // namespace khod
