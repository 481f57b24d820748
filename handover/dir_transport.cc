#include "handover/dir_transport.h"

#include "common/hex.h"
#include "common/status_macros.h"
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

Status CheckHandoverDirName(std::string_view name) {
  KHOD_RETURN_IF_ERROR(CheckFileName(name, "dir"));
  constexpr size_t kMaxBytes = 64;
  if (name.size() > kMaxBytes)
    return Status::InvalidArgument("dir is longer than " + std::to_string(kMaxBytes) + " bytes");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0]))
    return Status::InvalidArgument("dir does not begin with a letter or a digit (byte " +
                                   Hex(static_cast<unsigned char>(name[0])) + ")");
  for (size_t i = 0; i < name.size(); ++i)
    if (!alnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
      return Status::InvalidArgument("dir holds byte " + Hex(static_cast<unsigned char>(name[i])) +
                                     " at " + std::to_string(i) +
                                     ": only letters, digits, '.', '_' and '-'");
  return Status::Ok();
}

}  // namespace khod
