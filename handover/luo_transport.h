// LuoTransport: hand over through the Live Update Orchestrator (Linux 6.19).
// Old side: create a session named after the khod session, put the blob in a
// memfd (mm/memfd_luo.c preserves memfds) and preserve it with a fixed token,
// then preserve each gmem fd with its gmem token; keep the session fd open
// until the kexec (closing it would drop the session). The device itself is
// opened only for the one request that makes or finds the session: the
// kernel lets one process at a time hold it open. New side: retrieve the
// session by name, retrieve the blob memfd, read the manifest of gmem tokens
// at its head and retrieve each (a token the manifest names that the session
// does not hold is Corruption naming it, never NotFound); Finish ends the
// session. Closing a retrieved session's fd without Finish (this transport's
// end, khod's exit or crash) makes the kernel finish it all the same: the
// files not retrieved are freed and the session cannot be retrieved again
// (docs/FORMAT.md, luo).
// guest_memfd preservation is not in 6.19: the kernel refuses it (ENOENT: no
// handler takes the file), and the refusal is reported as Unsupported naming
// the gmem rather than silently rebuilt.
#ifndef KHOD_HANDOVER_LUO_TRANSPORT_H_
#define KHOD_HANDOVER_LUO_TRANSPORT_H_

#include <memory>
#include <string>

#include "handover/luo_device.h"
#include "handover/transport.h"

namespace khod {

// Token of the blob memfd inside the LUO session ("KHODBLOB").
constexpr uint64_t kLuoBlobToken = 0x4b484f44424c4f42ull;

// InvalidArgument naming the reserved token when `gmem_token` is the blob's:
// one token, one file in a LUO session. Ok otherwise.
Status CheckLuoGmemToken(uint64_t gmem_token);

class LuoTransport : public HandoverTransport {
 public:
  // `device` is borrowed; `session_name` must be the same on both sides.
  LuoTransport(LuoDevice* device, std::string session_name,
               std::string device_path = "/dev/liveupdate");
  ~LuoTransport() override;
  const char* name() const override { return "luo"; }
  bool carries_fds() const override { return true; }
  // mm/memfd_luo.c preserves contents and folios, not the shared policy.
  bool resets_mempolicy() const override { return true; }
  Status Send(const HandoverPackage& pkg) override;
  Result<ReceivedHandover> Receive() override;
  // SESSION_FINISH of the session Receive retrieved, then its fd closed; Ok
  // with nothing retrieved (Restore then used the state-dir copy: there is
  // no session of this process's to finish) and once finished.
  Status Finish() override;
  Status Abort() override;

  static std::string SessionNameFor(uint64_t session_id);

 private:
  // Opens the device, makes one request of it (create or retrieve the
  // session) and closes it again.
  Status DeviceIoctl(unsigned long request, void* arg, const std::string& what);
  // InvalidArgument when the name does not fit the kernel's name[64] with its NUL.
  Status CheckSessionName() const;
  Status Preserve(int fd, uint64_t token, const std::string& what);
  Result<int> Retrieve(uint64_t token, const std::string& what);

  LuoDevice* dev_;
  std::string session_name_;
  std::string device_path_;
  int session_fd_ = -1;
  int blob_memfd_ = -1;
  // SESSION_FINISH done: a second Finish (Finish retried after its record
  // write failed) has nothing left to do.
  bool finished_ = false;
};

// Wraps the blob with the list of gmem tokens preserved next to it, so the
// new side knows what to retrieve before it can decode the blob.
std::string EncodeLuoManifest(const HandoverPackage& pkg);
Status DecodeLuoManifest(const std::string& data, std::vector<uint64_t>* tokens, std::string* blob);

// The bytes the blob memfd open as `fd` declares: its manifest (16 + 8 bytes per token it
// counts) and the blob after it as the blob's own header says (DeclaredBlobBytes), read with
// two small preads before anything else. A memfd that does not start with the manifest, or
// whose blob does not start with a header of khod's, declares no more than what was read
// of it, and its decode says what it is. Corruption when the count of tokens is past any
// file khod reads.
Result<uint64_t> LuoBlobMemfdDeclaredBytes(int fd);

}  // namespace khod

#endif  // KHOD_HANDOVER_LUO_TRANSPORT_H_
