#include "capture/pte_witness.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <limits>

#include "common/status_macros.h"
#include "common/unique_fd.h"

namespace khod {

namespace {
std::atomic<uint64_t> g_next_serial{1};
}  // namespace

Result<std::unique_ptr<PteWitness>> PteWitness::Start(const std::vector<File>& files) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  // A probe page first, of a shmem memfd (RssShmem): the witness rests on one
  // page unmapped showing in the keeper's count, which holds only where the
  // kernel sums every CPU's share of it when /proc/PID/status is read (Linux
  // 6.18 does; a kernel that reads the approximate count would hide up to a
  // batch of pages per CPU). Punched once the keeper is idle, it must show.
  UniqueFd probe(::memfd_create("khod-pte-probe", MFD_CLOEXEC));
  if (!probe.valid()) return Status::FromErrno("memfd_create(PTE keeper probe)", errno);
  const char one = 1;
  if (::pwrite(probe.get(), &one, 1, 0) != 1 ||
      ::ftruncate(probe.get(), static_cast<off_t>(page)) != 0)
    return Status::FromErrno("PTE keeper probe page", errno);
  std::vector<PteKeeperFile> kept = {PteKeeperFile{probe.get(), page, {{0, 1}}}};
  for (const File& f : files) kept.push_back(PteKeeperFile{f.fd, f.size, f.pages});
  std::unique_ptr<PteWitness> w(new PteWitness());
  KHOD_ASSIGN_OR_RETURN(w->keeper_, PteKeeper::Spawn(kept));
  KHOD_ASSIGN_OR_RETURN(PteKeeperState before, w->keeper_.State());
  if (::fallocate(probe.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                  static_cast<off_t>(page)) != 0)
    return Status::FromErrno("punch the PTE keeper probe page", errno);
  KHOD_ASSIGN_OR_RETURN(w->state_, w->keeper_.State());
  // Nothing else moved, and the probe's page fell (RssShmem is compared from
  // here on: pinned shmem guests' pages count there).
  PteKeeperState probe_gone = before;
  probe_gone.rss_shmem_kb = before.rss_shmem_kb - page / 1024;
  if (before.rss_shmem_kb < page / 1024 || w->state_ != probe_gone)
    return Status::Unsupported(
        "the PTE keeper's /proc/PID/status did not show its one probe page unmapped (RssShmem " +
        std::to_string(before.rss_shmem_kb) + " -> " + std::to_string(w->state_.rss_shmem_kb) +
        " kB): this kernel's counts are not exact enough for a witness");
  w->pages_mapped_ = w->keeper_.populated_pages() - 1;  // the probe's page was mapped: it fell
  for (size_t i = 0; i < files.size(); ++i) {
    const uint64_t pages = files[i].size / page;
    KHOD_ASSIGN_OR_RETURN(std::vector<PageSpan> absent, w->keeper_.NonPresent(i + 1, pages));
    // Past the file's end then: whatever is there now, the keeper never saw.
    absent.push_back(PageSpan{pages, std::numeric_limits<uint64_t>::max() / 2});
    w->unwitnessed_[{files[i].key.dev, files[i].key.inode}] = std::move(absent);
  }
  // The spans are the keeper's as the state says only if nothing moved it
  // while they were read.
  if (!w->Holds())
    return Status::Busy("PTE keeper pid " + std::to_string(w->pid()) +
                        " changed while its pages were read");
  w->serial_ = g_next_serial++;
  return w;
}

PteWitness::Description PteWitness::Describe() const {
  Description d;
  d.state = state_;
  for (const auto& [key, spans] : unwitnessed_)
    d.files.push_back({FileKey{key.first, key.second}, spans});
  return d;
}

std::unique_ptr<PteWitness> PteWitness::Adopt(PteKeeper keeper, std::optional<Description> d) {
  std::unique_ptr<PteWitness> w(new PteWitness());
  w->keeper_ = std::move(keeper);
  w->serial_ = g_next_serial++;
  w->described_ = d.has_value();
  w->covers_frozen_ = d.has_value();
  if (d) {
    w->state_ = d->state;
    for (FileSpans& f : d->files)
      w->unwitnessed_[{f.key.dev, f.key.inode}] = std::move(f.unwitnessed);
  }
  return w;
}

bool PteWitness::Holds() const {
  if (!described_) return false;
  const Result<PteKeeperState> now = keeper_.State();
  return now.ok() && *now == state_;
}

const std::vector<PageSpan>* PteWitness::Unwitnessed(FileKey key) const {
  auto it = unwitnessed_.find({key.dev, key.inode});
  return it == unwitnessed_.end() ? nullptr : &it->second;
}

}  // namespace khod
