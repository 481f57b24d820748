#include "common/page_runs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/atomic_file.h"

namespace khod {

uint64_t PageRuns::pages(size_t page_bytes) const {
  uint64_t n = 0;
  for (const PageRun& r : runs) n += (r.end - r.begin + page_bytes - 1) / page_bytes;
  return n;
}

PageRuns DifferingPageRuns(std::string_view before, std::string_view after, size_t page_bytes) {
  const size_t common = std::min(before.size(), after.size());
  auto differs = [&](size_t at) {
    if (at >= common) return true;
    const size_t n = std::min(page_bytes, after.size() - at);
    // A page the old contents end inside differs unless both end there.
    if (at + n > common && before.size() != after.size()) return true;
    return std::memcmp(before.data() + at, after.data() + at, n) != 0;
  };
  PageRuns out;
  for (size_t at = 0; at < after.size(); at += page_bytes) {
    if (!differs(at)) continue;
    const size_t end = std::min(at + page_bytes, after.size());
    if (!out.runs.empty() && out.runs.back().end == at)
      out.runs.back().end = end;
    else
      out.runs.push_back({at, end});
  }
  return out;
}

PageRuns PagesHolding(std::vector<ByteRange> ranges, size_t size, size_t page_bytes) {
  std::sort(ranges.begin(), ranges.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.begin < b.begin; });
  PageRuns out;
  for (const ByteRange& r : ranges) {
    const size_t end = std::min(r.end, size);
    if (r.begin >= end) continue;
    const size_t first = r.begin / page_bytes * page_bytes;
    const size_t last = std::min((end + page_bytes - 1) / page_bytes * page_bytes, size);
    if (!out.runs.empty() && out.runs.back().end >= first)
      out.runs.back().end = std::max(out.runs.back().end, last);
    else
      out.runs.push_back({first, last});
  }
  return out;
}

PageRuns AllPages(std::string_view after) {
  PageRuns out;
  if (!after.empty()) out.runs.push_back({0, after.size()});
  return out;
}

Status WritePageRuns(int fd, std::string_view data, const PageRuns& runs, const std::string& what) {
  for (const PageRun& r : runs.runs) {
    if (::lseek(fd, static_cast<off_t>(r.begin), SEEK_SET) < 0)
      return Status::FromErrno("seek " + what, errno);
    Status s = WriteAll(fd, data.substr(r.begin, r.end - r.begin), what);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

}  // namespace khod
