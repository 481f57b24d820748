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

}  // namespace
}  // namespace khod
