// The files khod opens as root (common/safe_file.h; docs/SECURITY.md "Files
// khod reads and writes"), attacked as issue 11 items 2, 7 and 8 did: links
// planted in the state dir and in a handover dir overwrite nothing, a FIFO or
// a link to /dev/zero is refused at once, a file longer than its header
// declares is refused unread, a directory others may write into is refused,
// and a Freeze's handover dir is a name beneath the root fixed at start-up.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "common/file_read.h"
#include "common/safe_file.h"
#include "daemon/record_file.h"
#include "daemon/session.h"
#include "daemon/system_opener.h"
#include "handover/dir_transport.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class FileSafetyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    victim_ = base_ + "/victim.txt";  // stands for /root/victim.txt
    Put(victim_, "precious");
    state_ = base_ + "/state";
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
  }
  TempDir tmp_{"file-safety"};
  const std::string base_ = tmp_.path();
  std::string victim_, state_;
};

TEST_F(FileSafetyTest, RecordTemporaryPlantedAsALinkOverwritesNothing) {
  ASSERT_EQ(::symlink(victim_.c_str(), (state_ + "/session.rec.tmp").c_str()), 0);
  Status w = WriteRecordFile(state_ + "/session.rec", "payload");
  ASSERT_TRUE(w.ok()) << w.ToString();
  EXPECT_EQ(Slurp(victim_), "precious");
  EXPECT_TRUE(IsRegular(state_ + "/session.rec"));
  Result<std::string> r = ReadRecordFile(state_ + "/session.rec");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "payload");
}

TEST_F(FileSafetyTest, BlobNamePlantedAsALinkOverwritesNothing) {
  ASSERT_EQ(::symlink(victim_.c_str(), (state_ + "/frozen-2.blob").c_str()), 0);
  Status w = WriteFileBeforeItsRecord(state_ + "/frozen-2.blob", "the blob");
  ASSERT_TRUE(w.ok()) << w.ToString();
  EXPECT_EQ(Slurp(victim_), "precious");
  EXPECT_TRUE(IsRegular(state_ + "/frozen-2.blob"));
  EXPECT_EQ(Slurp(state_ + "/frozen-2.blob"), "the blob");
}

TEST_F(FileSafetyTest, RecordLinkedToDevZeroIsRefusedUnread) {
  ASSERT_EQ(::symlink("/dev/zero", (state_ + "/session.rec").c_str()), 0);
  Result<std::string> r = ReadRecordFile(state_ + "/session.rec");
  EXPECT_EQ(r.status().code(), Status::Code::kCorruption);
  EXPECT_TRUE(Has(r.status().message(), state_ + "/session.rec is a symbolic link"))
      << r.status().ToString();
  // The dir transport's blob likewise.
  ASSERT_EQ(::symlink("/dev/zero", (state_ + "/handover.blob").c_str()), 0);
  Result<SafeDir> d = SafeDir::Open(state_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  Result<ReceivedHandover> blob = DirTransport(*d).Receive();
  ASSERT_FALSE(blob.ok());
  EXPECT_TRUE(
      Has(blob.status().message(), "dir handover: " + state_ + "/handover.blob is a symbolic link"))
      << blob.status().ToString();
}

// Runs `read` on a FIFO. Were it to block, a writer opened after 10 s lets it
// end, so a regression fails on the message instead of hanging the test.
std::string ReadOfAFifo(const std::string& fifo, const std::function<Status()>& read) {
  std::atomic<bool> done{false};
  std::thread unblock([&] {
    for (int i = 0; i < 1000 && !done; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (done) return;
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0) ::close(w);
  });
  const Status s = read();
  done = true;
  unblock.join();
  return s.ToString();
}

TEST_F(FileSafetyTest, FifoInPlaceOfARecordOrABlobIsAnErrorNotAHang) {
  ASSERT_EQ(::mkfifo((state_ + "/session.rec").c_str(), 0600), 0);
  EXPECT_TRUE(Has(ReadOfAFifo(state_ + "/session.rec",
                              [&] { return ReadRecordFile(state_ + "/session.rec").status(); }),
                  "session.rec is a FIFO or pipe, not a regular file"));
  Result<SafeDir> d = SafeDir::Open(state_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(::mkfifo((state_ + "/handover.blob").c_str(), 0600), 0);
  const std::string got =
      ReadOfAFifo(state_ + "/handover.blob", [&] { return DirTransport(*d).Receive().status(); });
  EXPECT_TRUE(Has(got, "dir handover: " + state_ + "/handover.blob is a FIFO or pipe")) << got;
}

// A record whose header declares 7 payload bytes, made a 2 GiB sparse file:
// refused before more than its head is read. Read in a child, whose peak RSS
// the kernel reports (ru_maxrss) whatever else this test process did.
TEST_F(FileSafetyTest, FileLongerThanItsHeaderDeclaresIsRefusedInBoundedMemory) {
  const std::string rec = state_ + "/session.rec";
  ASSERT_TRUE(WriteRecordFile(rec, "payload").ok());
  ASSERT_EQ(::truncate(rec.c_str(), off_t{2} << 30), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Result<std::string> r = ReadRecordFile(rec);
    const bool refused = r.status().code() == Status::Code::kCorruption &&
                         Has(r.status().message(), "more than its header declares");
    if (!refused) std::fprintf(stderr, "got: %s\n", r.status().ToString().c_str());
    ::_exit(refused ? 0 : 1);
  }
  int status = 0;
  struct rusage ru;
  ASSERT_EQ(::wait4(child, &status, 0, &ru), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the 2 GiB record was not refused for its header";
  EXPECT_LT(ru.ru_maxrss, 256 * 1024) << "peak RSS " << ru.ru_maxrss << " KiB";
}

TEST_F(FileSafetyTest, DirectoryAnotherUserControlsIsRefusedNamingWhy) {
  const std::string d = base_ + "/shared";
  ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(d.c_str(), 0777), 0);
  Result<SafeDir> r = SafeDir::Open(d);
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Has(r.status().message(), d + " is writable by others (mode 777)"))
      << r.status().ToString();
  ASSERT_EQ(::chmod(d.c_str(), 0770), 0);
  EXPECT_TRUE(Has(SafeDir::Open(d).status().message(), "writable by its group"));
  ASSERT_EQ(::chmod(d.c_str(), 0700), 0);
  // Another owner: only where this root may give files away (not in a
  // sandbox's user namespace, which maps uid 0 alone).
  const bool chowned = ::chown(d.c_str(), 65534, 65534) == 0;
  if (chowned)
    EXPECT_TRUE(Has(SafeDir::Open(d).status().message(), d + " is owned by uid 65534"));
  else
    ASSERT_EQ(::chmod(d.c_str(), 0777), 0);
  // A link in the directory's place, even to a good directory, is refused.
  const std::string link = base_ + "/linked";
  ASSERT_EQ(::symlink(state_.c_str(), link.c_str()), 0);
  EXPECT_TRUE(Has(SafeDir::Open(link).status().message(), link + " is a symbolic link"));
  // And a Session does not start on such a state dir.
  SessionOptions o;
  o.state_dir = d;
  SystemOpener opener;
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener);
  EXPECT_TRUE(
      Has(s.status().message(),
          "state dir: " + d + (chowned ? " is owned by uid 65534" : " is writable by others")))
      << s.status().ToString();
}

// The directories above the state dir: whoever may write into one of them
// could rename the state dir away and put their own in its place.
TEST_F(FileSafetyTest, DirectoryBeneathOneAnotherUserControlsIsRefusedNamingIt) {
  const std::string above = base_ + "/above", d = above + "/khod";
  ASSERT_EQ(::mkdir(above.c_str(), 0755), 0);
  ASSERT_TRUE(SafeDir::Open(d).ok());  // created 0700 beneath a good parent
  ASSERT_EQ(::chmod(above.c_str(), 0777), 0);
  Result<SafeDir> r = SafeDir::Open(d);
  EXPECT_EQ(r.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_TRUE(Has(r.status().message(),
                  above + " (above the directory) is writable by others and not sticky"))
      << r.status().ToString();
  // Two levels up counts as much as one, and creating beneath it is refused too.
  EXPECT_TRUE(Has(SafeDir::Open(d + "/deeper/still").status().message(), above + " (above"));
  EXPECT_FALSE(IsDir(d + "/deeper"));
  ASSERT_EQ(::chmod(above.c_str(), 0770), 0);
  EXPECT_TRUE(Has(SafeDir::Open(d).status().message(), "writable by its group and not sticky"));
  // Sticky, as /tmp is: others may add entries but not rename root's.
  ASSERT_EQ(::chmod(above.c_str(), 01777), 0);
  EXPECT_TRUE(SafeDir::Open(d).ok());
  ASSERT_EQ(::chmod(above.c_str(), 0755), 0);
  if (::chown(above.c_str(), 65534, 65534) == 0) {  // not in a sandbox's user namespace
    EXPECT_TRUE(Has(SafeDir::Open(d).status().message(),
                    above + " (above the directory) is owned by uid 65534"));
    ASSERT_EQ(::chown(above.c_str(), 0, 0), 0);
  }
  // A link above the directory is followed when root owns it, and what it
  // leads to is checked as the rest.
  const std::string via = base_ + "/via";
  ASSERT_EQ(::symlink(above.c_str(), via.c_str()), 0);
  EXPECT_TRUE(SafeDir::Open(via + "/khod").ok());
  EXPECT_TRUE(SafeDir::Open(base_ + "/./above/../above/khod").ok());
  ASSERT_EQ(::chmod(above.c_str(), 0777), 0);
  EXPECT_TRUE(Has(SafeDir::Open(via + "/khod").status().message(), above + " (above"));
  ASSERT_EQ(::chmod(above.c_str(), 0755), 0);
  if (::lchown(via.c_str(), 65534, 65534) == 0) {
    EXPECT_TRUE(Has(SafeDir::Open(via + "/khod").status().message(),
                    via + " is a symbolic link owned by uid 65534"));
  }
  // And a Session does not start beneath such a directory.
  ASSERT_EQ(::chmod(above.c_str(), 0777), 0);
  SessionOptions o;
  o.state_dir = d;
  SystemOpener opener;
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener);
  EXPECT_TRUE(Has(s.status().message(), "state dir: " + above + " (above the directory)"))
      << s.status().ToString();
  ASSERT_EQ(::chmod(above.c_str(), 0755), 0);
}

TEST(CheckFileNameTest, OnlyOneComponentIsAName) {
  EXPECT_TRUE(CheckFileName("frozen-3.blob", "file").ok());
  EXPECT_TRUE(Has(CheckFileName("", "dir").message(), "dir is empty"));
  EXPECT_TRUE(Has(CheckFileName("..", "dir").message(), "dir '..' is not a name"));
  EXPECT_TRUE(Has(CheckFileName("a/b", "dir").message(), "dir 'a/b' contains '/'"));
  EXPECT_TRUE(Has(CheckFileName(std::string("a\0b", 3), "dir").message(), "contains a NUL byte"));
}

class SessionDirTest : public FileSafetyTest {
 protected:
  std::unique_ptr<Session> PreparedSession() {
    SessionOptions o;
    o.state_dir = state_;
    o.handover_root = base_ + "/handover-root";
    o.default_transport = v1::DIR;
    Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) return nullptr;
    v1::AttachRequest q;
    q.set_name("guest");
    q.mutable_kernel()->set_pid(::getpid());
    q.mutable_kernel()->set_fd(memfd_.fd());
    Result<v1::GmemInfo> g = (*s)->Attach(q);
    EXPECT_TRUE(g.ok()) << g.status().ToString();
    Result<v1::PhaseReply> p = (*s)->Prepare();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(*s);
  }
  void TearDown() override { FileSafetyTest::TearDown(); }
  static v1::FreezeRequest FreezeInto(const std::string& dir) {
    v1::FreezeRequest f;
    f.set_guests_paused(true);
    f.set_transport(v1::DIR);
    f.set_dir(dir);
    return f;
  }
  SystemOpener opener_;
  TestMemfd memfd_{1 << 20, "guest"};
};

TEST_F(SessionDirTest, AClientsDirIsANameBeneathTheRootNeverAPath) {
  auto s = PreparedSession();
  ASSERT_TRUE(s);
  for (const std::string& bad : {base_, std::string(".."), std::string("x/../..")}) {
    Result<v1::PhaseReply> r = s->Freeze(FreezeInto(bad));
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << bad;
    EXPECT_TRUE(Has(r.status().message(), "a name beneath " + base_ + "/handover-root"))
        << r.status().ToString();
    EXPECT_EQ(s->phase(), v1::PREPARED);
  }
  EXPECT_FALSE(IsRegular(base_ + "/handover.blob"));
  // Another transport reads no dir: one named is refused, not recorded.
  for (const v1::Transport t : {v1::REEXEC, v1::LUO}) {
    v1::FreezeRequest f = FreezeInto("../elsewhere");
    f.set_transport(t);
    Result<v1::PhaseReply> r = s->Freeze(f);
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << v1::Transport_Name(t);
    EXPECT_TRUE(Has(r.status().message(), "only the dir transport uses")) << r.status().ToString();
    EXPECT_EQ(s->phase(), v1::PREPARED);
  }
}

// A Freeze that fails leaves no handover dir of its own making behind; one
// the operator made stays, and so does the dir of a handover that stands.
TEST_F(SessionDirTest, AFailedFreezeRemovesTheDirItMade) {
  auto s = PreparedSession();
  ASSERT_TRUE(s);
  const std::string root = base_ + "/handover-root";
  const std::string tmp = state_ + "/session.rec.tmp";
  ASSERT_EQ(::mkdir(tmp.c_str(), 0700), 0);  // the record write fails
  Result<v1::PhaseReply> r = s->Freeze(FreezeInto("made-by-freeze"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(s->phase(), v1::PREPARED);
  EXPECT_NE(::access((root + "/made-by-freeze").c_str(), F_OK), 0);
  ASSERT_EQ(::mkdir((root + "/operators").c_str(), 0700), 0);
  ASSERT_FALSE(s->Freeze(FreezeInto("operators")).ok());
  EXPECT_EQ(::access((root + "/operators").c_str(), F_OK), 0);
  ASSERT_EQ(::rmdir(tmp.c_str()), 0);
  r = s->Freeze(FreezeInto("made-by-freeze"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(IsRegular(root + "/made-by-freeze/handover.blob"));
}

// A client's dir name is recorded, logged and shown in replies: letters,
// digits, '.', '_' and '-' only, beginning with a letter or digit, at most 64.
TEST_F(SessionDirTest, AClientsDirNameIsPlainAscii) {
  auto s = PreparedSession();
  ASSERT_TRUE(s);
  const std::pair<std::string, std::string> bad[] = {
      {"a\nb", "dir holds byte 0xa at 1"},
      {"\x1b[31mred", "does not begin with a letter or a digit (byte 0x1b)"},
      {".hidden", "does not begin with a letter or a digit (byte 0x2e)"},
      {"caf\xc3\xa9", "dir holds byte 0xc3 at 3"},
      {std::string(65, 'a'), "dir is longer than 64 bytes"}};
  for (const auto& [name, why] : bad) {
    Result<v1::PhaseReply> r = s->Freeze(FreezeInto(name));
    EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument) << why;
    EXPECT_TRUE(Has(r.status().message(), why)) << r.status().ToString();
    EXPECT_EQ(s->phase(), v1::PREPARED);
  }
  EXPECT_TRUE(CheckHandoverDirName("pmem0").ok());
  EXPECT_TRUE(CheckHandoverDirName("a.b_c-1").ok());
  EXPECT_TRUE(CheckHandoverDirName(std::string(64, 'z')).ok());
}

// The dir a Freeze made goes with its handover, once Cancel or Finish took
// the blob out of it; an operator's dir stays, and so does one holding
// anything else.
TEST_F(SessionDirTest, CancelAndFinishRemoveTheDirTheirFreezeMade) {
  const std::string root = base_ + "/handover-root";
  {
    auto s = PreparedSession();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Freeze(FreezeInto("made")).ok());
    ASSERT_TRUE(IsRegular(root + "/made/handover.blob"));
    ASSERT_TRUE(s->Cancel().ok());
    EXPECT_NE(::access((root + "/made").c_str(), F_OK), 0) << "left after Cancel";
    // The record still carries that handover's fields: a later Cancel with no handover
    // leaves an operator's directory of the same name alone.
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_EQ(::mkdir((root + "/made").c_str(), 0700), 0);
    ASSERT_TRUE(s->Cancel().ok());
    EXPECT_EQ(::access((root + "/made").c_str(), F_OK), 0) << "an operator's dir went";
    ASSERT_EQ(::rmdir((root + "/made").c_str()), 0);
    // Finish, after a restore in this process.
    ASSERT_TRUE(s->Prepare().ok());
    ASSERT_TRUE(s->Freeze(FreezeInto("made")).ok());
    ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
    ASSERT_TRUE(s->Verify().ok());
    ASSERT_TRUE(s->Finish().ok());
    EXPECT_NE(::access((root + "/made").c_str(), F_OK), 0) << "left after Finish";
  }
  auto s = PreparedSession();
  ASSERT_TRUE(s);
  ASSERT_EQ(::mkdir((root + "/operators").c_str(), 0700), 0);
  ASSERT_TRUE(s->Freeze(FreezeInto("operators")).ok());
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_EQ(::access((root + "/operators").c_str(), F_OK), 0) << "an operator's dir went";
  ASSERT_TRUE(s->Prepare().ok());
  ASSERT_TRUE(s->Freeze(FreezeInto("kept")).ok());
  { std::ofstream(root + "/kept/notes.txt") << "an operator's file"; }
  ASSERT_TRUE(s->Cancel().ok());
  EXPECT_TRUE(IsRegular(root + "/kept/notes.txt"));
}

// A HANDED_OVER record names a dir that is gone (its medium lost, or its
// entry never made durable): start-up opens the recorded dir without making
// it, says it is not read, and Restore reads the state-dir copy (taking the
// file again from its VMM: the same boot); no empty dir of that name is made
// to stand for the handover.
TEST_F(SessionDirTest, ARecordedHandoverDirThatIsGoneIsNotMadeAgain) {
  const std::string dir = base_ + "/handover-root/pmem0";
  {
    auto s = PreparedSession();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->Freeze(FreezeInto("pmem0")).ok());
  }
  ASSERT_EQ(::unlink((dir + "/handover.blob").c_str()), 0);
  ASSERT_EQ(::rmdir(dir.c_str()), 0);
  SessionOptions o;
  o.state_dir = state_;
  o.handover_root = base_ + "/handover-root";
  o.default_transport = v1::DIR;
  Result<std::unique_ptr<Session>> s = Session::Open(o, &opener_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ((*s)->phase(), v1::HANDED_OVER);
  EXPECT_TRUE(Has((*s)->recovery(), "the recorded handover dir 'pmem0' is not read"))
      << (*s)->recovery();
  EXPECT_TRUE(Has((*s)->recovery(), "No such file or directory")) << (*s)->recovery();
  EXPECT_NE(::access(dir.c_str(), F_OK), 0) << "the recorded dir was made again, empty";
  Result<v1::PhaseReply> r = (*s)->Restore(v1::RestoreRequest());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(Has(r->message(), "from state dir (the recorded handover dir was not read"))
      << r->message();
  EXPECT_TRUE(Has(r->message(), "1 adopted, 0 rebuilt")) << r->message();
  ASSERT_TRUE((*s)->Cancel().ok());
  EXPECT_NE(::access(dir.c_str(), F_OK), 0);
}

TEST_F(SessionDirTest, LinkPlantedInTheHandoverDirOverwritesNothing) {
  auto s = PreparedSession();
  ASSERT_TRUE(s);
  const std::string d = base_ + "/handover-root/pmem0";
  ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(victim_.c_str(), (d + "/handover.blob.tmp").c_str()), 0);
  Result<v1::PhaseReply> r = s->Freeze(FreezeInto("pmem0"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Slurp(victim_), "precious");
  EXPECT_TRUE(IsRegular(d + "/handover.blob"));
  ASSERT_TRUE(s->Restore(v1::RestoreRequest()).ok());
}

}  // namespace
}  // namespace khod
