// The header of a snapshot captured now: the one place khod's producer string
// and the capturing host's facts are put into a SnapshotHeader.
#ifndef KHOD_CAPTURE_SNAPSHOT_HEADER_H_
#define KHOD_CAPTURE_SNAPSHOT_HEADER_H_

#include <string>

#include "state/snapshot.h"

namespace khod {

// SnapshotHeader::producer of everything khod captures.
constexpr const char* kProducer = "khod 0.1.0";

// kProducer, uname -r, the boot_id, the wall-clock time and the page size.
SnapshotHeader CurrentSnapshotHeader();

// This boot's /proc/sys/kernel/random/boot_id (read once a process); empty
// when it cannot be read.
const std::string& CurrentBootId();

// Whether `h` was captured on this boot of this kernel: its boot_id is this
// boot's (both known). What a capture saw of a file by its inode number or
// its PFNs stands for a later capture only on the same boot: a kexec gives
// every file a new inode and every page may be elsewhere.
bool CapturedThisBoot(const SnapshotHeader& h);

}  // namespace khod

#endif  // KHOD_CAPTURE_SNAPSHOT_HEADER_H_
