#include "daemon/peer_auth.h"

#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {
namespace {

// The peer's supplementary groups as they were when it connected (Linux >= 4.13).
Result<std::vector<gid_t>> PeerGroups(int conn_fd) {
  std::vector<gid_t> groups(16);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(conn_fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) return Status::FromErrno("SO_PEERGROUPS", errno);
    groups.resize(len / sizeof(gid_t) + 1);  // len now says how many there are
  }
  return Status::Internal("SO_PEERGROUPS: the peer's group list kept growing");
}

}  // namespace

Result<gid_t> ParseAllowGid(std::string_view text) {
  const std::string shown = "--allow-gid '" + std::string(text) + "'";
  if (text.empty()) return Status::InvalidArgument(shown + ": a group name or number is needed");
  if (text.find_first_not_of("0123456789") == std::string_view::npos) {
    const std::optional<uint32_t> v = ParseU32(text);
    if (!v || *v == static_cast<gid_t>(-1))
      return Status::InvalidArgument(shown + ": not a group number (0 to 4294967294)");
    return static_cast<gid_t>(*v);
  }
  const std::string name(text);
  std::vector<char> buf(16384);
  struct group g, *found = nullptr;
  int rc;
  while ((rc = ::getgrnam_r(name.c_str(), &g, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20))
    buf.resize(buf.size() * 2);
  if (rc != 0) return Status::FromErrno(shown + ": group lookup", rc);
  if (found == nullptr)
    return Status::InvalidArgument(shown + ": no such group (a group name or number is needed)");
  return g.gr_gid;
}

Status PeerAuth::Register(int conn_fd, bool root_only) {
  struct ucred uc;
  socklen_t len = sizeof(uc);
  if (::getsockopt(conn_fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) != 0)
    return Status::FromErrno("SO_PEERCRED", errno);
  PeerCred c{uc.pid, uc.uid, uc.gid, {}};
  if (uc.uid != 0 && allow_gid_ >= 0) {
    KHOD_ASSIGN_OR_RETURN(c.groups, PeerGroups(conn_fd));
  }
  struct stat st;
  if (::fstat(conn_fd, &st) != 0) return Status::FromErrno("fstat of a connection", errno);
  std::lock_guard<std::mutex> l(mu_);
  auto earlier = by_fd_.find(conn_fd);
  if (earlier != by_fd_.end()) {
    // A closed connection's number, given to this one. The listener's rising
    // numbers (daemon/unix_listener.h) make this rare: logged at the 1st,
    // 2nd, 4th... time.
    if (earlier->second.socket_inode != st.st_ino) {
      const uint64_t n = ++reused_numbers_;
      if ((n & (n - 1)) == 0)
        std::fprintf(stderr,
                     "khod: connection fd %d was still recorded for an earlier connection, "
                     "closed since (%llu numbers reused so far)\n",
                     conn_fd, static_cast<unsigned long long>(n));
    }
    by_fd_.erase(earlier);
  }
  if (uc.uid != 0) {
    const size_t open = OpenConnectionsOf(uc.uid);
    if (open >= kMaxConnectionsPerUser)
      return Status::ResourceExhausted("uid " + std::to_string(uc.uid) + " (pid " +
                                       std::to_string(uc.pid) + ") holds " + std::to_string(open) +
                                       " connections to khod already, the most a user other than "
                                       "root may");
  }
  // An fd number is reused only after its connection closed, and this entry
  // is written before gRPC sees the new connection: the map is always current.
  by_fd_[conn_fd] = Connection{std::move(c), st.st_ino, root_only};
  last_registered_fd_ = conn_fd;
  return Status::Ok();
}

int PeerAuth::last_registered_fd() const {
  std::lock_guard<std::mutex> l(mu_);
  return last_registered_fd_;
}

uint64_t PeerAuth::reused_numbers() const {
  std::lock_guard<std::mutex> l(mu_);
  return reused_numbers_;
}

// gRPC closes a connection without telling khod: one whose fd no longer holds
// the socket registered under it (closed, or its number reused) is gone.
size_t PeerAuth::OpenConnectionsOf(uid_t uid) {
  size_t open = 0;
  for (auto it = by_fd_.begin(); it != by_fd_.end();) {
    struct stat st;
    if (::fstat(it->first, &st) != 0 || st.st_ino != it->second.socket_inode ||
        !S_ISSOCK(st.st_mode)) {
      it = by_fd_.erase(it);
      continue;
    }
    open += it->second.cred.uid == uid;
    ++it;
  }
  return open;
}

Result<PeerCred> PeerAuth::Check(const std::string& peer) const {
  if (peer.rfind("fd:", 0) != 0)
    return Status::PermissionDenied("peer '" + peer + "' did not come through khod's listener");
  // The whole rest must be the connection's fd number: "fd:3x" is no peer.
  const std::optional<int> fd = ParseInt(std::string_view(peer).substr(3));
  if (!fd || *fd < 0)
    return Status::PermissionDenied("peer '" + peer + "' is not 'fd:' and a connection's fd");
  PeerCred c;
  bool root_only = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_fd_.find(*fd);
    if (it == by_fd_.end())
      return Status::PermissionDenied("peer '" + peer + "' has no recorded credentials");
    c = it->second.cred;
    root_only = it->second.root_only;
  }
  if (c.uid == 0) return c;
  if (root_only)
    return Status::PermissionDenied(
        "khod: peer pid " + std::to_string(c.pid) + " uid " + std::to_string(c.uid) + " gid " +
        std::to_string(c.gid) + " called on root's socket, which serves root only" +
        (allow_gid_ >= 0
             ? " (members of gid " + std::to_string(allow_gid_) + " call on the group's socket)"
             : std::string()));
  if (allow_gid_ >= 0) {
    const gid_t allowed = static_cast<gid_t>(allow_gid_);
    if (c.gid == allowed || std::count(c.groups.begin(), c.groups.end(), allowed) > 0) return c;
  }
  return Status::PermissionDenied(
      "khod: peer pid " + std::to_string(c.pid) + " uid " + std::to_string(c.uid) + " gid " +
      std::to_string(c.gid) + " (supplementary groups included) is not allowed (root" +
      (allow_gid_ >= 0 ? " or gid " + std::to_string(allow_gid_) : std::string()) + " only)");
}

}  // namespace khod
