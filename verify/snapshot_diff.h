// Compares two Snapshots (or two GuestMemfds) and lists each difference: which
// guest_memfd (token + name), which field or page range, expected, found.
// Folio lists, attributes and content hashes are compared as page ranges, so
// a punched hole or a split run is one line ("folios pages 256-511"), not one
// per page. Used by `khoctl verify` before kexec and by restore after it.
#ifndef KHOD_VERIFY_SNAPSHOT_DIFF_H_
#define KHOD_VERIFY_SNAPSHOT_DIFF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "state/snapshot.h"

namespace khod {

struct Difference {
  bool in_gmem = false;     // false: header or VM difference
  uint64_t gmem_token = 0;
  std::string gmem_name;
  std::string field;        // "size", "policy", "folios pages 256-511", "vm 0x1 slot 0 npages"
  std::string expected;
  std::string found;
  // "gmem 0x2a 'ram0': folios pages 256-511: expected hole, found resident pfn 0x1200 order 0"
  std::string ToString() const;
};

struct DiffOptions {
  // Header fields (time, boot id, kernel) differ between any two captures;
  // only page_size and format are compared unless this is set.
  bool compare_header = false;
  // st_ino is per boot: off after a kexec.
  bool compare_inodes = true;
  bool compare_pfns = true;
  bool compare_folio_flags = true;
  // Content hashes are compared only where both sides have them, unless set.
  bool require_hashes = false;
  // Stops listing after this many (the count is still exact in the summary).
  size_t max_differences = 1000;
};

std::vector<Difference> DiffSnapshots(const Snapshot& expected, const Snapshot& found,
                                      const DiffOptions& opts = DiffOptions());
void DiffGmems(const GuestMemfd& expected, const GuestMemfd& found, const DiffOptions& opts,
               std::vector<Difference>* out);

}  // namespace khod

#endif  // KHOD_VERIFY_SNAPSHOT_DIFF_H_
