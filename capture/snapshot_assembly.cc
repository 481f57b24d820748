#include "capture/snapshot_assembly.h"

#include <utility>

#include "capture/snapshot_header.h"
#include "kernel/file_mappings.h"

namespace khod {

Result<Snapshot> AssembleSnapshot(const std::vector<SnapshotPart>& parts, std::vector<Vm> vms) {
  Snapshot snap;
  snap.header = CurrentSnapshotHeader();
  // Each VMM's mappings once for the round, however many of its files it has.
  ProcessMappingsCache vmm_mappings;
  for (const SnapshotPart& p : parts) {
    GuestMemfd g;
    CaptureOptions options = p.options;
    if (!options.vmm_mappings) options.vmm_mappings = &vmm_mappings;
    Status s = p.source->Capture(options, &g);
    if (!s.ok()) return p.what.empty() ? s : s.WithContext(p.what);
    if (p.identity) {
      g.token = p.identity->token;
      g.name = p.identity->name;
      g.vm_token = p.identity->vm_token;
    }
    snap.gmems.push_back(std::move(g));
  }
  snap.vms = std::move(vms);
  return snap;
}

}  // namespace khod
