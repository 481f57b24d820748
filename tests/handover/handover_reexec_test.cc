// reexec and dir transports, and the crash-safe record file they rely on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libfdt.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "common/file_read.h"
#include "daemon/record_file.h"
#include "handover/dir_transport.h"
#include "handover/kho_debugfs.h"
#include "handover/luo_transport.h"
#include "handover/reexec_transport.h"
#include "kernel/memory_file.h"
#include "serializer/serializer.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

TEST(AdoptSpecTest, RoundTripsAndRefusesMalformed) {
  Result<AdoptSpec> s = ParseAdoptSpec("blob:5,1:7,22:8");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->blob_fd, 5);
  EXPECT_EQ(s->fds.at(1), 7);
  EXPECT_EQ(s->fds.at(22), 8);
  EXPECT_EQ(FormatAdoptSpec(*s), "blob:5,1:7,22:8");
  EXPECT_FALSE(ParseAdoptSpec("blob:5,blob:6").ok());
  EXPECT_FALSE(ParseAdoptSpec("1:7,1:8").ok());
  EXPECT_FALSE(ParseAdoptSpec("x:7").ok());
  EXPECT_FALSE(ParseAdoptSpec("1:-3").ok());
  EXPECT_FALSE(ParseAdoptSpec("17").ok());
}

TEST(AdoptSpecTest, RefusesOverflowTrailingCommaAndNonDigitsStrictly) {
  // 18446744073709551615 is UINT64_MAX: accepted; one more is refused, not
  // saturated, and so is a 21-digit token.
  Result<AdoptSpec> max = ParseAdoptSpec("blob:5,18446744073709551615:7");
  ASSERT_TRUE(max.ok()) << max.status().ToString();
  EXPECT_EQ(max->fds.count(UINT64_MAX), 1u);
  Result<AdoptSpec> over = ParseAdoptSpec("blob:5,18446744073709551616:7");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.status().message().find("larger than"), std::string::npos)
      << over.status().message();
  EXPECT_FALSE(ParseAdoptSpec("blob:5,123456789012345678901:7").ok());
  Result<AdoptSpec> trailing = ParseAdoptSpec("blob:5,1:7,");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.status().message().find("empty item"), std::string::npos);
  EXPECT_FALSE(ParseAdoptSpec(",blob:5").ok());
  EXPECT_FALSE(ParseAdoptSpec("blob:5,,1:7").ok());
  EXPECT_FALSE(ParseAdoptSpec("blob:5,1:").ok());
  EXPECT_FALSE(ParseAdoptSpec("blob:5,+1:7").ok());
  EXPECT_FALSE(ParseAdoptSpec("blob:1234567890").ok());  // fd past 9 digits
}

// One fd, one item: an fd named twice (under two tokens, or as the blob and
// a gmem) would be closed twice, and fds 0-2 are stdin, stdout and stderr.
TEST(AdoptSpecTest, RefusesAnFdNamedTwiceAndStdio) {
  for (const char* bad :
       {"1:7,2:7", "blob:7,1:7", "1:7,blob:7", "blob:0", "blob:2", "blob:5,3:1", "blob:5,3:0"}) {
    Result<AdoptSpec> r = ParseAdoptSpec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--adopt"), std::string::npos) << r.status().message();
  }
  EXPECT_NE(ParseAdoptSpec("1:7,2:7").status().message().find("fd 7 given twice"),
            std::string::npos)
      << ParseAdoptSpec("1:7,2:7").status().message();
  EXPECT_NE(ParseAdoptSpec("blob:7,1:7").status().message().find("fd 7 given twice"),
            std::string::npos);
  EXPECT_NE(ParseAdoptSpec("blob:2").status().message().find("fd 2 is stdin, stdout or stderr"),
            std::string::npos)
      << ParseAdoptSpec("blob:2").status().message();
  EXPECT_TRUE(ParseAdoptSpec("blob:3,1:4,2:5").ok());
}

TEST(PagePinsSpecTest, RoundTripsRepeatedTokensAndRefusesMalformed) {
  Result<std::map<uint64_t, std::vector<int>>> s = ParsePagePinsSpec("1:9,2:11,1:10");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->at(1), (std::vector<int>{9, 10}));
  EXPECT_EQ(s->at(2), (std::vector<int>{11}));
  EXPECT_EQ(FormatPagePinsSpec(*s), "1:9,1:10,2:11");
  EXPECT_TRUE(ParsePagePinsSpec("")->empty());
  for (const char* bad : {"1:9,2:9", "1:9,", ",1:9", "1:9,,2:10", "1", "x:9", "1:x", "1:-9",
                          "18446744073709551616:9", "1:1234567890"}) {
    Result<std::map<uint64_t, std::vector<int>>> r = ParsePagePinsSpec(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("--page-pins"), std::string::npos) << r.status().message();
  }
  std::string many;
  for (int fd = 3; fd < 3 + 65537; ++fd)
    many += (many.empty() ? "" : ",") + ("1:" + std::to_string(fd));
  Result<std::map<uint64_t, std::vector<int>>> too_many = ParsePagePinsSpec(many);
  ASSERT_FALSE(too_many.ok());
  EXPECT_NE(too_many.status().message().find("more than 65536"), std::string::npos)
      << too_many.status().message();
}

TEST(AdoptSpecTest, ListenFdIsParsedStrictly) {
  Result<int> ok = ParseFdNumber("--listen-fd", "7");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  for (const char* bad : {"abc", "", "-1", "7x", " 7", "1234567890", "99999999999999999999999"}) {
    Result<int> r = ParseFdNumber("--listen-fd", bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("--listen-fd"), std::string::npos) << r.status().message();
  }
}

TEST(AdoptSpecTest, FaultFlagsAreOneShot) {
  EXPECT_TRUE(IsOneShotFaultFlag("--crash-at=frozen"));
  EXPECT_TRUE(IsOneShotFaultFlag("--fault=corrupt-handover-blob"));
  EXPECT_FALSE(IsOneShotFaultFlag("--state-dir=/x"));
  EXPECT_FALSE(IsOneShotFaultFlag("--faulty=1"));
}

TEST(ReexecTransportTest, SendMakesInheritableCopiesAndASealedBlob) {
  const TestMemfd gmem(4096, "gmem");
  const int g = gmem.fd();
  ReexecTransport t;
  HandoverPackage pkg;
  pkg.blob = "the-blob";
  pkg.fds = {{3, g}};
  ASSERT_TRUE(t.Send(pkg).ok());
  const std::vector<std::string> args = t.ExecArguments();
  ASSERT_EQ(args.size(), 1u);
  ASSERT_EQ(args[0].rfind("--adopt=", 0), 0u) << args[0];
  Result<AdoptSpec> spec = ParseAdoptSpec(args[0].substr(strlen("--adopt=")));
  ASSERT_TRUE(spec.ok());
  // Both survive exec (no FD_CLOEXEC); the original keeps its CLOEXEC.
  EXPECT_EQ(::fcntl(spec->blob_fd, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::fcntl(spec->fds.at(3), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_NE(::fcntl(g, F_GETFD) & FD_CLOEXEC, 0);
  // Sealed: nobody can rewrite the blob between the two khods.
  EXPECT_EQ(::pwrite(spec->blob_fd, "X", 1, 0), -1);
  // What the new process does with the same fd numbers.
  ReexecTransport next(*spec);
  Result<ReceivedHandover> r = next.Receive();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blob_bytes(), "the-blob");
  EXPECT_TRUE(r->blob.empty());  // mapped where it lies, not copied
  struct stat a, b;
  ::fstat(g, &a);
  ::fstat(r->fds.at(3), &b);
  EXPECT_EQ(a.st_ino, b.st_ino);  // the same file: memory never moved
  ::close(r->fds.at(3));
}

// Stage copies the blob ahead of Send; Send carries that copy (sealed,
// inheritable), or makes its own when the package is not what was staged.
TEST(ReexecTransportTest, SendCarriesTheBlobStagedAheadAndAbortDropsIt) {
  const std::string blob(300 << 10, 'b');
  auto blob_fd_of = [](const ReexecTransport& t) {
    Result<AdoptSpec> spec = ParseAdoptSpec(t.ExecArguments()[0].substr(std::strlen("--adopt=")));
    EXPECT_TRUE(spec.ok());
    return spec.ok() ? spec->blob_fd : -1;
  };
  auto read_all = [](int fd) {
    struct stat st;
    EXPECT_EQ(::fstat(fd, &st), 0);
    std::string out(static_cast<size_t>(st.st_size), '\0');
    EXPECT_EQ(::pread(fd, &out[0], out.size(), 0), static_cast<ssize_t>(out.size()));
    return out;
  };
  {
    ReexecTransport t;
    ASSERT_TRUE(t.Stage(blob).ok());
    // The staged memfd exists before Send, close-on-exec until Send takes it.
    int staged = -1;
    for (int fd = 3; fd < 1024 && staged < 0; ++fd) {
      Result<std::string> link = OwnFdLink(fd);
      if (link.ok() && link->find("khod-handover-blob") != std::string::npos) staged = fd;
    }
    ASSERT_GE(staged, 0);
    EXPECT_NE(::fcntl(staged, F_GETFD) & FD_CLOEXEC, 0);
    HandoverPackage pkg;
    pkg.blob = blob;
    ASSERT_TRUE(t.Send(pkg).ok());
    const int sent = blob_fd_of(t);
    EXPECT_EQ(sent, staged);  // the staged copy itself, not a second one
    EXPECT_EQ(::fcntl(sent, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(::pwrite(sent, "X", 1, 0), -1);  // sealed
    EXPECT_EQ(read_all(sent), blob);
    ASSERT_TRUE(t.Abort().ok());
    EXPECT_EQ(::fcntl(sent, F_GETFD), -1);  // closed
  }
  {
    ReexecTransport t;
    ASSERT_TRUE(t.Stage(blob).ok());
    HandoverPackage other;
    other.blob = "not what was staged";
    ASSERT_TRUE(t.Send(other).ok());
    EXPECT_EQ(read_all(blob_fd_of(t)), other.blob);
    ASSERT_TRUE(t.Abort().ok());
  }
}

// What the session asks of a transport instead of its name (handover/transport.h):
// only reexec needs an exec, and only its sender cannot receive what it sent.
TEST(TransportTest, EachSaysWhetherItNeedsAnExecAndWhetherItsSenderCanReceive) {
  const TempDir tmp("handover-test");
  Result<SafeDir> dir = SafeDir::Open(tmp.path() + "/handover");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  DirTransport d(*dir);
  LuoTransport l(nullptr, LuoTransport::SessionNameFor(1));
  ReexecTransport r;
  EXPECT_TRUE(d.ExecArguments().empty());
  EXPECT_TRUE(l.ExecArguments().empty());
  EXPECT_EQ(r.ExecArguments(), std::vector<std::string>({"--adopt="}));  // nothing staged yet
  EXPECT_TRUE(d.sender_can_receive());
  EXPECT_TRUE(l.sender_can_receive());
  EXPECT_FALSE(r.sender_can_receive());
  // Only reexec carries the very files (same inodes) that Attach recorded.
  EXPECT_FALSE(d.keeps_inodes());
  EXPECT_FALSE(l.keeps_inodes());
  EXPECT_TRUE(r.keeps_inodes());
}

TEST(ReexecTransportTest, ReceiveWithoutAdoptionSaysTheFdsAreGone) {
  ReexecTransport t;
  Result<ReceivedHandover> r = t.Receive();
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find("--adopt"), std::string::npos);
}

// A blob memfd as the old khod leaves it (inheritable), holding `bytes`, with `seals` added.
int InheritableBlob(const std::string& bytes, int seals, unsigned flags = MFD_ALLOW_SEALING) {
  const int fd = ::memfd_create("khod-handover-blob", flags);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  if (seals != 0) {
    EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, seals), 0);
  }
  return fd;
}

constexpr int kBlobSeals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The bytes the decode hashes must not change under it, nor the file shrink
// under the mapping (SIGBUS): B is taken only as a regular file sealed
// against writes, growth and shrinking (BlobMemfd::Seal), else Corruption
// naming the fd and what is missing.
TEST(ReexecTransportTest, ABlobMemfdNotSealedAgainstChangeIsRefusedNamingWhatIsMissing) {
  struct Case {
    int seals;
    unsigned flags;
    std::vector<std::string> said;
  };
  const std::vector<Case> cases = {
      {0, MFD_ALLOW_SEALING, {"not sealed", "F_SEAL_WRITE", "F_SEAL_GROW", "F_SEAL_SHRINK"}},
      {F_SEAL_WRITE | F_SEAL_GROW, MFD_ALLOW_SEALING, {"not sealed", "F_SEAL_SHRINK"}},
      {F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL, MFD_ALLOW_SEALING, {"F_SEAL_WRITE"}},
      {0, 0, {"F_SEAL_WRITE", "F_SEAL_GROW", "F_SEAL_SHRINK"}},  // sealing never allowed
  };
  for (const Case& c : cases) {
    const int blob = InheritableBlob("the-blob", c.seals, c.flags);
    const int gmem = ::memfd_create("gmem", 0);
    AdoptSpec spec;
    spec.blob_fd = blob;
    spec.fds[1] = gmem;
    ReexecTransport t(spec);
    Result<ReceivedHandover> r = t.Receive();
    ASSERT_FALSE(r.ok()) << c.seals;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Has(r.status().message(), "blob memfd fd " + std::to_string(blob)))
        << r.status().message();
    for (const std::string& part : c.said)
      EXPECT_TRUE(Has(r.status().message(), part)) << part << " not in " << r.status().message();
    // Nothing handed out, nothing left inheritable.
    EXPECT_EQ(::fcntl(blob, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(::fcntl(gmem, F_GETFD), FD_CLOEXEC);
  }
  // Not a regular file at all.
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  {
    AdoptSpec spec;
    spec.blob_fd = p[0];
    ReexecTransport t(spec);
    Result<ReceivedHandover> r = t.Receive();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
    EXPECT_TRUE(Has(r.status().message(), "fd " + std::to_string(p[0]) + " is not a regular file"))
        << r.status().message();
  }
  ::close(p[1]);
  // The three seals are enough (F_SEAL_SEAL is not needed): taken.
  const int sealed = InheritableBlob("the-blob", kBlobSeals);
  AdoptSpec spec;
  spec.blob_fd = sealed;
  ReexecTransport t(spec);
  Result<ReceivedHandover> r = t.Receive();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blob_bytes(), "the-blob");
}

// Receive sets FD_CLOEXEC on every adopted fd before anything else; when it
// fails it hands nothing out and the transport keeps every fd it found
// open, for a retry, closing them when it goes. What a Receive hands out is
// the caller's.
TEST(ReexecTransportTest, AFailedReceiveKeepsTheAdoptedFdsCloseOnExecForARetry) {
  const int blob = InheritableBlob("the-blob", kBlobSeals | F_SEAL_SEAL);
  const int g1 = ::memfd_create("g1", 0);
  const int missing = ::dup(g1);  // a number then closed: not open
  ASSERT_EQ(::close(missing), 0);
  AdoptSpec spec;
  spec.blob_fd = blob;
  spec.fds = {{1, g1}, {2, missing}};
  {
    ReexecTransport t(spec);
    Result<ReceivedHandover> r = t.Receive();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
    EXPECT_TRUE(Has(r.status().message(), "fd " + std::to_string(missing) + " for gmem 2"))
        << r.status().message();
    EXPECT_EQ(::fcntl(blob, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(::fcntl(g1, F_GETFD), FD_CLOEXEC);
    // The missing one comes (a retry finds it): the retry takes everything.
    const int g2 = ::memfd_create("g2", 0);  // the lowest free number: `missing` itself, likely
    if (g2 != missing) {
      ASSERT_EQ(::dup2(g2, missing), missing);
      ::close(g2);
    }
    r = t.Receive();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->blob_bytes(), "the-blob");
    EXPECT_EQ(r->fds, (std::map<uint64_t, int>{{1, g1}, {2, missing}}));
    EXPECT_EQ(::fcntl(missing, F_GETFD), FD_CLOEXEC);
    EXPECT_EQ(::fcntl(blob, F_GETFD), -1);  // mapped, then closed
  }
  // Handed out: the caller's, not closed with the transport.
  EXPECT_EQ(::fcntl(g1, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::fcntl(missing, F_GETFD), FD_CLOEXEC);
  ::close(missing);

  // Never received: the transport closes what it kept, and only that (a
  // number that was not open when it looked is not its to close).
  const int blob2 = InheritableBlob("b", 0);  // refused: not sealed
  const int g3 = ::memfd_create("g3", 0);
  const int absent = ::dup(g3);
  ASSERT_EQ(::close(absent), 0);
  spec.blob_fd = blob2;
  spec.fds = {{3, g3}, {4, absent}};
  {
    ReexecTransport t(spec);
    EXPECT_EQ(t.Receive().status().code(), Status::Code::kCorruption);
    ASSERT_EQ(::dup2(g1, absent), absent);  // someone else's file now holds that number
  }
  EXPECT_EQ(::fcntl(blob2, F_GETFD), -1);
  EXPECT_EQ(::fcntl(g3, F_GETFD), -1);
  EXPECT_GE(::fcntl(absent, F_GETFD), 0);
  ::close(absent);
  ::close(g1);
}

TEST(DirTransportTest, BlobRoundTripsAndFinishRemovesIt) {
  const TempDir tmp("handover-test");
  Result<SafeDir> dir = SafeDir::Open(tmp.path() + "/handover");
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  DirTransport t(*dir);
  HandoverPackage pkg;
  Snapshot snap;
  ASSERT_TRUE(EncodeProto(snap, &pkg.blob).ok());
  ASSERT_TRUE(t.Send(pkg).ok());
  Result<ReceivedHandover> r = DirTransport(*dir).Receive();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->blob, pkg.blob);
  EXPECT_TRUE(r->fds.empty());
  ASSERT_TRUE(t.Finish().ok());
  EXPECT_EQ(DirTransport(*dir).Receive().status().code(), Status::Code::kNotFound);
}

TEST(RecordFileTest, DetectsTornAndFlippedFiles) {
  const TempDir tmp("handover-test");
  const std::string p = tmp.path() + "/rec";
  ASSERT_TRUE(WriteRecordFile(p, "payload-123").ok());
  Result<std::string> r = ReadRecordFile(p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "payload-123");
  Result<std::string> raw = ReadWholeFile(p);
  std::string flipped = *raw;
  flipped[flipped.size() - 2] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(p, flipped).ok());
  EXPECT_EQ(ReadRecordFile(p).status().code(), Status::Code::kCorruption);
  ASSERT_TRUE(WriteFileAtomically(p, raw->substr(0, raw->size() - 3)).ok());
  EXPECT_EQ(ReadRecordFile(p).status().code(), Status::Code::kCorruption);
  EXPECT_EQ(ReadRecordFile(p + ".absent").status().code(), Status::Code::kNotFound);
  // No temporary is left behind by a completed write.
  EXPECT_NE(::access((p + ".tmp").c_str(), F_OK), 0);
}

TEST(RecordFileTest, EndlessFileIsRefusedPastTheBound) {
  FileReadOptions o;  // khod's defaults: too large is Corruption
  o.max_bytes = 1 << 20;
  Result<std::string> z = ReadWholeFile("/dev/zero", o);
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(z.status().message(), "/dev/zero is a character device, not a regular file");
}

TEST(KhoDebugfsTest, ReadsSubFdtAndRefusesNonFdt) {
  const TempDir tmp("handover-test");
  const std::string root = tmp.path();
  EXPECT_EQ(ReadKhoIncomingSubFdt(root).status().code(), Status::Code::kUnsupported);
  ASSERT_TRUE(MakeDirs(root + "/kho/in/sub_fdts", 0700).ok());
  // An empty tree, then padding to a page: cut at its totalsize.
  std::string fdt(128, '\0');
  ASSERT_EQ(fdt_create_empty_tree(&fdt[0], static_cast<int>(fdt.size())), 0);
  fdt.resize(fdt_totalsize(fdt.data()));
  ASSERT_TRUE(
      WriteFileAtomically(root + "/kho/in/sub_fdts/khod", fdt + std::string(4096, '\0')).ok());
  Result<std::string> r = ReadKhoIncomingSubFdt(root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, fdt);
  ASSERT_TRUE(WriteFileAtomically(root + "/kho/in/sub_fdts/khod", "not an fdt").ok());
  EXPECT_EQ(ReadKhoIncomingSubFdt(root).status().code(), Status::Code::kCorruption);
  // The magic and a totalsize smaller than an FDT header (16, 0): no FDT.
  for (const char size : {'\x10', '\0'}) {
    const std::string header = std::string("\xd0\x0d\xfe\xed\x00\x00\x00", 7) + size;
    ASSERT_TRUE(
        WriteFileAtomically(root + "/kho/in/sub_fdts/khod", header + std::string(4088, '\0')).ok());
    Result<std::string> tiny = ReadKhoIncomingSubFdt(root);
    EXPECT_EQ(tiny.status().code(), Status::Code::kCorruption) << int{size};
    EXPECT_NE(tiny.status().message().find("smaller than its header"), std::string::npos)
        << tiny.status().ToString();
  }
}

}  // namespace
}  // namespace khod
