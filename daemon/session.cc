#include "daemon/session.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <set>

#include "capture/snapshot_assembly.h"
#include "capture/snapshot_header.h"
#include "common/background_close.h"
#include "common/bytes.h"
#include "common/file_read.h"
#include "common/page_runs.h"
#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "common/xxh3.h"
#include "daemon/blob_names.h"
#include "daemon/caller_bytes.h"
#include "daemon/gmem_ownership.h"
#include "daemon/leftover_sweep.h"
#include "daemon/pte_witness_handoff.h"
#include "daemon/record_file.h"
#include "daemon/session_declarations.h"
#include "daemon/session_phase.h"
#include "handover/blob_memfd.h"
#include "handover/dir_transport.h"
#include "handover/luo_transport.h"
#include "handover/reexec_transport.h"
#include "kernel/bpf_program.h"
#include "kernel/fd_table.h"
#include "kernel/meminfo.h"
#include "serializer/serializer.h"
#include "state/invariants.h"
#include "verify/verdict.h"
#include "verify/verify_counts.h"
#include "verify/verify_reply.h"

namespace khod {
namespace {

// Descriptors Freeze opens besides one dup per file (the blob memfd, the
// blob and record files, /proc files), with room to spare.
constexpr int kFdsFreezeOpens = 64;

// A blob in the state dir is read no further than its header declares.
FileReadOptions BlobRead() {
  FileReadOptions o;
  o.size_from_head = DeclaredBlobBytes;
  return o;
}

BlobFormat ToBlobFormat(v1::BlobFormat f) {
  return f == v1::PROTO ? BlobFormat::kProto : BlobFormat::kFdt;
}

// What Freeze's change scans walked, for its reply: "" when none ran.
std::string WalkNote(const CaptureStats& s) {
  if (s.pages_walked + s.pages_witnessed == 0) return "";
  return "; change scan walked the PTEs of " + std::to_string(s.pages_walked) + " pages" +
         (s.pages_witnessed
              ? ", " + std::to_string(s.pages_witnessed) + " witnessed by the PTE keeper"
              : "");
}

// "; gmem 3's NUMA policy not read: <why>" for each file whose capture could
// not read its policy (Verify will say it is not verified): said at Prepare,
// before the blackout, and again at Freeze.
std::string PolicyUnreadNote(const Snapshot& snap) {
  std::string s;
  for (const GuestMemfd& g : snap.gmems)
    if (g.policy_source == PolicySource::kUnknown)
      s += "; gmem " + std::to_string(g.token) + "'s NUMA policy not read" +
           (g.policy_unread.empty() ? "" : ": " + g.policy_unread);
  return s;
}

}  // namespace

int64_t Session::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t Session::NewSessionId() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof(v), 0) != sizeof(v)) v = static_cast<uint64_t>(NowNs());
  return v ? v : 1;
}

Session::Session(SessionOptions opts, GmemOpener* opener)
    : opts_(std::move(opts)), opener_(opener), commit_([this](std::string_view bytes) {
        Status s = WriteRecordFile(state_dir_, kRecordFile, bytes);
        if (s.ok() && opts_.after_record_written_for_test)
          s = opts_.after_record_written_for_test();
        return s;
      }) {}

Session::~Session() {
  {
    std::lock_guard<std::mutex> l(mu_);
    // A luo handover lives in the LUO session whose fd this process holds:
    // closing it (below, with transport_) makes the kernel drop what it
    // preserved, so a kexec after this stop carries nothing. Said loudly,
    // where an operator's stop (or an orchestrator's) reads it.
    if (record_.phase() == v1::HANDED_OVER && record_.transport() == v1::LUO && sent_here_ &&
        transport_)
      std::fprintf(stderr,
                   "khod: WARNING: this stop drops the luo handover: the LUO session that "
                   "preserves it is closed with this process, and the kernel frees what it "
                   "preserved, so a kexec now carries nothing. Start khod again before any "
                   "kexec: on this boot it rolls the session back to PREPARED (Freeze again, "
                   "or Cancel)\n");
  }
  JoinAdoption();  // it dups the carried fds closed below
  // What a Restore received and did not end up holding (Finish and Cancel
  // close them otherwise): fds of this process, never another's.
  if (received_)
    for (const auto& [token, fd] : received_->fds) ::close(fd);
}

Result<std::unique_ptr<Session>> Session::Open(SessionOptions opts, GmemOpener* opener) {
  Result<SafeDir> state_dir = SafeDir::Open(opts.state_dir, 0700);
  if (!state_dir.ok()) return state_dir.status().WithContext("state dir");
  if (opts.handover_root.empty())
    opts.handover_root = opts.state_dir + "/" + kDefaultHandoverRootName;
  Result<SafeDir> handover_root = SafeDir::Open(opts.handover_root, 0700);
  if (!handover_root.ok()) return handover_root.status().WithContext("handover root");
  if (opts.boot_id.empty()) opts.boot_id = CurrentBootId();
  if (opts.boot_id.empty()) opts.boot_id = kUnknownBootId;
  std::unique_ptr<Session> s(new Session(std::move(opts), opener));
  s->state_dir_ = std::move(*state_dir);
  s->handover_root_ = std::move(*handover_root);
  if (!s->opts_.luo_device) {
    s->own_luo_device_ = std::make_unique<KernelLuoDevice>();
    s->opts_.luo_device = s->own_luo_device_.get();
  }
  std::lock_guard<std::mutex> l(s->mu_);
  KHOD_RETURN_IF_ERROR(s->Recover());
  if (s->opts_.mapping_holder > 0) {
    Result<MappingHolder> h = MappingHolder::Adopt(s->opts_.mapping_holder);
    if (h.ok() && s->record_.phase() == v1::HANDED_OVER) {
      s->holder_ = std::move(*h);
    } else {
      // Not ours, or nothing to verify: never read, and let it go.
      s->holder_note_ = h.ok() ? "mapping holder pid " + std::to_string(h->pid()) +
                                     " released: nothing to restore"
                               : "mapping holder not used: " + h.status().message();
      s->recovery_ += "; " + s->holder_note_;
      KHOD_RETURN_IF_ERROR(s->Persist());  // Status shows what the last write covers
    }
  }
  if (s->opts_.pte_keeper > 0) {
    // Its teardown, as the holder's, comes after Verify, which it spares a walk.
    std::string note;
    Result<std::unique_ptr<PteWitness>> w = AdoptWitnessHandoff(
        s->opts_.pte_keeper, s->opts_.pte_keeper_fd, s->opts_.pte_witness_fd, &note);
    if (w.ok() && s->record_.phase() == v1::HANDED_OVER) s->previous_witness_ = std::move(*w);
    if (!w.ok()) note += (note.empty() ? "" : "; ") + w.status().message();
    if (!note.empty()) {
      s->recovery_ += "; PTE keeper not used: " + note;
      KHOD_RETURN_IF_ERROR(s->Persist());  // Status shows what the last write covers
    }
  }
  // A previous khod's pins are this process's from here on (close on exec).
  for (const auto& [token, fds] : s->opts_.page_pins)
    for (int fd : fds) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
      s->page_pins_[token].emplace_back(fd);
    }
  if (!s->opts_.adopted.empty() && !s->ReexecHandoverToRestore()) {
    // --adopt fds no reexec handover is here to use: never inherited by a
    // child or a later exec. (Not closed: a number that was not open at the
    // exec may be one of this process's own files by now.)
    std::vector<int> fds = {s->opts_.adopted.blob_fd};
    for (const auto& [token, fd] : s->opts_.adopted.fds) fds.push_back(fd);
    for (int fd : fds)
      if (fd > 2) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->recovery_ += "; --adopt not used: the record is " + PhaseName(s->record_.phase()) +
                    ", not a reexec handover";
    s->opts_.adopted = AdoptSpec();
    KHOD_RETURN_IF_ERROR(s->Persist());  // Status shows what the last write covers
  }
  s->StartReadAhead();
  s->StartWarmUps();
  s->page_pins_.clear();  // those no adopted file took: unpinned
  s->opts_.crash.Hit("opened");
  return s;
}

std::string Session::recovery() const {
  std::lock_guard<std::mutex> l(mu_);
  return recovery_;
}

v1::Phase Session::phase() const {
  std::lock_guard<std::mutex> l(mu_);
  return record_.phase();
}

Result<uint64_t> Session::StageRecord() {
  record_.set_generation(record_.generation() + 1);
  std::string bytes;
  if (!record_.SerializeToString(&bytes))
    return Status::Internal("cannot serialize session record");
  // Status shows what is durable: published by the write that covers it.
  std::shared_ptr<const v1::StatusReply> fresh = std::make_shared<v1::StatusReply>(BuildStatus());
  staged_status_ = fresh;
  return commit_.Stage(std::move(bytes), [this, fresh] {
    {
      std::lock_guard<std::mutex> l(status_mu_);
      status_ = fresh;
    }
    if (opts_.on_status_published) opts_.on_status_published();
  });
}

Status Session::Persist() {
  KHOD_ASSIGN_OR_RETURN(uint64_t ticket, StageRecord());
  KHOD_RETURN_IF_ERROR(commit_.Wait(ticket));
  for (const std::string& f : orphans_) state_dir_.Remove(f);
  orphans_.clear();
  return Status::Ok();
}

Status Session::PersistOrRevert(const v1::SessionRecord& before, const std::string& op,
                                bool* change_may_be_on_disk, const std::function<void()>& undo) {
  if (change_may_be_on_disk) *change_may_be_on_disk = false;
  Status persisted = Persist();
  if (persisted.ok()) return persisted;
  const uint64_t change_generation = record_.generation();
  RevertRecordTo(before);
  // The write-back publishes the status it is staged with: the caller's
  // undo comes first, so that it lists the files this process holds after
  // it, not those the change would have.
  if (undo) undo();
  // A write that failed after its rename (the directory's fsync) left the
  // change on disk: the record reverted to is written again, so that the disk
  // says what memory does. No orphan is removed here: the change's own may
  // be named by it.
  Result<uint64_t> ticket = StageRecord();
  const Status back = ticket.ok() ? commit_.Wait(*ticket) : ticket.status();
  if (back.ok())
    return persisted.WithContext(op + ": the session record was not written, so nothing changed");
  // What the disk holds says whether the change reached it (a record that
  // cannot be read may be it).
  if (change_may_be_on_disk) {
    Result<std::string> disk = ReadRecordFile(state_dir_, kRecordFile);
    v1::SessionRecord on_disk;
    *change_may_be_on_disk =
        !disk.ok() || !on_disk.ParseFromString(*disk) || on_disk.generation() == change_generation;
  }
  return persisted.WithContext(
      op + ": the session record was not written, nor written back as it was (" + back.message() +
      "); had the first write replaced the file before it failed, the record on disk holds the "
      "change, which khod's recovery reads at its next start");
}

void Session::RevertRecordTo(const v1::SessionRecord& before) {
  // Generations keep counting: a blob named after the undone change's is
  // never reused (it may be on disk, unnamed).
  const uint64_t generation = record_.generation();
  record_ = before;
  record_.set_generation(generation);
}

// The record names no frozen capture any more, nor what was measured with it.
void Session::ClearFrozenBlob() {
  record_.clear_frozen_blob();
  record_.clear_frozen_blob_bytes();
  record_.clear_frozen_blob_xxh3();
  record_.clear_freeze_hardware_corrupted_kb();
  record_.clear_handed_over_boot_id();
}

void Session::ResetToIdle() {
  ClearSessionRecord();
  ReleaseSessionHolds();
}

// rmdir removes only an empty directory: an operator's files in it stay
// (ENOTEMPTY), and a mount point stays (EBUSY).
void Session::RemoveMadeHandoverDir(const v1::SessionRecord& rec) {
  const std::string& dir = rec.handover_dir();
  // Only a record of a standing handover: a later session's record may still
  // carry the last handover's fields, and the name may be an operator's now.
  const bool stood =
      rec.phase() == v1::HANDED_OVER || rec.phase() == v1::RESTORED || rec.phase() == v1::VERIFIED;
  if (!stood || rec.transport() != v1::DIR || !rec.handover_dir_made() || dir.empty() ||
      !CheckFileName(dir, "dir").ok())
    return;
  if (::unlinkat(handover_root_.fd(), dir.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT &&
      errno != ENOTEMPTY && errno != EBUSY)
    std::fprintf(stderr, "khod: the handover dir %s Freeze made stays: %s\n",
                 handover_root_.PathOf(dir).c_str(), std::strerror(errno));
}

std::string Session::MediumLeftBehind(const v1::SessionRecord& rec) const {
  switch (rec.transport()) {
    case v1::DIR: {
      const std::string& dir = rec.handover_dir();
      const std::string blob = (dir.empty() ? handover_root_.path() : handover_root_.PathOf(dir)) +
                               "/" + DirTransport::kBlobName;
      return blob +
             " stays, a copy of the frozen blob that no record names: a later start of khod "
             "removes it beneath the default handover root, an operator elsewhere, and a Freeze "
             "into that dir replaces it";
    }
    case v1::LUO:
      return "the LUO session is closed with khod's fd of it, which finishes it in the kernel; "
             "should the kernel refuse that too, it keeps the session, and what it preserved "
             "that khod did not retrieve, until the next reboot or kexec";
    default:
      return "nothing of it is read again";
  }
}

void Session::ClearSessionRecord() {
  record_.set_phase(v1::IDLE);
  record_.clear_prepared_blob();
  record_.clear_prepared_blob_bytes();
  ClearFrozenBlob();
  record_.clear_durations();
  record_.clear_last_verdict();
}

void Session::ReleaseSessionHolds() {
  JoinAdoption();  // it dups the carried fds closed below
  have_frozen_ = false;
  received_.reset();
  received_ahead_ = false;
  // The read-ahead may still be receiving through transport_, which its
  // caller drops next: joined first, and what it received and no Restore
  // took (the carried files) let go.
  if (read_ahead_.valid()) read_ahead_done_ = read_ahead_.get();
  if (read_ahead_done_ && read_ahead_done_->received.ok())
    for (const auto& [token, fd] : read_ahead_done_->received->fds) ::close(fd);
  read_ahead_done_.reset();
  ReleaseMappingHolder();
  witness_.reset();
  witness_handoff_.reset();
  restored_.clear();
  warming_.clear();
  for (auto& kv : handles_)
    if (kv.second->source) kv.second->source->ReleasePins();
  pins_passed_.clear();
  for (int fd : bpf_programs_passed_) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  bpf_programs_passed_.clear();
}

// ---- helpers ---------------------------------------------------------------

namespace {

// What an operator can do next from `phase` (docs/SECURITY.md "Every phase
// has a way out"), for a refusal that names the phase.
std::string NextStepFrom(v1::Phase phase) {
  switch (phase) {
    case v1::IDLE:
      return " (Attach, then Prepare)";
    case v1::PREPARED:
      return " (next: Freeze once the guests are paused, or Cancel)";
    case v1::HANDED_OVER:
      return " (next: Restore, or Cancel)";
    case v1::RESTORED:
      return " (next: Verify; a verdict with a difference stays RESTORED: Verify again, or "
             "Cancel)";
    case v1::VERIFIED:
      return " (next: Finish, or Cancel)";
    case v1::FINISHED:
      return " (the session is over: Attach starts a new one)";
    default:
      return "";
  }
}

}  // namespace

Status Session::CheckPhase(std::initializer_list<v1::Phase> allowed, const char* op) const {
  for (v1::Phase p : allowed)
    if (record_.phase() == p) return Status::Ok();
  std::string want;
  for (v1::Phase p : allowed) want += (want.empty() ? "" : " or ") + PhaseName(p);
  return Status::FailedPrecondition(std::string(op) + " needs phase " + want + ", session is " +
                                    PhaseName(record_.phase()) + NextStepFrom(record_.phase()));
}

void Session::RecordDuration(v1::Phase p, int64_t nanos) {
  for (auto& d : *record_.mutable_durations())
    if (d.phase() == p) {
      d.set_nanos(static_cast<uint64_t>(nanos));
      return;
    }
  auto* d = record_.add_durations();
  d->set_phase(p);
  d->set_nanos(static_cast<uint64_t>(nanos));
}

std::string Session::NextBlobName(const std::string& kind) const {
  // Named by generation: the record still names the old file until it is
  // replaced, so a crash between the two writes leaves a consistent pair.
  return BlobName(kind, record_.generation() + 1);
}

Status Session::WriteBlob(const std::string& kind, const std::string& blob, std::string* file) {
  *file = NextBlobName(kind);
  // The record that will name it is written after it, in the same directory.
  return state_dir_.WriteNew(*file, blob);
}

constexpr size_t kKeptPastBlackout = 4;

void Session::DropFrozenDraft() {
  if (frozen_draft_) state_dir_.Remove(frozen_draft_->name());
  frozen_draft_.reset();
  frozen_draft_memfd_.reset();
  frozen_draft_snapshot_.reset();
}

size_t Session::buffers_kept_past_blackout() const {
  std::lock_guard<std::mutex> l(mu_);
  return kept_past_blackout_.size();
}

void Session::KeepPastBlackout(std::string bytes) {
  if (bytes.capacity() == 0) return;
  // A Freeze keeps two; Freezes that fail over and over without a Prepare
  // between them do not pile up blobs: the oldest goes.
  if (kept_past_blackout_.size() >= kKeptPastBlackout)
    kept_past_blackout_.erase(kept_past_blackout_.begin());
  kept_past_blackout_.push_back(std::move(bytes));
}

Status Session::MakeFrozenBlob(const Snapshot& snap, v1::BlobFormat fmt, std::string* blob,
                               PageRuns* differing, bool* restamped) {
  *restamped = false;
  // A capture equal to the draft's but for its time: the draft's bytes with
  // the time set and resealed, the pages those changed known without a
  // compare (what the draft was made for, docs/DESIGN.md).
  if (frozen_draft_ && frozen_draft_snapshot_ && fmt == v1::FDT &&
      EqualButCaptureTime(snap, *frozen_draft_snapshot_)) {
    *blob = frozen_draft_->TakeCopy();  // from here on Differing() names every page
    Result<std::vector<ByteRange>> changed = SetFdtCaptureTime(blob, snap.header.capture_time_ns);
    if (changed.ok()) {
      *differing = PagesHolding(*changed, blob->size(), PatchedFile::kPageBytes);
      *restamped = true;
      return Status::Ok();
    }
    KeepPastBlackout(std::move(*blob));
    blob->clear();
  }
  *blob = std::move(freeze_blob_);
  KHOD_RETURN_IF_ERROR(Encode(snap, ToBlobFormat(fmt), blob, Codec()));
  // Found once, written to both the draft's copies (the state dir's file and
  // the handover memfd).
  *differing = frozen_draft_ ? frozen_draft_->Differing(*blob) : PageRuns();
  return Status::Ok();
}

int Session::CodecThreads() const { return ThreadsToUse(opts_.capture_threads); }

std::string Session::WriteFrozenDraft(const Snapshot& prepared) {
  frozen_draft_.reset();
  frozen_draft_memfd_.reset();
  frozen_draft_snapshot_.reset();
  kept_past_blackout_.clear();  // outside the blackout now
  frozen_draft_format_ = opts_.default_format;
  std::string bytes;
  Status s = Encode(prepared, ToBlobFormat(frozen_draft_format_), &bytes, Codec());
  Result<PatchedFile> draft =
      s.ok() ? PatchedFile::Create(state_dir_, kFrozenDraftBlob, bytes) : Result<PatchedFile>(s);
  if (!draft.ok()) {
    state_dir_.Remove(kFrozenDraftBlob);  // an earlier Prepare's, if any: not this capture
    return draft.status().ToString();
  }
  frozen_draft_ = std::move(*draft);
  frozen_draft_snapshot_ = prepared;  // its folio lists shared, not copied
  if (opts_.default_transport != v1::REEXEC) return "";
  Result<BlobMemfd> memfd = BlobMemfd::Create(bytes);
  if (!memfd.ok()) return "";  // Freeze copies its blob into a new memfd instead
  frozen_draft_memfd_ = std::move(*memfd);
  return "";
}

std::optional<uint64_t> Session::RecordedFrozenBlobXxh3() const {
  if (record_.frozen_blob_bytes() == 0 && record_.frozen_blob().empty()) return std::nullopt;
  return record_.frozen_blob_xxh3();
}

Result<std::string> Session::ReadFrozenBlobFromStateDir() const {
  if (record_.frozen_blob().empty())
    return Status::NotFound("no frozen blob in the session record");
  Result<std::string> b = state_dir_.Read(record_.frozen_blob(), BlobRead());
  if (!b.ok()) return b.status();
  if (Xxh3(b->data(), b->size()) != record_.frozen_blob_xxh3())
    return Status::Corruption(path(record_.frozen_blob()) +
                              ": does not match the checksum recorded at freeze");
  return b;
}

Result<std::unique_ptr<HandoverTransport>> Session::MakeTransport(v1::Transport t,
                                                                  const std::string& dir,
                                                                  bool* made_dir) {
  switch (t) {
    case v1::DIR: {
      // A name beneath the root fixed at start-up, never a client's path.
      if (dir.empty()) return std::unique_ptr<HandoverTransport>(new DirTransport(handover_root_));
      Status name = CheckHandoverDirName(dir);
      if (!name.ok())
        return name.WithContext("the handover dir is a name beneath " + handover_root_.path());
      // Freeze makes it (durably in the root, common/safe_file.h); recovery
      // opens the recorded one, never makes an empty one in its place.
      KHOD_ASSIGN_OR_RETURN(SafeDir d, handover_root_.OpenSub(dir, made_dir ? 0700 : 0, made_dir));
      return std::unique_ptr<HandoverTransport>(new DirTransport(std::move(d)));
    }
    case v1::REEXEC:
      return std::unique_ptr<HandoverTransport>(new ReexecTransport(opts_.adopted));
    case v1::LUO:
      return std::unique_ptr<HandoverTransport>(
          new LuoTransport(opts_.luo_device, LuoTransport::SessionNameFor(record_.session_id()),
                           opts_.luo_device_path));
    default:
      return Status::InvalidArgument("unknown transport " + std::to_string(t));
  }
}

Result<Snapshot> Session::CaptureAll(const std::map<uint64_t, std::unique_ptr<GmemHandle>>& handles,
                                     bool final_capture, const Snapshot* frozen,
                                     CaptureStats* stats,
                                     std::optional<uint64_t>* hw_corrupted_kb_before) {
  std::vector<SnapshotPart> parts;
  for (const auto& a : record_.gmems()) {
    auto it = handles.find(a.token());
    if (it == handles.end() || !it->second->source)
      return Status::NotFound("gmem " + std::to_string(a.token()) + " is not held by khod");
    KHOD_RETURN_IF_ERROR(CheckNotGrown(a, it->second->fd, it->second->size));
    SnapshotPart p;
    p.source = it->second->source.get();
    p.options.hash_contents = a.hash_contents() && final_capture;
    p.options.ready_as_baseline = !final_capture;
    p.options.stats = stats;
    // What the frozen capture saw stands for files and pages of this boot only.
    if (frozen && record_.has_freeze_hardware_corrupted_kb() && CapturedThisBoot(frozen->header))
      for (const GuestMemfd& f : frozen->gmems)
        if (f.token == a.token()) {
          p.options.frozen = &f;
          p.options.frozen_hw_corrupted_kb = record_.freeze_hardware_corrupted_kb();
          auto base = frozen_rescan_bases_.find(f.token);
          if (base != frozen_rescan_bases_.end()) p.options.frozen_rescan_base = &base->second;
        }
    // Identity is the session's, whatever the source calls it.
    p.identity = GmemIdentity{a.token(), a.name(), a.vm_token()};
    p.what = "capture gmem " + std::to_string(a.token());
    parts.push_back(std::move(p));
  }
  // Verify (a frozen capture to compare with) has the previous khod's witness.
  const PteWitness* witness = frozen ? previous_witness_.get() : witness_.get();
  Result<Snapshot> snap = AssembleSnapshot(parts, VmsOf(record_), opts_.capture_threads,
                                           kProcMeminfo, hw_corrupted_kb_before, witness);
  if (snap.ok())
    for (const GuestMemfd& g : snap->gmems) extents_[g.token] = g.folios.size();
  return snap;
}

// ---- API -------------------------------------------------------------------

Result<v1::PhaseReply> Session::Prepare(const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Prepare"));
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE, v1::PREPARED}, "Prepare"));
  if (handles_.empty()) return Status::FailedPrecondition("Prepare: no gmem attached");
  const bool from_idle = record_.phase() == v1::IDLE;
  Result<v1::PhaseReply> prepared = PrepareLocked();
  // One that fails from IDLE lets go of what it took (the PTE keeper, page
  // pins): the session stays IDLE, holding its attached files alone. (A
  // repeated Prepare that fails keeps the PREPARED session's, SECURITY.md.)
  if (!prepared.ok() && from_idle && record_.phase() == v1::IDLE) ReleaseSessionHolds();
  return prepared;
}

Result<v1::PhaseReply> Session::PrepareLocked() {
  // A record from a khod that did not check declarations at Attach.
  KHOD_RETURN_IF_ERROR(CheckDeclared(record_, AttachedSizes(), "Prepare"));
  const int64_t t0 = NowNs();
  KHOD_ASSIGN_OR_RETURN(Snapshot snap, CaptureAll(handles_, /*final_capture=*/false));
  // Freeze's baseline is captured under the witness, which maps the pages
  // just found (capture/pte_witness.h); without one, the first capture is it.
  const std::string witness_note = StartWitness(snap);
  if (witness_) {
    KHOD_ASSIGN_OR_RETURN(snap, CaptureAll(handles_, /*final_capture=*/false));
  }
  // KHO cannot split a preserved folio: restructuring must be settled now.
  for (const auto& g : snap.gmems)
    for (const auto& r : g.restructures)
      if (r.in_progress)
        return Status::Busy("gmem " + std::to_string(g.token) +
                            ": HugeTLB restructuring in progress at page " +
                            std::to_string(r.index) + "; Prepare again once it settles");
  Status inv = InvariantsStatus(snap);
  if (!inv.ok()) return inv.WithContext("Prepare: captured state breaks an invariant");
  std::string blob, file;
  KHOD_RETURN_IF_ERROR(Encode(snap, BlobFormat::kProto, &blob));
  // The last Prepare's draft goes before this one's writes, whose room it
  // may be (a full state dir): no record names it, and this Prepare writes
  // its own once its record is durable. One that fails leaves Freeze to
  // write its blob whole.
  DropFrozenDraft();
  KHOD_RETURN_IF_ERROR(WriteBlob("prepared", blob, &file));
  opts_.crash.Hit("pre-prepared");
  const v1::SessionRecord before = record_;
  const std::string old = record_.prepared_blob();
  record_.set_phase(v1::PREPARED);
  record_.set_prepared_blob(file);
  record_.set_prepared_blob_bytes(blob.size());
  RecordDuration(v1::PREPARED, NowNs() - t0);
  bool on_disk = false;
  Status persisted = PersistOrRevert(before, "Prepare", &on_disk);
  if (!persisted.ok()) {
    // Named by no record, unless the record on disk may hold the change:
    // then it stays, and the next start sweeps it if the record does not.
    if (!on_disk) state_dir_.Remove(file);
    return persisted;
  }
  // Named by no record any more.
  if (!old.empty() && old != file) state_dir_.Remove(old);
  opts_.crash.Hit("prepared");
  PrewarmFreezeBlob(snap);
  const std::string draft = WriteFrozenDraft(snap);
  // Freeze's handover dups every file's fd: the table grows now, not in the
  // blackout (kernel/fd_table.h). Only time is at stake if it cannot.
  Status fds = ReserveFdTable(static_cast<int>(handles_.size()) + kFdsFreezeOpens);
  if (!fds.ok()) std::fprintf(stderr, "khod: Prepare: %s\n", fds.ToString().c_str());
  v1::PhaseReply r;
  r.set_phase(v1::PREPARED);
  r.set_message("prepared " + std::to_string(snap.gmems.size()) + " gmems, blob " +
                HumanBytes(blob.size()) + witness_note + PinsNote() + PolicyUnreadNote(snap) +
                (draft.empty() ? ""
                               : "; no draft of Freeze's blob (" + draft +
                                     "): Freeze will write its blob whole"));
  return r;
}

std::vector<int> Session::HolderKeepFds() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<int> fds;
  for (const auto& [token, h] : handles_)
    if (h->source && h->source->fault_guard_fd() >= 0) fds.push_back(h->source->fault_guard_fd());
  return fds;
}

std::string Session::PinsNote() const {
  uint64_t pages = 0, files = 0;
  std::string unpinned;
  for (const auto& [token, h] : handles_) {
    if (!h->source) continue;
    if (const uint64_t n = h->source->pinned_pages(); n > 0) {
      pages += n;
      ++files;
    } else if (const std::string why = h->source->pin_note(); !why.empty()) {
      unpinned += "; gmem " + std::to_string(token) + ": " + why;
    }
  }
  if (files == 0) return unpinned;
  return "; " + std::to_string(pages) + " pages of " + std::to_string(files) +
         " memfds pinned until the handover (--pin-movable-memory)" + unpinned;
}

std::string Session::StartWitness(const Snapshot& snap) {
  witness_.reset();  // a new Prepare: the pages to keep are this one's
  witness_handoff_.reset();
  std::vector<PteWitness::File> files;
  for (const GuestMemfd& g : snap.gmems) {
    auto it = handles_.find(g.token);
    if (it == handles_.end() || !it->second->source) continue;
    if (std::optional<PteWitness::File> f = it->second->source->WitnessFile(g))
      files.push_back(std::move(*f));
  }
  if (files.empty()) return "";
  Result<std::unique_ptr<PteWitness>> w = PteWitness::Start(files);
  if (!w.ok()) return "; no PTE keeper (" + w.status().message() + "): Freeze walks page tables";
  witness_ = std::move(*w);
  // What a reexec hands on of it is fixed now: written here, not in the blackout.
  if (Result<UniqueFd> h = WriteWitnessHandoff(*witness_); h.ok()) witness_handoff_ = std::move(*h);
  return "; PTE keeper pid " + std::to_string(witness_->pid()) + " maps " +
         std::to_string(witness_->pages_mapped()) + " pages of " + std::to_string(files.size()) +
         " guest_memfds";
}

Result<v1::PhaseReply> Session::Freeze(const v1::FreezeRequest& req, const PeerCred& caller) {
  std::vector<std::string> exec_argv;
  v1::PhaseReply reply;
  {
    std::lock_guard<std::mutex> l(mu_);
    KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Freeze"));
    KHOD_RETURN_IF_ERROR(CheckPhase({v1::PREPARED}, "Freeze"));
    // No client names a program khod runs as root (docs/SECURITY.md).
    if (!req.reexec_binary().empty())
      return Status::InvalidArgument(
          "FreezeRequest.reexec_binary is refused: a reexec runs khod's own binary, or the one "
          "given to khod --reexec-binary at start-up; no request names a program");
    if (!req.guests_paused())
      return Status::FailedPrecondition(
          "Freeze: pause every guest first and set guests_paused (khod cannot pause them, and a "
          "capture of running guests is not final)");
    // Unknown enum values are refused, never recorded.
    if (!v1::Transport_IsValid(req.transport()))
      return Status::InvalidArgument("FreezeRequest.transport: unknown transport " +
                                     std::to_string(req.transport()));
    if (!v1::BlobFormat_IsValid(req.format()))
      return Status::InvalidArgument("FreezeRequest.format: unknown blob format " +
                                     std::to_string(req.format()));
    const v1::Transport tkind =
        req.transport() == v1::TRANSPORT_UNSPECIFIED ? opts_.default_transport : req.transport();
    const v1::BlobFormat fmt =
        req.format() == v1::FORMAT_UNSPECIFIED ? opts_.default_format : req.format();
    // An exec waits for every thread of khod to end, and a thread closing a
    // file a caller's filesystem does not answer for never ends
    // (common/background_close.h): the reexec would hang with the guests
    // paused. Refused before anything is written; another transport works.
    if (tkind == v1::REEXEC && !WaitForBackgroundCloses(std::chrono::milliseconds(200)))
      return Status::FailedPrecondition(
          "Freeze: a reexec would wait for khod's " + std::to_string(BackgroundClosesPending()) +
          " closes of refused files whose filesystem does not answer (a FUSE server holding "
          "FLUSH): abort that connection (echo 1 > /sys/fs/fuse/connections/N/abort) and Freeze "
          "again, or hand over by dir or luo; still PREPARED");
    // Recorded with the handover: a name only the dir transport reads, and checks.
    if (tkind != v1::DIR && !req.dir().empty())
      return Status::InvalidArgument(
          "FreezeRequest.dir names a handover dir, which only the dir transport uses (this "
          "Freeze's transport is " +
          v1::Transport_Name(tkind) + "); nothing was written");

    // Made before anything is written: an unknown transport leaves PREPARED as it was.
    bool made_dir = false;
    KHOD_ASSIGN_OR_RETURN(std::unique_ptr<HandoverTransport> t,
                          MakeTransport(tkind, req.dir(), &made_dir));
    // A handover dir this Freeze made is removed again, if it is still empty,
    // unless the handover stands: failed Freezes leave nothing behind. One
    // that existed before is the operator's and stays.
    struct RemoveIfEmpty {
      int parent;
      const std::string& name;
      ~RemoveIfEmpty() {
        if (parent >= 0) ::unlinkat(parent, name.c_str(), AT_REMOVEDIR);
      }
    } undo_dir{made_dir ? handover_root_.fd() : -1, req.dir()};
    const int64_t t0 = NowNs();
    // Read by the round before any page (capture/flag_reuse.h rule 4).
    std::optional<uint64_t> hw;
    CaptureStats stats;
    KHOD_ASSIGN_OR_RETURN(Snapshot snap,
                          CaptureAll(handles_, /*final_capture=*/true, nullptr, &stats, &hw));
    for (const auto& g : snap.gmems)
      for (const auto& r : g.restructures)
        if (r.in_progress)
          return Status::FailedPrecondition(
              "Freeze: gmem " + std::to_string(g.token) +
              " has a HugeTLB restructuring in "
              "progress at page " +
              std::to_string(r.index) +
              " (KHO cannot split a preserved folio): let it finish, Prepare again, then Freeze");
    Status inv = InvariantsStatus(snap);
    if (!inv.ok()) return inv.WithContext("Freeze: captured state breaks an invariant");
    if (frozen_draft_ && frozen_draft_format_ != fmt) DropFrozenDraft();  // of no use here
    std::string blob, file;
    PageRuns differing;  // where the blob differs from Prepare's draft
    bool restamped = false;
    KHOD_RETURN_IF_ERROR(MakeFrozenBlob(snap, fmt, &blob, &differing, &restamped));
    // The record's checksum of the blob, while the blob is copied and
    // written; joined like the copy below.
    std::future<uint64_t> blob_xxh3 = Xxh3Beside(blob, CodecThreads() > 1);
    // The transport's copy of the blob (reexec: a sealed memfd): Prepare's
    // draft memfd with the pages that differ overwritten, or a copy made
    // (HandoverTransport::Stage). Either runs beside the blob's durable write
    // and its record's checksum, which only read the blob too, once it is
    // large enough to pay for a thread; joined before the blob moves, and by
    // the future's destructor on every return before that. A failed one
    // leaves Send to copy.
    const size_t beside_from = opts_.stage_blob_ahead_from;
    std::future<Status> staged;
    if (frozen_draft_ && frozen_draft_memfd_ && !opts_.corrupt_handover_blob) {
      auto overwrite = [&t, &blob, &differing, copy = std::move(*frozen_draft_memfd_)]() mutable {
        Status s = copy.Overwrite(blob, differing);
        return s.ok() ? t->StageCopy(std::move(copy)) : s;
      };
      frozen_draft_memfd_.reset();
      if (differing.pages(PatchedFile::kPageBytes) * PatchedFile::kPageBytes >= beside_from)
        staged = std::async(std::launch::async, std::move(overwrite));
      else
        (void)overwrite();
    } else if (!opts_.corrupt_handover_blob && blob.size() >= beside_from) {
      staged = std::async(std::launch::async, [&t, &blob] { return t->Stage(blob); });
    }
    // Over Prepare's draft, only the pages that changed are written; its
    // new name is durable with the record's directory sync, as a new blob's.
    std::string blob_note;
    if (frozen_draft_) {
      file = NextBlobName("frozen");
      Result<uint64_t> pages = frozen_draft_->Patch(blob, differing);
      Status renamed = pages.ok() ? frozen_draft_->Rename(file) : pages.status();
      KeepPastBlackout(frozen_draft_->TakeCopy());
      if (renamed.ok()) {
        blob_note =
            std::string(" (") +
            (restamped ? "captured as Prepare did: its draft given this capture's time; " : "") +
            std::to_string(*pages) + " of " +
            std::to_string((blob.size() + PatchedFile::kPageBytes - 1) / PatchedFile::kPageBytes) +
            " pages written, the rest as Prepare wrote them)";
        frozen_draft_.reset();  // it is the frozen blob now
      } else {
        DropFrozenDraft();
        file.clear();
      }
    }
    if (file.empty()) KHOD_RETURN_IF_ERROR(WriteBlob("frozen", blob, &file));
    const uint64_t xxh3 = blob_xxh3.get();
    const uint64_t blob_bytes = blob.size();
    opts_.crash.Hit("pre-frozen");

    // Hand over, then one record: HANDED_OVER, naming the frozen blob and the
    // transport. Until it is durable the durable record stays PREPARED and
    // names neither, so a Freeze that fails anywhere before it undoes only
    // what it made (the blob, the handover); a restart in between finds
    // PREPARED and sweeps the blob (docs/FORMAT.md "State directory layout").
    const int64_t t1 = NowNs();
    HandoverPackage pkg;
    pkg.session_id = record_.session_id();
    if (staged.valid()) (void)staged.get();  // a failed Stage leaves Send to copy
    pkg.blob = std::move(blob);              // not copied: a fresh copy first-touches every page
    if (opts_.corrupt_handover_blob && !pkg.blob.empty()) pkg.blob[pkg.blob.size() / 2] ^= 0x5a;
    for (const auto& [token, h] : handles_)
      if (h->fd >= 0) pkg.fds.push_back({token, h->fd});
    Status sent = t->Send(pkg);
    if (sent.ok() && opts_.after_send_for_test) sent = opts_.after_send_for_test();
    KeepPastBlackout(std::move(pkg.blob));
    if (!sent.ok()) {
      // A Send that failed part way may have left its medium behind (dir:
      // handover.blob renamed into place before the directory's fsync
      // failed): undone as after a failed record, then the blob no record
      // names, and the dir this Freeze made (undo_dir) once it is empty.
      Status aborted = t->Abort();
      state_dir_.Remove(file);
      return sent.WithContext(std::string("Freeze: ") + t->name() + " handover failed" +
                              (aborted.ok() ? "" : " (abort: " + aborted.message() + ")") +
                              "; still PREPARED");
    }
    opts_.crash.Hit("pre-handed_over");
    const v1::SessionRecord prepared = record_;
    record_.set_phase(v1::HANDED_OVER);
    record_.set_format(fmt);
    record_.set_frozen_blob(file);
    record_.set_frozen_blob_bytes(blob_bytes);
    record_.set_frozen_blob_xxh3(xxh3);
    if (hw)
      record_.set_freeze_hardware_corrupted_kb(*hw);
    else
      record_.clear_freeze_hardware_corrupted_kb();
    record_.set_transport(tkind);
    if (opts_.boot_id != kUnknownBootId)
      record_.set_handed_over_boot_id(opts_.boot_id);
    else
      record_.clear_handed_over_boot_id();
    record_.set_handover_dir(req.dir());
    record_.set_handover_dir_made(made_dir);
    RecordDuration(v1::FROZEN, t1 - t0);  // the capture and the blob
    RecordDuration(v1::HANDED_OVER, NowNs() - t1);
    if (opts_.in_freeze_for_test) opts_.in_freeze_for_test();
    bool on_disk = false;
    Status handed = PersistOrRevert(prepared, "Freeze", &on_disk);
    if (!handed.ok()) {
      // A handover the durable record does not name must not stand (no
      // exec, LUO session closed, dir blob removed), nor a blob it does not
      // name. Where the record on disk may name the change, its blob stays:
      // a restart in HANDED_OVER restores from it (the handover undone reads
      // as nothing carried), and one in PREPARED sweeps it.
      Status aborted = t->Abort();
      if (!on_disk) state_dir_.Remove(file);
      return handed.WithContext(std::string("Freeze: the ") + t->name() + " handover was undone" +
                                (aborted.ok() ? "" : " (abort: " + aborted.message() + ")") +
                                "; still PREPARED");
    }
    opts_.crash.Hit("handed_over");
    undo_dir.parent = -1;  // the handover stands: its dir holds the blob
    frozen_ = std::move(snap);
    have_frozen_ = true;
    reply.set_phase(v1::HANDED_OVER);
    reply.set_message(
        "frozen " + std::to_string(frozen_.gmems.size()) + " gmems, " + v1::BlobFormat_Name(fmt) +
        " blob " + HumanBytes(record_.frozen_blob_bytes()) + blob_note + ", handed over by " +
        t->name() + " with " + std::to_string(pkg.fds.size()) + " fds" + WalkNote(stats) +
        VmmPolicyReadsText(stats.vmm_policies_from_vmas, stats.vmm_policies_from_numa_maps) +
        PolicyUnreadNote(frozen_));
    const std::vector<std::string> medium_args = t->ExecArguments();
    if (!medium_args.empty()) {
      exec_argv.push_back(opts_.self_binary);
      for (const auto& a : opts_.exec_args) exec_argv.push_back(a);
      for (const auto& a : medium_args) exec_argv.push_back(a);
      // The keeper outlives the exec, so its address space is torn down after
      // Verify, not while the new khod starts (as the mapping holder's).
      // What it witnesses goes with it, for Verify (daemon/pte_witness_handoff.h).
      if (witness_ && witness_->keeper().PassAcrossExec().ok()) {
        std::string arg = "--pte-keeper=" + std::to_string(witness_->pid()) + ":" +
                          std::to_string(witness_->keeper().control_fd());
        if (witness_handoff_.valid() && ::fcntl(witness_handoff_.get(), F_SETFD, 0) == 0)
          arg += ":" + std::to_string(witness_handoff_.get());
        exec_argv.push_back(arg);
      }
      // Pins that cover a file's frozen capture go on, so that the next
      // khod's Verify reads only what changed in it (kernel/page_pin.h).
      std::map<uint64_t, std::vector<int>> pins;
      for (const GuestMemfd& g : frozen_.gmems) {
        auto h = handles_.find(g.token);
        if (h == handles_.end() || !h->second->source) continue;
        for (int fd : h->second->source->PinFdsCovering(g))
          if (::fcntl(fd, F_SETFD, 0) == 0) {
            pins[g.token].push_back(fd);
            pins_passed_.push_back(fd);
          }
      }
      if (!pins.empty()) exec_argv.push_back("--page-pins=" + FormatPagePinsSpec(pins));
      // The BPF programs this process loaded go on too, so that the next
      // khod's first read of policies (its Verify's, in the blackout) does
      // not load them anew: libbpf parses the kernel's BTF to load one.
      std::vector<std::pair<std::string, int>> programs;
      for (const auto& [name, fd] : KeptBpfPrograms())
        if (::fcntl(fd, F_SETFD, 0) == 0) {
          programs.emplace_back(name, fd);
          bpf_programs_passed_.push_back(fd);
        }
      if (!programs.empty())
        exec_argv.push_back("--bpf-programs=" + FormatBpfProgramsSpec(programs));
      reply.set_message(reply.message() + "; khod re-executes " + exec_argv[0]);
      exec_argv_offered_ = exec_argv;
    }
    transport_ = std::move(t);
    sent_here_ = true;
  }
  if (!exec_argv.empty() && opts_.on_exec_ready) opts_.on_exec_ready(std::move(exec_argv));
  return reply;
}

Result<v1::VerifyReply> Session::Verify(const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Verify"));
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::RESTORED, v1::VERIFIED}, "Verify"));
  const int64_t t0 = NowNs();
  // Only pages the holder kept mapped since Freeze carry their frozen flags
  // (a real kexec, a rebuild: none do).
  CaptureStats stats;
  Result<Snapshot> now = CaptureAll(restored_, /*final_capture=*/true, &frozen_, &stats);
  if (!now.ok()) return now.status().WithContext("Verify");
  // VMs are compared against what the frozen snapshot carried: the memslots
  // the new side re-declares (here, the record) must be the same.
  // A caller other than root is not shown PFNs (docs/SECURITY.md).
  // Made anew by Restore: new memory, whatever its capture can see of it.
  std::set<uint64_t> rebuilt;
  for (const auto& [token, h] : restored_)
    if (h && h->new_memory) rebuilt.insert(token);
  RestoreVerdict v = VerifyRestored(frozen_, *now, caller.is_root(), rebuilt);
  v.counts.real_flags_carried = stats.flags_carried;
  v.counts.real_pages_witnessed = stats.pages_witnessed;
  v.counts.real_pages_walked = stats.pages_walked;
  v.counts.vmm_policies_from_vmas = stats.vmm_policies_from_vmas;
  v.counts.vmm_policies_from_numa_maps = stats.vmm_policies_from_numa_maps;
  v1::VerifyReply reply;
  FillVerifyReply(v.diff, v.counts, &reply);
  const v1::SessionRecord before = record_;
  record_.set_last_verdict(VerdictLine(v.diff, v.counts));
  if (v.equal()) {
    opts_.crash.Hit("pre-verified");
    record_.set_phase(v1::VERIFIED);
    RecordDuration(v1::VERIFIED, NowNs() - t0);
  } else if (record_.phase() == v1::VERIFIED) {
    // VERIFIED says the last verdict found no difference: one that finds some
    // takes it back, so that neither Status nor Finish (which needs VERIFIED)
    // passes a restore the latest Verify found different for a verified one.
    record_.set_phase(v1::RESTORED);
  }
  Status persisted = PersistOrRevert(before, "Verify");
  // The holder's page tables, the keeper and the pins have served: let go
  // once the verdict is out, after the reply.
  ReleaseLentHoldsAfterReply();
  KHOD_RETURN_IF_ERROR(persisted);
  if (v.equal()) opts_.crash.Hit("verified");
  return reply;
}

Result<v1::PhaseReply> Session::Finish(const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Finish"));
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::VERIFIED}, "Finish"));
  std::string medium_note;
  if (transport_ && !sent_here_) {
    // Received: the medium is consumed (dir: handover.blob unlinked; luo:
    // SESSION_FINISH) before the session says FINISHED. One that cannot be
    // (a read-only medium, a kernel refusing) does not hold the session in
    // VERIFIED, as it does not hold Cancel: no khod reads it once FINISHED
    // is durable, and what stays is said (docs/SECURITY.md).
    Status s = transport_->Finish();
    if (!s.ok()) {
      medium_note = "; the " + std::string(transport_->name()) +
                    " handover medium was not consumed (" + s.ToString() +
                    "): " + MediumLeftBehind(record_);
      std::fprintf(stderr, "khod: Finish: %s\n", medium_note.c_str() + 2);
    }
  }
  opts_.crash.Hit("pre-finished");
  const v1::SessionRecord before = record_;
  const std::string prepared = record_.prepared_blob(), frozen = record_.frozen_blob();
  record_.set_phase(v1::FINISHED);
  // The session's blobs go once the record stops naming them (their sizes stay).
  record_.clear_prepared_blob();
  record_.clear_frozen_blob();
  // Until FINISHED is durable khod keeps every reference: a failed write
  // leaves VERIFIED, the VMM can still take its memory, Finish can be retried.
  std::map<uint64_t, std::unique_ptr<GmemHandle>> releasing = std::move(restored_);
  restored_.clear();  // Status, published with the record, names no khod_fd
  // Nor the attached files, where this process sent the handover too: a
  // finished session holds no file it took.
  std::map<uint64_t, std::unique_ptr<GmemHandle>> attached = std::move(handles_);
  handles_.clear();
  // A failed write puts them back before its write-back's status is made:
  // that status lists the khod_fd the VMM can still take.
  Status persisted = PersistOrRevert(before, "Finish", nullptr, [&] {
    restored_ = std::move(releasing);
    handles_ = std::move(attached);
  });
  if (!persisted.ok()) return persisted;
  for (auto& kv : releasing)
    if (kv.second->source) kv.second->source->UsePagesMappedBy(-1);
  for (auto& kv : attached)
    if (kv.second->source) kv.second->source->ReleasePins();
  ReleaseMappingHolder();
  // Prepare's PTE keeper (here where this process sent the handover) maps
  // every guest page: they stay allocated while it runs.
  witness_.reset();
  witness_handoff_.reset();
  if (received_) {
    for (auto& kv : received_->fds) ::close(kv.second);
    received_->fds.clear();
  }
  // The VMM has taken its memory back (khod_fd): khod lets go of its references.
  const size_t released = releasing.size();
  releasing.clear();
  attached.clear();
  for (const std::string& f : {prepared, frozen})
    if (!f.empty()) state_dir_.Remove(f);
  // Sent by this process and restored here (no exec, no kexec): the
  // handover is undone once FINISHED is durable, nothing is left behind.
  if (transport_ && sent_here_) transport_->Abort();
  transport_.reset();  // consumed or undone: what it holds goes too
  RemoveMadeHandoverDir(before);
  opts_.crash.Hit("finished");
  v1::PhaseReply r;
  r.set_phase(v1::FINISHED);
  r.set_message("finished: khod closed its references to " + std::to_string(released) +
                " restored gmems (what the VMM took back stays the VMM's)" + medium_note);
  return r;
}

Result<v1::PhaseReply> Session::Cancel(const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Cancel"));
  const v1::Phase was = record_.phase();
  const bool after_handover = was == v1::HANDED_OVER || was == v1::RESTORED || was == v1::VERIFIED;
  if (!after_handover)
    KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE, v1::PREPARED, v1::FROZEN}, "Cancel"));
  // This process made a reexec handover and the exec is under way: the new
  // khod is the one to cancel.
  if (was == v1::HANDED_OVER && sent_here_ && record_.transport() == v1::REEXEC && !received_)
    return Status::FailedPrecondition(
        "Cancel: this khod's reexec is under way; cancel the new khod once it serves");
  // The new side of a handover holds none of the attached files (they are
  // the VMM's, named by the old side's pid and fd): the session ends with
  // no gmem attached. The side that sent it in this process still holds
  // them: they stay attached.
  const bool new_side = after_handover && !sent_here_;
  const std::string prepared = record_.prepared_blob(), frozen = record_.frozen_blob();
  const v1::SessionRecord before = record_;
  ClearSessionRecord();
  if (new_side) {
    record_.clear_gmems();
    record_.clear_vms();
  }
  // Prepare's draft goes first: no record names it, so even a Cancel whose
  // write fails may remove it, and on a full state dir its room is what the
  // IDLE record needs. A session left PREPARED by that failure has Freeze
  // write its blob whole.
  DropFrozenDraft();
  // The restored files are let go once the IDLE record is durable, and the
  // status that record publishes names none of them (no khod_fd: a number
  // closed next, which the next open reuses). A MODEL guest lives in this
  // process only: Restore moved the attached one itself into restored_, and
  // it stays attached with the others.
  std::map<uint64_t, std::unique_ptr<GmemHandle>> releasing = std::move(restored_);
  restored_.clear();
  std::vector<uint64_t> models_kept;
  if (!new_side)
    for (auto it = releasing.begin(); it != releasing.end();) {
      if (it->second && it->second->is_model && !handles_.count(it->first)) {
        handles_[it->first] = std::move(it->second);
        models_kept.push_back(it->first);
        it = releasing.erase(it);
      } else {
        ++it;
      }
    }
  // The IDLE record first: until it is durable the old record may still name
  // these files, and a crash after it leaves orphans only, never a record
  // naming deleted files. A failed write deletes nothing else and changes
  // nothing: what moved is back before the write-back's status is made.
  Status persisted = PersistOrRevert(before, "Cancel", nullptr, [&] {
    for (uint64_t token : models_kept) {
      releasing[token] = std::move(handles_[token]);
      handles_.erase(token);
    }
    restored_ = std::move(releasing);
  });
  if (!persisted.ok()) return persisted.WithContext("nothing the record names was deleted");
  opts_.crash.Hit("cancelled");
  const size_t released = releasing.size();
  if (received_)
    for (auto& kv : received_->fds) ::close(kv.second);
  ReleaseSessionHolds();
  releasing.clear();  // after the mapping holder, as ReleaseSessionHolds orders them
  if (new_side) handles_.clear();
  if (transport_) {
    // A handover this process received is consumed (dir: its blob goes); one
    // it sent is undone.
    Status t = new_side ? transport_->Finish() : transport_->Abort();
    if (!t.ok()) std::fprintf(stderr, "khod: Cancel: %s\n", t.ToString().c_str());
  }
  transport_.reset();
  RemoveMadeHandoverDir(before);
  sent_here_ = false;
  for (const std::string& f : {prepared, frozen})
    if (!f.empty()) state_dir_.Remove(f);
  v1::PhaseReply r;
  r.set_phase(v1::IDLE);
  std::string msg = "cancelled from " + PhaseName(was);
  if (released > 0)
    msg += "; khod closed its references to " + std::to_string(released) +
           " restored gmems: what the VMM took back stays the VMM's, memory no process holds "
           "any more is freed";
  if (new_side)
    msg += "; no gmem is attached (the VMM's files stay the VMM's): Attach them again";
  else
    msg += "; " + std::to_string(handles_.size()) + " gmems stay attached";
  r.set_message(msg);
  return r;
}

Result<v1::SnapshotReply> Session::GetSnapshot(const v1::SnapshotRequest& req,
                                               const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  // A snapshot holds PFNs and folio flags, which the kernel shows only to
  // CAP_SYS_ADMIN (pagemap, kpageflags): khod hands them to no one else.
  if (!caller.is_root())
    return Status::PermissionDenied(
        "GetSnapshot: caller uid " + std::to_string(caller.uid) +
        " may not read a snapshot: it holds PFNs and page flags, which the kernel shows only to "
        "root (CAP_SYS_ADMIN), and khod discloses nothing a caller could not read itself");
  if (!v1::BlobFormat_IsValid(req.format()))
    return Status::InvalidArgument("SnapshotRequest.format: unknown blob format " +
                                   std::to_string(req.format()));
  const v1::BlobFormat fmt = req.format() == v1::FORMAT_UNSPECIFIED ? v1::FDT : req.format();
  Snapshot snap;
  const bool live = record_.phase() == v1::IDLE || record_.phase() == v1::PREPARED;
  if (req.recapture() || (live && record_.prepared_blob().empty())) {
    if (!live && !(record_.phase() == v1::RESTORED || record_.phase() == v1::VERIFIED))
      return Status::FailedPrecondition("GetSnapshot: nothing to capture in phase " +
                                        PhaseName(record_.phase()));
    KHOD_ASSIGN_OR_RETURN(Snapshot s,
                          CaptureAll(live ? handles_ : restored_, /*final_capture=*/true));
    snap = std::move(s);
  } else if (have_frozen_) {
    snap = frozen_;
  } else {
    const std::string& f =
        record_.frozen_blob().empty() ? record_.prepared_blob() : record_.frozen_blob();
    if (f.empty()) return Status::NotFound("GetSnapshot: no capture yet (Prepare first)");
    KHOD_ASSIGN_OR_RETURN(std::string b, state_dir_.Read(f, BlobRead()));
    KHOD_RETURN_IF_ERROR(DecodeAny(b, &snap));
  }
  v1::SnapshotReply r;
  std::string blob;
  KHOD_RETURN_IF_ERROR(Encode(snap, ToBlobFormat(fmt), &blob));
  r.set_blob(std::move(blob));
  r.set_format(fmt);
  r.set_phase(record_.phase());
  return r;
}

}  // namespace khod
