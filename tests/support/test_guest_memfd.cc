#include "tests/support/test_guest_memfd.h"

#include <string>
#include <utility>

namespace khod {

Result<Kvm> TestGuestMemfd::OpenKvm(const char* path) {
  Result<Kvm> kvm = Kvm::Open(path);
  if (kvm.ok()) return kvm;
  // Kvm::Open answers NotFound for ENOENT, ENODEV and ENXIO: no KVM device on this machine
  // (or no module behind the node). Only that is a machine without guest_memfd; a device that
  // is there and does not open (EACCES, EPERM, anything else) is a failure of the test's set-up
  // on a KVM host, which must not pass as a skip.
  if (kvm.status().code() == Status::Code::kNotFound)
    return Status::Unsupported(kvm.status().message());
  return kvm.status().WithContext(std::string(path) +
                                  " is present but does not open (not a skip: the guest_memfd "
                                  "tests need it; run them as root, outside a sandbox)");
}

Result<TestGuestMemfd> TestGuestMemfd::Make(uint64_t size, uint64_t flags) {
  Result<Kvm> kvm = OpenKvm();
  if (!kvm.ok()) return kvm.status();
  Result<KvmVm> vm = kvm->CreateVm(0);
  if (!vm.ok()) return vm.status();
  TestGuestMemfd made(std::move(*kvm), std::move(*vm));
  Result<UniqueFd> file = made.Another(size, flags);
  if (!file.ok()) return file.status();
  made.file_ = std::move(*file);
  return made;
}

Status TestGuestMemfd::Available(uint64_t flags) {
  Result<Kvm> kvm = OpenKvm();
  if (!kvm.ok()) return kvm.status();
  return kvm->CreateVmForGuestMemfd(flags).status();
}

Result<UniqueFd> TestGuestMemfd::Another(uint64_t size, uint64_t flags) const {
  return vm_.CreateGuestMemfd(size, flags);
}

}  // namespace khod
