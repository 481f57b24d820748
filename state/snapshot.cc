#include "state/snapshot.h"

#include <algorithm>

namespace khod {

bool GuestMemfd::operator==(const GuestMemfd& o) const {
  return token == o.token && inode == o.inode && name == o.name && provenance == o.provenance &&
         kind == o.kind && size == o.size && flags == o.flags && backing == o.backing &&
         hstate_order == o.hstate_order && vm_token == o.vm_token && flags_known == o.flags_known &&
         policy_source == o.policy_source && policy == o.policy &&
         mapping_policies == o.mapping_policies && visibility == o.visibility &&
         folios == o.folios && attributes == o.attributes && restructures == o.restructures &&
         hashes == o.hashes;
}

bool EqualButCaptureTime(const Snapshot& a, const Snapshot& b) {
  SnapshotHeader h = b.header;
  h.capture_time_ns = a.header.capture_time_ns;
  return a.header == h && a.vms == b.vms && a.gmems == b.gmems;
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
    case Provenance::kKernel:
      return "kernel";
    case Provenance::kModel:
      return "MODEL";
    case Provenance::kSynthetic:
      return "synthetic";
  }
  return "?";
}

const char* FileKindName(FileKind k) {
  switch (k) {
    case FileKind::kGuestMemfd:
      return "guest_memfd";
    case FileKind::kHugetlbMemfd:
      return "hugetlb-memfd";
    case FileKind::kShmemMemfd:
      return "shmem-memfd";
  }
  return "?";
}

const char* BackingName(Backing b) {
  switch (b) {
    case Backing::kBuddy:
      return "buddy";
    case Backing::kHugetlb:
      return "hugetlb";
  }
  return "?";
}

const char* PageVisibilityName(PageVisibility v) {
  switch (v) {
    case PageVisibility::kFull:
      return "full";
    case PageVisibility::kInitializedOnly:
      return "initialized-only";
    case PageVisibility::kNone:
      return "none";
  }
  return "?";
}

const char* PolicySourceName(PolicySource s) {
  switch (s) {
    case PolicySource::kInode:
      return "inode";
    case PolicySource::kVmmMappings:
      return "vmm-mappings";
    case PolicySource::kUnknown:
      return "unknown";
  }
  return "?";
}

bool ObservedInFull(const GuestMemfd& g) {
  return std::all_of(g.visibility.begin(), g.visibility.end(), [](const VisibilityRange& r) {
    return r.visibility == PageVisibility::kFull;
  });
}

uint64_t UnobservedPages(const GuestMemfd& g, uint32_t page_size) {
  if (g.visibility.empty()) return 0;  // all kFull (see GuestMemfd::visibility)
  uint64_t seen_full = 0;
  for (const VisibilityRange& r : g.visibility)
    if (r.visibility == PageVisibility::kFull) seen_full += r.count;
  uint64_t pages = g.pages(page_size);
  return pages - std::min(pages, seen_full);
}

}  // namespace khod
