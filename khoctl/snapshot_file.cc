#include "khoctl/snapshot_file.h"

#include "khoctl/file_io.h"

namespace khod {

Result<LoadedSnapshot> LoadSnapshotFile(const std::string& path) {
  // The magic is checked first, so a huge non-blob is refused before it is
  // read whole, and so is a file longer than its header declares (a sparse
  // 2 GiB file behind a small blob's header).
  auto check_magic = [](std::string_view head) { return DetectFormat(head).status(); };
  FileReadOptions o = BlobFileRead(check_magic);
  o.size_from_head = DeclaredBlobBytes;
  Result<std::string> blob = ReadWholeFile(path, o);
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
