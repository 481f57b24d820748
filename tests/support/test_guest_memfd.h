// A guest_memfd for tests: the Kvm, the VM and the file, made in one step and closed together.
// The VM's ioctls (another guest_memfd, a memslot) work only in the process that made the VM
// (EIO elsewhere: kvm->mm != current->mm), so a test whose forked child needs them makes the
// fixture in the child; the file itself (mmap, fallocate, a punch) works in any process.
#ifndef KHOD_TESTS_SUPPORT_TEST_GUEST_MEMFD_H_
#define KHOD_TESTS_SUPPORT_TEST_GUEST_MEMFD_H_

#include <gtest/gtest.h>

#include <cstdint>

#include "common/status.h"
#include "common/unique_fd.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"

namespace khod {

class TestGuestMemfd {
 public:
  static constexpr uint64_t kDefaultFlags =
      uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;

  // /dev/kvm (or `path`), for a test: Unsupported, with Kvm::Open's reason, only when there is
  // no KVM device (ENOENT, or ENODEV/ENXIO: a node with no module behind it). A device that is
  // there and does not open (EACCES/EPERM: a permission problem; anything else) keeps
  // Kvm::Open's code and errno, so that on a KVM host such a test fails instead of skipping.
  static Result<Kvm> OpenKvm(const char* path = kKvmDevicePath);
  // A guest_memfd of `size` bytes with `flags` (GUEST_MEMFD_FLAG_*) on a fresh VM (type 0).
  // Unsupported when this machine cannot make one (no /dev/kvm, a kernel without guest_memfd
  // or without one of `flags`; the message says which); any other code, naming the errno, when
  // it should have and did not (a /dev/kvm that does not open included).
  static Result<TestGuestMemfd> Make(uint64_t size, uint64_t flags = kDefaultFlags);
  // Ok when this machine makes guest_memfds with `flags` (what a test that starts the VMM
  // fixture needs: it makes them MMAP|INIT_SHARED); Unsupported with the reason, as Make's.
  static Status Available(uint64_t flags = kDefaultFlags);

  int fd() const { return file_.get(); }
  const KvmVm& vm() const { return vm_; }
  // Another guest_memfd on the same VM, the caller's; the codes are Make's.
  Result<UniqueFd> Another(uint64_t size, uint64_t flags = kDefaultFlags) const;

 private:
  TestGuestMemfd(Kvm kvm, KvmVm vm) : kvm_(std::move(kvm)), vm_(std::move(vm)) {}

  Kvm kvm_;
  KvmVm vm_;
  UniqueFd file_;
};

}  // namespace khod

// In a test body or SetUp, on `made` (a Result of TestGuestMemfd::Make): skips the test, with the
// reason, when this machine cannot make a guest_memfd (Unsupported only: see OpenKvm); fails it,
// with the status, when the machine should have.
#define KHOD_GUEST_MEMFD_OR_SKIP(made)                                                 \
  do {                                                                                 \
    if ((made).status().code() == ::khod::Status::Code::kUnsupported)                  \
      GTEST_SKIP() << "no guest_memfd on this machine: " << (made).status().message(); \
    ASSERT_TRUE((made).ok()) << (made).status().ToString();                            \
  } while (0)

// In a test body or SetUp of a test that needs guest_memfds made elsewhere (the VMM fixture):
// skips it, with the reason, when this machine cannot make them (no /dev/kvm, or a /dev/kvm
// whose kernel has no guest_memfd); fails it when the machine should have.
#define KHOD_SKIP_WITHOUT_GUEST_MEMFD()                                          \
  do {                                                                           \
    const ::khod::Status available = ::khod::TestGuestMemfd::Available();        \
    if (available.code() == ::khod::Status::Code::kUnsupported)                  \
      GTEST_SKIP() << "no guest_memfd on this machine: " << available.message(); \
    ASSERT_TRUE(available.ok()) << available.ToString();                         \
  } while (0)

#endif  // KHOD_TESTS_SUPPORT_TEST_GUEST_MEMFD_H_
