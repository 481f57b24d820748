// Whether the pages of a mappable guest_memfd are shared with the host
// (GUEST_MEMFD_FLAG_INIT_SHARED), asked of a file the caller may change: a
// guest_memfd a VMM made and offers to be filled (restore's rebuild_into).
//
// The kernel shows no creation flag (gmem-6.18-facts.md). A host fault on a
// private page is refused: MADV_POPULATE_READ of it fails with EFAULT and
// allocates nothing; on a shared page it succeeds, and on a hole it allocates
// the page. So page 0 is populated through a fresh read-only shared mapping;
// where mincore showed page 0 not resident before, the page the populate
// made is punched out again (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE). A page not
// resident holds no guest data (an uninitialized page reads zero), so the file
// is left as found but for a page only fallocated, which is freed.
//
// Never for a file whose guest runs, nor for one a capture only reads: a
// capture never faults in a page it did not see present.
#ifndef KHOD_KERNEL_GMEM_SHARED_PROBE_H_
#define KHOD_KERNEL_GMEM_SHARED_PROBE_H_

#include <cstddef>

#include "common/status.h"

namespace khod {

// true: page 0 of `fd` is shared with the host (INIT_SHARED, or any file
// whose pages the host may fault, as a memfd's); false: private (EFAULT). An
// error names the call that failed (ENODEV from mmap: not mappable at all).
Result<bool> ProbeGmemPagesShared(int fd, size_t page_size);

}  // namespace khod

#endif  // KHOD_KERNEL_GMEM_SHARED_PROBE_H_
