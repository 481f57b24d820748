#include "kernel/child_reaper.h"

#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>
#include <thread>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {
namespace {

std::mutex g_mu;
std::vector<pid_t>* g_not_yet_reaped = nullptr;  // never freed: detached threads use it

std::vector<pid_t>& NotYetReaped() {
  if (g_not_yet_reaped == nullptr) g_not_yet_reaped = new std::vector<pid_t>();
  return *g_not_yet_reaped;
}

}  // namespace

void ReapWhenItExits(pid_t pid) {
  if (pid <= 0) return;
  {
    std::lock_guard<std::mutex> l(g_mu);
    NotYetReaped().push_back(pid);
  }
  // Reaped first and unlisted after, never the other way: an exec in between
  // names a pid already free (which the next program passes over), never
  // leaves a zombie no one names.
  std::thread([pid] {
    while (::waitpid(pid, nullptr, __WALL) < 0 && errno == EINTR) {
    }
    std::lock_guard<std::mutex> l(g_mu);
    std::vector<pid_t>& v = NotYetReaped();
    v.erase(std::find(v.begin(), v.end(), pid));
  }).detach();
}

std::vector<pid_t> ChildrenNotYetReaped() {
  std::lock_guard<std::mutex> l(g_mu);
  return NotYetReaped();
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
  std::vector<pid_t> pids;
  for (size_t at = 0; at <= value.size();) {
    const size_t comma = std::min(value.find(',', at), value.size());
    KHOD_ASSIGN_OR_RETURN(uint64_t pid,
                          ParseU64Named(value.substr(at, comma - at), "--reap pid", 1, INT_MAX));
    pids.push_back(static_cast<pid_t>(pid));
    at = comma + 1;
  }
  return pids;
}

std::string ReapHandedOn(const std::vector<pid_t>& pids, const std::vector<pid_t>& kept) {
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
