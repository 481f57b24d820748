// Session attachments: the VMMs' guest_memfds and declarations that make up
// a session before Prepare (Attach, Detach, UpdateAttributes). A file is
// held from Attach until the durable record stops naming it.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <optional>
#include <string>

#include "common/status_macros.h"
#include "daemon/caller_bytes.h"
#include "daemon/gmem_ownership.h"
#include "daemon/request_limits.h"
#include "daemon/session.h"
#include "daemon/session_declarations.h"
#include "handover/luo_transport.h"
#include "state/invariants.h"
#include "state/text_rule.h"

namespace khod {

Result<v1::GmemInfo> Session::Attach(const v1::AttachRequest& req, const PeerCred& caller) {
  // The name is shown to root (khoctl status, logs): one that could show
  // other text than it holds is refused before anything else is looked at.
  if (const std::string problem = TextProblem(req.name(), TextRule::kGiven); !problem.empty())
    return Status::InvalidArgument("Attach: name " + problem);
  // The caller's file is taken and identified before mu_, and what is not
  // kept of it is dropped after mu_ (`taken` and `h` outlive the lock): a
  // file that is no memory file is refused and closed, and a close can wait
  // on the file's filesystem (a FUSE server's FLUSH) for as long as the
  // caller likes, which no other call may wait for.
  std::optional<Result<TakenFile>> taken;
  Result<std::unique_ptr<GmemHandle>> h = Status::InvalidArgument("attach needs kernel or model");
  if (req.has_kernel() && req.kernel().pid() > 0 && req.kernel().fd() >= 0) {
    {
      // AttachLocked's first checks, again there: no process is looked at
      // for a caller that may not attach to this session.
      std::lock_guard<std::mutex> l(mu_);
      if (record_.phase() != v1::FINISHED) {
        KHOD_RETURN_IF_ERROR(CheckMayAttach(caller, record_));
        KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE}, "Attach"));
      }
    }
    const int pid = req.kernel().pid(), fd = req.kernel().fd();
    taken = Status::Internal("Attach: not taken");
    // Nothing of the process is read before the caller's right to it is checked.
    Status access = WithCallerAccess(caller, pid, "fd " + std::to_string(fd), [&] {
      *taken = opener_->TakeFromProcess(pid, fd);
      return taken->ok() ? Status::Ok() : taken->status();
    });
    if (!access.ok()) *taken = access;
  }
  std::lock_guard<std::mutex> l(mu_);
  const v1::SessionRecord before = record_;
  const size_t orphans_before = orphans_.size();
  const bool after_finished = record_.phase() == v1::FINISHED;
  // What a finished session still answers with (GetSnapshot, Status): kept
  // aside, and put back when the Attach that would start a new one fails.
  std::optional<Snapshot> finished_snapshot;
  std::string finished_kho_incoming;
  if (after_finished) {
    if (have_frozen_) finished_snapshot = std::move(frozen_);
    finished_kho_incoming = std::move(kho_incoming_);
    // A finished session is history: start a new one. The generation goes on
    // counting: a reexec's new khod is told apart by incarnation (generation
    // + 1 at open), which restarting it at 0 could repeat, leaving
    // WaitNewIncarnation waiting for a khod that had already come up.
    const uint64_t generation = record_.generation();
    for (const std::string& f : {record_.prepared_blob(), record_.frozen_blob()})
      if (!f.empty()) orphans_.push_back(f);  // deleted once the new record is durable
    record_.Clear();
    record_.set_generation(generation);
    handles_.clear();
    restored_.clear();
    transport_.reset();
    kho_incoming_.clear();
    ResetToIdle();
    record_.set_session_id(NewSessionId());
    record_.set_next_token(1);
  }
  Result<v1::GmemInfo> attached = AttachLocked(req, caller, before, taken ? &*taken : nullptr, &h);
  if (!attached.ok() && after_finished) {
    // Nothing of the new session is durable: the finished one is still what
    // the record, Status and the next calls see, and its blobs stay named.
    RevertRecordTo(before);
    orphans_.resize(orphans_before);
    if (finished_snapshot) {
      frozen_ = std::move(*finished_snapshot);
      have_frozen_ = true;
    }
    kho_incoming_ = std::move(finished_kho_incoming);
  }
  return attached;
}

namespace {

bool SameMessages(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

template <typename T>
bool SameRepeated(const google::protobuf::RepeatedPtrField<T>& a,
                  const google::protobuf::RepeatedPtrField<T>& b) {
  if (a.size() != b.size()) return false;
  for (int i = 0; i < a.size(); ++i)
    if (!SameMessages(a.Get(i), b.Get(i))) return false;
  return true;
}

// What of `req`'s declaration differs from what gmem `g` of `record` was
// attached with ("" for nothing): a retry declares what the first did.
std::string DeclarationDifference(const v1::AttachRequest& req, const v1::GmemAttachment& g,
                                  const v1::SessionRecord& record) {
  if (req.name() != g.name()) return "name '" + g.name() + "'";
  if (req.vm_token() != g.vm_token()) return "vm_token " + std::to_string(g.vm_token());
  if (req.hash_contents() != g.hash_contents())
    return std::string("hash_contents ") + (g.hash_contents() ? "true" : "false");
  if (req.gmem_flags() != g.gmem_flags()) return "gmem_flags " + std::to_string(g.gmem_flags());
  if (!SameRepeated(req.attributes(), g.attributes()))
    return std::to_string(g.attributes_size()) + " attribute ranges of its own";
  google::protobuf::RepeatedPtrField<v1::Memslot> memslots;
  for (const v1::VmRecord& vm : record.vms()) {
    if (vm.token() != g.vm_token()) continue;
    if (g.vm_token() && vm.vm_type() != req.vm_type())
      return "vm_type " + std::to_string(vm.vm_type());
    for (int i = 0; i < vm.memslots_size() && i < vm.memslot_gmem_size(); ++i)
      if (vm.memslot_gmem(i) == g.token()) *memslots.Add() = vm.memslots(i);
  }
  if (!SameRepeated(req.memslots(), memslots))
    return std::to_string(memslots.size()) + " memslots of its own";
  return "";
}

}  // namespace

Result<v1::GmemInfo> Session::RetriedAttach(const v1::AttachRequest& req,
                                            const v1::GmemAttachment& g,
                                            const GmemHandle* taken) const {
  std::string held;  // what the token's gmem is, and what the request names instead
  if (g.is_model()) {
    held = "a MODEL guest of " + std::to_string(g.model().size()) + " bytes (hstate order " +
           std::to_string(g.model().hstate_order()) + ")";
    if (!req.has_model()) {
      held += ", not a kernel file";
    } else if (!SameMessages(req.model(), g.model())) {
      held += ", not one of " + std::to_string(req.model().size()) + " bytes (hstate order " +
              std::to_string(req.model().hstate_order()) +
              (req.model().populate() ? ", populated" : "") + ")";
    } else {
      held.clear();
    }
  } else {
    held = "fd " + std::to_string(g.fd()) + " of pid " + std::to_string(g.pid()) + " (" + g.kind() +
           ", inode " + std::to_string(g.inode()) + ")";
    bool same = false;
    if (taken) {
      // The file held under the token, by device and inode; one not held
      // (a restart could not take it again) by its recorded inode and kind.
      auto it = handles_.find(g.token());
      struct stat mine, theirs;
      if (it != handles_.end() && it->second && it->second->fd >= 0 && taken->fd >= 0)
        same = ::fstat(taken->fd, &mine) == 0 && ::fstat(it->second->fd, &theirs) == 0 &&
               mine.st_dev == theirs.st_dev && mine.st_ino == theirs.st_ino;
      else
        same = taken->inode == g.inode() && FileKindName(taken->kind) == g.kind();
    }
    if (!taken)
      held += ", not a MODEL guest";
    else if (!same)
      held += ", not fd " + std::to_string(req.kernel().fd()) + " of pid " +
              std::to_string(req.kernel().pid()) + " (inode " + std::to_string(taken->inode) + ")";
    else
      held.clear();
  }
  const std::string declared = held.empty() ? DeclarationDifference(req, g, record_) : "";
  if (held.empty() && declared.empty()) return InfoOf(g);  // the first Attach's answer
  const std::string what = !held.empty() ? "is " + held
                                         : "is the file this request names, declared with " +
                                               declared + " (a retry declares what the first did)";
  return Status::InvalidArgument(
      "Attach: token " + std::to_string(g.token()) + " is taken: gmem " +
      std::to_string(g.token()) + " ('" + g.name() + "') " + what +
      "; a retried Attach is answered as the first only for the same file and declaration: "
      "give another token (0: khod assigns one), or Detach gmem " +
      std::to_string(g.token()) + " first");
}

Result<v1::GmemInfo> Session::AttachLocked(const v1::AttachRequest& req, const PeerCred& caller,
                                           const v1::SessionRecord& before,
                                           const Result<TakenFile>* taken,
                                           Result<std::unique_ptr<GmemHandle>>* made) {
  Result<std::unique_ptr<GmemHandle>>& h = *made;
  // First, before its token, VM or process is looked at: no caller's gmem
  // joins another uid's session, so no token names another uid's gmem.
  KHOD_RETURN_IF_ERROR(CheckMayAttach(caller, record_));
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE}, "Attach"));
  uint64_t token = req.token();
  if (token == 0) {
    // Never hands out the luo blob token, whatever the transport.
    auto candidate = [&] { return record_.next_token() ? record_.next_token() : uint64_t{1}; };
    token = candidate();
    while (handles_.count(token) || token == kLuoBlobToken) {
      record_.set_next_token(token + 1);
      token = candidate();
    }
  } else if (opts_.default_transport == v1::LUO) {
    // Refused now rather than at Freeze, after the guests were paused.
    Status reserved = CheckLuoGmemToken(token);
    if (!reserved.ok()) return reserved.WithContext("Attach (khod's default transport is luo)");
  }
  // The caller's own gmem (CheckMayAttach): a retry, answered as the first
  // was only for the same file and declaration, and never attached twice.
  const v1::GmemAttachment* existing = nullptr;
  for (const v1::GmemAttachment& g : record_.gmems())
    if (g.token() == token) existing = &g;
  if (!existing && handles_.count(token))
    return Status::Internal("Attach: token " + std::to_string(token) + " is held but not recorded");
  if (existing && req.has_model()) return RetriedAttach(req, *existing, nullptr);
  v1::GmemAttachment a;
  a.set_token(token);
  a.set_owner_uid(caller.uid);
  a.set_name(req.name());
  a.set_vm_token(req.vm_token());
  a.set_hash_contents(req.hash_contents());
  a.set_gmem_flags(req.gmem_flags());
  *a.mutable_attributes() = req.attributes();
  // Before anything of the VM is compared: a refusal names nothing of its layout.
  if (req.vm_token()) KHOD_RETURN_IF_ERROR(CheckOwnsVm(caller, record_, req.vm_token(), "Attach"));
  for (const auto& vr : record_.vms())
    if (req.vm_token() && vr.token() == req.vm_token() && vr.vm_type() != req.vm_type())
      return Status::FailedPrecondition("VM " + std::to_string(req.vm_token()) + " has type " +
                                        std::to_string(vr.vm_type()) + ", request says " +
                                        std::to_string(req.vm_type()));
  if (req.memslots_size() && !req.vm_token())
    return Status::InvalidArgument("memslots given without a vm_token");

  if (req.has_kernel()) {
    if (req.kernel().pid() <= 0 || req.kernel().fd() < 0)
      return Status::InvalidArgument("kernel source needs pid > 0 and fd >= 0");
    a.set_pid(req.kernel().pid());
    a.set_fd(req.kernel().fd());
    // Taken by Attach before mu_, once the caller's right to the process was checked.
    if (!taken) return Status::Internal("Attach: the kernel file was not taken");
    if (!taken->ok()) return taken->status().WithContext("Attach");
    h = opener_->FromTaken(DeclarationOf(a), **taken);
    if (!h.ok()) return h.status().WithContext("Attach");
  } else if (req.has_model()) {
    if (req.model().size() == 0) return Status::InvalidArgument("model guest needs a size");
    if (req.model().hstate_order() > kMaxFolioOrder)
      return Status::InvalidArgument("AttachRequest.model.hstate_order " +
                                     std::to_string(req.model().hstate_order()) +
                                     " is not 0 (buddy), 9 (2 MiB) or 18 (1 GiB)");
    KHOD_RETURN_IF_ERROR(
        CheckCallerBytes(caller, record_, AttachedSizes(), req.model().size(), "a MODEL guest"));
    a.set_is_model(true);
    *a.mutable_model() = req.model();
    h = opener_->NewModel(
        DeclarationOf(a),
        ModelSpec{req.model().size(), static_cast<uint8_t>(req.model().hstate_order()),
                  req.model().populate()});
  }
  if (!h.ok()) return h.status();
  // Taken (the caller may ptrace it) only to compare it with the token's: let go.
  if (existing) return RetriedAttach(req, *existing, h->get());
  if (!a.is_model())
    KHOD_RETURN_IF_ERROR(CheckCallerBytes(caller, record_, AttachedSizes(), (*h)->size,
                                          "fd " + std::to_string(req.kernel().fd()) + " of pid " +
                                              std::to_string(req.kernel().pid())));
  // One file attached twice would be captured and handed over twice, and a
  // reexec's mapping holder finds a file's mapping by its inode: refused.
  if (struct stat mine; (*h)->fd >= 0 && ::fstat((*h)->fd, &mine) == 0)
    for (const auto& [other_token, other] : handles_) {
      struct stat st;
      if (other->fd >= 0 && ::fstat(other->fd, &st) == 0 && st.st_dev == mine.st_dev &&
          st.st_ino == mine.st_ino)
        return Status::InvalidArgument("Attach: fd " + std::to_string(req.kernel().fd()) +
                                       " of pid " + std::to_string(req.kernel().pid()) +
                                       " is the file gmem " + std::to_string(other_token) +
                                       " already is (inode " + std::to_string(st.st_ino) + ")");
    }
  a.set_inode((*h)->inode);
  if (!a.is_model()) {
    a.set_boot_id(opts_.boot_id);
    a.set_attached_bytes((*h)->size);
  }
  a.set_kind(a.is_model() ? "model" : FileKindName((*h)->kind));

  if (req.vm_token()) {
    v1::VmRecord* vm = nullptr;
    for (auto& vr : *record_.mutable_vms())
      if (vr.token() == req.vm_token()) vm = &vr;
    if (!vm) {
      vm = record_.add_vms();
      vm->set_token(req.vm_token());
      vm->set_vm_type(req.vm_type());
    }
    for (const auto& m : req.memslots()) {
      *vm->add_memslots() = m;
      vm->add_memslot_gmem(token);
    }
  }
  *record_.add_gmems() = a;
  record_.set_next_token(std::max<uint64_t>(record_.next_token(), token + 1));
  std::map<uint64_t, uint64_t> sizes = AttachedSizes();
  sizes[token] = (*h)->size;
  Status declared = CheckDeclared(record_, sizes, "Attach");
  if (!declared.ok()) {
    record_ = before;  // nothing recorded: the handle closes with h
    return declared;
  }
  handles_[token] = std::move(*h);
  opts_.crash.Hit("pre-attached");
  // Waited for under mu_: no other change is staged on top of this one, so
  // a failed write leaves exactly the session before it.
  Status persisted = PersistOrRevert(before, "Attach");
  if (!persisted.ok()) {
    h = std::move(handles_[token]);  // dropped after mu_
    handles_.erase(token);
    extents_.erase(token);
    return persisted;
  }
  opts_.crash.Hit("attached");
  return InfoOf(a);
}

Status Session::Detach(uint64_t token, const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE}, "Detach"));
  const v1::SessionRecord before = record_;
  int idx = -1;
  for (int i = 0; i < record_.gmems_size(); ++i)
    if (record_.gmems(i).token() == token) idx = i;
  if (idx < 0) return Status::NotFound("no gmem with token " + std::to_string(token));
  KHOD_RETURN_IF_ERROR(CheckOwnsGmem(caller, record_.gmems(idx), "Detach"));
  record_.mutable_gmems()->DeleteSubrange(idx, 1);
  google::protobuf::RepeatedPtrField<v1::VmRecord> vms;
  for (const auto& vm : record_.vms()) {
    v1::VmRecord keep = vm;
    keep.clear_memslots();
    keep.clear_memslot_gmem();
    for (int i = 0; i < vm.memslots_size(); ++i)
      if (vm.memslot_gmem(i) != token) {
        *keep.add_memslots() = vm.memslots(i);
        keep.add_memslot_gmem(vm.memslot_gmem(i));
      }
    bool used = keep.memslots_size() > 0;
    for (const auto& g : record_.gmems()) used |= g.vm_token() == vm.token();
    if (used) *vms.Add() = keep;
  }
  *record_.mutable_vms() = vms;
  // The file is let go only once no durable record names it.
  KHOD_RETURN_IF_ERROR(PersistOrRevert(before, "Detach"));
  handles_.erase(token);
  extents_.erase(token);
  opts_.crash.Hit("detached");
  return Status::Ok();
}

Status Session::UpdateAttributes(const v1::UpdateAttributesRequest& req, const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE, v1::PREPARED}, "UpdateAttributes"));
  v1::GmemAttachment* a = nullptr;
  for (auto& g : *record_.mutable_gmems())
    if (g.token() == req.token()) a = &g;
  auto it = handles_.find(req.token());
  if (!a || it == handles_.end())
    return Status::NotFound("no gmem with token " + std::to_string(req.token()));
  KHOD_RETURN_IF_ERROR(CheckOwnsGmem(caller, *a, "UpdateAttributes"));
  v1::GmemAttachment updated = *a;
  for (const auto& r : req.ranges()) *updated.add_attributes() = r;
  {
    v1::SessionRecord candidate = record_;
    for (auto& g : *candidate.mutable_gmems())
      if (g.token() == req.token()) g = updated;
    KHOD_RETURN_IF_ERROR(CheckDeclared(candidate, AttachedSizes(), "UpdateAttributes"));
  }
  if (it->second->is_model) {
    return Status::Unsupported(
        "MODEL guests convert through the model's conversion flow, not declared attributes");
  }
  // The kernel source captures with the declared attributes (it must never
  // touch a private page), so it is re-made around a dup of the same fd.
  // A re-made source walks the file's size now: a file that grew since its
  // Attach is refused here as at every capture (CheckNotGrown).
  KHOD_RETURN_IF_ERROR(
      CheckNotGrown(*a, it->second->fd, it->second->size).WithContext("UpdateAttributes"));
  int dup = ::fcntl(it->second->fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return Status::FromErrno("dup gmem fd", errno);
  // Its policy is read from the same VMM's mappings as before.
  GmemDeclaration decl = DeclarationOf(updated);
  decl.mappings_pid = it->second->source->mappings_pid();
  KHOD_ASSIGN_OR_RETURN(std::unique_ptr<GmemHandle> h, opener_->Adopt(decl, dup));
  h->how = it->second->how;
  const v1::SessionRecord before = record_;
  *a = updated;
  // The source captures with the new declaration only once it is durable.
  KHOD_RETURN_IF_ERROR(PersistOrRevert(before, "UpdateAttributes"));
  it->second = std::move(h);
  return Status::Ok();
}

std::map<uint64_t, uint64_t> Session::AttachedSizes() const {
  std::map<uint64_t, uint64_t> sizes;
  for (const auto& [token, h] : handles_) sizes[token] = h->size;
  return sizes;
}

}  // namespace khod
