// UnixListener: khod's own accept loop on a unix socket. It creates the
// socket (mode 0600, or 0660 with the allowed group) or takes one inherited
// across a reexec (--listen-fd, --group-listen-fd: clients queue in the
// backlog instead of failing while khod re-executes), reads each peer's
// credentials, and hands the connection to the gRPC server.
//
// Without --allow-gid khod has one socket, root's (0600). With it, two, each
// with a listener of its own: root's (--socket, 0600, root_only: its
// connections serve root alone) and the group's (--group-socket, 0660 with
// the allowed gid). A backlog is per socket, so a member of the group that
// keeps the group's backlog full (connect() and close() in a loop) cannot
// keep root from connecting. When accept fails for want of fds or
// memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the loop waits before retrying,
// 10 ms doubling to kMaxAcceptBackoffMs, instead of spinning on the pending
// connection, and says so once until an accept succeeds again.
//
// Each accepted connection is moved to a fresh fd number before PeerAuth
// records it under that number and gRPC names it "fd:N": numbers rise from
// kFirstConnectionFd, shared by both listeners, and start again from it only
// when the next would pass the soft RLIMIT_NOFILE (khod raises it to the hard
// limit at start). The kernel would give the lowest free number, so the next
// connection would get the number of the one just closed; now a number comes
// round again only after the whole range has been used (PeerAuth logs it when
// one still recorded for a closed connection does). The kernel's fd table
// grows to the highest number used (8 bytes a slot) and is never shrunk.
#ifndef KHOD_DAEMON_UNIX_LISTENER_H_
#define KHOD_DAEMON_UNIX_LISTENER_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "common/status.h"
#include "daemon/peer_auth.h"

namespace grpc {
class Server;
}

namespace khod {

constexpr int kMaxAcceptBackoffMs = 1000;
// The lowest number a connection is moved to: above khod's own early fds.
constexpr int kFirstConnectionFd = 256;

class UnixListener {
 public:
  // Binds `path` unless inherited_fd >= 0. An existing socket there is
  // replaced only when nobody answers on it (stale); another khod's live
  // socket or a file of another kind is FailedPrecondition and left as it is.
  // The caller holds the state dir's InstanceLock.
  static Result<int> Bind(const std::string& path, long allow_gid, int inherited_fd);

  // For root's socket when khod did not bind it (socket activation, a
  // reexec): "" when its file admits root alone, else a warning naming its
  // path and mode (anyone who may connect to it may fill its backlog).
  static std::string WarnUnlessRootOnly(int listen_fd);

  // root_only: root's socket under --allow-gid (PeerAuth::Register).
  UnixListener(int listen_fd, PeerAuth* auth, bool root_only = false);
  ~UnixListener();
  void Start(grpc::Server* server);
  // Stops accepting at once (an eventfd wakes the accept loop: a reexec's
  // blackout waits on this); the listening fd stays open (it may be inherited).
  void Stop();
  int fd() const { return fd_; }
  // accept4 calls made so far (what the back-off bounds).
  uint64_t accept_calls() const { return accept_calls_; }
  // `conn` moved to the next fresh number (it is closed), or `conn` itself
  // when no number from kFirstConnectionFd to the open-file limit is free.
  static int MoveToFreshFd(int conn);

 private:
  void Loop(grpc::Server* server);
  // Sleeps `ms`, or less when Stop() is called.
  void WaitUnlessStopped(int ms);
  int fd_;
  PeerAuth* auth_;
  bool root_only_;
  int wake_ = -1;  // eventfd, written by Stop()
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> accept_calls_{0};
  uint64_t dropped_ = 0;  // connections Register refused (the loop's thread only)
  std::thread thread_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_UNIX_LISTENER_H_
