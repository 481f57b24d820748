// BlobMemfd: holds what was written, is overwritten in the runs given and
// truncated to the new length, and once sealed refuses every change; the
// reexec transport hands a staged copy over as the very memfd it was given.
#include "handover/blob_memfd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "handover/reexec_transport.h"
#include "kernel/memory_file.h"

namespace khod {
namespace {

constexpr size_t kPage = 4096;

std::string ReadAll(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  EXPECT_EQ(::pread(fd, &out[0], out.size(), 0), static_cast<ssize_t>(out.size()));
  return out;
}

TEST(BlobMemfdTest, OverwrittenWhereItDiffersItHoldsExactlyTheNewBytes) {
  const std::string draft = std::string(8 * kPage, 'a') + "tail";
  for (const std::string& next :
       {draft, std::string(draft).replace(3 * kPage + 9, 1, "b"), draft + std::string(kPage, 'z'),
        draft.substr(0, 2 * kPage + 5)}) {
    SCOPED_TRACE(next.size());
    Result<BlobMemfd> m = BlobMemfd::Create(draft);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ(m->size(), draft.size());
    ASSERT_TRUE(m->Overwrite(next, DifferingPageRuns(draft, next, kPage)).ok());
    EXPECT_EQ(m->size(), next.size());
    Result<UniqueFd> fd = std::move(*m).Seal();
    ASSERT_TRUE(fd.ok()) << fd.status().ToString();
    EXPECT_EQ(ReadAll(fd->get()), next);
    EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
  }
}

TEST(BlobMemfdTest, SealedItRefusesWritesGrowthShrinkingAndMoreSeals) {
  Result<BlobMemfd> m = BlobMemfd::Create("blob bytes");
  ASSERT_TRUE(m.ok());
  Result<UniqueFd> fd = std::move(*m).Seal();
  ASSERT_TRUE(fd.ok());
  EXPECT_EQ(::pwrite(fd->get(), "X", 1, 0), -1);
  EXPECT_EQ(::ftruncate(fd->get(), 100), -1);
  EXPECT_EQ(::ftruncate(fd->get(), 1), -1);
  EXPECT_EQ(::fcntl(fd->get(), F_ADD_SEALS, F_SEAL_WRITE), -1);  // F_SEAL_SEAL
  EXPECT_EQ(ReadAll(fd->get()), "blob bytes");
  // A memfd sealed once is not sealed or overwritten again through it.
  EXPECT_EQ(m->Overwrite("x", AllPages("x")).code(), Status::Code::kFailedPrecondition);
  EXPECT_EQ(std::move(*m).Seal().status().code(), Status::Code::kFailedPrecondition);
}

// Send carries the staged copy itself (sealed, inheritable), not a new one.
TEST(BlobMemfdTest, ReexecSendCarriesTheCopyStagedAsThatVeryMemfd) {
  const std::string blob(3 * kPage + 17, 'q');
  Result<BlobMemfd> m = BlobMemfd::Create(blob);
  ASSERT_TRUE(m.ok());
  ReexecTransport t;
  ASSERT_TRUE(t.StageCopy(std::move(*m)).ok());
  HandoverPackage pkg;
  pkg.blob = blob;
  ASSERT_TRUE(t.Send(pkg).ok());
  Result<AdoptSpec> spec = ParseAdoptSpec(t.ExecArguments()[0].substr(std::strlen("--adopt=")));
  ASSERT_TRUE(spec.ok());
  const int sent = spec->blob_fd;
  Result<std::string> link = OwnFdLink(sent);
  ASSERT_TRUE(link.ok()) << link.status().ToString();
  EXPECT_NE(link->find(BlobMemfd::kName), std::string::npos) << *link;
  EXPECT_EQ(::fcntl(sent, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(::pwrite(sent, "X", 1, 0), -1);  // sealed
  EXPECT_EQ(ReadAll(sent), blob);
  ASSERT_TRUE(t.Abort().ok());
}

// A transport whose medium is no memfd says so: the caller copies instead.
TEST(BlobMemfdTest, ATransportWithoutABlobMemfdRefusesTheCopy) {
  class NoMemfd : public HandoverTransport {
   public:
    const char* name() const override { return "test"; }
    bool carries_fds() const override { return false; }
    Status Send(const HandoverPackage&) override { return Status::Ok(); }
    Result<ReceivedHandover> Receive() override { return Status::NotFound("none"); }
  } t;
  Result<BlobMemfd> m = BlobMemfd::Create("x");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(t.StageCopy(std::move(*m)).code(), Status::Code::kUnsupported);
}

}  // namespace
}  // namespace khod
