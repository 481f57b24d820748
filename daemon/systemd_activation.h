// khod under systemd, without libsystemd: the two protocols are small and
// stable (sd_listen_fds(3), sd_notify(3)).
//
// Socket activation: systemd (or systemd-socket-activate) opens khod's
// listening sockets and passes them from fd 3 on, with LISTEN_PID set to
// khod's pid, LISTEN_FDS to the number of fds and LISTEN_FDNAMES to their
// names (FileDescriptorName=, colon-separated). khod takes one or two unix
// stream sockets that way: root's (khod.socket, FileDescriptorName=root; with
// one fd its name is not read) and, with --allow-gid, the group's
// (khod-group.socket, FileDescriptorName=group). It keeps them across its own
// reexec with --listen-fd and --group-listen-fd, like sockets it bound itself.
//
// Readiness (Type=notify): khod sends datagrams to the unix socket named by
// $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace):
//   READY=1 + STATUS=...          once it serves (again after every reexec:
//                                 the pid stays the same across exec, so the
//                                 new khod is still the unit's main process)
//   RELOADING=1 + MONOTONIC_USEC  just before a reexec handover: systemd sees
//                                 a reload, not a crash, until the next READY=1
//   STOPPING=1                    when it stops on SIGTERM/SIGINT
// Without $NOTIFY_SOCKET nothing is sent. NOTIFY_SOCKET stays in khod's
// environment (a re-executed khod notifies too); LISTEN_* are removed once
// taken, so no child sees them.
#ifndef KHOD_DAEMON_SYSTEMD_ACTIVATION_H_
#define KHOD_DAEMON_SYSTEMD_ACTIVATION_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace khod {

// The first fd systemd passes (SD_LISTEN_FDS_START).
constexpr int kFirstActivatedFd = 3;

// The FileDescriptorName= of the group's socket (khod-group.socket).
constexpr const char* kGroupSocketFdName = "group";

// The fds socket activation handed khod; -1: none.
struct ActivatedSockets {
  int root = -1;   // root's socket
  int group = -1;  // the --allow-gid group's socket
};

// Which fds the activation variables hand to process `self` (listen_fdnames
// may be null): none when they are absent or meant for another process
// (LISTEN_PID differs). One fd is root's unless it is named "group"; of two,
// the one named "group" is the group's and the other root's. An error when
// they are malformed, hand khod more than two fds, or two that the names do
// not tell apart.
Result<ActivatedSockets> ActivatedFds(const char* listen_pid, const char* listen_fds,
                                      const char* listen_fdnames, pid_t self);

// Reads LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES, removes them from the
// environment, and returns the activated listening sockets (each checked to
// be a listening unix stream socket, made close-on-exec).
Result<ActivatedSockets> TakeActivatedSockets();

// Sends `state` ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET; Ok without
// doing anything when it is unset.
Status NotifyServiceManager(const std::string& state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": what khod sends before a reexec.
std::string ReloadingNotice();

}  // namespace khod

#endif  // KHOD_DAEMON_SYSTEMD_ACTIVATION_H_
