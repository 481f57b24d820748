// khod's state in Prometheus text exposition format (version 0.0.4), for
// node_exporter's textfile collector (--metrics-textfile). Every metric is
// named khod_*, in base units (seconds, bytes), with HELP and TYPE lines;
// docs/OPERATIONS.md lists them. A value khod did not observe is left out,
// never written as 0: no blackout before a live update reached VERIFIED, no
// verify counts before a Verify in this process.
#ifndef KHOD_DAEMON_METRICS_EXPOSITION_H_
#define KHOD_DAEMON_METRICS_EXPOSITION_H_

#include <string>

#include "proto/khod.pb.h"

namespace khod {

// `status` as GetStatus returns it; `last_verify` is the last Verify reply
// this process gave (nullptr: none yet).
std::string RenderMetrics(const v1::StatusReply& status, const v1::VerifyReply* last_verify);

}  // namespace khod

#endif  // KHOD_DAEMON_METRICS_EXPOSITION_H_
