// The floor of a content proof for the benches: every byte of a guest memory
// file read once, a plain read (64-bit words summed) against XXH3 of the same
// bytes, on 1 thread and on many, each thread over an equal share.
#ifndef KHOD_BENCH_CONTENT_FLOOR_H_
#define KHOD_BENCH_CONTENT_FLOOR_H_

#include <cstdint>
#include <optional>

namespace khod {

// What reading the whole file once cost, in ms. The reads and hashes go
// through a mapping populated beforehand so that neither pays page faults
// (khod hashes through a mapping it holds).
struct ContentCost {
  int threads = 1;
  double read_1_ms = 0, hash_1_ms = 0, read_n_ms = 0, hash_n_ms = 0;
  // A plain read through a fresh mapping, its page faults included: what a
  // khod that has not held a mapping since before pays on top.
  double fresh_read_n_ms = 0;
  // mmap(MAP_POPULATE) of the whole file: a fresh mapping's page table filled
  // in one call instead of one fault per page.
  double populate_ms = 0;
};

// Measures the `bytes` of `memfd` (every page already written) on 1 thread
// and on `threads`; nullopt when the file cannot be mapped.
std::optional<ContentCost> MeasureContentCost(int memfd, uint64_t bytes, int threads);

}  // namespace khod

#endif  // KHOD_BENCH_CONTENT_FLOOR_H_
