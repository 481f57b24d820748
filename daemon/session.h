// Session: khod's live-update state machine, one per daemon.
//
//   IDLE --Attach/Detach--> IDLE --Prepare--> PREPARED --Freeze (final
//     capture, blob, transport send; one record)--> HANDED_OVER   [old side ends here]
//   FROZEN is no longer written: a record an older khod left in it rolls back
//   to PREPARED at start.
//   HANDED_OVER --Restore--> RESTORED --Verify--> VERIFIED --Finish--> FINISHED
//   Cancel: every phase before FINISHED -> IDLE (docs/SECURITY.md, "Every
//   phase has a way out"); on the new side of a handover it ends the session.
//
// Every transition is persisted (daemon/record_file.h) before it is reported,
// so a crash at any instant leaves the previous or the new record. A call
// whose record write fails changes nothing: the session in memory goes back
// to what the durable record says, and no file it names is let go. Open()
// reads the record and resumes or rolls back, and says which (recovery()).
// All methods are thread-safe; gRPC calls them concurrently.
#ifndef KHOD_DAEMON_SESSION_H_
#define KHOD_DAEMON_SESSION_H_

#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/change_scan.h"
#include "capture/pte_witness.h"
#include "common/patched_file.h"
#include "common/safe_file.h"
#include "common/status.h"
#include "daemon/caller_access.h"
#include "daemon/crash_points.h"
#include "daemon/group_commit.h"
#include "daemon/leftover_sweep.h"
#include "daemon/session_record.pb.h"
#include "handover/blob_memfd.h"
#include "handover/kho_debugfs.h"
#include "handover/luo_device.h"
#include "handover/reexec_transport.h"
#include "handover/transport.h"
#include "kernel/mapping_holder.h"
#include "proto/khod.pb.h"
#include "restore/gmem_opener.h"
#include "restore/gmem_restore.h"
#include "serializer/serializer.h"
#include "state/snapshot.h"
#include "verify/verify_restored.h"

namespace khod {

// GmemAttachment.boot_id when this boot's id could not be read.
constexpr char kUnknownBootId[] = "unknown";

struct SessionOptions {
  std::string state_dir = "/var/lib/khod";
  // The DIR transport's directories: a Freeze's `dir` is a name beneath this
  // root, fixed at start-up (khod --handover-root); empty: <state_dir>/handover.
  std::string handover_root;
  v1::Transport default_transport = v1::REEXEC;
  v1::BlobFormat default_format = v1::FDT;
  // REEXEC: the name of the program khod re-executes (argv[0]; the program
  // itself is the file khod opened at start-up, khod_main.cc) and the
  // arguments khod was started with (without --adopt), so the new process
  // serves the same socket/state.
  std::string self_binary = "/proc/self/exe";
  // This boot's id (/proc/sys/kernel/random/boot_id), recorded with each
  // file attached; empty: read at open ("unknown" when unreadable). Tests
  // give another to stand for a reboot.
  std::string boot_id;
  std::vector<std::string> exec_args;
  CrashPoints crash;
  // Test fault: flip a byte of the blob the transport carries (the state-dir
  // copy stays intact), to show a corrupt handover is refused and loses nothing.
  bool corrupt_handover_blob = false;
  // Freeze has the transport copy a blob of at least this many bytes ahead
  // of Send (HandoverTransport::Stage), or overwrite Prepare's draft memfd
  // where at least this many bytes differ, on a thread beside the blob's
  // durable write; below it a thread costs more than the copy.
  size_t stage_blob_ahead_from = size_t{256} << 10;
  AdoptSpec adopted;  // what a reexec handed this process
  // pid of the previous khod's mapping holder (reexec; kernel/mapping_holder.h):
  // Verify reads PFNs from its page tables, then it is released.
  int mapping_holder = -1;
  // Test hook: run by the thread that releases what the handover lent
  // Verify, before it takes the session's lock (ReleaseLentHoldsAfterReply).
  std::function<void()> before_release_after_reply;
  // Test fault: Open's warm-up finds no thread to adopt the carried files on
  // (std::async throws, as when the process may make no more), and adopts
  // them itself.
  bool warm_up_thread_fails_for_test = false;
  // Test fault: runs after each record write that reached the disk, and an
  // error it returns is that write's, as when the directory's fsync fails
  // after the rename has replaced the record.
  std::function<Status()> after_record_written_for_test;
  // Test fault: runs in Freeze once the transport's Send returned Ok, and an
  // error it returns is Send's, as when the dir transport's directory fsync
  // fails after its rename has put handover.blob in place.
  std::function<Status()> after_send_for_test;
  // Test fault: runs in Freeze once its handover is sent, before its record
  // is written (an operator's stop that comes while Freeze runs).
  std::function<void()> in_freeze_for_test;
  // The previous khod's PTE keeper, its control socket and the memfd that
  // describes its witness (reexec; daemon/pte_witness_handoff.h): Verify
  // walks only what it does not witness, then it is released. -1: none.
  int pte_keeper = -1;
  int pte_keeper_fd = -1;
  int pte_witness_fd = -1;
  // The previous khod's page pins (reexec --page-pins; kernel/page_pin.h):
  // token -> io_uring ring fds that pin every page of that file's frozen
  // capture at its PFN. Taken at open (FD_CLOEXEC set), given to the adopted
  // file's source, released after Verify.
  std::map<uint64_t, std::vector<int>> page_pins;
  // Threads a capture round may use (khod --capture-threads): the files of a
  // round are captured that many at once (capture/snapshot_assembly.h), each
  // kernel source using as many itself; the blob's folio tables are encoded
  // and decoded on as many (serializer/serializer.h CodecOptions). 0: the
  // CPUs of khod's affinity mask.
  int capture_threads = 0;
  LuoDevice* luo_device = nullptr;  // nullptr: the kernel's
  std::string luo_device_path = "/dev/liveupdate";
  // Where debugfs is mounted: after a luo handover khod reports KHO's
  // incoming tree from <debugfs_root>/kho/in (khod --debugfs).
  std::string debugfs_root = kDefaultDebugfsRoot;
  // Called (outside the lock) once a REEXEC handover is durable, with the
  // argv to exec. The daemon shuts gRPC down, then execs.
  std::function<void(std::vector<std::string> argv)> on_exec_ready;
  // Called (on the record writer's thread, no lock held) each time a durable
  // change is published to GetStatus, every phase change included: khod
  // rewrites its --metrics-textfile. Must not block.
  std::function<void()> on_status_published;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> Open(SessionOptions opts, GmemOpener* opener);
  ~Session();

  // `caller`: whose request it is (SO_PEERCRED; the default is root, for
  // in-process callers): a process it names must be one the caller could
  // ptrace itself (daemon/caller_access.h), and it acts only on gmems it
  // attached, on the whole session only when it attached every gmem of it,
  // and attaches only to a session of its own: one holding no gmem or only
  // its uid's, root included (daemon/gmem_ownership.h CheckMayAttach). An
  // Attach naming the token of one of its gmems is a retry: that gmem's
  // GmemInfo, nothing written, for the same file and declaration, else
  // INVALID_ARGUMENT. Refused calls change nothing.
  Result<v1::GmemInfo> Attach(const v1::AttachRequest& req, const PeerCred& caller = PeerCred());
  Status Detach(uint64_t token, const PeerCred& caller = PeerCred());
  Status UpdateAttributes(const v1::UpdateAttributesRequest& req,
                          const PeerCred& caller = PeerCred());
  Result<v1::PhaseReply> Prepare(const PeerCred& caller = PeerCred());
  Result<v1::PhaseReply> Freeze(const v1::FreezeRequest& req, const PeerCred& caller = PeerCred());
  Result<v1::PhaseReply> Restore(const v1::RestoreRequest& req,
                                 const PeerCred& caller = PeerCred());
  Result<v1::VerifyReply> Verify(const PeerCred& caller = PeerCred());
  Result<v1::PhaseReply> Finish(const PeerCred& caller = PeerCred());
  Result<v1::PhaseReply> Cancel(const PeerCred& caller = PeerCred());
  // Never waits for a transition's fsync: served from a copy refreshed after each change.
  v1::StatusReply GetStatus() const;
  // This process's reexec timeline (daemon/reexec_timeline.h), reported by
  // GetStatus from now on; per process, never persisted.
  void SetReexecTimeline(const v1::ReexecTimeline& t);
  Result<v1::SnapshotReply> GetSnapshot(const v1::SnapshotRequest& req,
                                        const PeerCred& caller = PeerCred());

  // The fds a reexec's mapping holder keeps open (GmemSource::fault_guard_fd).
  std::vector<int> HolderKeepFds() const;
  // The daemon is about to exec the new khod with `argv`, the argv a REEXEC
  // Freeze gave on_exec_ready: true, and from now until ExecFailed no Restore
  // or Cancel of this process touches what the exec hands over. False when
  // the session is no longer that handover (a Restore in this process took
  // it in the window between Freeze's reply and the exec, or another Freeze
  // made a new one, whose argv comes next): then no exec with `argv`.
  bool BeginExec(const std::vector<std::string>& argv);
  // The reexec could not happen: keep serving as the new side with the fds
  // this process still holds.
  void ExecFailed(const Status& why);

  // What Open() did with the record it found: "new session", "resumed
  // PREPARED", "rolled back FROZEN -> PREPARED: ...".
  std::string recovery() const;
  v1::Phase phase() const;
  // How many buffers Freeze left to be freed at the next Prepare (tests).
  size_t buffers_kept_past_blackout() const;
  // Whether the previous khod's mapping holder is still held (tests).
  bool holds_mapping_holder() const;
  // Returns once the release Verify left for after its reply has run.
  void WaitForReleaseAfterReply();

 private:
  static constexpr const char* kRecordFile = "session.rec";  // in the state dir
  static uint64_t NewSessionId();                            // random, never 0
  static int64_t NowNs();                                    // monotonic, for the phase durations

  explicit Session(SessionOptions opts, GmemOpener* opener);
  void ExecFailedLocked(const Status& why);  // ExecFailed, caller holds mu_
  // An Attach naming the token of gmem `g` the caller attached: g's
  // GmemInfo when it names the same file (`taken`, taken from the request's
  // pid and fd; null for a MODEL request) and declaration, INVALID_ARGUMENT
  // naming g's file otherwise. Changes nothing. mu_ held.
  Result<v1::GmemInfo> RetriedAttach(const v1::AttachRequest& req, const v1::GmemAttachment& g,
                                     const GmemHandle* taken) const;
  // Attach in an IDLE session, caller holds mu_; `before`: the record to
  // return to when the write fails. `taken`: the request's file as Attach
  // took it before mu_ (null when it took none); `made`: the handle made of
  // it (or the MODEL guest), left there when not kept, for Attach to drop
  // after mu_.
  Result<v1::GmemInfo> AttachLocked(const v1::AttachRequest& req, const PeerCred& caller,
                                    const v1::SessionRecord& before, const Result<TakenFile>* taken,
                                    Result<std::unique_ptr<GmemHandle>>* made);
  Status Recover();
  // daemon/leftover_sweep.h, after Recover's record is durable: logs each
  // entry; true when it added to recovery_ (removed or failed to remove).
  bool SweepLeftovers();
  // Logs each entry of `r` and adds what went, or could not go, to
  // recovery_; true when it added to it.
  bool ReportSwept(const SweepReport& r);
  // record_ -> state dir through the group commit; the status copy is
  // refreshed once it is durable. StageRecord() queues it; Persist() stages
  // and waits, the caller holding mu_ throughout: no change is staged on top
  // of one whose write may still fail, so reverting it (PersistOrRevert)
  // leaves exactly the session before it.
  Result<uint64_t> StageRecord();
  // Persist() also deletes the files in orphans_ once it succeeds: the
  // durable record then names none of them.
  Status Persist();
  // Persist(), or, when the write fails, record_ back to `before` (the
  // generation still counts on) and the error saying `op` changed nothing.
  // The caller holds mu_ throughout and undoes what else it changed: what
  // Status reads besides the record (restored_, handles_) in `undo`, which
  // runs after record_ is back and before the write-back is staged, so that
  // the status that write publishes is the session's after the undo, never
  // the change's.
  // `change_may_be_on_disk`, when given, is set when the write-back failed
  // too and the record on disk is the change's (or cannot be read): it names
  // what the change made, which the caller must not delete.
  Status PersistOrRevert(const v1::SessionRecord& before, const std::string& op,
                         bool* change_may_be_on_disk = nullptr,
                         const std::function<void()>& undo = nullptr);
  // record_ back to `before`, its generation counting on.
  void RevertRecordTo(const v1::SessionRecord& before);
  v1::StatusReply BuildStatus() const;  // caller holds mu_
  Status ReattachAll(std::vector<std::string>* dropped);
  // The file attachment `a` names, taken again from its VMM: refused when it
  // was attached on another boot (or either boot is unknown), or the fd is now
  // another inode or kind.
  Result<std::unique_ptr<GmemHandle>> RetakeFromVmm(const v1::GmemAttachment& a);
  // Whether `a`'s pid and fd were taken on this boot: yes for records before
  // boot ids (the inode and kind checks alone), no when a boot is unknown.
  bool AttachedThisBoot(const v1::GmemAttachment& a) const {
    return a.boot_id().empty() || (a.boot_id() == opts_.boot_id && a.boot_id() != kUnknownBootId);
  }
  // The record holds a kernel file, and each was attached on this boot, as
  // its recorded boot id says (a record without one says nothing of the
  // boot): no kexec or reboot came between the Attach and now.
  bool EveryKernelGmemKnownAttachedThisBoot() const;
  // A handover whose carried fds died (reexec), or that carries none (dir)
  // and is restored by a process that did not send it, on the boot every
  // kernel file was attached on: each recorded kernel file taken again from
  // its VMM, by token, into `fds`; says what came back and what not ("" when
  // nothing was tried). `all`: every kernel file came back.
  std::string RetakeCarriedFromVmms(std::map<uint64_t, int>* fds, bool* all);
  // A reexec's adopted files, each opened, given its pins and its warm-up
  // started on a thread from Open (AdoptForWarmUp), overlapping the gRPC
  // startup and the client's reconnect instead of adding to Open.
  void StartWarmUps();
  // What one adoption needs, copied out of the session so that the thread
  // reads nothing of it.
  struct AdoptJob {
    uint64_t token = 0;
    int fd = -1;  // the --adopt fd (the carried file), dup'd before use
    GmemDeclaration declaration;
    std::vector<UniqueFd> pins;  // the previous khod's pins of this file
  };
  static std::map<uint64_t, WarmGmem> AdoptForWarmUp(GmemOpener* opener, std::vector<AdoptJob> jobs,
                                                     int holder_pid);
  // warming_ holds every adopted file once this returns: each user of
  // warming_ calls it first.
  void JoinAdoption();
  // The record is a reexec's handover, not yet restored: what --adopt hands
  // this process is for it (read ahead, warmed up), else it is unused.
  bool ReexecHandoverToRestore() const {
    return record_.phase() == v1::HANDED_OVER && record_.transport() == v1::REEXEC;
  }
  // A reexec's new khod reads the handover blob, checks it against the
  // record's checksum and decodes it on a thread from Open, overlapping the
  // gRPC startup; Restore takes the result instead of doing the same work.
  struct ReadAhead {
    Result<ReceivedHandover> received = Status::Internal("handover not read ahead");
    // XXH3 of received->blob when the decode checked it against the
    // record's (CodecOptions::recorded_xxh3) and they agreed.
    std::optional<uint64_t> xxh3;
    Status decoded;
    Snapshot snap;
    bool have_snap = false;  // snap not yet taken by a Restore
    // What Verify's change scan needs of each frozen list (by gmem token),
    // made here beside the restore rather than in Verify.
    std::map<uint64_t, RescanBase> rescan_bases;
  };
  void StartReadAhead();
  // The read-ahead's work, on its thread: only `t` and what is given, never
  // the session's state.
  // `recorded`: the record's XXH3 of the frozen blob, the decode's one check
  // of the bytes when given.
  static ReadAhead ReadAheadFrom(HandoverTransport* t, CodecOptions codec, int threads,
                                 std::optional<uint64_t> recorded);
  // Lets the previous khod's address space go (after Verify, or when the
  // session leaves the restore): sources read their own mappings again.
  void ReleaseMappingHolder();
  // What the handover lent Verify (the previous khod's mapping holder and
  // keeper, the pins it handed on), let go on a thread of its own that
  // takes mu_ once Verify has returned: with 100 files that is milliseconds,
  // which the Verify reply, and so the blackout, no longer waits for. Calls
  // that come first see the holds as they were, as if they had come before
  // Verify; a later Verify's release is the one still waiting, if any.
  void ReleaseLentHoldsAfterReply();
  void ReleaseLentHolds();  // under mu_
  // Prepare's work once its caller and phase are checked (under mu_).
  Result<v1::PhaseReply> PrepareLocked();
  // Starts witness_ over the files of `snap` that can have one (Prepare);
  // returns what to tell the caller of it.
  // Prepare's word on --pin-movable-memory: pages pinned, files not pinned and why.
  std::string PinsNote() const;
  std::string StartWitness(const Snapshot& snap);
  // `frozen` (Verify): each gmem's frozen capture, which its folio flags
  // may be carried over from (capture/flag_reuse.h). `hw_corrupted_kb_before`
  // (Freeze): HardwareCorrupted as read before any page (AssembleSnapshot).
  Result<Snapshot> CaptureAll(const std::map<uint64_t, std::unique_ptr<GmemHandle>>& handles,
                              bool final_capture, const Snapshot* frozen = nullptr,
                              CaptureStats* stats = nullptr,
                              std::optional<uint64_t>* hw_corrupted_kb_before = nullptr);
  Status CheckPhase(std::initializer_list<v1::Phase> allowed, const char* op) const;
  // `made_dir`, when given (Freeze): the dir transport's directory is made
  // when missing, and this says whether this call made it. Not given
  // (recovery): the recorded directory is opened, never made; missing is an
  // error.
  Result<std::unique_ptr<HandoverTransport>> MakeTransport(v1::Transport t, const std::string& dir,
                                                           bool* made_dir = nullptr);
  Status WriteBlob(const std::string& kind, const std::string& blob, std::string* file);
  Result<std::string> ReadFrozenBlobFromStateDir() const;
  // What the blob codecs may use: khod's capture threads.
  CodecOptions Codec() const { return CodecOptions{opts_.capture_threads}; }
  // The record's XXH3 of its frozen blob; none when no blob is recorded. 0
  // is a hash value like any other, not "unchecked".
  std::optional<uint64_t> RecordedFrozenBlobXxh3() const;
  // Their number, resolved (0 is the CPUs of the affinity mask).
  int CodecThreads() const;
  void RecordDuration(v1::Phase p, int64_t nanos);
  void ClearFrozenBlob();
  void ResetToIdle();         // both of:
  void ClearSessionRecord();  // record_ back to IDLE, naming no blob
  // After Finish or Cancel consumed or undid `rec`'s dir handover: the
  // directory its Freeze made goes, when empty (handover_dir_made).
  void RemoveMadeHandoverDir(const v1::SessionRecord& rec);
  // What stays of `rec`'s handover medium when the new side's Finish could
  // not consume it, and who removes it: for Finish's reply.
  std::string MediumLeftBehind(const v1::SessionRecord& rec) const;
  // What this process holds for the session: for its restore, and the pins
  // of its attached files (KernelSourceOptions::pin_movable).
  void ReleaseSessionHolds();
  // Reads KHO's incoming tree into kho_incoming_; false when there is none
  // (true for a malformed one: kho_incoming_ then says what is wrong).
  bool NoteKhoIncoming();
  // `vmm_policy_budget`: what is left of the reply's bound on VMM ranges
  // (daemon/status_vmm_policies.h); nullptr: unbounded (one gmem's).
  v1::GmemInfo InfoOf(const v1::GmemAttachment& a, size_t* vmm_policy_budget = nullptr) const;
  std::map<uint64_t, uint64_t> AttachedSizes() const;  // token -> bytes, of handles_
  std::string path(const std::string& name) const { return opts_.state_dir + "/" + name; }
  void PrewarmFreezeBlob(const Snapshot& prepared);
  // Prepare's snapshot encoded as Freeze will encode its own, written whole
  // now (outside the blackout) as frozen_draft_; "" or what went wrong.
  std::string WriteFrozenDraft(const Snapshot& prepared);
  // Removes frozen_draft_'s file, under whatever name it has, and forgets it.
  void DropFrozenDraft();
  // Freeze's blob of `snap` in `fmt`, and the pages in which it differs from
  // frozen_draft_ (when there is one); `restamped` when it is the draft with
  // the capture time set (snap equal to the draft's but for it), not encoded.
  Status MakeFrozenBlob(const Snapshot& snap, v1::BlobFormat fmt, std::string* blob,
                        PageRuns* differing, bool* restamped);
  // A buffer Freeze is done with, freed at the next Prepare instead of
  // inside the blackout (kept_past_blackout_).
  void KeepPastBlackout(std::string bytes);
  // The name the next blob of `kind` ("prepared", "frozen") gets.
  std::string NextBlobName(const std::string& kind) const;

  SessionOptions opts_;
  GmemOpener* opener_;
  SafeDir state_dir_;      // opts_.state_dir, opened and checked by Open()
  SafeDir handover_root_;  // opts_.handover_root, the same
  mutable std::mutex mu_;
  v1::SessionRecord record_;
  std::string recovery_;
  std::map<uint64_t, std::unique_ptr<GmemHandle>> handles_;   // attached (old side)
  std::map<uint64_t, std::unique_ptr<GmemHandle>> restored_;  // new side
  // A reexec's adopted fds, opened at startup and populating in the
  // background until Restore takes them: token -> (adopted fd, handle).
  std::map<uint64_t, WarmGmem> warming_;
  // StartWarmUps' thread until JoinAdoption moves its result into warming_.
  std::future<std::map<uint64_t, WarmGmem>> adopting_;
  std::map<uint64_t, uint64_t> extents_;  // token -> folio extents at last capture
  std::unique_ptr<HandoverTransport> transport_;
  // Uses transport_ until joined (every Restore joins it first); declared
  // after it, so destroyed (joined) before it.
  std::future<ReadAhead> read_ahead_;
  std::optional<ReadAhead> read_ahead_done_;
  bool received_ahead_ = false;  // received_ is read_ahead_done_'s blob
  bool sent_here_ = false;       // this process did the Send (Cancel can still undo it)
  bool exec_begun_ = false;      // BeginExec said yes; ExecFailed clears it
  std::vector<std::string> exec_argv_offered_;  // the last REEXEC Freeze's, for BeginExec
  std::optional<ReceivedHandover> received_;
  std::unique_ptr<LuoDevice> own_luo_device_;
  Snapshot frozen_;
  std::string kho_incoming_;  // StatusReply.kho_incoming
  MappingHolder holder_;      // the previous khod's address space, until Verify
  // The previous khod's witness (its keeper adopted), until Verify.
  std::unique_ptr<PteWitness> previous_witness_;
  // The fds of the pins Freeze hands to the next khod (FD_CLOEXEC cleared
  // until the exec; set again if it fails).
  std::vector<int> pins_passed_;
  // The fds of the BPF programs Freeze hands on (--bpf-programs): the
  // process-wide readers' (kernel/bpf_program.h), FD_CLOEXEC cleared until
  // the exec; set again if it fails.
  std::vector<int> bpf_programs_passed_;
  // opts_.page_pins, owned from open until StartWarmUps gives them to the
  // adopted files' sources (the rest close there).
  std::map<uint64_t, std::vector<UniqueFd>> page_pins_;
  // The memfd describing witness_ for the next khod (written at Prepare,
  // passed by a reexec).
  UniqueFd witness_handoff_;
  // From Prepare until the session ends or the reexec hands its keeper on:
  // what spares Freeze's change scan its page-table walk (capture/pte_witness.h).
  std::unique_ptr<PteWitness> witness_;
  std::string holder_note_;  // what became of --mapping-holder, for Restore's reply
  // Blob files no record names any more, deleted after the next durable write.
  std::vector<std::string> orphans_;
  // Room for Freeze's blob, written through at Prepare while the guests
  // still run: page faults on fresh memory would otherwise be paid inside
  // the blackout (PrewarmFreezeBlob).
  std::string freeze_blob_;
  // Freeze's blob as it would be if nothing changed since Prepare, in the
  // state dir as kFrozenDraft: Freeze writes only the pages of its blob that
  // differ from it (common/patched_file.h) and renames it to the frozen
  // blob's name. Used once; a Freeze in another format writes its blob whole.
  std::optional<PatchedFile> frozen_draft_;
  // The same bytes in a memfd, made with frozen_draft_ where Freeze hands
  // over by reexec by default: Freeze overwrites the pages that differ and
  // hands it over sealed (handover/blob_memfd.h) instead of copying its whole
  // blob into a new memfd. Used once, dropped with frozen_draft_.
  std::optional<BlobMemfd> frozen_draft_memfd_;
  // The snapshot frozen_draft_ was encoded from: a Freeze that captures the
  // same but for the time restamps the draft instead of encoding.
  std::optional<Snapshot> frozen_draft_snapshot_;
  // Buffers of megabytes (the draft's bytes, the blob handed over) which
  // Freeze is done with: freeing them inside the blackout unmaps them there
  // (docs/PERFORMANCE.md); a reexec's exec leaves them to the mapping
  // holder, torn down after Verify. Freed by the next Prepare.
  std::vector<std::string> kept_past_blackout_;
  // The read-ahead's RescanBases of frozen_'s lists, by gmem token.
  std::map<uint64_t, RescanBase> frozen_rescan_bases_;
  v1::BlobFormat frozen_draft_format_ = v1::FORMAT_UNSPECIFIED;
  bool have_frozen_ = false;
  uint64_t incarnation_ = 0;                       // record generation when this process opened it
  mutable std::mutex status_mu_;                   // guards the pointer status_ only
  std::shared_ptr<const v1::StatusReply> status_;  // what is durable; replaced, never changed
  // The status the last staged record publishes once durable (mu_): a reply
  // that lists the gmems copies them from it instead of building them again.
  std::shared_ptr<const v1::StatusReply> staged_status_;
  std::optional<v1::ReexecTimeline> reexec_timeline_;  // guarded by status_mu_
  GroupCommit commit_;  // after status_: its writer publishes into it
  // ReleaseLentHoldsAfterReply's thread: declared last, so destroyed (joined)
  // before anything it releases.
  std::future<void> release_after_reply_;
};

}  // namespace khod

#endif  // KHOD_DAEMON_SESSION_H_
