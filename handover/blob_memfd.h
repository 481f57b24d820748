// BlobMemfd: a memfd that carries a blob to the next khod (the reexec
// transport's medium). Written, possibly overwritten in place, then sealed
// against writes, growth and shrinking before it is handed over: nothing in
// between can alter what the new khod reads, and the new khod maps it
// read-only (ReexecTransport::Receive).
//
// Why it can be written before the blackout: Prepare writes the draft of
// Freeze's blob into one (the same bytes as the draft in the state dir), and
// Freeze overwrites only the pages in which its blob differs
// (common/page_runs.h), instead of copying every page of the blob into a new
// memfd inside the blackout.
//
// Contract: the memfd is this process's alone (close-on-exec, never passed
// on unsealed), so what it holds is what was written to it. An overwrite
// whose runs are not where the bytes differ leaves a blob the new khod
// refuses (its FDT checksum and the session record's), never misreads.
#ifndef KHOD_HANDOVER_BLOB_MEMFD_H_
#define KHOD_HANDOVER_BLOB_MEMFD_H_

#include <cstddef>
#include <string_view>

#include "common/page_runs.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

class BlobMemfd {
 public:
  // The memfd's name, as /proc/PID/fd shows it.
  static constexpr char kName[] = "khod-handover-blob";

  // A new memfd (close-on-exec, sealing allowed) holding `bytes`.
  static Result<BlobMemfd> Create(std::string_view bytes);

  // Makes it hold `bytes`: writes the runs of `differing` (the pages in which
  // `bytes` differ from what it holds, the caller's promise) and truncates it
  // to bytes.size().
  Status Overwrite(std::string_view bytes, const PageRuns& differing);

  // Seals it (no write, grow, shrink or further seal) and gives its fd up.
  Result<UniqueFd> Seal() &&;

  size_t size() const { return size_; }

 private:
  BlobMemfd(UniqueFd fd, size_t size) : fd_(std::move(fd)), size_(size) {}
  UniqueFd fd_;
  size_t size_ = 0;
};

}  // namespace khod

#endif  // KHOD_HANDOVER_BLOB_MEMFD_H_
