// The luo transport against a fake /dev/liveupdate: every ioctl request it
// builds (number, size word, session name, fd, token) and its error paths.
// No machine here has LUO, so this is what is tested; README says so.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "handover/luo_transport.h"
#include "handover/luo_uapi.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

struct Call {
  int fd;
  unsigned long request;
  std::string arg;  // bytes of the struct as passed
};

// Models the kernel's session semantics closely enough to check the flow:
// sessions by name, preserved fds by token (kept as dups), refusals on demand.
class FakeLuo : public LuoDevice {
 public:
  int Open(const std::string& path) override {
    if (!present) return -ENOENT;
    opened_path = path;
    return 1000;
  }
  int Ioctl(int fd, unsigned long req, void* arg) override {
    size_t size = *static_cast<uint32_t*>(arg);
    calls.push_back({fd, req, std::string(static_cast<char*>(arg), size)});
    if (req == luo::kIoctlCreateSession) {
      auto* a = static_cast<luo::CreateSession*>(arg);
      a->fd = next_session_fd;
      sessions[next_session_fd] = reinterpret_cast<char*>(a->name);
      return 0;
    }
    if (req == luo::kIoctlRetrieveSession) {
      if (retrieve_session_errno) return -retrieve_session_errno;
      auto* a = static_cast<luo::RetrieveSession*>(arg);
      a->fd = next_session_fd + 1;
      return 0;
    }
    if (req == luo::kSessionPreserveFd) {
      auto* a = static_cast<luo::PreserveFd*>(arg);
      if (refuse_token && a->token == refuse_token) return -EOPNOTSUPP;
      preserved[a->token] = ::dup(a->fd);
      return 0;
    }
    if (req == luo::kSessionRetrieveFd) {
      auto* a = static_cast<luo::RetrieveFd*>(arg);
      auto it = preserved.find(a->token);
      if (it == preserved.end()) return -ENOENT;
      a->fd = ::dup(it->second);
      return 0;
    }
    if (req == luo::kSessionFinish) return 0;
    return -ENOTTY;
  }
  void Close(int fd) override { closed.push_back(fd); }

  bool present = true;
  uint64_t refuse_token = 0;
  int retrieve_session_errno = 0;  // RETRIEVE_SESSION fails so when set
  int next_session_fd = 2000;
  std::string opened_path;
  std::vector<Call> calls;
  std::map<int, std::string> sessions;
  std::map<uint64_t, int> preserved;
  std::vector<int> closed;
};

TestMemfd Memfd(const std::string& content) {
  TestMemfd file(0, "luo-test");
  EXPECT_EQ(::write(file.fd(), content.data(), content.size()),
            static_cast<ssize_t>(content.size()));
  return file;
}

TEST(LuoUapiTest, IoctlNumbersMatchTheKernelEncoding) {
  // _IO(0xBA, nr): no size or direction bits, type in bits 8-15.
  EXPECT_EQ(luo::kIoctlCreateSession, 0xBA00ul);
  EXPECT_EQ(luo::kIoctlRetrieveSession, 0xBA01ul);
  EXPECT_EQ(luo::kSessionPreserveFd, 0xBA40ul);
  EXPECT_EQ(luo::kSessionRetrieveFd, 0xBA41ul);
  EXPECT_EQ(luo::kSessionFinish, 0xBA42ul);
}

TEST(LuoTransportTest, SendCreatesNamedSessionAndPreservesBlobThenEachGmem) {
  FakeLuo dev;
  LuoTransport t(&dev, LuoTransport::SessionNameFor(0x1234));
  TestMemfd gmem1 = Memfd("one"), gmem2 = Memfd("two");
  const int g1 = gmem1.fd(), g2 = gmem2.fd();
  HandoverPackage pkg;
  pkg.blob = "BLOB-BYTES";
  pkg.fds = {{7, g1}, {9, g2}};
  ASSERT_TRUE(t.Send(pkg).ok());

  EXPECT_EQ(dev.opened_path, "/dev/liveupdate");
  ASSERT_EQ(dev.calls.size(), 4u);
  // create_session on the device fd, size word and NUL-terminated name.
  EXPECT_EQ(dev.calls[0].fd, 1000);
  EXPECT_EQ(dev.calls[0].request, luo::kIoctlCreateSession);
  luo::CreateSession cs;
  std::memcpy(&cs, dev.calls[0].arg.data(), sizeof(cs));
  EXPECT_EQ(cs.size, sizeof(luo::CreateSession));
  EXPECT_STREQ(reinterpret_cast<char*>(cs.name), "khod-0000000000001234");
  // preserve_fd on the session fd: blob token first, then gmem tokens.
  std::vector<uint64_t> tokens;
  for (size_t i = 1; i < dev.calls.size(); ++i) {
    EXPECT_EQ(dev.calls[i].fd, 2000);
    EXPECT_EQ(dev.calls[i].request, luo::kSessionPreserveFd);
    luo::PreserveFd p;
    std::memcpy(&p, dev.calls[i].arg.data(), sizeof(p));
    EXPECT_EQ(p.size, sizeof(luo::PreserveFd));
    tokens.push_back(p.token);
  }
  EXPECT_EQ(tokens, (std::vector<uint64_t>{kLuoBlobToken, 7, 9}));
  // The session fd stays open until the kexec.
  EXPECT_TRUE(dev.closed.empty());
}

TEST(LuoTransportTest, ReceiveRetrievesBlobThenTheGmemsItLists) {
  FakeLuo dev;
  TestMemfd gmem1 = Memfd("guest-memory");
  const int g1 = gmem1.fd();
  {
    LuoTransport old_side(&dev, "khod-s");
    HandoverPackage pkg;
    pkg.blob = "SNAPSHOT";
    pkg.fds = {{42, g1}};
    ASSERT_TRUE(old_side.Send(pkg).ok());
  }
  dev.calls.clear();
  LuoTransport new_side(&dev, "khod-s");
  Result<ReceivedHandover> r = new_side.Receive();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blob, "SNAPSHOT");
  ASSERT_EQ(r->fds.count(42), 1u);
  char buf[32] = {};
  EXPECT_EQ(::pread(r->fds[42], buf, sizeof(buf), 0), 12);
  EXPECT_STREQ(buf, "guest-memory");
  EXPECT_EQ(dev.calls[0].request, luo::kIoctlRetrieveSession);
  EXPECT_EQ(dev.calls[1].request, luo::kSessionRetrieveFd);
  ASSERT_TRUE(new_side.Finish().ok());
  EXPECT_EQ(dev.calls.back().request, luo::kSessionFinish);
  // Finish again (a session's Finish retried after its record write failed):
  // done already, nothing asked of the device.
  const size_t calls = dev.calls.size();
  EXPECT_TRUE(new_side.Finish().ok());
  EXPECT_EQ(dev.calls.size(), calls);
}

// The manifest says what was preserved: a token it names that the kernel's
// session does not hold is a damaged handover (Corruption naming the
// token), not "nothing carried" (NotFound), which Restore meets by
// rebuilding every gmem from the state-dir copy without a word.
TEST(LuoTransportTest, AManifestTokenTheSessionDoesNotHoldIsCorruptionNamingIt) {
  FakeLuo dev;
  TestMemfd gmem1 = Memfd("one"), gmem2 = Memfd("two");
  {
    LuoTransport old_side(&dev, "khod-s");
    HandoverPackage pkg;
    pkg.blob = "SNAPSHOT";
    pkg.fds = {{42, gmem1.fd()}, {43, gmem2.fd()}};
    ASSERT_TRUE(old_side.Send(pkg).ok());
  }
  ::close(dev.preserved.at(43));
  dev.preserved.erase(43);  // the kernel has no file under token 43
  LuoTransport new_side(&dev, "khod-s");
  Result<ReceivedHandover> r = new_side.Receive();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("token 43"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("khod-s"), std::string::npos) << r.status().message();
  // A session the kernel does not have at all is still "nothing carried".
  LuoTransport other(&dev, "khod-s");
  dev.retrieve_session_errno = ENOENT;
  EXPECT_EQ(other.Receive().status().code(), Status::Code::kNotFound);
  for (auto& kv : dev.preserved) ::close(kv.second);
}

TEST(LuoTransportTest, GmemTokenEqualToTheBlobTokenIsRefusedBeforeAnyIoctl) {
  FakeLuo dev;
  LuoTransport t(&dev, LuoTransport::SessionNameFor(0x1234));
  TestMemfd gmem1 = Memfd("one"), gmem2 = Memfd("two");
  const int g1 = gmem1.fd(), g2 = gmem2.fd();
  HandoverPackage pkg;
  pkg.blob = "BLOB-BYTES";
  pkg.fds = {{7, g1}, {kLuoBlobToken, g2}};
  Status s = t.Send(pkg);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(s.message().find("KHODBLOB"), std::string::npos) << s.message();
  EXPECT_TRUE(dev.calls.empty());  // no session created, nothing preserved
  EXPECT_TRUE(dev.preserved.empty());
}

TEST(LuoTransportTest, KernelRefusingAGmemAbortsAndNamesIt) {
  FakeLuo dev;
  dev.refuse_token = 9;
  LuoTransport t(&dev, "khod-x");
  TestMemfd gmem = Memfd("x");
  const int g = gmem.fd();
  HandoverPackage pkg;
  pkg.blob = "b";
  pkg.fds = {{9, g}};
  Status s = t.Send(pkg);
  EXPECT_EQ(s.code(), Status::Code::kUnsupported);
  EXPECT_NE(s.message().find("gmem 9"), std::string::npos) << s.message();
  // Abort closed the session fd: the kernel drops what was preserved.
  EXPECT_EQ(dev.closed, std::vector<int>{2000});
}

TEST(LuoTransportTest, MissingDeviceSaysTheKernelLacksLiveupdate) {
  FakeLuo dev;
  dev.present = false;
  LuoTransport t(&dev, "khod-x");
  Status s = t.Send(HandoverPackage());
  EXPECT_EQ(s.code(), Status::Code::kUnsupported);
  EXPECT_NE(s.message().find("CONFIG_LIVEUPDATE"), std::string::npos) << s.message();
}

// The first bytes of an FDT blob whose header declares `total` bytes (magic and totalsize,
// big-endian), then zeros up to `total`: what DeclaredBlobBytes reads of a blob.
std::string FdtShapedBlob(uint32_t total) {
  std::string b = {'\xd0',
                   '\x0d',
                   '\xfe',
                   '\xed',
                   static_cast<char>(total >> 24),
                   static_cast<char>(total >> 16),
                   static_cast<char>(total >> 8),
                   static_cast<char>(total)};
  b.resize(total, '\0');
  return b;
}

TEST(LuoTransportTest, TheBlobMemfdDeclaresItsManifestAndTheBlobsHeader) {
  HandoverPackage pkg;
  pkg.fds = {{7, -1}, {9, -1}};
  pkg.blob = FdtShapedBlob(4096);
  TestMemfd memfd = Memfd(EncodeLuoManifest(pkg));
  Result<uint64_t> declared = LuoBlobMemfdDeclaredBytes(memfd.fd());
  ASSERT_TRUE(declared.ok()) << declared.status().ToString();
  EXPECT_EQ(*declared, 16u + 2 * 8 + 4096);
  // A blob that is not khod's, or no manifest at all: what was read of it.
  pkg.blob = "SNAPSHOT";
  EXPECT_EQ(*LuoBlobMemfdDeclaredBytes(Memfd(EncodeLuoManifest(pkg)).fd()), 16u + 2 * 8 + 8);
  EXPECT_EQ(*LuoBlobMemfdDeclaredBytes(Memfd(std::string(100, 'x')).fd()), 64u);
  // A count of tokens past any file khod reads.
  std::string huge = EncodeLuoManifest(HandoverPackage());
  std::memset(&huge[8], 0xff, 8);
  Result<uint64_t> refused = LuoBlobMemfdDeclaredBytes(Memfd(huge).fd());
  EXPECT_EQ(refused.status().code(), Status::Code::kCorruption) << refused.status().ToString();
}

// Receive reads the blob memfd no further than it declares: a memfd holding a
// MiB past its blob is refused before it is read whole.
TEST(LuoTransportTest, ABlobMemfdLongerThanItDeclaresIsRefused) {
  FakeLuo dev;
  HandoverPackage pkg;
  pkg.blob = FdtShapedBlob(4096);
  TestMemfd memfd = Memfd(EncodeLuoManifest(pkg) + std::string(1 << 20, 'x'));
  dev.preserved[kLuoBlobToken] = ::dup(memfd.fd());
  LuoTransport new_side(&dev, "khod-s");
  Result<ReceivedHandover> r = new_side.Receive();
  ASSERT_FALSE(r.ok()) << "received a blob of " << r->blob.size() << " bytes";
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("more than its manifest and blob header declare"),
            std::string::npos)
      << r.status().ToString();
  // The same memfd without the MiB is received.
  ASSERT_EQ(::ftruncate(memfd.fd(), static_cast<off_t>(EncodeLuoManifest(pkg).size())), 0);
  LuoTransport again(&dev, "khod-s");
  Result<ReceivedHandover> ok = again.Receive();
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->blob, pkg.blob);
}

TEST(LuoTransportTest, ManifestRejectsTruncation) {
  HandoverPackage pkg;
  pkg.blob = "abc";
  pkg.fds = {{1, -1}, {2, -1}};
  std::string m = EncodeLuoManifest(pkg);
  std::vector<uint64_t> tokens;
  std::string blob;
  ASSERT_TRUE(DecodeLuoManifest(m, &tokens, &blob).ok());
  EXPECT_EQ(tokens, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(blob, "abc");
  EXPECT_EQ(DecodeLuoManifest(m.substr(0, 20), &tokens, &blob).code(), Status::Code::kCorruption);
  EXPECT_EQ(DecodeLuoManifest("garbage-garbage-", &tokens, &blob).code(),
            Status::Code::kCorruption);
}

}  // namespace
}  // namespace khod
