#include "capture/snapshot_capture.h"

#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <string>

#include "capture/snapshot_assembly.h"
#include "common/status_macros.h"
#include "state/invariants.h"

namespace khod {

namespace {

// "'ram0' (token 1, shmem-memfd inode 4242)": a file of a snapshot, by what
// matches it to an fd.
std::string FileOfSnapshot(const GuestMemfd& g) {
  return "'" + g.name + "' (token " + std::to_string(g.token) + ", " + FileKindName(g.kind) +
         (g.inode ? " inode " + std::to_string(g.inode) : std::string(", no inode")) + ")";
}

// The file of `snap` that is the file (inode, kind) of a capture now; a file
// with no inode (a MODEL guest) is none.
const GuestMemfd* SameFile(const Snapshot& snap, uint64_t inode, FileKind kind) {
  if (inode == 0) return nullptr;
  for (const GuestMemfd& c : snap.gmems)
    if (c.inode == inode && c.kind == kind) return &c;
  return nullptr;
}

}  // namespace

Result<std::vector<VmmFile>> OpenVmmFiles(pid_t pid, const std::vector<int>& fds,
                                          const v1::VmmDeclaration& decl) {
  if (fds.empty()) return Status::InvalidArgument("no fd to capture (give --fd N)");
  std::vector<VmmFile> out;
  for (int fd : fds) {
    for (const VmmFile& f : out)
      if (f.vmm_fd == fd)
        return Status::InvalidArgument("fd " + std::to_string(fd) + " given twice");
    KernelSourceOptions o;
    if (const v1::DeclaredFile* f = FindDeclaredFile(decl, fd)) {
      if (f->has_flags()) {
        o.declared_gmem_flags = f->flags();
        o.declared_gmem_mask = f->has_flags_mask() ? f->flags_mask() : ~uint64_t{0};
      }
      o.name = f->name();
    }
    o.declared_attributes = DeclaredAttributesOf(decl, fd);
    for (const v1::DeclaredVm& vm : decl.vms())
      for (const v1::DeclaredMemslot& m : vm.memslots())
        if (m.gmem_fd() == fd && o.vm_token == 0) o.vm_token = vm.token();
    Result<std::unique_ptr<KernelGmemSource>> src = Status::Internal("unset");
    if (pid == 0 || pid == ::getpid()) {
      int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (dup < 0) return Status::NotFound("fd " + std::to_string(fd) + " is not open");
      src = KernelGmemSource::FromFd(UniqueFd(dup), std::move(o));
    } else {
      src = KernelGmemSource::FromPid(pid, fd, std::move(o));
    }
    if (!src.ok()) return src.status();
    out.push_back(VmmFile{fd, std::move(*src)});
  }
  return out;
}

Result<v1::VmmDeclaration> DeclarationFromSnapshot(const Snapshot& snap, pid_t pid,
                                                   const std::vector<int>& fds) {
  v1::VmmDeclaration decl;
  std::map<uint64_t, int> fd_of_token;
  for (int fd : fds) {
    Result<UniqueFd> taken = Status::Internal("unset");
    if (pid == 0 || pid == ::getpid()) {
      int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (dup < 0) return Status::NotFound("fd " + std::to_string(fd) + " is not open");
      taken = UniqueFd(dup);
    } else {
      taken = TakeFdFromProcess(pid, fd);
    }
    if (!taken.ok()) return taken.status();
    KHOD_ASSIGN_OR_RETURN(
        auto id,
        IdentifyMemoryFile(taken->get(), "fd " + std::to_string(fd) +
                                             (pid ? " of pid " + std::to_string(pid) : "")));
    const GuestMemfd* g = SameFile(snap, id.inode, id.kind);
    if (!g) {
      std::string files;
      for (const GuestMemfd& c : snap.gmems)
        files += (files.empty() ? "" : ", ") + FileOfSnapshot(c);
      return Status::NotFound("fd " + std::to_string(fd) + " (" + id.link + ", " +
                              FileKindName(id.kind) + " inode " + std::to_string(id.inode) +
                              ") is none of the snapshot's guest_memfds, matched by kind and "
                              "inode: " +
                              (files.empty() ? std::string("it has none") : files));
    }
    // Only the flag bits the kernel showed: the rest were declared, and a
    // capture now may see more of them than the snapshot's did.
    v1::DeclaredFile* file = decl.add_files();
    file->set_fd(fd);
    file->set_flags(g->flags);
    file->set_flags_mask(g->flags_known);
    file->set_name(g->name);
    for (const AttributeRange& r : g->attributes.Ranges()) {
      v1::DeclaredAttributes* a = decl.add_attributes();
      a->set_gmem_fd(fd);
      a->set_first(r.first);
      a->set_count(r.count);
      a->set_value(r.value);
    }
    fd_of_token[g->token] = fd;
  }
  for (const Vm& vm : snap.vms) {
    v1::DeclaredVm* d = decl.add_vms();
    d->set_token(vm.token);
    d->set_vm_type(vm.vm_type);
    for (const Memslot& m : vm.memslots) {
      auto it = fd_of_token.find(m.gmem_token);
      if (it == fd_of_token.end()) continue;  // its guest_memfd was not given: diff reports it
      *d->add_memslots() = DeclaredMemslotOf(m, it->second);
    }
  }
  return decl;
}

Status TakeSnapshotTokens(const Snapshot& snap, Snapshot* found) {
  std::map<uint64_t, uint64_t> token_of;  // found's token -> snap's
  for (const GuestMemfd& g : found->gmems)
    if (const GuestMemfd* s = SameFile(snap, g.inode, g.kind)) token_of[g.token] = s->token;
  std::map<uint64_t, const GuestMemfd*> by_token;
  for (GuestMemfd& g : found->gmems) {
    const auto it = token_of.find(g.token);
    if (it != token_of.end()) g.token = it->second;
    const auto [other, fresh] = by_token.emplace(g.token, &g);
    if (!fresh)
      return Status::InvalidArgument(
          "'" + g.name + "' (" + FileKindName(g.kind) + " inode " + std::to_string(g.inode) +
          ") and '" + other->second->name + "' (inode " + std::to_string(other->second->inode) +
          ") would both be the snapshot's token " + std::to_string(g.token));
  }
  for (Vm& vm : found->vms)
    for (Memslot& m : vm.memslots)
      if (const auto it = token_of.find(m.gmem_token); it != token_of.end())
        m.gmem_token = it->second;
  return Status::Ok();
}

Result<Snapshot> CaptureSnapshot(std::vector<VmmFile>& files, const v1::VmmDeclaration& decl,
                                 const CaptureOptions& opts) {
  const uint32_t page_size = static_cast<uint32_t>(::getpagesize());
  uint64_t total_pages = 0;
  for (const VmmFile& f : files) total_pages += f.source->identity().size / page_size;
  std::vector<SnapshotPart> parts;
  // Pages done per file: files are captured at once (AssembleSnapshot, which
  // never calls two progress callbacks at once), the sum is what is done.
  std::vector<uint64_t> done_of(files.size(), 0);
  for (size_t i = 0; i < files.size(); ++i) {
    SnapshotPart p;
    p.source = files[i].source.get();
    p.options = opts;
    if (opts.progress)
      p.options.progress = [&opts, &done_of, i, total_pages](uint64_t done, uint64_t) {
        done_of[i] = done;
        uint64_t sum = 0;
        for (uint64_t d : done_of) sum += d;
        opts.progress(sum, total_pages);
      };
    parts.push_back(std::move(p));
  }
  Result<Snapshot> captured = AssembleSnapshot(parts, {});
  if (!captured.ok()) return captured.status();
  Snapshot& snap = *captured;
  std::map<int, CapturedFileFacts> facts;
  std::map<int, uint64_t> tokens;
  for (size_t i = 0; i < files.size(); ++i) {
    const GuestMemfd& g = snap.gmems[i];
    for (size_t j = 0; j < i; ++j)
      if (snap.gmems[j].token == g.token)
        return Status::InvalidArgument("fd " + std::to_string(files[i].vmm_fd) +
                                       " is the same file as '" + snap.gmems[j].name + "' (token " +
                                       std::to_string(g.token) + ")");
    facts[files[i].vmm_fd] = CapturedFileFacts{g.size, files[i].source->identity().page_size};
    tokens[files[i].vmm_fd] = g.token;
  }
  KHOD_RETURN_IF_ERROR(ValidateVmmDeclaration(decl, facts, snap.header.page_size));
  for (const v1::DeclaredVm& dvm : decl.vms()) {
    Vm vm;
    vm.token = dvm.token();
    vm.vm_type = dvm.vm_type();
    for (const v1::DeclaredMemslot& m : dvm.memslots()) {
      Memslot s = MemslotOf(m);
      s.gmem_token = tokens[m.gmem_fd()];
      vm.memslots.push_back(s);
    }
    snap.vms.push_back(std::move(vm));
  }
  KHOD_RETURN_IF_ERROR(InvariantsStatus(snap));
  return captured;  // moved: a Snapshot is megabytes
}

}  // namespace khod
