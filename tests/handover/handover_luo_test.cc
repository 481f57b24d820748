// The luo transport against a fake /dev/liveupdate: every ioctl request it
// builds (number, size word, session name, fd, token) and its error paths,
// and the checked-in KHODLUO1 manifest (golden/) read field by field.
// No machine here has LUO, so this is what is tested; README says so.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "handover/luo_transport.h"
#include "handover/luo_uapi.h"
#include "serializer/serializer.h"
#include "tests/handover/golden_luo_manifest.h"
#include "tests/support/fixture.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

struct Call {
  int fd;
  unsigned long request;
  std::string arg;  // bytes of the struct as passed
};

// Models what the kernel does, as read in upstream kernel/liveupdate/
// (luo_core.c, luo_session.c, luo_file.c) and mm/memfd_luo.c: one open of the
// device at a time (EBUSY), sessions by name, files preserved by token (EEXIST
// for a token the session holds; ENOENT where no handler takes the file, as
// for a guest_memfd), an outgoing session whose fd is closed before the kexec
// dropped with its files, Kexec() handing the sessions to the new kernel,
// RETRIEVE_SESSION by name (ENOENT for none, EINVAL for one retrieved
// already), and FINISH, or closing a retrieved session, freeing the files.
class FakeLuo : public LuoDevice {
 public:
  static constexpr int kDeviceFd = 1000;
  struct Session {
    std::string name;
    std::map<uint64_t, int> files;  // token -> a dup of the preserved file
    bool retrieved = false;
  };
  ~FakeLuo() override {
    for (auto& kv : outgoing) Drop(&kv.second);
    for (auto& kv : incoming) Drop(&kv.second);
  }
  int Open(const std::string& path) override {
    if (!present) return -ENOENT;
    if (device_open) return -EBUSY;
    device_open = true;
    opened_path = path;
    return kDeviceFd;
  }
  int Ioctl(int fd, unsigned long req, void* arg) override {
    size_t size = *static_cast<uint32_t*>(arg);
    calls.push_back({fd, req, std::string(static_cast<char*>(arg), size)});
    if (req == luo::kIoctlCreateSession) {
      if (fd != kDeviceFd || !device_open) return -EBADF;
      auto* a = static_cast<luo::CreateSession*>(arg);
      a->fd = next_session_fd++;
      outgoing[a->fd].name = reinterpret_cast<char*>(a->name);
      return 0;
    }
    if (req == luo::kIoctlRetrieveSession) {
      if (fd != kDeviceFd || !device_open) return -EBADF;
      if (retrieve_session_errno) return -retrieve_session_errno;
      auto* a = static_cast<luo::RetrieveSession*>(arg);
      auto it = incoming.find(reinterpret_cast<char*>(a->name));
      if (it == incoming.end()) return -ENOENT;
      if (it->second.retrieved) return -EINVAL;
      it->second.retrieved = true;
      a->fd = next_session_fd++;
      retrieved_name[a->fd] = it->first;
      return 0;
    }
    if (req == luo::kSessionPreserveFd) {
      auto it = outgoing.find(fd);
      if (it == outgoing.end()) return -EBADF;
      auto* a = static_cast<luo::PreserveFd*>(arg);
      if (refuse_token && a->token == refuse_token) return -ENOENT;  // no handler takes it
      if (it->second.files.count(a->token)) return -EEXIST;
      it->second.files[a->token] = ::dup(a->fd);
      return 0;
    }
    Session* in = RetrievedBy(fd);
    if (req == luo::kSessionRetrieveFd) {
      if (!in) return -EBADF;
      auto* a = static_cast<luo::RetrieveFd*>(arg);
      auto it = in->files.find(a->token);
      if (it == in->files.end()) return -ENOENT;
      a->fd = ::dup(it->second);
      return 0;
    }
    if (req == luo::kSessionFinish) {
      if (!in) return -EBADF;
      FinishRetrieved(fd);
      return 0;
    }
    return -EINVAL;
  }
  void Close(int fd) override {
    closed.push_back(fd);
    if (fd == kDeviceFd) {
      device_open = false;
    } else if (auto it = outgoing.find(fd); it != outgoing.end()) {
      Drop(&it->second);  // before the kexec: unpreserved
      outgoing.erase(it);
    } else if (RetrievedBy(fd)) {
      FinishRetrieved(fd);
    }
  }
  // The kexec: every outgoing session, as its process left it, is the new
  // kernel's to retrieve by name.
  void Kexec() {
    for (auto& kv : outgoing) incoming[kv.second.name] = kv.second;
    outgoing.clear();
  }
  // The files an incoming session `name` holds, to take from or add to.
  std::map<uint64_t, int>& Incoming(const std::string& name) {
    incoming[name].name = name;
    return incoming[name].files;
  }
  const std::map<uint64_t, int>* Outgoing(int session_fd) const {
    auto it = outgoing.find(session_fd);
    return it == outgoing.end() ? nullptr : &it->second.files;
  }

  bool present = true;
  bool device_open = false;
  uint64_t refuse_token = 0;
  int retrieve_session_errno = 0;  // RETRIEVE_SESSION fails so when set
  int next_session_fd = 2000;
  std::string opened_path;
  std::vector<Call> calls;
  std::vector<int> closed;

 private:
  static void Drop(Session* s) {
    for (auto& kv : s->files) ::close(kv.second);
    s->files.clear();
  }
  Session* RetrievedBy(int fd) {
    auto n = retrieved_name.find(fd);
    if (n == retrieved_name.end()) return nullptr;
    auto it = incoming.find(n->second);
    return it == incoming.end() ? nullptr : &it->second;
  }
  void FinishRetrieved(int fd) {
    auto n = retrieved_name.find(fd);
    auto it = incoming.find(n->second);
    if (it != incoming.end()) {
      Drop(&it->second);
      incoming.erase(it);
    }
    retrieved_name.erase(n);
  }
  std::map<int, Session> outgoing;          // by session fd, until Kexec
  std::map<std::string, Session> incoming;  // by name, after Kexec
  std::map<int, std::string> retrieved_name;
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
  // The device is let go once the session exists (one open at a time for the
  // whole host); the session fd stays open until the kexec.
  EXPECT_EQ(dev.closed, std::vector<int>{FakeLuo::kDeviceFd});
  EXPECT_FALSE(dev.device_open);
  ASSERT_NE(dev.Outgoing(2000), nullptr);
  EXPECT_EQ(dev.Outgoing(2000)->size(), 3u);
}

// LUO lets one process at a time open /dev/liveupdate: held by another, it is
// Busy naming why, and nothing is created.
TEST(LuoTransportTest, ADeviceHeldByAnotherProcessIsBusy) {
  FakeLuo dev;
  dev.device_open = true;  // another LUO user has it open
  LuoTransport t(&dev, "khod-x");
  Status s = t.Send(HandoverPackage());
  EXPECT_EQ(s.code(), Status::Code::kBusy) << s.ToString();
  EXPECT_NE(s.message().find("open in another process"), std::string::npos) << s.message();
  EXPECT_TRUE(dev.calls.empty());
}

// The kernel refuses a token the session holds already (EEXIST).
TEST(LuoTransportTest, ATokenPreservedTwiceIsRefusedNamingIt) {
  FakeLuo dev;
  LuoTransport t(&dev, "khod-x");
  TestMemfd gmem1 = Memfd("one"), gmem2 = Memfd("two");
  HandoverPackage pkg;
  pkg.blob = "b";
  pkg.fds = {{7, gmem1.fd()}, {7, gmem2.fd()}};
  Status s = t.Send(pkg);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("already holds that token"), std::string::npos) << s.message();
  EXPECT_EQ(dev.Outgoing(2000), nullptr);  // Abort closed the session: nothing preserved
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
    dev.Kexec();  // while the old side still holds its session
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
    dev.Kexec();
  }
  ::close(dev.Incoming("khod-s").at(43));
  dev.Incoming("khod-s").erase(43);  // the kernel has no file under token 43
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
}

// A new side that retrieved nothing (no session under its name, the device
// busy or absent: Restore then used the state-dir copy) has nothing to
// finish: Finish is done, and asks nothing of the device.
TEST(LuoTransportTest, FinishWithNothingRetrievedIsDone) {
  FakeLuo dev;
  LuoTransport fresh(&dev, "khod-s");
  EXPECT_TRUE(fresh.Finish().ok());
  dev.retrieve_session_errno = ENOENT;
  LuoTransport none(&dev, "khod-s");
  EXPECT_EQ(none.Receive().status().code(), Status::Code::kNotFound);
  const size_t calls = dev.calls.size();
  Status f = none.Finish();
  EXPECT_TRUE(f.ok()) << f.ToString();
  EXPECT_EQ(dev.calls.size(), calls);
}

// A session fd closed before the kexec (khod stopped, or Abort) drops the
// session: the new kernel has nothing to retrieve, which is NotFound.
TEST(LuoTransportTest, ASessionClosedBeforeTheKexecIsNotCarried) {
  FakeLuo dev;
  TestMemfd gmem = Memfd("guest");
  {
    LuoTransport old_side(&dev, "khod-s");
    HandoverPackage pkg;
    pkg.blob = "SNAPSHOT";
    pkg.fds = {{42, gmem.fd()}};
    ASSERT_TRUE(old_side.Send(pkg).ok());
  }  // closed before the kexec
  dev.Kexec();
  LuoTransport new_side(&dev, "khod-s");
  EXPECT_EQ(new_side.Receive().status().code(), Status::Code::kNotFound);
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
  EXPECT_EQ(dev.Outgoing(2000), nullptr);
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
  EXPECT_EQ(s.code(), Status::Code::kUnsupported) << s.ToString();
  EXPECT_NE(s.message().find("gmem 9"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("preserves shmem memfds only"), std::string::npos) << s.message();
  // Abort closed the session fd: the kernel drops what was preserved.
  EXPECT_EQ(dev.closed, (std::vector<int>{FakeLuo::kDeviceFd, 2000}));
  EXPECT_EQ(dev.Outgoing(2000), nullptr);
}

// A name that does not fit the kernel's name[64] is refused before it is
// copied there, on both sides.
TEST(LuoTransportTest, ASessionNameTooLongIsRefusedBeforeItIsCopied) {
  FakeLuo dev;
  LuoTransport old_side(&dev, std::string(64, 'n'));
  EXPECT_EQ(old_side.Send(HandoverPackage()).code(), Status::Code::kInvalidArgument);
  LuoTransport new_side(&dev, std::string(200, 'n'));
  EXPECT_EQ(new_side.Receive().status().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(dev.calls.empty());
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
  dev.Incoming("khod-s")[kLuoBlobToken] = ::dup(memfd.fd());
  LuoTransport new_side(&dev, "khod-s");
  Result<ReceivedHandover> r = new_side.Receive();
  ASSERT_FALSE(r.ok()) << "received a blob of " << r->blob.size() << " bytes";
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
  EXPECT_NE(r.status().message().find("more than its manifest and blob header declare"),
            std::string::npos)
      << r.status().ToString();
  // The same memfd without the MiB is received (from a session of its own:
  // the kernel retrieves a session once).
  ASSERT_EQ(::ftruncate(memfd.fd(), static_cast<off_t>(EncodeLuoManifest(pkg).size())), 0);
  dev.Incoming("khod-t")[kLuoBlobToken] = ::dup(memfd.fd());
  LuoTransport again(&dev, "khod-t");
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

std::string ReadGolden(const char* dir, const char* name) {
  std::ifstream f(GoldenPath(dir, name), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The checked-in manifest (golden/luo_manifest_v1.khodluo, make_luo_golden)
// is what an old khod left in its blob memfd before a kexec; the new khod may
// be another build. Each field is checked at its offset in the file, so a
// layout change made on both the writing and the reading side still fails
// here; then today's reader and writer are held to it.
TEST(LuoManifestGoldenTest, TheGoldenManifestReadsFieldByField) {
  const std::string golden = ReadGolden(kLuoManifestGoldenDir, kGoldenLuoManifestName);
  const std::string blob = ReadGolden(kSnapshotGoldenDir, kGoldenLuoBlobName);
  ASSERT_FALSE(golden.empty()) << "missing "
                               << GoldenPath(kLuoManifestGoldenDir, kGoldenLuoManifestName);
  ASSERT_FALSE(blob.empty()) << "missing " << GoldenPath(kSnapshotGoldenDir, kGoldenLuoBlobName);
  // docs/FORMAT.md "luo": magic, n (u64 little-endian), n tokens (u64
  // little-endian, in preserve order), then the blob to the file's end.
  ASSERT_EQ(golden.size(), 16u + 3 * 8 + blob.size());
  EXPECT_EQ(golden.substr(0, 8), "KHODLUO1");
  EXPECT_EQ(golden.substr(8, 8), std::string("\x03\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(golden.substr(16, 8), std::string("\x2a\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(golden.substr(24, 8), std::string("\x2f\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(golden.substr(32, 8), "\x11\x22\x33\x44\x55\x66\x77\x88");
  EXPECT_EQ(golden.substr(40), blob);
  EXPECT_EQ(golden.substr(40, 4), "\xd0\x0d\xfe\xed") << "the blob is an FDT snapshot";

  // Today's reader: the tokens in order, the blob exactly, which decodes.
  std::vector<uint64_t> tokens;
  std::string got_blob;
  const Status decoded = DecodeLuoManifest(golden, &tokens, &got_blob);
  ASSERT_TRUE(decoded.ok()) << decoded.ToString();
  EXPECT_EQ(tokens, (std::vector<uint64_t>{0x2a, 0x2f, 0x8877665544332211ull}));
  EXPECT_EQ(got_blob, blob);
  Snapshot snap;
  BlobFormat format;
  const Status snap_decoded = DecodeAny(got_blob, &snap, &format);
  ASSERT_TRUE(snap_decoded.ok()) << snap_decoded.ToString();
  EXPECT_EQ(format, BlobFormat::kFdt);
  EXPECT_EQ(snap.header.format_major, 1);
  EXPECT_EQ(snap.header.format_minor, 2);
  EXPECT_EQ(snap.gmems.size(), 6u);
  // The memfd declares itself whole: manifest, then the FDT's totalsize.
  TestMemfd memfd = Memfd(golden);
  Result<uint64_t> declared = LuoBlobMemfdDeclaredBytes(memfd.fd());
  ASSERT_TRUE(declared.ok()) << declared.status().ToString();
  EXPECT_EQ(*declared, golden.size());

  // Today's writer writes it byte for byte. A change here is a new manifest
  // version (a new magic, a new golden beside this one, which must still read).
  HandoverPackage pkg;
  pkg.blob = blob;
  for (uint64_t token : kGoldenLuoTokens) pkg.fds.push_back({token, -1});
  EXPECT_TRUE(EncodeLuoManifest(pkg) == golden)
      << "EncodeLuoManifest no longer writes " << kGoldenLuoManifestName;
}

// The new side's Receive takes the golden memfd from a retrieved session: the
// blob, then each token the manifest lists, in its order.
TEST(LuoManifestGoldenTest, ANewSideReceivesTheGoldenManifest) {
  const std::string golden = ReadGolden(kLuoManifestGoldenDir, kGoldenLuoManifestName);
  const std::string blob = ReadGolden(kSnapshotGoldenDir, kGoldenLuoBlobName);
  ASSERT_FALSE(golden.empty());
  FakeLuo dev;
  TestMemfd memfd = Memfd(golden);
  dev.Incoming("khod-s")[kLuoBlobToken] = ::dup(memfd.fd());
  std::vector<TestMemfd> gmems;
  for (uint64_t token : kGoldenLuoTokens) {
    gmems.push_back(Memfd("gmem " + std::to_string(token)));
    dev.Incoming("khod-s")[token] = ::dup(gmems.back().fd());
  }
  LuoTransport new_side(&dev, "khod-s");
  Result<ReceivedHandover> r = new_side.Receive();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->blob == blob);
  std::vector<uint64_t> asked;  // the tokens of the RETRIEVE_FD requests, in order
  for (const Call& c : dev.calls) {
    if (c.request != luo::kSessionRetrieveFd) continue;
    luo::RetrieveFd arg;
    ASSERT_EQ(c.arg.size(), sizeof(arg));
    std::memcpy(&arg, c.arg.data(), sizeof(arg));
    asked.push_back(arg.token);
  }
  EXPECT_EQ(asked, (std::vector<uint64_t>{kLuoBlobToken, 0x2a, 0x2f, 0x8877665544332211ull}));
  ASSERT_EQ(r->fds.size(), 3u);
  for (uint64_t token : kGoldenLuoTokens) {
    ASSERT_EQ(r->fds.count(token), 1u) << token;
    char buf[64] = {};
    EXPECT_GT(::pread(r->fds[token], buf, sizeof(buf) - 1, 0), 0);
    EXPECT_EQ(std::string(buf), "gmem " + std::to_string(token));
    ::close(r->fds[token]);
  }
}

}  // namespace
}  // namespace khod
