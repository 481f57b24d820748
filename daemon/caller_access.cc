#include "daemon/caller_access.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "common/numbers.h"
#include "common/status_macros.h"
#include "common/text_lines.h"
#include "common/unique_fd.h"
#include "kernel/pidfd.h"

namespace khod {
namespace {

// "Uid:" / "Gid:" of /proc/PID/status: real, effective, saved, filesystem.
// Exactly four numbers separated by white space, nothing else on the line.
bool ReadIds(const std::string& status, const char* key, uint64_t ids[4]) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) != 0) continue;
    std::istringstream fields(line.substr(std::string(key).size()));
    std::string field;
    int n = 0;
    while (fields >> field) {
      const std::optional<uint64_t> v = n < 4 ? ParseU64(field) : std::nullopt;
      if (!v) return false;
      ids[n++] = *v;
    }
    return n == 4;
  }
  return false;
}

// "CapPrm:" of /proc/PID/status: the permitted capabilities, one hex number.
std::optional<uint64_t> ReadPermittedCaps(const std::string& status) {
  std::optional<uint64_t> caps;
  (void)ForEachLine(status, [&caps](std::string_view line) {
    if (const std::optional<std::string_view> v = FieldValue(line, "CapPrm:"))
      caps = ParseHexU64(*v);
    return Status::Ok();
  });
  return caps;
}

Status Refuse(const PeerCred& c, pid_t pid, const std::string& what, const std::string& why) {
  return Status::PermissionDenied("caller uid " + std::to_string(c.uid) + " gid " +
                                  std::to_string(c.gid) + " may not have khod take " + what +
                                  " of pid " + std::to_string(pid) + ": " + why +
                                  " (a caller other than root names only processes it could "
                                  "ptrace itself)");
}

}  // namespace

Status WithCallerAccess(const PeerCred& caller, pid_t pid, const std::string& what,
                        const std::function<Status()>& take) {
  if (caller.is_root()) return take();
  // Opened before the check: the process checked is the one the pidfd names.
  KHOD_ASSIGN_OR_RETURN(const UniqueFd pidfd, OpenPidfd(pid));
  const std::string proc = "/proc/" + std::to_string(pid);
  // The process's credentials as the kernel's ptrace check would see them.
  // Checked before the take and again after it: a process that changed in
  // between (a setuid program exec'd, made non-dumpable) is refused, and
  // what was taken is dropped by the caller.
  const auto check = [&]() -> Status {
    std::ifstream f(proc + "/status");
    std::stringstream text;
    text << f.rdbuf();
    uint64_t uids[4], gids[4];
    if (!ReadIds(text.str(), "Uid:", uids) || !ReadIds(text.str(), "Gid:", gids))
      return Refuse(caller, pid, what, "its credentials cannot be read");
    for (int i = 0; i < 3; ++i) {
      if (uids[i] != caller.uid)
        return Refuse(caller, pid, what, "it runs as uid " + std::to_string(uids[i]));
      if (gids[i] != caller.gid)
        return Refuse(caller, pid, what, "it runs as gid " + std::to_string(gids[i]));
    }
    // ptrace also needs every capability the target may use to be the
    // caller's too; khod credits a caller other than root with none.
    const std::optional<uint64_t> caps = ReadPermittedCaps(text.str());
    if (!caps) return Refuse(caller, pid, what, "its capabilities cannot be read");
    if (*caps != 0) {
      char hex[32];
      std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(*caps));
      return Refuse(caller, pid, what, std::string("it holds capabilities (CapPrm ") + hex + ")");
    }
    // The kernel shows a non-dumpable process's /proc/PID files as root's.
    struct stat st;
    if (::stat((proc + "/status").c_str(), &st) != 0 || st.st_uid != caller.uid)
      return Refuse(caller, pid, what, "it is not dumpable");
    return Status::Ok();
  };
  KHOD_RETURN_IF_ERROR(check());
  // A failed take is judged like a successful one: its error names what it
  // found (the file's path, its kind), which is not the caller's to learn of
  // a process that is no longer the one checked.
  const Status taken = take();
  // The process checked above still holds `pid` (it was not reused), and
  // still runs with the credentials checked.
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), 0, nullptr, 0) != 0)
    return Refuse(caller, pid, what, "it exited while its credentials were checked");
  Status after = check();
  if (!after.ok()) return after.WithContext("its credentials changed while its file was taken");
  return taken;
}

}  // namespace khod
