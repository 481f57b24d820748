// DirTransport: the blob as a file in a directory meant for persistent memory
// (a DAX-mounted pmem fs) or a disk. It cannot carry fds: restore rebuilds the
// objects from the blob, so memory contents are not preserved by it alone.
#ifndef KHOD_HANDOVER_DIR_TRANSPORT_H_
#define KHOD_HANDOVER_DIR_TRANSPORT_H_

#include <string>

#include "handover/transport.h"

namespace khod {

class DirTransport : public HandoverTransport {
 public:
  explicit DirTransport(std::string dir) : dir_(std::move(dir)) {}
  const char* name() const override { return "dir"; }
  bool carries_fds() const override { return false; }
  Status Send(const HandoverPackage& pkg) override;
  Result<ReceivedHandover> Receive() override;
  Status Finish() override;
  Status Abort() override { return Finish(); }

  std::string blob_path() const { return dir_ + "/handover.blob"; }

 private:
  std::string dir_;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_DIR_TRANSPORT_H_
