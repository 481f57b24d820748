// Session recovery: what Session::Open does with the record it finds (resume,
// roll back, or start a new session), re-taking the attached files, and the
// start-up sweep of leftovers no durable record names (daemon/leftover_sweep.h).
// docs/SECURITY.md, "Every phase has a way out", says where each phase goes.

#include <cstdio>
#include <string>
#include <tuple>

#include "common/status_macros.h"
#include "daemon/blob_names.h"
#include "daemon/leftover_sweep.h"
#include "daemon/record_file.h"
#include "daemon/session.h"
#include "daemon/session_declarations.h"
#include "daemon/session_phase.h"
#include "handover/unreadable_dir_transport.h"
#include "state/snapshot.h"

namespace khod {

Result<std::unique_ptr<GmemHandle>> Session::RetakeFromVmm(const v1::GmemAttachment& a) {
  // A pid (and an inode number of a pseudo filesystem) is reused by the next
  // boot: after a reboot or a kexec the same numbers can name another guest.
  if (!AttachedThisBoot(a))
    return Status::FailedPrecondition("attached on boot " + a.boot_id() + ", this is boot " +
                                      opts_.boot_id + ": pid " + std::to_string(a.pid()) +
                                      " is not known to be the process that held it");
  KHOD_ASSIGN_OR_RETURN(std::unique_ptr<GmemHandle> h,
                        opener_->TakeHandleFromProcess(DeclarationOf(a), a.pid(), a.fd()));
  if (a.inode() && h->inode != a.inode())
    return Status::FailedPrecondition("fd " + std::to_string(a.fd()) + " of pid " +
                                      std::to_string(a.pid()) + " is now another file (inode " +
                                      std::to_string(h->inode) + ", was " +
                                      std::to_string(a.inode()) + ")");
  // An inode number is one filesystem's: a memfd's and a guest_memfd's can be equal.
  if (!a.kind().empty() && FileKindName(h->kind) != a.kind())
    return Status::FailedPrecondition(
        "fd " + std::to_string(a.fd()) + " of pid " + std::to_string(a.pid()) + " is now a " +
        FileKindName(h->kind) + " (inode " + std::to_string(h->inode) + "), was a " + a.kind());
  return h;
}

Status Session::ReattachAll(std::vector<std::string>* dropped) {
  handles_.clear();
  google::protobuf::RepeatedPtrField<v1::GmemAttachment> kept;
  for (const auto& a : record_.gmems()) {
    Result<std::unique_ptr<GmemHandle>> h =
        a.is_model() ? opener_->NewModel(DeclarationOf(a),
                                         ModelSpec{a.model().size(),
                                                   static_cast<uint8_t>(a.model().hstate_order()),
                                                   a.model().populate()})
                     : RetakeFromVmm(a);
    if (!h.ok()) {
      dropped->push_back("gmem " + std::to_string(a.token()) + " ('" + a.name() +
                         "'): " + h.status().message());
      for (auto& vm : *record_.mutable_vms()) {
        // Drop that gmem's memslots with it.
        v1::VmRecord keep = vm;
        keep.clear_memslots();
        keep.clear_memslot_gmem();
        for (int i = 0; i < vm.memslots_size(); ++i)
          if (vm.memslot_gmem(i) != a.token()) {
            *keep.add_memslots() = vm.memslots(i);
            keep.add_memslot_gmem(vm.memslot_gmem(i));
          }
        vm = keep;
      }
      continue;
    }
    handles_[a.token()] = std::move(*h);
    *kept.Add() = a;
  }
  *record_.mutable_gmems() = kept;
  return Status::Ok();
}

bool Session::SweepLeftovers() {
  RecordedNames named;
  named.prepared_blob = record_.prepared_blob();
  named.frozen_blob = record_.frozen_blob();
  const v1::Phase p = record_.phase();
  named.dir_handover_stands = record_.transport() == v1::DIR &&
                              (p == v1::HANDED_OVER || p == v1::RESTORED || p == v1::VERIFIED);
  named.handover_dir = record_.handover_dir();
  return ReportSwept(khod::SweepLeftovers(state_dir_, handover_root_, named));
}

bool Session::ReportSwept(const SweepReport& r) {
  // One line each, naming the path; Status's recovery lists what went and
  // what could not.
  for (const SweptEntry& e : r.removed) {
    std::fprintf(stderr, "khod: swept %s: %s\n", state_dir_.PathOf(e.path).c_str(), e.why.c_str());
    recovery_ += "; swept unnamed " + e.path;
  }
  for (const SweptEntry& e : r.kept)
    std::fprintf(stderr, "khod: kept %s: %s\n", state_dir_.PathOf(e.path).c_str(), e.why.c_str());
  for (const SweptEntry& e : r.failed) {
    std::fprintf(stderr, "khod: not swept %s: %s (it stays; khod starts all the same)\n",
                 state_dir_.PathOf(e.path).c_str(), e.why.c_str());
    recovery_ += "; not swept " + e.path + " (" + e.why + ")";
  }
  return !r.removed.empty() || !r.failed.empty();
}

Status Session::Recover() {
  Result<std::string> raw = ReadRecordFile(state_dir_, kRecordFile);
  // What an operator does with a record khod cannot use: the state directory
  // as a whole goes aside, the record with the files it names, and khod
  // makes a new one.
  const std::string move_aside = "move the state directory aside (mv " + opts_.state_dir + " " +
                                 opts_.state_dir +
                                 ".aside: khod makes a new one, and the earlier session's files "
                                 "stay together with its record)";
  if (!raw.ok() && raw.status().code() == Status::Code::kNotFound) {
    // No record, yet files of a session's names: an earlier session's, its
    // record moved aside or removed (a crash never removes the record). A
    // new session would count its generations from 1 again, writing its
    // blobs over theirs, and its next start would sweep what it does not
    // name: it does not start beside them.
    Result<std::vector<std::string>> earlier = FindSessionFiles(state_dir_, handover_root_);
    if (!earlier.ok())
      return earlier.status().WithContext("no session record in " + opts_.state_dir +
                                          ", and its files could not be listed");
    if (!earlier->empty()) {
      constexpr size_t kNamed = 8;
      std::string named;
      for (size_t i = 0; i < earlier->size() && i < kNamed; ++i)
        named += (i ? ", " : "") + (*earlier)[i];
      if (earlier->size() > kNamed)
        named += " and " + std::to_string(earlier->size() - kNamed) + " more";
      bool outside = false;
      for (const std::string& f : *earlier) outside |= !f.empty() && f[0] == '/';
      std::string what = "no session record in " + opts_.state_dir +
                         ", but files of an earlier session that no record names are there (" +
                         named + "): a new session would write over them or sweep them, so ";
      what += "none starts beside them; " + move_aside;
      if (outside)
        what += ", and move the files named beneath the handover root " + handover_root_.path() +
                " aside too";
      return Status::FailedPrecondition(what + "; nothing is deleted automatically");
    }
    record_.set_session_id(NewSessionId());
    record_.set_phase(v1::IDLE);
    record_.set_next_token(1);
    recovery_ = "new session (no record in " + opts_.state_dir + ")";
    incarnation_ = record_.generation() + 1;
    return Persist();
  }
  if (!raw.ok())
    return raw.status().WithContext("session record unusable; to start a new session, " +
                                    move_aside + "; nothing is deleted automatically");
  if (!record_.ParseFromString(*raw))
    return Status::Corruption(path(kRecordFile) + ": checksum good but the record does not parse");
  // memslot_gmem[i] is the gmem of memslots[i]: recovery and captures index one by the other.
  for (const v1::VmRecord& vm : record_.vms())
    if (vm.memslot_gmem_size() != vm.memslots_size())
      return Status::Corruption(path(kRecordFile) + ": VM " + std::to_string(vm.token()) + " has " +
                                std::to_string(vm.memslots_size()) + " memslots but " +
                                std::to_string(vm.memslot_gmem_size()) + " memslot gmem tokens");
  // Recovery and Cancel delete the blobs the record names: never another file of the state dir.
  for (const auto& [field, name, kind] :
       {std::make_tuple("prepared_blob", record_.prepared_blob(), "prepared"),
        std::make_tuple("frozen_blob", record_.frozen_blob(), "frozen")})
    if (!IsBlobNameOrNone(name, kind))
      return Status::Corruption(path(kRecordFile) + ": " + field + " '" + name +
                                "' is not a name khod gives a blob (" + kind + "-G.blob)");

  const v1::Phase was = record_.phase();
  // A luo handover is held by the LUO session fd of the khod that sent it,
  // and that fd closed with the process, which made the kernel drop what it
  // preserved. On the boot the handover was sent on (handed_over_boot_id),
  // or every kernel file was attached on (a record of a khod before that
  // field), no kexec has happened since, so nothing stands for a kexec to
  // carry: the session goes back to PREPARED as a PREPARED record does (each
  // file taken again from its VMM, which still holds it; what cannot be, and
  // MODEL guests, which lived in the dead khod, IDLE), and the frozen blob is
  // an orphan. A record without boot ids, or of another boot, keeps the
  // handover: after a kexec it is the new kernel's to give.
  const bool handed_over_this_boot = !record_.handed_over_boot_id().empty() &&
                                     opts_.boot_id != kUnknownBootId &&
                                     record_.handed_over_boot_id() == opts_.boot_id;
  const bool luo_died = (was == v1::HANDED_OVER || was == v1::RESTORED || was == v1::VERIFIED) &&
                        record_.transport() == v1::LUO &&
                        (handed_over_this_boot || EveryKernelGmemKnownAttachedThisBoot());
  const std::string luo_died_why =
      "the luo session died with the previous khod on this boot: a kexec would carry nothing";
  std::vector<std::string> dropped;
  auto dropped_text = [&]() {
    std::string s;
    for (const auto& d : dropped) s += "; dropped " + d;
    return s;
  };
  bool has_model = false;
  for (const auto& a : record_.gmems()) has_model |= a.is_model();

  switch (luo_died ? v1::PREPARED : was) {
    case v1::IDLE:
    case v1::PREPARED:
    case v1::FROZEN: {
      KHOD_RETURN_IF_ERROR(ReattachAll(&dropped));
      if (was == v1::IDLE) {
        recovery_ = "resumed IDLE with " + std::to_string(handles_.size()) + " gmems re-taken";
      } else if (dropped.empty() && !has_model) {
        // The kernel objects are the same files (boot, inode and kind checked): the prepared
        // capture is still theirs. A FROZEN record (an older khod wrote one
        // before its handover; none is written now) means the handover had
        // not happened: back to PREPARED, the guests are still the VMM's.
        if (was == v1::FROZEN || luo_died) {
          if (!record_.frozen_blob().empty()) orphans_.push_back(record_.frozen_blob());
          record_.set_phase(v1::PREPARED);
          ClearFrozenBlob();
          if (luo_died) {
            // Nothing after PREPARED stands: no verdict, no handover timings.
            record_.clear_last_verdict();
            google::protobuf::RepeatedPtrField<v1::PhaseDuration> kept;
            for (const v1::PhaseDuration& d : record_.durations())
              if (d.phase() == v1::PREPARED) *kept.Add() = d;
            *record_.mutable_durations() = kept;
          }
          recovery_ = luo_died ? "rolled back " + PhaseName(was) + " -> PREPARED: " + luo_died_why +
                                     "; Freeze again, or Cancel"
                               : "rolled back FROZEN -> PREPARED: the handover had not been made; "
                                 "guests are still paused by their VMM: Freeze again or Cancel";
        } else {
          recovery_ = "resumed PREPARED (" + std::to_string(handles_.size()) + " gmems re-taken)";
        }
      } else {
        for (const std::string& f : {record_.prepared_blob(), record_.frozen_blob()})
          if (!f.empty()) orphans_.push_back(f);
        ResetToIdle();
        recovery_ = "rolled back " + PhaseName(was) +
                    " -> IDLE: " + (luo_died ? luo_died_why + "; " : std::string()) +
                    (has_model ? "MODEL guests live in khod's memory and were re-created empty"
                               : "not every gmem could be re-taken") +
                    "; Prepare again";
      }
      recovery_ += dropped_text();
      break;
    }
    case v1::HANDED_OVER:
    case v1::RESTORED:
    case v1::VERIFIED: {
      Result<std::unique_ptr<HandoverTransport>> t =
          MakeTransport(record_.transport(), record_.handover_dir());
      std::string medium_note;
      if (!t.ok() && record_.transport() == v1::DIR) {
        // A path an older khod recorded, or a directory no longer safe to
        // open: never read it, never stop start-up on it.
        medium_note = "; the recorded handover dir '" + record_.handover_dir() + "' is not read (" +
                      t.status().message() +
                      "): Restore reads the state-dir copy of the blob, or Cancel";
        t = std::unique_ptr<HandoverTransport>(new UnreadableDirTransport(t.status().message()));
      }
      if (!t.ok()) return t.status();
      transport_ = std::move(*t);
      // What Restore does with a reexec's files once the fds it carried died.
      auto retake = [this] {
        bool this_boot = true;
        for (const auto& a : record_.gmems()) this_boot &= a.is_model() || AttachedThisBoot(a);
        return std::string(
            this_boot ? "Restore takes each file again from its VMM, pid, fd, inode and kind "
                        "checked, and rebuilds from the state-dir blob only what it cannot"
                      : "the files were attached on another boot, so Restore rebuilds them "
                        "from the state-dir blob");
      };
      // A dir handover carries no file: on the boot the files were attached
      // on (a restart, no kexec) the VMMs still hold them
      // (RetakeCarriedFromVmms).
      const std::string dir_retake =
          record_.transport() == v1::DIR && EveryKernelGmemKnownAttachedThisBoot()
              ? " (Restore takes each file again from its VMM, pid, fd, inode and kind checked, "
                "and rebuilds from the blob only what it cannot)"
              : "";
      if (record_.transport() == v1::LUO) NoteKhoIncoming();
      if (was != v1::HANDED_OVER) {
        // Restored objects were held by the process that died: restore again.
        record_.set_phase(v1::HANDED_OVER);
        record_.clear_last_verdict();
        recovery_ = "rolled back " + PhaseName(was) +
                    " -> HANDED_OVER: the restored objects died with the previous khod; "
                    "Restore again";
        if (record_.transport() == v1::REEXEC)
          recovery_ += " (the reexec fds died with it too: " + retake() + "; or Cancel)";
        recovery_ += dir_retake;
      } else if (!opts_.adopted.empty()) {
        recovery_ = "resumed HANDED_OVER after reexec: adopted " +
                    std::to_string(opts_.adopted.fds.size()) + " fds and the blob memfd";
        // The exec happened: this process is the khod it started. Counted by
        // the khod that arrived, in the record it writes at start, never by
        // the Freeze before it: an exec that failed, or a khod killed before
        // its exec, is no reexec.
        if (record_.transport() == v1::REEXEC) record_.set_exec_count(record_.exec_count() + 1);
      } else {
        recovery_ = "resumed HANDED_OVER";
        if (record_.transport() == v1::REEXEC)
          recovery_ += " without the reexec fds (the process holding them is gone): " + retake();
        recovery_ += dir_retake;
      }
      recovery_ += medium_note;
      break;
    }
    case v1::FINISHED:
      recovery_ = "resumed FINISHED (Attach starts a new session)";
      break;
    default:
      return Status::Corruption("session record has unknown phase " + std::to_string(was));
  }
  // Prepare's draft goes before the first record write: no record names it,
  // and on a full state dir its room (a frozen blob's) is what that write
  // needs, without which no start, and so no way out, would work.
  ReportSwept(SweepFrozenDraft(state_dir_));
  std::fprintf(stderr, "khod: %s\n", recovery_.c_str());
  incarnation_ = record_.generation() + 1;  // the generation Persist() is about to write
  KHOD_RETURN_IF_ERROR(Persist());
  // Leftovers of a killed khod, judged by the record now durable
  // (daemon/leftover_sweep.cc); never on a new session, which has no record
  // to judge by. Status shows what the last write covers: one more when the
  // sweep added to recovery.
  if (SweepLeftovers()) KHOD_RETURN_IF_ERROR(Persist());
  return Status::Ok();
}

}  // namespace khod
