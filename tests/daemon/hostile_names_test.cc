// A caller names its memory file whatever it likes (memfd_create's name is any
// bytes): the real khod, over its socket, shows that name only escaped, so
// GetStatus (a proto3 string must be UTF-8) keeps answering everyone and no
// reply or log line carries a terminal escape or a forged line.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "khoctl/client.h"
#include "tests/support/fixture.h"
#include "tests/support/khod_fixture.h"
#include "tools/rehearsal/child_process.h"

namespace khod {
namespace {

// An OSC title, a colour, a newline that starts a forged line, a byte that is
// not UTF-8 and a backslash.
constexpr char kEvil[] = "evil\x1b]0;PWNED\x07\x1b[31mRED\x1b[0m\nFAKE LINE\xff\\";
constexpr char kEscaped[] = "evil\\x1b]0;PWNED\\x07\\x1b[31mRED\\x1b[0m\\x0aFAKE LINE\\xff\\x5c";

// Printable ASCII only (0x20-0x7e), newline included among the refused.
bool Printable(const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return false;
  return true;
}

// khod's log: lines of printable ASCII, none a forged one.
void ExpectCleanLog(const std::string& log) {
  for (size_t at = 0; at < log.size();) {
    size_t nl = log.find('\n', at);
    if (nl == std::string::npos) nl = log.size();
    const std::string line = log.substr(at, nl - at);
    EXPECT_TRUE(Printable(line)) << "log line: " << line;
    EXPECT_NE(line.rfind("FAKE LINE", 0), 0u) << "a forged log line";
    at = nl + 1;
  }
}

class HostileNamesTest : public KhodProcessTest {
 protected:
  HostileNamesTest() : KhodProcessTest("hostile-names", "dir", std::chrono::seconds(10)) {}
};

TEST_F(HostileNamesTest, AMemfdNamedWithEscapesAndBadUtf8LeavesStatusAnsweringAndPrintable) {
  TestMemfd evil(1 << 20, kEvil);
  ChildProcess khod = StartKhod();
  KhodClient c(Socket());
  v1::AttachRequest q = Attach();
  q.mutable_kernel()->set_fd(evil.fd());
  Result<v1::AttachReply> attached = c.Attach(q);
  EXPECT_TRUE(attached.ok()) << attached.status().ToString();
  if (attached.ok()) {
    EXPECT_TRUE(Printable(attached->gmem().source())) << attached->gmem().source();
  }

  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->gmems_size(), 1);
  const std::string& source = s->gmems(0).source();
  EXPECT_TRUE(Printable(source)) << source;
  EXPECT_NE(source.find(std::string("(/memfd:") + kEscaped + " (deleted))"), std::string::npos)
      << source;
  EXPECT_EQ(s->gmems(0).kind(), "shmem-memfd");

  // khod restarts and finds that fd now a write-only open of another such
  // memfd: the refusal, in the recovery text and the log, names it escaped.
  ASSERT_EQ(khod.Stop(SIGKILL) & 0x7f, SIGKILL);
  TestMemfd other(1 << 20, kEvil);
  const int write_only =
      ::open(("/proc/self/fd/" + std::to_string(other.fd())).c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(write_only, 0);
  ASSERT_EQ(::dup3(write_only, evil.fd(), O_CLOEXEC), evil.fd());
  ::close(write_only);
  ChildProcess again = StartKhod();
  s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->gmems_size(), 0) << s->recovery();
  EXPECT_TRUE(Printable(s->recovery())) << s->recovery();
  EXPECT_NE(s->recovery().find(kEscaped), std::string::npos) << s->recovery();
  again.Stop(SIGTERM);
  ExpectCleanLog(ReadTestFile(dir_ + "/khod.log"));
}

// The name a caller gives (AttachRequest.name) is refused, naming the code
// point and where it is, when it holds a character that is invisible or moves
// the text around it: C1's CSI (U+009B) cleared root's screen and a bidi
// override reordered `khoctl status`'s line (before, only bytes below 0x20 and
// 0x7f were refused). Nothing is attached; any other name is kept as given.
TEST_F(HostileNamesTest, ANameWithAControlOrFormatCharacterIsRefusedNamingIt) {
  ChildProcess khod = StartKhod();
  KhodClient c(Socket());
  struct Case {
    std::string name;
    std::string says;
  };
  const Case refused[] = {
      {"vm0\xc2\x9b"
       "2J\xc2\x9bH\xe2\x80\xae"
       "FORGED",
       "name contains control character U+009B at byte 3"},
      {"vm0\xe2\x80\xae"
       "0mv",
       "name contains format character U+202E at byte 3"},
      {"vm0\xe2\x81\xa6"
       "x\xe2\x81\xa9",
       "name contains format character U+2066 at byte 3"},
      {"vm\xe2\x80\x8b"
       "0",
       "name contains format character U+200B at byte 2"},
      {"vm0\xc2\x9d"
       "0;t\x07",
       "name contains control character U+009D at byte 3"},
      {"vm0\xe2\x80\xa8"
       "x",
       "name contains line separator U+2028 at byte 3"},
  };
  for (const Case& r : refused) {
    v1::AttachRequest q = Attach();
    q.set_name(r.name);
    Result<v1::AttachReply> a = c.Attach(q);
    EXPECT_EQ(a.status().code(), Status::Code::kInvalidArgument) << a.status().ToString();
    EXPECT_NE(a.status().message().find(r.says), std::string::npos) << a.status().message();
    EXPECT_TRUE(Printable(a.status().message())) << a.status().message();
    // A MODEL guest's name by the same rule.
    v1::AttachRequest m;
    m.set_name(r.name);
    m.mutable_model()->set_size(1 << 20);
    a = c.Attach(m);
    EXPECT_EQ(a.status().code(), Status::Code::kInvalidArgument) << a.status().ToString();
    EXPECT_NE(a.status().message().find(r.says), std::string::npos) << a.status().message();
  }
  Result<v1::StatusReply> s = c.GetStatus();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->gmems_size(), 0);

  // Letters of any script are a name, kept as given.
  const std::string name = "vm\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac";
  v1::AttachRequest q = Attach();
  q.set_name(name);
  Result<v1::AttachReply> a = c.Attach(q);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->gmem().name(), name);
  khod.Stop(SIGTERM);
  ExpectCleanLog(ReadTestFile(dir_ + "/khod.log"));
}

}  // namespace
}  // namespace khod
