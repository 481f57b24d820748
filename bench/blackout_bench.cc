// Blackout of a live update through khod, against what a copy-based snapshot
// costs, in one run:
//   copy     write the guest memory out to a file and read it back in;
//   blackout Freeze (capture + serialize + reexec handover) -> the new khod
//            answers -> Restore (adopt) -> Verify (PFNs equal), client side.
// Target: blackout <= 1% of copy. Then a 1 TiB MODEL guest: freeze <= 50 ms,
// restore + verify <= 100 ms (from khod's own per-phase durations).
// The guest memory is a real guest_memfd (MMAP|INIT_SHARED, on a VM of the
// bench's own) where /dev/kvm exists, else a shmem memfd stand-in: the output
// says which. Its first touch is slow on these PVM machines (seconds per GiB).
//
//   bazel build -c opt //bench:blackout_bench //daemon:khod &&
//   bazel-out/k8-opt/bin/bench/blackout_bench
//     [--gib 2] [--khod PATH] [--copy-dir /var/tmp] [--runs 5] [--fragment N] [--compare PATH]
//     [--keep]
// --runs: the plain (PFNs only) blackout is repeated that many times on the
// same memfd, a fresh khod each time; median and min are reported with each
// run's reexec timeline (khod's StatusReply.reexec_timeline). The hashed
// blackout is one run.
// --khod defaults to the khod built in the same configuration as this bench
// (<bin>/bench/blackout_bench -> <bin>/daemon/khod), else bazel-bin/daemon/khod;
// the bench prints which one it runs. --keep leaves the run directory (each
// khod's log) in place and prints where it is. --compare PATH: after the
// runs, as many with khod PATH interleaved with as many more of this khod,
// on the same memory: an A/B of two builds in one sitting.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "daemon/reexec_timeline.h"
#include "kernel/kvm.h"
#include "kernel/kvm_uapi.h"
#include "khoctl/client.h"
#include "khoctl/status_report.h"
#include "tools/rehearsal/child_process.h"
#include "tools/rehearsal/sibling_binary.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Through a mapping of the guest memory (a guest_memfd has no pread: ESPIPE),
// every page of which was written before, so the copy allocates nothing.
double CopyOutAndIn(int memfd, uint64_t bytes, const std::string& dir) {
  const std::string path = dir + "/khod-blackout-copy.bin";
  char* mem =
      static_cast<char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  if (mem == MAP_FAILED) return -1;
  const size_t chunk = 8 << 20;
  const auto t0 = Clock::now();
  int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  for (uint64_t off = 0; off < bytes; off += chunk) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - off));
    if (::write(out, mem + off, n) != static_cast<ssize_t>(n)) break;
  }
  ::fsync(out);  // a snapshot that is not durable is not one
  ::close(out);
  int in = ::open(path.c_str(), O_RDONLY);
  for (uint64_t off = 0; off < bytes; off += chunk) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk, bytes - off));
    if (::read(in, mem + off, n) != static_cast<ssize_t>(n)) break;
  }
  ::close(in);
  const double ms = Ms(Clock::now() - t0);
  ::munmap(mem, bytes);
  ::unlink(path.c_str());
  return ms;
}

// The guest's memory: a guest_memfd on a VM of the bench's own where
// /dev/kvm exists, else a shmem memfd. `what` says which, for the output.
struct GuestMemory {
  std::optional<Kvm> kvm;
  std::optional<KvmVm> vm;
  UniqueFd fd;
  uint64_t flags = 0;  // guest_memfd creation flags, declared at Attach
  std::string what;
};

Result<GuestMemory> MakeGuestMemory(uint64_t bytes) {
  GuestMemory g;
  Result<Kvm> kvm = Kvm::Open();
  if (kvm.ok()) {
    g.kvm.emplace(std::move(*kvm));
    Result<KvmVm> vm = g.kvm->CreateVm(0);
    if (!vm.ok()) return vm.status();
    g.vm.emplace(std::move(*vm));
    g.flags = uapi::kGuestMemfdFlagMmap | uapi::kGuestMemfdFlagInitShared;
    Result<UniqueFd> fd = g.vm->CreateGuestMemfd(bytes, g.flags);
    if (!fd.ok()) return fd.status();
    g.fd = std::move(*fd);
    g.what = "real guest_memfd (MMAP|INIT_SHARED, /dev/kvm present)";
    return g;
  }
  g.fd = UniqueFd(::memfd_create("bench-guest", MFD_CLOEXEC));
  if (!g.fd.valid()) return Status::FromErrno("memfd_create", errno);
  if (::ftruncate(g.fd.get(), static_cast<off_t>(bytes)) != 0)
    return Status::FromErrno("ftruncate", errno);
  g.what = "shmem memfd stand-in (no /dev/kvm here: " + kvm.status().message() + ")";
  return g;
}

uint64_t DurationOf(const v1::StatusReply& s, v1::Phase p) {
  for (const auto& d : s.durations())
    if (d.phase() == p) return d.nanos();
  return 0;
}

// What one blackout measured, for the summary over runs.
struct BlackoutRun {
  double blackout_ms = 0, freeze_ms = 0, answering_ms = 0, restore_ms = 0, verify_ms = 0;
  v1::ReexecTimeline timeline;
};

// One blackout of the 2 GiB guest through a fresh khod in `dir`.
int Blackout(const std::string& khod_bin, int memfd, uint64_t gmem_flags, bool hash, double copy_ms,
             const std::string& dir, BlackoutRun* run) {
  ::mkdir(dir.c_str(), 0700);
  const std::string sock = dir + "/k.sock";
  Result<ChildProcess> k = ChildProcess::Start(
      {khod_bin, "--socket=" + sock, "--state-dir=" + dir + "/state", "--transport=reexec"}, false,
      dir + "/khod.log");
  if (!k.ok()) return 2;
  KhodClient c(sock);
  if (!c.WaitHealthy(std::chrono::seconds(10)).ok()) return 2;
  v1::AttachRequest q;
  q.set_name("guest");
  q.set_hash_contents(hash);
  q.mutable_kernel()->set_pid(::getpid());
  q.mutable_kernel()->set_fd(memfd);
  q.set_gmem_flags(gmem_flags);
  if (!c.Attach(q).ok() || !c.Prepare().ok()) return 2;
  auto before = c.GetStatus();

  const auto t0 = Clock::now();
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  auto fr = c.Freeze(f);
  const auto t_reply = Clock::now();
  if (!fr.ok()) { std::printf("freeze: %s\n", fr.status().ToString().c_str()); return 2; }
  auto after = c.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(30));
  const auto t1 = Clock::now();
  if (!after.ok()) { std::printf("new khod: %s\n", after.status().ToString().c_str()); return 2; }
  auto rr = c.Restore(v1::RestoreRequest());
  auto vr = c.Verify();
  const auto t2 = Clock::now();
  if (!rr.ok() || !vr.ok()) return 2;
  auto st = c.GetStatus();
  const double blackout = Ms(t2 - t0);
  std::printf("%s: blackout: %.1f ms = freeze+handover %.1f ms (capture+serialize %.1f, send %.2f), reexec "
              "until answering %.1f ms, restore+verify %.1f ms (restore %.1f, verify %.1f); verify %s",
              hash ? "hashing contents" : "PFNs only", blackout, (DurationOf(*st, v1::FROZEN) + DurationOf(*st, v1::HANDED_OVER)) / 1e6,
              DurationOf(*st, v1::FROZEN) / 1e6, DurationOf(*st, v1::HANDED_OVER) / 1e6,
              Ms(t1 - t0) - (DurationOf(*st, v1::FROZEN) + DurationOf(*st, v1::HANDED_OVER)) / 1e6,
              Ms(t2 - t1), DurationOf(*st, v1::RESTORED) / 1e6, DurationOf(*st, v1::VERIFIED) / 1e6,
              FormatVerify(*vr).c_str());
  uint64_t extents = 0;
  for (const auto& g : st->gmems()) extents += g.folio_extents();
  std::printf("  %llu folio extents (PFN runs split where folio flags change), blob %llu bytes\n",
              static_cast<unsigned long long>(extents), static_cast<unsigned long long>(st->blob_bytes()));
  std::printf("blackout / copy = %.2f%% (target <= 1%%): %s\n", 100 * blackout / copy_ms,
              blackout <= copy_ms / 100 ? "MET" : "NOT MET");
  // Client side: Freeze reply -> new khod answering; khod side: its steps.
  std::printf("  reexec: freeze reply -> new khod answering %.1f ms; khod: %s\n", Ms(t1 - t_reply),
              st->has_reexec_timeline() ? ReexecTimelineText(st->reexec_timeline()).c_str()
                                        : "no reexec timeline (khod too old?)");
  run->blackout_ms = blackout;
  run->freeze_ms = Ms(t_reply - t0);
  run->answering_ms = Ms(t1 - t_reply);
  run->restore_ms = DurationOf(*st, v1::RESTORED) / 1e6;
  run->verify_ms = DurationOf(*st, v1::VERIFIED) / 1e6;
  run->timeline = st->reexec_timeline();
  k->Stop(SIGTERM);
  return 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Median of one measure over the runs.
template <typename F>
double MedianOf(const std::vector<BlackoutRun>& runs, F f) {
  std::vector<double> v;
  for (const BlackoutRun& r : runs) v.push_back(f(r));
  return Median(v);
}

void PrintSummary(const std::vector<BlackoutRun>& runs, double copy_ms) {
  std::vector<double> b;
  for (const BlackoutRun& r : runs) b.push_back(r.blackout_ms);
  const double med = Median(b), min = *std::min_element(b.begin(), b.end());
  std::printf("PFNs only, %zu runs: blackout median %.1f ms, min %.1f ms (runs:", runs.size(), med, min);
  for (double x : b) std::printf(" %.1f", x);
  std::printf(")\nmedian blackout / copy = %.2f%% (target <= 1%%): %s\n", 100 * med / copy_ms,
              med <= copy_ms / 100 ? "MET" : "NOT MET");
  std::printf("  medians: freeze call %.1f ms, freeze reply -> answering %.1f ms (stop %.2f, exec %.2f, "
              "open %.2f, serve %.2f), restore %.1f ms, verify %.1f ms\n",
              MedianOf(runs, [](const BlackoutRun& r) { return r.freeze_ms; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.answering_ms; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.timeline.stop_nanos() / 1e6; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.timeline.exec_nanos() / 1e6; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.timeline.open_nanos() / 1e6; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.timeline.serve_nanos() / 1e6; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.restore_ms; }),
              MedianOf(runs, [](const BlackoutRun& r) { return r.verify_ms; }));
}


int Run(const std::string& khod_bin, uint64_t gib, const std::string& copy_dir, int runs, bool keep,
        uint64_t fragment, const std::string& compare_bin) {
  const uint64_t bytes = gib << 30;

  // --fragment N: the free memory the guest is allocated from comes in holes
  // of N pages (a scratch file holds every (N+1)th page), so that its PFN
  // runs, which every step of a capture scales with, are as short as on a
  // long-running host, whatever this one's free lists look like now.
  int scratch = -1;
  if (fragment > 0) {
    const uint64_t page = 4096, period = (fragment + 1) * page;
    const uint64_t scratch_bytes = bytes / (fragment * page) * period + period;
    scratch = ::memfd_create("bench-fragment", MFD_CLOEXEC);
    if (scratch < 0 || ::ftruncate(scratch, static_cast<off_t>(scratch_bytes)) != 0) return 2;
    char* s = static_cast<char*>(
        ::mmap(nullptr, scratch_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, scratch, 0));
    if (s == MAP_FAILED) return 2;
    for (uint64_t off = 0; off < scratch_bytes; off += page) s[off] = 1;
    ::munmap(s, scratch_bytes);
    for (uint64_t off = 0; off + period <= scratch_bytes; off += period)
      if (::fallocate(scratch, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                      static_cast<off_t>(fragment * page)) != 0)
        return 2;
  }
  Result<GuestMemory> guest = MakeGuestMemory(bytes);
  if (!guest.ok()) {
    std::printf("guest memory: %s\n", guest.status().ToString().c_str());
    return 2;
  }
  std::printf("guest memory: %llu GiB %s\n", static_cast<unsigned long long>(gib),
              guest->what.c_str());
  const int memfd = guest->fd.get();
  const uint64_t flags = guest->flags;
  char* p = static_cast<char*>(::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0));
  if (p == MAP_FAILED) return 2;
  for (uint64_t off = 0; off < bytes; off += 4096) p[off] = static_cast<char>(off >> 12);
  ::munmap(p, bytes);
  if (scratch >= 0) ::close(scratch);  // its pages go back; the guest's stay where they are

  const double copy_ms = CopyOutAndIn(memfd, bytes, copy_dir);
  if (copy_ms < 0) {
    std::printf("cannot map the guest memory to copy it\n");
    return 2;
  }
  std::printf("copy out + in (%s, fsync): %.1f ms\n", copy_dir.c_str(), copy_ms);

  char tmpl[] = "/tmp/khod-blackout.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  // Without content hashing (verify compares every PFN and flag), `runs`
  // times, then once with it (verify also compares an XXH3 of every page's
  // contents).
  std::vector<BlackoutRun> plain(static_cast<size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    std::printf("run %d/%d: ", i + 1, runs);
    if (Blackout(khod_bin, memfd, flags, false, copy_ms, dir + "/plain-" + std::to_string(i),
                 &plain[i]) != 0)
      return 2;
  }
  PrintSummary(plain, copy_ms);
  if (!compare_bin.empty()) {
    // The same runs with the other khod, interleaved with as many more of
    // this one: same memory, same PFN runs, same sitting.
    std::vector<BlackoutRun> other(static_cast<size_t>(runs)), again(static_cast<size_t>(runs));
    for (int i = 0; i < runs; ++i) {
      std::printf("compare run %d/%d (%s): ", i + 1, runs, compare_bin.c_str());
      if (Blackout(compare_bin, memfd, flags, false, copy_ms, dir + "/cmp-" + std::to_string(i),
                   &other[i]) != 0)
        return 2;
      std::printf("again run %d/%d (%s): ", i + 1, runs, khod_bin.c_str());
      if (Blackout(khod_bin, memfd, flags, false, copy_ms, dir + "/again-" + std::to_string(i),
                   &again[i]) != 0)
        return 2;
    }
    std::printf("--compare %s:\n", compare_bin.c_str());
    PrintSummary(other, copy_ms);
    std::printf("%s, interleaved with it:\n", khod_bin.c_str());
    PrintSummary(again, copy_ms);
  }
  BlackoutRun hashed;
  if (Blackout(khod_bin, memfd, flags, true, copy_ms, dir + "/hashed", &hashed) != 0) return 2;
  v1::FreezeRequest f;
  f.set_guests_paused(true);

  // 1 TiB MODEL guest, 1 GiB folios, part private (restructuring records).
  const std::string dir2 = dir + "/model";
  Result<ChildProcess> k2 = ChildProcess::Start(
      {khod_bin, "--socket=" + dir2 + ".sock", "--state-dir=" + dir2, "--transport=reexec"}, false,
      dir + "/khod-model.log");
  KhodClient m(dir2 + ".sock");
  if (!k2.ok() || !m.WaitHealthy(std::chrono::seconds(10)).ok()) return 2;
  v1::AttachRequest mq;
  mq.set_name("model-1t");
  mq.mutable_model()->set_size(uint64_t{1} << 40);
  mq.mutable_model()->set_hstate_order(18);
  mq.mutable_model()->set_populate(true);
  for (uint64_t i = 0; i < 64; ++i) {
    auto* a = mq.add_attributes();
    a->set_first(i * (uint64_t{1} << 20) + 4096);
    a->set_count(4096);
    a->set_value(8);
  }
  auto ma = m.Attach(mq);
  if (!ma.ok()) { std::printf("model attach: %s\n", ma.status().ToString().c_str()); return 2; }
  if (!m.Prepare().ok()) return 2;
  auto mb = m.GetStatus();
  if (!m.Freeze(f).ok()) return 2;
  m.WaitNewIncarnation(mb->incarnation(), std::chrono::seconds(30));
  auto mr = m.Restore(v1::RestoreRequest());
  auto mv = m.Verify();
  auto ms = m.GetStatus();
  if (!mr.ok() || !mv.ok()) { std::printf("model restore/verify failed\n"); return 2; }
  const double freeze_ms = (DurationOf(*ms, v1::FROZEN) + DurationOf(*ms, v1::HANDED_OVER)) / 1e6;
  const double rv_ms = (DurationOf(*ms, v1::RESTORED) + DurationOf(*ms, v1::VERIFIED)) / 1e6;
  std::printf("MODEL 1 TiB guest (1 GiB folios, 64 split): blob %llu bytes; freeze %.1f ms (target <= 50): %s; "
              "restore+verify %.1f ms (target <= 100): %s; verify %s",
              static_cast<unsigned long long>(ms->blob_bytes()), freeze_ms, freeze_ms <= 50 ? "MET" : "NOT MET",
              rv_ms, rv_ms <= 100 ? "MET" : "NOT MET", FormatVerify(*mv).c_str());
  k2->Stop(SIGTERM);
  if (keep) std::printf("run directory kept (khod logs): %s\n", dir.c_str());
  else ::system(("rm -rf " + dir).c_str());
  return 0;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  std::string khod_bin, copy_dir = "/var/tmp";
  uint64_t gib = 2;
  int runs = 5;
  bool keep = false;
  uint64_t fragment = 0;
  std::string compare_bin;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : "";
    if (a == "--keep") keep = true;
    else if (a == "--gib") gib = std::strtoull(v, nullptr, 10), ++i;
    else if (a == "--khod") khod_bin = v, ++i;
    else if (a == "--copy-dir") copy_dir = v, ++i;
    else if (a == "--runs") runs = std::max(1, std::atoi(v)), ++i;
    else if (a == "--fragment") fragment = std::strtoull(v, nullptr, 10), ++i;
    else if (a == "--compare") compare_bin = v, ++i;
    else {
      std::printf("unknown argument %s (--gib N, --khod PATH, --copy-dir DIR, --runs N, --fragment N, --compare PATH, --keep)\n", a.c_str());
      return 2;
    }
  }
  // The khod of this bench's own configuration: an opt bench timing a
  // fastbuild khod measures the wrong binary.
  const std::string sibling = khod::SiblingBinary("bench", "daemon/khod");
  const char* why = "--khod";
  if (khod_bin.empty() && !sibling.empty() && ::access(sibling.c_str(), X_OK) == 0) {
    khod_bin = sibling;
    why = "built with this bench";
  } else if (khod_bin.empty()) {
    khod_bin = "bazel-bin/daemon/khod";
    why = "default; none built beside this bench, its configuration may differ";
  }
  std::printf("khod binary: %s (%s)\n", khod_bin.c_str(), why);
  if (::access(khod_bin.c_str(), X_OK) != 0) {
    std::printf("khod binary %s is not an executable: build //daemon:khod or pass --khod\n", khod_bin.c_str());
    return 2;
  }
  return khod::Run(khod_bin, gib, copy_dir, runs, keep, fragment, compare_bin);
}
