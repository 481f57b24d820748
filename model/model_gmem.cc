#include "model/model_gmem.h"

#include <algorithm>
#include <limits>
#include <sstream>

#include "common/status_macros.h"

namespace khod {
namespace {

uint64_t AlignDown(uint64_t v, uint64_t size) { return v - v % size; }

std::string RangesText(const std::vector<PageRange>& ranges) {
  constexpr size_t kShown = 4;
  std::ostringstream s;
  for (size_t i = 0; i < ranges.size() && i < kShown; ++i)
    s << (i ? ", " : "") << "[" << ranges[i].first << ", " << ranges[i].end() << ")";
  if (ranges.size() > kShown) s << ", ... (" << ranges.size() << " ranges)";
  return s.str();
}

std::string SizeText(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) bytes /= 1024, ++u;
  return std::to_string(bytes) + " " + units[u];
}

}  // namespace

ModelGuestMemfd::ModelGuestMemfd(ModelKernel* kernel, const ModelGmemOptions& opts)
    : kernel_(kernel),
      opts_(opts),
      inode_(kernel->NextInode()),
      owner_id_(kernel->RegisterOwner(this)) {}

ModelGuestMemfd::~ModelGuestMemfd() { Close(); }

Result<std::unique_ptr<ModelGuestMemfd>> ModelGuestMemfd::Create(ModelKernel* kernel,
                                                                 const ModelGmemOptions& o) {
  if (kernel == nullptr) return Status::InvalidArgument("MODEL guest_memfd: no model kernel");
  if (o.size == 0 || o.size % kModelPageSize != 0)
    return Status::InvalidArgument("MODEL guest_memfd: size " + std::to_string(o.size) +
                                   " is not a positive multiple of the page size");
  if (o.flags & ~(kGmemFlagMmap | kGmemFlagInitShared))
    return Status::InvalidArgument("MODEL guest_memfd: unknown flags " + std::to_string(o.flags));
  if (o.backing == Backing::kHugetlb) {
    if (kernel->hugetlb(o.hstate_order) == nullptr)
      return Status::InvalidArgument("MODEL guest_memfd: no HugeTLB hstate of order " +
                                     std::to_string(o.hstate_order));
    if ((o.size / kModelPageSize) % (uint64_t{1} << o.hstate_order) != 0)
      return Status::InvalidArgument("MODEL guest_memfd: size " + std::to_string(o.size) +
                                     " is not a multiple of the hstate size");
  } else if (o.hstate_order != 0) {
    return Status::InvalidArgument("MODEL guest_memfd: buddy backing with hstate order " +
                                   std::to_string(o.hstate_order));
  }
  std::unique_ptr<ModelGuestMemfd> f(new ModelGuestMemfd(kernel, o));
  // Without INIT_SHARED every page starts private (guest-first memory).
  if (!(o.flags & kGmemFlagInitShared)) f->attributes_.Set(0, f->pages(), kAttrPrivate);
  if (o.populate) KHOD_RETURN_IF_ERROR(f->Allocate(0, f->pages()));
  return f;
}

Status ModelGuestMemfd::CheckUsable(uint64_t first, uint64_t count) const {
  if (closed_) return Status::FailedPrecondition(Describe() + " is closed");
  if (count == 0 || first >= pages() || count > pages() - first)
    return Status::InvalidArgument(Describe() + ": pages [" + std::to_string(first) + ", +" +
                                   std::to_string(count) + ") outside the file (" +
                                   std::to_string(pages()) + " pages)");
  if (restructuring_) return Status::Busy(Describe() + ": a folio restructure is in progress");
  return Status::Ok();
}

Status ModelGuestMemfd::Allocate(uint64_t first, uint64_t count) {
  KHOD_RETURN_IF_ERROR(CheckUsable(first, count));
  if (preserved_)
    return Status::FailedPrecondition(Describe() +
                                      ": folios are preserved for KHO; new "
                                      "folios would not be");
  const uint8_t order = IsHugetlb() ? opts_.hstate_order : 0;
  const uint64_t fsize = uint64_t{1} << order;
  if (first % fsize || count % fsize)
    return Status::InvalidArgument(Describe() + ": fallocate range not aligned to the hstate");
  PfnPool* pool = IsHugetlb() ? kernel_->hugetlb(order) : &kernel_->buddy();
  std::vector<PageRange> holes;
  filemap_.ForEachHole(first, count, [&](uint64_t f, uint64_t n) { holes.push_back({f, n}); });
  for (const PageRange& hole : holes) {
    uint64_t at = hole.first;
    while (at < hole.end()) {
      Result<PfnRun> run = pool->AllocRun((hole.end() - at) >> order);
      if (!run.ok()) return run.status().WithContext(Describe() + ": fallocate");
      filemap_.Insert(
          FilemapExtent{at, run->folios << order, run->first_pfn, order, kFolioUptodate});
      at += run->folios << order;
    }
  }
  return Status::Ok();
}

bool ModelGuestMemfd::FolioAt(uint64_t index, Folio* out) const {
  FilemapExtent e;
  if (!filemap_.Find(index, &e)) return false;
  const uint64_t fsize = uint64_t{1} << e.order;
  out->index = e.first_index + AlignDown(index - e.first_index, fsize);
  out->pfn = e.PfnOf(out->index);
  out->order = e.order;
  return true;
}

bool ModelGuestMemfd::UniformPrivate(uint64_t first, uint64_t count, bool is_private) const {
  uint64_t private_pages = 0;
  attributes_.ForEach(first, count, [&](const AttributeRange& r) {
    if (r.value & kAttrPrivate) private_pages += r.count;
  });
  return private_pages == (is_private ? count : 0);
}

std::vector<PageRange> ModelGuestMemfd::BusyPages(uint64_t first, uint64_t count) const {
  std::vector<PageRange> busy;
  const uint64_t end = first + count;
  filemap_.ForEach(first, count, [&](const FilemapExtent& e) {
    const uint64_t fsize = uint64_t{1} << e.order;
    const uint64_t lo = std::max(first, e.first_index), hi = std::min(end, e.end_index());
    // Whole folios touching [lo, hi): a reference anywhere in one makes
    // all of its pages in the range busy.
    const uint64_t flo = e.first_index + AlignDown(lo - e.first_index, fsize);
    const uint64_t fhi =
        std::min(e.end_index(), e.first_index + AlignDown(hi - 1 - e.first_index, fsize) + fsize);
    kernel_->ForEachRef(e.PfnOf(flo), fhi - flo, [&](uint64_t pfn, uint32_t) {
      const uint64_t idx = e.first_index + (pfn - e.first_pfn);
      const uint64_t folio = e.first_index + AlignDown(idx - e.first_index, fsize);
      const PageRange r{std::max(folio, first),
                        std::min(folio + fsize, end) - std::max(folio, first)};
      if (!busy.empty() && busy.back().end() >= r.first) {
        const uint64_t new_end = std::max(busy.back().end(), r.end());
        busy.back().count = new_end - busy.back().first;
      } else {
        busy.push_back(r);
      }
    });
  });
  return busy;
}

Status ModelGuestMemfd::Convert(uint64_t first, uint64_t count, bool to_private) {
  KHOD_RETURN_IF_ERROR(CheckUsable(first, count));
  // Seed: "Kernel makes sure that there are no users".
  const std::vector<PageRange> busy = BusyPages(first, count);
  if (!busy.empty())
    return Status::Busy(Describe() + ": pages " + RangesText(busy) +
                        " have users beyond guest_memfd's own reference");
  // Folios the range covers only partially and whose pages would end up mixed
  // must be split first (at most the two at the range's edges).
  const uint64_t end = first + count;
  std::vector<Folio> to_split;
  for (uint64_t edge : {first, end - 1}) {
    Folio f;
    if (!FolioAt(edge, &f) || f.order == 0) continue;
    if (f.index >= first && f.index + f.pages() <= end) continue;
    if (UniformPrivate(f.index, f.pages(), to_private)) continue;
    if (!to_split.empty() && to_split.back().index == f.index) continue;
    to_split.push_back(f);
  }
  if (preserved_ && !to_split.empty())
    return Status::FailedPrecondition(
        Describe() + ": converting needs a split of the folio at index " +
        std::to_string(to_split.front().index) +
        ", which is preserved for KHO; unpreserve, convert, preserve again");
  if (to_private) mapped_.Erase(first, count);  // seed step 5
  for (const Folio& f : to_split) KHOD_RETURN_IF_ERROR(Split(f));
  attributes_.Set(first, count, to_private ? kAttrPrivate : 0);  // seed step 6
  TryMergeIn(first, count);
  return Status::Ok();
}

Status ModelGuestMemfd::Split(const Folio& f) {
  const uint64_t hpages = uint64_t{1} << opts_.hstate_order;
  const uint64_t rec_index = AlignDown(f.index, hpages);
  if (f.order == opts_.hstate_order) {
    RegistryEntry e;
    e.record.index = f.index;
    e.record.head_pfn = f.pfn;
    e.record.original_order = f.order;
    e.record.memcg_id = opts_.memcg_id;
    e.owner = owner_id_;
    KHOD_RETURN_IF_ERROR(kernel_->registry().Add(std::move(e)));
    split_[f.index] = f.pfn;
  }
  auto it = split_.find(rec_index);
  RegistryEntry* entry = it == split_.end() ? nullptr : kernel_->registry().Find(it->second);
  if (entry == nullptr)
    return Status::Internal(Describe() + ": split folio at index " + std::to_string(f.index) +
                            " has no restructure record");
  // A capture while the split is under way sees the folios as they still are.
  entry->record.layout = LayoutOf(rec_index, opts_.hstate_order);
  restructuring_ = true;
  kernel_->BeginRestructure(entry);
  filemap_.SetOrder(f.index, f.pages(), 0);
  entry->record.layout = LayoutOf(rec_index, opts_.hstate_order);
  kernel_->EndRestructure(entry);
  restructuring_ = false;
  return Status::Ok();
}

void ModelGuestMemfd::TryMerge(uint64_t index) {
  auto it = split_.find(index);
  if (it == split_.end() || preserved_ || closed_) return;
  RegistryEntry* entry = kernel_->registry().Find(it->second);
  if (entry == nullptr || entry->record.in_progress) return;
  const uint64_t n = entry->pages(), head = it->second;
  const bool is_private = (attributes_.Get(index) & kAttrPrivate) != 0;
  if (!UniformPrivate(index, n, is_private)) return;
  if (kernel_->AnyRef(head, n)) return;
  // A hwpoisoned page must not be folded back into a huge folio.
  if (kernel_->AnyPoison(head, n)) return;
  restructuring_ = true;
  kernel_->BeginRestructure(entry);
  filemap_.SetOrder(index, n, entry->record.original_order);
  kernel_->EndRestructure(entry);
  restructuring_ = false;
  kernel_->registry().Remove(head);
  split_.erase(it);
}

void ModelGuestMemfd::TryMergeIn(uint64_t first, uint64_t count) {
  if (split_.empty()) return;
  const uint64_t hpages = uint64_t{1} << opts_.hstate_order;
  std::vector<uint64_t> candidates;
  for (auto it = split_.lower_bound(AlignDown(first, hpages));
       it != split_.end() && it->first < first + count; ++it)
    candidates.push_back(it->first);
  for (uint64_t index : candidates) TryMerge(index);
}

void ModelGuestMemfd::OnFolioUnpinned(uint64_t head_pfn) {
  const RegistryEntry* e = kernel_->registry().Find(head_pfn);
  if (e != nullptr && !restructuring_) TryMerge(e->record.index);
}

std::vector<SplitRun> ModelGuestMemfd::LayoutOf(uint64_t index, uint8_t order) const {
  std::vector<SplitRun> layout;
  const uint64_t n = uint64_t{1} << order;
  filemap_.ForEach(index, n, [&](const FilemapExtent& e) {
    const uint64_t lo = std::max(index, e.first_index), hi = std::min(index + n, e.end_index());
    const uint32_t offset = static_cast<uint32_t>(lo - index);
    const uint32_t count = static_cast<uint32_t>((hi - lo) >> e.order);
    if (!layout.empty() && layout.back().order == e.order &&
        layout.back().offset + (uint64_t{layout.back().count} << e.order) == offset)
      layout.back().count += count;
    else
      layout.push_back(SplitRun{offset, count, e.order});
  });
  return layout;
}

Status ModelGuestMemfd::Map(uint64_t first, uint64_t count) {
  KHOD_RETURN_IF_ERROR(CheckUsable(first, count));
  if (!(opts_.flags & kGmemFlagMmap))
    return Status::FailedPrecondition(Describe() + ": not mmap-able (no GUEST_MEMFD_FLAG_MMAP)");
  bool hole = false;
  filemap_.ForEachHole(first, count, [&](uint64_t, uint64_t) { hole = true; });
  if (hole) return Status::FailedPrecondition(Describe() + ": mapping an unallocated page");
  std::vector<PageRange> priv;
  attributes_.ForEach(first, count, [&](const AttributeRange& r) {
    if (r.value & kAttrPrivate) priv.push_back({r.first, r.count});
  });
  if (!priv.empty())
    return Status::FailedPrecondition(Describe() + ": SIGBUS: pages " + RangesText(priv) +
                                      " are private");
  mapped_.Insert(first, count);
  return Status::Ok();
}

Status ModelGuestMemfd::Unmap(uint64_t first, uint64_t count) {
  KHOD_RETURN_IF_ERROR(CheckUsable(first, count));
  mapped_.Erase(first, count);
  return Status::Ok();
}

Result<uint64_t> ModelGuestMemfd::PfnOf(uint64_t index) const {
  if (closed_) return Status::FailedPrecondition(Describe() + " is closed");
  FilemapExtent e;
  if (!filemap_.Find(index, &e))
    return Status::NotFound(Describe() + ": page " + std::to_string(index) + " is not allocated");
  return e.PfnOf(index);
}

Status ModelGuestMemfd::TakeRef(uint64_t index) {
  KHOD_RETURN_IF_ERROR(CheckUsable(index, 1));
  KHOD_ASSIGN_OR_RETURN(uint64_t pfn, PfnOf(index));
  kernel_->GetPage(pfn);
  return Status::Ok();
}

Status ModelGuestMemfd::DropRef(uint64_t index) {
  KHOD_RETURN_IF_ERROR(CheckUsable(index, 1));
  KHOD_ASSIGN_OR_RETURN(uint64_t pfn, PfnOf(index));
  return kernel_->PutPage(pfn);
}

Status ModelGuestMemfd::Poison(uint64_t index) {
  if (closed_) return Status::FailedPrecondition(Describe() + " is closed");
  KHOD_ASSIGN_OR_RETURN(uint64_t pfn, PfnOf(index));
  return kernel_->MemoryFailure(pfn);
}

Status ModelGuestMemfd::Preserve() {
  if (closed_) return Status::FailedPrecondition(Describe() + " is closed");
  if (restructuring_) return Status::Busy(Describe() + ": a folio restructure is in progress");
  preserved_ = true;
  return Status::Ok();
}

Status ModelGuestMemfd::Unpreserve() {
  if (closed_) return Status::FailedPrecondition(Describe() + " is closed");
  preserved_ = false;
  TryMergeIn(0, pages());  // merges deferred while preserved
  return Status::Ok();
}

void ModelGuestMemfd::ReleaseRun(const FilemapExtent& e) {
  const uint64_t fsize = uint64_t{1} << e.order;
  // Folios that cannot simply go back: pinned (orphaned until unpinned) or
  // poisoned (dissolved). Sparse: found from the reference and poison tables.
  std::map<uint64_t, bool> special;  // head pfn -> pinned
  auto head_of = [&](uint64_t pfn) { return e.first_pfn + AlignDown(pfn - e.first_pfn, fsize); };
  kernel_->ForEachPoison(e.first_pfn, e.pages,
                         [&](uint64_t pfn) { special.emplace(head_of(pfn), false); });
  kernel_->ForEachRef(e.first_pfn, e.pages,
                      [&](uint64_t pfn, uint32_t) { special[head_of(pfn)] = true; });
  uint64_t at = e.first_pfn;
  for (const auto& [head, pinned] : special) {
    if (head > at) kernel_->FreeRun(at, (head - at) >> e.order, e.order);
    if (pinned)
      kernel_->AddPinnedOrphan(head, e.order);
    else
      kernel_->ReturnFolio(head, e.order);
    at = head + fsize;
  }
  const uint64_t end = e.first_pfn + e.pages;
  if (end > at) kernel_->FreeRun(at, (end - at) >> e.order, e.order);
}

void ModelGuestMemfd::Close() {
  if (closed_) return;
  filemap_.ForEach(0, pages(), [&](const FilemapExtent& e) {
    // Pieces of split folios go back whole, through their registry entry.
    if (IsHugetlb() && e.order != opts_.hstate_order) return;
    ReleaseRun(e);
  });
  for (const auto& [index, head] : split_) {
    if (RegistryEntry* e = kernel_->registry().Find(head)) e->owner = 0;
    kernel_->ReleaseOrphanIfUnpinned(head);
  }
  split_.clear();
  filemap_.Clear();
  mapped_ = IntervalSet();
  kernel_->UnregisterOwner(owner_id_);
  closed_ = true;
}

void ModelGuestMemfd::Fill(GuestMemfd* out) const {
  *out = GuestMemfd();
  out->token = opts_.token;
  out->inode = inode_;
  out->name = opts_.name;
  out->provenance = Provenance::kModel;
  out->kind = FileKind::kGuestMemfd;
  out->size = opts_.size;
  out->flags = opts_.flags;
  out->backing = opts_.backing;
  out->hstate_order = opts_.hstate_order;
  out->vm_token = opts_.vm_token;
  out->policy = policy_;
  out->attributes = attributes_;
  out->hashes = hashes_;
  // Emits folios, coalescing with the previous extent when it continues it,
  // so a capture is canonical whatever the filemap's internal carving.
  // Sub-folios of split huge folios are emitted one original folio at a time,
  // so every extent of them lies inside exactly one restructure record.
  const uint64_t hpages = uint64_t{1} << opts_.hstate_order;
  FolioList::Extents& folios_out = out->folios.Mutable();
  auto emit = [&](uint64_t index, uint64_t pfn, uint64_t folios, uint8_t order, uint8_t flags) {
    const bool piece = IsHugetlb() && order < opts_.hstate_order;
    while (folios > 0) {
      uint64_t limit = std::numeric_limits<uint32_t>::max();
      if (piece) limit = std::min(limit, (hpages - index % hpages) >> order);
      FolioExtent* last = folios_out.empty() ? nullptr : &folios_out.back();
      if (last != nullptr && !(piece && index % hpages == 0) && last->order == order &&
          last->flags == flags && last->end_index() == index &&
          last->first_pfn + last->pages() == pfn &&
          last->nr_folios < std::numeric_limits<uint32_t>::max()) {
        const uint64_t take = std::min<uint64_t>(
            {folios, limit, std::numeric_limits<uint32_t>::max() - last->nr_folios});
        last->nr_folios += static_cast<uint32_t>(take);
        index += take << order, pfn += take << order, folios -= take;
        continue;
      }
      const uint64_t take = std::min(folios, limit);
      folios_out.push_back(FolioExtent{index, pfn, static_cast<uint32_t>(take), order, flags});
      index += take << order, pfn += take << order, folios -= take;
    }
  };
  filemap_.ForEach(0, pages(), [&](const FilemapExtent& e) {
    const uint64_t fsize = uint64_t{1} << e.order;
    uint64_t at = e.first_index;  // next index not yet emitted
    kernel_->ForEachPoison(e.first_pfn, e.pages, [&](uint64_t pfn) {
      const uint64_t folio = e.first_index + AlignDown(pfn - e.first_pfn, fsize);
      if (folio < at) return;  // a second bad page in a folio already flagged
      emit(at, e.PfnOf(at), (folio - at) >> e.order, e.order, e.flags);
      emit(folio, e.PfnOf(folio), 1, e.order, e.flags | kFolioHwpoison);
      at = folio + fsize;
    });
    emit(at, e.PfnOf(at), (e.end_index() - at) >> e.order, e.order, e.flags);
  });
  for (const auto& [index, head] : split_) {
    const RegistryEntry* e = kernel_->registry().Find(head);
    if (e == nullptr) continue;
    RestructureRecord r = e->record;
    r.index = index;
    out->restructures.push_back(std::move(r));
  }
}

std::string ModelGuestMemfd::Describe() const {
  std::string backing = IsHugetlb() ? std::string("hugetlb ") +
                                          SizeText(uint64_t{kModelPageSize} << opts_.hstate_order)
                                    : std::string("buddy");
  return "MODEL guest_memfd '" + opts_.name + "' (" + SizeText(opts_.size) + ", " + backing + ")";
}

}  // namespace khod
