#include "verify/verify_reply.h"

#include <cstdlib>

namespace khod {

// The reply carries UnverifiedKind by value: the two enums keep one order.
#define KHOD_SAME_KIND(cc, pb) \
  static_assert(static_cast<int>(UnverifiedKind::cc) == v1::pb, #cc " is not " #pb)
KHOD_SAME_KIND(kUnspecified, UNVERIFIED_KIND_UNSPECIFIED);
KHOD_SAME_KIND(kPagesPrivate, UNVERIFIED_PAGES_PRIVATE);
KHOD_SAME_KIND(kPagesInvisible, UNVERIFIED_PAGES_INVISIBLE);
KHOD_SAME_KIND(kPfnsUnseen, UNVERIFIED_PFNS_UNSEEN);
KHOD_SAME_KIND(kCreationFlags, UNVERIFIED_CREATION_FLAGS);
KHOD_SAME_KIND(kNumaPolicyUnread, UNVERIFIED_NUMA_POLICY_UNREAD);
KHOD_SAME_KIND(kNumaPolicyHandedToVmm, UNVERIFIED_NUMA_POLICY_HANDED_TO_VMM);
KHOD_SAME_KIND(kDeclaredMemslots, UNVERIFIED_DECLARED_MEMSLOTS);
KHOD_SAME_KIND(kDeclaredAttributes, UNVERIFIED_DECLARED_ATTRIBUTES);
KHOD_SAME_KIND(kRebuiltMemory, UNVERIFIED_REBUILT_MEMORY);
KHOD_SAME_KIND(kNumaPolicyNotHandedOn, UNVERIFIED_NUMA_POLICY_NOT_HANDED_ON);
KHOD_SAME_KIND(kNumaHomeNodeUnseen, UNVERIFIED_NUMA_HOME_NODE_UNSEEN);
KHOD_SAME_KIND(kContentsCutOtherwise, UNVERIFIED_CONTENTS_CUT_OTHERWISE);
KHOD_SAME_KIND(kNumaPlacementByAllocator, UNVERIFIED_NUMA_PLACEMENT_BY_ALLOCATOR);
KHOD_SAME_KIND(kContentsNotHashed, UNVERIFIED_CONTENTS_NOT_HASHED);
#undef KHOD_SAME_KIND
static_assert(kUnverifiedKinds == v1::UnverifiedKind_ARRAYSIZE, "a kind without its twin");

void FillVerifyReply(const SnapshotDiff& d, const VerifyCounts& c, v1::VerifyReply* r) {
  r->set_equal(d.fully_verified());
  r->set_verdict(VerdictName(VerdictOf(d)));
  r->set_differences_found(d.difference_count());
  r->set_pages_compared(c.real_pages + c.model_pages);
  r->set_pfns_compared(c.real_pfns + c.model_pages);
  r->set_hashes_compared(c.real_hashes + c.model_hashes);
  r->set_real_pages_compared(c.real_pages);
  r->set_real_pfns_compared(c.real_pfns);
  r->set_real_hashes_compared(c.real_hashes);
  r->set_real_kinds(c.real_kinds);
  r->set_real_unobserved_kinds(c.real_unobserved_kinds);
  r->set_real_flags_carried(c.real_flags_carried);
  r->set_real_pages_witnessed(c.real_pages_witnessed);
  r->set_real_pages_walked(c.real_pages_walked);
  r->set_vmm_policies_from_vmas(c.vmm_policies_from_vmas);
  r->set_vmm_policies_from_numa_maps(c.vmm_policies_from_numa_maps);
  r->set_model_pages_compared(c.model_pages);
  r->set_model_hashes_compared(c.model_hashes);
  for (const Difference& x : d.differences) {
    v1::Difference* pd = r->add_differences();
    pd->set_token(x.gmem_token);
    pd->set_field(x.field);
    pd->set_where(x.gmem_name);
    pd->set_expected(x.expected);
    pd->set_found(x.found);
  }
  r->set_pages_equal(d.counts.pages_equal);
  r->set_pages_different(d.counts.pages_different);
  r->set_pages_unverified(d.counts.pages_unverified);
  for (const UnverifiedGmem& u : d.unverified) {
    v1::UnverifiedGmem* pu = r->add_unverified();
    pu->set_token(u.token);
    pu->set_name(u.name);
    pu->set_pages(u.pages);
    for (const std::string& p : u.parts) pu->add_parts(p);
    for (UnverifiedKind k : u.kinds) pu->add_kinds(static_cast<v1::UnverifiedKind>(k));
  }
}

std::vector<UnverifiedGmem> UnverifiedOf(const v1::VerifyReply& r) {
  std::vector<UnverifiedGmem> out;
  for (const v1::UnverifiedGmem& pu : r.unverified()) {
    UnverifiedGmem u;
    u.token = pu.token();
    u.name = pu.name();
    u.pages = pu.pages();
    u.parts.assign(pu.parts().begin(), pu.parts().end());
    // An older khod's reply names no kinds, a newer one's may name a kind
    // this reader does not know: both read as unspecified.
    for (int i = 0; i < pu.parts_size(); ++i) {
      const int k = i < pu.kinds_size() ? pu.kinds(i) : 0;
      u.kinds.push_back(k > 0 && k < kUnverifiedKinds ? static_cast<UnverifiedKind>(k)
                                                      : UnverifiedKind::kUnspecified);
    }
    out.push_back(std::move(u));
  }
  return out;
}

Verdict VerdictOf(const v1::VerifyReply& r) {
  // The verdict khod named, where it named one this reader knows.
  for (Verdict v : {Verdict::kEqual, Verdict::kDifferent, Verdict::kNotVerified})
    if (r.verdict() == VerdictName(v)) return v;
  // Else from the rest: `equal` is the EQUAL verdict, and the differences listed tell the
  // others apart (a list cut at its limit keeps one). A khod whose `equal` meant "no
  // difference" listed every difference too.
  const bool different = r.differences_size() > 0 || (!r.equal() && r.unverified_size() == 0);
  return VerdictOf(different, r.unverified_size() > 0);
}

uint64_t DifferenceCount(const v1::VerifyReply& r) {
  if (r.has_differences_found()) return r.differences_found();
  const uint64_t entries = static_cast<uint64_t>(r.differences_size());
  for (const v1::Difference& d : r.differences()) {
    if (d.token() != 0 || d.field() != kListCut) continue;
    // "3000 differences in all": at least the entries listed but the cut.
    const char* found = d.found().c_str();
    char* end = nullptr;
    const uint64_t total = std::strtoull(found, &end, 10);
    return end != found && total >= entries - 1 ? total : entries - 1;
  }
  return entries;
}

}  // namespace khod
