#include "khoctl/probe_report.h"

namespace khod {

khoctl::v1::ProbeReport ProbeReportOf(const KernelCaps& c, const Result<KhoIncoming>& in) {
  khoctl::v1::ProbeReport r;
  r.set_kernel_release(c.kernel_release);
  khoctl::v1::KvmCaps* kvm = r.mutable_kvm();
  kvm->set_available(c.kvm_available);
  kvm->set_reason(c.kvm_reason);
  kvm->set_guest_memfd(c.guest_memfd);
  kvm->set_guest_memfd_flags(c.guest_memfd_flags);
  kvm->set_user_memory2(c.user_memory2);
  kvm->set_memory_attributes(c.memory_attributes);
  kvm->set_vm_types(c.vm_types);
  kvm->mutable_gmem_shared_policy()->set_answer(
      SharedPolicyAnswerName(c.gmem_shared_policy.answer));
  kvm->mutable_gmem_shared_policy()->set_evidence(c.gmem_shared_policy.evidence);
  for (const HugepageSize& h : c.hugepage_sizes) {
    khoctl::v1::HugepageSize* s = r.add_hugetlb();
    s->set_size_kb(h.size_kb);
    s->set_total(h.total);
    s->set_free(h.free);
  }
  r.set_pfns_readable(c.pfns_readable);
  r.set_kpageflags_readable(c.kpageflags_readable);
  r.set_vma_policy_iter(c.vma_policy_iter);
  r.set_vma_policy_iter_evidence(c.vma_policy_iter_evidence);
  r.mutable_hugetlb_shared_policy()->set_answer(
      SharedPolicyAnswerName(c.hugetlb_shared_policy.answer));
  r.mutable_hugetlb_shared_policy()->set_evidence(c.hugetlb_shared_policy.evidence);
  r.set_shared_policy_iter(c.shared_policy_iter);
  r.set_shared_policy_iter_evidence(c.shared_policy_iter_evidence);
  r.set_kho(c.kho);
  r.set_kho_evidence(c.kho_evidence);
  r.set_luo(c.luo);
  khoctl::v1::KhoIncoming* k = r.mutable_kho_incoming();
  if (!in.ok()) {
    k->set_error(in.status().ToString());
    return r;
  }
  k->set_present(in->present);
  k->set_summary(in->Summary());
  if (!in->present) return r;
  k->set_bytes(in->fdt_bytes);
  k->set_compatible(in->compatible);
  for (const KhoSubtree& t : in->subtrees) {
    khoctl::v1::KhoSubtree* s = k->add_sub_fdts();
    s->set_name(t.name);
    s->set_compatible(t.compatible);
    s->set_bytes(t.bytes);
    s->set_problem(t.problem);
  }
  return r;
}

}  // namespace khod
