#include "daemon/record_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "common/file_read.h"
#include "daemon/le64.h"

namespace khod {
namespace {

constexpr char kMagic[8] = {'K', 'H', 'O', 'D', 'R', 'E', 'C', '1'};
constexpr size_t kHeader = 8 + 8 + 8;  // magic, length, xxh3


Status WriteAll(int fd, const char* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::FromErrno("write " + path, errno);
    p += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view data) {
  const std::string tmp = path + ".tmp";
  KHOD_RETURN_IF_ERROR(WriteFileBeforeItsRecord(tmp, data));  // written and fsync'd, or unlinked
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Status::FromErrno("rename " + tmp + " -> " + path, err);
  }
  // The rename is durable only once the directory entry is.
  const std::string dir = DirName(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return Status::FromErrno("open dir " + dir, errno);
  int rc = ::fsync(dfd);
  int err = errno;
  ::close(dfd);
  if (rc != 0) return Status::FromErrno("fsync dir " + dir, err);
  return Status::Ok();
}

Status WriteFileBeforeItsRecord(const std::string& path, std::string_view data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status s = WriteAll(fd, data.data(), data.size(), path);
  if (s.ok() && ::fsync(fd) != 0) s = Status::FromErrno("fsync " + path, errno);
  ::close(fd);
  if (!s.ok()) ::unlink(path.c_str());
  return s;
}

Status WriteRecordFile(const std::string& path, std::string_view payload) {
  std::string framed(kMagic, sizeof(kMagic));
  AppendLe64(&framed, payload.size());
  AppendLe64(&framed, XXH3_64bits(payload.data(), payload.size()));
  framed.append(payload.data(), payload.size());
  return WriteFileAtomically(path, framed);
}

Result<std::string> ReadRecordFile(const std::string& path) {
  Result<std::string> raw = ReadWholeFile(path);
  if (!raw.ok()) return raw.status();
  const std::string& s = *raw;
  // KHODREC<another digit> is a record of another version, not garbage:
  // Unsupported, as the snapshot formats say for another major.
  if (s.size() >= sizeof(kMagic) && std::memcmp(s.data(), kMagic, sizeof(kMagic) - 1) == 0 &&
      s[7] >= '0' && s[7] <= '9' && s[7] != kMagic[7])
    return Status::Unsupported(path + ": session record version " + std::string(1, s[7]) +
                               ", this khod reads " + std::string(1, kMagic[7]));
  if (s.size() < kHeader || std::memcmp(s.data(), kMagic, sizeof(kMagic)) != 0)
    return Status::Corruption(path + ": not a khod record file (bad magic or truncated header)");
  uint64_t len = LoadLe64(s.data() + 8);
  if (len != s.size() - kHeader)
    return Status::Corruption(path + ": length " + std::to_string(len) + " but " +
                              std::to_string(s.size() - kHeader) + " payload bytes present");
  uint64_t want = LoadLe64(s.data() + 16);
  uint64_t got = XXH3_64bits(s.data() + kHeader, len);
  if (want != got) return Status::Corruption(path + ": checksum mismatch (torn or altered file)");
  return s.substr(kHeader);
}

Status MakeDirs(const std::string& path, unsigned mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    size_t next = path.find('/', pos + 1);
    cur = path.substr(0, next);
    pos = next;
    if (cur.empty() || cur == "/") continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST)
      return Status::FromErrno("mkdir " + cur, errno);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::FailedPrecondition(path + " is not a directory");
  return Status::Ok();
}

}  // namespace khod
