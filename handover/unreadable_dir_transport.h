// A dir medium the recovering khod will not read. Handover directories are
// names beneath the --handover-root fixed at start-up (docs/SECURITY.md); a
// record written before that rule names a path, and a recorded directory can
// also have become unsafe to open (a link, another owner, a group-writable
// mode). Start-up never fails on that: the session comes back HANDED_OVER
// with this transport in place of the dir one.
//  - Receive answers NotFound with the reason, so Restore falls back to the
//    state-dir copy of the blob (checksummed at Freeze) and says so;
//  - Finish and Abort touch nothing: the recorded path is not khod's to
//    remove.
#ifndef KHOD_HANDOVER_UNREADABLE_DIR_TRANSPORT_H_
#define KHOD_HANDOVER_UNREADABLE_DIR_TRANSPORT_H_

#include <string>
#include <utility>

#include "handover/transport.h"

namespace khod {

class UnreadableDirTransport : public HandoverTransport {
 public:
  // `why`: what is wrong with the recorded directory, shown by Receive.
  explicit UnreadableDirTransport(std::string why) : why_(std::move(why)) {}
  const char* name() const override { return "dir"; }
  bool carries_fds() const override { return false; }
  Status Send(const HandoverPackage&) override {
    return Status::FailedPrecondition("the recorded handover dir is not usable: " + why_);
  }
  Result<ReceivedHandover> Receive() override {
    return Status::NotFound("the recorded handover dir was not read: " + why_);
  }

 private:
  std::string why_;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_UNREADABLE_DIR_TRANSPORT_H_
