#include "capture/content_hash.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "common/status_macros.h"
#include "common/thread_shares.h"
#include "common/xxh3.h"
#include "kernel/residency.h"
#include "kernel/sigbus_guard.h"

namespace khod {

namespace {

constexpr size_t kHashChunk = 1 << 20;

// After the read of a guest_memfd extent: every page still mapped at the PFN
// the capture recorded, `pm` its pages' pagemap entries.
Status CheckStillMapped(const HashSource& src, const FolioExtent& e, const uint64_t* pm) {
  for (uint64_t i = 0; i < e.pages(); ++i) {
    const bool moved = e.first_pfn != kPfnUnknown && PagemapPfn(pm[i]) != 0 &&
                       PagemapPfn(pm[i]) != e.first_pfn + i;
    if (!PagemapPresent(pm[i]) || moved)
      return Status::Busy(src.describe + ": page " + std::to_string(e.first_index + i) +
                          " changed while its contents were hashed (punched or moved): capture "
                          "again with the guests paused");
  }
  return Status::Ok();
}

Status RecheckHashedExtent(const HashSource& src, const FolioExtent& e) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  std::vector<uint64_t> pm(static_cast<size_t>(e.pages()));
  KHOD_RETURN_IF_ERROR(
      src.frames->ReadPagemap(src.base + e.first_index * page, pm.size(), pm.data()));
  return CheckStillMapped(src, e, pm.data());
}

// The hash of pages [first, end) through the mapping: the populate before it
// mapped them, but their owner can punch, convert or truncate before the
// load, which then raises SIGBUS (kernel/sigbus_guard.h).
Status HashCatchingSigbus(const HashSource& src, uint64_t first, uint64_t end,
                          const std::function<void()>& hash) {
  Status read = ReadCatchingSigbus(src.describe, hash);
  if (read.ok()) return read;
  return Status::Busy(read.message() + ": pages " + std::to_string(first) + ".." +
                      std::to_string(end - 1) +
                      " changed while their contents were hashed: capture again with the "
                      "guests paused");
}

// guest_memfd, one extent through the mapping: populated, hashed, then
// checked page by page against the PFNs the capture recorded.
Status HashMappedExtent(const HashSource& src, const FolioExtent& e, uint64_t* h) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t offset = e.first_index * page, bytes = e.pages() * page;
  // One populate maps the extent's existing pages in a batch, where the
  // read alone would fault them in one at a time (a fresh mapping after a
  // reexec maps none). A page turned private meanwhile fails it instead of
  // raising SIGBUS in the read.
  Status mapped = PopulateRead(const_cast<uint8_t*>(src.base + offset), bytes);
  if (mapped.code() == Status::Code::kFailedPrecondition)
    return Status::Busy(src.describe + ": pages " + std::to_string(e.first_index) + ".." +
                        std::to_string(e.end_index() - 1) +
                        " became private while their contents were hashed: capture again "
                        "with the guests paused");
  KHOD_RETURN_IF_ERROR(mapped);
  KHOD_RETURN_IF_ERROR(HashCatchingSigbus(src, e.first_index, e.end_index(),
                                          [&] { *h = Xxh3(src.base + offset, bytes); }));
  return RecheckHashedExtent(src, e);
}

// A memfd's extent, read with pread into `buf` a piece at a time.
Status HashReadExtent(const HashSource& src, const FolioExtent& e, std::vector<uint8_t>* buf,
                      Xxh3Stream* stream, uint64_t* h) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  const uint64_t offset = e.first_index * page, bytes = e.pages() * page;
  stream->Reset();
  buf->resize(kHashChunk);
  for (uint64_t done = 0; done < bytes;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kHashChunk, bytes - done));
    ssize_t n = ::pread(src.fd, buf->data(), want, static_cast<off_t>(offset + done));
    if (n <= 0) return Status::FromErrno("pread for hash of " + src.describe, n < 0 ? errno : EIO);
    stream->Update(buf->data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
  }
  *h = stream->Digest();
  return Status::Ok();
}

// Through the mapping (guest_memfd), the readable extents of [begin, end) in
// batches of extents that follow each other in the file, up to kBatchPages
// (or one larger extent): one populate and one pagemap read a batch, each
// extent hashed and then checked against it. A batch stops at a hole, which
// is never populated. One that will not populate (a page turned private
// since the capture) is hashed again extent by extent, whose error names the
// pages. A page punched since the capture populates as a new zeroed page
// (nothing guards a guest_memfd mapping): the PFN check after the hash
// refuses it (CheckStillMapped).
constexpr uint64_t kBatchPages = 16384;

Status HashThroughMapping(const HashSource& src, const FolioList& ext,
                          const std::vector<bool>& readable, size_t begin, size_t end,
                          std::vector<uint64_t>* hashes) {
  const uint64_t page = static_cast<uint64_t>(getpagesize());
  std::vector<uint64_t> pm;
  for (size_t i = begin; i < end;) {
    if (!readable[i]) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    uint64_t pages = ext[i].pages();
    while (j < end && readable[j] && ext[j].first_index == ext[j - 1].end_index() &&
           pages + ext[j].pages() <= kBatchPages)
      pages += ext[j++].pages();
    const uint64_t first = ext[i].first_index;
    uint8_t* at = const_cast<uint8_t*>(src.base + first * page);
    if (!PopulateRead(at, pages * page).ok()) {
      for (size_t k = i; k < j; ++k)
        KHOD_RETURN_IF_ERROR(HashMappedExtent(src, ext[k], &(*hashes)[k]));
      i = j;
      continue;
    }
    KHOD_RETURN_IF_ERROR(HashCatchingSigbus(src, first, ext[j - 1].end_index(), [&] {
      for (size_t k = i; k < j; ++k)
        (*hashes)[k] = Xxh3(src.base + ext[k].first_index * page, ext[k].pages() * page);
    }));
    pm.resize(static_cast<size_t>(pages));
    KHOD_RETURN_IF_ERROR(src.frames->ReadPagemap(at, pm.size(), pm.data()));
    for (size_t k = i; k < j; ++k)
      KHOD_RETURN_IF_ERROR(CheckStillMapped(src, ext[k], pm.data() + (ext[k].first_index - first)));
    i = j;
  }
  return Status::Ok();
}

}  // namespace

Status HashExtents(const HashSource& src, const FolioExtentBuilder& b, int threads,
                   GuestMemfd* out) {
  const FolioList& ext = b.extents();
  const std::vector<bool>& readable = b.readable_shared();
  std::vector<uint64_t> hashes(ext.size()), pages(ext.size());
  for (size_t i = 0; i < ext.size(); ++i) pages[i] = readable[i] ? ext[i].pages() : 0;
  const std::vector<size_t> cuts = BalancedCuts(pages, threads);
  KHOD_RETURN_IF_ERROR(RunShares(threads, [&](int t) -> Status {
    if (src.through_mapping)
      return HashThroughMapping(src, ext, readable, cuts[t], cuts[t + 1], &hashes);
    std::vector<uint8_t> buf;
    Xxh3Stream stream;
    for (size_t i = cuts[t]; i < cuts[t + 1]; ++i)
      if (readable[i]) KHOD_RETURN_IF_ERROR(HashReadExtent(src, ext[i], &buf, &stream, &hashes[i]));
    return Status::Ok();
  }));
  for (size_t i = 0; i < ext.size(); ++i)
    if (readable[i])  // private or unmapped: never read
      out->hashes.push_back(ContentHash{ext[i].first_index, ext[i].pages(), hashes[i]});
  return Status::Ok();
}

}  // namespace khod
