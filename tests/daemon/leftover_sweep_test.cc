// The start-up sweep (daemon/leftover_sweep.h) on state dirs laid out as a
// killed khod leaves them: what no record names goes, what the record names,
// what khod did not write and what lies outside the state dir stay, and no
// link is followed.
#include "daemon/leftover_sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/fixture.h"

namespace khod {
namespace {

void Put(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

std::vector<std::string> Paths(const std::vector<SweptEntry>& entries) {
  std::vector<std::string> out;
  for (const SweptEntry& e : entries) out.push_back(e.path);
  std::sort(out.begin(), out.end());
  return out;
}

bool Lists(const std::vector<SweptEntry>& entries, const std::string& path) {
  for (const SweptEntry& e : entries)
    if (e.path == path) return true;
  return false;
}

class LeftoverSweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(state_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(root_.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(outside_.c_str(), 0700), 0);
    Put(victim_, "precious");
  }
  SweepReport Sweep(const RecordedNames& named, const std::string& root = "") {
    Result<SafeDir> s = SafeDir::Open(state_, 0);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    Result<SafeDir> r = SafeDir::Open(root.empty() ? root_ : root, 0);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!s.ok() || !r.ok()) return SweepReport();
    return SweepLeftovers(*s, *r, named);
  }
  // A handover dir beneath the root holding a blob and a cut write of one.
  void HandoverDir(const std::string& name) {
    const std::string d = name.empty() ? root_ : root_ + "/" + name;
    if (!name.empty()) {
      ASSERT_EQ(::mkdir(d.c_str(), 0700), 0);
    }
    Put(d + "/handover.blob", "a sent blob");
    Put(d + "/handover.blob.tmp", "a cut wri");
  }

  TempDir tmp_{"leftover-sweep"};
  const std::string state_ = tmp_.Join("state");
  const std::string root_ = state_ + "/handover";  // the default root
  const std::string outside_ = tmp_.Join("outside");
  const std::string victim_ = outside_ + "/victim";
};

// A Freeze killed after its blob and its Send, before its record: PREPARED.
TEST_F(LeftoverSweepTest, WhatNoRecordNamesGoesAndWhatItNamesStays) {
  Put(state_ + "/session.rec", "the record");
  Put(state_ + "/session.rec.tmp", "a cut record");
  Put(state_ + "/khod.lock", "1\n");
  Put(state_ + "/prepared-5.blob", "named");
  Put(state_ + "/prepared-3.blob", "an older one");
  Put(state_ + "/frozen-6.blob", "killed Freeze's");
  Put(state_ + "/frozen-draft.blob", "Prepare's draft");
  // Not names khod gives: never looked at.
  for (const char* n : {"frozen-backup.blob", "prepared-.blob", "frozen-6.blob.tmp", "notes"})
    Put(state_ + "/" + n, "the operator's");
  ASSERT_NO_FATAL_FAILURE(HandoverDir(""));
  ASSERT_NO_FATAL_FAILURE(HandoverDir("pmem0"));
  Put(root_ + "/pmem0/notes", "the operator's");
  RecordedNames named;
  named.prepared_blob = "prepared-5.blob";
  const SweepReport r = Sweep(named);
  EXPECT_EQ(Paths(r.removed), (std::vector<std::string>{
                                  "frozen-6.blob", "frozen-draft.blob", "handover/handover.blob",
                                  "handover/handover.blob.tmp", "handover/pmem0/handover.blob",
                                  "handover/pmem0/handover.blob.tmp", "prepared-3.blob"}));
  EXPECT_TRUE(r.failed.empty()) << r.failed[0].path << ": " << r.failed[0].why;
  EXPECT_TRUE(r.kept.empty()) << r.kept[0].path << ": " << r.kept[0].why;
  for (const char* n :
       {"session.rec", "session.rec.tmp", "khod.lock", "prepared-5.blob", "frozen-backup.blob",
        "prepared-.blob", "frozen-6.blob.tmp", "notes", "handover/pmem0/notes"})
    EXPECT_TRUE(IsRegular(state_ + "/" + n)) << n;
  EXPECT_TRUE(IsDir(root_ + "/pmem0"));  // directories always stay
  for (const SweptEntry& e : r.removed) EXPECT_FALSE(e.why.empty()) << e.path;
}

// A handover that stands: its dir's blob is what Restore reads.
TEST_F(LeftoverSweepTest, TheHandoverTheRecordNamesStays) {
  Put(state_ + "/frozen-8.blob", "named");
  ASSERT_NO_FATAL_FAILURE(HandoverDir(""));
  ASSERT_NO_FATAL_FAILURE(HandoverDir("pmem0"));
  ASSERT_NO_FATAL_FAILURE(HandoverDir("old"));
  RecordedNames named;
  named.frozen_blob = "frozen-8.blob";
  named.dir_handover_stands = true;
  named.handover_dir = "pmem0";
  SweepReport r = Sweep(named);
  EXPECT_EQ(Paths(r.removed), (std::vector<std::string>{
                                  "handover/handover.blob", "handover/handover.blob.tmp",
                                  "handover/old/handover.blob", "handover/old/handover.blob.tmp",
                                  "handover/pmem0/handover.blob.tmp"}));
  EXPECT_TRUE(IsRegular(state_ + "/frozen-8.blob"));
  EXPECT_TRUE(IsRegular(root_ + "/pmem0/handover.blob"));
  EXPECT_TRUE(IsDir(root_ + "/old"));  // a dir stays, empty or not
  EXPECT_TRUE(r.kept.empty()) << r.kept[0].path;

  // The root itself is the handover dir ("").
  Put(root_ + "/handover.blob", "sent into the root");
  named.handover_dir = "";
  r = Sweep(named);
  EXPECT_TRUE(IsRegular(root_ + "/handover.blob"));
  EXPECT_EQ(Paths(r.removed), std::vector<std::string>{"handover/pmem0/handover.blob"});
}

// An older khod recorded a client's path as its handover dir: it may lead
// beneath the root, so nothing there is swept.
TEST_F(LeftoverSweepTest, ARecordedPathKeepsEverythingBeneathTheRoot) {
  ASSERT_NO_FATAL_FAILURE(HandoverDir("pmem0"));
  Put(state_ + "/frozen-4.blob", "unnamed");
  RecordedNames named;
  named.dir_handover_stands = true;
  named.handover_dir = root_ + "/pmem0";
  const SweepReport r = Sweep(named);
  EXPECT_EQ(Paths(r.removed), std::vector<std::string>{"frozen-4.blob"});
  EXPECT_TRUE(IsRegular(root_ + "/pmem0/handover.blob"));
  EXPECT_TRUE(IsRegular(root_ + "/pmem0/handover.blob.tmp"));
  ASSERT_TRUE(Lists(r.kept, "handover/"));
  EXPECT_NE(r.kept[0].why.find("a path"), std::string::npos) << r.kept[0].why;
}

// A --handover-root outside the state dir is not khod's alone: untouched.
TEST_F(LeftoverSweepTest, AHandoverRootOutsideTheStateDirIsNotSwept) {
  const std::string elsewhere = tmp_.Join("pmem-root");
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0700), 0);
  Put(elsewhere + "/handover.blob", "another khod's, maybe");
  ASSERT_NO_FATAL_FAILURE(HandoverDir(""));  // the unused default root is not it either
  const SweepReport r = Sweep(RecordedNames(), elsewhere);
  EXPECT_TRUE(r.removed.empty()) << r.removed[0].path;
  EXPECT_TRUE(IsRegular(elsewhere + "/handover.blob"));
  EXPECT_TRUE(IsRegular(root_ + "/handover.blob"));
}

// Links planted under names khod writes stay as they are, and what they
// point at outside the state dir is untouched; no link to a directory is
// descended; a directory that is not safe to write into is not entered; what
// else is of another type stays.
TEST_F(LeftoverSweepTest, NoLinkIsFollowedAndNothingButRegularFilesGoes) {
  ASSERT_EQ(::symlink(victim_.c_str(), (state_ + "/frozen-12.blob").c_str()), 0);
  ASSERT_EQ(::symlink(victim_.c_str(), (state_ + "/frozen-draft.blob").c_str()), 0);
  ASSERT_EQ(::symlink(victim_.c_str(), (root_ + "/handover.blob").c_str()), 0);
  ASSERT_EQ(::mkdir((root_ + "/handover.blob.tmp").c_str(), 0700), 0);
  ASSERT_EQ(::mkfifo((state_ + "/prepared-2.blob").c_str(), 0600), 0);
  // A link to a directory outside, holding what would be a handover blob.
  Put(outside_ + "/handover.blob", "outside");
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/linked").c_str()), 0);
  // A dir others may write into: anyone could have put its blob there.
  const std::string open_dir = root_ + "/open";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0777), 0);
  Put(open_dir + "/handover.blob", "in an open dir");
  const SweepReport r = Sweep(RecordedNames());
  EXPECT_TRUE(r.removed.empty()) << r.removed[0].path;
  EXPECT_TRUE(r.failed.empty()) << r.failed[0].path << ": " << r.failed[0].why;
  for (const char* p : {"frozen-12.blob", "frozen-draft.blob", "handover/handover.blob"}) {
    EXPECT_TRUE(IsLink(state_ + "/" + p)) << p;
    EXPECT_TRUE(Lists(r.kept, p)) << p;
  }
  EXPECT_TRUE(Lists(r.kept, "handover/handover.blob.tmp"));
  EXPECT_TRUE(Lists(r.kept, "prepared-2.blob"));
  EXPECT_TRUE(Lists(r.kept, "handover/open/"));
  EXPECT_FALSE(Lists(r.kept, "handover/linked/"));  // a link: not a dir of the root
  EXPECT_EQ(ReadTestFile(victim_), "precious");
  EXPECT_EQ(ReadTestFile(outside_ + "/handover.blob"), "outside");
  EXPECT_EQ(ReadTestFile(open_dir + "/handover.blob"), "in an open dir");
  EXPECT_TRUE(IsDir(root_ + "/handover.blob.tmp"));
  for (const SweptEntry& e : r.kept) EXPECT_FALSE(e.why.empty()) << e.path;
}

// Nothing to sweep: nothing said.
TEST_F(LeftoverSweepTest, ACleanStateDirReportsNothing) {
  Put(state_ + "/session.rec", "the record");
  const SweepReport r = Sweep(RecordedNames());
  EXPECT_TRUE(r.removed.empty() && r.kept.empty() && r.failed.empty());
}

}  // namespace
}  // namespace khod
