// The mappings one process has of one memory file, with the NUMA policy each
// follows: /proc/PID/maps (which file, at which offset) joined by start
// address with /proc/PID/numa_maps (which policy). On Linux 6.18 a
// guest_memfd has no shared policy, so this is where its policy lives
// (state/snapshot.h, PolicySource::kVmmMappings); such a mapping's PTEs are
// also where a VMM's use of INIT_SHARED memory shows.
#ifndef KHOD_KERNEL_FILE_MAPPINGS_H_
#define KHOD_KERNEL_FILE_MAPPINGS_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kernel/memory_facts.h"

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

// The mappings of `file` in `maps`, in maps order, each with the policy of
// the numa_maps line starting at the same address. InvalidArgument naming the
// line when a line is malformed; NotFound when a mapping of the file has no
// numa_maps line (the mappings changed between the two reads).
Result<std::vector<FileMapping>> JoinFileMappings(std::string_view maps, std::string_view numa_maps,
                                                  FileKey file, uint64_t page_size);

// Reads /proc/PID/maps and /proc/PID/numa_maps (bounded) and joins them,
// reading both again (a few times) while a mapping changes between the reads.
// Unsupported when numa_maps is missing (a kernel without CONFIG_NUMA).
Result<std::vector<FileMapping>> ReadFileMappings(pid_t pid, FileKey file, uint64_t page_size);

// ReadFileMappings for many files of few processes: each process's maps and
// numa_maps are read once and joined for each of its files. Reading numa_maps
// walks the page tables of every mapping of the process (the kernel counts
// pages per node), O(pages it maps): a VMM with G files costs one walk
// instead of G. The texts are re-read when a file's mapping is missing from
// them (it changed since). Safe to share between threads: threads asking for
// different processes read their texts at once, those asking for the same
// one wait for the one reading it.
class ProcessMappingsCache {
 public:
  Result<std::vector<FileMapping>> Get(pid_t pid, FileKey file, uint64_t page_size);
  // Processes whose texts were read (for tests and figures).
  int reads() const { return reads_; }

 private:
  struct Texts {
    std::mutex mu;  // held while the texts are read or joined
    bool read = false;
    std::string maps, numa_maps;
  };
  std::mutex mu_;  // guards texts_ itself
  std::map<pid_t, std::unique_ptr<Texts>> texts_;
  std::atomic<int> reads_{0};
};

}  // namespace khod

#endif  // KHOD_KERNEL_FILE_MAPPINGS_H_
