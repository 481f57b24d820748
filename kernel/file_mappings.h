// The mappings one process has of one memory file, with the NUMA policy each
// follows: /proc/PID/maps (which file, at which offset) joined with the policy
// numa_maps shows for each, read from the VMAs (kernel/vma_policy_iter.h:
// same range, file and offset) or from /proc/PID/numa_maps (same start). On Linux 6.18 a
// guest_memfd has no shared policy, so this is where its policy lives
// (state/snapshot.h, PolicySource::kVmmMappings); such a mapping's PTEs are
// also where a VMM's use of INIT_SHARED memory shows.
#ifndef KHOD_KERNEL_FILE_MAPPINGS_H_
#define KHOD_KERNEL_FILE_MAPPINGS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "kernel/memory_facts.h"
#include "kernel/proc_maps.h"
#include "kernel/vma_policy_iter.h"

namespace khod {

struct FileMapping {
  uint64_t start = 0, end = 0;  // [start, end) in the process
  uint64_t first_index = 0;     // the file page mapped at `start`
  uint64_t count = 0;           // pages
  bool shared = false;          // MAP_SHARED
  Mempolicy policy;             // as numa_maps shows it
};

// Which file: st_dev (as makedev(major, minor) in maps) and st_ino.
struct FileKey {
  uint64_t dev = 0;
  uint64_t inode = 0;
};

// Whether /proc/PID/maps names a mapping of the file by the inode its VMA
// holds. maps prints the VMA's file's user inode (file_user_inode): another
// inode than the VMA's own only for a backing file, which overlayfs and FUSE
// passthrough map in place of their own file, maps then naming theirs.
enum class FileNaming {
  // The file may be such an overlayfs or FUSE file: a VMA read that does not
  // show it says nothing of it, and maps is read.
  kMaybeAnotherInode,
  // The file's VMAs hold the file itself, as a memfd's (shmem or HugeTLB), a
  // hugetlbfs file's and a guest_memfd's always do (none is an overlayfs or
  // FUSE file): where a consistent read of the VMAs (a VmaPolicyReader's)
  // shows no mapping of it, it is not mapped, and maps is not read. Only for
  // such a file: of another it would be a guess.
  kItsOwnInode,
};

// One process's maps text and policies, parsed once: the file-backed mappings
// by file, and the policy of each (from its VMA, else its numa_maps line) by
// start address.
// A capture round asks it for each of the process's files (a VMM with a
// hundred files is parsed once, not a hundred times). Parse refuses a
// malformed maps line; a malformed numa_maps line, or a mapping that is not
// page aligned, is an error only for the files it concerns, as when each
// file was joined from the texts on its own.
class ProcessMappings {
 public:
  static Result<ProcessMappings> Parse(std::string_view maps, std::string_view numa_maps);
  // Parse in two steps: the maps text, then (once a file of interest is
  // seen mapped) the numa_maps text read after it.
  static Result<ProcessMappings> ParseMaps(std::string_view maps);
  // ParseMaps a line at a time, the text never held whole: the line's error
  // as ParseMaps says it, after which the parse is not to be used.
  Status AddMapsLine(std::string_view line);
  // The mappings one consistent read of every VMA gave (a VmaPolicyReader's
  // whole answer), without a maps text: each file VMA is a line (its range,
  // vm_pgoff and VM_MAYSHARE are what maps prints), with its policy where the
  // VMA answered it and none where its vm_ops decide (numa_maps is to say).
  // Exact for the files it shows; of a file it does not show it says
  // nothing (maps names a file by the inode users see, and an overlayfs
  // file's VMAs hold the backing file, of another inode) but for one whose
  // VMAs hold the file itself (FileNaming::kItsOwnInode): not mapped.
  static ProcessMappings FromVmas(const std::vector<VmaPolicy>& vmas);
  void AddNumaMaps(std::string_view numa_maps);
  // AddNumaMaps a line at a time (after the maps lines); a malformed line
  // ends what numa_maps gives (the files it concerns answer its error, Of).
  void AddNumaMapsLine(std::string_view line);
  // The policies read from the VMAs themselves (a VmaPolicyReader), read
  // after the maps text: each answered VMA gives its policy to the maps line
  // with the same range, file and offset. A VMA that is not answered (its policy is
  // its vm_ops' own, as shmem's) gives none, and numa_maps is to say. A VMA
  // of a file the maps text shows that matches none of its lines is a
  // mapping made since: that file's mappings changed.
  void AddVmaPolicies(const std::vector<VmaPolicy>& vmas);
  // What the VMAs gave the mappings of `file`: a policy for each (kAll); for
  // some none but the same mapping unanswered (kNumaMapsNeeded); or a mapping
  // with no VMA of the same range, file and offset, or a VMA of the file with
  // no mapping: it changed since the maps text was read (kChanged: read both
  // again).
  enum class VmaAnswers { kAll, kNumaMapsNeeded, kChanged };
  VmaAnswers VmaAnswersFor(FileKey file) const;
  // The mappings of `file`, in maps order, each with its policy (its VMA's,
  // else the numa_maps line's at the same start). InvalidArgument naming the
  // line when one is malformed; NotFound when a mapping of the file has no
  // policy (the mappings changed between the reads); Unsupported
  // when the policy numa_maps printed for one may have been cut
  // (kernel/numa_maps.h): that file's policy is not known.
  // Pages are `page_size` bytes.
  Result<std::vector<FileMapping>> Of(FileKey file, uint64_t page_size) const;
  // Whether a line of maps is a mapping of `file`.
  bool Maps(FileKey file) const { return by_file_.count({file.dev, file.inode}) > 0; }
  // numa_maps names no file and no end, so its policies are joined by start
  // alone: given the maps text read after numa_maps, the files whose
  // mappings differ in it (another range, offset or count) lose the policies
  // numa_maps gave them, and Of says NotFound for them (read again). A file
  // whose mappings read the same before and after keeps them: a mapping
  // changed and changed back between the reads is the one case this misses
  // (the VMA iterator's reads are checked by mm_lock_seq instead).
  void KeepNumaMapsPoliciesUnchangedIn(const ProcessMappings& after);

 private:
  struct Line {
    uint64_t start, end, offset;
    bool shared;
    bool operator==(const Line& o) const {
      return start == o.start && end == o.end && offset == o.offset && shared == o.shared;
    }
  };
  std::map<std::pair<uint64_t, uint64_t>, std::vector<Line>> by_file_;  // (dev, inode)
  std::map<uint64_t, Mempolicy> policy_at_;
  // numa_maps lines whose policy the kernel may have cut (kernel/numa_maps.h),
  // by start address: the policy of that mapping is not known.
  std::map<uint64_t, std::string> cut_at_;
  // Mappings whose VMA the reader read but left to numa_maps, by start.
  std::set<uint64_t> unanswered_at_;
  // Files with a VMA the reader read that no maps line matches: (dev, inode).
  std::set<std::pair<uint64_t, uint64_t>> vma_without_line_;
  // Starts whose policy came from a VMA (never dropped by the maps re-read).
  std::set<uint64_t> from_vma_at_;
  Status numa_status_;  // a malformed numa_maps line
};

// ProcessMappings::Parse(maps, numa_maps).Of(file, page_size).
Result<std::vector<FileMapping>> JoinFileMappings(std::string_view maps, std::string_view numa_maps,
                                                  FileKey file, uint64_t page_size);

// Reads /proc/PID/maps and the policies (ProcessMappingsCache) and joins them,
// reading both again (a few times) while a mapping changes between the reads.
// Unsupported when numa_maps is missing (a kernel without CONFIG_NUMA).
Result<std::vector<FileMapping>> ReadFileMappings(
    pid_t pid, FileKey file, uint64_t page_size,
    FileNaming naming = FileNaming::kMaybeAnotherInode);

// ReadFileMappings for many files of few processes: each process's maps and
// numa_maps are read and parsed once (ProcessMappings) for all of its files. Reading numa_maps
// walks the page tables of every mapping of the process (the kernel counts
// pages per node), O(pages it maps): a VMM with G files costs one walk
// instead of G, and a process with no mapping of the file asked for costs
// none (its maps alone say so; numa_maps is read when a file it maps is
// asked for, with its maps again: the answers for that process's files then
// come from that later read). On a kernel without CONFIG_NUMA a file no
// process maps is answered (no mappings) rather than Unsupported. The texts
// are re-read when a file's mapping is missing from them (it changed since). Safe to share between
// threads: threads asking for different processes read their texts at once, those asking for the
// same one wait for the one reading it.
//
// The policies come from the VMAs themselves where khod can read them
// (kernel/vma_policy_iter.h: the same kernel objects numa_maps prints, read
// in O(mappings) instead of O(pages)). One read of them answers alone for a
// file it shows with a policy in each of its VMAs: the mappings with their
// policies, no maps text (ProcessMappings::FromVmas), and so does it for a
// file it does not show whose VMAs hold the file itself
// (FileNaming::kItsOwnInode): it is not mapped. For another file it does not
// show (maps may name it by another inode), one with a mapping whose policy
// its vm_ops decide, or where the iterator is not loaded or fails, maps and
// numa_maps are read as above (numa_maps only when maps shows the file), the
// VMAs read again after maps giving what they answer and numa_maps the rest;
// on the last of kReadAttempts reads where the VMAs still disagree with maps
// (a mapping that keeps changing, or a file maps shows by another inode),
// numa_maps gives them all.
//
// A VMM chooses how long its texts are: each line of maps and numa_maps
// names the mapped file's path (4 KiB and more), and a VMM may map a file
// tens of thousands of times (vm.max_map_count). So the texts are read line
// by line, through a buffer of fixed size (ForEachProcTextLine), never whole,
// and what is kept is each file mapping's range, offset and policy: memory
// grows with the mappings, never with the paths. Their reading still costs
// what the kernel takes to write them, which kItsOwnInode spares a VMM's
// guest memory files where the iterator reads.
class ProcessMappingsCache {
 public:
  // How many times Get reads a process's texts while a mapping of the file
  // changes between them. On the last, a mapping the VMAs do not give a
  // policy (kChanged) is joined with numa_maps by start, as without a reader,
  // and kept only if maps reads the same after it
  // (ProcessMappings::KeepNumaMapsPoliciesUnchangedIn).
  static constexpr int kReadAttempts = 4;

  // Asks the process-wide iterator, loaded by the first Get
  // (SharedVmaPolicyIterator), before maps and numa_maps.
  ProcessMappingsCache() = default;
  // `reader`: the VMA reader asked before numa_maps (a test's fake, or an
  // iterator of its own); nullptr: numa_maps only. It outlives the cache.
  explicit ProcessMappingsCache(const VmaPolicyReader* reader)
      : reader_(reader), shared_iterator_(false) {}
  // The mappings of `file` in process `pid`, as ReadFileMappings says.
  // NotFound naming /proc/PID when the process is gone: its maps, or the
  // reader, say so (numa_maps is then not read). Unsupported when its maps
  // text is empty (an exited process, or one whose main thread exited):
  // what it maps is not known, never "nothing". NotFound too when its
  // mappings of `file` changed at every read. `naming`: whether a VMA read
  // that does not show the file answers that it is not mapped (FileNaming).
  Result<std::vector<FileMapping>> Get(pid_t pid, FileKey file, uint64_t page_size,
                                       FileNaming naming = FileNaming::kMaybeAnotherInode);
  // Reads of a process's maps text, each retry one (for tests and figures):
  // none where the VMA reader's read alone answered.
  int reads() const { return reads_; }
  // Reads of numa_maps: a process with no mapping of the file asked for has
  // its maps read only (numa_maps walks the pages of every one of its
  // mappings, and would add nothing).
  int numa_reads() const { return numa_reads_; }
  // Reads whose policies the VMA reader gave (numa_maps not read).
  int iterator_reads() const { return iterator_reads_; }
  // The most bytes of a maps or numa_maps text held at once by any read:
  // a read's buffer (kProcTextReadBytes at most), however long the text.
  uint64_t largest_text_held() const { return largest_text_held_; }
  // Processes whose mappings' policies some Get read through numa_maps (a
  // walk of every page they map), and those whose policies their VMAs alone
  // gave: each process in one of the two (what a capture round reports).
  int processes_through_numa_maps() const;
  int processes_from_vmas_only() const;
  // Test hook, set before any Get: runs on each read between the maps text
  // and numa_maps, the moment a mapping that changes makes numa_maps' join
  // by start wrong.
  void SetBeforeNumaMapsForTest(std::function<void()> hook) { before_numa_maps_ = std::move(hook); }

 private:
  struct Process {
    std::mutex mu;                          // held while its texts are read and parsed, or asked
    std::optional<ProcessMappings> parsed;  // unset: not read yet, or to read again
    bool with_policies = false;             // with its mappings' policies (else maps only)
    // Read from the VMAs alone: a file they do not show is asked of maps,
    // which names a file by the inode users see (an overlayfs one's differs),
    // unless its VMAs hold the file itself (FileNaming::kItsOwnInode).
    bool vmas_only = false;
  };
  // One line-by-line read of `pid`'s maps into *parsed (its first malformed
  // line's error in *parse_error, the rest of the text then not parsed).
  Result<ProcTextRead> ReadMaps(pid_t pid, ProcessMappings* parsed, Status* parse_error);
  // Counts what a read held (largest_text_held).
  void Held(const ProcTextRead& read);
  // `file` answered from `parsed`, whose policies the VMA reader gave for it, kept as
  // `process`'s reading (process->mu held; `vmas_only`: read without a maps text) and
  // counted.
  Result<std::vector<FileMapping>> AnsweredByVmas(pid_t pid, Process* process,
                                                  ProcessMappings parsed, bool vmas_only,
                                                  FileKey file, uint64_t page_size);
  const VmaPolicyReader* Reader() const {
    return shared_iterator_ ? SharedVmaPolicyIterator() : reader_;
  }
  const VmaPolicyReader* const reader_ = nullptr;
  const bool shared_iterator_ = true;
  mutable std::mutex mu_;  // guards processes_ itself, and the pid sets
  std::map<pid_t, std::unique_ptr<Process>> processes_;
  std::atomic<int> reads_{0}, numa_reads_{0}, iterator_reads_{0};
  std::atomic<uint64_t> largest_text_held_{0};
  std::set<pid_t> numa_pids_, vma_pids_;  // guarded by mu_
  std::function<void()> before_numa_maps_;
};

}  // namespace khod

#endif  // KHOD_KERNEL_FILE_MAPPINGS_H_
