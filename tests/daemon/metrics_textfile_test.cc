// The metrics textfile as node_exporter's collector sees it: whenever the
// file has its name, it is whole and mode 0644.
#include "daemon/metrics_textfile.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

// The inotify events that named `name`, in order, read without blocking.
std::vector<uint32_t> EventsNaming(int inotify_fd, const std::string& name) {
  std::vector<uint32_t> masks;
  alignas(struct inotify_event) char buf[16384];
  for (;;) {
    const ssize_t n = ::read(inotify_fd, buf, sizeof buf);
    if (n <= 0) break;
    for (ssize_t at = 0; at < n;) {
      const auto* e = reinterpret_cast<const struct inotify_event*>(buf + at);
      if (e->len > 0 && name == e->name) masks.push_back(e->mask);
      at += sizeof(struct inotify_event) + e->len;
    }
  }
  return masks;
}

TEST(MetricsTextfileTest, TheFileHasItsModeBeforeItHasItsName) {
  TempDir dir("metrics-textfile");
  const std::string path = dir.Join("khod.prom");
  MetricsTextfile metrics(path, [] {
    v1::StatusReply s;
    s.set_phase(v1::PREPARED);
    return s;
  });
  const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  ASSERT_GE(in, 0);
  ASSERT_GE(::inotify_add_watch(in, dir.path().c_str(), IN_ATTRIB | IN_MOVED_TO | IN_CREATE), 0);
  for (int write = 0; write < 2; ++write) {  // created, then replaced
    ASSERT_TRUE(metrics.WriteNow().ok());
    // The name arrives by the rename alone: no change of mode (or of anything
    // else) happens to the file once it is there to be read.
    EXPECT_EQ(EventsNaming(in, "khod.prom"), std::vector<uint32_t>{IN_MOVED_TO}) << write;
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    EXPECT_NE(ReadTestFile(path).find("khod_phase{phase=\"PREPARED\"} 1\n"), std::string::npos);
  }
  ::close(in);
}

TEST(MetricsTextfileTest, TheModeIsExactWhateverTheUmask) {
  TempDir dir("metrics-textfile-umask");
  const std::string path = dir.Join("khod.prom");
  MetricsTextfile metrics(path, [] { return v1::StatusReply(); });
  const mode_t old = ::umask(077);
  const Status s = metrics.WriteNow();
  ::umask(old);
  ASSERT_TRUE(s.ok()) << s.ToString();
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

}  // namespace
}  // namespace khod
