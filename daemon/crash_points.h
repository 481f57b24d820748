// Fault injection for the crash tests: `khod --crash-at=NAME` makes the
// process _exit(137) (what a SIGKILL looks like to its parent) when it reaches
// the point NAME, so a test can stop khod exactly at each phase boundary:
//   "NAME"        just after the record saying NAME is durable
//   "pre-NAME"    after the work for NAME, before its record is written
// NAME is a phase (prepared, frozen, handed_over, restored, verified,
// finished, idle) or an event (attached, detached, cancelled).
#ifndef KHOD_DAEMON_CRASH_POINTS_H_
#define KHOD_DAEMON_CRASH_POINTS_H_

#include <string>

namespace khod {

class CrashPoints {
 public:
  explicit CrashPoints(std::string at = "") : at_(std::move(at)) {}
  // Dies when `point` is the configured one.
  void Hit(const std::string& point) const;
  const std::string& at() const { return at_; }

 private:
  std::string at_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_CRASH_POINTS_H_
