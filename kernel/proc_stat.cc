#include "kernel/proc_stat.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <optional>
#include <string>

#include "common/file_read.h"
#include "common/numbers.h"

namespace khod {

Result<ProcStat> ParseProcStat(std::string_view line) {
  const size_t close = line.rfind(')');
  // ") S PPID ...": the state letter and the parent's pid, a whole field.
  const std::string_view after =
      close == std::string_view::npos ? std::string_view() : line.substr(close + 1);
  const std::optional<int> ppid = after.size() >= 4 && after[0] == ' ' && after[2] == ' '
                                      ? ParseInt(after.substr(3, after.find(' ', 3) - 3))
                                      : std::nullopt;
  if (!ppid) return Status::Corruption("cannot parse a /proc/PID/stat line");
  ProcStat s;
  s.state = after[1];
  s.ppid = *ppid;
  return s;
}

Result<ProcStat> ReadProcStat(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  FileReadOptions o;
  o.max_bytes = 64 << 10;
  o.too_large_why = "not a /proc/PID/stat";
  Result<std::string> text = ReadWholeFile(path, o);
  // Gone: no file, or a process that exited between the open and the read
  // (ESRCH). EMFILE and the like say nothing of it, and are named as they are.
  if (!text.ok() &&
      (text.status().code() == Status::Code::kNotFound || (::kill(pid, 0) != 0 && errno == ESRCH)))
    return Status::NotFound("pid " + std::to_string(pid) + " does not exist");
  if (!text.ok()) return text.status();
  Result<ProcStat> s = ParseProcStat(*text);
  if (!s.ok()) return Status::Corruption("cannot parse " + path);
  return s;
}

Status CheckOwnLiveChild(pid_t pid, const char* what) {
  const std::string name = std::string(what) + " pid " + std::to_string(pid);
  if (pid <= 0) return Status::InvalidArgument(name);
  // No fd: a full fd table (EMFILE, ENFILE) cannot fail the check and leave
  // a live child, holding every guest mapping, neither adopted nor killed.
  // __WALL: the child's exit signal may not be SIGCHLD. WNOWAIT: a live
  // child's state is not consumed; an exited one is reaped below.
  siginfo_t info;
  for (;;) {
    std::memset(&info, 0, sizeof(info));
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) == 0)
      break;
    const int err = errno;
    if (err == EINTR) continue;
    if (err != ECHILD) return Status::FromErrno("waitid(" + name + ")", err);
    // Not a child of this process (or no process at all). The parent, only
    // when /proc says (best effort: this read needs an fd).
    std::string parent;
    const Result<ProcStat> s = ReadProcStat(pid);
    if (s.ok())
      parent = " (its parent is " + std::to_string(s->ppid) + ", not " +
               std::to_string(::getpid()) + ")";
    else if (s.status().code() == Status::Code::kNotFound)
      parent = " (no such process)";
    return Status::FailedPrecondition("pid " + std::to_string(pid) + " is not a " + what +
                                      " of this khod" + parent);
  }
  if (info.si_pid == pid) {
    // A zombie: no one else waits for a child this process was handed.
    ::waitpid(pid, nullptr, WNOHANG | __WALL);
    return Status::NotFound(name + " has exited");
  }
  return Status::Ok();
}

}  // namespace khod
