#include "handover/luo_transport.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "common/coding.h"
#include "common/file_read.h"
#include "common/status_macros.h"
#include "handover/luo_uapi.h"
#include "serializer/serializer.h"

namespace khod {
namespace {

constexpr char kManifestMagic[8] = {'K', 'H', 'O', 'D', 'L', 'U', 'O', '1'};

Status LuoError(const std::string& what, int neg_errno) {
  int err = -neg_errno;
  if (err == ENOENT) return Status::NotFound("luo: " + what + ": " + std::strerror(err));
  if (err == EOPNOTSUPP || err == ENOTTY)
    return Status::Unsupported("luo: " + what + ": kernel refused (" + std::strerror(err) + ")");
  if (err == EPERM || err == EACCES)
    return Status::PermissionDenied("luo: " + what + ": " + std::strerror(err));
  return Status::FromErrno("luo: " + what, err);
}

}  // namespace

std::string EncodeLuoManifest(const HandoverPackage& pkg) {
  std::string out(kManifestMagic, sizeof(kManifestMagic));
  PutFixed64(&out, pkg.fds.size());
  for (const PreservedFd& p : pkg.fds) PutFixed64(&out, p.token);
  out += pkg.blob;
  return out;
}

Status DecodeLuoManifest(const std::string& data, std::vector<uint64_t>* tokens,
                         std::string* blob) {
  if (data.size() < 16 || std::memcmp(data.data(), kManifestMagic, 8) != 0)
    return Status::Corruption("luo: blob memfd does not start with the khod manifest");
  uint64_t n = DecodeFixed64(data.data() + 8);
  if (n > (data.size() - 16) / 8)
    return Status::Corruption("luo: manifest lists " + std::to_string(n) +
                              " tokens, more than the memfd holds");
  tokens->clear();
  // Send lists each gmem once (one token, one file to retrieve), never under the blob's token.
  std::set<uint64_t> listed;
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t token = DecodeFixed64(data.data() + 16 + 8 * i);
    if (token == kLuoBlobToken)
      return Status::Corruption("luo: manifest lists the blob memfd's own token " +
                                std::to_string(token) + " as a gmem");
    if (!listed.insert(token).second)
      return Status::Corruption("luo: manifest lists gmem token " + std::to_string(token) +
                                " twice");
    tokens->push_back(token);
  }
  *blob = data.substr(16 + 8 * n);
  return Status::Ok();
}

Result<uint64_t> LuoBlobMemfdDeclaredBytes(int fd) {
  // Not a regular file: nothing is read of it here (a FIFO's pread fails, a device's never
  // ends), and the whole read refuses it by its type.
  struct stat st;
  if (::fstat(fd, &st) != 0) return Status::FromErrno("fstat luo blob memfd", errno);
  if (!S_ISREG(st.st_mode)) return uint64_t{0};
  // At most kFileHeadBytes from `offset`, as many as the file holds.
  auto head_at = [fd](uint64_t offset) -> Result<std::string> {
    std::string head(kFileHeadBytes, '\0');
    ssize_t n;
    do n = ::pread(fd, head.data(), head.size(), static_cast<off_t>(offset));
    while (n < 0 && errno == EINTR);
    if (n < 0) return Status::FromErrno("read luo blob memfd", errno);
    head.resize(static_cast<size_t>(n));
    return head;
  };
  KHOD_ASSIGN_OR_RETURN(std::string manifest, head_at(0));
  if (manifest.size() < 16 || std::memcmp(manifest.data(), kManifestMagic, 8) != 0)
    return uint64_t{manifest.size()};
  const uint64_t n = DecodeFixed64(manifest.data() + 8);
  if (n > (kMaxKhodFileBytes - 16) / 8)
    return Status::Corruption("luo: manifest lists " + std::to_string(n) +
                              " tokens, more than any blob memfd holds");
  const uint64_t blob_at = 16 + 8 * n;
  KHOD_ASSIGN_OR_RETURN(std::string blob_head, head_at(blob_at));
  Result<uint64_t> blob = DeclaredBlobBytes(blob_head);
  if (!blob.ok()) return blob_at + blob_head.size();
  return std::min<uint64_t>(*blob, kMaxKhodFileBytes) + blob_at;
}

Status CheckLuoGmemToken(uint64_t gmem_token) {
  if (gmem_token != kLuoBlobToken) return Status::Ok();
  return Status::InvalidArgument(
      "luo: gmem token " + std::to_string(gmem_token) +
      " (0x4b484f44424c4f42, 'KHODBLOB') is reserved for khod's blob memfd in the LUO session; "
      "attach the gmem with another token");
}

LuoTransport::LuoTransport(LuoDevice* device, std::string session_name, std::string device_path)
    : dev_(device), session_name_(std::move(session_name)), device_path_(std::move(device_path)) {}

LuoTransport::~LuoTransport() {
  // Closing the session fd before a kexec drops the session: on the old side
  // that is only right when the handover was abandoned, and then Abort did it.
  if (blob_memfd_ >= 0) ::close(blob_memfd_);
  if (session_fd_ >= 0) dev_->Close(session_fd_);
}

std::string LuoTransport::SessionNameFor(uint64_t session_id) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "khod-%016llx", static_cast<unsigned long long>(session_id));
  return buf;
}

Status LuoTransport::CheckSessionName() const {
  if (session_name_.size() < luo::kSessionNameLength) return Status::Ok();
  return Status::InvalidArgument("luo: session name '" + session_name_ + "' longer than 63 bytes");
}

Status LuoTransport::DeviceIoctl(unsigned long request, void* arg, const std::string& what) {
  const int dev = dev_->Open(device_path_);
  if (dev < 0) {
    if (dev == -ENOENT)
      return Status::Unsupported(
          "luo: " + device_path_ +
          " does not exist (a kernel without CONFIG_LIVEUPDATE, or one booted without "
          "liveupdate=on and KHO enabled)");
    if (dev == -EBUSY)
      return Status::Busy("luo: " + device_path_ +
                          " is open in another process (the kernel lets one process open it at "
                          "a time): retry once it is closed");
    return LuoError("open " + device_path_, dev);
  }
  const int rc = dev_->Ioctl(dev, request, arg);
  // The device is one open at a time for the whole host, and a session lives
  // on its own fd: holding the device would refuse every other LUO user (a
  // VMM preserving its own memfds) until the kexec.
  dev_->Close(dev);
  if (rc != 0) return LuoError(what + " '" + session_name_ + "'", rc);
  return Status::Ok();
}

Status LuoTransport::Preserve(int fd, uint64_t token, const std::string& what) {
  luo::PreserveFd arg{};
  arg.size = sizeof(arg);
  arg.fd = fd;
  arg.token = token;
  int rc = dev_->Ioctl(session_fd_, luo::kSessionPreserveFd, &arg);
  if (rc == 0) return Status::Ok();
  const std::string where = "luo: preserve " + what + " (token " + std::to_string(token) + ")";
  // luo_preserve_file(): ENOENT when no handler's can_preserve takes the file.
  if (rc == -ENOENT)
    return Status::Unsupported(where +
                               ": this kernel has no live-update handler that preserves this "
                               "file (Linux 6.19 preserves shmem memfds only: not guest_memfd, "
                               "not HugeTLB)");
  if (rc == -EEXIST)
    return Status::InvalidArgument(where + ": the session already holds that token");
  // Linux 6.19 holds 128 files in a session (LUO_FILE_MAX), the blob's
  // included; later kernels lift the limit, so it is the kernel's to say.
  if (rc == -ENOSPC)
    return Status::ResourceExhausted(
        where +
        ": the session holds as many files as this kernel allows (6.19: 128, the blob "
        "memfd included): hand over fewer gmems, or by another transport");
  return LuoError("preserve " + what + " (token " + std::to_string(token) + ")", rc);
}

Result<int> LuoTransport::Retrieve(uint64_t token, const std::string& what) {
  luo::RetrieveFd arg{};
  arg.size = sizeof(arg);
  arg.token = token;
  int rc = dev_->Ioctl(session_fd_, luo::kSessionRetrieveFd, &arg);
  if (rc != 0) return LuoError("retrieve " + what + " (token " + std::to_string(token) + ")", rc);
  return static_cast<int>(arg.fd);
}

Status LuoTransport::Send(const HandoverPackage& pkg) {
  // Refused before the device is touched. Attach refuses it too when luo is
  // the default transport; this catches records from before that check and
  // a luo Freeze of a session whose default was another transport.
  for (const PreservedFd& p : pkg.fds) KHOD_RETURN_IF_ERROR(CheckLuoGmemToken(p.token));
  if (session_fd_ >= 0) KHOD_RETURN_IF_ERROR(Abort());
  KHOD_RETURN_IF_ERROR(CheckSessionName());  // before it is copied into name[64]
  luo::CreateSession cs{};
  cs.size = sizeof(cs);
  std::memcpy(cs.name, session_name_.data(), session_name_.size());
  KHOD_RETURN_IF_ERROR(DeviceIoctl(luo::kIoctlCreateSession, &cs, "create session"));
  session_fd_ = cs.fd;

  // The blob goes in a plain shmem memfd: the one file type 6.19 preserves.
  const std::string payload = EncodeLuoManifest(pkg);
  int mfd = ::memfd_create("khod-luo-blob", MFD_CLOEXEC);
  if (mfd < 0) return Status::FromErrno("memfd_create(luo blob)", errno);
  blob_memfd_ = mfd;
  if (::pwrite(mfd, payload.data(), payload.size(), 0) != static_cast<ssize_t>(payload.size()))
    return Status::FromErrno("write luo blob memfd", errno);
  Status s = Preserve(mfd, kLuoBlobToken, "blob memfd");
  for (size_t i = 0; s.ok() && i < pkg.fds.size(); ++i)
    s = Preserve(pkg.fds[i].fd, pkg.fds[i].token, "gmem " + std::to_string(pkg.fds[i].token));
  if (!s.ok()) {
    Abort();
    return s;
  }
  return Status::Ok();
}

Status LuoTransport::Abort() {
  // Closing the session fd before kexec unpreserves everything in it.
  if (session_fd_ >= 0) dev_->Close(session_fd_);
  session_fd_ = -1;
  if (blob_memfd_ >= 0) ::close(blob_memfd_);
  blob_memfd_ = -1;
  return Status::Ok();
}

Result<ReceivedHandover> LuoTransport::Receive() {
  if (session_fd_ < 0) {
    KHOD_RETURN_IF_ERROR(CheckSessionName());  // before it is copied into name[64]
    luo::RetrieveSession rs{};
    rs.size = sizeof(rs);
    std::memcpy(rs.name, session_name_.data(), session_name_.size());
    KHOD_RETURN_IF_ERROR(DeviceIoctl(luo::kIoctlRetrieveSession, &rs, "retrieve session"));
    session_fd_ = rs.fd;
  }
  KHOD_ASSIGN_OR_RETURN(int blob_fd, Retrieve(kLuoBlobToken, "blob memfd"));
  // Read from the fd itself (from offset 0), no further than its manifest and the blob's
  // header declare (and kDeclaredSizeSlack); a non-regular file is refused.
  Result<std::string> data = [blob_fd]() -> Result<std::string> {
    KHOD_ASSIGN_OR_RETURN(uint64_t declared, LuoBlobMemfdDeclaredBytes(blob_fd));
    FileReadOptions o;
    o.max_bytes = std::min(kMaxKhodFileBytes, declared + kDeclaredSizeSlack);
    o.too_large_why = "more than its manifest and blob header declare";
    return ReadWholeFd(blob_fd, "blob memfd fd " + std::to_string(blob_fd), o);
  }();
  ::close(blob_fd);
  if (!data.ok()) return data.status().WithContext("luo blob memfd");
  ReceivedHandover r;
  std::vector<uint64_t> tokens;
  KHOD_RETURN_IF_ERROR(DecodeLuoManifest(*data, &tokens, &r.blob));
  for (uint64_t token : tokens) {
    Result<int> fd = Retrieve(token, "gmem " + std::to_string(token));
    if (!fd.ok()) {
      for (auto& kv : r.fds) ::close(kv.second);
      // The manifest says the old side preserved it: a kernel without it is
      // a damaged handover, not "nothing carried" (NotFound, which Restore
      // meets by rebuilding from the state-dir copy).
      if (fd.status().code() == Status::Code::kNotFound)
        return Status::Corruption(
            "luo: damaged handover: the blob memfd's manifest names gmem token " +
            std::to_string(token) + ", which LUO session '" + session_name_ + "' does not hold (" +
            fd.status().message() + ")");
      return fd.status();
    }
    r.fds[token] = *fd;
  }
  r.origin = "LUO session '" + session_name_ + "'";
  return r;
}

Status LuoTransport::Finish() {
  // Nothing retrieved (no session under this name, the device busy or
  // absent: Restore used the state-dir copy instead) is nothing to finish.
  if (finished_ || session_fd_ < 0) return Status::Ok();
  luo::SessionFinish f{};
  f.size = sizeof(f);
  int rc = dev_->Ioctl(session_fd_, luo::kSessionFinish, &f);
  if (rc != 0) return LuoError("finish session '" + session_name_ + "'", rc);
  dev_->Close(session_fd_);
  session_fd_ = -1;
  finished_ = true;
  return Status::Ok();
}

}  // namespace khod
