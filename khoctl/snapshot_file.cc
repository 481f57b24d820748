#include "khoctl/snapshot_file.h"

#include "khoctl/file_io.h"

namespace khod {

Result<LoadedSnapshot> LoadSnapshotFile(const std::string& path) {
  Result<std::string> blob = ReadWholeFile(path);
  if (!blob.ok()) return blob.status();  // the message already names the path
  LoadedSnapshot loaded;
  loaded.blob_bytes = blob->size();
  Status st = DecodeAny(*blob, &loaded.snap, &loaded.format);
  if (!st.ok()) return st.WithContext(path);
  return loaded;
}

}  // namespace khod
