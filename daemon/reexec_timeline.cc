#include "daemon/reexec_timeline.h"

#include <time.h>

#include <cstdio>
#include <optional>

#include "common/numbers.h"
#include "common/status_macros.h"

namespace khod {
namespace {

Result<int64_t> ParseStamp(const std::string& text) {
  const std::optional<uint64_t> v = text.size() <= 18 ? ParseU64(text) : std::nullopt;
  if (!v)
    return Status::InvalidArgument("--reexec-timing: '" + text +
                                   "' is not a CLOCK_MONOTONIC nanosecond count (1-18 digits)");
  return static_cast<int64_t>(*v);
}

}  // namespace

int64_t MonotonicNs() {
  timespec t;
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

std::string ReexecTimingArgument(const ReexecMarks& m) {
  return "--reexec-timing=" + std::to_string(m.ready_ns) + "," + std::to_string(m.exec_ns);
}

Result<ReexecMarks> ParseReexecTiming(const std::string& text) {
  const size_t comma = text.find(',');
  if (comma == std::string::npos)
    return Status::InvalidArgument("--reexec-timing: expected READY_NS,EXEC_NS, got '" + text +
                                   "'");
  KHOD_ASSIGN_OR_RETURN(int64_t ready, ParseStamp(text.substr(0, comma)));
  KHOD_ASSIGN_OR_RETURN(int64_t exec, ParseStamp(text.substr(comma + 1)));
  if (exec < ready)
    return Status::InvalidArgument("--reexec-timing: exec stamp " + std::to_string(exec) +
                                   " is before the handover stamp " + std::to_string(ready));
  return ReexecMarks{ready, exec};
}

Result<v1::ReexecTimeline> MakeReexecTimeline(const ReexecMarks& m, int64_t main_ns,
                                              int64_t opened_ns, int64_t serving_ns) {
  if (m.exec_ns < m.ready_ns || main_ns < m.exec_ns || opened_ns < main_ns ||
      serving_ns < opened_ns)
    return Status::InvalidArgument("reexec stamps out of order (handover " +
                                   std::to_string(m.ready_ns) + ", exec " +
                                   std::to_string(m.exec_ns) + ", main " + std::to_string(main_ns) +
                                   ", open " + std::to_string(opened_ns) + ", serving " +
                                   std::to_string(serving_ns) + " ns): not this boot's clock");
  v1::ReexecTimeline t;
  t.set_stop_nanos(static_cast<uint64_t>(m.exec_ns - m.ready_ns));
  t.set_exec_nanos(static_cast<uint64_t>(main_ns - m.exec_ns));
  t.set_open_nanos(static_cast<uint64_t>(opened_ns - main_ns));
  t.set_serve_nanos(static_cast<uint64_t>(serving_ns - opened_ns));
  return t;
}

std::string ReexecTimelineText(const v1::ReexecTimeline& t) {
  char b[160];
  std::snprintf(b, sizeof(b),
                "stop %.2f ms, exec %.2f ms, open %.2f ms, serve %.2f ms: %.2f ms from handover to "
                "serving",
                t.stop_nanos() / 1e6, t.exec_nanos() / 1e6, t.open_nanos() / 1e6,
                t.serve_nanos() / 1e6,
                (t.stop_nanos() + t.exec_nanos() + t.open_nanos() + t.serve_nanos()) / 1e6);
  return b;
}

}  // namespace khod
