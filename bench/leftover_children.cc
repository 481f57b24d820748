#include "bench/leftover_children.h"

#include <dirent.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace khod {

bool AdoptOrphanedDescendants() { return ::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }

std::set<pid_t> ChildrenNow() {
  std::set<pid_t> children;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return children;
  while (const dirent* e = ::readdir(tasks)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/children");
    for (pid_t pid = 0; f >> pid;) children.insert(pid);
  }
  ::closedir(tasks);
  return children;
}

double ReapChildrenBut(const std::set<pid_t>& keep, std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    bool left = false;
    for (pid_t pid : ChildrenNow()) {
      if (keep.count(pid) != 0) continue;
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG | __WALL) == 0) left = true;
    }
    const auto waited = std::chrono::steady_clock::now() - start;
    const double ms = std::chrono::duration<double, std::milli>(waited).count();
    if (!left) return ms;
    if (waited > limit) return -ms;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace khod
