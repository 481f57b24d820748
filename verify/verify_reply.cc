#include "verify/verify_reply.h"

namespace khod {

void FillVerifyReply(const SnapshotDiff& d, const VerifyCounts& c, v1::VerifyReply* r) {
  r->set_equal(d.equal());
  r->set_verdict(VerdictName(VerdictOf(d)));
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
    out.push_back(std::move(u));
  }
  return out;
}

Verdict VerdictOf(const v1::VerifyReply& r) {
  return VerdictOf(!r.equal() || r.differences_size() > 0, r.unverified_size() > 0);
}

}  // namespace khod
