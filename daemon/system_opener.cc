#include "daemon/system_opener.h"

#include <fcntl.h>

#include <cerrno>

#include "capture/kernel_source.h"
#include "common/status_macros.h"
#include "common/unique_fd.h"
#include "kernel/memory_file.h"
#include "model/model_source.h"
#include "restore/rebuild.h"

namespace khod {
namespace {

KernelSourceOptions OptionsOf(const GmemDeclaration& d, int capture_threads, bool pin_movable) {
  KernelSourceOptions o;
  o.capture_threads = capture_threads;
  o.pin_movable = pin_movable;
  // gRPC's gmem_flags has no presence: 0 is "not declared" (the kernel shows
  // MMAP either way, and INIT_SHARED where a page is used).
  if (d.gmem_flags != 0) {
    o.declared_gmem_flags = d.gmem_flags;
    o.declared_gmem_mask = ~0ull;
  }
  o.declared_attributes = d.attributes;
  o.name = d.name;
  o.token = d.token;
  o.vm_token = d.vm_token;
  o.reserve_hugetlb_holes = d.owner_uid == 0;
  return o;
}

std::unique_ptr<GmemHandle> KernelHandle(std::unique_ptr<KernelGmemSource> src, std::string how) {
  auto h = std::make_unique<GmemHandle>();
  h->fd = src->fd();
  h->kind = src->identity().kind;
  h->inode = src->identity().inode;
  h->size = src->identity().size;
  h->how = std::move(how);
  h->source = std::move(src);
  return h;
}

// A model guest and the source that captures it, owned together.
class OwnedModelSource : public GmemSource {
 public:
  explicit OwnedModelSource(std::unique_ptr<ModelGuestMemfd> g)
      : gmem_(std::move(g)), source_(gmem_.get()) {}
  std::string Describe() const override { return source_.Describe(); }
  Status Capture(const CaptureOptions& opts, GuestMemfd* out) override {
    return source_.Capture(opts, out);
  }

 private:
  std::unique_ptr<ModelGuestMemfd> gmem_;
  ModelSource source_;
};

std::unique_ptr<GmemHandle> ModelHandle(std::unique_ptr<ModelGuestMemfd> g, std::string how) {
  auto h = std::make_unique<GmemHandle>();
  h->is_model = true;
  h->kind = FileKind::kGuestMemfd;
  h->size = g->options().size;
  h->how = std::move(how);
  h->source = std::make_unique<OwnedModelSource>(std::move(g));
  return h;
}

}  // namespace

SystemOpener::SystemOpener(int capture_threads, bool pin_movable)
    : model_(std::make_unique<ModelKernel>()),
      capture_threads_(capture_threads),
      pin_movable_(pin_movable) {}
SystemOpener::~SystemOpener() = default;

Result<TakenFile> SystemOpener::TakeFromProcess(int pid, int fd) {
  TakenFile t;
  t.pid = pid;
  t.fd = fd;
  KHOD_ASSIGN_OR_RETURN(TakenMemoryFile m, TakeMemoryFileFromProcess(pid, fd));
  t.file = std::move(m.file);
  t.identity = std::move(m.identity);
  return t;
}

Result<std::unique_ptr<GmemHandle>> SystemOpener::FromTaken(const GmemDeclaration& decl,
                                                            const TakenFile& taken) {
  UniqueFd dup(::fcntl(taken.file.get(), F_DUPFD_CLOEXEC, 3));
  if (!dup.valid()) return Status::FromErrno("dup taken fd", errno);
  KHOD_ASSIGN_OR_RETURN(
      auto src, KernelGmemSource::FromTaken(std::move(dup), taken.identity, taken.pid, taken.fd,
                                            OptionsOf(decl, capture_threads_, pin_movable_)));
  return KernelHandle(std::move(src), "taken from fd " + std::to_string(taken.fd) + " of pid " +
                                          std::to_string(taken.pid));
}

Result<std::unique_ptr<GmemHandle>> SystemOpener::Adopt(const GmemDeclaration& decl, int fd) {
  KHOD_ASSIGN_OR_RETURN(auto src, KernelGmemSource::FromFd(
                                      UniqueFd(fd), OptionsOf(decl, capture_threads_, pin_movable_),
                                      decl.mappings_pid));
  return KernelHandle(std::move(src), "adopted fd " + std::to_string(fd));
}

Result<std::unique_ptr<GmemHandle>> SystemOpener::NewModel(const GmemDeclaration& decl,
                                                           const ModelSpec& spec) {
  ModelGmemOptions o;
  o.token = decl.token;
  o.name = decl.name;
  o.size = spec.size;
  if (spec.hstate_order) {
    o.backing = Backing::kHugetlb;
    o.hstate_order = spec.hstate_order;
  }
  o.vm_token = decl.vm_token;
  o.populate = spec.populate;
  // The creation flags the caller declared (AttachRequest.gmem_flags); none:
  // the model's default, MMAP|INIT_SHARED. Create refuses what no
  // guest_memfd could be made with.
  if (decl.gmem_flags) o.flags = decl.gmem_flags;
  KHOD_ASSIGN_OR_RETURN(auto g, ModelGuestMemfd::Create(model_.get(), o));
  // Attributes the VMM declares are conversions in the model's own flow.
  for (const AttributeRange& r : decl.attributes.Ranges()) {
    Status s = g->Convert(r.first, r.count, (r.value & kAttrPrivate) != 0);
    if (!s.ok()) return s.WithContext("MODEL guest '" + decl.name + "' declared attributes");
  }
  return ModelHandle(std::move(g), "MODEL");
}

Result<std::unique_ptr<GmemHandle>> SystemOpener::RestoreModel(const GuestMemfd& frozen) {
  KHOD_ASSIGN_OR_RETURN(auto g, ::khod::RestoreModel(model_.get(), frozen));
  return ModelHandle(std::move(g), "MODEL restored");
}

Result<std::unique_ptr<GmemHandle>> SystemOpener::Rebuild(const GmemDeclaration& decl,
                                                          const GuestMemfd& frozen) {
  KHOD_ASSIGN_OR_RETURN(UniqueFd fd, RebuildMemoryFile(frozen));
  KHOD_ASSIGN_OR_RETURN(
      auto src,
      KernelGmemSource::FromFd(std::move(fd), OptionsOf(decl, capture_threads_, pin_movable_)));
  return KernelHandle(std::move(src), "rebuilt");
}

}  // namespace khod
