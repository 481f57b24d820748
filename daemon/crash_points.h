// Fault injection for the crash tests: `khod --crash-at=NAME` makes the
// process _exit(137) (what a SIGKILL looks like to its parent) when it reaches
// the point NAME, so a test can stop khod exactly at each phase boundary:
//   "NAME"        just after the record saying NAME is durable
//   "pre-NAME"    after the work for NAME, before its record is written
// NAME is a phase (prepared, handed_over, restored, verified, finished) or
// an event (attached, detached, cancelled, the IDLE record of a Cancel;
// opened: the session is open, the record recovered and durable, a reexec's
// fds adopted, and khod does not serve yet; exec: a reexec's handover is
// durable, its mapping holder started and its fds made inheritable, and khod
// is about to exec). Freeze writes no FROZEN record: "pre-frozen" is its
// blob written, before its Send, and "pre-handed_over" its Send done, before
// the HANDED_OVER record; there is no "frozen" point, nor "idle".
// "after-reexec:POINT" is POINT in the khod the next reexec starts, not in
// this one: the exec hands it --crash-at=POINT, given once like every test
// fault (handover/reexec_transport.h IsOneShotFaultFlag).
#ifndef KHOD_DAEMON_CRASH_POINTS_H_
#define KHOD_DAEMON_CRASH_POINTS_H_

#include <string>

namespace khod {

class CrashPoints {
 public:
  static constexpr char kAfterReexec[] = "after-reexec:";

  explicit CrashPoints(const std::string& at = "");
  // Dies when `point` is the configured one.
  void Hit(const std::string& point) const;
  const std::string& at() const { return at_; }
  // The point for the khod the next reexec starts ("" when none).
  const std::string& after_reexec() const { return after_reexec_; }

 private:
  std::string at_;
  std::string after_reexec_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_CRASH_POINTS_H_
