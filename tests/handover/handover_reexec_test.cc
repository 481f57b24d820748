// reexec and dir transports, and the crash-safe record file they rely on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

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
}

TEST(ReexecTransportTest, ReceiveWithoutAdoptionSaysTheFdsAreGone) {
  ReexecTransport t;
  Result<ReceivedHandover> r = t.Receive();
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
  EXPECT_NE(r.status().message().find("--adopt"), std::string::npos);
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
  // Minimal header: magic d00dfeed, totalsize 16, then padding to a page.
  std::string fdt = std::string("\xd0\x0d\xfe\xed\x00\x00\x00\x10", 8) + std::string(8, '\0');
  ASSERT_TRUE(
      WriteFileAtomically(root + "/kho/in/sub_fdts/khod", fdt + std::string(4080, '\0')).ok());
  Result<std::string> r = ReadKhoIncomingSubFdt(root);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 16u);
  ASSERT_TRUE(WriteFileAtomically(root + "/kho/in/sub_fdts/khod", "not an fdt").ok());
  EXPECT_EQ(ReadKhoIncomingSubFdt(root).status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace khod
