// Blackout of a live update through khod, against what a copy-based snapshot
// costs, over a series of guest sizes in one run:
//   copy     write the guest memory out to a file (fsync) and read it back in;
//   blackout Freeze (capture + serialize + reexec handover) -> the new khod
//            answers -> Restore (adopt) -> Verify (PFNs equal), client side.
// Per size: the blackout's median over --runs (a fresh khod each run, the
// same memory, each run once the previous one's processes are gone), its Freeze call and Verify,
// blackout / copy (target <= 1%), one blackout with every page's contents hashed, and the floor of
// a content proof: a plain read of the same memory at memory bandwidth, beside XXH3 of it, on 1
// thread and on every CPU. Then the slope in ms per GiB (least squares over the series) and the
// 8-GiB / 2-GiB ratio (target <= 1.25x) of blackout, Freeze and Verify, per --capture-threads
// value, and of khod's own work in them. A series of two sizes or more with --no-hash (and no
// --compare, --fragment or --vmm-keeps-mapping) holds every size's guest at
// once and takes the runs in turn across the sizes. Then a 1 TiB MODEL guest: freeze <= 50 ms,
// restore + verify <= 100 ms.
//
// --vmms V --gmems-per-vmm G: instead, for each --gib total, V VMM processes
// (bench/vmm_stand_in, one VM each) holding G guest memory files each, against
// one guest of the same total memory, runs interleaved; prints both medians
// and their ratio (target <= 1.5x), and with --compare the same for the other
// khod, its runs between this one's. No copy.
//
// --vmm-keeps-mapping: every guest's VMM (the bench itself for the one guest,
// each vmm_stand_in) keeps its guest memory mapped with every page present,
// as a real VMM does; without it they unmap it once written. On a kernel
// whose guest_memfd keeps no shared policy (6.18), khod reads each VMM's
// mapping policies, from its VMAs (the BPF iterator) where it loads, else
// through /proc/PID/numa_maps, a walk of those page tables (docs/DESIGN.md):
// this prices whichever it read, and each run's verdict says which. A shmem
// stand-in's policy is its file's: no VMM is read.
//
// The guest memory is a real guest_memfd (MMAP|INIT_SHARED) where the kernel
// makes one, else a shmem memfd stand-in: the output says which and why. Its first touch
// is slow on PVM machines (seconds per GiB).
//
//   bazel build -c opt //bench:blackout_bench //bench:vmm_stand_in //daemon:khod &&
//   bazel-out/k8-opt/bin/bench/blackout_bench --gib 1,2,4,8 --runs 3
//   bazel-out/k8-opt/bin/bench/blackout_bench --gib 2 --vmms 25 --gmems-per-vmm 4
// --help lists every flag. --khod defaults to the khod built in the same
// configuration as this bench, else bazel-bin/daemon/khod; the bench prints
// which it runs. --compare PATH: as many runs of khod PATH interleaved with as
// many more of this khod, on the same memory: an A/B of two builds in one
// sitting.
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
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/content_floor.h"
#include "bench/guest_memory.h"
#include "bench/leftover_children.h"
#include "bench/median.h"
#include "bench/process_memory.h"
#include "common/flags.h"
#include "common/numbers.h"
#include "daemon/reexec_timeline.h"
#include "khoctl/client.h"
#include "khoctl/status_report.h"
#include "tools/rehearsal/child_process.h"
#include "tools/rehearsal/sibling_binary.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Freeze's word on its change scans ("; change scan walked ... witnessed by
// the PTE keeper"): which path the run measured.
std::string WalkNoteOf(const std::string& freeze_message) {
  const size_t at = freeze_message.find("; change scan walked");
  if (at == std::string::npos) return "";
  return freeze_message.substr(at, freeze_message.find(';', at + 1) - at);
}
constexpr uint64_t kGiB = uint64_t{1} << 30;

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

// One file khod attaches: `fd` of process `pid`.
struct AttachTarget {
  pid_t pid;
  int fd;
  uint64_t flags;  // guest_memfd creation flags
  std::string name;
  // --punch-after-prepare: pages of this file (this process's fd) punched
  // between Prepare and Freeze, as a running guest changes its memory: its
  // PFN list then differs from Prepare's in that many places.
  uint64_t punch_after_prepare = 0;
};

// Punches `count` single pages of `fd`, spread evenly over its pages,
// starting `salt` pages in (a later blackout punches others).
bool PunchSpread(int fd, uint64_t count, uint64_t salt) {
  struct stat st;
  if (count == 0 || ::fstat(fd, &st) != 0) return count == 0;
  const uint64_t page = 4096, pages = static_cast<uint64_t>(st.st_size) / page;
  const uint64_t stride = std::max<uint64_t>(1, pages / count);
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t at = (i * stride + salt % stride) % pages;
    if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(at * page),
                    static_cast<off_t>(page)) != 0)
      return false;
  }
  return true;
}

// What one blackout measured.
struct BlackoutRun {
  // Client side, summing to the blackout: the Freeze call, its reply -> the
  // new khod answering, the Restore call, the Verify call.
  double blackout_ms = 0, freeze_ms = 0, answering_ms = 0, restore_ms = 0, verify_ms = 0;
  // khod's own timing of its work in Freeze (capture and serialization) and
  // in Verify (capture and compare): the part of the blackout that can grow
  // with the guest, without the process restart and the calls around it.
  double khod_work_ms = 0;
  uint64_t extents = 0;
  v1::ReexecTimeline timeline;
  // khod's anonymous RSS (its own memory: guest pages are file pages) after
  // Prepare, and the new khod's after Verify, in MiB.
  double rss_prepared_mib = 0, rss_verified_mib = 0;
};

uint64_t DurationOf(const v1::StatusReply& s, v1::Phase p) {
  for (const auto& d : s.durations())
    if (d.phase() == p) return d.nanos();
  return 0;
}

// How khod is started: its binary and the capture threads it is given
// (0: none given, khod's default).
struct KhodUnderTest {
  std::string bin;
  int capture_threads = 0;
  bool pin_movable = false;  // khod --pin-movable-memory
};

// One blackout of `targets` through a fresh khod in `dir`; prints one line.
bool Blackout(const KhodUnderTest& khod, const std::vector<AttachTarget>& targets, bool hash,
              const std::string& dir, BlackoutRun* run) {
  ::mkdir(dir.c_str(), 0700);
  const std::set<pid_t> before_run = ChildrenNow();
  const std::string sock = dir + "/k.sock";
  std::vector<std::string> argv = {khod.bin, "--socket=" + sock, "--state-dir=" + dir + "/state",
                                   "--transport=reexec"};
  if (khod.capture_threads > 0)
    argv.push_back("--capture-threads=" + std::to_string(khod.capture_threads));
  if (khod.pin_movable) argv.push_back("--pin-movable-memory");
  Result<ChildProcess> k = ChildProcess::Start(argv, false, dir + "/khod.log");
  if (!k.ok()) return false;
  KhodClient c(sock);
  if (!c.WaitHealthy(std::chrono::seconds(10)).ok()) {
    std::printf("khod did not start; its log: %s/khod.log\n", dir.c_str());
    return false;
  }
  for (const AttachTarget& t : targets) {
    v1::AttachRequest q;
    q.set_name(t.name);
    q.set_hash_contents(hash);
    q.mutable_kernel()->set_pid(t.pid);
    q.mutable_kernel()->set_fd(t.fd);
    q.set_gmem_flags(t.flags);
    auto a = c.Attach(q);
    if (!a.ok()) {
      std::printf("attach %s: %s\n", t.name.c_str(), a.status().ToString().c_str());
      return false;
    }
  }
  if (auto p = c.Prepare(); !p.ok()) {
    std::printf("prepare: %s\n", p.status().ToString().c_str());
    return false;
  }
  static uint64_t salt = 0;
  ++salt;
  for (const AttachTarget& t : targets)
    if (t.pid == ::getpid() && !PunchSpread(t.fd, t.punch_after_prepare, salt)) {
      std::printf("punch %s: %s\n", t.name.c_str(), std::strerror(errno));
      return false;
    }
  auto before = c.GetStatus();
  if (!before.ok()) return false;
  run->rss_prepared_mib = RssAnonKb(k->pid()) / 1024.0;

  const auto t0 = Clock::now();
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  auto fr = c.Freeze(f);
  const auto t_reply = Clock::now();
  if (!fr.ok()) {
    std::printf("freeze: %s\n", fr.status().ToString().c_str());
    return false;
  }
  auto after = c.WaitNewIncarnation(before->incarnation(), std::chrono::seconds(60));
  const auto t1 = Clock::now();
  if (!after.ok()) {
    std::printf("new khod: %s\n", after.status().ToString().c_str());
    return false;
  }
  auto rr = c.Restore(v1::RestoreRequest());
  const auto t_restored = Clock::now();
  auto vr = c.Verify();
  const auto t2 = Clock::now();
  if (!rr.ok() || !vr.ok()) {
    std::printf("restore/verify: %s\n", (!rr.ok() ? rr.status() : vr.status()).ToString().c_str());
    return false;
  }
  auto st = c.GetStatus();
  if (!st.ok()) return false;
  run->rss_verified_mib = RssAnonKb(k->pid()) / 1024.0;  // the same pid: khod re-executed
  run->blackout_ms = Ms(t2 - t0);
  run->freeze_ms = Ms(t_reply - t0);
  run->answering_ms = Ms(t1 - t_reply);
  run->restore_ms = Ms(t_restored - t1);
  run->verify_ms = Ms(t2 - t_restored);
  run->khod_work_ms = (DurationOf(*st, v1::FROZEN) + DurationOf(*st, v1::VERIFIED)) / 1e6;
  run->timeline = st->reexec_timeline();
  for (const auto& g : st->gmems()) run->extents += g.folio_extents();
  std::string verdict = FormatVerify(*vr);
  verdict = verdict.substr(0, verdict.find('\n'));
  std::printf(
      "%s blackout %.1f ms = freeze call %.1f (capture+serialize %.1f) + until answering %.1f"
      " (stop %.1f, exec %.1f, open %.1f, serve %.1f, the client's reconnect the rest) + restore"
      " call %.1f + verify call %.1f (khod's verify "
      "%.1f); %llu extents; Prepare before it %.1f ms; khod's anon RSS %.1f MiB after Prepare, "
      "%.1f after Verify; %s%s\n",
      hash ? "hashed" : "PFNs", run->blackout_ms, run->freeze_ms, DurationOf(*st, v1::FROZEN) / 1e6,
      run->answering_ms, run->timeline.stop_nanos() / 1e6, run->timeline.exec_nanos() / 1e6,
      run->timeline.open_nanos() / 1e6, run->timeline.serve_nanos() / 1e6, run->restore_ms,
      run->verify_ms, DurationOf(*st, v1::VERIFIED) / 1e6,
      static_cast<unsigned long long>(run->extents), DurationOf(*st, v1::PREPARED) / 1e6,
      run->rss_prepared_mib, run->rss_verified_mib, verdict.c_str(),
      WalkNoteOf(fr->message()).c_str());
  k->Stop(SIGTERM);
  // The next run starts once this one's processes are gone (bench/leftover_children.h).
  const double settled_ms = ReapChildrenBut(before_run, std::chrono::seconds(60));
  if (settled_ms < 0) {
    std::printf("  khod's children still running %.0f ms after it stopped\n", -settled_ms);
    return false;
  }
  std::printf("  (khod's children gone %.1f ms after it stopped)\n", settled_ms);
  return true;
}

// The medians of a set of runs.
struct Medians {
  double blackout = 0, min_blackout = 0, freeze = 0, answering = 0, restore = 0, verify = 0;
  double khod_work = 0;
  double rss_prepared_mib = 0, rss_verified_mib = 0;
};

Medians MediansOf(const std::vector<BlackoutRun>& runs) {
  auto med = [&](double BlackoutRun::*m) {
    std::vector<double> v;
    for (const BlackoutRun& r : runs) v.push_back(r.*m);
    return Median(v);
  };
  Medians m;
  m.blackout = med(&BlackoutRun::blackout_ms);
  m.freeze = med(&BlackoutRun::freeze_ms);
  m.answering = med(&BlackoutRun::answering_ms);
  m.restore = med(&BlackoutRun::restore_ms);
  m.verify = med(&BlackoutRun::verify_ms);
  m.khod_work = med(&BlackoutRun::khod_work_ms);
  m.rss_prepared_mib = med(&BlackoutRun::rss_prepared_mib);
  m.rss_verified_mib = med(&BlackoutRun::rss_verified_mib);
  m.min_blackout = runs.empty() ? 0 : runs[0].blackout_ms;
  for (const BlackoutRun& r : runs) m.min_blackout = std::min(m.min_blackout, r.blackout_ms);
  return m;
}

// `runs` blackouts of `targets`; false when one failed.
bool RunSet(const KhodUnderTest& khod, const std::vector<AttachTarget>& targets, int runs,
            const std::string& dir, const std::string& label, std::vector<BlackoutRun>* out) {
  for (int i = 0; i < runs; ++i) {
    std::printf("  %s run %d/%d: ", label.c_str(), i + 1, runs);
    BlackoutRun r;
    if (!Blackout(khod, targets, false, dir + "-" + std::to_string(i), &r)) return false;
    out->push_back(r);
  }
  return true;
}

std::string ThreadsText(int threads) {
  return threads > 0 ? "--capture-threads " + std::to_string(threads)
                     : std::string("khod's default capture threads");
}

// Everything measured for one guest size and one capture-thread count.
struct SizeResult {
  uint64_t gib = 0;
  int threads = 0;
  bool stand_in = false;  // a shmem memfd, not a guest_memfd (GuestMemory::what says why)
  double copy_ms = 0;
  Medians plain;
  BlackoutRun hashed;
  bool has_hashed = false;
};

// Least-squares slope of y over x.
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i)
    sx += x[i], sy += y[i], sxx += x[i] * x[i], sxy += x[i] * y[i];
  const double d = n * sxx - sx * sx;
  return d == 0 ? 0 : (n * sxy - sx * sy) / d;
}

// The series' slopes and largest/smallest ratios for one capture-thread count.
void PrintScaling(const std::vector<SizeResult>& rs, int threads, bool pinned) {
  std::vector<const SizeResult*> v;
  for (const SizeResult& r : rs)
    if (r.threads == threads) v.push_back(&r);
  if (v.size() < 2) return;
  std::vector<double> x;
  for (const SizeResult* r : v) x.push_back(static_cast<double>(r->gib));
  auto ys = [&](double Medians::*m) {
    std::vector<double> y;
    for (const SizeResult* r : v) y.push_back(r->plain.*m);
    return y;
  };
  // The ratio asked for is 8 GiB / 2 GiB; a series without both gives its
  // largest over its smallest, labelled so.
  const SizeResult *lo = v.front(), *hi = v.back(), *two = nullptr, *eight = nullptr;
  for (const SizeResult* r : v) {
    if (r->gib < lo->gib) lo = r;
    if (r->gib > hi->gib) hi = r;
    if (r->gib == 2) two = r;
    if (r->gib == 8) eight = r;
  }
  if (two && eight) lo = two, hi = eight;
  const double slope = Slope(x, ys(&Medians::blackout));
  std::printf("scaling, %s, %zu sizes:\n", ThreadsText(threads).c_str(), v.size());
  std::printf(
      "  slope (ms per GiB): blackout %.2f, freeze call %.2f, verify call %.2f, restore call %.2f, "
      "until answering %.2f",
      slope, Slope(x, ys(&Medians::freeze)), Slope(x, ys(&Medians::verify)),
      Slope(x, ys(&Medians::restore)), Slope(x, ys(&Medians::answering)));
  if (threads > 0)
    std::printf("; blackout x threads = %.2f ms per GiB per core (target <= 0.5)", slope * threads);
  // The blackout's fixed steps (the exec, gRPC, fsyncs) vary between runs by
  // more than a small slope: khod's own work is given apart.
  const double work_slope = Slope(x, ys(&Medians::khod_work));
  std::printf(
      "\n  khod's own work in Freeze and Verify (medians %.1f -> %.1f ms): slope %.2f ms per GiB",
      lo->plain.khod_work, hi->plain.khod_work, work_slope);
  if (threads > 0) std::printf(", x threads = %.2f ms per GiB per core", work_slope * threads);
  std::printf(
      "\n  %llu GiB / %llu GiB: blackout %.2fx (target <= 1.25x): %s, freeze call %.2fx, "
      "verify call %.2fx\n",
      static_cast<unsigned long long>(hi->gib), static_cast<unsigned long long>(lo->gib),
      hi->plain.blackout / lo->plain.blackout,
      hi->plain.blackout <= 1.25 * lo->plain.blackout ? "MET" : "NOT MET",
      hi->plain.freeze / lo->plain.freeze, hi->plain.verify / lo->plain.verify);
  if ((lo->stand_in || hi->stand_in) && pinned)
    std::printf(
        "  (the shmem stand-in, pinned by khod from Prepare to Verify (--pin-movable-memory): "
        "Freeze and Verify scan what changed, as for guest_memfd; each run's line says how many "
        "pages the PTE keeper vouched for and how many PTEs were walked)\n");
  else if (lo->stand_in || hi->stand_in)
    std::printf(
        "  (the shmem stand-in: memory that can move takes the full check in Freeze and Verify, "
        "every PTE read, which grows with the guest; the slope and ratio targets are for "
        "guest_memfd, which this machine cannot make)\n");
}

// Options of the whole run.
struct Options {
  std::string khod_bin, compare_bin, copy_dir, vmm_bin;
  std::vector<uint64_t> gib;
  std::vector<int> threads;  // {0}: khod's default only
  int runs = 3;
  uint64_t fragment = 0;
  bool keep = false, hash = true;
  bool vmm_keeps_mapping = false;  // the VMMs keep their guest memory mapped
  bool pin_movable = false;        // khod --pin-movable-memory
  int vmms = 0, gmems_per_vmm = 1;
  uint64_t punch_after_prepare = 0;  // pages of the one guest punched between Prepare and Freeze
};

// Leaves the free memory the guest is allocated from in holes of `pages`
// pages (a scratch file holds every (pages+1)th page), so that its PFN runs,
// which every step of a capture scales with, are as short as on a
// long-running host. Close the returned fd once the guest is populated.
int Fragment(uint64_t bytes, uint64_t pages) {
  const uint64_t page = 4096, period = (pages + 1) * page;
  const uint64_t scratch_bytes = bytes / (pages * page) * period + period;
  const int scratch = ::memfd_create("bench-fragment", MFD_CLOEXEC);
  // Sized first: Populate writes through a mapping, which past a memfd's end
  // is SIGBUS.
  if (scratch < 0 || ::ftruncate(scratch, static_cast<off_t>(scratch_bytes)) != 0 ||
      !Populate(scratch, scratch_bytes).ok())
    return -1;
  for (uint64_t off = 0; off + period <= scratch_bytes; off += period)
    if (::fallocate(scratch, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                    static_cast<off_t>(pages * page)) != 0)
      return -1;
  return scratch;
}

// Memory for `need` bytes of guests plus 2 GiB for everyone else on the host.
bool EnoughMemory(uint64_t need) {
  const uint64_t avail = MemAvailableBytes();
  if (avail >= need + 2 * kGiB) return true;
  std::printf("  skipped: needs %.1f GiB + 2 GiB, MemAvailable %.1f GiB\n",
              static_cast<double>(need) / kGiB, static_cast<double>(avail) / kGiB);
  return false;
}

// One guest of `gib` GiB: copy, the plain blackouts per thread count, one
// hashed blackout, the content floor.
bool MeasureSize(const Options& o, uint64_t gib, const std::string& dir,
                 std::vector<SizeResult>* out) {
  const uint64_t bytes = gib * kGiB;
  std::printf("== %llu GiB guest\n", static_cast<unsigned long long>(gib));
  if (!EnoughMemory(bytes)) return true;
  const int scratch = o.fragment > 0 ? Fragment(bytes, o.fragment) : -1;
  if (o.fragment > 0 && scratch < 0) {
    std::printf("--fragment: cannot make the scratch file\n");
    return false;
  }
  Result<GuestMemory> guest = MakeGuestMemory(bytes);
  if (!guest.ok()) {
    std::printf("guest memory: %s\n", guest.status().ToString().c_str());
    return false;
  }
  const int memfd = guest->fds[0].get();
  const auto t_pop = Clock::now();
  Mapping kept;  // this process is the guest's VMM
  if (Status s = Populate(memfd, bytes, 1, o.vmm_keeps_mapping ? &kept : nullptr); !s.ok()) {
    std::printf("populate: %s\n", s.ToString().c_str());
    return false;
  }
  if (scratch >= 0) ::close(scratch);  // its pages go back; the guest's stay where they are
  std::printf("  guest memory: %s%s, every page written in %.0f ms\n", guest->what.c_str(),
              o.vmm_keeps_mapping ? ", kept mapped by its VMM (this bench)" : "",
              Ms(Clock::now() - t_pop));
  const double copy_ms = CopyOutAndIn(memfd, bytes, o.copy_dir);
  if (copy_ms < 0) {
    std::printf("cannot map the guest memory to copy it\n");
    return false;
  }
  std::printf("  copy out + in (%s, fsync): %.1f ms\n", o.copy_dir.c_str(), copy_ms);
  const std::vector<AttachTarget> targets = {
      {::getpid(), memfd, guest->flags, "guest", o.punch_after_prepare}};
  const std::string base = dir + "/" + std::to_string(gib) + "g";
  for (int threads : o.threads) {
    SizeResult r;
    r.gib = gib;
    r.threads = threads;
    r.stand_in = !guest->vm;
    r.copy_ms = copy_ms;
    std::vector<BlackoutRun> runs;
    const KhodUnderTest khod{o.khod_bin, threads, o.pin_movable};
    if (!RunSet(khod, targets, o.runs, base + "-t" + std::to_string(threads), ThreadsText(threads),
                &runs))
      return false;
    r.plain = MediansOf(runs);
    std::printf(
        "  %s: blackout median %.1f ms (min %.1f) = %.3f%% of copy (target <= 1%%): %s; "
        "freeze call %.1f, verify call %.1f\n",
        ThreadsText(threads).c_str(), r.plain.blackout, r.plain.min_blackout,
        100 * r.plain.blackout / copy_ms, r.plain.blackout <= copy_ms / 100 ? "MET" : "NOT MET",
        r.plain.freeze, r.plain.verify);
    if (!o.compare_bin.empty()) {
      // The same runs with the other khod interleaved with as many more of
      // this one: same memory, same PFN runs, same sitting.
      std::vector<BlackoutRun> other, again;
      for (int i = 0; i < o.runs; ++i) {
        if (!RunSet({o.compare_bin, threads, o.pin_movable}, targets, 1,
                    base + "-cmp" + std::to_string(i), "--compare " + o.compare_bin, &other) ||
            !RunSet(khod, targets, 1, base + "-again" + std::to_string(i), "this khod again",
                    &again))
          return false;
      }
      const Medians a = MediansOf(other), b = MediansOf(again);
      std::printf(
          "  --compare: blackout median %.1f ms (%.3f%%) against this khod's %.1f ms "
          "(%.3f%%) interleaved\n",
          a.blackout, 100 * a.blackout / copy_ms, b.blackout, 100 * b.blackout / copy_ms);
    }
    if (o.hash && threads == o.threads.front()) {
      std::printf("  %s, contents: ", ThreadsText(threads).c_str());
      if (!Blackout(khod, targets, true, base + "-hashed", &r.hashed)) return false;
      r.has_hashed = true;
    }
    out->push_back(r);
  }
  // This size's results are the last ones; its hashed blackout is the first's.
  const SizeResult& first = (*out)[out->size() - o.threads.size()];
  if (o.hash) {
    const int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    std::optional<ContentCost> c = MeasureContentCost(memfd, bytes, cpus);
    if (!c) {
      std::printf("cannot map the guest memory to read it\n");
      return false;
    }
    const double gb = static_cast<double>(bytes) / 1e9;
    const double extra = first.hashed.blackout_ms - first.plain.blackout;
    std::printf(
        "  contents: hashed blackout %.1f ms = %.2f%% of copy, %.1f ms more than PFNs only "
        "(%.1f ms per GiB; every byte hashed twice, Freeze and Verify: 2 x %.2f GB/s)\n",
        first.hashed.blackout_ms, 100 * first.hashed.blackout_ms / first.copy_ms, extra,
        extra / static_cast<double>(gib), 2 * gb / (extra / 1e3));
    std::printf(
        "  contents floor, this bench on the same memory through a populated mapping: plain "
        "read %.1f ms (%.2f GB/s) on 1 thread, %.1f ms (%.2f GB/s) on %d; XXH3 %.1f ms "
        "(%.2f GB/s) on 1 thread, %.1f ms (%.2f GB/s) on %d; a plain read through a fresh "
        "mapping (page faults included) %.1f ms (%.2f GB/s) on %d; mmap(MAP_POPULATE) of it "
        "%.1f ms\n",
        c->read_1_ms, gb / (c->read_1_ms / 1e3), c->read_n_ms, gb / (c->read_n_ms / 1e3),
        c->threads, c->hash_1_ms, gb / (c->hash_1_ms / 1e3), c->hash_n_ms,
        gb / (c->hash_n_ms / 1e3), c->threads, c->fresh_read_n_ms, gb / (c->fresh_read_n_ms / 1e3),
        c->threads, c->populate_ms);
  }
  return true;
}

// The many-VMs case for one total size: V VMM processes x G files against
// one guest of the same total memory, runs interleaved.
bool MeasureManyVms(const Options& o, uint64_t gib, const std::string& dir) {
  const int files = o.vmms * o.gmems_per_vmm;
  // Each file a whole number of 2 MiB; the big guest holds exactly their sum.
  const uint64_t each = gib * kGiB / static_cast<uint64_t>(files) / (2 << 20) * (2 << 20);
  const uint64_t total = each * static_cast<uint64_t>(files);
  std::printf(
      "== %d VMM processes x %d guest memory files of %llu MiB (%llu MiB) against one "
      "guest of %llu MiB\n",
      o.vmms, o.gmems_per_vmm, static_cast<unsigned long long>(each >> 20),
      static_cast<unsigned long long>(total >> 20), static_cast<unsigned long long>(total >> 20));
  if (each == 0) {
    std::printf("  --gib %llu is too small for %d files of whole 2 MiB\n",
                static_cast<unsigned long long>(gib), files);
    return false;
  }
  if (!EnoughMemory(2 * total)) return true;
  const auto t_pop = Clock::now();
  std::vector<ChildProcess> vmms;
  for (int v = 0; v < o.vmms; ++v) {
    std::vector<std::string> argv = {o.vmm_bin, "--gmems=" + std::to_string(o.gmems_per_vmm),
                                     "--bytes=" + std::to_string(each)};
    if (o.vmm_keeps_mapping) argv.push_back("--keep-mapping");
    Result<ChildProcess> c = ChildProcess::Start(argv, true);
    if (!c.ok()) {
      std::printf("vmm_stand_in %s: %s\n", o.vmm_bin.c_str(), c.status().ToString().c_str());
      return false;
    }
    vmms.push_back(std::move(*c));
  }
  // The one big guest is written while the VMM processes write theirs, by
  // as many threads as there are VMM processes, so that both take their pages
  // from the same free memory at once; the PFN runs still differ (each run
  // prints its extents), and every capture step scales with them.
  Result<GuestMemory> big = MakeGuestMemory(total);
  Mapping kept;
  if (!big.ok() ||
      !Populate(big->fds[0].get(), total, o.vmms, o.vmm_keeps_mapping ? &kept : nullptr).ok()) {
    std::printf("the one big guest: %s\n",
                big.ok() ? "populate failed" : big.status().ToString().c_str());
    return false;
  }
  std::vector<AttachTarget> many;
  std::string what;
  for (int v = 0; v < o.vmms; ++v) {
    Result<std::string> line = vmms[v].ReadLine();
    // "fds F1 F2 ... flags X what WHAT"
    if (!line.ok() || line->rfind("fds ", 0) != 0) {
      std::printf("vmm_stand_in %d: %s\n", v, line.ok() ? line->c_str() : "no answer");
      return false;
    }
    const size_t flags_at = line->find(" flags ");
    const size_t what_at = line->find(" what ");
    if (flags_at == std::string::npos || what_at == std::string::npos) return false;
    const std::string_view text = *line;
    const std::optional<uint64_t> flags =
        what_at > flags_at ? ParseU64(text.substr(flags_at + 7, what_at - flags_at - 7))
                           : std::nullopt;
    if (!flags) return false;
    what = line->substr(what_at + 6);
    std::string_view fds = text.substr(4, flags_at - 4);
    for (int g = 0; g < o.gmems_per_vmm; ++g) {
      const size_t space = std::min(fds.find(' '), fds.size());
      const std::optional<int> fd = ParseInt(fds.substr(0, space));
      if (!fd) return false;
      many.push_back(
          {vmms[v].pid(), *fd, *flags, "vmm" + std::to_string(v) + "-gmem" + std::to_string(g)});
      fds.remove_prefix(std::min(space + 1, fds.size()));
    }
  }
  std::printf("  %d VMM processes: %s; the one guest: %s%s; every page written in %.0f ms\n",
              o.vmms, what.c_str(), big->what.c_str(),
              o.vmm_keeps_mapping ? "; each kept mapped by its VMM" : "", Ms(Clock::now() - t_pop));
  const std::vector<AttachTarget> one = {{::getpid(), big->fds[0].get(), big->flags, "big"}};
  for (int threads : o.threads) {
    // This khod, and --compare's run by run between its runs: the same
    // memory in the same sitting, an A/B of two builds.
    std::vector<KhodUnderTest> khods = {{o.khod_bin, threads, o.pin_movable}};
    if (!o.compare_bin.empty()) khods.push_back({o.compare_bin, threads, o.pin_movable});
    std::vector<std::vector<BlackoutRun>> a(khods.size()), b(khods.size());
    for (int i = 0; i < o.runs; ++i)
      for (size_t k = 0; k < khods.size(); ++k) {
        const std::string n = std::to_string(gib) + "g-t" + std::to_string(threads) + "-" +
                              std::to_string(i) + (k > 0 ? "-cmp" : "");
        const std::string who = k > 0 ? " (--compare)" : "";
        if (!RunSet(khods[k], one, 1, dir + "/one-" + n, "one guest" + who, &a[k]) ||
            !RunSet(khods[k], many, 1, dir + "/many-" + n, std::to_string(files) + " files" + who,
                    &b[k]))
          return false;
      }
    for (size_t k = 0; k < khods.size(); ++k) {
      const Medians ma = MediansOf(a[k]), mb = MediansOf(b[k]);
      std::printf(
          "  %s%s: blackout median one guest %.1f ms (freeze call %.1f, verify call %.1f, %llu "
          "extents), %d VMMs x %d files %.1f ms (freeze call %.1f, verify call %.1f, %llu "
          "extents): %.2fx (target <= 1.5x): %s\n",
          k > 0 ? ("--compare " + o.compare_bin + ", ").c_str() : "", ThreadsText(threads).c_str(),
          ma.blackout, ma.freeze, ma.verify, static_cast<unsigned long long>(a[k].back().extents),
          o.vmms, o.gmems_per_vmm, mb.blackout, mb.freeze, mb.verify,
          static_cast<unsigned long long>(b[k].back().extents), mb.blackout / ma.blackout,
          mb.blackout <= 1.5 * ma.blackout ? "MET" : "NOT MET");
      std::printf(
          "    khod's anon RSS, median: one guest %.1f MiB after Prepare, %.1f after Verify; %d "
          "files %.1f and %.1f\n",
          ma.rss_prepared_mib, ma.rss_verified_mib, o.vmms * o.gmems_per_vmm, mb.rss_prepared_mib,
          mb.rss_verified_mib);
    }
  }
  for (ChildProcess& c : vmms) c.Wait();
  return true;
}

// A 1 TiB MODEL guest (1 GiB folios, part private: restructuring records).
bool MeasureModel(const std::string& khod_bin, const std::string& dir) {
  const std::string dir2 = dir + "/model";
  Result<ChildProcess> k2 = ChildProcess::Start(
      {khod_bin, "--socket=" + dir2 + ".sock", "--state-dir=" + dir2, "--transport=reexec"}, false,
      dir + "/khod-model.log");
  KhodClient m(dir2 + ".sock");
  if (!k2.ok() || !m.WaitHealthy(std::chrono::seconds(10)).ok()) return false;
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
  if (!ma.ok()) {
    std::printf("model attach: %s\n", ma.status().ToString().c_str());
    return false;
  }
  if (!m.Prepare().ok()) return false;
  auto mb = m.GetStatus();
  v1::FreezeRequest f;
  f.set_guests_paused(true);
  if (!mb.ok() || !m.Freeze(f).ok()) return false;
  m.WaitNewIncarnation(mb->incarnation(), std::chrono::seconds(30));
  auto mr = m.Restore(v1::RestoreRequest());
  auto mv = m.Verify();
  auto ms = m.GetStatus();
  if (!mr.ok() || !mv.ok() || !ms.ok()) {
    std::printf("model restore/verify failed\n");
    return false;
  }
  const double freeze_ms = (DurationOf(*ms, v1::FROZEN) + DurationOf(*ms, v1::HANDED_OVER)) / 1e6;
  const double rv_ms = (DurationOf(*ms, v1::RESTORED) + DurationOf(*ms, v1::VERIFIED)) / 1e6;
  std::printf(
      "MODEL 1 TiB guest (1 GiB folios, 64 split): blob %llu bytes; freeze %.1f ms (target "
      "<= 50): %s; restore+verify %.1f ms (target <= 100): %s; verify %s",
      static_cast<unsigned long long>(ms->blob_bytes()), freeze_ms,
      freeze_ms <= 50 ? "MET" : "NOT MET", rv_ms, rv_ms <= 100 ? "MET" : "NOT MET",
      FormatVerify(*mv).c_str());
  k2->Stop(SIGTERM);
  return true;
}

// A series without contents, --compare or --fragment: every size's guest is
// made, populated and copied first, then the runs are taken in turn across
// the sizes (2, 8, 2, 8, ... GiB) for each thread count, so that the
// machine's drift during a series falls on every size alike and the ratio
// compares sizes, not moments (figures on this VM move between minutes).
bool MeasureSeriesInterleaved(const Options& o, const std::string& dir,
                              std::vector<SizeResult>* out) {
  struct Size {
    uint64_t gib = 0;
    GuestMemory guest;
    double copy_ms = 0;
    std::vector<AttachTarget> targets;
  };
  uint64_t total = 0;
  for (uint64_t gib : o.gib) total += gib * kGiB;
  std::printf("== guests of every size at once, runs taken in turn across the sizes\n");
  if (!EnoughMemory(total)) return true;
  std::vector<std::unique_ptr<Size>> sizes;
  for (uint64_t gib : o.gib) {
    auto z = std::make_unique<Size>();
    z->gib = gib;
    Result<GuestMemory> guest = MakeGuestMemory(gib * kGiB);
    if (!guest.ok()) {
      std::printf("guest memory: %s\n", guest.status().ToString().c_str());
      return false;
    }
    z->guest = std::move(*guest);
    const int memfd = z->guest.fds[0].get();
    const auto t_pop = Clock::now();
    if (Status st = Populate(memfd, gib * kGiB, 1, nullptr); !st.ok()) {
      std::printf("populate: %s\n", st.ToString().c_str());
      return false;
    }
    z->copy_ms = CopyOutAndIn(memfd, gib * kGiB, o.copy_dir);
    if (z->copy_ms < 0) {
      std::printf("cannot map the guest memory to copy it\n");
      return false;
    }
    std::printf(
        "  %llu GiB: %s, every page written in %.0f ms; copy out + in (%s, fsync) %.1f ms\n",
        static_cast<unsigned long long>(gib), z->guest.what.c_str(), Ms(Clock::now() - t_pop),
        o.copy_dir.c_str(), z->copy_ms);
    z->targets = {{::getpid(), memfd, z->guest.flags, "guest"}};
    sizes.push_back(std::move(z));
  }
  for (int threads : o.threads) {
    const KhodUnderTest khod{o.khod_bin, threads, o.pin_movable};
    std::vector<std::vector<BlackoutRun>> runs(sizes.size());
    for (int i = 0; i < o.runs; ++i)
      for (size_t k = 0; k < sizes.size(); ++k) {
        const std::string gib = std::to_string(sizes[k]->gib);
        if (!RunSet(khod, sizes[k]->targets, 1,
                    dir + "/" + gib + "g-t" + std::to_string(threads) + "-" + std::to_string(i),
                    gib + " GiB, " + ThreadsText(threads), &runs[k]))
          return false;
      }
    for (size_t k = 0; k < sizes.size(); ++k) {
      SizeResult r;
      r.gib = sizes[k]->gib;
      r.threads = threads;
      r.stand_in = !sizes[k]->guest.vm;
      r.copy_ms = sizes[k]->copy_ms;
      r.plain = MediansOf(runs[k]);
      std::printf(
          "  %llu GiB, %s: blackout median %.1f ms (min %.1f) = %.3f%% of copy (target <= 1%%): "
          "%s; freeze call %.1f, verify call %.1f\n",
          static_cast<unsigned long long>(r.gib), ThreadsText(threads).c_str(), r.plain.blackout,
          r.plain.min_blackout, 100 * r.plain.blackout / r.copy_ms,
          r.plain.blackout <= r.copy_ms / 100 ? "MET" : "NOT MET", r.plain.freeze, r.plain.verify);
      out->push_back(r);
    }
  }
  return true;
}

// /proc/loadavg's first three fields: figures taken while others run are
// inflated by waiting for a core, and say so.
std::string LoadAverage() {
  FILE* f = std::fopen("/proc/loadavg", "re");
  double a = 0, b = 0, c = 0;
  const bool ok = f != nullptr && std::fscanf(f, "%lf %lf %lf", &a, &b, &c) == 3;
  if (f != nullptr) std::fclose(f);
  char text[64];
  std::snprintf(text, sizeof text, "%.2f %.2f %.2f", a, b, c);
  return ok ? text : "unreadable";
}

int Run(const Options& o) {
  char tmpl[] = "/tmp/khod-blackout.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  bool ok = true;
  if (o.vmms > 0) {
    for (uint64_t gib : o.gib) ok = ok && MeasureManyVms(o, gib, dir);
  } else {
    std::vector<SizeResult> results;
    // Not with --vmm-keeps-mapping: this process, the VMM, would map every
    // size's guest at once, and Freeze reads its numa_maps (all of them).
    // Nor with --punch-after-prepare, which only the per-size runs do.
    if (o.gib.size() > 1 && !o.hash && o.compare_bin.empty() && o.fragment == 0 &&
        !o.vmm_keeps_mapping && o.punch_after_prepare == 0)
      ok = MeasureSeriesInterleaved(o, dir, &results);
    else
      for (uint64_t gib : o.gib) ok = ok && MeasureSize(o, gib, dir, &results);
    if (ok) {
      std::printf("== summary\n");
      for (const SizeResult& r : results) {
        char hashed[64] = "";
        if (r.has_hashed)
          std::snprintf(hashed, sizeof hashed, ", hashed %.1f ms", r.hashed.blackout_ms);
        std::printf(
            "  %3llu GiB, %s: copy %.0f ms, blackout median %.1f ms (min %.1f) = %.3f%% of "
            "copy, freeze call %.1f, verify call %.1f, restore call %.1f, until answering %.1f%s\n",
            static_cast<unsigned long long>(r.gib), ThreadsText(r.threads).c_str(), r.copy_ms,
            r.plain.blackout, r.plain.min_blackout, 100 * r.plain.blackout / r.copy_ms,
            r.plain.freeze, r.plain.verify, r.plain.restore, r.plain.answering, hashed);
      }
      for (int threads : o.threads) PrintScaling(results, threads, o.pin_movable);
    }
    ok = ok && MeasureModel(o.khod_bin, dir);
  }
  std::printf("load average at the end: %s\n", LoadAverage().c_str());
  if (o.keep) {
    std::printf("run directory kept (khod logs): %s\n", dir.c_str());
  } else if (ok) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  } else {
    std::printf("run directory kept after a failure (khod logs): %s\n", dir.c_str());
  }
  return ok ? 0 : 2;
}

// "1,2,4,8" -> {1, 2, 4, 8}; each in [lo, hi].
std::optional<std::vector<uint64_t>> ParseList(const std::string& s, uint64_t lo, uint64_t hi) {
  Result<std::vector<uint64_t>> v = ParseU64ListNamed(s, "list item", lo, hi);
  if (!v.ok()) return std::nullopt;
  return std::move(*v);
}

// The binary built in the same configuration as this bench, else `fallback`.
std::string Sibling(const std::string& rel, const std::string& fallback, std::string* why) {
  const std::string s = SiblingBinary("bench", rel);
  if (!s.empty() && ::access(s.c_str(), X_OK) == 0) {
    *why = "built with this bench";
    return s;
  }
  *why = "default; none built beside this bench, its configuration may differ";
  return fallback;
}

}  // namespace
}  // namespace khod

int main(int argc, char** argv) {
  using namespace khod;
  int exit_code = 0;
  const std::optional<ParsedFlags> f = ParseCommandLine(
      argc, argv, "blackout_bench [FLAGS]",
      {{"--gib", true, nullptr, "LIST  guest sizes in GiB, e.g. 1,2,4,8 (default 2)"},
       {"--runs", true, nullptr, "N  blackouts per size and thread count, median reported (3)"},
       {"--capture-threads", true, nullptr,
        "LIST  khod --capture-threads values to run each size with, e.g. 1,2 (default: none "
        "given, khod's own default)"},
       {"--vmms", true, nullptr, "V  many-VMs case: V VMM processes, one VM each"},
       {"--gmems-per-vmm", true, nullptr, "G  guest memory files per VMM process (default 4)"},
       {"--khod", true, nullptr, "PATH  khod binary (default: the one built with this bench)"},
       {"--copy-dir", true, nullptr, "DIR  where the copy is written (default /var/tmp)"},
       {"--fragment", true, nullptr, "N  leave the free memory in holes of N pages first"},
       {"--compare", true, nullptr, "PATH  another khod, interleaved runs on the same memory"},
       {"--no-hash", false, nullptr, "  skip the hashed blackout and the content floor"},
       {"--vmm-keeps-mapping", false, nullptr,
        "  every guest's VMM keeps its memory mapped, every page present (as a real VMM)"},
       {"--pin-movable-memory", false, nullptr,
        "  run khod with --pin-movable-memory (a shmem stand-in's pages pinned from Prepare)"},
       {"--punch-after-prepare", true, nullptr,
        "N  punch N pages of the guest between Prepare and Freeze (a guest that changed)"},
       {"--keep", false, nullptr, "  keep the run directory (khod logs)"}},
      &exit_code);
  if (!f) return exit_code;
  Options o;
  std::optional<std::vector<uint64_t>> gib = ParseList(f->Get("--gib", "2"), 1, 1024);
  std::optional<std::vector<uint64_t>> threads =
      f->Has("--capture-threads") ? ParseList(f->Get("--capture-threads"), 1, 4096)
                                  : std::vector<uint64_t>{0};
  Result<uint64_t> runs = f->GetUint("--runs", 3), vmms = f->GetUint("--vmms", 0),
                   per_vmm = f->GetUint("--gmems-per-vmm", 4),
                   fragment = f->GetUint("--fragment", 0),
                   punch = f->GetUint("--punch-after-prepare", 0);
  if (!gib || !threads) {
    std::fprintf(stderr, "blackout_bench: --gib and --capture-threads take a list like 1,2,4,8\n");
    return 2;
  }
  for (const Result<uint64_t>* r : {&runs, &vmms, &per_vmm, &fragment, &punch}) {
    if (!r->ok()) {
      std::fprintf(stderr, "blackout_bench: %s\n", r->status().message().c_str());
      return 2;
    }
  }
  // khod attaches at most 1024 files (daemon/session_declarations.cc): refused
  // here, not after every file is written.
  if (*runs == 0 || *runs > 1000 || *vmms > 1000 || *per_vmm == 0 || *per_vmm > 1024 ||
      *vmms * *per_vmm > 1024) {
    std::fprintf(stderr,
                 "blackout_bench: --runs takes 1 to 1000, --vmms up to 1000, "
                 "--gmems-per-vmm 1 to 1024, and --vmms x --gmems-per-vmm at most 1024 "
                 "(khod's limit of attached files)\n");
    return 2;
  }
  if (*vmms > 0 && *punch > 0) {
    std::fprintf(stderr,
                 "blackout_bench: --punch-after-prepare is not done in the many-VMs case "
                 "(--vmms): run it on its own\n");
    return 2;
  }
  o.gib = *gib;
  for (uint64_t t : *threads) o.threads.push_back(static_cast<int>(t));
  o.runs = static_cast<int>(*runs);
  o.vmms = static_cast<int>(*vmms);
  o.gmems_per_vmm = static_cast<int>(*per_vmm);
  o.fragment = *fragment;
  o.punch_after_prepare = *punch;
  o.keep = f->Has("--keep");
  o.hash = !f->Has("--no-hash");
  o.vmm_keeps_mapping = f->Has("--vmm-keeps-mapping");
  o.pin_movable = f->Has("--pin-movable-memory");
  o.copy_dir = f->Get("--copy-dir", "/var/tmp");
  o.compare_bin = f->Get("--compare");
  std::string why = "--khod";
  o.khod_bin =
      f->Has("--khod") ? f->Get("--khod") : Sibling("daemon/khod", "bazel-bin/daemon/khod", &why);
  std::printf("khod binary: %s (%s)\n", o.khod_bin.c_str(), why.c_str());
  if (::access(o.khod_bin.c_str(), X_OK) != 0) {
    std::printf("khod binary %s is not an executable: build //daemon:khod or pass --khod\n",
                o.khod_bin.c_str());
    return 2;
  }
  if (o.vmms > 0) {
    o.vmm_bin = Sibling("bench/vmm_stand_in", "bazel-bin/bench/vmm_stand_in", &why);
    if (::access(o.vmm_bin.c_str(), X_OK) != 0) {
      std::printf("%s is not an executable: build //bench:vmm_stand_in\n", o.vmm_bin.c_str());
      return 2;
    }
  }
  if (!AdoptOrphanedDescendants())
    std::printf("cannot be the subreaper of khod's children: runs may overlap their exit\n");
  std::printf("host: %u CPUs, MemAvailable %.1f GiB, load average %s\n",
              std::thread::hardware_concurrency(), static_cast<double>(MemAvailableBytes()) / kGiB,
              LoadAverage().c_str());
  return Run(o);
}
