#include "khoctl/live_capture.h"

#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include "capture/snapshot_capture.h"
#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {

Result<std::vector<int>> ExtractFdFlags(Args* args) {
  std::vector<int> fds;
  Args rest;
  for (size_t i = 0; i < args->size(); ++i) {
    const std::string& a = (*args)[i];
    std::string value;
    if (a == "--fd") {
      if (i + 1 >= args->size()) return Status::InvalidArgument("--fd needs a number");
      value = (*args)[++i];
    } else if (a.rfind("--fd=", 0) == 0) {
      value = a.substr(5);
    } else {
      rest.push_back(a);
      continue;
    }
    const std::optional<uint64_t> fd = ParseU64InRange(value, 0, 1 << 20);
    if (!fd) return Status::InvalidArgument("--fd '" + value + "' is not an fd number");
    fds.push_back(static_cast<int>(*fd));
  }
  *args = std::move(rest);
  return fds;
}

Result<pid_t> PidFlag(const ParsedFlags& flags) {
  if (!flags.Has("--pid")) return Status::InvalidArgument("missing --pid P");
  KHOD_ASSIGN_OR_RETURN(uint64_t pid, flags.GetUint("--pid", 0));
  if (pid == 0 || pid > INT_MAX)
    return Status::InvalidArgument("--pid " + std::to_string(pid) + " is not a process id");
  return static_cast<pid_t>(pid);
}

Result<v1::VmmDeclaration> LoadDeclarations(const std::string& memslots,
                                            const std::string& attributes) {
  v1::VmmDeclaration decl;
  if (!memslots.empty()) KHOD_RETURN_IF_ERROR(LoadVmmDeclaration(memslots, &decl));
  if (!attributes.empty()) KHOD_RETURN_IF_ERROR(LoadVmmDeclaration(attributes, &decl));
  return decl;
}

Result<Snapshot> CaptureLive(pid_t pid, const std::vector<int>& fds, const v1::VmmDeclaration& decl,
                             bool hash) {
  KHOD_ASSIGN_OR_RETURN(auto files, OpenVmmFiles(pid, fds, decl));
  CaptureOptions opts;
  opts.hash_contents = hash;
  const bool tty = ::isatty(2);
  int last_percent = -1;
  if (tty) {
    opts.progress = [&](uint64_t done, uint64_t total) {
      const int percent = total ? static_cast<int>(done * 100 / total) : 100;
      if (percent == last_percent) return;
      last_percent = percent;
      std::fprintf(stderr, "\rcapturing: %3d%% (%llu of %llu pages)", percent,
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total));
    };
  }
  auto snap = CaptureSnapshot(files, decl, opts);
  if (tty && last_percent >= 0) std::fprintf(stderr, "\n");
  return snap;
}

}  // namespace khod
