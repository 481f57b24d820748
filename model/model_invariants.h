// Invariants of the MODEL's own state, beyond what a snapshot shows: the
// capture passes the shared checker (CheckGmem, incl. state/hugetlb_invariants),
// private pages are not mapped into userspace, and the file's split folios and
// the kernel's restructure registry agree. Run after every step of the
// property tests.
#ifndef KHOD_MODEL_MODEL_INVARIANTS_H_
#define KHOD_MODEL_MODEL_INVARIANTS_H_

#include <vector>

#include "model/model_gmem.h"
#include "state/invariants.h"

namespace khod {

void CheckPrivateNotMapped(const ModelGuestMemfd& f, std::vector<Violation>* out);
void CheckRegistryAgrees(const ModelGuestMemfd& f, std::vector<Violation>* out);
// All of the above plus CheckGmem on a capture of `f`.
std::vector<Violation> CheckModelGmem(const ModelGuestMemfd& f);

}  // namespace khod

#endif  // KHOD_MODEL_MODEL_INVARIANTS_H_
