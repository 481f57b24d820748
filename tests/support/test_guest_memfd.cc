#include "tests/support/test_guest_memfd.h"

#include <string>
#include <utility>

#include "common/hex.h"

namespace khod {
namespace {

// Unsupported when `vm`'s kernel has no guest_memfd or lacks one of `flags`.
Status SupportsGuestMemfd(const KvmVm& vm, uint64_t flags) {
  Result<int> gmem = vm.CheckExtension(uapi::kCapGuestMemfd);
  if (!gmem.ok()) return gmem.status();
  if (*gmem <= 0)
    return Status::Unsupported("this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD)");
  if (flags == 0) return Status::Ok();
  Result<int> known = vm.CheckExtension(uapi::kCapGuestMemfdFlags);
  if (!known.ok()) return known.status();
  const uint64_t missing = flags & ~static_cast<uint64_t>(*known > 0 ? *known : 0);
  if (missing != 0)
    return Status::Unsupported("this kernel's guest_memfd lacks flags " + Hex(missing) +
                               " (KVM_CAP_GUEST_MEMFD_FLAGS " + Hex(*known) + ")");
  return Status::Ok();
}

}  // namespace

Result<TestGuestMemfd> TestGuestMemfd::Make(uint64_t size, uint64_t flags) {
  Result<Kvm> kvm = Kvm::Open();
  if (!kvm.ok()) return Status::Unsupported(kvm.status().message());
  Result<KvmVm> vm = kvm->CreateVm(0);
  if (!vm.ok()) return vm.status();
  TestGuestMemfd made(std::move(*kvm), std::move(*vm));
  Result<UniqueFd> file = made.Another(size, flags);
  if (!file.ok()) return file.status();
  made.file_ = std::move(*file);
  return made;
}

Result<UniqueFd> TestGuestMemfd::Another(uint64_t size, uint64_t flags) const {
  Status supported = SupportsGuestMemfd(vm_, flags);
  if (!supported.ok()) return supported;
  return vm_.CreateGuestMemfd(size, flags);
}

}  // namespace khod
