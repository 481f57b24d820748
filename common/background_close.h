// Closing a file khod took from another process, and refused, off the
// caller's thread. A close can wait on the file's filesystem for as long as
// its server likes (FUSE sends FLUSH on every close of a file, and waits for
// the answer uninterruptibly): khod may refuse such a file, but no call,
// lock or start-up may wait for its server. The fd goes to one closer
// thread, which closes fds in the order given; one that never closes holds
// only those given after it.
#ifndef KHOD_COMMON_BACKGROUND_CLOSE_H_
#define KHOD_COMMON_BACKGROUND_CLOSE_H_

#include <cstddef>

#include "common/unique_fd.h"

namespace khod {

// Hands `fd` to the closer thread (started on first use) and returns at once.
void CloseInBackground(UniqueFd fd);

// Fds given and not yet closed (a FUSE server holding a close keeps them).
size_t BackgroundClosesPending();

}  // namespace khod

#endif  // KHOD_COMMON_BACKGROUND_CLOSE_H_
