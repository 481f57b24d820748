// Reexec timeline: how long a reexec handover took from the old khod's
// handover to the new khod serving, step by step. CLOCK_MONOTONIC keeps
// counting across exec (same boot), so the old khod's stamps, passed as
// --reexec-timing=READY_NS,EXEC_NS, compare with the new khod's own. Per
// process: reported in StatusReply.reexec_timeline, never persisted, and
// not passed on to a further reexec.
#ifndef KHOD_DAEMON_REEXEC_TIMELINE_H_
#define KHOD_DAEMON_REEXEC_TIMELINE_H_

#include <cstdint>
#include <string>

#include "common/status.h"
#include "proto/khod.pb.h"

namespace khod {

int64_t MonotonicNs();

// The old khod's stamps: handover durable (ready) and exec() called.
struct ReexecMarks {
  int64_t ready_ns = 0;
  int64_t exec_ns = 0;
};

std::string ReexecTimingArgument(const ReexecMarks& m);  // "--reexec-timing=R,E"
// The value of --reexec-timing: two decimal numbers, ready <= exec.
Result<ReexecMarks> ParseReexecTiming(const std::string& text);

// Steps from the marks and the new khod's stamps (main() entered, session
// open, serving); refuses stamps out of order, which no single boot's clock
// produces (a stale or hand-made flag).
Result<v1::ReexecTimeline> MakeReexecTimeline(const ReexecMarks& m, int64_t main_ns,
                                              int64_t opened_ns, int64_t serving_ns);

// "stop 6.10 ms, exec 7.90 ms, open 3.00 ms, serve 4.10 ms: 21.10 ms from
// handover to serving"
std::string ReexecTimelineText(const v1::ReexecTimeline& t);

}  // namespace khod

#endif  // KHOD_DAEMON_REEXEC_TIMELINE_H_
