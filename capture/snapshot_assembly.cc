#include "capture/snapshot_assembly.h"

#include <utility>

#include "capture/snapshot_header.h"

namespace khod {

Result<Snapshot> AssembleSnapshot(const std::vector<SnapshotPart>& parts, std::vector<Vm> vms) {
  Snapshot snap;
  snap.header = CurrentSnapshotHeader();
  for (const SnapshotPart& p : parts) {
    GuestMemfd g;
    Status s = p.source->Capture(p.options, &g);
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
