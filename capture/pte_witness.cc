#include "capture/pte_witness.h"

#include <unistd.h>

#include <atomic>
#include <limits>

#include "common/status_macros.h"

namespace khod {

namespace {
std::atomic<uint64_t> g_next_serial{1};
}  // namespace

Result<std::unique_ptr<PteWitness>> PteWitness::Start(const std::vector<File>& files) {
  const uint64_t page = static_cast<uint64_t>(::getpagesize());
  std::vector<PteKeeperFile> kept;
  for (const File& f : files) kept.push_back(PteKeeperFile{f.fd, f.size, f.pages});
  std::unique_ptr<PteWitness> w(new PteWitness());
  KHOD_ASSIGN_OR_RETURN(w->keeper_, PteKeeper::Spawn(kept));
  KHOD_ASSIGN_OR_RETURN(w->state_, w->keeper_.State());
  for (size_t i = 0; i < files.size(); ++i) {
    const uint64_t pages = files[i].size / page;
    KHOD_ASSIGN_OR_RETURN(std::vector<PageSpan> absent, w->keeper_.NonPresent(i, pages));
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
