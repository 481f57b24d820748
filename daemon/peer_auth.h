// Peer authorization for khod's unix socket. khod accepts connections itself
// (so it can read SO_PEERCRED, which gRPC does not expose) and hands each
// accepted fd to gRPC with AddInsecureChannelFromFd; gRPC then names the peer
// "fd:N". Every call looks its peer up here and is refused with
// PERMISSION_DENIED and a message unless the peer is root or in --allow-gid,
// as its primary group or one of its supplementary groups (SO_PEERGROUPS,
// read when it connected).
//
// A user other than root holds at most kMaxConnectionsPerUser connections at
// once: each is an fd of khod's and can carry calls, and khod has one fd
// table, root's calls included. Root's are not counted.
//
// With --allow-gid khod listens on two sockets (daemon/unix_listener.h): a
// connection that came through root's own socket is registered root_only and
// serves root alone, whatever the group; its mode (0600) admits no one else,
// so a peer refused so is one that got past a changed mode.
//
// A connection is known by its fd number, and a number is reused once its
// connection is closed. gRPC (1.51; docs/SECURITY.md) closes a connection's
// fd only after the last call on it has ended, so a call's "fd:N" names its
// own connection while the call runs. The listener moves each connection to
// a rising number (daemon/unix_listener.h), so that a number comes round
// again only after the whole range from kFirstConnectionFd to the open-file
// limit has been used; Register logs a number still recorded for another
// connection when it comes round (the 1st, 2nd, 4th... time).
#ifndef KHOD_DAEMON_PEER_AUTH_H_
#define KHOD_DAEMON_PEER_AUTH_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "daemon/caller_access.h"

namespace khod {

// khod --allow-gid: a group number (decimal digits only, below 2^32-1) or a
// group name (getgrnam_r); anything else (empty, "abc" where no such group
// exists, "12x", "-1") is InvalidArgument naming the text.
Result<gid_t> ParseAllowGid(std::string_view text);

constexpr size_t kMaxConnectionsPerUser = 32;

class PeerAuth {
 public:
  // allow_gid < 0: root only.
  explicit PeerAuth(long allow_gid = -1) : allow_gid_(allow_gid) {}
  // Reads SO_PEERCRED of an accepted connection and remembers it under its
  // fd. RESOURCE_EXHAUSTED naming the user when a user other than root holds
  // kMaxConnectionsPerUser open connections already (the caller closes it).
  // root_only: accepted on root's socket, so Check lets root alone call on it.
  Status Register(int conn_fd, bool root_only = false);
  // `peer` is grpc::ServerContext::peer(). Its credentials, or
  // PermissionDenied naming the peer's uid/gid/pid and what would be accepted.
  Result<PeerCred> Check(const std::string& peer) const;
  long allow_gid() const { return allow_gid_; }
  // For tests: the fd of the last connection Register recorded (-1: none),
  // and how many times it found a number recorded for another connection.
  int last_registered_fd() const;
  uint64_t reused_numbers() const;

 private:
  struct Connection {
    PeerCred cred;
    ino_t socket_inode = 0;  // the accepted socket's: its fd number may be reused after close
    bool root_only = false;  // accepted on root's socket
  };
  // Connections of `uid` still open, those closed since forgotten. mu_ held.
  size_t OpenConnectionsOf(uid_t uid);

  long allow_gid_;
  mutable std::mutex mu_;
  std::map<int, Connection> by_fd_;
  int last_registered_fd_ = -1;
  uint64_t reused_numbers_ = 0;  // Register found a number still recorded for another socket
};

}  // namespace khod

#endif  // KHOD_DAEMON_PEER_AUTH_H_
