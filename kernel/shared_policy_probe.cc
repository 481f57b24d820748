#include "kernel/shared_policy_probe.h"

#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "kernel/mapping.h"
#include "kernel/mempolicy.h"

namespace khod {

SharedPolicyProbe ProbeGuestMemfdSharedPolicy() {
  SharedPolicyProbe p;
  auto unknown = [&](const std::string& why) {
    p.answer = SharedPolicyAnswer::kUnknown;
    p.evidence = why;
    return p;
  };
  Result<Kvm> kvm = Kvm::Open();
  if (!kvm.ok()) return unknown(kvm.status().message());
  Result<KvmVm> vm = kvm->CreateVm(0);
  if (!vm.ok()) return unknown(vm.status().message());
  // No guest_memfd, or none that can be mapped: no policy to probe.
  Status supported = vm->SupportsGuestMemfd(uapi::kGuestMemfdFlagMmap);
  if (!supported.ok()) return unknown(supported.message() + ": no policy to probe");
  const size_t bytes = 2 * static_cast<size_t>(::getpagesize());
  Result<UniqueFd> gmem = vm->CreateGuestMemfd(bytes, uapi::kGuestMemfdFlagMmap);
  if (!gmem.ok()) return unknown(gmem.status().message());
  // PROT_NONE: nothing is ever faulted, so the probe allocates no page.
  Result<Mapping> first = Mapping::Map(gmem->get(), 0, bytes, PROT_NONE);
  if (!first.ok()) return unknown("mmap of a scratch guest_memfd: " + first.status().message());
  Result<Mapping> second = Mapping::Map(gmem->get(), 0, bytes, PROT_NONE);
  if (!second.ok()) return unknown("mmap of a scratch guest_memfd: " + second.status().message());
  Result<int> node = FirstAllowedNode();
  if (!node.ok()) return unknown(node.status().message());
  Mempolicy want;
  want.mode = MPOL_PREFERRED;
  want.nodemask.assign(static_cast<size_t>(*node) / 64 + 1, 0);
  want.nodemask.back() = uint64_t{1} << (*node % 64);
  Status set = SetMempolicy(first->data(), bytes, want);
  if (!set.ok()) return unknown("on a scratch guest_memfd mapping: " + set.message());
  Result<Mempolicy> own = GetMempolicyAt(first->data());
  Result<Mempolicy> other = GetMempolicyAt(second->data());
  if (!own.ok() || !other.ok())
    return unknown("get_mempolicy on a scratch guest_memfd mapping: " +
                   (own.ok() ? other : own).status().message());
  if (own->mode != MPOL_PREFERRED)
    return unknown("mbind " + MempolicyToString(want) + " read back as " + MempolicyToString(*own) +
                   " through the same mapping");
  const std::string did = "a scratch guest_memfd mbound " + MempolicyToString(want) +
                          " through one mapping reads " + MempolicyToString(*other) +
                          " through a second: ";
  if (*other == *own) {
    p.answer = SharedPolicyAnswer::kYes;
    p.evidence = did + "the policy is the file's (shared)";
  } else {
    p.answer = SharedPolicyAnswer::kNo;
    p.evidence = did + "each mapping has its own (no shared policy)";
  }
  return p;
}

const SharedPolicyProbe& GuestMemfdSharedPolicy() {
  static const SharedPolicyProbe probe = ProbeGuestMemfdSharedPolicy();
  return probe;
}

const char* SharedPolicyAnswerName(SharedPolicyAnswer a) {
  switch (a) {
    case SharedPolicyAnswer::kYes:
      return "yes";
    case SharedPolicyAnswer::kNo:
      return "no";
    case SharedPolicyAnswer::kUnknown:
      return "unknown";
  }
  return "?";
}

}  // namespace khod
