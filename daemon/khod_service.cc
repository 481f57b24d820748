#include "daemon/khod_service.h"

#include "daemon/request_limits.h"

namespace khod {

grpc::Status ToGrpc(const Status& s) {
  using C = Status::Code;
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (s.code()) {
    case C::kOk:
      return grpc::Status::OK;
    case C::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    case C::kCorruption:
      code = grpc::StatusCode::DATA_LOSS;
      break;
    case C::kUnsupported:
      code = grpc::StatusCode::UNIMPLEMENTED;
      break;
    case C::kNotFound:
      code = grpc::StatusCode::NOT_FOUND;
      break;
    case C::kFailedPrecondition:
      code = grpc::StatusCode::FAILED_PRECONDITION;
      break;
    case C::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case C::kBusy:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case C::kIoError:
      code = grpc::StatusCode::INTERNAL;
      break;
    case C::kResourceExhausted:
      code = grpc::StatusCode::RESOURCE_EXHAUSTED;
      break;
    case C::kInternal:
      code = grpc::StatusCode::INTERNAL;
      break;
  }
  return grpc::Status(code, s.message());
}

namespace {

// Runs `fn` with the caller's credentials for an authorized caller and a
// request within the API's size limits (daemon/request_limits.h): the one
// place every RPC is checked.
template <typename Fn>
grpc::Status Guarded(const PeerAuth* auth, grpc::ServerContext* c,
                     const google::protobuf::Message& request, Fn fn) {
  Result<PeerCred> who = auth->Check(c->peer());
  if (!who.ok()) return ToGrpc(who.status());
  Status limits = CheckRequestLimits(request);
  if (!limits.ok()) return ToGrpc(limits);
  return ToGrpc(fn(*who));
}

template <typename T, typename Out>
Status Assign(Result<T> r, Out* out) {
  if (!r.ok()) return r.status();
  *out = std::move(*r);
  return Status::Ok();
}

}  // namespace

grpc::Status KhodService::Attach(grpc::ServerContext* c, const v1::AttachRequest* q,
                                 v1::AttachReply* r) {
  return Guarded(auth_, c, *q, [&](const PeerCred& who) {
    return Assign(session_->Attach(*q, who), r->mutable_gmem());
  });
}

grpc::Status KhodService::Detach(grpc::ServerContext* c, const v1::DetachRequest* q,
                                 v1::DetachReply*) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return session_->Detach(q->token(), who); });
}

grpc::Status KhodService::UpdateAttributes(grpc::ServerContext* c,
                                           const v1::UpdateAttributesRequest* q,
                                           v1::UpdateAttributesReply*) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return session_->UpdateAttributes(*q, who); });
}

grpc::Status KhodService::Prepare(grpc::ServerContext* c, const v1::PrepareRequest* q,
                                  v1::PhaseReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->Prepare(who), r); });
}

grpc::Status KhodService::Freeze(grpc::ServerContext* c, const v1::FreezeRequest* q,
                                 v1::PhaseReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->Freeze(*q, who), r); });
}

grpc::Status KhodService::Restore(grpc::ServerContext* c, const v1::RestoreRequest* q,
                                  v1::PhaseReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->Restore(*q, who), r); });
}

grpc::Status KhodService::Verify(grpc::ServerContext* c, const v1::VerifyRequest* q,
                                 v1::VerifyReply* r) {
  return Guarded(auth_, c, *q, [&](const PeerCred& who) {
    Status s = Assign(session_->Verify(who), r);
    if (s.ok() && on_verified_) on_verified_(*r);
    return s;
  });
}

grpc::Status KhodService::Finish(grpc::ServerContext* c, const v1::FinishRequest* q,
                                 v1::PhaseReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->Finish(who), r); });
}

grpc::Status KhodService::Cancel(grpc::ServerContext* c, const v1::CancelRequest* q,
                                 v1::PhaseReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->Cancel(who), r); });
}

grpc::Status KhodService::GetStatus(grpc::ServerContext* c, const v1::StatusRequest* q,
                                    v1::StatusReply* r) {
  return Guarded(auth_, c, *q, [&](const PeerCred&) {
    *r = session_->GetStatus();
    return Status::Ok();
  });
}

grpc::Status KhodService::GetSnapshot(grpc::ServerContext* c, const v1::SnapshotRequest* q,
                                      v1::SnapshotReply* r) {
  return Guarded(auth_, c, *q,
                 [&](const PeerCred& who) { return Assign(session_->GetSnapshot(*q, who), r); });
}

}  // namespace khod
