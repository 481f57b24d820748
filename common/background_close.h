// Closing a file khod took from another process, and refused, off the
// caller's thread. A close can wait on the file's filesystem for as long as
// its server likes (FUSE sends FLUSH on every close of a file, and waits for
// the answer uninterruptibly): khod may refuse such a file, but no call,
// lock or start may wait for its server. Each fd is closed on a thread of
// its own, so a close that never ends holds up no other; at most
// kMaxBackgroundCloses are under way, and a take is refused while that many
// are (BackgroundCloseRoom), so a server that answers no FLUSH costs khod a
// bounded number of threads and fds. Such a close also holds khod's exit
// and exec (the kernel waits for every thread), which is why a reexec is
// refused while one is under way (daemon/session.cc Freeze).
#ifndef KHOD_COMMON_BACKGROUND_CLOSE_H_
#define KHOD_COMMON_BACKGROUND_CLOSE_H_

#include <chrono>
#include <cstddef>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

constexpr size_t kMaxBackgroundCloses = 64;

// Closes `fd` on a new detached thread and returns at once (closes it here
// when no thread can be had).
void CloseInBackground(UniqueFd fd);

// Closes given to CloseInBackground and not ended yet.
size_t BackgroundClosesPending();

// Ok while fewer than kMaxBackgroundCloses closes are under way, else
// ResourceExhausted naming `what` was refused, why, and what frees them.
Status BackgroundCloseRoom(const std::string& what);

// Waits up to `limit` for every close under way to end; whether they did.
bool WaitForBackgroundCloses(std::chrono::milliseconds limit);

}  // namespace khod

#endif  // KHOD_COMMON_BACKGROUND_CLOSE_H_
