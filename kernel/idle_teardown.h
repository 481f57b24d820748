// Teardown at idle priority: a helper process khod ends (the mapping holder
// that kept the old khod's address space across exec, the PTE keeper that
// mapped every guest page) frees an address space the size of the guests as
// it exits (docs/PERFORMANCE.md has what that costs). Its exit runs in its own
// context, so it is given SCHED_IDLE first: the teardown then takes CPU time
// nothing else wants, instead of competing with the reply of the call that
// ended it (Verify's, at the end of the blackout) and with the guests just
// resumed.
#ifndef KHOD_KERNEL_IDLE_TEARDOWN_H_
#define KHOD_KERNEL_IDLE_TEARDOWN_H_

#include <sys/types.h>

namespace khod {

// Gives thread `tid` (a single-threaded helper's pid) SCHED_IDLE; false
// where the kernel refuses (the process is gone, or not ours): it is only
// slower then.
bool SetIdleScheduling(pid_t tid);

}  // namespace khod

#endif  // KHOD_KERNEL_IDLE_TEARDOWN_H_
