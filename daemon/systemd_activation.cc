#include "daemon/systemd_activation.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {

namespace {

Result<uint64_t> ParseEnvNumber(const char* name, const char* text) {
  const std::optional<uint64_t> v = ParseU64(text);
  if (!v) return Status::InvalidArgument(std::string(name) + "='" + text + "' is not a number");
  return *v;
}

}  // namespace

Result<ActivatedSockets> ActivatedFds(const char* listen_pid, const char* listen_fds,
                                      const char* listen_fdnames, pid_t self) {
  ActivatedSockets got;
  if (!listen_pid || !listen_fds) return got;
  KHOD_ASSIGN_OR_RETURN(uint64_t pid, ParseEnvNumber("LISTEN_PID", listen_pid));
  if (pid != static_cast<uint64_t>(self)) return got;  // meant for a process we came from
  KHOD_ASSIGN_OR_RETURN(uint64_t n, ParseEnvNumber("LISTEN_FDS", listen_fds));
  if (n < 1 || n > 2)
    return Status::InvalidArgument(
        "socket activation passed " + std::to_string(n) +
        " fds; khod listens on root's socket and, with --allow-gid, the group's (one or two)");
  std::vector<std::string> names;
  if (listen_fdnames) {
    std::string_view rest(listen_fdnames);
    for (;;) {
      const size_t colon = rest.find(':');
      names.emplace_back(rest.substr(0, colon));
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  const auto is_group = [&](uint64_t i) {
    return i < names.size() && names[i] == kGroupSocketFdName;
  };
  if (n == 1) {
    (is_group(0) ? got.group : got.root) = kFirstActivatedFd;
  } else {
    if (names.size() != n || is_group(0) == is_group(1))
      return Status::InvalidArgument(
          std::string("socket activation passed 2 fds named '") +
          (listen_fdnames ? listen_fdnames : "") +
          "': one must be the group's (FileDescriptorName=group, khod-group.socket), the other "
          "root's");
    got.group = kFirstActivatedFd + (is_group(0) ? 0 : 1);
    got.root = kFirstActivatedFd + (is_group(0) ? 1 : 0);
  }
  if (got.root < 0)
    return Status::InvalidArgument(
        "socket activation passed the group's socket (FileDescriptorName=group) without root's "
        "(khod.socket)");
  return got;
}

namespace {

// A listening unix stream socket, made close-on-exec.
Status CheckActivated(int fd, const char* whose) {
  const std::string what =
      std::string("socket activation: fd ") + std::to_string(fd) + " (" + whose + "'s socket)";
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof(int);
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    return Status::FromErrno(what, errno);
  len = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
  len = sizeof(int);
  ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (domain != AF_UNIX || type != SOCK_STREAM || !listening)
    return Status::InvalidArgument(what +
                                   " is not a listening unix stream socket (ListenStream=PATH)");
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  return Status::Ok();
}

}  // namespace

Result<ActivatedSockets> TakeActivatedSockets() {
  Result<ActivatedSockets> fds = ActivatedFds(std::getenv("LISTEN_PID"), std::getenv("LISTEN_FDS"),
                                              std::getenv("LISTEN_FDNAMES"), ::getpid());
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!fds.ok()) return fds;
  if (fds->root >= 0) KHOD_RETURN_IF_ERROR(CheckActivated(fds->root, "root"));
  if (fds->group >= 0) KHOD_RETURN_IF_ERROR(CheckActivated(fds->group, "the group"));
  return fds;
}

Status NotifyServiceManager(const std::string& state) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (!path || !*path) return Status::Ok();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const size_t n = std::strlen(path);
  if ((path[0] != '/' && path[0] != '@') || n >= sizeof(addr.sun_path))
    return Status::InvalidArgument(std::string("NOTIFY_SOCKET='") + path +
                                   "' is neither an absolute path nor @abstract");
  std::memcpy(addr.sun_path, path, n);
  if (path[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("notify socket", errno);
  ssize_t sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                          reinterpret_cast<sockaddr*>(&addr), addr_len);
  int err = errno;
  ::close(fd);
  if (sent != static_cast<ssize_t>(state.size()))
    return Status::FromErrno(std::string("notify ") + path, sent < 0 ? err : EMSGSIZE);
  return Status::Ok();
}

std::string ReloadingNotice() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const uint64_t usec =
      static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace khod
