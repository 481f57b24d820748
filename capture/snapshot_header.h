// The header of a snapshot captured now: the one place khod's producer string
// and the capturing host's facts are put into a SnapshotHeader.
#ifndef KHOD_CAPTURE_SNAPSHOT_HEADER_H_
#define KHOD_CAPTURE_SNAPSHOT_HEADER_H_

#include "state/snapshot.h"

namespace khod {

// SnapshotHeader::producer of everything khod captures.
constexpr const char* kProducer = "khod 0.1.0";

// kProducer, uname -r, the boot_id, the wall-clock time and the page size.
SnapshotHeader CurrentSnapshotHeader();

}  // namespace khod

#endif  // KHOD_CAPTURE_SNAPSHOT_HEADER_H_
