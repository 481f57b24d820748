// The PTE witness handed across a reexec (daemon/pte_witness_handoff.h): what
// the old khod writes is what the new one reads back, and a handoff that is
// not one (not a regular file, not the message, spans out of order) is
// refused by name, the keeper then only held: its witness never holds.
#include "daemon/pte_witness_handoff.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/session_record.pb.h"
#include "tests/support/fixture.h"

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
