#include "daemon/peer_auth.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>

namespace khod {

Status PeerAuth::Register(int conn_fd) {
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (::getsockopt(conn_fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
    return Status::FromErrno("SO_PEERCRED", errno);
  std::lock_guard<std::mutex> l(mu_);
  // An fd number is reused only after its connection closed, and this entry
  // is written before gRPC sees the new connection: the map is always current.
  by_fd_[conn_fd] = PeerCred{uc.pid, uc.uid, uc.gid};
  return Status::Ok();
}

Status PeerAuth::Check(const std::string& peer) const {
  if (peer.rfind("fd:", 0) != 0)
    return Status::PermissionDenied("peer '" + peer + "' did not come through khod's listener");
  int fd = std::atoi(peer.c_str() + 3);
  PeerCred c;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_fd_.find(fd);
    if (it == by_fd_.end())
      return Status::PermissionDenied("peer '" + peer + "' has no recorded credentials");
    c = it->second;
  }
  if (c.uid == 0) return Status::Ok();
  if (allow_gid_ >= 0 && static_cast<long>(c.gid) == allow_gid_) return Status::Ok();
  return Status::PermissionDenied(
      "khod: peer pid " + std::to_string(c.pid) + " uid " + std::to_string(c.uid) + " gid " +
      std::to_string(c.gid) + " is not allowed (root" +
      (allow_gid_ >= 0 ? " or gid " + std::to_string(allow_gid_) : std::string()) + " only)");
}

}  // namespace khod
