#include "kernel/seek_data.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace khod {

Result<std::vector<PageSpan>> FileDataPagesIn(int fd, const std::vector<PageSpan>& ranges,
                                              uint64_t page_size) {
  std::vector<PageSpan> out;
  for (const PageSpan& r : ranges) {
    const uint64_t end = r.end() * page_size;
    uint64_t at = r.first * page_size;
    while (at < end) {
      const off_t data = ::lseek(fd, static_cast<off_t>(at), SEEK_DATA);
      if (data < 0) {
        if (errno == ENXIO) return out;  // no data from `at` to the end of the file
        return Status::FromErrno("lseek SEEK_DATA", errno);
      }
      if (static_cast<uint64_t>(data) >= end) break;
      const off_t hole = ::lseek(fd, data, SEEK_HOLE);
      if (hole < 0) return Status::FromErrno("lseek SEEK_HOLE", errno);
      const uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
      const uint64_t first = static_cast<uint64_t>(data) / page_size;
      const uint64_t last = (stop + page_size - 1) / page_size;
      if (!out.empty() && out.back().end() >= first)
        out.back().count = std::max(out.back().end(), last) - out.back().first;
      else if (last > first)
        out.push_back(PageSpan{first, last - first});
      if (stop <= at) break;  // no progress: a file that shrank under the walk
      at = stop;
    }
  }
  return out;
}

}  // namespace khod
