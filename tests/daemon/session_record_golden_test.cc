// The checked-in KHODREC1 session record (tests/daemon/golden/session_record_v1.rec)
// keeps reading and parsing to GoldenSessionRecord(), today's writer still
// writes it byte for byte, the frame is the one docs/FORMAT.md draws, and
// every single-bit flip, every truncation and an appended byte are refused by
// ReadRecordFile as Corruption.
#include <fcntl.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "common/coding.h"
#include "daemon/record_file.h"
#include "daemon/session_record.pb.h"
#include "state/snapshot.h"
#include "tests/daemon/golden_session_record.h"
#include "tests/support/fixture.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

std::string ReadGolden() {
  std::ifstream f(GoldenPath(kSessionRecordGoldenDir, kGoldenSessionRecordName), std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string TmpPath(const std::string& name);

// A copy in a directory of this test's: runfiles are symlinks, which khod's
// reader refuses (common/safe_file.h).
std::string GoldenCopy() {
  const std::string copy = TmpPath("golden-copy.rec");
  std::ofstream(copy, std::ios::binary) << ReadGolden();
  return copy;
}

// A file of this test's, in a directory removed at exit.
std::string TmpPath(const std::string& name) {
  static const TempDir dir("record-golden-test");
  return dir.Join(name);
}

// A plain write: the mutated file is read back, durability is not the point.
void WriteRaw(const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

bool SameRecord(const v1::SessionRecord& a, const v1::SessionRecord& b, std::string* diff) {
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(diff);
  return d.Compare(a, b);
}

// A refusal a reader can act on: Corruption, naming the file and the reason.
::testing::AssertionResult ClearCorruption(const Result<std::string>& r, const std::string& path) {
  if (r.ok()) return ::testing::AssertionFailure() << "accepted";
  const Status& s = r.status();
  if (s.code() != Status::Code::kCorruption)
    return ::testing::AssertionFailure() << "not Corruption: " << s.ToString();
  const std::string& m = s.message();
  if (m.find(path) == std::string::npos)
    return ::testing::AssertionFailure() << "does not name the file: " << m;
  if (m.find("bad magic") == std::string::npos && m.find("length") == std::string::npos &&
      m.find("checksum mismatch") == std::string::npos)
    return ::testing::AssertionFailure() << "gives no reason: " << m;
  return ::testing::AssertionSuccess();
}

TEST(SessionRecordGolden, ReadsAndParsesToExpectedContent) {
  ASSERT_FALSE(ReadGolden().empty())
      << "missing " << GoldenPath(kSessionRecordGoldenDir, kGoldenSessionRecordName);
  Result<std::string> payload = ReadRecordFile(GoldenCopy());
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  v1::SessionRecord got;
  ASSERT_TRUE(got.ParseFromString(*payload));
  EXPECT_EQ(got.GetReflection()->GetUnknownFields(got).field_count(), 0);

  std::string diff;
  EXPECT_TRUE(SameRecord(got, GoldenSessionRecord(), &diff)) << diff;

  // Spelled out, so a change to GoldenSessionRecord() alone cannot hide a drift.
  EXPECT_EQ(got.session_id(), 0x5eed0123456789abull);
  EXPECT_EQ(got.generation(), 42u);
  EXPECT_EQ(got.phase(), v1::FROZEN);
  ASSERT_EQ(got.gmems_size(), 4);
  EXPECT_EQ(got.gmems(0).token(), 0x2au);
  EXPECT_EQ(got.gmems(0).name(), "vm0-ram");
  EXPECT_EQ(got.gmems(0).pid(), 4242);
  EXPECT_EQ(got.gmems(0).fd(), 17);
  EXPECT_EQ(got.gmems(0).inode(), 123456u);
  EXPECT_EQ(got.gmems(0).kind(), "guest_memfd");
  EXPECT_TRUE(got.gmems(0).hash_contents());
  EXPECT_EQ(got.gmems(0).gmem_flags(), 3u);
  ASSERT_EQ(got.gmems(0).attributes_size(), 2);
  EXPECT_EQ(got.gmems(0).attributes(1).first(), 900u);
  EXPECT_EQ(got.gmems(0).attributes(1).value(), 0x18u);
  EXPECT_EQ(got.gmems(1).kind(), "hugetlb-memfd");
  EXPECT_TRUE(got.gmems(2).is_model());
  EXPECT_EQ(got.gmems(2).kind(), "model");
  EXPECT_EQ(got.gmems(2).model().size(), uint64_t{1} << 40);
  EXPECT_EQ(got.gmems(2).model().hstate_order(), 18u);
  EXPECT_TRUE(got.gmems(2).model().populate());
  EXPECT_EQ(got.gmems(2).vm_token(), 0x20u);
  EXPECT_EQ(got.gmems(3).kind(), "shmem-memfd");
  EXPECT_EQ(got.gmems(3).vm_token(), 0u);
  EXPECT_EQ(got.gmems(3).handover_fd(), 12);
  ASSERT_EQ(got.vms_size(), 2);
  EXPECT_EQ(got.vms(0).token(), 0x10u);
  ASSERT_EQ(got.vms(0).memslots_size(), 3);
  ASSERT_EQ(got.vms(0).memslot_gmem_size(), 3);
  EXPECT_EQ(got.vms(0).memslots(1).slot(), (1u << 16) | 1);
  EXPECT_EQ(got.vms(0).memslots(1).gmem_offset(), 512u * 4096);
  EXPECT_EQ(got.vms(0).memslot_gmem(2), 0x2bu);
  EXPECT_EQ(got.vms(1).vm_type(), 1u);
  EXPECT_EQ(got.vms(1).memslots(0).npages(), uint64_t{1} << 28);
  EXPECT_EQ(got.transport(), v1::REEXEC);
  EXPECT_EQ(got.format(), v1::FDT);
  EXPECT_EQ(got.prepared_blob(), "prepared-40.blob");
  EXPECT_EQ(got.frozen_blob(), "frozen-42.blob");
  EXPECT_EQ(got.frozen_blob_bytes(), 251904u);
  EXPECT_EQ(got.frozen_blob_xxh3(), 0x0123456789abcdefull);
  EXPECT_EQ(got.prepared_blob_bytes(), 72113u);
  ASSERT_EQ(got.durations_size(), 2);
  EXPECT_EQ(got.durations(1).phase(), v1::FROZEN);
  EXPECT_EQ(got.durations(1).nanos(), 2700000u);
  EXPECT_EQ(got.exec_count(), 3u);
  EXPECT_EQ(got.handover_dir(), "/mnt/pmem/khod");
  EXPECT_EQ(got.next_token(), 0x32u);
  EXPECT_FALSE(got.last_verdict().empty());
}

// Every kind in the golden is one khod writes (FileKindName of state/snapshot.cc,
// or "model"; daemon/session_attach.cc): recovery compares a re-taken file's
// kind with it, so a spelling khod never writes would refuse every re-take.
TEST(SessionRecordGolden, KindsAreSpelledAsKhodWritesThem) {
  Result<std::string> payload = ReadRecordFile(GoldenCopy());
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  v1::SessionRecord got;
  ASSERT_TRUE(got.ParseFromString(*payload));
  const std::set<std::string> written = {FileKindName(FileKind::kGuestMemfd),
                                         FileKindName(FileKind::kHugetlbMemfd),
                                         FileKindName(FileKind::kShmemMemfd), "model"};
  std::set<std::string> seen;
  for (const v1::GmemAttachment& g : got.gmems()) {
    EXPECT_EQ(written.count(g.kind()), 1u)
        << "gmem " << g.token() << ": kind '" << g.kind() << "' is not one khod writes";
    EXPECT_EQ(g.kind() == "model", g.is_model()) << "gmem " << g.token();
    seen.insert(g.kind());
  }
  EXPECT_EQ(seen, written) << "the golden holds every kind khod writes";
}

TEST(SessionRecordGolden, FrameIsAsSpecified) {
  const std::string file = ReadGolden();
  ASSERT_GE(file.size(), 24u);
  EXPECT_EQ(file.substr(0, 8), "KHODREC1");
  const uint64_t len = DecodeFixed64(file.data() + 8);
  EXPECT_EQ(len, file.size() - 24);
  EXPECT_EQ(DecodeFixed64(file.data() + 16), XXH3_64bits(file.data() + 24, file.size() - 24));
  // Little-endian whatever the host: the low byte of the length comes first.
  EXPECT_EQ(uint64_t{static_cast<unsigned char>(file[8])}, len & 0xff);
}

TEST(SessionRecordGolden, WriterStillWritesTheSameBytes) {
  std::string payload;
  ASSERT_TRUE(GoldenSessionRecord().SerializeToString(&payload));
  const std::string path = TmpPath("today.rec");
  ASSERT_TRUE(WriteRecordFile(path, payload).ok());
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(ss.str(), ReadGolden());
  EXPECT_NE(::access((path + ".tmp").c_str(), F_OK), 0) << "temporary left behind";
}

TEST(SessionRecordGolden, EverySingleBitFlipIsRefused) {
  const std::string golden = ReadGolden();
  ASSERT_FALSE(golden.empty());
  const std::string path = TmpPath("flipped.rec");
  size_t refused = 0;
  for (size_t byte = 0; byte < golden.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = golden;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      WriteRaw(path, bad);
      Result<std::string> read = ReadRecordFile(path);
      // A flip of the version digit into another digit reads as another
      // version (Unsupported), every other flip as Corruption.
      const bool other_version = byte == 7 && bad[7] >= '0' && bad[7] <= '9';
      ::testing::AssertionResult r =
          other_version ? (read.status().code() == Status::Code::kUnsupported
                               ? ::testing::AssertionSuccess()
                               : ::testing::AssertionFailure() << read.status().ToString())
                        : ClearCorruption(read, path);
      EXPECT_TRUE(r) << "byte " << byte << " bit " << bit;
      refused += static_cast<bool>(r);
    }
  EXPECT_EQ(refused, golden.size() * 8);
}

TEST(SessionRecordGolden, EveryTruncationAndAnExtraByteAreRefused) {
  const std::string golden = ReadGolden();
  ASSERT_FALSE(golden.empty());
  const std::string path = TmpPath("truncated.rec");
  for (size_t n = 0; n < golden.size(); ++n) {
    WriteRaw(path, golden.substr(0, n));
    EXPECT_TRUE(ClearCorruption(ReadRecordFile(path), path)) << "first " << n << " bytes";
  }
  WriteRaw(path, golden + '\0');
  EXPECT_TRUE(ClearCorruption(ReadRecordFile(path), path)) << "one trailing byte";
}

TEST(SessionRecordGolden, OtherMagicVersionIsRefused) {
  std::string v2 = ReadGolden();
  ASSERT_GE(v2.size(), 8u);
  v2[7] = '2';  // KHODREC2: a future incompatible record
  const std::string path = TmpPath("v2.rec");
  WriteRaw(path, v2);
  Result<std::string> r = ReadRecordFile(path);
  ASSERT_FALSE(r.ok());
  // Another version is not garbage: Unsupported, naming both versions.
  EXPECT_EQ(r.status().code(), Status::Code::kUnsupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("session record version 2, this khod reads 1"),
            std::string::npos)
      << r.status().message();
  // Also when the rest of the frame is not one this khod knows (shorter header).
  WriteRaw(path, "KHODREC9");
  EXPECT_EQ(ReadRecordFile(path).status().code(), Status::Code::kUnsupported);
}

TEST(SessionRecordGolden, OtherMagicsAreStillCorruption) {
  for (std::string magic : {"KHODRECX", "KHODREc1", "XHODREC2", "KHODREC"}) {
    std::string bad = ReadGolden();
    bad.replace(0, 8, magic.size() == 8 ? magic : magic + std::string(8 - magic.size(), ' '));
    const std::string path = TmpPath("badmagic.rec");
    WriteRaw(path, bad);
    Result<std::string> r = ReadRecordFile(path);
    ASSERT_FALSE(r.ok()) << magic;
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << magic;
    EXPECT_NE(r.status().message().find("bad magic"), std::string::npos) << r.status().message();
  }
}

TEST(SessionRecordGolden, AbsentFileIsNotFound) {
  Result<std::string> r = ReadRecordFile(TmpPath("no-such.rec"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kNotFound);
}

// FORMAT.md's compatibility rule: a newer minor adds proto fields; this
// reader parses around them and writes them back unchanged.
TEST(SessionRecordGolden, UnknownFieldsOfANewerWriterAreKeptOnRewrite) {
  Result<std::string> payload = ReadRecordFile(GoldenCopy());
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  // Field 1000, varint 7 (tag (1000 << 3) | 0 = 8000 = 0xc0 0x3e): unknown to v1.
  const std::string extra = std::string("\xc0\x3e\x07", 3);
  const std::string newer = *payload + extra;
  const std::string path = TmpPath("newer.rec");
  ASSERT_TRUE(WriteRecordFile(path, newer).ok());
  Result<std::string> back = ReadRecordFile(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  v1::SessionRecord got;
  ASSERT_TRUE(got.ParseFromString(*back));
  EXPECT_EQ(got.GetReflection()->GetUnknownFields(got).field_count(), 1);
  std::string rewritten;
  ASSERT_TRUE(got.SerializeToString(&rewritten));
  EXPECT_NE(rewritten.find(extra), std::string::npos);
  got.GetReflection()->MutableUnknownFields(&got)->Clear();
  std::string diff;
  EXPECT_TRUE(SameRecord(got, GoldenSessionRecord(), &diff)) << diff;
}

}  // namespace
}  // namespace khod
