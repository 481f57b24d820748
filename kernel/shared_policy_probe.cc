#include "kernel/shared_policy_probe.h"

#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "kernel/mapping.h"
#include "kernel/mempolicy.h"
#include "kernel/mempolicy_text.h"

namespace khod {

namespace {

SharedPolicyProbe Unknown(const std::string& why) {
  SharedPolicyProbe p;
  p.answer = SharedPolicyAnswer::kUnknown;
  p.evidence = why;
  return p;
}

// The look itself, on `fd`, a scratch file of `bytes` named `what`: mbound
// through one mapping, read through a second.
SharedPolicyProbe ProbeTwoMappings(int fd, size_t bytes, int map_flags, const std::string& what) {
  // PROT_NONE: nothing is ever faulted, so the probe allocates no page.
  Result<Mapping> first = Mapping::Map(fd, 0, bytes, PROT_NONE, map_flags);
  if (!first.ok()) return Unknown("mmap of " + what + ": " + first.status().message());
  Result<Mapping> second = Mapping::Map(fd, 0, bytes, PROT_NONE, map_flags);
  if (!second.ok()) return Unknown("mmap of " + what + ": " + second.status().message());
  Result<int> node = FirstAllowedNode();
  if (!node.ok()) return Unknown(node.status().message());
  Mempolicy want;
  want.mode = MPOL_PREFERRED;
  want.nodemask.assign(static_cast<size_t>(*node) / 64 + 1, 0);
  want.nodemask.back() = uint64_t{1} << (*node % 64);
  Status set = SetMempolicy(first->data(), bytes, want);
  if (!set.ok()) return Unknown("on a mapping of " + what + ": " + set.message());
  Result<Mempolicy> own = GetMempolicyAt(first->data());
  Result<Mempolicy> other = GetMempolicyAt(second->data());
  if (!own.ok() || !other.ok())
    return Unknown("get_mempolicy on a mapping of " + what + ": " +
                   (own.ok() ? other : own).status().message());
  if (own->mode != MPOL_PREFERRED)
    return Unknown("mbind " + MempolicyToString(want) + " read back as " + MempolicyToString(*own) +
                   " through the same mapping");
  const std::string did = what + " mbound " + MempolicyToString(want) +
                          " through one mapping reads " + MempolicyToString(*other) +
                          " through a second: ";
  SharedPolicyProbe p;
  if (*other == *own) {
    p.answer = SharedPolicyAnswer::kYes;
    p.evidence = did + "the policy is the file's (shared)";
  } else {
    p.answer = SharedPolicyAnswer::kNo;
    p.evidence = did + "each mapping has its own (no shared policy)";
  }
  return p;
}

}  // namespace

SharedPolicyProbe ProbeGuestMemfdSharedPolicy() {
  Result<Kvm> kvm = Kvm::Open();
  if (!kvm.ok()) return Unknown(kvm.status().message());
  Result<KvmVm> vm = kvm->CreateVm(0);
  if (!vm.ok()) return Unknown(vm.status().message());
  // No guest_memfd, or none that can be mapped: no policy to probe.
  Status supported = vm->SupportsGuestMemfd(uapi::kGuestMemfdFlagMmap);
  if (!supported.ok()) return Unknown(supported.message() + ": no policy to probe");
  const size_t bytes = 2 * static_cast<size_t>(::getpagesize());
  Result<UniqueFd> gmem = vm->CreateGuestMemfd(bytes, uapi::kGuestMemfdFlagMmap);
  if (!gmem.ok()) return Unknown(gmem.status().message());
  return ProbeTwoMappings(gmem->get(), bytes, 0, "a scratch guest_memfd");
}

SharedPolicyProbe ProbeMemfdSharedPolicy(FileKind kind) {
  const bool hugetlb = kind == FileKind::kHugetlbMemfd;
  const std::string what = hugetlb ? "a scratch HugeTLB memfd" : "a scratch memfd";
  UniqueFd fd(::memfd_create("khod-policy-probe", MFD_CLOEXEC | (hugetlb ? MFD_HUGETLB : 0)));
  if (!fd.valid()) return Unknown("memfd_create of " + what + ": " + std::strerror(errno));
  // One huge page (the default size, which a HugeTLB memfd takes) or one page.
  size_t bytes = static_cast<size_t>(::getpagesize());
  if (hugetlb) {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0)
      return Unknown("fstat of " + what + ": " + std::strerror(errno));
    bytes = static_cast<size_t>(st.st_blksize);
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0)
    return Unknown("ftruncate of " + what + ": " + std::strerror(errno));
  // MAP_NORESERVE: a HugeTLB mapping reserves no huge page, so the probe runs where none is free.
  return ProbeTwoMappings(fd.get(), bytes, hugetlb ? MAP_NORESERVE : 0, what);
}

const SharedPolicyProbe& GuestMemfdSharedPolicy() {
  static const SharedPolicyProbe probe = ProbeGuestMemfdSharedPolicy();
  return probe;
}

const SharedPolicyProbe& SharedPolicyOf(FileKind kind) {
  switch (kind) {
    case FileKind::kGuestMemfd:
      break;
    case FileKind::kHugetlbMemfd: {
      static const SharedPolicyProbe probe = ProbeMemfdSharedPolicy(FileKind::kHugetlbMemfd);
      return probe;
    }
    case FileKind::kShmemMemfd: {
      static const SharedPolicyProbe probe = ProbeMemfdSharedPolicy(FileKind::kShmemMemfd);
      return probe;
    }
  }
  return GuestMemfdSharedPolicy();
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
