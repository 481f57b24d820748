// khoctl/file_io: writes replace only the target, atomically, and never a
// device node, FIFO, directory or symlink; they leave no blob readable by
// others, replace no other user's file, write into no other user's FIFO and
// wait for no FIFO's reader; as root they go through no link another user
// owns (docs/SECURITY.md); reads (common/file_read with khoctl's BlobFileRead
// options) are bounded and keep khoctl's error codes.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "khoctl/file_io.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode : 0;
}

class FileIoTest : public ::testing::Test {
 protected:
  std::string P(const std::string& name) const { return dir_ + "/" + name; }
  // P(name) as the walk names it: dir_ with its own links resolved.
  std::string Real(const std::string& name) const {
    char real[PATH_MAX];
    return (::realpath(dir_.c_str(), real) ? std::string(real) : dir_) + "/" + name;
  }
  TempDir tmp_{"file-io-test"};
  const std::string dir_ = tmp_.path();
};

// Root's khoctl and another user's output path: the rule khod applies above
// its state dir (common/safe_file.h) holds for khoctl's writes as root.
class RootFileIoTest : public FileIoTest {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the rule is root's: a non-root khoctl follows links";
  }
  // A symlink `path` -> `target` owned by uid 65534 (nobody), as alice's.
  void OthersLink(const std::string& target, const std::string& path) {
    ASSERT_EQ(::symlink(target.c_str(), path.c_str()), 0);
    ASSERT_EQ(::lchown(path.c_str(), 65534, 65534), 0)
        << "lchown: " << std::strerror(errno) << " (in a user namespace mapping no uid 65534?)";
  }
  void PutVictim(const std::string& path) {
    Put(path, "root's secret");
    ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  }
  void ExpectVictimUntouched(const std::string& path) {
    EXPECT_EQ(ReadTestFile(path), "root's secret");
    EXPECT_TRUE(S_ISREG(ModeOf(path)));
    EXPECT_EQ(ModeOf(path) & 07777, 0640u);
  }
};

TEST_F(RootFileIoTest, FinalLinkAnotherUserOwnsIsRefusedAndItsTargetUntouched) {
  ASSERT_EQ(::mkdir(P("etc").c_str(), 0755), 0);
  PutVictim(P("etc/shadow"));
  OthersLink(P("etc/shadow"), P("out.fdt"));
  Status s = WriteWholeFile(P("out.fdt"), "alice's bytes");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message(), P("out.fdt") + ": " + Real("out.fdt") +
                             " is a symbolic link owned by uid 65534: khoctl running as root "
                             "writes through no link another user owns (it points at " +
                             P("etc/shadow") + ")");
  ExpectVictimUntouched(P("etc/shadow"));
  EXPECT_EQ(DirNames(P("etc")), std::vector<std::string>{"shadow"}) << "a temporary was left";
  EXPECT_TRUE(S_ISLNK(ModeOf(P("out.fdt"))));
}

TEST_F(RootFileIoTest, DirectoryLinkAnotherUserOwnsIsRefusedAndNothingBeneathItTouched) {
  ASSERT_EQ(::mkdir(P("etc").c_str(), 0755), 0);
  PutVictim(P("etc/shadow"));
  ASSERT_EQ(::mkdir(P("home").c_str(), 0755), 0);
  OthersLink("../etc", P("home/alice"));
  for (const std::string out : {"home/alice/shadow", "home/alice/new.fdt"}) {
    Status s = WriteWholeFile(P(out), "alice's bytes");
    EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
    EXPECT_EQ(s.message(), P(out) + ": " + Real("home/alice") +
                               " is a symbolic link owned by uid 65534: khoctl running as root "
                               "writes through no link another user owns (it points at ../etc)");
  }
  ExpectVictimUntouched(P("etc/shadow"));
  EXPECT_EQ(DirNames(P("etc")), std::vector<std::string>{"shadow"});
}

// A relative path is walked from the cwd, and the message names it as given.
TEST_F(RootFileIoTest, RelativePathIsWalkedFromTheCwd) {
  PutVictim(P("victim"));
  OthersLink("victim", P("out.fdt"));
  char cwd[PATH_MAX];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(dir_.c_str()), 0);
  Status refused = WriteWholeFile("out.fdt", "alice's bytes");
  Status written = WriteWholeFile("./sub/../plain", "root's blob");
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(refused.code(), Status::Code::kFailedPrecondition) << refused.ToString();
  EXPECT_TRUE(Has(refused.message(),
                  "out.fdt: " + Real("out.fdt") + " is a symbolic link owned by uid 65534"))
      << refused.message();
  ExpectVictimUntouched(P("victim"));
  // "sub" does not exist: the walk reads "sub/.." by hand as the kernel does.
  EXPECT_EQ(written.code(), Status::Code::kIoError) << written.ToString();
  ASSERT_EQ(::mkdir(P("sub").c_str(), 0755), 0);
  ASSERT_EQ(::chdir(dir_.c_str()), 0);
  written = WriteWholeFile("./sub/../plain", "root's blob");
  ASSERT_EQ(::chdir(cwd), 0);
  ASSERT_TRUE(written.ok()) << written.ToString();
  EXPECT_EQ(ReadTestFile(P("plain")), "root's blob");
}

// Links root owns are followed, final or on the way, and what a final one
// points at is replaced (its mode kept as far as 0600 allows), the links left
// as they were.
TEST_F(RootFileIoTest, LinksRootOwnsAreFollowed) {
  ASSERT_EQ(::mkdir(P("real").c_str(), 0755), 0);
  PutVictim(P("real/target"));
  ASSERT_EQ(::symlink("real", P("dirlink").c_str()), 0);
  ASSERT_EQ(::symlink(P("dirlink/target").c_str(), P("filelink").c_str()), 0);
  Status s = WriteWholeFile(P("filelink"), "new");
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(ReadTestFile(P("real/target")), "new");
  EXPECT_EQ(ModeOf(P("real/target")) & 07777, 0600u);
  EXPECT_TRUE(S_ISLNK(ModeOf(P("filelink"))));
  EXPECT_TRUE(S_ISLNK(ModeOf(P("dirlink"))));
  EXPECT_EQ(DirNames(P("real")), std::vector<std::string>{"target"});
  // A new file beneath a root-owned directory link.
  ASSERT_TRUE(WriteWholeFile(P("dirlink/fresh"), "fresh").ok());
  EXPECT_EQ(ReadTestFile(P("real/fresh")), "fresh");
  // A directory reached through a link is still refused, and a trailing '/' names one.
  EXPECT_TRUE(Has(WriteWholeFile(P("dirlink"), "x").message(), "is a directory"));
  EXPECT_TRUE(Has(WriteWholeFile(P("real/"), "x").message(), "is a directory"));
  EXPECT_EQ(WriteWholeFile(P("real/target/"), "x").code(), Status::Code::kIoError);
  EXPECT_EQ(ReadTestFile(P("real/target")), "new");
}

// A non-root khoctl writes with its operator's rights only: it follows a
// link another user (here root) owns, as before.
TEST_F(RootFileIoTest, NonRootKhoctlStillFollowsLinks) {
  TempDir open_dir("file-io-nonroot", TempDir::Use::kSocketForOthers);  // others reach it
  const std::string theirs = open_dir.Join("theirs"), link = open_dir.Join("link");
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0777), 0);
  Put(theirs, "old");
  ASSERT_EQ(::chown(theirs.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::symlink("theirs", link.c_str()), 0);  // root's link
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    const Status s = WriteWholeFile(link, "nobody's blob");
    if (!s.ok()) std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
    _exit(s.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadTestFile(theirs), "nobody's blob");
  EXPECT_TRUE(S_ISLNK(ModeOf(link)));
}

// Another user's FIFO at the output path (alice's mkfifo at -o /tmp/x) is
// refused though someone reads it: the blob's PFNs would go to its reader.
// The read end is open first, so a write in place would succeed.
TEST_F(RootFileIoTest, FifoAnotherUserOwnsIsRefusedThoughSomeoneReadsIt) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0666), 0);
  ASSERT_EQ(::chown(P("fifo").c_str(), 65534, 65534), 0) << std::strerror(errno);
  const int r = ::open(P("fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(r, 0) << std::strerror(errno);
  Status s = WriteWholeFile(P("fifo"), "root's PFNs");
  char buf[64];
  const ssize_t got = ::read(r, buf, sizeof buf);
  ::close(r);
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message(), P("fifo") +
                             " is a FIFO or pipe owned by uid 65534: khoctl writes into no FIFO "
                             "another user owns (whoever reads it would get the blob)");
  EXPECT_LE(got, 0) << "the reader got " << got << " bytes";
  EXPECT_TRUE(S_ISFIFO(ModeOf(P("fifo"))));
}

// Another user's regular file at the output path is refused, left as it was
// (bytes, mode, owner), and no temporary is left beside it: replaced, its wide
// mode would have been kept on root's blob.
TEST_F(RootFileIoTest, RegularFileAnotherUserOwnsIsRefusedAndUntouched) {
  Put(P("out.fdt"), "alice's file");
  ASSERT_EQ(::chmod(P("out.fdt").c_str(), 0666), 0);
  ASSERT_EQ(::chown(P("out.fdt").c_str(), 65534, 65534), 0) << std::strerror(errno);
  Status s = WriteWholeFile(P("out.fdt"), "root's PFNs");
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message(), P("out.fdt") +
                             " is a regular file owned by uid 65534, not by khoctl's euid 0: "
                             "khoctl replaces no other user's file");
  EXPECT_EQ(ReadTestFile(P("out.fdt")), "alice's file");
  struct stat st;
  ASSERT_EQ(::lstat(P("out.fdt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(DirNames(dir_), std::vector<std::string>{"out.fdt"}) << "a temporary was left";
}

// A non-root khoctl is held to the same rule: root's file in a directory it
// may write into is not replaced.
TEST_F(RootFileIoTest, NonRootKhoctlRefusesAFileAnotherUserOwns) {
  TempDir open_dir("file-io-nonroot", TempDir::Use::kSocketForOthers);  // others reach it
  const std::string roots = open_dir.Join("roots");
  ASSERT_EQ(::chmod(open_dir.path().c_str(), 0777), 0);
  Put(roots, "root's file");
  ASSERT_EQ(::chmod(roots.c_str(), 0666), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    const Status s = WriteWholeFile(roots, "nobody's blob");
    const bool named = s.message() == roots +
                                          " is a regular file owned by uid 0, not by khoctl's "
                                          "euid 65534: khoctl replaces no other user's file";
    if (!named) std::fprintf(stderr, "child: %s\n", s.ToString().c_str());
    _exit(s.code() == Status::Code::kFailedPrecondition && named ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(ReadTestFile(roots), "root's file");
  EXPECT_EQ(ModeOf(roots) & 07777, 0666u);
}

// -o /dev/null and -o /dev/stdout (a root link to /proc/self/fd/1, a link
// the kernel resolves to an open pipe or terminal, not to a path) are written
// in place.
TEST_F(RootFileIoTest, DevNullAndStdoutAreWrittenInPlace) {
  ASSERT_TRUE(WriteWholeFile("/dev/null", "gone").ok());
  EXPECT_TRUE(S_ISCHR(ModeOf("/dev/null")));
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::fflush(stdout);
  const int saved = ::dup(1);
  ASSERT_GE(saved, 0);
  ASSERT_EQ(::dup2(p[1], 1), 1);
  Status via_stdout = WriteWholeFile("/dev/stdout", "to stdout;");
  Status via_fd = WriteWholeFile("/proc/self/fd/" + std::to_string(p[1]), "to the fd");
  ASSERT_EQ(::dup2(saved, 1), 1);
  ::close(saved);
  ::close(p[1]);
  EXPECT_TRUE(via_stdout.ok()) << via_stdout.ToString();
  EXPECT_TRUE(via_fd.ok()) << via_fd.ToString();
  std::string got;
  char buf[64];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) got.append(buf, n);
  ::close(p[0]);
  EXPECT_EQ(got, "to stdout;to the fd");
}

TEST_F(FileIoTest, ReplacesFileAndLeavesNoTemporary) {
  Put(P("out"), "old");
  ASSERT_TRUE(WriteWholeFile(P("out"), "new blob").ok());
  EXPECT_EQ(ReadTestFile(P("out")), "new blob");
  EXPECT_EQ(DirNames(dir_), std::vector<std::string>{"out"});
}

TEST_F(FileIoTest, SiblingNamedTmpIsNotClobbered) {
  Put(P("out.tmp"), "someone else's file");
  ASSERT_TRUE(WriteWholeFile(P("out"), "blob").ok());
  EXPECT_EQ(ReadTestFile(P("out.tmp")), "someone else's file");
  EXPECT_EQ(ReadTestFile(P("out")), "blob");
}

// A FIFO of khoctl's own that someone reads (here its read end is open
// before the write: khoctl's open waits for no reader) gets the bytes in place.
TEST_F(FileIoTest, FifoStaysFifoAndGetsTheBytes) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  const int r = ::open(P("fifo").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(r, 0) << std::strerror(errno);
  Status s = WriteWholeFile(P("fifo"), "through the pipe");
  std::string got;
  char buf[64];
  for (ssize_t n; (n = ::read(r, buf, sizeof buf)) > 0;) got.append(buf, n);
  ::close(r);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, "through the pipe");
  struct stat st;
  ASSERT_EQ(::lstat(P("fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a regular file";
}

// A FIFO no one reads is refused at once (the open is O_NONBLOCK), never a
// khoctl hung on its open. The write runs on a thread with a deadline; past
// it, the test opens the read end itself so the thread can finish.
TEST_F(FileIoTest, FifoNoOneReadsIsRefusedWithoutWaiting) {
  ASSERT_EQ(::mkfifo(P("fifo").c_str(), 0600), 0);
  std::packaged_task<Status()> task([&] { return WriteWholeFile(P("fifo"), "blob"); });
  std::future<Status> done = task.get_future();
  std::thread writer(std::move(task));
  const bool returned = done.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  if (!returned) {
    const int r = ::open(P("fifo").c_str(), O_RDONLY | O_CLOEXEC);  // lets the writer go
    done.wait();
    if (r >= 0) ::close(r);
  }
  writer.join();
  ASSERT_TRUE(returned) << "WriteWholeFile waited for a reader of the FIFO";
  const Status s = done.get();
  EXPECT_EQ(s.code(), Status::Code::kFailedPrecondition) << s.ToString();
  EXPECT_EQ(s.message(), P("fifo") +
                             " is a FIFO or pipe no one is reading: khoctl does not wait for a "
                             "reader");
  EXPECT_TRUE(S_ISFIFO(ModeOf(P("fifo"))));
}

TEST_F(FileIoTest, SocketIsRefusedNamingIt) {
  const int sock = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(sock, 0);
  const TempDir sock_dir("file-io-sock", TempDir::Use::kSocket);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string path = sock_dir.Join("sock");
  ASSERT_LT(path.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0)
      << std::strerror(errno);
  const Status s = WriteWholeFile(path, "blob");
  ::close(sock);
  EXPECT_EQ(s.code(), Status::Code::kInvalidArgument) << s.ToString();
  EXPECT_EQ(s.message(), path + " is a socket, not a file khoctl can write");
}

TEST_F(FileIoTest, SymlinkStaysLinkAndTargetIsReplaced) {
  Put(P("real"), "old");
  ASSERT_EQ(::symlink("real", P("link").c_str()), 0);
  ASSERT_TRUE(WriteWholeFile(P("link"), "new").ok());
  struct stat st;
  ASSERT_EQ(::lstat(P("link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadTestFile(P("real")), "new");
}

// A blob holds PFNs: a new file is its owner's alone whatever the umask, and
// a replaced one keeps its mode only as far as a new file's allows (a wide
// one narrowed, a narrower one kept).
TEST_F(FileIoTest, NewAndReplacedFilesAreTheOwnersAlone) {
  const mode_t old_umask = ::umask(0);
  Status fresh = WriteWholeFile(P("new"), "blob");
  Put(P("wide"), "old");
  ASSERT_EQ(::chmod(P("wide").c_str(), 0666), 0);
  Status wide = WriteWholeFile(P("wide"), "new");
  Put(P("group"), "old");
  ASSERT_EQ(::chmod(P("group").c_str(), 0640), 0);
  Status group = WriteWholeFile(P("group"), "new");
  Put(P("narrow"), "old");
  ASSERT_EQ(::chmod(P("narrow").c_str(), 0400), 0);
  Status narrow = WriteWholeFile(P("narrow"), "new");
  ::umask(old_umask);
  for (const Status* s : {&fresh, &wide, &group, &narrow}) ASSERT_TRUE(s->ok()) << s->ToString();
  EXPECT_EQ(ModeOf(P("new")) & 07777, 0600u);
  EXPECT_EQ(ModeOf(P("wide")) & 07777, 0600u);
  EXPECT_EQ(ModeOf(P("group")) & 07777, 0600u);
  EXPECT_EQ(ModeOf(P("narrow")) & 07777, 0400u);
  EXPECT_EQ(ReadTestFile(P("wide")), "new");
  EXPECT_EQ(ReadTestFile(P("narrow")), "new");
}

TEST_F(FileIoTest, DirectoryAndEmptyPathAreRefused) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  Status s = WriteWholeFile(P("d"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("is a directory"), std::string::npos) << s.message();
  EXPECT_TRUE(DirNames(P("d")).empty());
  Status e = WriteWholeFile("", "x");
  EXPECT_FALSE(e.ok());
  EXPECT_NE(e.message().find("empty"), std::string::npos) << e.message();
}

TEST_F(FileIoTest, MissingDirectoryNamesThePath) {
  Status s = WriteWholeFile(P("no/such/dir/out"), "x");
  EXPECT_EQ(s.code(), Status::Code::kIoError);
  EXPECT_NE(s.message().find(P("no/such/dir/out")), std::string::npos) << s.message();
}

TEST_F(FileIoTest, ReadRefusesDirectory) {
  auto r = ReadWholeFile(dir_, BlobFileRead());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), dir_ + " is a directory, not a file");
}

// Past the bound is InvalidArgument, never Corruption: LoadSnapshotFile adds
// the path only to a Corruption, which a blob's own checks give.
TEST_F(FileIoTest, ReadIsBounded) {
  Put(P("big"), std::string(5000, 'x'));
  auto r = ReadWholeFile(P("big"), BlobFileRead(nullptr, 4096));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            P("big") + ": larger than 4096 bytes, more than any snapshot blob holds");
  // An endless device is no file: refused before a byte is read.
  auto z = ReadWholeFile("/dev/zero", BlobFileRead(nullptr, 1 << 20));
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(z.status().message(), "/dev/zero is a character device, not a regular file");
}

// khoctl keeps open's error for an absent file (inspect prints "No such file").
TEST_F(FileIoTest, ReadOfAMissingFileIsOpensIoError) {
  auto r = ReadWholeFile(P("absent"), BlobFileRead());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kIoError);
  EXPECT_EQ(r.status().message(), "open " + P("absent") + ": No such file or directory");
}

TEST_F(FileIoTest, HeadCheckStopsEarlyAndSeesShortFiles) {
  int calls = 0;
  auto refuse = [&](std::string_view head) {
    ++calls;
    EXPECT_GE(head.size(), kFileHeadBytes);
    return Status::Corruption("not a blob");
  };
  Put(P("zeros"), std::string(1 << 20, '\0'));
  auto z = ReadWholeFile(P("zeros"), BlobFileRead(refuse));
  EXPECT_EQ(z.status().code(), Status::Code::kCorruption);
  EXPECT_EQ(calls, 1);
  Put(P("short"), "abc");
  size_t seen = 99;
  auto r = ReadWholeFile(P("short"), BlobFileRead([&](std::string_view head) {
                           seen = head.size();
                           return Status::Ok();
                         }));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(*r, "abc");
}

}  // namespace
}  // namespace khod
