// PteWitness: a PteKeeper (kernel/pte_keeper.h) over a session's guest_memfds
// and the state it went idle in. While that state holds, every page the
// keeper mapped then is mapped there still: no punch, truncation or reclaim
// unmapped it in between. guest_memfd folios cannot move (change_scan.h), so
// such a page is the same folio at the same PFN as at any capture made since
// the witness started, and a change scan need not walk its page table entry:
// the walk is left for the pages the keeper does not map (Unwitnessed), the
// holes of the file when it started and pages it could not populate.
//
// A capture uses the witness only where (docs/DESIGN.md "A witness instead of
// a walk"):
//  - the file is a guest_memfd, or a shmem memfd whose pages khod pins at the
//    baseline's PFNs (kernel/page_pin.h; memory that moves keeps its PTEs
//    present at a new PFN, and RssShmem counts the keeper's shmem pages as
//    RssFile counts its guest_memfd pages);
//  - its baseline was captured after the witness started (a capture round
//    passes the witness to its files only when it held before any page, and
//    the file keeps the witness's serial with its baseline);
//  - the witness held before the round read any page, and holds after all of
//    them: capture/snapshot_assembly.h captures the round again without it
//    otherwise.
#ifndef KHOD_CAPTURE_PTE_WITNESS_H_
#define KHOD_CAPTURE_PTE_WITNESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kernel/file_mappings.h"
#include "kernel/pagemap_scan.h"
#include "kernel/pte_keeper.h"

namespace khod {

class PteWitness {
 public:
  struct File {
    FileKey key;
    int fd = -1;  // borrowed while Start runs
    uint64_t size = 0;
    std::vector<PageSpan> pages;  // to map in the keeper: the pages the capture found
  };

  // Starts a keeper over `files`, reads its state and the pages of each file
  // it does not map; Busy if the keeper's state moved while they were read.
  static Result<std::unique_ptr<PteWitness>> Start(const std::vector<File>& files);

  // What the witness knows, as a reexec hands it on (daemon/pte_witness_handoff.h).
  struct FileSpans {
    FileKey key;
    std::vector<PageSpan> unwitnessed;
  };
  struct Description {
    PteKeeperState state;
    std::vector<FileSpans> files;
  };
  Description Describe() const;
  // New side of a reexec: the previous khod's keeper, adopted, and what its
  // witness knew. Such a witness stands for the frozen capture (Freeze's,
  // made after the witness started: covers_frozen). Without a description
  // the keeper is only held: the witness never holds.
  static std::unique_ptr<PteWitness> Adopt(PteKeeper keeper, std::optional<Description> d);
  bool covers_frozen() const { return covers_frozen_; }

  // Whether the keeper is in the state it started in (one /proc read).
  bool Holds() const;
  // The pages of [0, total) of `key` the witness says nothing of, sorted;
  // nullptr when `key` is not one of its files. Pages past the file's size
  // when the witness started are among them.
  const std::vector<PageSpan>* Unwitnessed(FileKey key) const;
  // Tells witnesses apart (a baseline keeps the serial of the one it was
  // captured under); never 0.
  uint64_t serial() const { return serial_; }
  pid_t pid() const { return keeper_.pid(); }
  const PteKeeper& keeper() const { return keeper_; }
  // Pages of the files the keeper mapped (its probe page not counted).
  uint64_t pages_mapped() const { return pages_mapped_; }

 private:
  PteWitness() = default;
  PteKeeper keeper_;
  PteKeeperState state_;
  uint64_t serial_ = 0;
  uint64_t pages_mapped_ = 0;
  bool described_ = true;       // false: an adopted keeper with no description
  bool covers_frozen_ = false;  // adopted with a description
  std::map<std::pair<uint64_t, uint64_t>, std::vector<PageSpan>> unwitnessed_;
};

}  // namespace khod

#endif  // KHOD_CAPTURE_PTE_WITNESS_H_
