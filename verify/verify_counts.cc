#include "verify/verify_counts.h"

namespace khod {

std::string VerifyCountsText(const VerifyCounts& c, bool equal) {
  const std::string outcome = equal ? " unchanged" : " compared";
  std::string s;
  if (c.real_kinds.empty()) {
    s = "no real memory";
  } else {
    // Pages whose PFN pagemap hid (no CAP_SYS_ADMIN) were compared without
    // one: not claimed as PFNs.
    if (c.real_pfns == c.real_pages)
      s = std::to_string(c.real_pfns) + " real PFNs (" + c.real_kinds + ")";
    else
      s = std::to_string(c.real_pages) + " real pages (" + c.real_kinds + "), " +
          std::to_string(c.real_pfns) + " of them with a known PFN,";
    s += " and " + std::to_string(c.real_hashes) + " content hashes" + outcome;
    if (c.real_flags_carried)
      s += " (folio flags of " + std::to_string(c.real_flags_carried) +
           " pages carried from Freeze, mapped at the same PFN since)";
  }
  if (c.model_pages || c.model_hashes) {
    s += "; MODEL: " + std::to_string(c.model_pages) + " pages";
    if (c.model_hashes) s += " and " + std::to_string(c.model_hashes) + " content hashes";
    s += " compared";
  }
  return s;
}

}  // namespace khod
