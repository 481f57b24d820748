#include "tests/support/test_guest_memfd.h"

#include <utility>

namespace khod {

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

Status TestGuestMemfd::Available(uint64_t flags) {
  Result<Kvm> kvm = Kvm::Open();
  if (!kvm.ok()) return Status::Unsupported(kvm.status().message());
  return kvm->CreateVmForGuestMemfd(flags).status();
}

Result<UniqueFd> TestGuestMemfd::Another(uint64_t size, uint64_t flags) const {
  return vm_.CreateGuestMemfd(size, flags);
}

}  // namespace khod
