// khoctl probe's report as a message (khoctl/probe_report.proto), which
// --json prints through MessageToJsonString.
#ifndef KHOD_KHOCTL_PROBE_REPORT_H_
#define KHOD_KHOCTL_PROBE_REPORT_H_

#include "common/status.h"
#include "handover/kho_debugfs.h"
#include "kernel/probe.h"
#include "khoctl/probe_report.pb.h"

namespace khod {

khoctl::v1::ProbeReport ProbeReportOf(const KernelCaps& caps, const Result<KhoIncoming>& incoming);

}  // namespace khod

#endif  // KHOD_KHOCTL_PROBE_REPORT_H_
