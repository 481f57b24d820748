// Reads a snapshot blob file of either format: what inspect, convert and any
// other command taking a FILE share, with one error wording ("PATH: ...").
#ifndef KHOD_KHOCTL_SNAPSHOT_FILE_H_
#define KHOD_KHOCTL_SNAPSHOT_FILE_H_

#include <cstddef>
#include <string>

#include "common/status.h"
#include "serializer/serializer.h"
#include "state/snapshot.h"

namespace khod {

struct LoadedSnapshot {
  Snapshot snap;
  BlobFormat format = BlobFormat::kFdt;
  size_t blob_bytes = 0;
};

// Reads and decodes `path` (format detected from the blob); errors name the path.
Result<LoadedSnapshot> LoadSnapshotFile(const std::string& path);

}  // namespace khod

#endif  // KHOD_KHOCTL_SNAPSHOT_FILE_H_
