// Session status: what GetStatus reports (each gmem's GmemInfo, the
// durations, the recovery, the reexec timeline), built under the session lock
// when a change is staged and served from the copy its write publishes.
#include <unistd.h>

#include "daemon/session.h"
#include "daemon/status_vmm_policies.h"

namespace khod {

v1::GmemInfo Session::InfoOf(const v1::GmemAttachment& a, size_t* vmm_policy_budget) const {
  v1::GmemInfo info;
  info.set_token(a.token());
  info.set_name(a.name());
  info.set_vm_token(a.vm_token());
  info.set_kind(a.kind());
  info.set_provenance(a.is_model() ? "MODEL" : "kernel");
  // Recorded without an owner (a khod before owner_uid): root's.
  info.set_owner_uid(a.has_owner_uid() ? a.owner_uid() : 0);
  auto find = [&](const std::map<uint64_t, std::unique_ptr<GmemHandle>>& m) -> const GmemHandle* {
    auto it = m.find(a.token());
    return it == m.end() ? nullptr : it->second.get();
  };
  const GmemHandle* h = find(restored_);
  // A restored kernel file: the restarted VMM takes it back from this fd.
  if (h && !h->is_model && h->fd >= 0) info.set_khod_fd(h->fd);
  if (!h) h = find(handles_);
  if (h) {
    info.set_source(h->source ? h->source->Describe() : h->how);
    info.set_how(h->how);
    if (h->policy.outcome != PolicyRestore::Outcome::kNothing)
      info.set_policy_restore(PolicyOutcomeName(h->policy.outcome));
    info.set_policy_note(h->policy.note);
    (void)AppendVmmPolicies(h->policy.for_vmm, vmm_policy_budget, &info);
    info.set_size(h->size);
    info.set_adopted(h->how.rfind("adopted", 0) == 0);
  } else {
    info.set_source(a.is_model() ? "MODEL guest_memfd '" + a.name() + "'"
                                 : "fd " + std::to_string(a.fd()) + " of pid " +
                                       std::to_string(a.pid()) + " (not held)");
  }
  auto e = extents_.find(a.token());
  if (e != extents_.end()) info.set_folio_extents(e->second);
  return info;
}

v1::StatusReply Session::GetStatus() const {
  std::shared_ptr<const v1::StatusReply> s;
  std::optional<v1::ReexecTimeline> timeline;
  {
    std::lock_guard<std::mutex> l(status_mu_);
    s = status_;
    timeline = reexec_timeline_;
  }
  v1::StatusReply r = s ? *s : v1::StatusReply();  // copied outside the lock
  if (timeline) *r.mutable_reexec_timeline() = *timeline;
  return r;
}

void Session::SetReexecTimeline(const v1::ReexecTimeline& t) {
  std::lock_guard<std::mutex> l(status_mu_);
  reexec_timeline_ = t;
}

v1::StatusReply Session::BuildStatus() const {
  v1::StatusReply s;
  s.set_phase(record_.phase());
  s.set_session_id(record_.session_id());
  s.set_generation(record_.generation());
  size_t vmm_policy_budget = kMaxVmmPoliciesInStatus;
  for (const auto& a : record_.gmems()) *s.add_gmems() = InfoOf(a, &vmm_policy_budget);
  *s.mutable_durations() = record_.durations();
  s.set_blob_bytes(record_.frozen_blob_bytes());
  s.set_prepared_blob_bytes(record_.prepared_blob_bytes());
  // How a handover was made, only while one stands or stood (the record
  // keeps the last one's past a Cancel, for the sweep of its medium).
  const v1::Phase p = record_.phase();
  if (p == v1::HANDED_OVER || p == v1::RESTORED || p == v1::VERIFIED || p == v1::FINISHED) {
    s.set_blob_format(record_.format());
    s.set_transport(record_.transport());
  }
  s.set_recovery(recovery_);
  s.set_pid(static_cast<uint32_t>(::getpid()));
  s.set_exec_count(record_.exec_count());
  s.set_kvm_available(::access("/dev/kvm", F_OK) == 0);
  s.set_last_verdict(record_.last_verdict());
  s.set_incarnation(incarnation_);
  s.set_kho_incoming(kho_incoming_);
  return s;
}

}  // namespace khod
