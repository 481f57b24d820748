#include "kernel/proc_stat.h"

#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/status_macros.h"

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
  if (!text.ok()) return Status::NotFound("pid " + std::to_string(pid) + " does not exist");
  Result<ProcStat> s = ParseProcStat(*text);
  if (!s.ok()) return Status::Corruption("cannot parse " + path);
  return s;
}

Status CheckOwnLiveChild(pid_t pid, const char* what) {
  if (pid <= 0) return Status::InvalidArgument(std::string(what) + " pid " + std::to_string(pid));
  Result<ProcStat> s = ReadProcStat(pid);
  if (!s.ok() && s.status().code() == Status::Code::kNotFound)
    return Status::NotFound(std::string(what) + " pid " + std::to_string(pid) + " does not exist");
  KHOD_RETURN_IF_ERROR(s.status());
  if (s->ppid != ::getpid())
    return Status::FailedPrecondition("pid " + std::to_string(pid) + " is not a " + what +
                                      " of this khod (its parent is " + std::to_string(s->ppid) +
                                      ", not " + std::to_string(::getpid()) + ")");
  if (s->state == 'Z') {
    ::waitpid(pid, nullptr, WNOHANG);
    return Status::NotFound(std::string(what) + " pid " + std::to_string(pid) + " has exited");
  }
  return Status::Ok();
}

}  // namespace khod
