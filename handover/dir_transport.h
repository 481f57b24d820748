// DirTransport: the blob as a file in a directory meant for persistent memory
// (a DAX-mounted pmem fs) or a disk. It cannot carry fds: restore rebuilds the
// objects from the blob, so memory contents are not preserved by it alone.
// The directory is one khod opened and checked (common/safe_file.h): beneath
// the handover root fixed at start-up, never a path a client named.
#ifndef KHOD_HANDOVER_DIR_TRANSPORT_H_
#define KHOD_HANDOVER_DIR_TRANSPORT_H_

#include <string>
#include <string_view>

#include "common/safe_file.h"
#include "handover/transport.h"

namespace khod {

// A handover dir a client names (FreezeRequest.dir): one name beneath the
// handover root, of at most 64 letters, digits, '.', '_' and '-', beginning
// with a letter or digit. It is recorded, logged and shown in replies, so no
// control character, escape or non-ASCII byte gets there. InvalidArgument
// naming what is wrong otherwise.
Status CheckHandoverDirName(std::string_view name);

class DirTransport : public HandoverTransport {
 public:
  static constexpr char kBlobName[] = "handover.blob";
  explicit DirTransport(SafeDir dir) : dir_(std::move(dir)) {}
  const char* name() const override { return "dir"; }
  bool carries_fds() const override { return false; }
  Status Send(const HandoverPackage& pkg) override;
  // Reads no more than the blob's header declares; a symlink, FIFO or device
  // in the blob's place is refused at once.
  Result<ReceivedHandover> Receive() override;
  Status Finish() override;
  Status Abort() override { return Finish(); }

  std::string blob_path() const { return dir_.PathOf(kBlobName); }

 private:
  SafeDir dir_;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_DIR_TRANSPORT_H_
