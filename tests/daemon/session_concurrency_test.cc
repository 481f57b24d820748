// Session (daemon/session.h) driven from several threads at once, as a busy
// or hostile orchestration layer sends its calls: random interleavings of
// Attach (MODEL guests and memfds of this process), Detach, UpdateAttributes,
// Prepare, Freeze (dir, reexec, guests not paused), Restore, Verify, Finish,
// Cancel, GetStatus and GetSnapshot on one session, with a reexec Freeze's
// exec played as the daemon plays it (BeginExec, then ExecFailed: nothing is
// exec'd). Checked throughout: each durable record, read back from disk as
// it is published, is what Status then says; successive records are
// transitions the phase allowed, one per call that returned OK and none for
// a call refused, and a call's reply names the phase its record wrote. With
// every thread stopped between rounds: the record on disk, Status and
// phase() agree, the state dir holds the blobs the record names and no
// other, every gmem the record names is held, and a session brought back to
// no gmem (or finished) holds no fd it took. The same on the new side of a
// reexec, opened in this process with what the exec would hand it, while its
// read-ahead, warm-ups and release after Verify run beside the calls. Last,
// what these found, each as one call after another.
//
// The calls each thread makes come from KHOD_CONCURRENCY_SEED (printed at
// the start; a random one when unset), so a failing run's choices can be
// replayed; how the threads interleave is the scheduler's.
#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/record_file.h"
#include "daemon/session.h"
#include "daemon/session_phase.h"
#include "daemon/session_record.pb.h"
#include "kernel/pagemap.h"
#include "kernel/shared_policy_iter.h"
#include "tests/daemon/verify_verdict.h"
#include "tests/support/fixture.h"
#include "tests/support/session_fixture.h"

namespace khod {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kThreads = 4;
constexpr int kRounds = 10;
constexpr auto kRoundTime = std::chrono::milliseconds(800);
constexpr int kNewSideRounds = 6;
constexpr auto kNewSideRoundTime = std::chrono::milliseconds(400);
constexpr int kMaxOpsPerThreadAndRound = 400;
constexpr int kMemfds = 3;
constexpr int kMaxGmems = 4;
constexpr size_t kMemfdBytes = 256 * 1024;
// The previous khod's mapping holder is a clone(CLONE_VM) child of its own
// stack (kernel/mapping_holder.h), which ThreadSanitizer cannot run: under it
// the new sides go without one.
#ifdef __SANITIZE_THREAD__
constexpr bool kMappingHolders = false;
#else
constexpr bool kMappingHolders = true;
#endif

enum class Op {
  kNone,  // no call of the test's (Open's own records)
  kAttachModel,
  kAttachMemfd,
  kDetach,
  kUpdateAttributes,
  kPrepare,
  kFreezeDir,
  kFreezeReexec,
  kFreezeUnpaused,
  kRestore,
  kRestoreFromStateDir,
  kVerify,
  kFinish,
  kCancel,
  kStatus,
  kSnapshot,
};

const char* OpName(Op op) {
  switch (op) {
    case Op::kNone:
      return "none";
    case Op::kAttachModel:
      return "Attach(model)";
    case Op::kAttachMemfd:
      return "Attach(memfd)";
    case Op::kDetach:
      return "Detach";
    case Op::kUpdateAttributes:
      return "UpdateAttributes";
    case Op::kPrepare:
      return "Prepare";
    case Op::kFreezeDir:
      return "Freeze(dir)";
    case Op::kFreezeReexec:
      return "Freeze(reexec)";
    case Op::kFreezeUnpaused:
      return "Freeze(guests not paused)";
    case Op::kRestore:
      return "Restore";
    case Op::kRestoreFromStateDir:
      return "Restore(from_state_dir)";
    case Op::kVerify:
      return "Verify";
    case Op::kFinish:
      return "Finish";
    case Op::kCancel:
      return "Cancel";
    case Op::kStatus:
      return "GetStatus";
    case Op::kSnapshot:
      return "GetSnapshot";
  }
  return "?";
}

// Relative frequency of each call: enough of every forward step that rounds
// reach VERIFIED and FINISHED, enough Cancel and Detach that they come back.
struct Weighted {
  Op op;
  int weight;
};
const std::vector<Weighted> kOps = {
    {Op::kAttachModel, 7},  {Op::kAttachMemfd, 7},
    {Op::kDetach, 4},       {Op::kUpdateAttributes, 2},
    {Op::kPrepare, 10},     {Op::kFreezeDir, 7},
    {Op::kFreezeReexec, 6}, {Op::kFreezeUnpaused, 1},
    {Op::kRestore, 10},     {Op::kRestoreFromStateDir, 2},
    {Op::kVerify, 10},      {Op::kFinish, 8},
    {Op::kCancel, 4},       {Op::kStatus, 8},
    {Op::kSnapshot, 2},
};

// The new side of a reexec: what follows a handover, and a new session after it.
const std::vector<Weighted> kNewSideOps = {
    {Op::kRestore, 8},     {Op::kRestoreFromStateDir, 2},
    {Op::kVerify, 8},      {Op::kFinish, 5},
    {Op::kCancel, 3},      {Op::kStatus, 6},
    {Op::kSnapshot, 3},    {Op::kAttachModel, 2},
    {Op::kAttachMemfd, 2}, {Op::kPrepare, 2},
    {Op::kFreezeDir, 2},
};

Op PickOp(const std::vector<Weighted>& ops, std::mt19937_64& rng) {
  int total = 0;
  for (const Weighted& w : ops) total += w.weight;
  int n = std::uniform_int_distribution<int>(0, total - 1)(rng);
  for (const Weighted& w : ops) {
    if (n < w.weight) return w.op;
    n -= w.weight;
  }
  return Op::kStatus;
}

// Whether a call of `op` that returned OK may have written a record in
// phase `to` over one in phase `from`.
bool Allowed(Op op, v1::Phase from, v1::Phase to) {
  switch (op) {
    case Op::kAttachModel:
    case Op::kAttachMemfd:
      return (from == v1::IDLE || from == v1::FINISHED) && to == v1::IDLE;
    case Op::kDetach:
      return from == v1::IDLE && to == v1::IDLE;
    case Op::kUpdateAttributes:
      return (from == v1::IDLE || from == v1::PREPARED) && to == from;
    case Op::kPrepare:
      return (from == v1::IDLE || from == v1::PREPARED) && to == v1::PREPARED;
    case Op::kFreezeDir:
    case Op::kFreezeReexec:
      return from == v1::PREPARED && to == v1::HANDED_OVER;
    case Op::kRestore:
    case Op::kRestoreFromStateDir:
      return from == v1::HANDED_OVER && to == v1::RESTORED;
    case Op::kVerify:
      return (from == v1::RESTORED && (to == v1::RESTORED || to == v1::VERIFIED)) ||
             (from == v1::VERIFIED && to == v1::VERIFIED);
    case Op::kFinish:
      return from == v1::VERIFIED && to == v1::FINISHED;
    case Op::kCancel:
      return from != v1::FINISHED && to == v1::IDLE;
    default:
      return false;  // writes no record
  }
}

// Whether a call of `op` that returns OK has written one record.
bool Writes(Op op) {
  switch (op) {
    case Op::kNone:
    case Op::kFreezeUnpaused:
    case Op::kStatus:
    case Op::kSnapshot:
      return false;
    default:
      return true;
  }
}

std::vector<uint64_t> Tokens(const v1::SessionRecord& r) {
  std::vector<uint64_t> t;
  for (const auto& g : r.gmems()) t.push_back(g.token());
  return t;
}

std::vector<uint64_t> Tokens(const v1::StatusReply& s) {
  std::vector<uint64_t> t;
  for (const auto& g : s.gmems()) t.push_back(g.token());
  return t;
}

std::string TokenList(const std::vector<uint64_t>& t) {
  std::string s;
  for (uint64_t x : t) s += (s.empty() ? "" : ",") + std::to_string(x);
  return "[" + s + "]";
}

// "" when the record and Status say the same of the session, else what differs.
std::string Disagreement(const v1::SessionRecord& r, const v1::StatusReply& s) {
  std::string d;
  if (r.phase() != s.phase())
    d += "; phase: record " + PhaseName(r.phase()) + ", Status " + PhaseName(s.phase());
  if (r.generation() != s.generation())
    d += "; generation: record " + std::to_string(r.generation()) + ", Status " +
         std::to_string(s.generation());
  if (r.session_id() != s.session_id()) d += "; session id differs";
  if (Tokens(r) != Tokens(s))
    d += "; gmems: record " + TokenList(Tokens(r)) + ", Status " + TokenList(Tokens(s));
  return d;
}

// A Verify reply's first difference, for a message.
std::string FirstDifference(const v1::VerifyReply& r) {
  if (r.differences_size() == 0) return "none named";
  const v1::Difference& d = r.differences(0);
  return "gmem " + std::to_string(d.token()) + " " + d.field() + " " + d.where() + ": expected " +
         d.expected() + ", found " + d.found();
}

// This process's open fds: number -> what it is.
std::map<int, std::string> OpenFds() {
  std::map<int, std::string> fds;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return fds;
  const int own = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd == own) continue;
    char link[512];
    const ssize_t n =
        ::readlink(("/proc/self/fd/" + std::string(e->d_name)).c_str(), link, sizeof(link) - 1);
    fds[fd] = n > 0 ? std::string(link, static_cast<size_t>(n)) : "?";
  }
  ::closedir(d);
  return fds;
}

// "" when `now` has the fds of `before`, else those opened and closed since.
std::string FdsChanged(const std::map<int, std::string>& before,
                       const std::map<int, std::string>& now) {
  std::string d;
  for (const auto& [fd, what] : now)
    if (!before.count(fd) || before.at(fd) != what) d += " +" + std::to_string(fd) + "=" + what;
  for (const auto& [fd, what] : before)
    if (!now.count(fd) || now.at(fd) != what) d += " -" + std::to_string(fd) + "=" + what;
  return d;
}

// What the calling thread's current call did, as the record hook sees it:
// the writer of a durable record is the thread whose call staged it (each
// call stages and waits under the session's lock).
thread_local Op t_op = Op::kNone;
thread_local int t_written = 0;                     // records the current call made durable
thread_local size_t t_last = 0;                     // index in the log of the last of them
thread_local std::vector<std::string> t_exec_argv;  // what the current Freeze asked to exec

// One durable record, as read back from disk right after its write.
struct Published {
  Op op;
  int thread;
  v1::SessionRecord record;
};
thread_local int t_index = -1;                // the worker's number; -1: the test's own thread
thread_local uint64_t t_generation_seen = 0;  // the newest Status this thread was given

class SessionConcurrencyTest : public SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    const char* env = std::getenv("KHOD_CONCURRENCY_SEED");
    seed_ = env && *env ? std::strtoull(env, nullptr, 10) : std::random_device()();
    std::printf("session_concurrency_test: KHOD_CONCURRENCY_SEED=%llu\n",
                static_cast<unsigned long long>(seed_));
    std::fflush(stdout);
    RecordProperty("seed", std::to_string(seed_));
    for (int i = 0; i < kMemfds; ++i) {
      memfds_.emplace_back(kMemfdBytes, ("stress" + std::to_string(i)).c_str());
      memfds_.back().Fill(0, kMemfdBytes / 2, static_cast<unsigned char>(0x10 + i));
    }
    pfns_shown_ = PfnsShownToThisProcess();
  }

  SessionOptions StressOpts() {
    SessionOptions o = Opts();
    o.on_exec_ready = [](std::vector<std::string> argv) { t_exec_argv = std::move(argv); };
    o.on_status_published = [this] { OnPublished(); };
    return o;
  }

  // The calls in the order they returned, for a failure's report.
  void Trace(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    trace_.push_back("t" + std::to_string(t_index) + " " + what);
  }

  void Fail(const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    failures_.push_back("thread " + std::to_string(t_index) + ": " + what);
    trace_.push_back("!! t" + std::to_string(t_index) + " " + what);
  }

  // Runs on the thread whose call made the record durable, that call
  // holding the session's lock: the file on disk is this record.
  void OnPublished() {
    Published p{t_op, t_index, v1::SessionRecord()};
    Result<std::string> raw = ReadRecordFile(dir_ + "/session.rec");
    if (!raw.ok() || !p.record.ParseFromString(*raw)) {
      Fail(std::string("record unreadable right after its write: ") +
           (raw.ok() ? "does not parse" : raw.status().ToString()));
      return;
    }
    if (Session* s = session_.load()) {
      const std::string d = Disagreement(p.record, s->GetStatus());
      if (!d.empty()) Fail(std::string(OpName(t_op)) + ": Status published with it" + d);
    }
    std::lock_guard<std::mutex> l(mu_);
    log_.push_back(std::move(p));
    t_last = log_.size() - 1;
    ++t_written;
  }

  v1::SessionRecord LastPublished() {
    std::lock_guard<std::mutex> l(mu_);
    return log_.empty() ? v1::SessionRecord() : log_.back().record;
  }
  v1::SessionRecord PublishedAt(size_t i) {
    std::lock_guard<std::mutex> l(mu_);
    return log_[i].record;
  }

  // One call, and what it says against the records it wrote.
  void Call(Session* s, Op op, std::mt19937_64& rng) {
    t_op = op;
    t_written = 0;
    t_exec_argv.clear();
    bool ok = false;
    std::string what;
    v1::Phase replied = v1::PHASE_UNSPECIFIED;
    uint64_t token = 0;
    bool no_difference = false;  // a Verify that found none: EQUAL or NOT VERIFIED
    bool retried = false;        // an Attach answered as a retry of its token's: nothing written
    std::string verdict;         // its VerdictAndKinds
    auto pick = [&rng](uint64_t lo, uint64_t hi) {
      return std::uniform_int_distribution<uint64_t>(lo, hi)(rng);
    };
    auto attached = [&] { return Tokens(s->GetStatus()); };
    switch (op) {
      case Op::kAttachModel:
      case Op::kAttachMemfd: {
        v1::AttachRequest q;
        if (pick(0, 3) == 0) q.set_token(pick(1, 6));  // may collide with an attached one
        q.set_hash_contents(pick(0, 1) == 1);
        if (op == Op::kAttachModel) {
          q.set_name("model");
          q.mutable_model()->set_size(uint64_t{1} << pick(20, 22));
          q.mutable_model()->set_hstate_order(pick(0, 1) ? 9 : 0);
          q.mutable_model()->set_populate(pick(0, 1) == 1);
          if (q.model().hstate_order() == 9) q.mutable_model()->set_size(uint64_t{4} << 20);
        } else {
          const int i = static_cast<int>(pick(0, kMemfds - 1));
          q.set_name("stress" + std::to_string(i));
          q.mutable_kernel()->set_pid(::getpid());
          q.mutable_kernel()->set_fd(memfds_[i].fd());
        }
        Result<v1::GmemInfo> r = s->Attach(q);
        ok = r.ok();
        what = ok ? "token " + std::to_string(r->token()) : r.status().ToString();
        if (ok) token = r->token();
        // Its token was attached with the same file and declaration: the
        // first Attach's answer, and no record written (Session::RetriedAttach).
        retried = ok && q.token() != 0 && r->token() == q.token() && t_written == 0;
        break;
      }
      case Op::kDetach: {
        std::vector<uint64_t> t = attached();
        token = !t.empty() && pick(0, 4) != 0 ? t[pick(0, t.size() - 1)] : pick(1, 8);
        Status r = s->Detach(token);
        ok = r.ok();
        what = "token " + std::to_string(token) + (ok ? "" : ": " + r.ToString());
        break;
      }
      case Op::kUpdateAttributes: {
        std::vector<uint64_t> t = attached();
        v1::UpdateAttributesRequest u;
        u.set_token(t.empty() ? 1 : t[pick(0, t.size() - 1)]);
        auto* range = u.add_ranges();
        range->set_first(pick(0, 31));
        range->set_count(1);
        // A memfd has no private pages: the ranges it is declared are shared.
        range->set_value(0);
        Status r = s->UpdateAttributes(u);
        ok = r.ok();
        what = "token " + std::to_string(u.token()) + (ok ? "" : ": " + r.ToString());
        break;
      }
      case Op::kPrepare: {
        Result<v1::PhaseReply> r = s->Prepare();
        ok = r.ok();
        if (ok) replied = r->phase();
        what = ok ? r->message() : r.status().ToString();
        break;
      }
      case Op::kFreezeDir:
      case Op::kFreezeReexec:
      case Op::kFreezeUnpaused: {
        v1::FreezeRequest f = PausedFreeze(op == Op::kFreezeReexec ? v1::REEXEC : v1::DIR);
        if (op == Op::kFreezeUnpaused) f.set_guests_paused(false);
        if (op == Op::kFreezeDir && pick(0, 2) == 0) f.set_dir("sub" + std::to_string(pick(0, 1)));
        Result<v1::PhaseReply> r = s->Freeze(f);
        ok = r.ok();
        if (ok) replied = r->phase();
        what = ok ? r->message() : r.status().ToString();
        break;
      }
      case Op::kRestore:
      case Op::kRestoreFromStateDir: {
        v1::RestoreRequest q;
        q.set_from_state_dir(op == Op::kRestoreFromStateDir);
        Result<v1::PhaseReply> r = s->Restore(q);
        ok = r.ok();
        if (ok) replied = r->phase();
        what = ok ? r->message() : r.status().ToString();
        break;
      }
      case Op::kVerify: {
        Result<v1::VerifyReply> r = s->Verify();
        ok = r.ok();
        if (ok) {
          no_difference = r->differences_size() == 0;
          verdict = VerdictAndKinds(*r);
        }
        what = !ok             ? r.status().ToString()
               : no_difference ? verdict
                               : "differs: " + FirstDifference(*r);
        break;
      }
      case Op::kFinish: {
        Result<v1::PhaseReply> r = s->Finish();
        ok = r.ok();
        if (ok) replied = r->phase();
        what = ok ? r->message() : r.status().ToString();
        break;
      }
      case Op::kCancel: {
        Result<v1::PhaseReply> r = s->Cancel();
        ok = r.ok();
        if (ok) replied = r->phase();
        what = ok ? r->message() : r.status().ToString();
        break;
      }
      case Op::kStatus: {
        v1::StatusReply st = s->GetStatus();
        ok = true;
        what = PhaseName(st.phase()) + " gen " + std::to_string(st.generation()) + " gmems " +
               TokenList(Tokens(st));
        if (st.generation() < t_generation_seen)
          Fail("GetStatus went back from generation " + std::to_string(t_generation_seen) + " to " +
               std::to_string(st.generation()));
        t_generation_seen = st.generation();
        if (st.phase() != v1::IDLE && st.phase() != v1::FINISHED && st.gmems_size() == 0)
          Fail("Status in " + PhaseName(st.phase()) + " names no gmem");
        break;
      }
      case Op::kSnapshot: {
        v1::SnapshotRequest q;
        q.set_recapture(pick(0, 1) == 1);
        Result<v1::SnapshotReply> r = s->GetSnapshot(q);
        ok = r.ok();
        what = ok ? PhaseName(r->phase()) : r.status().ToString();
        break;
      }
      case Op::kNone:
        break;
    }
    t_op = Op::kNone;
    Trace(std::string(OpName(op)) + (ok ? " OK " : " refused ") + what);
    ++(ok ? returned_ok_ : refused_)[static_cast<int>(op)];
    const std::string call = std::string(OpName(op)) + " (" + what + ")";

    // What the call returned against the records it wrote.
    if (!ok || !Writes(op) || retried) {
      if (t_written != 0)
        Fail(call + (ok ? " writes no record" : " was refused") + " but " +
             std::to_string(t_written) + " records were written by it");
    } else if (t_written != 1) {
      Fail(call + " returned OK after " + std::to_string(t_written) + " record writes, not 1");
    } else {
      const v1::SessionRecord written = PublishedAt(t_last);
      if (replied != v1::PHASE_UNSPECIFIED && replied != written.phase())
        Fail(call + " replied " + PhaseName(replied) + " but its record says " +
             PhaseName(written.phase()));
      const std::vector<uint64_t> t = Tokens(written);
      const bool named = std::find(t.begin(), t.end(), token) != t.end();
      if ((op == Op::kAttachModel || op == Op::kAttachMemfd) && !named)
        Fail(call + ": its record does not name the gmem: " + TokenList(t));
      if (op == Op::kDetach && named)
        Fail(call + ": its record still names the gmem: " + TokenList(t));
      if (op == Op::kVerify && no_difference && written.phase() != v1::VERIFIED)
        Fail(call + " but its record says " + PhaseName(written.phase()));
    }
    // No guest changes under this test: a verdict of a difference is wrong.
    if (op == Op::kVerify && ok && !no_difference) Fail(call + ": nothing changed in any guest");
    // Nor is a part not verified: no memslot or attribute is declared here, and
    // a MODEL guest is observed in full; only a memfd's resident pages' PFNs go
    // unseen, where pagemap hides them, and the contents of a memfd attached
    // without hashing are not compared (which memfds a snapshot holds, and
    // whether each hashes, threads decide).
    static const std::set<std::string> kNothingDeclared = {
        "EQUAL", "NOT VERIFIED: UNVERIFIED_CONTENTS_NOT_HASHED"};
    static const std::set<std::string> kPfnsHidden = {
        "NOT VERIFIED: UNVERIFIED_PFNS_UNSEEN",
        "NOT VERIFIED: UNVERIFIED_PFNS_UNSEEN, UNVERIFIED_CONTENTS_NOT_HASHED"};
    if (op == Op::kVerify && ok && no_difference && !kNothingDeclared.count(verdict) &&
        (pfns_shown_ || !kPfnsHidden.count(verdict)))
      Fail(call + ": nothing changed in any guest, and nothing is declared");
    if (op == Op::kFreezeUnpaused && ok) Fail(call + " returned OK");
    if (op == Op::kFreezeReexec && ok && t_exec_argv.empty())
      Fail(call + " returned OK without asking for the exec");
    if (op == Op::kFreezeReexec && ok && !t_exec_argv.empty()) PlayTheDaemonsExec(s, rng);
  }

  // What khod_main does after a reexec Freeze's reply: calls in flight run
  // on meanwhile, then BeginExec; the exec is never made here, so it fails.
  void PlayTheDaemonsExec(Session* s, std::mt19937_64& rng) {
    auto pause = [&rng] {
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 800)(rng)));
    };
    pause();
    // khod_main has one thread that execs, one handover at a time.
    std::lock_guard<std::mutex> daemon(exec_mu_);
    if (!s->BeginExec(t_exec_argv)) {
      Trace("BeginExec: no");
      return;
    }
    // From BeginExec until ExecFailed the session is the reexec handover
    // this process sent, and nothing may take it.
    for (int i = 0; i < 2; ++i) {
      const v1::StatusReply st = s->GetStatus();
      if (st.phase() != v1::HANDED_OVER || st.transport() != v1::REEXEC)
        Fail("BeginExec said yes to an exec, but the session is " + PhaseName(st.phase()) +
             " (transport " + v1::Transport_Name(st.transport()) +
             "): the exec would hand over no session this process sent");
      if (i == 0) pause();
    }
    Trace("BeginExec: yes; ExecFailed");
    s->ExecFailed(Status::IoError("execveat: the test makes no exec"));
  }

  void Worker(Session* s, int index, Clock::time_point until, const std::vector<Weighted>& ops) {
    t_index = index;
    std::mt19937_64 rng(seed_ * 1000003u + static_cast<uint64_t>(round_) * 101u +
                        static_cast<uint64_t>(index));
    for (int n = 0; n < kMaxOpsPerThreadAndRound && Clock::now() < until; ++n) {
      Op op = PickOp(ops, rng);
      // An orchestrator attaches a VM's few files, not an ever longer list.
      if (op == Op::kAttachModel || op == Op::kAttachMemfd) {
        const v1::StatusReply st = s->GetStatus();
        if (st.phase() == v1::IDLE && st.gmems_size() >= kMaxGmems) op = Op::kDetach;
      }
      Call(s, op, rng);
    }
  }

  // Successive records: each a transition its call was allowed, the
  // generation one more, the gmems those of the record before but for what
  // an Attach, Detach or Cancel changed.
  void CheckLog(size_t from) {
    std::lock_guard<std::mutex> l(mu_);
    for (size_t i = std::max<size_t>(from, 1); i < log_.size(); ++i) {
      const Published& a = log_[i - 1];
      const Published& b = log_[i];
      const std::string at = "record " + std::to_string(b.record.generation()) + " (" +
                             OpName(b.op) + " by thread " + std::to_string(b.thread) + ", " +
                             PhaseName(a.record.phase()) + " -> " + PhaseName(b.record.phase()) +
                             ")";
      if (b.record.generation() != a.record.generation() + 1)
        failures_.push_back(at + ": generation after " + std::to_string(a.record.generation()));
      if (b.op != Op::kNone && !Allowed(b.op, a.record.phase(), b.record.phase()))
        failures_.push_back(at + ": a transition its call does not make");
      std::vector<uint64_t> ta = Tokens(a.record), tb = Tokens(b.record);
      std::set<uint64_t> sa(ta.begin(), ta.end()), sb(tb.begin(), tb.end());
      if (sb.size() != tb.size()) failures_.push_back(at + ": a token twice " + TokenList(tb));
      const bool new_session = a.record.phase() == v1::FINISHED &&
                               (b.op == Op::kAttachModel || b.op == Op::kAttachMemfd);
      bool gmems_ok = sa == sb;
      if (b.op == Op::kAttachModel || b.op == Op::kAttachMemfd)
        gmems_ok = new_session ? sb.size() == 1
                               : sb.size() == sa.size() + 1 &&
                                     std::includes(sb.begin(), sb.end(), sa.begin(), sa.end());
      // The new side of a handover ends it with no gmem attached.
      const bool after_handover = a.record.phase() == v1::HANDED_OVER ||
                                  a.record.phase() == v1::RESTORED ||
                                  a.record.phase() == v1::VERIFIED;
      if (b.op == Op::kCancel) gmems_ok = sa == sb || (after_handover && sb.empty());
      if (b.op == Op::kDetach)
        gmems_ok =
            sa.size() == sb.size() + 1 && std::includes(sa.begin(), sa.end(), sb.begin(), sb.end());
      if (!gmems_ok) failures_.push_back(at + ": gmems " + TokenList(ta) + " -> " + TokenList(tb));
      if (new_session == (a.record.session_id() == b.record.session_id()))
        failures_.push_back(at + (new_session ? ": the same session id for a new session"
                                              : ": another session id"));
      if (b.record.phase() != v1::IDLE && b.record.phase() != v1::FINISHED && tb.empty())
        failures_.push_back(at + ": no gmem");
    }
  }

  // CheckLog over the records published since *checked (and the one before).
  void CheckNewRecords(size_t* checked) {
    CheckLog(*checked > 0 ? *checked - 1 : 0);
    std::lock_guard<std::mutex> l(mu_);
    *checked = log_.size();
  }

  // Runs `ops` on kThreads threads for `time`, then waits for what Verify
  // left to do after its reply.
  void RunRound(Session* s, const std::vector<Weighted>& ops, Clock::duration time) {
    const Clock::time_point until = Clock::now() + time;
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([this, s, i, until, &ops] { Worker(s, i, until, ops); });
    for (std::thread& t : threads) t.join();
    s->WaitForReleaseAfterReply();
  }

  // With no call running: the record on disk, Status, phase() and the last
  // record published agree, and the state dir holds the blobs the record
  // names and no other.
  void CheckQuiescent(Session* s, const std::string& when) {
    SCOPED_TRACE(when);
    Result<std::string> raw = ReadRecordFile(dir_ + "/session.rec");
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    v1::SessionRecord r;
    ASSERT_TRUE(r.ParseFromString(*raw));
    const v1::StatusReply st = s->GetStatus();
    EXPECT_EQ(Disagreement(r, st), "");
    EXPECT_EQ(s->phase(), r.phase())
        << PhaseName(s->phase()) << " in memory, " << PhaseName(r.phase()) << " on disk";
    EXPECT_EQ(LastPublished().SerializeAsString(), r.SerializeAsString())
        << "the record on disk is not the last one published";
    std::set<std::string> named;
    for (const std::string& f : {r.prepared_blob(), r.frozen_blob()})
      if (!f.empty()) named.insert(f);
    std::set<std::string> blobs;
    for (const std::string& n : DirNames(dir_)) {
      const bool blob = (n.rfind("prepared-", 0) == 0 || n.rfind("frozen-", 0) == 0) &&
                        n.size() > 5 && n.compare(n.size() - 5, 5, ".blob") == 0;
      if (n == "frozen-draft.blob")
        EXPECT_EQ(r.phase(), v1::PREPARED) << "Freeze's draft left in " << PhaseName(r.phase());
      else if (blob)
        blobs.insert(n);
    }
    for (const std::string& n : blobs)
      EXPECT_TRUE(named.count(n)) << n << " is named by no record (" << PhaseName(r.phase()) << ")";
    for (const std::string& n : named)
      EXPECT_TRUE(blobs.count(n)) << "the record names " << n << ", which is not there";
  }

  // `call` made as a call of `op`, for the records it writes.
  template <typename F>
  static auto As(Op op, F call) {
    t_op = op;
    auto r = call();
    t_op = Op::kNone;
    return r;
  }

  // Brings the session to IDLE with no gmem through one whole cycle,
  // checking on the way that a finished session holds no fd it took, that
  // Cancel is there from every phase before FINISHED, and that every gmem an
  // IDLE record names is held (Prepare captures each).
  void Drain(Session* s, const std::string& when) {
    SCOPED_TRACE(when);
    auto finished_holds_nothing = [&](const char* after) {
      EXPECT_EQ(FdsChanged(fds_without_gmems_, OpenFds()), "")
          << "fds open in FINISHED (" << after << ") against the session before any Attach";
    };
    auto attach = [&](Op op) {
      v1::AttachRequest q;
      q.set_name("drain");
      q.set_hash_contents(true);
      if (op == Op::kAttachModel) {
        q.mutable_model()->set_size(uint64_t{1} << 20);
      } else {
        q.mutable_kernel()->set_pid(::getpid());
        q.mutable_kernel()->set_fd(memfds_[0].fd());
      }
      Result<v1::GmemInfo> a = As(op, [&] { return s->Attach(q); });
      EXPECT_TRUE(a.ok()) << a.status().ToString();
    };
    if (s->phase() == v1::FINISHED) {
      finished_holds_nothing("as the threads left it");
      attach(Op::kAttachModel);
    }
    if (s->phase() != v1::IDLE) {
      Result<v1::PhaseReply> c = As(Op::kCancel, [&] { return s->Cancel(); });
      ASSERT_TRUE(c.ok()) << c.status().ToString();
    }
    ASSERT_EQ(s->phase(), v1::IDLE);
    if (s->GetStatus().gmems_size() == 0) {
      attach(Op::kAttachMemfd);
      attach(Op::kAttachModel);
    }
    Result<v1::PhaseReply> p = As(Op::kPrepare, [&] { return s->Prepare(); });
    ASSERT_TRUE(p.ok()) << "an IDLE session whose record names gmems "
                        << TokenList(Tokens(s->GetStatus()))
                        << " cannot capture them: " << p.status().ToString();
    bool memfd = false;  // a memfd among the gmems Prepare captured
    const v1::StatusReply prepared = s->GetStatus();
    for (const v1::GmemInfo& g : prepared.gmems()) memfd |= g.provenance() != "MODEL";
    v1::FreezeRequest f = PausedFreeze(v1::DIR);
    f.set_dir("sub0");
    Result<v1::PhaseReply> fr = As(Op::kFreezeDir, [&] { return s->Freeze(f); });
    ASSERT_TRUE(fr.ok()) << fr.status().ToString();
    Result<v1::PhaseReply> r = As(Op::kRestore, [&] { return s->Restore(v1::RestoreRequest()); });
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Result<v1::VerifyReply> v = As(Op::kVerify, [&] { return s->Verify(); });
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    // Nothing changed, and nothing declared: EQUAL, but for the PFNs of the
    // memfds' resident pages where pagemap hides them (a MODEL guest's are
    // the model's own, all observed), and the contents of a memfd a thread
    // attached without hashing.
    const std::string verdict = VerdictAndKinds(*v);
    if (!memfd)
      EXPECT_EQ(verdict, "EQUAL") << FirstDifference(*v);
    else
      EXPECT_TRUE(verdict == UnchangedMemfdVerdict({}, Contents::kHashed) ||
                  verdict == UnchangedMemfdVerdict({}, Contents::kNotHashed))
          << verdict << ": " << FirstDifference(*v);
    Result<v1::PhaseReply> fin = As(Op::kFinish, [&] { return s->Finish(); });
    ASSERT_TRUE(fin.ok()) << fin.status().ToString();
    s->WaitForReleaseAfterReply();
    finished_holds_nothing("after a whole cycle");
    attach(Op::kAttachModel);
    for (uint64_t t : Tokens(s->GetStatus())) {
      Status d = As(Op::kDetach, [&] { return s->Detach(t); });
      ASSERT_TRUE(d.ok()) << d.ToString();
    }
    EXPECT_EQ(s->GetStatus().gmems_size(), 0);
    EXPECT_EQ(FdsChanged(fds_without_gmems_, OpenFds()), "")
        << "fds open in IDLE with no gmem against the session before any Attach";
  }

  // What the threads called: per call, how many returned OK and how many were refused.
  std::string Calls() const {
    std::string c;
    for (int op = 1; op <= static_cast<int>(Op::kSnapshot); ++op)
      if (returned_ok_[op] + refused_[op] > 0)
        c += std::string("\n  ") + OpName(static_cast<Op>(op)) + ": " +
             std::to_string(returned_ok_[op]) + " OK, " + std::to_string(refused_[op]) + " refused";
    return c;
  }

  void Report() {
    std::lock_guard<std::mutex> l(mu_);
    if (!failures_.empty()) {
      for (size_t i = 0; i < failures_.size() && i < 20; ++i) ADD_FAILURE() << failures_[i];
      // The calls that returned before the first failure was seen.
      size_t end = 0;
      while (end < trace_.size() && trace_[end].rfind("!!", 0) != 0) ++end;
      end = std::min(trace_.size(), end + 4);
      const size_t first = end > 80 ? end - 80 : 0;
      std::string calls;
      for (size_t i = first; i < end; ++i) calls += "\n  " + trace_[i];
      std::printf("calls of round %d as they returned, up to the first failure:%s\n", round_,
                  calls.c_str());
      std::printf("replay the calls with KHOD_CONCURRENCY_SEED=%llu\n",
                  static_cast<unsigned long long>(seed_));
    }
    failures_.clear();
    trace_.clear();
  }

  uint64_t seed_ = 0;
  int round_ = 0;
  std::vector<TestMemfd> memfds_;
  bool pfns_shown_ = false;  // PfnsShownToThisProcess()
  std::atomic<Session*> session_{nullptr};
  std::mutex mu_;
  std::vector<Published> log_;
  std::vector<std::string> failures_;
  std::vector<std::string> trace_;
  std::mutex exec_mu_;  // held by the thread playing the daemon's exec
  // By Op: the calls that returned OK and those refused.
  std::atomic<int> returned_ok_[static_cast<int>(Op::kSnapshot) + 1] = {};
  std::atomic<int> refused_[static_cast<int>(Op::kSnapshot) + 1] = {};
  std::map<int, std::string> fds_without_gmems_;
};

TEST_F(SessionConcurrencyTest, RandomInterleavingsKeepRecordStatusAndFilesInAgreement) {
  // The process's reader of pagemap and kpageflags, open from the first
  // capture on (kernel/pagemap.h), and its BPF reader of shared policies
  // (kernel/shared_policy_iter.h), loaded by the first capture of a memfd,
  // are no fds of the session's.
  ASSERT_TRUE(PageFrameReader::Shared().ok());
  (void)LoadedSharedPolicyIterator();
  const std::map<int, std::string> fds_before = OpenFds();
  {
    Result<std::unique_ptr<Session>> opened = Session::Open(StressOpts(), &opener_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    std::unique_ptr<Session> s = std::move(*opened);
    session_ = s.get();
    fds_without_gmems_ = OpenFds();
    std::map<v1::Phase, int> ended_in;
    size_t checked = 0;
    for (round_ = 0; round_ < kRounds; ++round_) {
      RunRound(s.get(), kOps, kRoundTime);
      const std::string when =
          "after round " + std::to_string(round_) + " (seed " + std::to_string(seed_) + ")";
      ++ended_in[s->phase()];
      CheckNewRecords(&checked);
      CheckQuiescent(s.get(), when);
      // Every other round goes on from where the threads left the session.
      if (round_ % 2 == 1) {
        Drain(s.get(), when);
        CheckNewRecords(&checked);
        CheckQuiescent(s.get(), when + ", drained");
      }
      Report();
      if (HasFailure()) break;
    }
    std::string phases;
    for (const auto& [p, n] : ended_in) phases += " " + PhaseName(p) + "x" + std::to_string(n);
    std::printf("%zu records written; rounds ended in:%s; calls:%s\n", checked, phases.c_str(),
                Calls().c_str());
    session_ = nullptr;
  }
  EXPECT_EQ(FdsChanged(fds_before, OpenFds()), "") << "fds open after the session is gone";
}

// The new side of a reexec (opened in this process with what the exec argv
// hands it, with or without the previous khod's mapping holder) under the
// same calls, while its read-ahead decodes the blob, its adopted files warm
// up and what Verify was lent is let go after its reply.
TEST_F(SessionConcurrencyTest, TheNewSideOfAReexecUnderConcurrentCalls) {
  ASSERT_TRUE(PageFrameReader::Shared().ok());
  (void)LoadedSharedPolicyIterator();
  const std::map<int, std::string> fds_before = OpenFds();
  {
    Result<std::unique_ptr<Session>> fresh = Session::Open(StressOpts(), &opener_);
    ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
    fds_without_gmems_ = OpenFds();
  }
  std::mt19937_64 rng(seed_);
  std::map<v1::Phase, int> ended_in;
  size_t checked = 0;
  for (round_ = 0; round_ < kNewSideRounds; ++round_) {
    const std::string when =
        "new side, round " + std::to_string(round_) + " (seed " + std::to_string(seed_) + ")";
    SCOPED_TRACE(when);
    // The old side, one call after another: memfds and a MODEL guest handed
    // over by reexec.
    std::vector<std::string> argv;
    {
      SessionOptions o = StressOpts();
      o.on_exec_ready = [&argv](std::vector<std::string> a) { argv = std::move(a); };
      Result<std::unique_ptr<Session>> old = Session::Open(o, &opener_);
      ASSERT_TRUE(old.ok()) << old.status().ToString();
      session_ = old->get();
      for (int i = 0; i < kMemfds; ++i) {
        if (i > 0 && std::uniform_int_distribution<int>(0, 1)(rng) == 0) continue;
        v1::AttachRequest q;
        q.set_name("stress" + std::to_string(i));
        q.set_hash_contents(true);
        q.mutable_kernel()->set_pid(::getpid());
        q.mutable_kernel()->set_fd(memfds_[i].fd());
        ASSERT_TRUE(As(Op::kAttachMemfd, [&] { return (*old)->Attach(q); }).ok());
      }
      v1::AttachRequest m;
      m.set_name("model");
      m.mutable_model()->set_size(uint64_t{1} << 20);
      m.mutable_model()->set_populate(true);
      ASSERT_TRUE(As(Op::kAttachModel, [&] { return (*old)->Attach(m); }).ok());
      ASSERT_TRUE(As(Op::kPrepare, [&] { return (*old)->Prepare(); }).ok());
      Result<v1::PhaseReply> f =
          As(Op::kFreezeReexec, [&] { return (*old)->Freeze(PausedFreeze(v1::REEXEC)); });
      ASSERT_TRUE(f.ok()) << f.status().ToString();
      session_ = nullptr;
    }
    SessionOptions n = NewSideOpts(argv);
    ASSERT_FALSE(n.adopted.empty()) << "no --adopt in the exec argv";
    const SessionOptions hooks = StressOpts();
    n.on_status_published = hooks.on_status_published;
    n.on_exec_ready = hooks.on_exec_ready;
    std::unique_ptr<Session> s;
    if (kMappingHolders && round_ % 2 == 0) {
      s = OpenNewSideWithHolder(n);
    } else {
      Result<std::unique_ptr<Session>> opened = Session::Open(n, &opener_);
      ASSERT_TRUE(opened.ok()) << opened.status().ToString();
      s = std::move(*opened);
    }
    ASSERT_TRUE(s);
    ASSERT_EQ(s->phase(), v1::HANDED_OVER) << s->recovery();
    session_ = s.get();
    RunRound(s.get(), kNewSideOps, kNewSideRoundTime);
    ++ended_in[s->phase()];
    CheckNewRecords(&checked);
    CheckQuiescent(s.get(), when);
    Drain(s.get(), when);
    CheckNewRecords(&checked);
    CheckQuiescent(s.get(), when + ", drained");
    session_ = nullptr;
    s.reset();
    Report();
    if (HasFailure()) break;
  }
  std::string phases;
  for (const auto& [p, n] : ended_in) phases += " " + PhaseName(p) + "x" + std::to_string(n);
  std::printf("%zu records written; new sides ended in:%s; calls:%s\n", checked, phases.c_str(),
              Calls().c_str());
  EXPECT_EQ(FdsChanged(fds_before, OpenFds()), "") << "fds open after the sessions are gone";
}

// What the stress tests above found, one call after another.

// The daemon begins the exec a reexec Freeze asked for only while the session
// is still that handover: a Restore here that came first, and a Cancel or a
// new session after it, leave nothing for the exec to hand over.
TEST_F(SessionTest, BeginExecSaysNoOnceARestoreHereTookTheHandover) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_FALSE(s->BeginExec(exec_argv_)) << "the session is " << PhaseName(s->phase());
  // A Restore of khod's own copy of the blob takes the handover too.
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  v1::RestoreRequest sd;
  sd.set_from_state_dir(true);
  ASSERT_TRUE(s->Restore(sd).ok());
  EXPECT_FALSE(s->BeginExec(exec_argv_)) << "the session is " << PhaseName(s->phase());
  ASSERT_TRUE(s->Cancel().ok());
  // Finished, and a new session attached.
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->Verify().ok());
  ASSERT_TRUE(s->Finish().ok());
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  EXPECT_FALSE(s->BeginExec(exec_argv_)) << "the session is " << PhaseName(s->phase());
  // The handover itself still execs, and once that fails it is restored here.
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  ASSERT_TRUE(s->BeginExec(exec_argv_));
  s->ExecFailed(Status::IoError("execveat: test"));
  Result<v1::PhaseReply> r = s->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Result<v1::VerifyReply> v = s->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
}

// The daemon execs with the argv of the handover the session is: after a
// Restore, Verify, Finish and a new session with its own REEXEC Freeze in the
// window, the first Freeze's argv is no longer the one to exec (it names the
// first handover's fds, unless the second's happen to be the same numbers).
TEST_F(SessionTest, BeginExecSaysYesOnlyToTheArgvOfTheHandoverTheSessionIs) {
  auto s = Open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  const std::vector<std::string> first = exec_argv_;
  ASSERT_FALSE(first.empty());
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ASSERT_TRUE(s->Verify().ok());
  ASSERT_TRUE(s->Finish().ok());
  const int spare = ::dup(memfd_);  // the second handover's fds get other numbers
  ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(PausedFreeze(v1::REEXEC)).ok());
  const std::vector<std::string> second = exec_argv_;
  EXPECT_EQ(s->BeginExec(first), first == second);
  EXPECT_NE(first, second);
  EXPECT_FALSE(s->BeginExec({}));
  ASSERT_TRUE(s->BeginExec(second));
  s->ExecFailed(Status::IoError("execveat: test"));
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
  ::close(spare);
}

// Cancel on the side that sent the handover keeps every gmem attached, as
// its record says: a MODEL guest too, which Restore had moved out of the
// attached ones, so that the next Prepare captures it.
TEST_F(SessionTest, AModelGuestStaysAttachedAndHeldAfterACancelFromRestoredOrVerified) {
  auto s = Open();
  ASSERT_TRUE(s);
  v1::AttachRequest q;
  q.set_name("model");
  q.mutable_model()->set_size(uint64_t{1} << 20);
  q.mutable_model()->set_populate(true);
  ASSERT_TRUE(s->Attach(q).ok());
  for (const bool verify : {false, true}) {
    SCOPED_TRACE(verify ? "cancelled from VERIFIED" : "cancelled from RESTORED");
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(PausedFreeze()).ok());
    ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
    if (verify) {
      ASSERT_TRUE(s->Verify().ok());
    }
    Result<v1::PhaseReply> c = s->Cancel();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    EXPECT_NE(c->message().find("; 1 gmems stay attached"), std::string::npos) << c->message();
    EXPECT_EQ(s->GetStatus().gmems_size(), 1);
    Result<v1::PhaseReply> p = s->Prepare();
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_NE(p->message().find("prepared 1 gmems"), std::string::npos) << p->message();
    ASSERT_TRUE(s->Cancel().ok());
  }
}

// Finish lets go of every file the session took, the attached ones included
// where this process sent the handover too, and of the handover's medium: a
// finished session keeps no guest's memory alive.
TEST_F(SessionTest, AFinishedSessionHoldsNoFdItTook) {
  ASSERT_TRUE(PageFrameReader::Shared().ok());  // the process's, open from the first capture on
  auto s = Open();
  ASSERT_TRUE(s);
  const std::map<int, std::string> before = OpenFds();
  enum class Way { kDir, kDirNamed, kReexecFailed, kReexecRestoredFirst };
  for (const Way way : {Way::kDir, Way::kDirNamed, Way::kReexecFailed, Way::kReexecRestoredFirst}) {
    SCOPED_TRACE(static_cast<int>(way));
    ASSERT_TRUE(s->Attach(KernelAttach(memfd_)).ok());
    v1::AttachRequest m;
    m.set_name("model");
    m.mutable_model()->set_size(uint64_t{1} << 20);
    ASSERT_TRUE(s->Attach(m).ok());
    ASSERT_TRUE(s->Prepare().ok());
    const bool reexec = way == Way::kReexecFailed || way == Way::kReexecRestoredFirst;
    v1::FreezeRequest f = PausedFreeze(reexec ? v1::REEXEC : v1::DIR);
    if (way == Way::kDirNamed) f.set_dir("named");
    ASSERT_TRUE(s->Freeze(f).ok());
    if (way == Way::kReexecFailed) {
      ASSERT_TRUE(s->BeginExec(exec_argv_));
      s->ExecFailed(Status::IoError("execveat: test"));
    }
    ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
    if (way == Way::kReexecRestoredFirst) {
      EXPECT_FALSE(s->BeginExec(exec_argv_));
    }
    Result<v1::VerifyReply> v = s->Verify();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifferenceOf(*v);
    ASSERT_TRUE(s->Finish().ok());
    s->WaitForReleaseAfterReply();
    EXPECT_EQ(FdsChanged(before, OpenFds()), "");
    const v1::StatusReply st = s->GetStatus();
    for (const v1::GmemInfo& g : st.gmems()) EXPECT_EQ(g.khod_fd(), 0) << g.source();
  }
}

// from_state_dir chooses khod's own copy of the blob, not whether what the
// medium carried is adopted: a first Restore asking for it adopts the carried
// files as any other does (rebuilt, they would be new memory).
TEST_F(SessionTest, ARestoreFromTheStateDirAdoptsTheCarriedFiles) {
  std::vector<std::string> argv;
  {
    SessionOptions o = Opts();
    o.on_exec_ready = [&argv](std::vector<std::string> a) { argv = std::move(a); };
    Result<std::unique_ptr<Session>> old = Session::Open(o, &opener_);
    ASSERT_TRUE(old.ok()) << old.status().ToString();
    ASSERT_TRUE((*old)->Attach(KernelAttach(memfd_)).ok());
    ASSERT_TRUE((*old)->Prepare().ok());
    ASSERT_TRUE((*old)->Freeze(PausedFreeze(v1::REEXEC)).ok());
  }
  SessionOptions n = NewSideOpts(argv);
  ASSERT_FALSE(n.adopted.empty()) << "no --adopt in the exec argv";
  Result<std::unique_ptr<Session>> s = Session::Open(n, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  v1::RestoreRequest sd;
  sd.set_from_state_dir(true);
  Result<v1::PhaseReply> r = (*s)->Restore(sd);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->message().find("1 adopted, 0 rebuilt"), std::string::npos) << r->message();
  Result<v1::VerifyReply> v = (*s)->Verify();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(VerdictAndKinds(*v), UnchangedKernelAttachVerdict()) << FirstDifference(*v);
}

}  // namespace
}  // namespace khod
