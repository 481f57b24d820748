// The contents of a capture's readable shared extents, one XXH3 each, shared
// by the capture threads in shares of about equal bytes. Private or unmapped
// extents are never read. guest_memfd has no read(): its pages are read
// through khod's mapping, in batches of extents that follow each other in the
// file (one populate and one pagemap read a batch; a hole is never
// populated), and each extent is checked after its read, every page still
// mapped at the PFN the capture recorded; a page punched (or moved) meanwhile
// fails the capture (Busy: capture again with the guests paused), never
// recorded. Memfds are read with pread: a page punched meanwhile reads
// as zeros instead of faulting.
#ifndef KHOD_CAPTURE_CONTENT_HASH_H_
#define KHOD_CAPTURE_CONTENT_HASH_H_

#include <cstdint>
#include <string>

#include "capture/folio_extent_builder.h"
#include "common/status.h"
#include "kernel/pagemap.h"
#include "state/snapshot.h"

namespace khod {

struct HashSource {
  int fd = -1;                   // the file (memfds: read with pread)
  bool through_mapping = false;  // guest_memfd: read through `base`, then rechecked
  const uint8_t* base = nullptr;
  const PageFrameReader* frames = nullptr;
  std::string describe;  // for messages
};

// Appends one ContentHash per readable extent of `b` to out->hashes.
Status HashExtents(const HashSource& src, const FolioExtentBuilder& b, int threads,
                   GuestMemfd* out);

}  // namespace khod

#endif  // KHOD_CAPTURE_CONTENT_HASH_H_
