#include "daemon/session_declarations.h"

#include <unistd.h>

#include "daemon/request_limits.h"
#include "state/invariants.h"

namespace khod {
namespace {

Memslot FromProto(const v1::Memslot& m, uint64_t gmem_token) {
  Memslot s;
  s.slot = m.slot();
  s.flags = m.flags();
  s.base_gfn = m.base_gfn();
  s.npages = m.npages();
  s.userspace_addr = m.userspace_addr();
  s.gmem_token = gmem_token;
  s.gmem_offset = m.gmem_offset();
  return s;
}

}  // namespace

GmemDeclaration DeclarationOf(const v1::GmemAttachment& a) {
  GmemDeclaration d;
  d.token = a.token();
  d.name = a.name();
  d.vm_token = a.vm_token();
  d.gmem_flags = a.gmem_flags();
  d.owner_uid = a.has_owner_uid() ? a.owner_uid() : 0;  // recorded without an owner: root's
  for (const auto& r : a.attributes()) d.attributes.Set(r.first(), r.count(), r.value());
  return d;
}

std::vector<Vm> VmsOf(const v1::SessionRecord& r) {
  std::vector<Vm> vms;
  for (const auto& vr : r.vms()) {
    Vm vm;
    vm.token = vr.token();
    vm.vm_type = vr.vm_type();
    for (int i = 0; i < vr.memslots_size(); ++i)
      vm.memslots.push_back(FromProto(vr.memslots(i), vr.memslot_gmem(i)));
    vms.push_back(std::move(vm));
  }
  return vms;
}

Status CheckDeclared(const v1::SessionRecord& r, const std::map<uint64_t, uint64_t>& sizes,
                     const std::string& op) {
  if (static_cast<size_t>(r.gmems_size()) > kMaxAttachedGmems)
    return Status::InvalidArgument(op + ": at most " + std::to_string(kMaxAttachedGmems) +
                                   " gmems in a session");
  // The session's totals: RESOURCE_EXHAUSTED, each request being sound alone.
  size_t ranges = 0, memslots = 0;
  for (const auto& a : r.gmems()) ranges += static_cast<size_t>(a.attributes_size());
  for (const auto& vm : r.vms()) memslots += static_cast<size_t>(vm.memslots_size());
  if (ranges > kMaxSessionAttributeRanges)
    return Status::ResourceExhausted(op + ": the session would hold " + std::to_string(ranges) +
                                     " attribute ranges over its gmems, at most " +
                                     std::to_string(kMaxSessionAttributeRanges));
  if (memslots > kMaxSessionMemslots)
    return Status::ResourceExhausted(op + ": the session would hold " + std::to_string(memslots) +
                                     " memslots over its VMs, at most " +
                                     std::to_string(kMaxSessionMemslots));
  if (const size_t bytes = r.ByteSizeLong(); bytes > kMaxSessionRecordBytes)
    return Status::ResourceExhausted(op + ": the session record would be " + std::to_string(bytes) +
                                     " bytes, at most " + std::to_string(kMaxSessionRecordBytes));
  Snapshot snap;
  snap.header.page_size = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  snap.vms = VmsOf(r);
  for (const Vm& vm : snap.vms)
    if (vm.memslots.size() > kMaxVmMemslots)
      return Status::InvalidArgument(op + ": VM " + std::to_string(vm.token) + " would have " +
                                     std::to_string(vm.memslots.size()) + " memslots, at most " +
                                     std::to_string(kMaxVmMemslots));
  for (const auto& a : r.gmems()) {
    const std::string which = op + ": gmem " + std::to_string(a.token());
    if (static_cast<size_t>(a.attributes_size()) > kMaxGmemAttributeRanges)
      return Status::InvalidArgument(which + " would have " + std::to_string(a.attributes_size()) +
                                     " attribute ranges, at most " +
                                     std::to_string(kMaxGmemAttributeRanges));
    GuestMemfd g;
    g.token = a.token();
    g.name = a.name();
    g.vm_token = a.vm_token();
    auto size = sizes.find(a.token());
    g.size = size == sizes.end() ? 0 : size->second;
    // A capture sees a HugeTLB file's pages only by mapping them (mincore
    // shows no HugeTLB page cache), and a page declared private is never
    // mapped: nothing of it could be observed, not even whether it exists.
    const bool hugetlb = a.kind() == FileKindName(FileKind::kHugetlbMemfd);
    for (int i = 0; i < a.attributes_size(); ++i) {
      const v1::AttributeRange& x = a.attributes(i);
      if (x.count() == 0)
        return Status::InvalidArgument(which + " attributes[" + std::to_string(i) +
                                       "]: count is 0");
      if (hugetlb && (x.value() & kAttrPrivate))
        return Status::InvalidArgument(
            which + " attributes[" + std::to_string(i) +
            "]: pages of a HugeTLB memfd cannot be declared private (khod sees a HugeTLB "
            "file's pages only by mapping them, and never maps a private page)");
      g.attributes.Set(x.first(), x.count(), x.value());
    }
    snap.gmems.push_back(std::move(g));
  }
  Status s = InvariantsStatus(snap);
  if (s.ok()) return s;
  return Status::InvalidArgument(op + ": declaration refused: " + s.message());
}

}  // namespace khod
