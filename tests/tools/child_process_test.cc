// ChildProcess (tools/rehearsal): the child gets stdin, stdout, stderr and
// nothing else from us, so khod started by tests or the rehearsal holds no
// stray fds (a leaked log fd once showed up in khod's /proc/PID/fd).
#include "tools/rehearsal/child_process.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <set>
#include <string>

#include "tests/support/fixture.h"

namespace khod {
namespace {

TEST(ChildProcessTest, ChildInheritsOnlyStdio) {
  const TempDir tmp("child-process-test");
  const std::string log = tmp.Join("child_process_test.log");
  // `exec ls` lists ls's own fds: 0-2 plus the one it opens for the directory.
  auto c = ChildProcess::Start({"/bin/sh", "-c", "exec ls /proc/self/fd"}, /*pipes=*/true, log);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::set<std::string> fds;
  for (;;) {
    Result<std::string> line = c->ReadLine();
    if (!line.ok()) break;
    fds.insert(*line);
  }
  EXPECT_EQ(c->Stop(0), 0);
  EXPECT_EQ(fds.size(), 4u) << "fds: " << [&] {
    std::string s;
    for (const auto& f : fds) s += f + " ";
    return s;
  }();
  EXPECT_TRUE(fds.count("0") && fds.count("1") && fds.count("2"));
}

}  // namespace
}  // namespace khod
