#include "kernel/child_reaper.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {
namespace {

// The pids given to ReapWhenItExits and not reaped yet. Never freed: a
// detached thread may still use it while the process exits.
struct Registry {
  std::mutex mu;
  std::vector<pid_t> not_yet_reaped;
};

Registry& TheRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

void Unlist(pid_t pid) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> l(r.mu);
  const auto it = std::find(r.not_yet_reaped.begin(), r.not_yet_reaped.end(), pid);
  if (it != r.not_yet_reaped.end()) r.not_yet_reaped.erase(it);
}

}  // namespace

void ReapWhenItExits(pid_t pid) {
  if (pid <= 0) return;
  Registry& r = TheRegistry();
  {
    std::lock_guard<std::mutex> l(r.mu);
    r.not_yet_reaped.push_back(pid);
  }
  // Reaped first and unlisted after, never the other way: an exec in between
  // names a pid already free (which the next program passes over), never
  // leaves a zombie no one names.
  try {
    std::thread([pid] {
      while (::waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
      }
      Unlist(pid);
    }).detach();
  } catch (const std::system_error&) {
    // No thread to wait with (a thread limit): reaped now if it has already
    // exited; else it stays listed, for the program a later exec starts.
    if (::waitpid(pid, nullptr, WNOHANG | __WALL) == pid) Unlist(pid);
  }
}

std::vector<pid_t> ChildrenNotYetReaped() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> l(r.mu);
  return r.not_yet_reaped;
}

std::string ReapArgument(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t pid : pids) {
    if (!out.empty()) out += ',';
    out += std::to_string(pid);
  }
  return out;
}

Result<std::vector<pid_t>> ParseReapArgument(const std::string& value) {
  KHOD_ASSIGN_OR_RETURN(const std::vector<uint64_t> values,
                        ParseU64ListNamed(value, "--reap pid", 1, INT_MAX));
  return std::vector<pid_t>(values.begin(), values.end());
}

std::string ReapHandedOn(std::vector<pid_t> pids, const std::vector<pid_t>& kept) {
  // One wait for a pid named twice (a hand-written flag, or a stale list).
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  size_t waits = 0;
  std::string passed_over;
  for (pid_t pid : pids) {
    if (std::find(kept.begin(), kept.end(), pid) != kept.end()) continue;
    siginfo_t info;
    std::memset(&info, 0, sizeof(info));
    int r;
    do {
      r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      passed_over += (passed_over.empty() ? "" : ",") + std::to_string(pid);
      continue;
    }
    ReapWhenItExits(pid);
    ++waits;
  }
  std::string said = "waits for " + std::to_string(waits) + " children the previous khod let go of";
  if (!passed_over.empty()) said += " (not children of this khod: " + passed_over + ")";
  return said;
}

}  // namespace khod
