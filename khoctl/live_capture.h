// What `khoctl capture` and `khoctl verify` share: the repeatable --fd flag,
// the VMM declaration files, and a capture with a progress line on a terminal.
#ifndef KHOD_KHOCTL_LIVE_CAPTURE_H_
#define KHOD_KHOCTL_LIVE_CAPTURE_H_

#include <sys/types.h>

#include <vector>

#include "capture/vmm_declaration.h"
#include "common/status.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "state/snapshot.h"

namespace khod {

// Removes every "--fd N" / "--fd=N" from `args` (the flag repeats, which the
// common flag parser refuses) and returns the fd numbers in order.
Result<std::vector<int>> ExtractFdFlags(Args* args);

// The --pid value: a process id (1..INT_MAX). 0 would mean khoctl itself and a
// larger number would wrap to another process, so both are refused.
Result<pid_t> PidFlag(const ParsedFlags& flags);

// Loads --memslots and --attributes files (either may be empty) into one declaration.
Result<v1::VmmDeclaration> LoadDeclarations(const std::string& memslots,
                                            const std::string& attributes);

// Captures `fds` of `pid` with `decl`; shows progress on stderr when it is a terminal.
Result<Snapshot> CaptureLive(pid_t pid, const std::vector<int>& fds, const v1::VmmDeclaration& decl,
                             bool hash);

}  // namespace khod

#endif  // KHOD_KHOCTL_LIVE_CAPTURE_H_
