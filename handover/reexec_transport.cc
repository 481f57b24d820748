#include "handover/reexec_transport.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/file_read.h"
#include "common/file_type_name.h"
#include "common/numbers.h"
#include "common/status_macros.h"
#include "handover/blob_memfd.h"

namespace khod {
namespace {

// `blob` in a new sealed memfd; its fd.
Result<UniqueFd> SealedCopy(std::string_view blob) {
  Result<BlobMemfd> m = BlobMemfd::Create(blob);
  if (!m.ok()) return m.status();
  return std::move(*m).Seal();
}

// dup to a fresh inheritable fd: the original keeps its CLOEXEC so that a
// failed Send leaves nothing leaking into unrelated children.
Result<int> DupInheritable(int fd, const std::string& what) {
  int d = ::fcntl(fd, F_DUPFD, 3);
  if (d < 0) return Status::FromErrno("dup " + what, errno);
  return d;
}

}  // namespace

Result<int> ParseFdNumber(const std::string& flag, const std::string& text) {
  KHOD_ASSIGN_OR_RETURN(uint64_t v, ParseU64Named(text, flag + ": fd", 0, 999999999));
  return static_cast<int>(v);
}

bool IsOneShotFaultFlag(const std::string& arg) {
  const std::string key = arg.substr(0, arg.find('='));
  return key == "--crash-at" || key == "--fault";
}

namespace {

// The items of a comma-separated "KEY:FD" spec given as `flag`, in order:
// `item(key, fd)` for each; an empty item (a leading, doubled or trailing
// comma: a damaged spec, not nothing), a missing ':' or a bad fd is refused.
Status ForEachKeyFd(const std::string& text, const char* flag, const char* form,
                    const std::function<Status(const std::string&, int)>& item) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t comma = text.find(',', pos);
    const std::string one =
        text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? text.size() : comma + 1;
    if (one.empty() || (comma != std::string::npos && pos == text.size()))
      return Status::InvalidArgument(std::string(flag) + ": empty item in '" + text + "'");
    const size_t colon = one.find(':');
    if (colon == std::string::npos)
      return Status::InvalidArgument(std::string(flag) + ": '" + one + "' is not " + form);
    KHOD_ASSIGN_OR_RETURN(int fd, ParseFdNumber(flag, one.substr(colon + 1)));
    KHOD_RETURN_IF_ERROR(item(one.substr(0, colon), fd));
  }
  return Status::Ok();
}

}  // namespace

Result<AdoptSpec> ParseAdoptSpec(const std::string& text) {
  AdoptSpec spec;
  std::set<int> fds;
  KHOD_RETURN_IF_ERROR(
      ForEachKeyFd(text, "--adopt", "KEY:FD", [&](const std::string& key, int fd) -> Status {
        // Each fd is one file's: one named twice would be closed twice.
        if (fd <= 2)
          return Status::InvalidArgument("--adopt: fd " + std::to_string(fd) +
                                         " is stdin, stdout or stderr, never a handed-on file");
        if (!fds.insert(fd).second)
          return Status::InvalidArgument("--adopt: fd " + std::to_string(fd) + " given twice");
        if (key == "blob") {
          if (spec.blob_fd >= 0) return Status::InvalidArgument("--adopt: blob given twice");
          spec.blob_fd = fd;
          return Status::Ok();
        }
        KHOD_ASSIGN_OR_RETURN(uint64_t token, ParseU64Named(key, "--adopt: token"));
        if (!spec.fds.emplace(token, fd).second)
          return Status::InvalidArgument("--adopt: token " + key + " given twice");
        return Status::Ok();
      }));
  return spec;
}

std::string FormatAdoptSpec(const AdoptSpec& spec) {
  std::string s;
  if (spec.blob_fd >= 0) s = "blob:" + std::to_string(spec.blob_fd);
  for (const auto& [token, fd] : spec.fds) {
    if (!s.empty()) s += ",";
    s += std::to_string(token) + ":" + std::to_string(fd);
  }
  return s;
}

Result<std::map<uint64_t, std::vector<int>>> ParsePagePinsSpec(const std::string& text) {
  constexpr size_t kMaxItems = 65536;
  std::map<uint64_t, std::vector<int>> pins;
  std::set<int> fds;
  KHOD_RETURN_IF_ERROR(
      ForEachKeyFd(text, "--page-pins", "TOKEN:FD", [&](const std::string& key, int fd) -> Status {
        if (fds.size() == kMaxItems)
          return Status::InvalidArgument("--page-pins: more than " + std::to_string(kMaxItems) +
                                         " rings");
        KHOD_ASSIGN_OR_RETURN(uint64_t token, ParseU64Named(key, "--page-pins: token"));
        if (!fds.insert(fd).second)
          return Status::InvalidArgument("--page-pins: fd " + std::to_string(fd) + " given twice");
        pins[token].push_back(fd);
        return Status::Ok();
      }));
  return pins;
}

std::string FormatPagePinsSpec(const std::map<uint64_t, std::vector<int>>& pins) {
  std::string s;
  for (const auto& [token, fds] : pins)
    for (int fd : fds)
      s += (s.empty() ? "" : ",") + std::to_string(token) + ":" + std::to_string(fd);
  return s;
}

Result<std::map<std::string, int>> ParseBpfProgramsSpec(const std::string& text) {
  std::map<std::string, int> programs;
  std::set<int> fds;
  KHOD_RETURN_IF_ERROR(ForEachKeyFd(
      text, "--bpf-programs", "NAME:FD", [&](const std::string& name, int fd) -> Status {
        if (name.empty() || name.size() > 64 || !std::all_of(name.begin(), name.end(), [](char ch) {
              return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '_';
            }))
          return Status::InvalidArgument("--bpf-programs: '" + name + "' is not a program name");
        if (!fds.insert(fd).second)
          return Status::InvalidArgument("--bpf-programs: fd " + std::to_string(fd) +
                                         " given twice");
        if (!programs.emplace(name, fd).second)
          return Status::InvalidArgument("--bpf-programs: " + name + " given twice");
        return Status::Ok();
      }));
  return programs;
}

std::string FormatBpfProgramsSpec(const std::vector<std::pair<std::string, int>>& programs) {
  std::string s;
  for (const auto& [name, fd] : programs)
    s += (s.empty() ? "" : ",") + name + ":" + std::to_string(fd);
  return s;
}

ReexecTransport::~ReexecTransport() {
  // What a Receive found open and did not hand out: this transport's alone.
  for (int fd : kept_) ::close(fd);
}

Status ReexecTransport::Stage(std::string_view blob) {
  prestaged_blob_.reset();
  KHOD_ASSIGN_OR_RETURN(BlobMemfd copy, BlobMemfd::Create(blob));
  return StageCopy(std::move(copy));
}

Status ReexecTransport::StageCopy(BlobMemfd copy) {
  prestaged_blob_.reset();
  const size_t bytes = copy.size();
  KHOD_ASSIGN_OR_RETURN(prestaged_blob_, std::move(copy).Seal());
  prestaged_bytes_ = bytes;
  return Status::Ok();
}

Status ReexecTransport::Send(const HandoverPackage& pkg) {
  // Stage's copy, of the bytes this package carries (its caller's promise;
  // the size is checked), or one made now.
  UniqueFd prestaged = std::move(prestaged_blob_);
  KHOD_RETURN_IF_ERROR(Abort());
  if (!prestaged.valid() || prestaged_bytes_ != pkg.blob.size()) {
    KHOD_ASSIGN_OR_RETURN(prestaged, SealedCopy(pkg.blob));
  }
  const int blob_fd = prestaged.release();
  // The blob memfd must survive exec: clear CLOEXEC on it.
  if (::fcntl(blob_fd, F_SETFD, 0) != 0) {
    int err = errno;
    ::close(blob_fd);
    return Status::FromErrno("clear CLOEXEC on handover memfd", err);
  }
  staged_.blob_fd = blob_fd;
  for (const PreservedFd& p : pkg.fds) {
    Result<int> d = DupInheritable(p.fd, "gmem " + std::to_string(p.token));
    if (!d.ok()) {
      Abort();
      return d.status();
    }
    staged_.fds[p.token] = *d;
  }
  return Status::Ok();
}

Status ReexecTransport::Abort() {
  prestaged_blob_.reset();
  if (staged_.blob_fd >= 0) ::close(staged_.blob_fd);
  for (const auto& kv : staged_.fds) ::close(kv.second);
  staged_ = AdoptSpec();
  return Status::Ok();
}

namespace {

constexpr int kBlobSeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;

// Corruption unless `fd` is a regular file sealed against writes, growth and
// shrinking (BlobMemfd::Seal): only then can its bytes not change under the
// hash of the decode, nor the file shrink under the mapping (SIGBUS).
Status CheckSealedBlob(int fd, const struct stat& st, const std::string& named) {
  if (!S_ISREG(st.st_mode))
    return Status::Corruption(named + " is not a regular file but " + FileTypeName(st.st_mode) +
                              ": not the sealed memfd a reexec hands on");
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0)
    return Status::Corruption(
        named + " cannot be sealed (F_GET_SEALS: " + std::string(std::strerror(errno)) +
        "): not the sealed memfd a reexec hands on");
  std::string missing;
  for (const auto& [seal, name] : {std::pair<int, const char*>{F_SEAL_WRITE, "F_SEAL_WRITE"},
                                   {F_SEAL_GROW, "F_SEAL_GROW"},
                                   {F_SEAL_SHRINK, "F_SEAL_SHRINK"}})
    if ((seals & seal) == 0) missing += std::string(missing.empty() ? "" : "|") + name;
  if ((seals & kBlobSeals) != kBlobSeals)
    return Status::Corruption(named + " is not sealed against change (missing " + missing +
                              "): its bytes could change under the checksum, or the file "
                              "shrink under the mapping");
  return Status::Ok();
}

}  // namespace

Result<ReceivedHandover> ReexecTransport::Receive() {
  // Every adopted fd close-on-exec first, whatever follows: from here on
  // they are this transport's (kept_) until handed out, never inherited by a
  // child or a later exec. A number that is not open is not taken: it may
  // become another file of this process's.
  std::vector<int> adopted;
  if (adopted_.blob_fd >= 0) adopted.push_back(adopted_.blob_fd);
  for (const auto& [token, fd] : adopted_.fds) adopted.push_back(fd);
  for (int fd : adopted)
    if (std::find(kept_.begin(), kept_.end(), fd) == kept_.end() &&
        ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0)
      kept_.push_back(fd);
  const auto kept = [this](int fd) {
    return std::find(kept_.begin(), kept_.end(), fd) != kept_.end();
  };
  if (adopted_.blob_fd < 0)
    return Status::NotFound(
        "reexec handover: this khod was not started with --adopt (the previous process "
        "is gone, and with it the fds it held)");
  const std::string named = "reexec handover blob memfd fd " + std::to_string(adopted_.blob_fd);
  struct stat st;
  if (::fstat(adopted_.blob_fd, &st) != 0) return Status::FromErrno("stat " + named, errno);
  KHOD_RETURN_IF_ERROR(CheckSealedBlob(adopted_.blob_fd, st, named));
  if (static_cast<uint64_t>(st.st_size) > kMaxKhodFileBytes)
    return Status::Corruption(named + ": larger than " + std::to_string(kMaxKhodFileBytes) +
                              " bytes");
  for (const auto& [token, fd] : adopted_.fds)
    if (!kept(fd))
      return Status::NotFound("reexec handover: fd " + std::to_string(fd) + " for gmem " +
                              std::to_string(token) + " is not open in this process");
  ReceivedHandover r;
  if (st.st_size > 0) {
    // Sealed against writes, growth and shrinking (checked above): the
    // mapping cannot change under the checksum and decode.
    Result<Mapping> m =
        Mapping::Map(adopted_.blob_fd, 0, static_cast<size_t>(st.st_size), PROT_READ);
    if (!m.ok()) return m.status().WithContext(named);
    r.mapped = std::make_shared<const Mapping>(std::move(*m));
  }
  r.origin = "memfd fd " + std::to_string(adopted_.blob_fd) + " kept across exec";
  r.fds = adopted_.fds;  // the caller's from here on
  ::close(adopted_.blob_fd);
  kept_.clear();
  adopted_ = AdoptSpec();
  return r;
}

Status ReexecTransport::Exec(int program_fd, const std::vector<std::string>& argv) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  ::execveat(program_fd, "", cargv.data(), environ, AT_EMPTY_PATH);
  return Status::FromErrno("execveat " + argv[0], errno);
}

}  // namespace khod
