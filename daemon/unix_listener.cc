#include "daemon/unix_listener.h"

#include <fcntl.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "common/safe_file.h"
#include "common/status_macros.h"

namespace khod {
namespace {

// The next number MoveToFreshFd tries, for both listeners (root's and the group's).
std::mutex next_fd_mu;
int next_fd = kFirstConnectionFd;

}  // namespace

int UnixListener::MoveToFreshFd(int conn) {
  rlimit l;
  const rlim_t limit =
      ::getrlimit(RLIMIT_NOFILE, &l) != 0 ? 0 : std::min<rlim_t>(l.rlim_cur, INT_MAX);
  std::lock_guard<std::mutex> lock(next_fd_mu);
  if (static_cast<rlim_t>(next_fd) >= limit) next_fd = kFirstConnectionFd;
  // The lowest free number from next_fd on; when none is free up to the
  // limit (EMFILE), the lowest free one from the floor on.
  int moved = ::fcntl(conn, F_DUPFD_CLOEXEC, next_fd);
  if (moved < 0 && next_fd > kFirstConnectionFd)
    moved = ::fcntl(conn, F_DUPFD_CLOEXEC, kFirstConnectionFd);
  // None free above the floor (or the limit at or below it: EINVAL): the
  // connection keeps the number accept gave it, the lowest free one, which
  // may be that of a connection just closed (PeerAuth::Register logs it).
  if (moved < 0) return conn;
  ::close(conn);
  next_fd = moved + 1;
  return moved;
}

Result<int> UnixListener::Bind(const std::string& path, long allow_gid, int inherited_fd) {
  if (inherited_fd >= 0) {
    int type = 0;
    socklen_t len = sizeof(type);
    if (::getsockopt(inherited_fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
      return Status::FromErrno("--listen-fd " + std::to_string(inherited_fd), errno);
    ::fcntl(inherited_fd, F_SETFD, FD_CLOEXEC);
    return inherited_fd;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Status::InvalidArgument("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  // Its directory is checked as the state dir is (common/safe_file.h): one
  // another user may write into could have the socket replaced. 0755, so
  // that --allow-gid members reach the socket in it.
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  Result<SafeDir> checked = SafeDir::Open(dir, 0755);
  if (!checked.ok()) return checked.status().WithContext("the socket's directory");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("socket", errno);
  // Only a stale socket is replaced: never another kind of file, never a
  // socket someone still answers on (another khod, whatever its state dir).
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      ::close(fd);
      return Status::FailedPrecondition(path +
                                        " exists and is not a socket: khod replaces only "
                                        "a stale socket, so it does not start");
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      ::close(fd);
      return Status::FailedPrecondition("another khod serves " + path +
                                        ": this one does not start (its socket stays)");
    }
    ::unlink(path.c_str());  // a stale socket of a previous khod
  } else if (errno != ENOENT) {
    const int err = errno;
    ::close(fd);
    return Status::FromErrno("stat " + path, err);
  }
  // Created with its final mode (0600, or 0660 with --allow-gid) by the umask,
  // so that nothing changes the path's mode after bind (a chmod would follow a
  // symlink put in its place); its group is set by lchown, which does not
  // follow one. Who may call is checked on every connection (peer_auth.h):
  // the mode is a second fence.
  mode_t old = ::umask(allow_gid >= 0 ? 0117 : 0177);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::umask(old);
  if (rc != 0) {
    ::close(fd);
    return Status::FromErrno("bind " + path, err);
  }
  if (allow_gid >= 0 && ::lchown(path.c_str(), 0, static_cast<gid_t>(allow_gid)) != 0) {
    err = errno;
    ::close(fd);
    return Status::FromErrno("lchown " + path, err);
  }
  if (::listen(fd, 256) != 0) {
    err = errno;
    ::close(fd);
    return Status::FromErrno("listen " + path, err);
  }
  return fd;
}

std::string UnixListener::WarnUnlessRootOnly(int listen_fd) {
  sockaddr_un addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
      len <= offsetof(sockaddr_un, sun_path) || addr.sun_path[0] == '\0')
    return "";  // unnamed or abstract: no file, no mode
  const std::string path(addr.sun_path, strnlen(addr.sun_path, sizeof(addr.sun_path)));
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISSOCK(st.st_mode)) return "";
  // connect() needs write permission on the file.
  if (st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return "root's socket " + path + " is mode " + mode + ", owner uid " + std::to_string(st.st_uid) +
         " group " + std::to_string(st.st_gid) +
         ": whoever may connect to it may keep its backlog full and root's calls out; make it "
         "root's, 0600 (khod.socket: SocketMode=0600, no SocketGroup=), and give --allow-gid "
         "its own socket (khod-group.socket; docs/OPERATIONS.md)";
}

UnixListener::UnixListener(int listen_fd, PeerAuth* auth, bool root_only)
    : fd_(listen_fd),
      auth_(auth),
      root_only_(root_only),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

UnixListener::~UnixListener() {
  Stop();
  if (wake_ >= 0) ::close(wake_);
}

void UnixListener::Start(grpc::Server* server) {
  uint64_t drained;
  if (wake_ >= 0 && ::read(wake_, &drained, sizeof(drained)) < 0) {
    // EAGAIN: not woken since the last Start.
  }
  stop_ = false;
  thread_ = std::thread([this, server] { Loop(server); });
}

void UnixListener::Stop() {
  stop_ = true;
  const uint64_t one = 1;
  if (wake_ >= 0 && ::write(wake_, &one, sizeof(one)) < 0) {
    // Full counter: the loop is being woken anyway.
  }
  if (thread_.joinable()) thread_.join();
}

void UnixListener::WaitUnlessStopped(int ms) {
  if (wake_ >= 0) {
    pollfd w = {wake_, POLLIN, 0};
    ::poll(&w, 1, ms);
    return;
  }
  for (int waited = 0; waited < ms && !stop_; waited += 10) ::usleep(10 * 1000);
}

void UnixListener::Loop(grpc::Server* server) {
  int backoff_ms = 0;  // 0: not backing off
  while (!stop_) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
    // Without an eventfd (EMFILE at construction) Stop() is noticed within 10 ms.
    int n = ::poll(p, wake_ >= 0 ? 2 : 1, wake_ >= 0 ? -1 : 10);
    if (n <= 0 || stop_ || !(p[0].revents & POLLIN)) continue;
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    ++accept_calls_;
    if (c < 0) {
      const int err = errno;
      // The connection stays pending, so poll says readable at once again:
      // without a wait this loop would spin until an fd is free.
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        if (backoff_ms == 0)
          std::fprintf(stderr, "khod: accept: %s; retrying every %d ms at most until it succeeds\n",
                       std::strerror(err), kMaxAcceptBackoffMs);
        backoff_ms = backoff_ms == 0 ? 10 : std::min(2 * backoff_ms, kMaxAcceptBackoffMs);
        WaitUnlessStopped(backoff_ms);
      }
      continue;
    }
    if (backoff_ms != 0) {
      std::fprintf(stderr, "khod: accept works again\n");
      backoff_ms = 0;
    }
    c = MoveToFreshFd(c);
    Status s = auth_->Register(c, root_only_);
    if (!s.ok()) {
      ::close(c);
      // A flood of them is logged at the 1st, 2nd, 4th, 8th... drop, not each.
      const uint64_t n = ++dropped_;
      if ((n & (n - 1)) == 0)
        std::fprintf(stderr, "khod: dropping connection (%llu dropped so far): %s\n",
                     static_cast<unsigned long long>(n), s.ToString().c_str());
      continue;
    }
    grpc::AddInsecureChannelFromFd(server, c);
  }
}

}  // namespace khod
