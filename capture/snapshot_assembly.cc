#include "capture/snapshot_assembly.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "capture/snapshot_header.h"
#include "common/thread_shares.h"
#include "kernel/file_mappings.h"
#include "kernel/meminfo.h"
#include "kernel/shared_policy_cache.h"

namespace khod {

namespace {

// The order the round takes its parts in: one part of each VMM before a
// second of any (GmemSource::mappings_pid), each VMM's in the parts' order.
// Parts without a VMM are a group each.
std::vector<size_t> CaptureOrder(const std::vector<SnapshotPart>& parts) {
  std::vector<std::vector<size_t>> groups;
  std::map<int, size_t> group_of;
  for (size_t i = 0; i < parts.size(); ++i) {
    const int pid = parts[i].source->mappings_pid();
    if (pid <= 0) {
      groups.push_back({i});
      continue;
    }
    auto [it, added] = group_of.emplace(pid, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  std::vector<size_t> order;
  order.reserve(parts.size());
  for (size_t round = 0; order.size() < parts.size(); ++round)
    for (const std::vector<size_t>& g : groups)
      if (round < g.size()) order.push_back(g[round]);
  return order;
}

}  // namespace

Result<Snapshot> AssembleSnapshot(const std::vector<SnapshotPart>& parts, std::vector<Vm> vms,
                                  int threads, const std::string& meminfo_path,
                                  std::optional<uint64_t>* hw_corrupted_kb_before,
                                  const PteWitness* witness) {
  Snapshot snap;
  snap.header = CurrentSnapshotHeader();
  // Each VMM's mappings once for the round, however many of its files it has.
  ProcessMappingsCache vmm_mappings;
  // And khod's own shmem files' shared policies once, however many files there are.
  SharedPolicyCache shared_policies;
  std::vector<GuestMemfd> gmems(parts.size());
  std::vector<Status> results(parts.size());
  std::vector<CaptureStats> stats(parts.size());
  std::mutex progress_mu;  // the callers' progress callbacks are never called at once
  const std::vector<size_t> order = CaptureOrder(parts);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  // Rule 4's count for this capture of every part (unset: each reads its own).
  std::optional<uint64_t> round_kb;
  // The witness for this capture of every part, if it held before any page.
  const PteWitness* round_witness = nullptr;
  // Once one part fails, those not taken yet are left, as one thread would
  // leave them; a part never taken keeps an Ok result and is never returned.
  auto capture_next = [&](int) -> Status {
    for (size_t n = next++; n < order.size() && !failed; n = next++) {
      const size_t i = order[n];
      const SnapshotPart& p = parts[i];
      CaptureOptions options = p.options;
      if (!options.vmm_mappings) options.vmm_mappings = &vmm_mappings;
      if (!options.shared_policies) options.shared_policies = &shared_policies;
      if (p.options.stats) options.stats = &stats[i];
      if (p.options.progress)
        options.progress = [&progress_mu, &p](uint64_t done, uint64_t total) {
          std::lock_guard<std::mutex> l(progress_mu);
          p.options.progress(done, total);
        };
      options.round_hw_corrupted_kb = round_kb;
      options.witness = round_witness;
      results[i] = p.source->Capture(options, &gmems[i]);
      if (!results[i].ok()) failed = true;
    }
    return Status::Ok();
  };
  threads = ThreadsToUse(threads);
  const int workers =
      static_cast<int>(std::min<size_t>(static_cast<size_t>(threads), parts.size()));
  auto capture_all = [&] {
    std::fill(results.begin(), results.end(), Status::Ok());
    std::fill(stats.begin(), stats.end(), CaptureStats());
    next = 0;
    failed = false;
    (void)RunShares(std::max(workers, 1), capture_next);
  };
  // HardwareCorrupted once before any part's pages and once after all of
  // them, not twice a part (capture/flag_reuse.h rule 4, in a round). Where
  // it moved or cannot be read after, every part is captured again reading
  // the count for itself, and sees the change.
  // The witness likewise (capture/pte_witness.h): where it no longer holds
  // after all parts, a page it vouched for may have been unmapped during the
  // round, and every part is captured again walking its page tables.
  const Result<uint64_t> before = ReadHardwareCorruptedKb(meminfo_path);
  if (before.ok()) round_kb = *before;
  if (hw_corrupted_kb_before) *hw_corrupted_kb_before = round_kb;
  if (witness && witness->Holds()) round_witness = witness;
  capture_all();
  if ((round_kb || round_witness) && !failed) {
    bool again = false;
    if (round_kb) {
      const Result<uint64_t> after = ReadHardwareCorruptedKb(meminfo_path);
      if (!after.ok() || *after != *round_kb) {
        round_kb.reset();
        again = true;
      }
    }
    if (round_witness && !round_witness->Holds()) again = true;
    // The redo walks, and each part reads HardwareCorrupted before and after
    // itself (rule 4 for each part, as outside a round): the round's count,
    // read before the first pass, says nothing of a page poisoned since.
    if (again) {
      round_witness = nullptr;
      round_kb.reset();
      capture_all();
    }
  }
  std::set<CaptureStats*> round_stats;
  for (size_t i = 0; i < parts.size(); ++i) {
    const SnapshotPart& p = parts[i];
    if (!results[i].ok()) return p.what.empty() ? results[i] : results[i].WithContext(p.what);
    if (p.options.stats && round_stats.insert(p.options.stats).second) {
      p.options.stats->vmm_policies_from_vmas +=
          static_cast<uint64_t>(vmm_mappings.processes_from_vmas_only());
      p.options.stats->vmm_policies_from_numa_maps +=
          static_cast<uint64_t>(vmm_mappings.processes_through_numa_maps());
    }
    if (p.options.stats) {
      p.options.stats->flags_read += stats[i].flags_read;
      p.options.stats->flags_carried += stats[i].flags_carried;
      p.options.stats->pages_walked += stats[i].pages_walked;
      p.options.stats->pages_witnessed += stats[i].pages_witnessed;
    }
    GuestMemfd& g = gmems[i];
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
