#include "kernel/proc_maps.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "common/file_read.h"
#include "common/numbers.h"
#include "common/unique_fd.h"

namespace khod {
namespace {

// A hex number of at most `max` at the start of `*r`, followed by `then`;
// both are consumed.
bool TakeHex(std::string_view* r, char then, uint64_t max, uint64_t* out) {
  const std::optional<uint64_t> v = ConsumeHexU64(r);
  if (!v || *v > max || r->empty() || (*r)[0] != then) return false;
  r->remove_prefix(1);
  *out = *v;
  return true;
}

// "START-END PERMS OFFSET MAJOR:MINOR INODE [PATH]", each number whole: the
// kernel writes one space between fields and pads before the path. Nothing
// is copied: *perms and *path point into `r`.
bool ParseFields(std::string_view r, ProcMapsFields* e, std::string_view* perms,
                 std::string_view* path) {
  uint64_t major = 0, minor = 0;
  if (!TakeHex(&r, '-', UINT64_MAX, &e->start) || !TakeHex(&r, ' ', UINT64_MAX, &e->end))
    return false;
  if (r.size() < 5 || r[4] != ' ' || r.substr(0, 4).find(' ') != std::string_view::npos)
    return false;
  *perms = r.substr(0, 4);
  e->shared = (*perms)[3] == 's';
  r.remove_prefix(5);
  if (!TakeHex(&r, ' ', UINT64_MAX, &e->offset) || !TakeHex(&r, ':', UINT32_MAX, &major) ||
      !TakeHex(&r, ' ', UINT32_MAX, &minor))
    return false;
  const std::optional<uint64_t> inode = ConsumeU64(&r);
  if (!inode || (!r.empty() && r[0] != ' ')) return false;
  e->dev_major = static_cast<uint32_t>(major);
  e->dev_minor = static_cast<uint32_t>(minor);
  e->inode = *inode;
  r.remove_prefix(std::min(r.find_first_not_of(' '), r.size()));
  *path = r;
  return e->end > e->start;
}

Status NotAMapsLine(std::string_view line) {
  return Status::InvalidArgument("not a /proc/PID/maps line: '" + std::string(line.substr(0, 120)) +
                                 "'");
}

}  // namespace

Result<ProcMapsEntry> ParseProcMapsLine(std::string_view line) {
  line = line.substr(0, kProcTextLineBytes);
  ProcMapsFields f;
  std::string_view perms, path;
  if (!ParseFields(line, &f, &perms, &path)) return NotAMapsLine(line);
  ProcMapsEntry e;
  e.start = f.start;
  e.end = f.end;
  e.perms = std::string(perms);
  e.offset = f.offset;
  e.dev_major = f.dev_major;
  e.dev_minor = f.dev_minor;
  e.inode = f.inode;
  e.path = std::string(path);
  return e;
}

Result<ProcMapsFields> ParseProcMapsFields(std::string_view line) {
  line = line.substr(0, kProcTextLineBytes);
  ProcMapsFields f;
  std::string_view perms, path;
  if (!ParseFields(line, &f, &perms, &path)) return NotAMapsLine(line);
  return f;
}

namespace {

FileReadOptions ProcTextReadOptions() {
  FileReadOptions o;
  o.max_bytes = kMaxProcMapsTextBytes;
  o.too_large_is_corruption = false;
  o.too_large_why = "more mappings than any VMM has";
  return o;
}

}  // namespace

Result<std::string> ReadProcMapsText(pid_t pid, std::string_view name) {
  return ReadWholeFile("/proc/" + std::to_string(pid) + "/" + std::string(name),
                       ProcTextReadOptions());
}

// Opened and bounded as ReadWholeFile is with ProcTextReadOptions
// (common/file_read.h OpenFileToRead), the text given as it is read.
Result<ProcTextRead> ForEachProcTextLine(pid_t pid, std::string_view name,
                                         const std::function<void(std::string_view line)>& line) {
  const FileReadOptions o = ProcTextReadOptions();
  const std::string path = "/proc/" + std::to_string(pid) + "/" + std::string(name);
  Result<UniqueFd> opened = OpenFileToRead(path, o);
  if (!opened.ok()) return opened.status();
  const UniqueFd fd = std::move(*opened);
  auto too_large = [&] { return FileTooLarge(path, o); };
  // buf[0, have) is the line being read, whole lines given as soon as their
  // '\n' is read; a line longer than kProcTextLineBytes is given cut as soon
  // as that much of it is read, and the rest of it dropped (`skipping`).
  const std::unique_ptr<char[]> buf(new char[kProcTextReadBytes]);
  static_assert(kProcTextReadBytes > kProcTextLineBytes, "a whole cut line and a read");
  ProcTextRead out;
  size_t have = 0;
  bool skipping = false;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf.get() + have, kProcTextReadBytes - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read " + path, errno);
    if (n == 0) break;
    out.bytes += static_cast<uint64_t>(n);
    if (out.bytes > o.max_bytes) return too_large();
    have += static_cast<size_t>(n);
    out.held = std::max<uint64_t>(out.held, have);
    size_t from = 0;
    for (;;) {
      const void* nl = std::memchr(buf.get() + from, '\n', have - from);
      if (!nl) break;
      const size_t end = static_cast<size_t>(static_cast<const char*>(nl) - buf.get());
      if (!skipping && end > from)
        line(std::string_view(buf.get() + from, std::min(end - from, kProcTextLineBytes)));
      skipping = false;
      from = end + 1;
    }
    if (skipping) {
      have = 0;  // more of a line already given
      continue;
    }
    std::memmove(buf.get(), buf.get() + from, have - from);
    have -= from;
    if (have >= kProcTextLineBytes) {
      line(std::string_view(buf.get(), kProcTextLineBytes));
      skipping = true;
      have = 0;
    }
  }
  if (!skipping && have > 0) line(std::string_view(buf.get(), have));
  return out;
}

}  // namespace khod
