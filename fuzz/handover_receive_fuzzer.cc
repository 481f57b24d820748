// libFuzzer target for what the new side of a handover reads of what the old
// side left (handover/): each input is
//   - the LUO blob memfd's bytes (EncodeLuoManifest: KHODLUO1, a count, the
//     gmem tokens, the blob), through DecodeLuoManifest and through
//     LuoTransport::Receive from a LUO session that holds the blob memfd and
//     gmem tokens 1, 2, 3 and 42 (any other token is not there: ENOENT);
//   - the dir transport's handover.blob, through DirTransport::Receive, as
//     given and, when the manifest decodes, the blob it wraps.
// Oracle: a refusal carries a message; an accepted manifest encodes back to
// the very bytes; a LUO Receive hands back the manifest's blob and exactly
// its tokens, and leaves no fd open that the caller was not handed; a dir
// Receive hands back the file's bytes unchanged. A violation aborts.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/safe_file.h"
#include "fuzz/oracle.h"
#include "fuzz/scratch_dir.h"
#include "handover/dir_transport.h"
#include "handover/luo_device.h"
#include "handover/luo_transport.h"
#include "handover/luo_uapi.h"

namespace khod {
namespace {

[[noreturn]] void Fail(const std::string& what, std::string_view detail = {}) {
  OracleFail("handover receive", what, detail);
}

// A memfd holding `bytes`, as the old side's blob memfd or a preserved gmem.
int MemfdWith(std::string_view bytes) {
  const int fd = ::memfd_create("fuzz-luo", MFD_CLOEXEC);
  if (fd < 0) Fail("memfd_create");
  if (!bytes.empty() &&
      ::pwrite(fd, bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
    Fail("write memfd");
  return fd;
}

// /dev/liveupdate after a kexec: one session, holding the blob memfd and the
// gmems of kHeldTokens. As the kernel does, a file retrieved again is
// handed out again (another fd of the same file).
class RetrievableLuo : public LuoDevice {
 public:
  static constexpr uint64_t kHeldTokens[] = {1, 2, 3, 42};
  explicit RetrievableLuo(std::string_view blob_memfd) : blob_memfd_(blob_memfd) {}
  int Open(const std::string&) override { return Null(); }
  int Ioctl(int, unsigned long request, void* arg) override {
    if (request == luo::kIoctlRetrieveSession) {
      static_cast<luo::RetrieveSession*>(arg)->fd = Null();
      return 0;
    }
    if (request == luo::kSessionRetrieveFd) {
      auto* a = static_cast<luo::RetrieveFd*>(arg);
      if (a->token == kLuoBlobToken) {
        a->fd = MemfdWith(blob_memfd_);
        return 0;
      }
      for (uint64_t t : kHeldTokens)
        if (a->token == t) {
          a->fd = MemfdWith("");
          return 0;
        }
      return -ENOENT;
    }
    if (request == luo::kSessionFinish) return 0;
    return -ENOTTY;
  }
  void Close(int fd) override { ::close(fd); }

 private:
  static int Null() {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) Fail("open /dev/null");
    return fd;
  }
  std::string blob_memfd_;
};

constexpr uint64_t RetrievableLuo::kHeldTokens[];

bool Held(uint64_t token) {
  for (uint64_t t : RetrievableLuo::kHeldTokens)
    if (t == token) return true;
  return false;
}

void CheckManifest(const std::string& input) {
  std::vector<uint64_t> tokens;
  std::string blob;
  const Status decoded = DecodeLuoManifest(input, &tokens, &blob);
  RequireMessage("handover receive", decoded, "DecodeLuoManifest");
  if (decoded.ok()) {
    HandoverPackage pkg;
    pkg.blob = blob;
    for (uint64_t t : tokens) pkg.fds.push_back(PreservedFd{t, -1});
    if (EncodeLuoManifest(pkg) != input) Fail("an accepted manifest does not encode back");
  }

  const int fds_before = OpenFdCount();
  {
    RetrievableLuo device(input);
    LuoTransport luo(&device, LuoTransport::SessionNameFor(1));
    Result<ReceivedHandover> r = luo.Receive();
    RequireMessage("handover receive", r.status(), "LuoTransport::Receive");
    if (r.ok()) {
      if (!decoded.ok()) Fail("Receive took a blob memfd DecodeLuoManifest refuses");
      if (r->blob != blob) Fail("Receive's blob is not the manifest's");
      std::set<uint64_t> want(tokens.begin(), tokens.end());
      std::set<uint64_t> got;
      for (const auto& [token, fd] : r->fds) {
        got.insert(token);
        if (!Held(token)) Fail("Receive handed out a token the session does not hold");
        ::close(fd);
      }
      if (got != want) Fail("Receive's gmems are not the manifest's tokens");
    }
  }
  const int fds_after = OpenFdCount();
  if (fds_after != fds_before)
    Fail("LUO Receive left fds open",
         std::to_string(fds_before) + " open before, " + std::to_string(fds_after) + " after");
}

void CheckDir(std::string_view file) {
  const std::string dir = ScratchDir::Fresh("handover");
  ScratchDir::MakeDirs(dir);
  ScratchDir::WriteFile(dir + "/" + DirTransport::kBlobName, file);
  Result<SafeDir> d = SafeDir::Open(dir, 0);
  if (!d.ok()) Fail("SafeDir::Open", d.status().ToString());
  DirTransport t(std::move(*d));
  Result<ReceivedHandover> r = t.Receive();
  RequireMessage("handover receive", r.status(), "DirTransport::Receive");
  if (r.ok() && r->blob_bytes() != file) Fail("dir Receive changed the blob's bytes");
  const Status finished = t.Finish();
  if (!finished.ok()) Fail("dir Finish", finished.ToString());
}

}  // namespace
}  // namespace khod

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  khod::CheckManifest(input);
  khod::CheckDir(input);
  std::vector<uint64_t> tokens;
  std::string blob;
  if (khod::DecodeLuoManifest(input, &tokens, &blob).ok()) khod::CheckDir(blob);
  return 0;
}
