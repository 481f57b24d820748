#include "restore/rebuild.h"

#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "common/status_macros.h"
#include "kernel/kvm.h"
#include "restore/gmem_flags.h"

namespace khod {
namespace {

Result<UniqueFd> NewMemfd(const GuestMemfd& g) {
  unsigned flags = MFD_CLOEXEC;
  if (g.kind == FileKind::kHugetlbMemfd)
    flags |= MFD_HUGETLB | (static_cast<unsigned>(g.hstate_order + 12) << MFD_HUGE_SHIFT);
  const std::string name = g.name.empty() ? "khod-restored" : g.name;
  int fd = ::memfd_create(name.c_str(), flags);
  if (fd < 0) return Status::FromErrno("memfd_create(" + name + ")", errno);
  UniqueFd owned(fd);
  if (::ftruncate(fd, static_cast<off_t>(g.size)) != 0)
    return Status::FromErrno("ftruncate restored memfd to " + std::to_string(g.size), errno);
  return owned;
}

Result<UniqueFd> NewGuestMemfd(const GuestMemfd& g, uint64_t flags) {
  Result<Kvm> kvm = Kvm::Open();
  if (!kvm.ok())
    return Status::Unsupported("cannot rebuild guest_memfd " + std::to_string(g.token) + ": " +
                               kvm.status().message());
  // The VM only hosts the creation: KVM refuses to bind a guest_memfd to any
  // VM but the one it was made on (EINVAL), so the VMM cannot bind this one
  // to its own; a VMM that must bind offers its own (rebuild_into,
  // restore/rebuild_target.h).
  KHOD_ASSIGN_OR_RETURN(KvmVm vm, kvm->CreateVm(0));
  return vm.CreateGuestMemfd(g.size, flags);
}

}  // namespace

Result<UniqueFd> RebuildMemoryFile(const GuestMemfd& frozen) {
  // Decided before any kernel is asked: a flag not known refuses the rebuild
  // wherever it runs, and names the gmem itself.
  Result<uint64_t> flags = RebuildGmemFlags(frozen, std::nullopt);
  if (!flags.ok()) return flags.status();
  Result<UniqueFd> fd =
      frozen.kind == FileKind::kGuestMemfd ? NewGuestMemfd(frozen, *flags) : NewMemfd(frozen);
  if (!fd.ok()) return fd.status().WithContext("rebuild gmem " + std::to_string(frozen.token));
  return fd;
}

}  // namespace khod
