// The PTE witness handed across a reexec (daemon/pte_witness_handoff.h): what
// the old khod writes is what the new one reads back, the checked-in handoff
// an earlier build wrote (golden/pte_witness_handoff_v1.pb) is read field by
// field, and a handoff that is not one (not a regular file, not the message,
// spans out of order) is refused by name, the keeper then only held: its
// witness never holds.
#include "daemon/pte_witness_handoff.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/session_record.pb.h"
#include "tests/support/fixture.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

class PteWitnessHandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    memfd_.Fill(0, 16 * kPage, 1);
    PteWitness::File f;
    f.key = FileKey{7, 42};
    f.fd = memfd_.fd();
    f.size = 64 * kPage;
    f.pages = {{0, 16}};
    Result<std::unique_ptr<PteWitness>> w = PteWitness::Start({f});
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    witness_ = std::move(*w);
  }
  // A memfd holding `bytes`, sealed as a handoff is (or not).
  static int Memfd(const std::string& bytes, bool sealed = true) {
    const int fd = ::memfd_create("handoff-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    EXPECT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    if (sealed) {
      EXPECT_EQ(::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
                0);
    }
    return fd;
  }
  Result<std::unique_ptr<PteWitness>> Adopt(int handoff_fd, std::string* note) {
    return AdoptWitnessHandoff(witness_->pid(), ::dup(witness_->keeper().control_fd()), handoff_fd,
                               note);
  }

  // What WriteWitnessHandoff writes for witness_, as bytes.
  std::string WitnessBytes() {
    Result<UniqueFd> h = WriteWitnessHandoff(*witness_);
    EXPECT_TRUE(h.ok());
    std::string bytes(1 << 16, '\0');
    const ssize_t n = h.ok() ? ::pread(h->get(), bytes.data(), bytes.size(), 0) : 0;
    bytes.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return bytes;
  }

  TestMemfd memfd_{64 * kPage};
  std::unique_ptr<PteWitness> witness_;
};

TEST_F(PteWitnessHandoffTest, WhatIsWrittenIsReadBack) {
  Result<UniqueFd> h = WriteWitnessHandoff(*witness_);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(::fcntl(h->get(), F_GET_SEALS),
            F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
  std::string note;
  Result<std::unique_ptr<PteWitness>> w = Adopt(h->release(), &note);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(note, "");
  EXPECT_TRUE((*w)->covers_frozen());
  EXPECT_TRUE((*w)->Holds());
  const std::vector<PageSpan>* spans = (*w)->Unwitnessed(FileKey{7, 42});
  ASSERT_NE(spans, nullptr);
  ASSERT_EQ(spans->size(), 2u);  // the 48 pages not mapped, then past the end
  EXPECT_EQ((*spans)[0].first, 16u);
  EXPECT_EQ((*spans)[0].count, 48u);
  EXPECT_EQ((*spans)[1].first, 64u);
  EXPECT_EQ((*w)->Unwitnessed(FileKey{7, 43}), nullptr);
}

// The witness memfd crosses a reexec, possibly into another build of khod
// (docs/FORMAT.md "reexec", witness memfd W): the golden message an earlier
// build wrote (make_golden_pte_witness_handoff) must still be the message,
// pass the new side's checks and say what it said.
TEST_F(PteWitnessHandoffTest, TheGoldenHandoffIsReadByTheNewSide) {
  constexpr uint64_t kPastTheEnd = UINT64_MAX / 2;
  std::ifstream in(GoldenPath(kSessionRecordGoldenDir, "pte_witness_handoff_v1.pb"),
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string golden = ss.str();
  ASSERT_EQ(golden.size(), 83u) << "missing or changed "
                                << GoldenPath(kSessionRecordGoldenDir, "pte_witness_handoff_v1.pb");
  // Field 1 (state), a varint: 'S'.
  EXPECT_EQ(golden.substr(0, 2), "\x08S");

  // As protobuf parses it, field by field (daemon/session_record.proto).
  v1::PteWitnessHandoff h;
  ASSERT_TRUE(h.ParseFromString(golden));
  EXPECT_EQ(h.state(), uint32_t{'S'});
  EXPECT_EQ(h.rss_file_kb(), 8216u);
  EXPECT_EQ(h.context_switches(), 17u);
  EXPECT_EQ(h.rss_shmem_kb(), 256u);
  ASSERT_EQ(h.files_size(), 3);
  EXPECT_EQ(h.files(0).dev(), 0x803u);
  EXPECT_EQ(h.files(0).inode(), 0x100000000u);
  EXPECT_EQ(std::vector<uint64_t>(h.files(0).unwitnessed().begin(), h.files(0).unwitnessed().end()),
            (std::vector<uint64_t>{262144, kPastTheEnd}));
  EXPECT_EQ(h.files(1).dev(), 0xfd01u);
  EXPECT_EQ(h.files(1).inode(), 42u);
  EXPECT_EQ(std::vector<uint64_t>(h.files(1).unwitnessed().begin(), h.files(1).unwitnessed().end()),
            (std::vector<uint64_t>{16, 48, 64, kPastTheEnd}));
  EXPECT_EQ(h.files(2).dev(), 0xfd01u);
  EXPECT_EQ(h.files(2).inode(), 4711u);
  EXPECT_EQ(std::vector<uint64_t>(h.files(2).unwitnessed().begin(), h.files(2).unwitnessed().end()),
            (std::vector<uint64_t>{0, 1, 5, 3, 512, kPastTheEnd}));

  // The new side's reader (AdoptWitnessHandoff on a sealed memfd, as khod
  // --pte-keeper=K:C:W takes W): every check passes, no note.
  std::string note;
  Result<std::unique_ptr<PteWitness>> w = Adopt(Memfd(golden), &note);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(note, "") << "the golden handoff was refused";
  EXPECT_TRUE((*w)->covers_frozen());
  const PteWitness::Description d = (*w)->Describe();
  EXPECT_EQ(d.state.state, 'S');
  EXPECT_EQ(d.state.rss_file_kb, 8216u);
  EXPECT_EQ(d.state.context_switches, 17u);
  EXPECT_EQ(d.state.rss_shmem_kb, 256u);
  ASSERT_EQ(d.files.size(), 3u);
  struct Want {
    FileKey key;
    std::vector<std::pair<uint64_t, uint64_t>> spans;
  };
  const Want want[] = {{{0x803, 0x100000000ull}, {{262144, kPastTheEnd}}},
                       {{0xfd01, 42}, {{16, 48}, {64, kPastTheEnd}}},
                       {{0xfd01, 4711}, {{0, 1}, {5, 3}, {512, kPastTheEnd}}}};
  for (const Want& f : want) {
    SCOPED_TRACE(f.key.inode);
    const std::vector<PageSpan>* spans = (*w)->Unwitnessed(f.key);
    ASSERT_NE(spans, nullptr);
    ASSERT_EQ(spans->size(), f.spans.size());
    for (size_t i = 0; i < f.spans.size(); ++i) {
      EXPECT_EQ((*spans)[i].first, f.spans[i].first) << i;
      EXPECT_EQ((*spans)[i].count, f.spans[i].second) << i;
    }
  }
  EXPECT_EQ((*w)->Unwitnessed(FileKey{0xfd01, 43}), nullptr);

  // Today's writer writes what it read byte for byte: nothing was lost.
  Result<UniqueFd> again = WriteWitnessHandoff(**w);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  std::string bytes(1024, '\0');
  const ssize_t n = ::pread(again->get(), bytes.data(), bytes.size(), 0);
  ASSERT_GE(n, 0);
  bytes.resize(static_cast<size_t>(n));
  EXPECT_TRUE(bytes == golden) << "WriteWitnessHandoff no longer writes the golden's bytes";
}

TEST_F(PteWitnessHandoffTest, AHandoffThatIsNotOneIsRefusedByName) {
  v1::PteWitnessHandoff odd;
  odd.set_state('S');
  odd.add_files()->add_unwitnessed(3);  // half a span
  v1::PteWitnessHandoff unsorted;
  unsorted.set_state('S');
  v1::PteWitnessFile* f = unsorted.add_files();
  for (uint64_t x : {10, 5, 2, 1}) f->add_unwitnessed(x);
  v1::PteWitnessHandoff no_state;
  v1::PteWitnessHandoff short_spans;  // the span past the file's end missing
  short_spans.set_state('S');
  v1::PteWitnessFile* sf = short_spans.add_files();
  sf->add_unwitnessed(1);
  sf->add_unwitnessed(2);
  v1::PteWitnessHandoff too_many;
  too_many.set_state('S');
  for (int i = 0; i <= 1 << 16; ++i) too_many.add_files();
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  ::close(p[1]);
  const struct {
    int fd;
    const char* says;
  } cases[] = {
      {Memfd("not a protobuf \xff\xff\xff"), "not a PteWitnessHandoff message"},
      {Memfd(odd.SerializeAsString()), "an odd number of span numbers"},
      {Memfd(unsorted.SerializeAsString()), "spans not sorted"},
      {Memfd(no_state.SerializeAsString()), "no keeper state letter"},
      {Memfd(short_spans.SerializeAsString()), "a file's spans stop before its end"},
      {Memfd(too_many.SerializeAsString()), "more than 65536 files"},
      {p[0], "not a regular file"},
  };
  for (const auto& c : cases) {
    std::string note;
    Result<std::unique_ptr<PteWitness>> w = Adopt(c.fd, &note);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_NE(note.find(c.says), std::string::npos) << "[" << note << "] wanted " << c.says;
    EXPECT_FALSE((*w)->Holds()) << c.says;
    EXPECT_FALSE((*w)->covers_frozen());
  }
  // The pipe was not the call's to close; the memfds were.
  EXPECT_EQ(::fcntl(p[0], F_GETFD), 0) << "the pipe was closed";
  ::close(p[0]);
  // Nor is a regular file that is not a sealed memfd (khod's lock, its binary).
  const int unsealed = Memfd(WitnessBytes(), /*sealed=*/false);
  std::string note;
  Result<std::unique_ptr<PteWitness>> w = Adopt(unsealed, &note);
  ASSERT_TRUE(w.ok());
  EXPECT_NE(note.find("is not a sealed handoff memfd"), std::string::npos) << note;
  EXPECT_GE(::fcntl(unsealed, F_GETFD), 0) << "an unsealed file was closed";
  ::close(unsealed);
}

TEST_F(PteWitnessHandoffTest, AControlFdThatIsNotTheKeepersIsRefused) {
  std::string note;
  const int not_a_socket = ::dup(memfd_.fd());
  Result<std::unique_ptr<PteWitness>> w =
      AdoptWitnessHandoff(witness_->pid(), not_a_socket, -1, &note);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("is not a socket"), std::string::npos)
      << w.status().message();
  EXPECT_GE(::fcntl(not_a_socket, F_GETFD), 0) << "an fd that is no keeper's was closed";
  ::close(not_a_socket);
  w = AdoptWitnessHandoff(::getpid(), ::dup(witness_->keeper().control_fd()), -1, &note);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("is not a PTE keeper of this khod"), std::string::npos)
      << w.status().message();
}

}  // namespace
}  // namespace khod
