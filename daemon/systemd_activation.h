// khod under systemd, without libsystemd: the two protocols are small and
// stable (sd_listen_fds(3), sd_notify(3)).
//
// Socket activation: systemd (or systemd-socket-activate) opens khod's
// listening socket and passes it as fd 3, with LISTEN_PID set to khod's pid
// and LISTEN_FDS to the number of fds. khod takes exactly one unix stream
// socket that way and then keeps it across its own reexec with --listen-fd,
// like a socket it bound itself.
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

// Which fd the activation variables hand to process `self`: -1 when they are
// absent or meant for another process (LISTEN_PID differs); an error when
// they are malformed or hand khod anything but one fd.
Result<int> ActivatedFd(const char* listen_pid, const char* listen_fds, pid_t self);

// Reads LISTEN_PID/LISTEN_FDS, removes them (and LISTEN_FDNAMES) from the
// environment, and returns the activated listening socket (checked to be a
// listening unix stream socket, made close-on-exec) or -1 when there is none.
Result<int> TakeActivatedSocket();

// Sends `state` ("READY=1\nSTATUS=serving") to $NOTIFY_SOCKET; Ok without
// doing anything when it is unset.
Status NotifyServiceManager(const std::string& state);

// "RELOADING=1\nMONOTONIC_USEC=<now>": what khod sends before a reexec.
std::string ReloadingNotice();

}  // namespace khod

#endif  // KHOD_DAEMON_SYSTEMD_ACTIVATION_H_
