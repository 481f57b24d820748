#include "khoctl/client.h"

#include <grpcpp/grpcpp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "proto/health.grpc.pb.h"

namespace khod {

Status FromGrpc(const std::string& call, int code, const std::string& message) {
  // khod's messages mostly name the call already ("Restore: corrupt handover"):
  // do not say it twice.
  const bool named = message.compare(0, call.size(), call) == 0;
  const std::string m = named ? message : call + ": " + message;
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::OK:
      return Status::Ok();
    case grpc::StatusCode::INVALID_ARGUMENT:
      return Status::InvalidArgument(m);
    case grpc::StatusCode::DATA_LOSS:
      return Status::Corruption(m);
    case grpc::StatusCode::UNIMPLEMENTED:
      return Status::Unsupported(m);
    case grpc::StatusCode::NOT_FOUND:
      return Status::NotFound(m);
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Status::FailedPrecondition(m);
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status::PermissionDenied(m);
    case grpc::StatusCode::UNAVAILABLE:
      return Status::Busy(m);
    // gRPC's own refusal of a message past its size limit: shown as such.
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return Status::ResourceExhausted(m);
    // The caller's own deadline, or the call cancelled under it: khod sends
    // neither (daemon/khod_service.cc), so they are no word of khod's.
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
      return Status::IoError(m + " (no answer from khod)");
    default:
      return Status::Internal(m + " (gRPC code " + std::to_string(code) + ")");
  }
}

KhodClient::KhodClient(const std::string& socket_path) : socket_(socket_path) {
  grpc::ChannelArguments args;
  // A reexec drops the connection: come back quickly rather than after
  // gRPC's default backoff of a second or more.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  // Not a backoff in this gRPC: the minimum connect timeout, which covers the
  // HTTP/2 handshake. At 20 ms it killed the connection queued in the backlog
  // across the exec before the new khod (up ~100 ms later) could answer it.
  // On a unix socket a dead khod fails connect() at once, so a long one costs
  // nothing there.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  channel_ =
      grpc::CreateCustomChannel("unix:" + socket_path, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::Khod::NewStub(channel_);
}

Status KhodClient::WaitHealthy(std::chrono::milliseconds timeout) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  const auto deadline = std::chrono::system_clock::now() + timeout;
  Status last = Status::Busy("khod on " + socket_ + " did not answer");
  while (std::chrono::system_clock::now() < deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(deadline);
    ctx.set_wait_for_ready(true);
    grpc::health::v1::HealthCheckRequest q;
    grpc::health::v1::HealthCheckResponse r;
    grpc::Status s = health->Check(&ctx, q, &r);
    if (s.ok() && r.status() == grpc::health::v1::HealthCheckResponse::SERVING) return Status::Ok();
    last = s.ok() ? Status::Busy("khod on " + socket_ + " is not serving")
                  : FromGrpc("health check", s.error_code(), s.error_message());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return last;
}

namespace {
std::chrono::seconds g_call_timeout = kDefaultCallTimeout;
}  // namespace

void SetCallTimeout(std::chrono::seconds timeout) { g_call_timeout = timeout; }
std::chrono::seconds CallTimeout() { return g_call_timeout; }

std::string DefaultSocketFor(uid_t euid) { return euid == 0 ? kRootSocket : kGroupSocket; }

std::string DefaultSocket() { return DefaultSocketFor(::geteuid()); }

namespace {

// 0 when a connect() to `path` is answered or finds the backlog full (EAGAIN:
// khod is there, busy), else why nothing would ever answer it (ENOENT,
// ECONNREFUSED, EACCES...).
int RefusedConnect(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) return ENAMETOOLONG;
  std::memcpy(a.sun_path, path.c_str(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return 0;  // out of fds here: not the socket's fault, so wait
  const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof(a));
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err == EAGAIN || err == EINPROGRESS || err == EINTR ? 0 : err;
}

// Waits until `channel` is connected or `deadline` passes (the call then
// says so). Busy at once when an attempt failed because nothing could answer
// on the socket: what a fail-fast call said, without the wait.
Status AwaitConnection(grpc::Channel* channel, const std::string& path,
                       std::chrono::system_clock::time_point deadline) {
  for (;;) {
    const grpc_connectivity_state s = channel->GetState(/*try_to_connect=*/true);
    if (s == GRPC_CHANNEL_READY) return Status::Ok();
    if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN) {
      const int err = RefusedConnect(path);
      if (err != 0) return Status::Busy("cannot connect to " + path + ": " + std::strerror(err));
    }
    if (!channel->WaitForStateChange(s, deadline)) return Status::Ok();
  }
}

// One unary call with the daemon's status translated. It waits for the
// connection under its deadline (a backlog full for a moment: the group's
// callers all connecting, a reexec) but fails fast when khod is not there
// (an operator wants to know now); callers that ride through a reexec wait
// with WaitNewIncarnation first.
template <typename Req, typename Rep, typename Fn>
Result<Rep> Call(const char* name, grpc::Channel* channel, const std::string& path, Fn fn,
                 const Req& q) {
  const std::chrono::seconds timeout = CallTimeout();
  const auto deadline = std::chrono::system_clock::now() + timeout;
  if (Status reach = AwaitConnection(channel, path, deadline); !reach.ok())
    return FromGrpc(name, grpc::StatusCode::UNAVAILABLE, reach.message());
  grpc::ClientContext ctx;
  ctx.set_deadline(deadline);
  ctx.set_wait_for_ready(true);
  Rep r;
  grpc::Status s = fn(&ctx, q, &r);
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
      s.error_code() == grpc::StatusCode::CANCELLED) {
    // khod said nothing: a stopped khod (SIGSTOP, a debugger) still takes
    // connections into its backlog, and a busy one may answer late. A call
    // that changes the session may have been carried out all the same.
    const std::string call = name;
    const bool reads_only = call == "GetStatus" || call == "GetSnapshot";
    return Status::IoError(
        "khod did not answer " + call +
        (s.error_code() == grpc::StatusCode::CANCELLED
             ? " (the call was cancelled: " + s.error_message() + ")"
             : " within " + std::to_string(timeout.count()) + " s (is it stopped or busy?)") +
        (reads_only ? std::string("; try again once it answers")
                    : "; it may have completed the call: read `khoctl status` before retrying"));
  }
  if (!s.ok()) return FromGrpc(name, s.error_code(), s.error_message());
  return r;
}

}  // namespace

#define KHOD_CALL(NAME, Req, Rep, q)  \
  Call<Req, Rep>(                     \
      #NAME, channel_.get(), socket_, \
      [this](grpc::ClientContext* c, const Req& x, Rep* y) { return stub_->NAME(c, x, y); }, q)

Result<v1::AttachReply> KhodClient::Attach(const v1::AttachRequest& q) {
  return KHOD_CALL(Attach, v1::AttachRequest, v1::AttachReply, q);
}
Status KhodClient::Detach(uint64_t token) {
  v1::DetachRequest q;
  q.set_token(token);
  auto r = KHOD_CALL(Detach, v1::DetachRequest, v1::DetachReply, q);
  return r.ok() ? Status::Ok() : r.status();
}
Status KhodClient::UpdateAttributes(const v1::UpdateAttributesRequest& q) {
  auto r = KHOD_CALL(UpdateAttributes, v1::UpdateAttributesRequest, v1::UpdateAttributesReply, q);
  return r.ok() ? Status::Ok() : r.status();
}
Result<v1::PhaseReply> KhodClient::Prepare() {
  return KHOD_CALL(Prepare, v1::PrepareRequest, v1::PhaseReply, v1::PrepareRequest());
}
Result<v1::PhaseReply> KhodClient::Freeze(const v1::FreezeRequest& q) {
  return KHOD_CALL(Freeze, v1::FreezeRequest, v1::PhaseReply, q);
}
Result<v1::PhaseReply> KhodClient::Restore(const v1::RestoreRequest& q) {
  return KHOD_CALL(Restore, v1::RestoreRequest, v1::PhaseReply, q);
}
Result<v1::VerifyReply> KhodClient::Verify() {
  return KHOD_CALL(Verify, v1::VerifyRequest, v1::VerifyReply, v1::VerifyRequest());
}
Result<v1::PhaseReply> KhodClient::Finish() {
  return KHOD_CALL(Finish, v1::FinishRequest, v1::PhaseReply, v1::FinishRequest());
}
Result<v1::PhaseReply> KhodClient::Cancel() {
  return KHOD_CALL(Cancel, v1::CancelRequest, v1::PhaseReply, v1::CancelRequest());
}
Result<v1::StatusReply> KhodClient::GetStatus() {
  return KHOD_CALL(GetStatus, v1::StatusRequest, v1::StatusReply, v1::StatusRequest());
}
Result<v1::SnapshotReply> KhodClient::GetSnapshot(const v1::SnapshotRequest& q) {
  return KHOD_CALL(GetSnapshot, v1::SnapshotRequest, v1::SnapshotReply, q);
}

Result<v1::StatusReply> KhodClient::WaitNewIncarnation(uint64_t old_incarnation,
                                                       std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last = Status::Busy("no new khod on " + socket_);
  while (std::chrono::steady_clock::now() < deadline) {
    // wait_for_ready: a fail-fast call fails at once while the channel is in
    // TRANSIENT_FAILURE and nothing then reads the reconnecting socket (only
    // gRPC's backup poller, every 5 s), so the new khod's handshake reply sat
    // unread until the connect timed out: stalls of 3-9 s. A call that waits
    // for the connection keeps this thread polling it.
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::min<std::chrono::milliseconds>(left, std::chrono::seconds(1)));
    v1::StatusReply r;
    grpc::Status s = stub_->GetStatus(&ctx, v1::StatusRequest(), &r);
    if (s.ok() && r.incarnation() != old_incarnation) return r;
    if (s.ok()) {
      // The old khod answered: its exec is a fraction of a millisecond away,
      // and the next call finds its connection closed.
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      continue;
    }
    last = FromGrpc("GetStatus", s.error_code(), s.error_message());
    // The old khod's connection closed under the call: the next one connects
    // to the socket again at once (the new khod accepts from the same one)
    // and, waiting for ready, sleeps until it is answered. A fixed sleep here
    // and after the stale answer added up to some 4 ms of the blackout.
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) continue;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return last.WithContext("waiting for the re-executed khod");
}

std::string PhaseText(v1::Phase p) { return v1::Phase_Name(p); }

}  // namespace khod
