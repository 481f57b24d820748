// WindowBuffersPool: the window buffers of every scan in the process, kept
// between scans in one free list instead of one set per file.
//
// Why: a window buffer is a fresh huge page the first time it is written,
// and the kernel zeroes it then, which a VM makes dear. A new khod after a reexec captures each
// adopted file for the first time in Verify, inside the blackout: with a set per file a hundred
// files fault in and zero a hundred sets (docs/PERFORMANCE.md, "Many VMs"); from the pool, the
// first scan's set serves the next file. Scans running at once each take their own buffers; the
// pool keeps at most kMaxKept of them, so it holds what the most concurrent scans used, not
// anything per file or per page.
#ifndef KHOD_CAPTURE_WINDOW_BUFFERS_POOL_H_
#define KHOD_CAPTURE_WINDOW_BUFFERS_POOL_H_

#include <cstddef>
#include <memory>

#include "capture/page_window.h"

namespace khod {

class WindowBuffersPool {
 public:
  static constexpr size_t kMaxKept = 64;
  // A kept buffer (largest first: it needs no regrowth), else a new empty one.
  static std::unique_ptr<WindowBuffers> Take();
  // Back to the pool, its populated count reset; dropped beyond kMaxKept.
  static void Give(std::unique_ptr<WindowBuffers> w);
  // How many are kept now, and how many Take has made since the process
  // started (tests: a scan after another takes a kept one, makes none).
  static size_t Kept();
  static size_t Made();
};

}  // namespace khod

#endif  // KHOD_CAPTURE_WINDOW_BUFFERS_POOL_H_
