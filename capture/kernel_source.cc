#include "capture/kernel_source.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>

#include "kernel/kvm_uapi.h"
#include "kernel/mempolicy.h"

namespace khod {

namespace {

// Pages handled per pass (512 KiB of pagemap entries); a multiple of the 2 MiB
// HugeTLB folio, and 1 GiB folios get a pass each.
constexpr uint64_t kWindowPages = 64 * 1024;
constexpr size_t kHashChunk = 1 << 20;

uint8_t FolioFlagsFromKpf(uint64_t kpf) {
  uint8_t f = 0;
  if (kpf & kKpfUptodate) f |= kFolioUptodate;
  if (kpf & kKpfDirty) f |= kFolioDirty;
  if (kpf & kKpfHwpoison) f |= kFolioHwpoison;
  return f;
}

uint8_t Log2(uint64_t v) {
  uint8_t r = 0;
  while (v > 1) {
    v >>= 1;
    ++r;
  }
  return r;
}

}  // namespace

KernelGmemSource::KernelGmemSource(UniqueFd fd, MemoryFileIdentity id, KernelSourceOptions opts,
                                   std::string origin)
    : fd_(std::move(fd)), identity_(std::move(id)), opts_(std::move(opts)), origin_(std::move(origin)) {}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromFd(UniqueFd fd,
                                                                   KernelSourceOptions opts) {
  const int n = fd.get();
  auto id = IdentifyMemoryFile(n);
  if (!id.ok()) return id.status();
  return std::unique_ptr<KernelGmemSource>(
      new KernelGmemSource(std::move(fd), std::move(*id), std::move(opts), "fd " + std::to_string(n)));
}

Result<std::unique_ptr<KernelGmemSource>> KernelGmemSource::FromPid(pid_t pid, int fd,
                                                                    KernelSourceOptions opts) {
  auto taken = TakeFdFromProcess(pid, fd);
  if (!taken.ok()) return taken.status();
  const std::string origin = "fd " + std::to_string(fd) + " of pid " + std::to_string(pid);
  auto id = IdentifyMemoryFile(taken->get(), origin);
  if (!id.ok()) return id.status();
  return std::unique_ptr<KernelGmemSource>(
      new KernelGmemSource(std::move(*taken), std::move(*id), std::move(opts), origin));
}

std::string KernelGmemSource::Describe() const {
  return std::string(FileKindName(identity_.kind)) + " " + origin_ + " (" + identity_.link + ")";
}

uint64_t KernelGmemSource::token() const { return opts_.token ? opts_.token : identity_.inode; }

bool KernelGmemSource::PageMayBeTouched(uint64_t index) const {
  if (identity_.kind == FileKind::kGuestMemfd &&
      !(opts_.declared_gmem_flags & uapi::kGuestMemfdFlagInitShared))
    return false;  // private memory: faulting it is SIGBUS
  return opts_.declared_attributes.empty() || !(opts_.declared_attributes.Get(index) & kAttrPrivate);
}

Status KernelGmemSource::EnsureMapped(uint64_t size) {
  if (!frames_) {
    auto r = PageFrameReader::Open();
    if (!r.ok()) return r.status();
    frames_ = std::make_unique<PageFrameReader>(std::move(*r));
  }
  if (mapping_.length() == size) return Status::Ok();
  guard_.reset();
  mapping_ = Mapping();
  auto m = Mapping::Map(fd_.get(), 0, size, PROT_READ);
  if (!m.ok()) {
    if (identity_.kind == FileKind::kGuestMemfd)
      return Status::FailedPrecondition(
          "cannot map " + Describe() + " (" + m.status().message() +
          "): a guest_memfd created without GUEST_MEMFD_FLAG_MMAP cannot be mapped, so its "
          "folios and mempolicy are not visible from userspace");
    return m.status().WithContext(Describe());
  }
  mapping_ = std::move(*m);
  if (identity_.kind != FileKind::kGuestMemfd) {
    auto g = PopulateGuard::Register(mapping_.data(), size);
    if (g.ok()) {
      guard_ = std::make_unique<PopulateGuard>(std::move(*g));
    } else if (identity_.kind == FileKind::kHugetlbMemfd) {
      // Without the guard, populating a HugeTLB hole would allocate a huge page.
      return Status::Unsupported("HugeTLB residency needs userfaultfd (" + g.status().message() + ")");
    }
  }
  return Status::Ok();
}

Status KernelGmemSource::ScanWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b) {
  const size_t page = static_cast<size_t>(getpagesize());
  uint8_t* base = mapping_.data() + first * page;
  mincore_buf_.resize(npages);
  pagemap_buf_.resize(npages);
  KHOD_RETURN_IF_ERROR(Mincore(base, npages, mincore_buf_.data()));
  KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base, npages, pagemap_buf_.data()));
  auto resident = [&](uint64_t i) { return (mincore_buf_[i] & 1) != 0; };
  auto present = [&](uint64_t i) { return PagemapPresent(pagemap_buf_[i]); };

  // Map the existing, shared pages this process does not map yet, run by run.
  for (uint64_t i = 0; i < npages;) {
    if (!resident(i) || present(i) || !PageMayBeTouched(first + i)) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    while (j < npages && resident(j) && !present(j) && PageMayBeTouched(first + j)) ++j;
    Status s = PopulateRead(base + i * page, (j - i) * page);
    // EFAULT: a page went away (guarded hole) or is private after all; its
    // PFN stays unknown and its residency comes from mincore.
    if (!s.ok() && s.code() != Status::Code::kFailedPrecondition) return s;
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + i * page, j - i, pagemap_buf_.data() + i));
    i = j;
  }

  // Page state: 0 hole, 1 resident but not mapped here (private), 2 mapped
  // but PFN hidden (not root), 3 PFN known.
  const bool kpf = frames_->kpageflags_readable();
  auto state = [&](uint64_t i) -> int {
    if (!resident(i) && !present(i)) return 0;
    if (!present(i)) return 1;
    return (kpf && PagemapPfn(pagemap_buf_[i]) != 0) ? 3 : 2;
  };
  for (uint64_t i = 0; i < npages;) {
    const int st = state(i);
    if (st == 0) {
      ++i;
      continue;
    }
    uint64_t j = i + 1;
    if (st != 3) {
      while (j < npages && state(j) == st) ++j;
      b->AddRun(first + i, kPfnUnknown, j - i, 0, 0, st == 2);
      i = j;
      continue;
    }
    const uint64_t pfn = PagemapPfn(pagemap_buf_[i]);
    while (j < npages && state(j) == 3 && PagemapPfn(pagemap_buf_[j]) == pfn + (j - i)) ++j;
    kpf_buf_.resize(j - i);
    KHOD_RETURN_IF_ERROR(frames_->ReadKpageflags(pfn, j - i, kpf_buf_.data()));
    for (uint64_t k = i; k < j;) {
      const uint8_t f = FolioFlagsFromKpf(kpf_buf_[k - i]);
      uint64_t l = k + 1;
      while (l < j && FolioFlagsFromKpf(kpf_buf_[l - i]) == f) ++l;
      b->AddRun(first + k, pfn + (k - i), l - k, 0, f, true);
      k = l;
    }
    i = j;
  }
  return Status::Ok();
}

Status KernelGmemSource::ScanHugetlbWindow(uint64_t first, uint64_t npages, FolioExtentBuilder* b) {
  const size_t page = static_cast<size_t>(getpagesize());
  const uint64_t per_folio = identity_.page_size / page;
  const uint8_t order = Log2(per_folio);
  const uint64_t nfolios = npages / per_folio;
  uint8_t* base = mapping_.data() + first * page;
  pagemap_buf_.resize(npages);
  KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base, npages, pagemap_buf_.data()));
  auto head_present = [&](uint64_t f) { return PagemapPresent(pagemap_buf_[f * per_folio]); };

  // mincore cannot see HugeTLB page cache; under the guard, populating a run
  // maps the folios that exist and fails on holes without allocating.
  for (uint64_t f = 0; f < nfolios;) {
    if (head_present(f)) {
      ++f;
      continue;
    }
    uint64_t g = f + 1;
    while (g < nfolios && !head_present(g)) ++g;
    Status s = PopulateRead(base + f * identity_.page_size, (g - f) * identity_.page_size);
    if (!s.ok()) {
      if (s.code() != Status::Code::kFailedPrecondition) return s;
      for (uint64_t h = f; h < g; ++h) {  // some are holes: find which, folio by folio
        Status one = PopulateRead(base + h * identity_.page_size, identity_.page_size);
        if (!one.ok() && one.code() != Status::Code::kFailedPrecondition) return one;
      }
    }
    KHOD_RETURN_IF_ERROR(frames_->ReadPagemap(base + f * identity_.page_size, (g - f) * per_folio,
                                              pagemap_buf_.data() + f * per_folio));
    f = g;
  }

  const bool kpf = frames_->kpageflags_readable();
  for (uint64_t f = 0; f < nfolios; ++f) {
    if (!head_present(f)) continue;
    const uint64_t pfn = PagemapPfn(pagemap_buf_[f * per_folio]);
    if (!kpf || pfn == 0) {
      b->AddRun(first + f * per_folio, kPfnUnknown, 1, order, 0, true);
      continue;
    }
    uint64_t head_flags = 0;  // one entry per compound folio, from its head page
    KHOD_RETURN_IF_ERROR(frames_->ReadKpageflags(pfn, 1, &head_flags));
    b->AddRun(first + f * per_folio, pfn, 1, order, FolioFlagsFromKpf(head_flags), true);
  }
  return Status::Ok();
}

Status KernelGmemSource::HashExtents(const FolioExtentBuilder& b, GuestMemfd* out) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  std::vector<uint8_t> buf;
  const auto& ext = b.extents();
  for (size_t i = 0; i < ext.size(); ++i) {
    if (!b.readable_shared()[i]) continue;  // private or unmapped: never read
    const FolioExtent& e = ext[i];
    const uint64_t offset = e.first_index * page, bytes = e.pages() * page;
    ContentHash h{e.first_index, e.pages(), 0};
    if (identity_.kind == FileKind::kGuestMemfd) {
      // guest_memfd has no read(); these pages are mapped and shared.
      h.xxh3 = XXH3_64bits(mapping_.data() + offset, bytes);
    } else {
      // pread: a page punched meanwhile reads as zeros instead of faulting.
      XXH3_state_t* st = XXH3_createState();
      XXH3_64bits_reset(st);
      buf.resize(kHashChunk);
      for (uint64_t done = 0; done < bytes;) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(kHashChunk, bytes - done));
        ssize_t n = ::pread(fd_.get(), buf.data(), want, static_cast<off_t>(offset + done));
        if (n <= 0) {
          XXH3_freeState(st);
          return Status::FromErrno("pread for hash of " + Describe(), n < 0 ? errno : EIO);
        }
        XXH3_64bits_update(st, buf.data(), static_cast<size_t>(n));
        done += static_cast<uint64_t>(n);
      }
      h.xxh3 = XXH3_64bits_digest(st);
      XXH3_freeState(st);
    }
    out->hashes.push_back(h);
  }
  return Status::Ok();
}

Status KernelGmemSource::Capture(const CaptureOptions& opts, GuestMemfd* out) {
  struct stat st;
  if (::fstat(fd_.get(), &st) < 0) return Status::FromErrno("fstat " + Describe(), errno);
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size % identity_.page_size != 0)
    return Status::FailedPrecondition(Describe() + ": size " + std::to_string(size) +
                                      " is not a multiple of its page size " +
                                      std::to_string(identity_.page_size));
  *out = GuestMemfd();
  out->token = token();
  out->inode = identity_.inode;
  out->name = !opts_.name.empty() ? opts_.name
              : !identity_.memfd_name.empty() ? identity_.memfd_name
                                              : "kvm-gmem " + origin_;
  out->provenance = Provenance::kKernel;
  out->kind = identity_.kind;
  out->size = size;
  out->flags = identity_.kind == FileKind::kGuestMemfd ? opts_.declared_gmem_flags : 0;
  const bool hugetlb = identity_.kind == FileKind::kHugetlbMemfd;
  out->backing = hugetlb ? Backing::kHugetlb : Backing::kBuddy;
  out->hstate_order = hugetlb ? Log2(identity_.page_size / page) : 0;
  out->vm_token = opts_.vm_token;
  out->attributes = opts_.declared_attributes;
  if (size == 0) return Status::Ok();

  KHOD_RETURN_IF_ERROR(EnsureMapped(size));
  auto policy = GetMempolicyAt(mapping_.data());
  if (!policy.ok()) return policy.status().WithContext(Describe());
  out->policy = *policy;

  FolioExtentBuilder builder;
  const uint64_t total = size / page;
  const uint64_t window = std::max<uint64_t>(kWindowPages, identity_.page_size / page);
  for (uint64_t first = 0; first < total; first += window) {
    const uint64_t n = std::min(window, total - first);
    Status s = hugetlb ? ScanHugetlbWindow(first, n, &builder) : ScanWindow(first, n, &builder);
    if (!s.ok()) return s.WithContext(Describe());
    if (opts.progress) opts.progress(first + n, total);
  }
  if (opts.hash_contents) KHOD_RETURN_IF_ERROR(HashExtents(builder, out));
  out->folios = builder.TakeExtents();
  return Status::Ok();
}

}  // namespace khod
