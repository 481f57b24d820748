#include "daemon/session.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstdio>
#include <memory>

#include "common/bytes.h"
#include "common/file_read.h"
#include "common/status_macros.h"
#include "daemon/record_file.h"
#include "daemon/request_limits.h"
#include "daemon/session_declarations.h"
#include "daemon/session_phase.h"
#include "handover/dir_transport.h"
#include "handover/luo_transport.h"
#include "kernel/meminfo.h"
#include "kernel/mempolicy.h"
#include "restore/gmem_restore.h"
#include "restore/policy_restore.h"
#include "restore/rebuild.h"
#include "restore/rebuild_target.h"
#include "serializer/serializer.h"
#include "state/invariants.h"
#include "verify/verdict.h"
#include "verify/verify_counts.h"
#include "verify/verify_reply.h"

namespace khod {
namespace {

// A blob in the state dir is read no further than its header declares.
FileReadOptions BlobRead() {
  FileReadOptions o;
  o.size_from_head = DeclaredBlobBytes;
  return o;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}


BlobFormat ToBlobFormat(v1::BlobFormat f) {
  return f == v1::PROTO ? BlobFormat::kProto : BlobFormat::kFdt;
}

SnapshotHeader MakeHeader() {
  SnapshotHeader h;
  h.producer = "khod 0.1.0";
  struct utsname u;
  if (::uname(&u) == 0) h.kernel_release = u.release;
  Result<std::string> boot = ReadWholeFile("/proc/sys/kernel/random/boot_id");
  if (boot.ok()) {
    h.boot_id = *boot;
    while (!h.boot_id.empty() && h.boot_id.back() == '\n') h.boot_id.pop_back();
  }
  h.capture_time_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());
  h.page_size = static_cast<uint32_t>(::sysconf(_SC_PAGESIZE));
  return h;
}

std::map<uint64_t, uint64_t> SizesOf(const std::map<uint64_t, std::unique_ptr<GmemHandle>>& m) {
  std::map<uint64_t, uint64_t> sizes;
  for (const auto& [token, h] : m) sizes[token] = h->size;
  return sizes;
}

}  // namespace

uint64_t Session::NewSessionId() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof(v), 0) != sizeof(v)) v = static_cast<uint64_t>(NowNs());
  return v ? v : 1;
}

Session::Session(SessionOptions opts, GmemOpener* opener)
    : opts_(std::move(opts)),
      opener_(opener),
      commit_([this](std::string_view bytes) {
        return WriteRecordFile(state_dir_, kRecordFile, bytes);
      }) {}

Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::Open(SessionOptions opts, GmemOpener* opener) {
  Result<SafeDir> state_dir = SafeDir::Open(opts.state_dir, 0700);
  if (!state_dir.ok()) return state_dir.status().WithContext("state dir");
  if (opts.handover_root.empty()) opts.handover_root = opts.state_dir + "/handover";
  Result<SafeDir> handover_root = SafeDir::Open(opts.handover_root, 0700);
  if (!handover_root.ok()) return handover_root.status().WithContext("handover root");
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
  s->StartReadAhead();
  s->StartWarmUps();
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
  if (!record_.SerializeToString(&bytes)) return Status::Internal("cannot serialize session record");
  // Status shows what is durable: published by the write that covers it.
  std::shared_ptr<const v1::StatusReply> fresh = std::make_shared<v1::StatusReply>(BuildStatus());
  return commit_.Stage(std::move(bytes), [this, fresh] {
    {
      std::lock_guard<std::mutex> l(status_mu_);
      status_ = fresh;
    }
    if (opts_.on_status_published) opts_.on_status_published();
  });
}

Status Session::Persist() {
  Result<uint64_t> ticket = StageRecord();
  if (!ticket.ok()) return ticket.status();
  KHOD_RETURN_IF_ERROR(commit_.Wait(*ticket));
  for (const std::string& f : orphans_) state_dir_.Remove(f);
  orphans_.clear();
  return Status::Ok();
}

Status Session::PersistOrRevert(const v1::SessionRecord& before, const std::string& op) {
  Status persisted = Persist();
  if (persisted.ok()) return persisted;
  // Generations keep counting: a blob named after the failed one's is never
  // reused (it may be on disk, unnamed).
  const uint64_t generation = record_.generation();
  record_ = before;
  record_.set_generation(generation);
  return persisted.WithContext(op + ": the session record was not written, so nothing changed");
}

// The record names no frozen capture any more, nor what was measured with it.
void Session::ClearFrozenBlob() {
  record_.clear_frozen_blob();
  record_.clear_frozen_blob_bytes();
  record_.clear_frozen_blob_xxh3();
  record_.clear_freeze_hardware_corrupted_kb();
}

void Session::ResetToIdle() {
  ClearSessionRecord();
  ReleaseSessionHolds();
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
  have_frozen_ = false;
  received_.reset();
  received_ahead_ = false;
  read_ahead_done_.reset();
  ReleaseMappingHolder();
  restored_.clear();
  warming_.clear();
}

v1::GmemInfo Session::InfoOf(const v1::GmemAttachment& a) const {
  v1::GmemInfo info;
  info.set_token(a.token());
  info.set_name(a.name());
  info.set_vm_token(a.vm_token());
  info.set_kind(a.kind());
  info.set_provenance(a.is_model() ? "MODEL" : "kernel");
  auto find = [&](const std::map<uint64_t, std::unique_ptr<GmemHandle>>& m) -> const GmemHandle* {
    auto it = m.find(a.token());
    return it == m.end() ? nullptr : it->second.get();
  };
  const GmemHandle* h = find(restored_);
  // A restored kernel file: the restarted VMM takes it back from this fd.
  if (h && !h->is_model && h->fd >= 0) info.set_khod_fd(h->fd);
  if (!h) h = find(handles_);
  if (h) {
    info.set_source(h->source ? h->source->Describe() : h->how);
    info.set_how(h->how);
    if (h->policy.outcome != PolicyRestore::Outcome::kNothing)
      info.set_policy_restore(PolicyOutcomeName(h->policy.outcome));
    info.set_policy_note(h->policy.note);
    for (const MappingPolicy& m : h->policy.for_vmm) {
      v1::VmmPolicy* p = info.add_vmm_policies();
      p->set_first_page(m.first_index);
      p->set_pages(m.count);
      p->set_mode(m.policy.mode);
      p->set_mode_flags(m.policy.mode_flags);
      for (uint64_t w : m.policy.nodemask) p->add_nodemask(w);
      p->set_text(MempolicyToString(m.policy));
    }
    info.set_size(h->size);
    info.set_adopted(h->how.rfind("adopted", 0) == 0);
  } else {
    info.set_source(a.is_model() ? "MODEL guest_memfd '" + a.name() + "'"
                                 : "fd " + std::to_string(a.fd()) + " of pid " +
                                       std::to_string(a.pid()) + " (not held)");
  }
  auto e = extents_.find(a.token());
  if (e != extents_.end()) info.set_folio_extents(e->second);
  return info;
}

// ---- helpers ---------------------------------------------------------------

Status Session::CheckPhase(std::initializer_list<v1::Phase> allowed, const char* op) const {
  for (v1::Phase p : allowed)
    if (record_.phase() == p) return Status::Ok();
  std::string want;
  for (v1::Phase p : allowed) want += (want.empty() ? "" : " or ") + PhaseName(p);
  return Status::FailedPrecondition(std::string(op) + " needs phase " + want + ", session is " +
                                    PhaseName(record_.phase()));
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

Status Session::WriteBlob(const std::string& kind, const std::string& blob, std::string* file) {
  // Named by generation: the record still names the old file until it is
  // replaced, so a crash between the two writes leaves a consistent pair.
  *file = kind + "-" + std::to_string(record_.generation() + 1) + ".blob";
  // The record that will name it is written after it, in the same directory.
  return state_dir_.WriteNew(*file, blob);
}

Result<std::string> Session::ReadFrozenBlobFromStateDir() const {
  if (record_.frozen_blob().empty()) return Status::NotFound("no frozen blob in the session record");
  Result<std::string> b = state_dir_.Read(record_.frozen_blob(), BlobRead());
  if (!b.ok()) return b.status();
  if (XXH3_64bits(b->data(), b->size()) != record_.frozen_blob_xxh3())
    return Status::Corruption(path(record_.frozen_blob()) +
                              ": does not match the checksum recorded at freeze");
  return b;
}

Result<std::unique_ptr<HandoverTransport>> Session::MakeTransport(v1::Transport t,
                                                                  const std::string& dir) {
  switch (t) {
    case v1::DIR: {
      // A name beneath the root fixed at start-up, never a client's path.
      if (dir.empty()) return std::unique_ptr<HandoverTransport>(new DirTransport(handover_root_));
      Status name = CheckFileName(dir, "dir");
      if (!name.ok())
        return name.WithContext("the handover dir is a name beneath " + handover_root_.path());
      Result<SafeDir> d = handover_root_.OpenSub(dir, 0700);
      if (!d.ok()) return d.status();
      return std::unique_ptr<HandoverTransport>(new DirTransport(std::move(*d)));
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
                                     CaptureStats* stats) {
  Snapshot snap;
  snap.header = MakeHeader();
  snap.vms = VmsOf(record_);
  for (const auto& a : record_.gmems()) {
    auto it = handles.find(a.token());
    if (it == handles.end() || !it->second->source)
      return Status::NotFound("gmem " + std::to_string(a.token()) + " is not held by khod");
    CaptureOptions co;
    co.hash_contents = a.hash_contents() && final_capture;
    co.stats = stats;
    if (frozen && record_.has_freeze_hardware_corrupted_kb())
      for (const GuestMemfd& f : frozen->gmems)
        if (f.token == a.token()) {
          co.frozen = &f;
          co.frozen_hw_corrupted_kb = record_.freeze_hardware_corrupted_kb();
        }
    GuestMemfd g;
    Status s = it->second->source->Capture(co, &g);
    if (!s.ok()) return s.WithContext("capture gmem " + std::to_string(a.token()));
    // Identity is the session's, whatever the source calls it.
    g.token = a.token();
    g.name = a.name();
    g.vm_token = a.vm_token();
    extents_[a.token()] = g.folios.size();
    snap.gmems.push_back(std::move(g));
  }
  return snap;
}

// ---- API -------------------------------------------------------------------

Result<v1::GmemInfo> Session::Attach(const v1::AttachRequest& req, const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  const v1::SessionRecord before = record_;
  if (record_.phase() == v1::FINISHED) {
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
    if (!reserved.ok())
      return reserved.WithContext("Attach (khod's default transport is luo)");
  }
  if (handles_.count(token))
    return Status::FailedPrecondition("gmem token " + std::to_string(token) + " already attached");
  v1::GmemAttachment a;
  a.set_token(token);
  a.set_name(req.name());
  a.set_vm_token(req.vm_token());
  a.set_hash_contents(req.hash_contents());
  a.set_gmem_flags(req.gmem_flags());
  *a.mutable_attributes() = req.attributes();
  for (const auto& vr : record_.vms())
    if (req.vm_token() && vr.token() == req.vm_token() && vr.vm_type() != req.vm_type())
      return Status::FailedPrecondition("VM " + std::to_string(req.vm_token()) + " has type " +
                                        std::to_string(vr.vm_type()) + ", request says " +
                                        std::to_string(req.vm_type()));
  if (req.memslots_size() && !req.vm_token())
    return Status::InvalidArgument("memslots given without a vm_token");

  Result<std::unique_ptr<GmemHandle>> h = Status::InvalidArgument("attach needs kernel or model");
  if (req.has_kernel()) {
    if (req.kernel().pid() <= 0 || req.kernel().fd() < 0)
      return Status::InvalidArgument("kernel source needs pid > 0 and fd >= 0");
    a.set_pid(req.kernel().pid());
    a.set_fd(req.kernel().fd());
    // Nothing of the process is read before the caller's right to it is checked.
    Status access = WithCallerAccess(
        caller, req.kernel().pid(), "fd " + std::to_string(req.kernel().fd()), [&] {
          h = opener_->TakeFromProcess(DeclarationOf(a), req.kernel().pid(), req.kernel().fd());
          return h.ok() ? Status::Ok() : h.status();
        });
    if (!access.ok()) return access.WithContext("Attach");
  } else if (req.has_model()) {
    if (req.model().size() == 0) return Status::InvalidArgument("model guest needs a size");
    if (req.model().hstate_order() > kMaxFolioOrder)
      return Status::InvalidArgument("AttachRequest.model.hstate_order " +
                                     std::to_string(req.model().hstate_order()) +
                                     " is not 0 (buddy), 9 (2 MiB) or 18 (1 GiB)");
    a.set_is_model(true);
    *a.mutable_model() = req.model();
    h = opener_->NewModel(DeclarationOf(a),
                          ModelSpec{req.model().size(),
                                    static_cast<uint8_t>(req.model().hstate_order()),
                                    req.model().populate()});
  }
  if (!h.ok()) return h.status();
  a.set_inode((*h)->inode);
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
  std::map<uint64_t, uint64_t> sizes = SizesOf(handles_);
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
    handles_.erase(token);
    extents_.erase(token);
    return persisted;
  }
  opts_.crash.Hit("attached");
  return InfoOf(a);
}

Status Session::Detach(uint64_t token) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE}, "Detach"));
  const v1::SessionRecord before = record_;
  int idx = -1;
  for (int i = 0; i < record_.gmems_size(); ++i)
    if (record_.gmems(i).token() == token) idx = i;
  if (idx < 0) return Status::NotFound("no gmem with token " + std::to_string(token));
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

Status Session::UpdateAttributes(const v1::UpdateAttributesRequest& req) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE, v1::PREPARED}, "UpdateAttributes"));
  v1::GmemAttachment* a = nullptr;
  for (auto& g : *record_.mutable_gmems())
    if (g.token() == req.token()) a = &g;
  auto it = handles_.find(req.token());
  if (!a || it == handles_.end())
    return Status::NotFound("no gmem with token " + std::to_string(req.token()));
  v1::GmemAttachment updated = *a;
  for (const auto& r : req.ranges()) *updated.add_attributes() = r;
  {
    v1::SessionRecord candidate = record_;
    for (auto& g : *candidate.mutable_gmems())
      if (g.token() == req.token()) g = updated;
    KHOD_RETURN_IF_ERROR(CheckDeclared(candidate, SizesOf(handles_), "UpdateAttributes"));
  }
  if (it->second->is_model) {
    return Status::Unsupported(
        "MODEL guests convert through the model's conversion flow, not declared attributes");
  }
  // The kernel source captures with the declared attributes (it must never
  // touch a private page), so it is re-made around a dup of the same fd.
  int dup = ::fcntl(it->second->fd, F_DUPFD_CLOEXEC, 3);
  if (dup < 0) return Status::FromErrno("dup gmem fd", errno);
  Result<std::unique_ptr<GmemHandle>> h = opener_->Adopt(DeclarationOf(updated), dup);
  if (!h.ok()) return h.status();
  (*h)->how = it->second->how;
  const v1::SessionRecord before = record_;
  *a = updated;
  // The source captures with the new declaration only once it is durable.
  KHOD_RETURN_IF_ERROR(PersistOrRevert(before, "UpdateAttributes"));
  it->second = std::move(*h);
  return Status::Ok();
}

Result<v1::PhaseReply> Session::Prepare() {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::IDLE, v1::PREPARED}, "Prepare"));
  if (handles_.empty()) return Status::FailedPrecondition("Prepare: no gmem attached");
  // A record from a khod that did not check declarations at Attach.
  KHOD_RETURN_IF_ERROR(CheckDeclared(record_, SizesOf(handles_), "Prepare"));
  const int64_t t0 = NowNs();
  Result<Snapshot> snap = CaptureAll(handles_, /*final_capture=*/false);
  if (!snap.ok()) return snap.status();
  // KHO cannot split a preserved folio: restructuring must be settled now.
  for (const auto& g : snap->gmems)
    for (const auto& r : g.restructures)
      if (r.in_progress)
        return Status::Busy("gmem " + std::to_string(g.token) +
                            ": HugeTLB restructuring in progress at page " +
                            std::to_string(r.index) + "; Prepare again once it settles");
  Status inv = InvariantsStatus(*snap);
  if (!inv.ok()) return inv.WithContext("Prepare: captured state breaks an invariant");
  std::string blob, file;
  KHOD_RETURN_IF_ERROR(Encode(*snap, BlobFormat::kProto, &blob));
  KHOD_RETURN_IF_ERROR(WriteBlob("prepared", blob, &file));
  opts_.crash.Hit("pre-prepared");
  const v1::SessionRecord before = record_;
  const std::string old = record_.prepared_blob();
  record_.set_phase(v1::PREPARED);
  record_.set_prepared_blob(file);
  record_.set_prepared_blob_bytes(blob.size());
  RecordDuration(v1::PREPARED, NowNs() - t0);
  Status persisted = PersistOrRevert(before, "Prepare");
  if (!persisted.ok()) {
    state_dir_.Remove(file);  // named by no record
    return persisted;
  }
  // Named by no record any more.
  if (!old.empty() && old != file) state_dir_.Remove(old);
  opts_.crash.Hit("prepared");
  PrewarmFreezeBlob(*snap);
  v1::PhaseReply r;
  r.set_phase(v1::PREPARED);
  r.set_message("prepared " + std::to_string(snap->gmems.size()) + " gmems, blob " +
                HumanBytes(blob.size()));
  return r;
}

Result<v1::PhaseReply> Session::Freeze(const v1::FreezeRequest& req) {
  std::vector<std::string> exec_argv;
  v1::PhaseReply reply;
  {
    std::lock_guard<std::mutex> l(mu_);
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

    // Made before anything is written: an unknown transport leaves PREPARED as it was.
    Result<std::unique_ptr<HandoverTransport>> t = MakeTransport(tkind, req.dir());
    if (!t.ok()) return t.status();
    const int64_t t0 = NowNs();
    // Before any page is read (capture/flag_reuse.h rule 4).
    const Result<uint64_t> hw = ReadHardwareCorruptedKb();
    Result<Snapshot> snap = CaptureAll(handles_, /*final_capture=*/true);
    if (!snap.ok()) return snap.status();
    for (const auto& g : snap->gmems)
      for (const auto& r : g.restructures)
        if (r.in_progress)
          return Status::FailedPrecondition(
              "Freeze: gmem " + std::to_string(g.token) + " has a HugeTLB restructuring in "
              "progress at page " + std::to_string(r.index) +
              " (KHO cannot split a preserved folio): let it finish, Prepare again, then Freeze");
    Status inv = InvariantsStatus(*snap);
    if (!inv.ok()) return inv.WithContext("Freeze: captured state breaks an invariant");
    std::string blob = std::move(freeze_blob_), file;
    KHOD_RETURN_IF_ERROR(Encode(*snap, ToBlobFormat(fmt), &blob));
    KHOD_RETURN_IF_ERROR(WriteBlob("frozen", blob, &file));
    opts_.crash.Hit("pre-frozen");
    const v1::SessionRecord prepared = record_;
    record_.set_phase(v1::FROZEN);
    record_.set_format(fmt);
    record_.set_frozen_blob(file);
    record_.set_frozen_blob_bytes(blob.size());
    record_.set_frozen_blob_xxh3(XXH3_64bits(blob.data(), blob.size()));
    if (hw.ok()) record_.set_freeze_hardware_corrupted_kb(*hw);
    else record_.clear_freeze_hardware_corrupted_kb();
    RecordDuration(v1::FROZEN, NowNs() - t0);
    Status persisted = PersistOrRevert(prepared, "Freeze");
    if (!persisted.ok()) {
      state_dir_.Remove(file);  // named by no record
      return persisted;
    }
    opts_.crash.Hit("frozen");
    frozen_ = std::move(*snap);
    have_frozen_ = true;

    // Hand over.
    const int64_t t1 = NowNs();
    HandoverPackage pkg;
    pkg.session_id = record_.session_id();
    pkg.blob = std::move(blob);  // not copied: a fresh copy first-touches every page
    if (opts_.corrupt_handover_blob && !pkg.blob.empty()) pkg.blob[pkg.blob.size() / 2] ^= 0x5a;
    for (const auto& [token, h] : handles_)
      if (h->fd >= 0) pkg.fds.push_back({token, h->fd});
    Status sent = (*t)->Send(pkg);
    if (!sent.ok())
      return RollBackToPrepared(file, std::string("Freeze: ") + (*t)->name() + " handover failed",
                                sent);
    opts_.crash.Hit("pre-handed_over");
    const v1::SessionRecord before = record_;
    record_.set_phase(v1::HANDED_OVER);
    record_.set_transport(tkind);
    record_.set_handover_dir(req.dir());
    if (tkind == v1::REEXEC) record_.set_exec_count(record_.exec_count() + 1);
    RecordDuration(v1::HANDED_OVER, NowNs() - t1);
    Status handed = Persist();
    if (!handed.ok()) {
      // The durable record says FROZEN: a handover it does not name must not
      // stand (no exec, LUO session closed, dir blob removed).
      const uint64_t generation = record_.generation();
      record_ = before;
      record_.set_generation(generation);
      Status aborted = (*t)->Abort();
      return RollBackToPrepared(
          file,
          std::string("Freeze: the HANDED_OVER record was not written, so the ") + (*t)->name() +
              " handover was undone" + (aborted.ok() ? "" : " (abort: " + aborted.message() + ")"),
          handed);
    }
    opts_.crash.Hit("handed_over");
    reply.set_phase(v1::HANDED_OVER);
    reply.set_message("frozen " + std::to_string(frozen_.gmems.size()) + " gmems, " +
                      v1::BlobFormat_Name(fmt) + " blob " + HumanBytes(record_.frozen_blob_bytes()) +
                      ", handed over by " + (*t)->name() + " with " +
                      std::to_string(pkg.fds.size()) + " fds");
    const std::vector<std::string> medium_args = (*t)->ExecArguments();
    if (!medium_args.empty()) {
      exec_argv.push_back(opts_.self_binary);
      for (const auto& a : opts_.exec_args) exec_argv.push_back(a);
      for (const auto& a : medium_args) exec_argv.push_back(a);
      reply.set_message(reply.message() + "; khod re-executes " + exec_argv[0]);
    }
    transport_ = std::move(*t);
    sent_here_ = true;
  }
  if (!exec_argv.empty() && opts_.on_exec_ready) opts_.on_exec_ready(std::move(exec_argv));
  return reply;
}

// After a luo handover LUO's own state came through KHO: what the kernel
// shows of KHO's incoming tree is reported (Status, Restore), never acted on.
bool Session::NoteKhoIncoming() {
  Result<KhoIncoming> in = ReadKhoIncoming(opts_.debugfs_root);
  kho_incoming_ = in.ok() ? in->Summary() : "KHO incoming FDT unusable: " + in.status().ToString();
  return !in.ok() || in->present;  // an unusable tree is still a tree
}

Status Session::RollBackToPrepared(const std::string& frozen_file, const std::string& what,
                                   const Status& cause) {
  // As a restart's rollback of FROZEN leaves it: no frozen blob named.
  record_.set_phase(v1::PREPARED);
  ClearFrozenBlob();
  have_frozen_ = false;
  frozen_ = Snapshot();
  orphans_.push_back(frozen_file);
  Status persisted = Persist();
  if (!persisted.ok())
    // Both errors. This process goes on as PREPARED; the frozen blob stays
    // until a record not naming it is durable, and a restart meanwhile finds
    // the FROZEN record and rolls it back to PREPARED itself.
    return persisted.WithContext(
        what + " (" + cause.message() +
        "); the PREPARED record was not written either: the durable record stays FROZEN, which "
        "a restart rolls back to PREPARED; this khod goes on as PREPARED");
  return cause.WithContext(what + "; back to PREPARED");
}

void Session::ExecFailed(const Status& why) {
  std::lock_guard<std::mutex> l(mu_);
  ExecFailedLocked(why);
}

void Session::ExecFailedLocked(const Status& why) {
  std::fprintf(stderr, "khod: reexec failed (%s): staying up as the new side with the fds held\n",
               why.ToString().c_str());
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

Result<v1::PhaseReply> Session::Restore(const v1::RestoreRequest& req, const PeerCred& caller) {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::HANDED_OVER}, "Restore"));
  const int64_t t0 = NowNs();
  if (read_ahead_.valid()) read_ahead_done_ = read_ahead_.get();  // transport_ is ours again
  if (!received_ && !req.from_state_dir()) {
    if (!transport_) return Status::Internal("HANDED_OVER without a transport");
    if (sent_here_ && !transport_->sender_can_receive()) {
      // Restoring in the process that sent (reexec not done): adopt from the handles.
      ExecFailedLocked(Status::Ok());
    } else {
      // The read-ahead's result once, then (a retry after it failed) the transport again.
      const bool ahead = read_ahead_done_ && !received_ahead_;
      Result<ReceivedHandover> r =
          ahead ? std::move(read_ahead_done_->received) : transport_->Receive();
      if (ahead) read_ahead_done_->received = Status::Internal("read-ahead result taken");
      if (r.ok()) {
        received_ = std::move(*r);
        received_ahead_ = ahead;
      } else if (r.status().code() != Status::Code::kNotFound) {
        return r.status().WithContext("Restore: reading the handover");
      } else {
        // The medium has nothing (fds gone with a crashed process): fall back
        // to the state-dir copy and rebuild, saying so.
        ReceivedHandover fallback;
        fallback.origin = "state dir (" + r.status().message() + ")";
        Result<std::string> b = ReadFrozenBlobFromStateDir();
        if (!b.ok()) return b.status().WithContext("Restore");
        fallback.blob = *b;
        received_ = std::move(fallback);
      }
    }
  }
  // Not copied: a blob is megabytes, and every fresh page costs a fault.
  std::string state_dir_blob, origin;
  std::string_view blob;
  const bool ahead = received_ahead_ && !req.from_state_dir();
  if (req.from_state_dir()) {
    Result<std::string> b = ReadFrozenBlobFromStateDir();
    if (!b.ok()) return b.status().WithContext("Restore from state dir");
    state_dir_blob = std::move(*b);
    blob = state_dir_blob;
    origin = path(record_.frozen_blob());
  } else {
    blob = received_->blob_bytes();
    origin = received_->origin;
  }
  // Check everything before touching any fd: a refused restore loses nothing.
  // Compared whenever a frozen blob was recorded: 0 is a hash value like any
  // other, not "unchecked".
  const bool recorded = record_.frozen_blob_bytes() > 0 || !record_.frozen_blob().empty();
  const uint64_t xxh3 = ahead ? read_ahead_done_->xxh3 : XXH3_64bits(blob.data(), blob.size());
  if (recorded && xxh3 != record_.frozen_blob_xxh3())
    return Status::Corruption(
        "Restore: corrupt handover: the blob from " + origin + " (" + HumanBytes(blob.size()) +
        ") does not match the checksum recorded at freeze; nothing was restored, every fd is "
        "still held (retry with from_state_dir to use khod's own copy)");
  Snapshot snap;
  Status d;
  if (ahead && read_ahead_done_->have_snap) {
    d = read_ahead_done_->decoded;
    snap = std::move(read_ahead_done_->snap);
    read_ahead_done_->have_snap = false;  // a later attempt decodes again
  } else {
    d = DecodeAny(blob, &snap);
  }
  if (!d.ok()) return d.WithContext("Restore: corrupt handover blob from " + origin);

  // The VMM's guest_memfds to rebuild into: checked and taken before any
  // gmem is touched, so a bad offer restores nothing.
  std::vector<RebuildTargetOffer> offers;
  for (int i = 0; i < req.rebuild_into_size(); ++i) {
    const v1::RebuildTarget& t = req.rebuild_into(i);
    // Offered by the restarted VMM: a caller names only its own processes.
    KHOD_RETURN_IF_ERROR(WithCallerAccess(caller, t.pid(),
                                          "rebuild_into[" + std::to_string(i) + "] fd " +
                                              std::to_string(t.fd()),
                                          [] { return Status::Ok(); })
                             .WithContext("Restore refused, nothing was restored"));
    offers.push_back(RebuildTargetOffer{t.token(), t.vm_token(), t.pid(), t.fd()});
  }
  Result<std::map<uint64_t, RebuildTarget>> targets = TakeRebuildTargets(offers, snap);
  if (!targets.ok())
    return targets.status().WithContext("Restore refused, nothing was restored, every fd is "
                                        "still held");

  GmemRestoreInputs in;
  for (const auto& a : record_.gmems()) in.declared[a.token()] = DeclarationOf(a);
  if (received_) in.carried = received_->fds;
  in.carried_resets_mempolicy = transport_ && transport_->resets_mempolicy();
  in.held = &handles_;  // this process's model guests move out, back if the restore fails
  in.warming = &warming_;
  in.targets = &*targets;
  in.force_rebuild = req.force_rebuild();
  in.holder_pid = holder_.held() ? holder_.pid() : -1;
  Result<RestoredGmems> restored = RestoreGmems(snap, in, opener_);
  if (!restored.ok()) return restored.status();
  std::string kho_note;
  if (record_.transport() == v1::LUO) {
    const bool present = NoteKhoIncoming();
    kho_note = "; " + kho_incoming_;
    if (!present && sent_here_) {
      kho_note += " (no kexec happened: this khod made the handover itself)";
    } else if (!present) {
      const std::string warning =
          "warning: the handover was luo but this kernel shows no KHO incoming tree under " +
          opts_.debugfs_root + "/kho/in: was it booted by a KHO kexec, with debugfs mounted at " +
          opts_.debugfs_root + "?";
      std::fprintf(stderr, "khod: %s\n", warning.c_str());
      kho_note += "; " + warning;
    }
  }
  opts_.crash.Hit("pre-restored");
  const v1::SessionRecord before = record_;
  record_.set_phase(v1::RESTORED);
  RecordDuration(v1::RESTORED, NowNs() - t0);
  restored_ = std::move(restored->handles);  // Status, published with the record, names their fds
  // Until RESTORED is durable nothing is held as restored: a failed write
  // leaves HANDED_OVER with every received fd, and Restore can be retried.
  Status persisted = PersistOrRevert(before, "Restore");
  if (!persisted.ok()) {
    restored->handles = std::move(restored_);
    restored_.clear();
    GiveBackHeldModels(&*restored, &handles_);
    return persisted;
  }
  warming_.clear();  // those not taken (rebuilt instead): their mappings go
  frozen_ = std::move(snap);
  have_frozen_ = true;
  opts_.crash.Hit("restored");
  v1::PhaseReply r;
  r.set_phase(v1::RESTORED);
  std::string held;
  r.set_pid(static_cast<uint32_t>(::getpid()));
  for (const auto& a : record_.gmems()) {
    v1::GmemInfo info = InfoOf(a);
    if (info.khod_fd())
      held += (held.empty() ? "" : ", ") + std::string("gmem ") + std::to_string(a.token()) +
              " fd " + std::to_string(info.khod_fd());
    *r.add_gmems() = std::move(info);
  }
  std::string msg = "restored " + std::to_string(restored_.size()) + " gmems from " + origin +
                    ": " + std::to_string(restored->adopted) + " adopted, " +
                    std::to_string(restored->rebuilt) + " rebuilt, " +
                    std::to_string(restored->model) + " MODEL";
  if (!held.empty())
    msg += "; khod pid " + std::to_string(::getpid()) + " holds them for the VMM until Finish (" +
           held + ")";
  for (const std::string& n : restored->notes) msg += "; " + n;
  if (holder_.held() && restored->adopted > 0)
    msg += "; PFNs are read through the previous khod's mappings (holder pid " +
           std::to_string(holder_.pid()) + ") until Verify";
  else if (!holder_note_.empty())
    msg += "; " + holder_note_;
  r.set_message(msg + kho_note);
  return r;
}

Result<v1::VerifyReply> Session::Verify() {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::RESTORED, v1::VERIFIED}, "Verify"));
  const int64_t t0 = NowNs();
  // Only pages the holder kept mapped since Freeze carry their frozen flags
  // (a real kexec, a rebuild: none do).
  CaptureStats stats;
  Result<Snapshot> now = CaptureAll(restored_, /*final_capture=*/true, &frozen_, &stats);
  if (!now.ok()) return now.status().WithContext("Verify");
  // VMs are compared against what the frozen snapshot carried: the memslots
  // the new side re-declares (here, the record) must be the same.
  RestoreVerdict v = VerifyRestored(frozen_, *now);
  v.counts.real_flags_carried = stats.flags_carried;
  v1::VerifyReply reply;
  FillVerifyReply(v.diff, v.counts, &reply);
  const v1::SessionRecord before = record_;
  record_.set_last_verdict(VerdictLine(v.diff, v.counts));
  if (v.equal()) {
    opts_.crash.Hit("pre-verified");
    record_.set_phase(v1::VERIFIED);
    RecordDuration(v1::VERIFIED, NowNs() - t0);
  }
  Status persisted = PersistOrRevert(before, "Verify");
  // Its page tables have served: the old address space is freed in the
  // background once the verdict is out (its teardown takes a core for
  // ~0.1 s per 2 GiB, which would otherwise land inside the blackout).
  ReleaseMappingHolder();
  KHOD_RETURN_IF_ERROR(persisted);
  if (v.equal()) opts_.crash.Hit("verified");
  return reply;
}

Result<v1::PhaseReply> Session::Finish() {
  std::lock_guard<std::mutex> l(mu_);
  KHOD_RETURN_IF_ERROR(CheckPhase({v1::VERIFIED}, "Finish"));
  if (transport_ && !sent_here_) {
    // Received: the medium is consumed (dir: handover.blob unlinked; luo:
    // SESSION_FINISH) before the session says FINISHED.
    Status s = transport_->Finish();
    if (!s.ok()) return s.WithContext("Finish");
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
  Status persisted = PersistOrRevert(before, "Finish");
  if (!persisted.ok()) {
    restored_ = std::move(releasing);
    return persisted;
  }
  for (auto& kv : releasing)
    if (kv.second->source) kv.second->source->UsePagesMappedBy(-1);
  ReleaseMappingHolder();
  if (received_) {
    for (auto& kv : received_->fds) ::close(kv.second);
    received_->fds.clear();
  }
  // The VMM has taken its memory back (khod_fd): khod lets go of its references.
  const size_t released = releasing.size();
  releasing.clear();
  for (const std::string& f : {prepared, frozen})
    if (!f.empty()) state_dir_.Remove(f);
  // Sent by this process and restored here (no exec, no kexec): the
  // handover is undone once FINISHED is durable, nothing is left behind.
  if (transport_ && sent_here_) transport_->Abort();
  opts_.crash.Hit("finished");
  v1::PhaseReply r;
  r.set_phase(v1::FINISHED);
  r.set_message("finished: khod closed its references to " + std::to_string(released) +
                " restored gmems (what the VMM took back stays the VMM's)");
  return r;
}

Result<v1::PhaseReply> Session::Cancel() {
  std::lock_guard<std::mutex> l(mu_);
  const v1::Phase was = record_.phase();
  const bool after_handover =
      was == v1::HANDED_OVER || was == v1::RESTORED || was == v1::VERIFIED;
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
  // The IDLE record first: until it is durable the old record may still name
  // these files, and a crash after it leaves orphans only, never a record
  // naming deleted files. A failed write deletes nothing and changes nothing.
  Status persisted = PersistOrRevert(before, "Cancel");
  if (!persisted.ok()) return persisted.WithContext("nothing was deleted");
  opts_.crash.Hit("cancelled");
  const size_t released = restored_.size();
  if (received_)
    for (auto& kv : received_->fds) ::close(kv.second);
  ReleaseSessionHolds();
  if (new_side) handles_.clear();
  if (transport_) {
    // A handover this process received is consumed (dir: its blob goes); one
    // it sent is undone.
    Status t = new_side ? transport_->Finish() : transport_->Abort();
    if (!t.ok()) std::fprintf(stderr, "khod: Cancel: %s\n", t.ToString().c_str());
  }
  transport_.reset();
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

v1::StatusReply Session::GetStatus() const {
  std::shared_ptr<const v1::StatusReply> s;
  std::optional<v1::ReexecTimeline> timeline;
  {
    std::lock_guard<std::mutex> l(status_mu_);
    s = status_;
    timeline = reexec_timeline_;
  }
  v1::StatusReply r = s ? *s : v1::StatusReply();  // copied outside the lock
  if (timeline) *r.mutable_reexec_timeline() = *timeline;
  return r;
}

void Session::SetReexecTimeline(const v1::ReexecTimeline& t) {
  std::lock_guard<std::mutex> l(status_mu_);
  reexec_timeline_ = t;
}

v1::StatusReply Session::BuildStatus() const {
  v1::StatusReply s;
  s.set_phase(record_.phase());
  s.set_session_id(record_.session_id());
  s.set_generation(record_.generation());
  for (const auto& a : record_.gmems()) *s.add_gmems() = InfoOf(a);
  *s.mutable_durations() = record_.durations();
  s.set_blob_bytes(record_.frozen_blob_bytes());
  s.set_prepared_blob_bytes(record_.prepared_blob_bytes());
  s.set_blob_format(record_.format());
  s.set_transport(record_.transport());
  s.set_recovery(recovery_);
  s.set_pid(static_cast<uint32_t>(::getpid()));
  s.set_exec_count(record_.exec_count());
  s.set_kvm_available(::access("/dev/kvm", F_OK) == 0);
  s.set_last_verdict(record_.last_verdict());
  s.set_incarnation(incarnation_);
  s.set_kho_incoming(kho_incoming_);
  return s;
}

Result<v1::SnapshotReply> Session::GetSnapshot(const v1::SnapshotRequest& req) {
  std::lock_guard<std::mutex> l(mu_);
  const v1::BlobFormat fmt = req.format() == v1::FORMAT_UNSPECIFIED ? v1::FDT : req.format();
  Snapshot snap;
  const bool live = record_.phase() == v1::IDLE || record_.phase() == v1::PREPARED;
  if (req.recapture() || (live && record_.prepared_blob().empty())) {
    if (!live && !(record_.phase() == v1::RESTORED || record_.phase() == v1::VERIFIED))
      return Status::FailedPrecondition("GetSnapshot: nothing to capture in phase " +
                                        PhaseName(record_.phase()));
    Result<Snapshot> s = CaptureAll(live ? handles_ : restored_, /*final_capture=*/true);
    if (!s.ok()) return s.status();
    snap = std::move(*s);
  } else if (have_frozen_) {
    snap = frozen_;
  } else {
    const std::string& f = record_.frozen_blob().empty() ? record_.prepared_blob()
                                                         : record_.frozen_blob();
    if (f.empty()) return Status::NotFound("GetSnapshot: no capture yet (Prepare first)");
    Result<std::string> b = state_dir_.Read(f, BlobRead());
    if (!b.ok()) return b.status();
    KHOD_RETURN_IF_ERROR(DecodeAny(*b, &snap));
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
