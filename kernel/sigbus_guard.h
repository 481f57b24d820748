// Reading through a mapping of a file whose pages can go away under it.
//
// A load from a mapped page that the kernel can no longer back raises
// SIGBUS in the reading thread: a guest_memfd page turned private (where a
// kernel converts in place), a page past a shrunk end, a hardware-poisoned
// page, a HugeTLB fault with no huge page left. Populating first narrows the
// window but cannot close it: the file's owner (any caller that attached it)
// can punch, convert or truncate between the populate and the load. khod is
// a root daemon serving every caller, and a SIGBUS's default action ends it,
// in the middle of someone else's Freeze: every such read goes through
// ReadCatchingSigbus.
//
// The rule for `read`: it only loads from the mapping and computes (no lock
// taken, no allocation, nothing that must be undone), because a SIGBUS ends
// it by siglongjmp wherever it is. A SIGBUS raised outside a guarded read
// goes to the handler installed before (or the default action), as if the
// guard were not there: a fault is fatal even where SIGBUS was ignored, as the
// kernel makes it, and a SIGBUS sent with kill is not lost.
#ifndef KHOD_KERNEL_SIGBUS_GUARD_H_
#define KHOD_KERNEL_SIGBUS_GUARD_H_

#include <functional>
#include <string>

#include "common/status.h"

namespace khod {

// Runs `read` in this thread; OK when it returned, FAILED_PRECONDITION
// naming `what` when a SIGBUS ended it (not the address: the message can
// reach a caller, and khod's mappings are not its to learn).
Status ReadCatchingSigbus(const std::string& what, const std::function<void()>& read);

}  // namespace khod

#endif  // KHOD_KERNEL_SIGBUS_GUARD_H_
