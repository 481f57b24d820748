#include "handover/dir_transport.h"

#include <unistd.h>

#include <cerrno>

#include "common/file_read.h"
#include "daemon/record_file.h"

namespace khod {

Status DirTransport::Send(const HandoverPackage& pkg) {
  KHOD_RETURN_IF_ERROR(MakeDirs(dir_, 0700));
  // The blob is self-checking (FDT/proto frame), so it is written unframed:
  // the new side can hand the very same bytes to any decoder or tool.
  return WriteFileAtomically(blob_path(), pkg.blob).WithContext("dir handover");
}

Result<ReceivedHandover> DirTransport::Receive() {
  Result<std::string> blob = ReadWholeFile(blob_path());
  if (!blob.ok()) return blob.status().WithContext("dir handover");
  ReceivedHandover r;
  r.blob = std::move(*blob);
  r.origin = blob_path();
  return r;
}

Status DirTransport::Finish() {
  if (::unlink(blob_path().c_str()) != 0 && errno != ENOENT)
    return Status::FromErrno("unlink " + blob_path(), errno);
  return Status::Ok();
}

}  // namespace khod
