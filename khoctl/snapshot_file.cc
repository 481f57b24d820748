#include "khoctl/snapshot_file.h"

#include "khoctl/file_io.h"

namespace khod {

Result<LoadedSnapshot> LoadSnapshotFile(const std::string& path) {
  // The magic is checked first, so /dev/zero or a huge non-blob is refused
  // before it is read whole.
  auto check_magic = [](std::string_view head) { return DetectFormat(head).status(); };
  Result<std::string> blob = ReadWholeFile(path, BlobFileRead(check_magic));
  if (!blob.ok()) {
    if (blob.status().code() == Status::Code::kCorruption) return blob.status().WithContext(path);
    return blob.status();  // the message already names the path
  }
  LoadedSnapshot loaded;
  loaded.blob_bytes = blob->size();
  Status st = DecodeAny(*blob, &loaded.snap, &loaded.format);
  if (!st.ok()) return st.WithContext(path);
  return loaded;
}

}  // namespace khod
