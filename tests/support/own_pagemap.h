// Pagemap entries of a file's pages as a mapping of the test's own sees them,
// read independently of khod's capture code: what its results are checked against.
#ifndef KHOD_TESTS_SUPPORT_OWN_PAGEMAP_H_
#define KHOD_TESTS_SUPPORT_OWN_PAGEMAP_H_

#include <cstdint>
#include <vector>

namespace khod {

// Maps `fd` shared for `pages` 4 KiB pages, faults in the pages that exist
// (those in `exists`, or by default those mincore reports, so nothing is
// created) and returns each page's pagemap entry (0 where not present).
std::vector<uint64_t> OwnPagemap(int fd, uint64_t pages, const std::vector<bool>* exists = nullptr);

}  // namespace khod

#endif  // KHOD_TESTS_SUPPORT_OWN_PAGEMAP_H_
