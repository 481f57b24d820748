#include "handover/dir_transport.h"

#include "serializer/serializer.h"

namespace khod {

Status DirTransport::Send(const HandoverPackage& pkg) {
  // The blob is self-checking (FDT/proto frame), so it is written unframed:
  // the new side can hand the very same bytes to any decoder or tool.
  return dir_.Replace(kBlobName, pkg.blob).WithContext("dir handover");
}

Result<ReceivedHandover> DirTransport::Receive() {
  FileReadOptions o;
  o.size_from_head = DeclaredBlobBytes;
  Result<std::string> blob = dir_.Read(kBlobName, o);
  if (!blob.ok()) return blob.status().WithContext("dir handover");
  ReceivedHandover r;
  r.blob = std::move(*blob);
  r.origin = blob_path();
  return r;
}

Status DirTransport::Finish() { return dir_.Remove(kBlobName); }

}  // namespace khod
