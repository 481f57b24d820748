// libFuzzer target for DiffGmems (verify/snapshot_diff.h) against the page
// oracle of tests/verify/page_oracle.h: the input is the generator's choices,
// read a few bytes a choice (zeros past the end), which make one random file
// (buddy or HugeTLB, with visibility ranges, PFNs seen or not, hashes,
// attributes) and the same after up to four random mutations (punch, new
// pages, PFN moved, flags, HugeTLB split and merge, visibility narrowed or
// widened, hashes recut, changed, dropped or made again, PFNs unseen, a
// capture without CAP_SYS_ADMIN, growth, attributes, extents cut otherwise),
// either side the expected one, and the diff's options.
// Oracle: both files pass CheckGmem (the generator's own rule); DiffGmems'
// counts, every page range it lists (size, folios, attributes, contents) and
// the pages its not-verified parts name are the oracle's, page for page, and
// DiffSnapshots of the one-file snapshots says the same. A violation prints
// both files and every disagreement, then aborts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz/oracle.h"
#include "tests/verify/page_oracle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  khod::page_oracle::Choices choices(data, size);
  const khod::page_oracle::Case c = khod::page_oracle::RandomCase(choices);
  const std::vector<std::string> bad = khod::page_oracle::CheckCase(c);
  if (!bad.empty()) {
    std::fprintf(stderr, "%s", khod::page_oracle::Report(c, bad).c_str());
    khod::OracleFail("snapshot diff", "DiffGmems departs from the page oracle", bad[0]);
  }
  return 0;
}
