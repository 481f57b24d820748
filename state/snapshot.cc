#include "state/snapshot.h"

namespace khod {

bool GuestMemfd::operator==(const GuestMemfd& o) const {
  return token == o.token && inode == o.inode && name == o.name &&
         provenance == o.provenance && kind == o.kind && size == o.size && flags == o.flags &&
         backing == o.backing && hstate_order == o.hstate_order && vm_token == o.vm_token &&
         policy == o.policy && folios == o.folios && attributes == o.attributes &&
         restructures == o.restructures && hashes == o.hashes;
}

const GuestMemfd* Snapshot::FindGmem(uint64_t token) const {
  for (const auto& g : gmems)
    if (g.token == token) return &g;
  return nullptr;
}

const Vm* Snapshot::FindVm(uint64_t token) const {
  for (const auto& v : vms)
    if (v.token == token) return &v;
  return nullptr;
}

const char* ProvenanceName(Provenance p) {
  switch (p) {
    case Provenance::kKernel: return "kernel";
    case Provenance::kModel: return "MODEL";
    case Provenance::kSynthetic: return "synthetic";
  }
  return "?";
}

const char* FileKindName(FileKind k) {
  switch (k) {
    case FileKind::kGuestMemfd: return "guest_memfd";
    case FileKind::kHugetlbMemfd: return "hugetlb-memfd";
    case FileKind::kShmemMemfd: return "shmem-memfd";
  }
  return "?";
}

const char* BackingName(Backing b) {
  switch (b) {
    case Backing::kBuddy: return "buddy";
    case Backing::kHugetlb: return "hugetlb";
  }
  return "?";
}

}  // namespace khod
