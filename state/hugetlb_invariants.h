// Invariants of HugeTLB folio restructuring and of conversions, part of the
// one checker (state/invariants.h: CheckGmem calls these). Split out because
// they follow the in-flight kernel semantics that model/ implements:
// - each split HugeTLB sub-folio belongs to exactly one restructure record,
//   of the file's hstate order, whose head PFN and layout agree with the folios;
// - a folio larger than a page never holds both shared and private pages
//   (a huge folio that does must have been split).
#ifndef KHOD_STATE_HUGETLB_INVARIANTS_H_
#define KHOD_STATE_HUGETLB_INVARIANTS_H_

#include <string>
#include <vector>

#include "state/invariants.h"
#include "state/snapshot.h"

namespace khod {

// "gmem 0x2a folios[5]": where a violation in one of g's tables is.
std::string GmemWhere(const GuestMemfd& g, const char* table, size_t i);

void CheckRestructureMembership(const GuestMemfd& g, std::vector<Violation>* out);
void CheckMixedFoliosSplit(const GuestMemfd& g, std::vector<Violation>* out);

}  // namespace khod

#endif  // KHOD_STATE_HUGETLB_INVARIANTS_H_
