#include "daemon/record_file.h"

#include <cstring>
#include <utility>

#include "common/coding.h"
#include "common/file_read.h"
#include "common/status_macros.h"
#include "common/xxh3.h"

namespace khod {
namespace {

constexpr char kMagic[8] = {'K', 'H', 'O', 'D', 'R', 'E', 'C', '1'};
constexpr size_t kHeader = 8 + 8 + 8;  // magic, length, xxh3

// The directory of `path` opened as SafeDir, and the name in it.
Result<std::pair<SafeDir, std::string>> Split(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  Result<SafeDir> d = SafeDir::Open(dir, /*create_mode=*/0);
  if (!d.ok()) return d.status().WithContext(path);
  return std::make_pair(std::move(*d), path.substr(slash == std::string::npos ? 0 : slash + 1));
}

// The frame's length bounds the read: a record longer than its header says is
// refused before more than its head is read (FORMAT.md "Reader order and
// errors", step 1), and a file that does not start as a record (any version)
// is read no further than its head: its length field is not a record's.
FileReadOptions RecordRead() {
  FileReadOptions o;
  o.size_from_head = [](std::string_view head) -> Result<uint64_t> {
    if (head.size() < kHeader || std::memcmp(head.data(), kMagic, sizeof(kMagic) - 1) != 0)
      return uint64_t{kHeader};  // the checks below name it
    const uint64_t len = DecodeFixed64(head.data() + 8);
    return len > kMaxKhodFileBytes ? kMaxKhodFileBytes : kHeader + len;
  };
  return o;
}

}  // namespace

Status WriteFileAtomically(const std::string& path, std::string_view data, mode_t mode) {
  KHOD_ASSIGN_OR_RETURN(auto d, Split(path));
  return d.first.Replace(d.second, data, mode);
}

Status WriteFileBeforeItsRecord(const std::string& path, std::string_view data) {
  KHOD_ASSIGN_OR_RETURN(auto d, Split(path));
  return d.first.WriteNew(d.second, data);
}

Status WriteRecordFile(const SafeDir& dir, std::string_view name, std::string_view payload) {
  std::string framed(kMagic, sizeof(kMagic));
  PutFixed64(&framed, payload.size());
  PutFixed64(&framed, Xxh3(payload.data(), payload.size()));
  framed.append(payload.data(), payload.size());
  return dir.Replace(name, framed);
}

Status WriteRecordFile(const std::string& path, std::string_view payload) {
  KHOD_ASSIGN_OR_RETURN(auto d, Split(path));
  return WriteRecordFile(d.first, d.second, payload);
}

Result<std::string> ReadRecordFile(const std::string& path) {
  KHOD_ASSIGN_OR_RETURN(auto d, Split(path));
  return ReadRecordFile(d.first, d.second);
}

Result<std::string> ReadRecordFile(const SafeDir& dir, std::string_view name) {
  const std::string path = dir.PathOf(name);
  KHOD_ASSIGN_OR_RETURN(std::string raw, dir.Read(name, RecordRead()));
  const std::string& s = raw;
  // KHODREC<another digit> is a record of another version, not garbage:
  // Unsupported, as the snapshot formats say for another major.
  if (s.size() >= sizeof(kMagic) && std::memcmp(s.data(), kMagic, sizeof(kMagic) - 1) == 0 &&
      s[7] >= '0' && s[7] <= '9' && s[7] != kMagic[7])
    return Status::Unsupported(path + ": session record version " + std::string(1, s[7]) +
                               ", this khod reads " + std::string(1, kMagic[7]));
  if (s.size() < kHeader || std::memcmp(s.data(), kMagic, sizeof(kMagic)) != 0)
    return Status::Corruption(path + ": not a khod record file (bad magic or truncated header)");
  uint64_t len = DecodeFixed64(s.data() + 8);
  if (len != s.size() - kHeader)
    return Status::Corruption(path + ": length " + std::to_string(len) + " but " +
                              std::to_string(s.size() - kHeader) + " payload bytes present");
  uint64_t want = DecodeFixed64(s.data() + 16);
  uint64_t got = Xxh3(s.data() + kHeader, len);
  if (want != got) return Status::Corruption(path + ": checksum mismatch (torn or altered file)");
  return s.substr(kHeader);
}

}  // namespace khod
