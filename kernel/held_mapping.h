// HeldMapping: another process's MAP_SHARED mapping of the same memory file,
// whose page table entries this process reads through /proc/PID/pagemap.
//
// Why: a reexec handover leaves the old khod's populated mappings in a
// holder process (kernel/mapping_holder.h). For a shared file mapping the
// kernel keeps every PTE pointing at the file's current folio (migration
// rewrites them, truncation and hole punching zap them), so an entry present
// there is the PFN of that file page now, exactly what populating a mapping of
// our own and reading /proc/self/pagemap would give - without populating the
// whole file again while the guests wait (docs/PERFORMANCE.md has the cost).
// An entry absent there says nothing (the page may be new): the caller falls
// back to its own mapping for those pages.
#ifndef KHOD_KERNEL_HELD_MAPPING_H_
#define KHOD_KERNEL_HELD_MAPPING_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

class HeldMapping {
 public:
  // Finds, in /proc/PID/maps, a shared mapping of the file `fd` is open on
  // (same device and inode), from file offset 0, at least `size` bytes long.
  // NotFound when the process maps no such range (the caller then populates
  // its own mapping); an error reading /proc/PID is returned as it is.
  static Result<HeldMapping> Find(pid_t pid, int fd, uint64_t size);

  // Process `pid`'s mappings do not change until ForgetFixedMappings(pid):
  // the reexec's mapping holder runs no code, and while it is this process's
  // unreaped child its pid names no other process (kernel/mapping_holder.h
  // registers it). Find then reads its /proc/PID/maps once for all files
  // instead of once per file: the holder keeps the old khod's address space,
  // hundreds of lines, and a new khod with a hundred files read them a
  // hundred times inside the blackout. Its /proc/PID/pagemap is opened once
  // too, shared by the mappings found there (one fd, not one per file).
  // Safe to call from any thread.
  static void FixedMappings(pid_t pid);
  static void ForgetFixedMappings(pid_t pid);
  // How many times Find has read a /proc/PID/maps (for tests and figures).
  static uint64_t maps_reads();

  // The pagemap entries of file pages [first, first + n), one pread.
  Status Read(uint64_t first, size_t n, uint64_t* out) const;

  pid_t pid() const { return pid_; }
  uint64_t address() const { return address_; }
  int pagemap_fd() const { return pagemap_->get(); }  // /proc/PID/pagemap
  std::string Describe() const;                       // "pid 1234's mapping at 0x7f..."

 private:
  HeldMapping(pid_t pid, uint64_t address, std::shared_ptr<const UniqueFd> pagemap)
      : pid_(pid), address_(address), pagemap_(std::move(pagemap)) {}
  pid_t pid_;
  uint64_t address_;
  // Shared by every mapping found in a registered (fixed) process.
  std::shared_ptr<const UniqueFd> pagemap_;
};

}  // namespace khod

#endif  // KHOD_KERNEL_HELD_MAPPING_H_
