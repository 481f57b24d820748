// Session restore: the new side of a handover (Restore), and the old side
// when its reexec could not happen (ExecFailed). What the medium carried is
// checked against the record before any fd is touched; how each gmem comes
// back is restore/gmem_restore.h's choice.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "common/background_close.h"
#include "common/bytes.h"
#include "common/status_macros.h"
#include "common/xxh3.h"
#include "daemon/gmem_ownership.h"
#include "daemon/session.h"
#include "daemon/session_declarations.h"
#include "kernel/memory_file.h"
#include "restore/gmem_restore.h"
#include "restore/kho_note.h"
#include "restore/rebuild_target.h"
#include "serializer/serializer.h"

namespace khod {

// After a luo handover LUO's own state came through KHO: what the kernel
// shows of KHO's incoming tree is reported (Status, Restore), never acted on.
bool Session::NoteKhoIncoming() {
  Result<KhoIncoming> in = ReadKhoIncoming(opts_.debugfs_root);
  kho_incoming_ = in.ok() ? in->Summary() : "KHO incoming FDT unusable: " + in.status().ToString();
  return !in.ok() || in->present;  // an unusable tree is still a tree
}

bool Session::BeginExec(const std::vector<std::string>& argv) {
  std::lock_guard<std::mutex> l(mu_);
  // Only while the session is the reexec handover this process sent and no
  // Restore here has taken: one that came first (and any Cancel, Finish or
  // new session after it) leaves nothing for the exec to hand over. And only
  // with that handover's argv: another Freeze's names other fds.
  if (!ReexecHandoverToRestore() || !sent_here_ || received_ || argv != exec_argv_offered_)
    return false;
  exec_begun_ = true;
  return true;
}

void Session::ExecFailed(const Status& why) {
  std::lock_guard<std::mutex> l(mu_);
  exec_begun_ = false;
  ExecFailedLocked(why);
}

void Session::ExecFailedLocked(const Status& why) {
  std::fprintf(stderr, "khod: reexec failed (%s): staying up as the new side with the fds held\n",
               why.ToString().c_str());
  if (witness_) witness_->keeper().KeepFromExec();
  if (witness_handoff_.valid()) ::fcntl(witness_handoff_.get(), F_SETFD, FD_CLOEXEC);
  for (int fd : pins_passed_) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  pins_passed_.clear();
  for (int fd : bpf_programs_passed_) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  bpf_programs_passed_.clear();
  // The handles still own the fds: restore can adopt dups of them.
  ReceivedHandover r;
  Result<std::string> blob = ReadFrozenBlobFromStateDir();
  if (blob.ok()) r.blob = *blob;
  for (const auto& [token, h] : handles_)
    if (h->fd >= 0) r.fds[token] = ::fcntl(h->fd, F_DUPFD_CLOEXEC, 3);
  r.origin = "this process (reexec failed: " + why.message() + ")";
  received_ = std::move(r);
  if (transport_) transport_->Abort();
}

// A reexec carries the very files attached here, on this boot: when the
// process holding them died (a crash on either side of the exec), the VMMs
// still hold them, and a file taken again from its VMM is the one the
// handover would have carried (RetakeFromVmm: the boot it was attached on,
// the same inode and kind; Restore checks the inode again). What no VMM
// holds any more is rebuilt. A dir handover carries no file: restored by a
// khod that did not send it, on the boot every kernel file was attached on
// (a restart, no kexec), the VMMs still hold the guests' own memory, which
// is taken again the same way instead of rebuilt as new memory; on another
// boot nothing is tried (the numbers may name another guest's file). A luo
// handover on that boot never comes here: its LUO session died with the
// khod that sent it, and recovery rolls it back to PREPARED.
bool Session::EveryKernelGmemKnownAttachedThisBoot() const {
  bool any = false;
  for (const auto& a : record_.gmems()) {
    if (a.is_model()) continue;
    if (a.boot_id().empty() || !AttachedThisBoot(a)) return false;
    any = true;
  }
  return any;
}

std::string Session::RetakeCarriedFromVmms(std::map<uint64_t, int>* fds, bool* all) {
  *all = false;
  if (!transport_) return "";
  const bool carries_none_restarted =
      !transport_->carries_fds() && !sent_here_ && EveryKernelGmemKnownAttachedThisBoot();
  if (!transport_->keeps_inodes() && !carries_none_restarted) return "";
  int kernel = 0;
  std::string refused;
  for (const auto& a : record_.gmems()) {
    if (a.is_model()) continue;
    ++kernel;
    Result<std::unique_ptr<GmemHandle>> h = RetakeFromVmm(a);
    Status dup_failed;
    if (h.ok()) {
      const int fd = ::fcntl((*h)->fd, F_DUPFD_CLOEXEC, 3);
      if (fd >= 0) {
        (*fds)[a.token()] = fd;
        continue;
      }
      dup_failed = Status::FromErrno("dup", errno);
    }
    refused += "; gmem " + std::to_string(a.token()) +
               " not re-taken: " + (h.ok() ? dup_failed.message() : h.status().message());
  }
  if (kernel == 0) return "";
  *all = fds->size() == static_cast<size_t>(kernel);
  return "; " + std::to_string(fds->size()) + " of " + std::to_string(kernel) +
         " files taken again from their VMMs (the recorded pid and fd, inode and kind checked)" +
         refused;
}

Result<v1::PhaseReply> Session::Restore(const v1::RestoreRequest& req, const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckOwnsSession(caller, record_, "Restore"));
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::HANDED_OVER}, "Restore"));
  if (exec_begun_)
    return Status::FailedPrecondition(
        "Restore: this khod is re-executing with the handover; restore on the new khod once it "
        "serves");
  const int64_t t0 = NowNs();
  if (read_ahead_.valid()) read_ahead_done_ = read_ahead_.get();  // transport_ is ours again
  // What the medium carried is received whichever copy of the blob is used:
  // from_state_dir reads khod's own, and the carried fds are adopted still.
  std::string received_nothing;
  bool read_state_dir_copy = false;  // received_'s blob is the state-dir copy, read just now
  if (!received_) {
    if (!transport_) return Status::Internal("HANDED_OVER without a transport");
    if (sent_here_ && !transport_->sender_can_receive()) {
      // Restoring in the process that sent (reexec not done): adopt from the handles.
      ExecFailedLocked(Status::Ok());
    } else {
      // The read-ahead's result once, then (a retry after it failed) the transport again.
      const bool ahead = read_ahead_done_ && !received_ahead_;
      Result<ReceivedHandover> r =
          ahead ? std::move(read_ahead_done_->received) : transport_->Receive();
      if (ahead && r.ok()) read_ahead_done_->received = Status::Internal("read-ahead result taken");
      if (ahead && !r.ok()) read_ahead_done_.reset();  // the next attempt receives again
      if (r.ok()) {
        received_ = std::move(*r);
        received_ahead_ = ahead;
        if (received_->fds.empty()) {
          // A dir handover after a restart: the files are the VMMs' own, where
          // they can be taken again.
          bool all_retaken = false;
          const std::string retaken = RetakeCarriedFromVmms(&received_->fds, &all_retaken);
          if (!retaken.empty()) received_->origin += " (" + retaken.substr(2) + ")";
        }
      } else if (!req.from_state_dir() && r.status().code() != Status::Code::kNotFound) {
        return r.status().WithContext("Restore: reading the handover");
      } else {
        // The medium has nothing (fds gone with a crashed process, or the
        // medium lost): the blob is the state-dir copy, and each file is the
        // VMM's own where it can be taken again, else rebuilt; the reply says which.
        ReceivedHandover fallback;
        Result<std::string> b = ReadFrozenBlobFromStateDir();
        if (!b.ok()) return b.status().WithContext("Restore");
        fallback.blob = *b;
        read_state_dir_copy = true;
        bool all_retaken = false;
        const std::string retaken = RetakeCarriedFromVmms(&fallback.fds, &all_retaken);
        fallback.origin = "state dir (" + r.status().message() + retaken + ")";
        if (req.from_state_dir())
          received_nothing =
              "; the handover carried no file (" + r.status().message() + retaken + ")" +
              (all_retaken ? ""
                           : std::string(retaken.empty() ? ": every" : ": every other") +
                                 " kernel gmem was rebuilt from " + path(record_.frozen_blob()));
        received_ = std::move(fallback);
      }
    }
  }
  // Not copied: a blob is megabytes, and every fresh page costs a fault.
  std::string state_dir_blob, origin;
  std::string_view blob;
  const bool ahead = received_ahead_ && !req.from_state_dir();
  if (req.from_state_dir() && !read_state_dir_copy) {
    Result<std::string> b = ReadFrozenBlobFromStateDir();
    if (!b.ok()) return b.status().WithContext("Restore from state dir");
    state_dir_blob = std::move(*b);
    blob = state_dir_blob;
    origin = path(record_.frozen_blob());
  } else {
    blob = received_->blob_bytes();
    origin = req.from_state_dir() ? path(record_.frozen_blob()) : received_->origin;
  }
  // Check everything before touching any fd: a refused restore loses nothing.
  // The bytes against the record: a decode given the record's hash checks
  // them beside its work (the read-ahead's or the one here), so they are
  // hashed here only when that did not show them to be the recorded ones,
  // to tell a corrupt handover from a blob that does not decode.
  const std::optional<uint64_t> recorded = RecordedFrozenBlobXxh3();
  const auto not_recorded = [&] { return recorded && Xxh3(blob.data(), blob.size()) != *recorded; };
  const auto corrupt = [&] {
    return Status::Corruption(
        "Restore: corrupt handover: the blob from " + origin + " (" + HumanBytes(blob.size()) +
        ") does not match the checksum recorded at freeze; nothing was restored, every fd is "
        "still held (retry with from_state_dir to use khod's own copy)");
  };
  Snapshot snap;
  Status d;
  if (ahead && read_ahead_done_->have_snap) {
    if (read_ahead_done_->xxh3 != recorded && not_recorded()) return corrupt();
    d = read_ahead_done_->decoded;
    snap = std::move(read_ahead_done_->snap);
    frozen_rescan_bases_ = std::move(read_ahead_done_->rescan_bases);
    read_ahead_done_->have_snap = false;  // a later attempt decodes again
  } else {
    CodecOptions codec = Codec();
    codec.recorded_xxh3 = recorded;
    d = DecodeAny(blob, &snap, nullptr, codec);
    frozen_rescan_bases_.clear();  // made for the read-ahead's lists, not these
    if (!d.ok() && not_recorded()) return corrupt();
  }
  if (!d.ok()) return d.WithContext("Restore: corrupt handover blob from " + origin);

  // The VMM's guest_memfds to rebuild into: checked and taken before any
  // gmem is touched, so a bad offer restores nothing.
  // Offered by the restarted VMM: a caller names only its own processes.
  // Checked for every offer before anything of the snapshot is said, and
  // again around each take, so the file comes from the process checked.
  std::vector<RebuildTargetOffer> offers;
  const auto offer_name = [](size_t i, int fd) {
    return "rebuild_into[" + std::to_string(i) + "] fd " + std::to_string(fd);
  };
  for (int i = 0; i < req.rebuild_into_size(); ++i) {
    const v1::RebuildTarget& t = req.rebuild_into(i);
    KHOD_RETURN_IF_ERROR(WithCallerAccess(caller, t.pid(), offer_name(i, t.fd()), [] {
                           return Status::Ok();
                         }).WithContext("Restore refused, nothing was restored"));
    offers.push_back(RebuildTargetOffer{t.token(), t.vm_token(), t.pid(), t.fd()});
  }
  const TakeOfferedFd take = [&](size_t i, const RebuildTargetOffer& o) -> Result<UniqueFd> {
    KHOD_RETURN_IF_ERROR(BackgroundCloseRoom("Restore: taking " + offer_name(i, o.fd)));
    Result<UniqueFd> fd = Status::Internal("not taken");
    Status access = WithCallerAccess(caller, o.pid, offer_name(i, o.fd), [&] {
      fd = TakeFdFromProcess(o.pid, o.fd);
      return fd.ok() ? Status::Ok() : fd.status();
    });
    if (!access.ok()) {
      // Taken, then refused: not identified yet, so its close may wait on
      // its filesystem's server, never under the session's lock.
      if (fd.ok()) CloseInBackground(std::move(*fd));
      return access;
    }
    return fd;
  };
  Result<std::map<uint64_t, RebuildTarget>> targets = TakeRebuildTargets(offers, snap, take);
  if (!targets.ok())
    return targets.status().WithContext(
        "Restore refused, nothing was restored, every fd is "
        "still held");

  GmemRestoreInputs in;
  for (const auto& a : record_.gmems()) in.declared[a.token()] = DeclarationOf(a);
  // A reexec carries the very files attached here (same boot), and a
  // transport that carries none has only files taken again from their VMMs:
  // each must be the inode recorded at Attach.
  if (transport_ && (transport_->keeps_inodes() || !transport_->carries_fds()))
    for (const auto& a : record_.gmems())
      if (!a.is_model() && a.inode() != 0) in.carried_inodes[a.token()] = a.inode();
  if (received_) in.carried = received_->fds;
  in.carried_resets_mempolicy = transport_ && transport_->resets_mempolicy();
  in.held = &handles_;  // this process's model guests move out, back if the restore fails
  JoinAdoption();
  in.warming = &warming_;
  in.targets = &*targets;
  in.force_rebuild = req.force_rebuild();
  in.holder_pid = holder_.held() ? holder_.pid() : -1;
  KHOD_ASSIGN_OR_RETURN(RestoredGmems restored, RestoreGmems(snap, in, opener_));
  std::string kho_note;
  if (record_.transport() == v1::LUO) {
    const bool present = NoteKhoIncoming();
    const KhoRestoreNote n =
        KhoNoteForRestore(kho_incoming_, present, sent_here_, opts_.debugfs_root);
    if (!n.warning.empty()) std::fprintf(stderr, "khod: %s\n", n.warning.c_str());
    kho_note = "; " + n.text;
  }
  opts_.crash.Hit("pre-restored");
  const v1::SessionRecord before = record_;
  record_.set_phase(v1::RESTORED);
  RecordDuration(v1::RESTORED, NowNs() - t0);
  restored_ = std::move(restored.handles);  // Status, published with the record, names their fds
  // Until RESTORED is durable nothing is held as restored: a failed write
  // leaves HANDED_OVER with every received fd, and Restore can be retried.
  // What was taken goes back before the write-back's status is made: it
  // names no fd of a restored file, which closes here.
  Status persisted = PersistOrRevert(before, "Restore", nullptr, [&] {
    restored.handles = std::move(restored_);
    restored_.clear();
    GiveBackTaken(&restored, &handles_, &warming_);
  });
  if (!persisted.ok()) return persisted;
  warming_.clear();  // those not taken (rebuilt instead): their mappings go
  frozen_ = std::move(snap);
  have_frozen_ = true;
  opts_.crash.Hit("restored");
  v1::PhaseReply r;
  r.set_phase(v1::RESTORED);
  std::string held;
  r.set_pid(static_cast<uint32_t>(::getpid()));
  // The RESTORED record's status lists them as they are now.
  for (const v1::GmemInfo& info : staged_status_->gmems()) {
    if (info.khod_fd())
      held += (held.empty() ? "" : ", ") + std::string("gmem ") + std::to_string(info.token()) +
              " fd " + std::to_string(info.khod_fd());
    *r.add_gmems() = info;
  }
  std::string msg = "restored " + std::to_string(restored_.size()) + " gmems from " + origin +
                    ": " + std::to_string(restored.adopted) + " adopted, " +
                    std::to_string(restored.rebuilt) + " rebuilt, " +
                    std::to_string(restored.model) + " MODEL";
  if (!held.empty())
    msg += "; khod pid " + std::to_string(::getpid()) + " holds them for the VMM until Finish (" +
           held + ")";
  msg += received_nothing;
  for (const std::string& n : restored.notes) msg += "; " + n;
  if (holder_.held() && restored.adopted > 0)
    msg += "; PFNs are read through the previous khod's mappings (holder pid " +
           std::to_string(holder_.pid()) + ") until Verify";
  else if (!holder_note_.empty())
    msg += "; " + holder_note_;
  r.set_message(msg + kho_note);
  return r;
}

}  // namespace khod
