// The reaping of the children khod lets go of (a mapping holder killed, a PTE keeper told to
// exit), across khod's own reexecs.
//
// A child let go of is reaped by a thread of its own that waits for its exit, which can take
// a while: the exit tears down every page table the child kept. An exec ends that thread with
// the rest of the process, but not the child: it stays a child of the program the exec starts
// (exec keeps the pid), and one that exits after the exec would stay a zombie of it for as long
// as that program runs, since nothing there knows to wait for it. So the children not yet
// reaped are named to the program an exec starts (khod's --reap flag), which waits for them in
// turn (ReapHandedOn).
#ifndef KHOD_KERNEL_CHILD_REAPER_H_
#define KHOD_KERNEL_CHILD_REAPER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/status.h"

namespace khod {

// Reaps child `pid` once it exits, on a thread of its own, and names it in
// ChildrenNotYetReaped until then. For a child this process has already told to end.
// Where no thread can be started, it is reaped at once if it has exited, else it stays
// named (the program a later exec starts waits for it).
void ReapWhenItExits(pid_t pid);

// The children given to ReapWhenItExits that are not reaped yet, in the order given. A pid
// leaves this list only once it is reaped, so a pid listed may already be free (and reused
// by another process) for a moment: ReapHandedOn waits only for its own children, and a
// caller passes over the pids it knows to be children it keeps.
std::vector<pid_t> ChildrenNotYetReaped();

// The --reap flag's value for `pids`: "PID,PID,...".
std::string ReapArgument(const std::vector<pid_t>& pids);

// The pids of a --reap value: positive decimal pids, comma-separated; InvalidArgument naming
// the part that is not one.
Result<std::vector<pid_t>> ParseReapArgument(const std::string& value);

// In the program an exec started: ReapWhenItExits for each pid of `pids` (once, however often
// named) that is a child of this process, except those of `kept` (the pids it was told are
// children it adopts and goes on using: a listed pid may have been freed and given to one of
// them before the exec). A pid that is not its child (reaped before the exec, or never its) is
// passed over. Signals none. Returns a line for the log: "waits for N children the previous
// khod let go of" and the pids passed over.
std::string ReapHandedOn(std::vector<pid_t> pids, const std::vector<pid_t>& kept);

}  // namespace khod

#endif  // KHOD_KERNEL_CHILD_REAPER_H_
