// KhodClient: khoctl's (and the rehearsal's) gRPC connection to khod over its
// unix socket. Each call returns a khod::Status carrying the daemon's message,
// so a refusal prints as khod worded it.
#ifndef KHOD_KHOCTL_CLIENT_H_
#define KHOD_KHOCTL_CLIENT_H_

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/status.h"
#include "proto/khod.grpc.pb.h"

namespace khod {

// khod's sockets (docs/OPERATIONS.md): root's, 0600, and, when khod runs
// with --allow-gid, the group's, 0660 with that group. A backlog is per
// socket, so the group cannot keep root from connecting.
constexpr const char* kRootSocket = "/run/khod/khod.sock";
constexpr const char* kGroupSocket = "/run/khod/khod.sock.group";

// The socket khoctl calls without --socket: root's for euid 0, else the group's.
std::string DefaultSocketFor(uid_t euid);
std::string DefaultSocket();  // for this process's euid

// gRPC status -> khod Status (DATA_LOSS -> Corruption, UNAVAILABLE -> Busy, ...).
// DEADLINE_EXCEEDED and CANCELLED, which khod never sends (the caller's own
// deadline, a call cancelled under it), are IoError: no answer from khod.
Status FromGrpc(const std::string& call, int grpc_code, const std::string& message);

// How long each KhodClient call (Attach ... GetSnapshot) waits for its
// connection and khod's answer. Past it the call is IoError "khod did not
// answer Verify within 120 s (is it stopped or busy?); it may have completed
// the call: read `khoctl status` before retrying". khoctl sets it from
// KHOCTL_CALL_TIMEOUT (seconds).
constexpr std::chrono::seconds kDefaultCallTimeout{120};
void SetCallTimeout(std::chrono::seconds timeout);
std::chrono::seconds CallTimeout();

// Every call waits for its connection under its deadline (wait_for_ready): a
// backlog that is full for a moment (a reexec, a flood of connects) delays
// the call instead of failing it. It still fails at once, as UNAVAILABLE
// (Busy), when nothing could answer on the socket: no such file, nobody
// listening, no permission.
class KhodClient {
 public:
  explicit KhodClient(const std::string& socket_path);

  // Standard health check (grpc.health.v1): OK when khod serves. Waits up to
  // `timeout` for the socket to accept (a reexec in progress, a start).
  Status WaitHealthy(std::chrono::milliseconds timeout);

  // After a REEXEC Freeze: waits until a khod other than `old_incarnation`
  // answers Status (the old one may still be draining its last calls).
  Result<v1::StatusReply> WaitNewIncarnation(uint64_t old_incarnation,
                                             std::chrono::milliseconds timeout);

  Result<v1::AttachReply> Attach(const v1::AttachRequest& q);
  Status Detach(uint64_t token);
  Status UpdateAttributes(const v1::UpdateAttributesRequest& q);
  Result<v1::PhaseReply> Prepare();
  Result<v1::PhaseReply> Freeze(const v1::FreezeRequest& q);
  Result<v1::PhaseReply> Restore(const v1::RestoreRequest& q);
  Result<v1::VerifyReply> Verify();
  Result<v1::PhaseReply> Finish();
  Result<v1::PhaseReply> Cancel();
  Result<v1::StatusReply> GetStatus();
  Result<v1::SnapshotReply> GetSnapshot(const v1::SnapshotRequest& q);

  const std::string& socket_path() const { return socket_; }

 private:
  std::string socket_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Khod::Stub> stub_;
};

// "IDLE", "HANDED_OVER", ...
std::string PhaseText(v1::Phase p);

}  // namespace khod

#endif  // KHOD_KHOCTL_CLIENT_H_
