#include "model/model_source.h"

#include <algorithm>

#include "common/status_macros.h"
#include "state/invariants.h"

namespace khod {

Status ModelSource::Capture(const CaptureOptions& opts, GuestMemfd* out) {
  if (gmem_ == nullptr || gmem_->closed())
    return Status::FailedPrecondition("MODEL guest_memfd is closed");
  gmem_->Fill(out);
  if (opts.progress) opts.progress(gmem_->pages(), gmem_->pages());
  return Status::Ok();
}

namespace {

// Puts the folios of one snapshot extent back in the filemap, claiming their
// PFNs (or allocating fresh ones when the snapshot has none).
Status RestoreExtent(ModelKernel* k, PfnPool* pool, const FolioExtent& e, bool claim,
                     Filemap* filemap) {
  const uint8_t flags = e.flags & ~kFolioHwpoison;
  if (e.first_pfn != kPfnUnknown) {
    if (claim) KHOD_RETURN_IF_ERROR(pool->Claim(e.first_pfn, e.nr_folios));
    filemap->Insert(FilemapExtent{e.first_index, e.pages(), e.first_pfn, e.order, flags});
    return Status::Ok();
  }
  uint64_t at = e.first_index, left = e.nr_folios;
  while (left > 0) {
    KHOD_ASSIGN_OR_RETURN(PfnRun run, pool->AllocRun(left));
    filemap->Insert(FilemapExtent{at, run.folios << e.order, run.first_pfn, e.order, flags});
    at += run.folios << e.order;
    left -= run.folios;
  }
  (void)k;
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<ModelGuestMemfd>> RestoreModel(ModelKernel* kernel, const GuestMemfd& g) {
  if (kernel == nullptr) return Status::InvalidArgument("MODEL restore: no model kernel");
  if (g.kind != FileKind::kGuestMemfd)
    return Status::Unsupported(std::string("MODEL restore: file kind ") + FileKindName(g.kind) +
                               " is not a guest_memfd");
  std::vector<Violation> v;
  CheckGmem(g, kModelPageSize, &v);
  if (!v.empty())
    return Status::Corruption("MODEL restore: " + std::to_string(v.size()) +
                              " invariant violation(s), first: " + v[0].where + ": " + v[0].what);
  ModelGmemOptions o;
  o.token = g.token;
  o.name = g.name;
  o.size = g.size;
  o.flags = g.flags;
  o.backing = g.backing;
  o.hstate_order = g.hstate_order;
  o.vm_token = g.vm_token;
  o.populate = false;
  if (!g.restructures.empty()) o.memcg_id = g.restructures.front().memcg_id;
  Result<std::unique_ptr<ModelGuestMemfd>> created = ModelGuestMemfd::Create(kernel, o);
  if (!created.ok()) return created.status().WithContext("MODEL restore");
  std::unique_ptr<ModelGuestMemfd> f = std::move(*created);
  f->inode_ = g.inode;
  f->policy_ = g.policy;
  f->attributes_ = g.attributes;
  f->hashes_ = g.hashes;

  const bool huge = g.backing == Backing::kHugetlb;
  PfnPool* pool = huge ? kernel->hugetlb(g.hstate_order) : &kernel->buddy();
  // Split folios first: their whole original folio is claimed once, by head PFN.
  for (const RestructureRecord& r : g.restructures) {
    uint64_t head = r.head_pfn;
    if (head == kPfnUnknown) {
      Result<PfnRun> run = pool->AllocRun(1);
      if (!run.ok()) return run.status().WithContext("MODEL restore");
      head = run->first_pfn;
    } else {
      Status s = pool->Claim(head, 1);
      if (!s.ok()) return s.WithContext("MODEL restore");
    }
    RegistryEntry e;
    e.record = r;
    e.record.head_pfn = head;
    e.record.in_progress = false;  // set back below, after poison is replayed
    e.owner = f->owner_id_;
    KHOD_RETURN_IF_ERROR(kernel->registry().Add(std::move(e)));
    f->split_[r.index] = head;
  }
  for (const FolioExtent& e : g.folios) {
    const bool piece = huge && e.order < g.hstate_order;
    FolioExtent placed = e;
    if (piece && e.first_pfn == kPfnUnknown) {
      // Sub-folios live at their record's PFNs.
      const uint64_t hp = uint64_t{1} << g.hstate_order;
      const uint64_t rec = e.first_index - e.first_index % hp;
      placed.first_pfn = f->split_[rec] + (e.first_index - rec);
    }
    Status s;
    if (!piece && huge && e.first_pfn != kPfnUnknown && !f->split_.empty()) {
      // Whole huge folios inside a record (a split captured before it began)
      // were claimed with the record: claim only the folios between records.
      const uint64_t hp = uint64_t{1} << g.hstate_order;
      uint64_t at = e.first_index;
      for (auto it = f->split_.lower_bound(e.first_index);
           s.ok() && it != f->split_.end() && it->first < e.end_index(); ++it) {
        if (it->first > at)
          s = pool->Claim(e.first_pfn + (at - e.first_index), (it->first - at) / hp);
        at = it->first + hp;
      }
      if (s.ok() && at < e.end_index())
        s = pool->Claim(e.first_pfn + (at - e.first_index), (e.end_index() - at) / hp);
      if (s.ok()) s = RestoreExtent(kernel, pool, placed, /*claim=*/false, &f->filemap_);
    } else {
      s = RestoreExtent(kernel, pool, placed, /*claim=*/!piece, &f->filemap_);
    }
    if (!s.ok()) return s.WithContext("MODEL restore");
    if (e.flags & kFolioHwpoison) {
      KHOD_ASSIGN_OR_RETURN(uint64_t pfn0, f->PfnOf(e.first_index));
      for (uint64_t i = 0; i < e.nr_folios; ++i)
        KHOD_RETURN_IF_ERROR(kernel->MemoryFailure(pfn0 + (i << e.order)));
    }
  }
  for (const RestructureRecord& r : g.restructures)
    if (r.in_progress) kernel->registry().Find(f->split_[r.index])->record.in_progress = true;
  return f;
}

}  // namespace khod
