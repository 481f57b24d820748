// KhodService: the gRPC face of Session. It checks the caller (PeerAuth) on
// every call and turns each khod::Status into a gRPC status with its message.
#ifndef KHOD_DAEMON_KHOD_SERVICE_H_
#define KHOD_DAEMON_KHOD_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "daemon/peer_auth.h"
#include "daemon/session.h"
#include "proto/khod.grpc.pb.h"

namespace khod {

// Corruption -> DATA_LOSS, Busy -> UNAVAILABLE (retry), Unsupported ->
// UNIMPLEMENTED, the rest by name.
grpc::Status ToGrpc(const Status& s);

class KhodService final : public v1::Khod::Service {
 public:
  KhodService(Session* session, const PeerAuth* auth) : session_(session), auth_(auth) {}
  // khod registers the service while its session is still opening, and
  // sets it before any connection is accepted.
  explicit KhodService(const PeerAuth* auth) : KhodService(nullptr, auth) {}
  void SetSession(Session* session) { session_ = session; }
  // Called with every Verify reply khod gives (--metrics-textfile).
  void OnVerified(std::function<void(const v1::VerifyReply&)> fn) { on_verified_ = std::move(fn); }

  grpc::Status Attach(grpc::ServerContext* c, const v1::AttachRequest* q,
                      v1::AttachReply* r) override;
  grpc::Status Detach(grpc::ServerContext* c, const v1::DetachRequest* q,
                      v1::DetachReply* r) override;
  grpc::Status UpdateAttributes(grpc::ServerContext* c, const v1::UpdateAttributesRequest* q,
                                v1::UpdateAttributesReply* r) override;
  grpc::Status Prepare(grpc::ServerContext* c, const v1::PrepareRequest* q,
                       v1::PhaseReply* r) override;
  grpc::Status Freeze(grpc::ServerContext* c, const v1::FreezeRequest* q,
                      v1::PhaseReply* r) override;
  grpc::Status Restore(grpc::ServerContext* c, const v1::RestoreRequest* q,
                       v1::PhaseReply* r) override;
  grpc::Status Verify(grpc::ServerContext* c, const v1::VerifyRequest* q,
                      v1::VerifyReply* r) override;
  grpc::Status Finish(grpc::ServerContext* c, const v1::FinishRequest* q,
                      v1::PhaseReply* r) override;
  grpc::Status Cancel(grpc::ServerContext* c, const v1::CancelRequest* q,
                      v1::PhaseReply* r) override;
  grpc::Status GetStatus(grpc::ServerContext* c, const v1::StatusRequest* q,
                         v1::StatusReply* r) override;
  grpc::Status GetSnapshot(grpc::ServerContext* c, const v1::SnapshotRequest* q,
                           v1::SnapshotReply* r) override;

 private:
  Session* session_;
  const PeerAuth* auth_;
  std::function<void(const v1::VerifyReply&)> on_verified_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_KHOD_SERVICE_H_
