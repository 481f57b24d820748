// This process's descriptor table, grown ahead of a blackout.
//
// Why: the kernel grows a process's descriptor table (expand_fdtable) by
// allocating a bigger one and, when the table is shared (every multithreaded
// process: its threads share it), waiting for an RCU grace period
// (synchronize_rcu) before freeing the old one: milliseconds on a VM
// (docs/PERFORMANCE.md, "Many VMs"). khod is multithreaded, and a reexec
// handover dups every guest file's fd inside the blackout. A table never
// shrinks while the process lives, so growing it once before the blackout
// (Prepare; a new khod's start, before its threads) is enough.
#ifndef KHOD_KERNEL_FD_TABLE_H_
#define KHOD_KERNEL_FD_TABLE_H_

#include "common/status.h"

namespace khod {

// The highest descriptor open in this process (/proc/self/fd), -1 when none.
Result<int> HighestOpenFd();

// Grows the table so that descriptors up to the highest open one plus `more`
// fit without growing it again (capped below the soft RLIMIT_NOFILE): dups
// a descriptor to that number and closes it. Ok when the table already had
// the room.
Status ReserveFdTable(int more);

// ReserveFdTable above `highest` rather than the highest open descriptor,
// for a caller that knows where its many descriptors end (a new khod: the
// ones its reexec flags name; it keeps only a few others, those it was
// started with), which spares the read of /proc/self/fd: that read lists
// every open descriptor, and the first one after an exec makes an entry for
// each.
Status ReserveFdTableAbove(int highest, int more);

// The table's size (FDSize in /proc/self/status).
Result<int> FdTableSize();

}  // namespace khod

#endif  // KHOD_KERNEL_FD_TABLE_H_
