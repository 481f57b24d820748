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
