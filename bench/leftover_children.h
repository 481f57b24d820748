// What one bench run leaves running after khod has exited: the processes
// khod made (its mapping holder, its PTE keeper) die with it, but the
// kernel tears their address spaces down after khod's wait returned. A run
// started then shares the CPUs with that teardown, which no live update has
// (there is one). The bench is their subreaper, and each run waits for the
// previous one's to be gone.
#ifndef KHOD_BENCH_LEFTOVER_CHILDREN_H_
#define KHOD_BENCH_LEFTOVER_CHILDREN_H_

#include <sys/types.h>

#include <chrono>
#include <set>

namespace khod {

// Orphaned descendants of this process's children are re-parented to this
// process (PR_SET_CHILD_SUBREAPER), so ReapChildrenBut can wait for them.
// False if the kernel refused.
bool AdoptOrphanedDescendants();

// This process's children now (every thread's, /proc/self/task/*/children).
std::set<pid_t> ChildrenNow();

// Waits until every child of this process but those in `keep` has exited,
// reaping them (an exited process's address space is torn down before it
// can be reaped); gives up after `limit`. Returns the milliseconds waited,
// or a negative number if some were still running at `limit`.
double ReapChildrenBut(const std::set<pid_t>& keep, std::chrono::milliseconds limit);

}  // namespace khod

#endif  // KHOD_BENCH_LEFTOVER_CHILDREN_H_
