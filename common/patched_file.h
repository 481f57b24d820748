// A file written whole once, outside a blackout, and then made to hold other
// bytes by writing only the pages that differ, inside it.
//
// Why: Freeze's blob is written durably inside the blackout, and its bytes
// grow with the guest's PFN runs (24 an extent in an FDT). Prepare writes a
// draft of it (its own capture, encoded the same way); Freeze's blob of an
// unchanged guest differs from the draft in its header only, so the fsync
// writes back a page or two instead of the whole blob (docs/DESIGN.md "An
// unchanged file costs nothing per extent").
//
// Contract: the file is khod's (SafeDir::CreateNew: created afresh, no
// symlink followed) and nothing else writes it; what it holds is known from
// the bytes Create wrote, not read back. It is not held open between Create
// and Patch (a file open for writing would keep its filesystem from being
// remounted read-only), only by an O_PATH fd, which keeps its inode alive
// (no other file gets its number): Patch reopens that inode through it, and
// Patch and Rename refuse a name that no longer refers to it. Bytes changed
// behind khod's back in the same file stay changed where the new contents
// equal the old: readers check the blob's checksum (the session record's),
// so such a file is refused, never misread.
#ifndef KHOD_COMMON_PATCHED_FILE_H_
#define KHOD_COMMON_PATCHED_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/page_runs.h"
#include "common/safe_file.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

class PatchedFile {
 public:
  // The unit compared and written: a page of the page cache.
  static constexpr size_t kPageBytes = 4096;

  // `name` in `dir` created afresh with `data`, fsync'd and closed.
  static Result<PatchedFile> Create(const SafeDir& dir, std::string_view name,
                                    std::string_view data);

  // The kPageBytes pages of `data` that differ from what the file holds: from
  // what Create wrote until the first Patch, every page after it (what the
  // file holds is not kept: a copy of it would cost as much as the writes it
  // spares, inside the blackout).
  PageRuns Differing(std::string_view data) const;

  // Makes the file hold `data`: writes the pages `differing` names (the
  // caller's promise: Differing(data), or what another copy of the same
  // bytes was found to differ in), truncates it to data.size() and
  // fdatasyncs it. Returns the number of pages written.
  Result<uint64_t> Patch(std::string_view data, const PageRuns& differing);
  Result<uint64_t> Patch(std::string_view data) { return Patch(data, Differing(data)); }

  // Renames it within its directory (durable once the directory is synced);
  // FailedPrecondition when what was renamed is not the file Create made.
  Status Rename(std::string_view to);

  const std::string& name() const { return name_; }

  // Its copy of what Create wrote, moved out (Differing then names every
  // page): for a caller that frees it where freeing costs nothing, not
  // inside a blackout.
  std::string TakeCopy();

 private:
  // OK when `name` in dir_ is the file Create made (no symlink followed).
  Status StillNamed(const std::string& name) const;
  PatchedFile(SafeDir dir, std::string name, UniqueFd made)
      : dir_(std::move(dir)), name_(std::move(name)), made_(std::move(made)) {}

  SafeDir dir_;
  std::string name_;
  // O_PATH: the inode Create made, alive while held (no other file gets its number).
  UniqueFd made_;
  std::string holds_;  // the file's bytes as Create wrote them
  bool known_ = true;  // holds_ is what the file holds (until the first Patch)
};

}  // namespace khod

#endif  // KHOD_COMMON_PATCHED_FILE_H_
