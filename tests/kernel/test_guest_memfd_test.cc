// The tests' guest_memfd fixture (tests/support/test_guest_memfd.h): its files are the size and
// flags asked, on the fixture's VM, and a machine that cannot make one says so as Unsupported
// (a skip), never as a failure; a /dev/kvm that is there and does not open is a failure.
#include "tests/support/test_guest_memfd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <string>

#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"

namespace khod {
namespace {

constexpr uint64_t kSize = 16 * 4096;

uint64_t SizeOf(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

TEST(TestGuestMemfdTest, FilesAreTheSizeAskedAndOnTheFixturesVm) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(kSize);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  EXPECT_EQ(SizeOf(g->fd()), kSize);
  Result<UniqueFd> other = g->Another(kSize / 2, uapi::kGuestMemfdFlagMmap);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(SizeOf(other->get()), kSize / 2);
  void* ua = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(ua, MAP_FAILED);
  const uint64_t addr = reinterpret_cast<uint64_t>(ua);
  Status bound = g->vm().SetGuestMemfdRegion(0, 0, kSize, addr, g->fd(), 0);
  EXPECT_TRUE(bound.ok()) << bound.ToString();
  bound = g->vm().SetGuestMemfdRegion(1, kSize, kSize / 2, addr, other->get(), 0);
  EXPECT_TRUE(bound.ok()) << bound.ToString();
  ::munmap(ua, kSize);
}

// The kernel makes a guest_memfd without O_CLOEXEC; KvmVm::CreateGuestMemfd sets it, so that
// no process started from this one (a khod under test, the PTE keeper) holds the file.
TEST(TestGuestMemfdTest, AGuestMemfdIsCloseOnExec) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(kSize);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  EXPECT_EQ(::fcntl(g->fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  Result<UniqueFd> other = g->Another(kSize, uapi::kGuestMemfdFlagMmap);
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  EXPECT_EQ(::fcntl(other->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(TestGuestMemfdTest, AFlagTheKernelLacksIsUnsupportedNamingIt) {
  Result<TestGuestMemfd> g = TestGuestMemfd::Make(kSize);
  KHOD_GUEST_MEMFD_OR_SKIP(g);
  constexpr uint64_t kUnknown = 1ull << 63;
  Result<TestGuestMemfd> lacking = TestGuestMemfd::Make(kSize, kUnknown);
  ASSERT_FALSE(lacking.ok());
  EXPECT_EQ(lacking.status().code(), Status::Code::kUnsupported) << lacking.status().ToString();
  EXPECT_NE(lacking.status().message().find("lacks flags 0x8000000000000000"), std::string::npos)
      << lacking.status().message();
  Result<UniqueFd> another = g->Another(kSize, uapi::kGuestMemfdFlagMmap | kUnknown);
  EXPECT_EQ(another.status().code(), Status::Code::kUnsupported) << another.status().ToString();
}

// Wherever /dev/kvm opens, a guest_memfd the kernel cannot make is Unsupported with the reason,
// never an IoError: on a kernel without guest_memfd (KVM_CREATE_GUEST_MEMFD is ENOTTY there)
// and for a flag the kernel does not know (EINVAL). Callers with a stand-in (the bench, the
// rehearsal's VMM fixture) fall back on that code alone.
TEST(TestGuestMemfdTest, KvmVmSaysUnsupportedWhereTheKernelCannotMakeIt) {
  Result<Kvm> kvm = TestGuestMemfd::OpenKvm();
  if (kvm.status().code() == Status::Code::kUnsupported)
    GTEST_SKIP() << "no /dev/kvm: " << kvm.status().message();
  ASSERT_TRUE(kvm.ok()) << kvm.status().ToString();
  Result<KvmVm> vm = kvm->CreateVm(0);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  constexpr uint64_t kUnknown = 1ull << 63;
  Result<UniqueFd> made = vm->CreateGuestMemfd(kSize, uapi::kGuestMemfdFlagMmap | kUnknown);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().code(), Status::Code::kUnsupported) << made.status().ToString();
  const std::string& why = made.status().message();
  EXPECT_TRUE(why.find("KVM_CAP_GUEST_MEMFD") != std::string::npos) << why;
  EXPECT_EQ(vm->SupportsGuestMemfd(kUnknown).code(), Status::Code::kUnsupported);
}

// Only a missing KVM device is a skip: a path that does not exist is Unsupported naming the
// errno; one that is there and does not open as a device (a directory: EISDIR; a path through a
// file: ENOTDIR) keeps its failure, as EACCES/EPERM on a real /dev/kvm would.
TEST(TestGuestMemfdTest, OnlyAMissingKvmDeviceIsUnsupported) {
  Result<Kvm> missing = TestGuestMemfd::OpenKvm("/nonexistent-khod-test/kvm");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kUnsupported) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("No such file or directory"), std::string::npos)
      << missing.status().message();

  Result<Kvm> directory = TestGuestMemfd::OpenKvm("/");
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().code(), Status::Code::kUnsupported) << directory.status().ToString();
  EXPECT_NE(directory.status().message().find("Is a directory"), std::string::npos)
      << directory.status().message();

  Result<Kvm> through_a_file = TestGuestMemfd::OpenKvm("/dev/null/kvm");
  ASSERT_FALSE(through_a_file.ok());
  EXPECT_NE(through_a_file.status().code(), Status::Code::kUnsupported)
      << through_a_file.status().ToString();
  EXPECT_NE(through_a_file.status().message().find("Not a directory"), std::string::npos)
      << through_a_file.status().message();
}

}  // namespace
}  // namespace khod
