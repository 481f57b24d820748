// HandoverTransport: how the frozen blob and the preserved fds get from the
// old khod to the new one. Three implementations share this interface:
//   dir    - blob in a directory (persistent memory or disk); fds are not carried
//   reexec - khod exec()s a new khod keeping the fds and a blob memfd
//   luo    - /dev/liveupdate sessions (Linux 6.19 uAPI), across a real kexec
// The daemon never cares which one it talks to.
#ifndef KHOD_HANDOVER_TRANSPORT_H_
#define KHOD_HANDOVER_TRANSPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "handover/blob_memfd.h"
#include "kernel/mapping.h"

namespace khod {

// One fd to keep alive across the handover, named by the gmem token that is
// stable on both sides.
struct PreservedFd {
  uint64_t token = 0;
  int fd = -1;  // borrowed: the transport dups what it needs to keep
};

struct HandoverPackage {
  uint64_t session_id = 0;
  std::string blob;  // serialized Snapshot (FDT or proto)
  std::vector<PreservedFd> fds;
};

// What the new side receives. fds are owned by the receiver from here on.
struct ReceivedHandover {
  std::string blob;  // unless `mapped` holds it
  // reexec: the sealed blob memfd mapped read-only where it lies instead of
  // copied into `blob` (a copy first-touches every page of a fresh buffer).
  std::shared_ptr<const Mapping> mapped;
  std::map<uint64_t, int> fds;  // token -> fd in this process
  std::string origin;           // "memfd 5 from reexec", "/var/lib/khod/handover/blob"

  std::string_view blob_bytes() const {
    return mapped
               ? std::string_view(reinterpret_cast<const char*>(mapped->data()), mapped->length())
               : std::string_view(blob);
  }
};

class HandoverTransport {
 public:
  virtual ~HandoverTransport() = default;
  virtual const char* name() const = 0;
  // True when the fds (and so the memory in them) survive; dir does not.
  virtual bool carries_fds() const = 0;
  // True when a carried file arrives with its NUMA mempolicy reset (the
  // restore must re-apply the snapshot's).
  virtual bool resets_mempolicy() const { return false; }
  // True when a carried fd is the very file the old side held, so its inode
  // is the one Attach recorded (reexec: same boot; GmemRestoreInputs::
  // carried_inodes). False where the medium gives new files (luo: a kexec
  // gives new inodes) or carries none (dir).
  virtual bool keeps_inodes() const { return false; }
  // Old side: make the package available to the next khod. For reexec this
  // only stages; the exec itself is the daemon's last act (ExecArguments).
  virtual Status Send(const HandoverPackage& pkg) = 0;
  // Old side, optional, before Send and from any thread (Send waits for
  // nothing: the caller has joined it): copy `blob`, the very bytes the next
  // Send's package will carry, into the medium ahead of time, while the
  // caller makes its record durable. Send then carries that copy instead of
  // making its own. Only a copy is made: nothing is handed over, and Abort
  // (or the transport's end) drops it. A failed Stage leaves Send to copy.
  virtual Status Stage(std::string_view blob) {
    (void)blob;
    return Status::Ok();
  }
  // Old side, optional, instead of Stage: `copy` holds the very bytes the
  // next Send's package will carry already (Prepare wrote the draft of the
  // blob into it, Freeze overwrote the pages that differ:
  // handover/blob_memfd.h), and becomes the medium's copy as Stage's would.
  // Unsupported where the medium is not such a memfd: the caller Stages.
  virtual Status StageCopy(BlobMemfd copy) {
    (void)copy;
    return Status::Unsupported(std::string(name()) + " handover carries no blob memfd");
  }
  // Old side, after Send: the arguments to re-execute khod with so that the
  // new process receives the package (reexec: "--adopt=..."). Empty when the
  // medium needs no exec (dir, luo).
  virtual std::vector<std::string> ExecArguments() const { return {}; }
  // True when the process that made the Send can Receive it itself (a
  // restore before any exec or kexec). False when the medium only exists in
  // the next process (reexec): that process adopts the files it still holds.
  virtual bool sender_can_receive() const { return true; }
  // New side: collect what Send left.
  virtual Result<ReceivedHandover> Receive() = 0;
  // New side, after restore and verify: tell the medium it may let go.
  virtual Status Finish() { return Status::Ok(); }
  // Old side, before the point of no return: undo Send.
  virtual Status Abort() { return Status::Ok(); }
};

}  // namespace khod

#endif  // KHOD_HANDOVER_TRANSPORT_H_
