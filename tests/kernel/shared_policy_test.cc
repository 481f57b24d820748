// kernel/shared_policy.h: the shared-policy program's records decoded without a kernel, on
// records the test writes as the program writes them (kernel/bpf/shared_policy.bpf.c), and the
// one policy of a whole file from its tree. Each refusal the decoder's comment names is made
// by one record out of shape; the policies are what numa_maps prints.
#include "kernel/shared_policy.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <string>
#include <vector>

#include "kernel/bpf/shared_policy_record.h"
#include "kernel/mempolicy_fields.h"
#include "kernel/mempolicy_text.h"

namespace khod {
namespace {

using Record = khod_shared_policy_record;

constexpr pid_t kPid = 4242;
constexpr uint32_t kDev = (8u << 20) | 3u;  // the kernel's encoding of 8:3

Record Blank(uint32_t kind, uint32_t fd, uint64_t ino) {
  Record r;
  std::memset(&r, 0, sizeof(r));
  r.magic = KHOD_SHARED_POLICY_MAGIC;
  r.version = KHOD_SHARED_POLICY_VERSION;
  r.size = sizeof(r);
  r.kind = kind;
  r.tgid = kPid;
  r.fd = fd;
  r.dev = kDev;
  r.ino = ino;
  r.home_node = -1;  // as the program starts each record
  return r;
}

// A file's record; Bytes() counts the range records that follow it.
Record File(uint32_t fd, uint64_t ino) { return Blank(KHOD_SHARED_POLICY_KIND_FILE, fd, ino); }

// A range of `file`, with a policy as the program copies it (node_bytes of a 1024-node kernel,
// the home node field present and NUMA_NO_NODE).
Record Range(const Record& file, uint64_t start, uint64_t end, uint16_t mode = MPOL_BIND,
             uint16_t mode_flags = 0, uint64_t nodes = 0x1) {
  Record r = Blank(KHOD_SHARED_POLICY_KIND_RANGE, file.fd, file.ino);
  r.dev = file.dev;
  r.tgid = file.tgid;
  r.start = start;
  r.end = end;
  r.mode = mode;
  r.mode_flags = mode_flags;
  r.node_bytes = sizeof(r.nodes);
  r.nodes[0] = nodes;
  r.flags = KHOD_SHARED_POLICY_F_HOME_NODE;
  return r;
}

// The records as given.
std::string RawBytes(const std::vector<Record>& records) {
  return std::string(reinterpret_cast<const char*>(records.data()),
                     records.size() * sizeof(Record));
}

// The records with each file's counting the range records after it, as the program writes them.
std::string Bytes(std::vector<Record> records) {
  for (size_t i = 0; i < records.size(); ++i) {
    if (records[i].kind != KHOD_SHARED_POLICY_KIND_FILE) continue;
    uint32_t n = 0;
    for (size_t k = i + 1; k < records.size() && records[k].kind == KHOD_SHARED_POLICY_KIND_RANGE;
         ++k)
      ++n;
    records[i].ranges = n;
  }
  return RawBytes(records);
}

Mempolicy Policy(int32_t mode, uint32_t flags, std::vector<uint64_t> nodes, int32_t home = -1) {
  Mempolicy p;
  p.mode = mode;
  p.mode_flags = flags;
  p.nodemask = std::move(nodes);
  p.home_node = home;
  return p;
}

void ExpectRefused(const std::string& bytes, Status::Code code, const std::string& says) {
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(bytes, kPid);
  ASSERT_FALSE(trees.ok()) << "accepted";
  EXPECT_EQ(trees.status().code(), code) << trees.status().ToString();
  EXPECT_NE(trees.status().message().find(says), std::string::npos)
      << "wanted \"" << says << "\" in " << trees.status().ToString();
}

void ExpectCorrupt(const std::string& bytes, const std::string& says) {
  ExpectRefused(bytes, Status::Code::kCorruption, says);
}

TEST(SharedPolicyDecodeTest, AnEmptyReadIsNoFile) {
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords("", kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  EXPECT_TRUE(trees->empty());
}

TEST(SharedPolicyDecodeTest, AFileWithNoRangesHasAnEmptyTree) {
  Result<std::vector<SharedPolicyTree>> trees =
      DecodeSharedPolicyRecords(Bytes({File(3, 77)}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 1u);
  const SharedPolicyTree& t = (*trees)[0];
  EXPECT_EQ(t.dev, makedev(8, 3)) << "userspace's encoding, as fstat's st_dev";
  EXPECT_EQ(t.inode, 77u);
  EXPECT_FALSE(t.cut);
  EXPECT_TRUE(t.ranges.empty());
}

TEST(SharedPolicyDecodeTest, AFilesRangesAreItsTreeAsNumaMapsPrintsEachPolicy) {
  const Record f = File(3, 77);
  // Internal flags (MPOL_F_SHARED 1, MPOL_F_MOF 1 << 3...) dropped, static wins over relative.
  Record bind = Range(f, 0, 2, MPOL_BIND,
                      MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | (1 << 13) | (1 << 3) | 1, 0x5);
  bind.home_node = 2;
  Record interleave = Range(f, 2, 6, MPOL_INTERLEAVE, MPOL_F_RELATIVE_NODES, 0x3);
  Record local = Range(f, 9, 10, MPOL_LOCAL, 0, 0x1);          // local prints no nodes
  Record no_field = Range(f, 10, 12, MPOL_PREFERRED, 0, 0x2);  // a kernel before 5.17
  no_field.flags &= ~KHOD_SHARED_POLICY_F_HOME_NODE;
  Result<std::vector<SharedPolicyTree>> trees =
      DecodeSharedPolicyRecords(Bytes({f, bind, interleave, local, no_field}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 1u);
  const std::vector<SharedPolicyRange>& r = (*trees)[0].ranges;
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[0].start, 0u);
  EXPECT_EQ(r[0].end, 2u);
  EXPECT_EQ(r[0].policy, Policy(MPOL_BIND, MPOL_F_STATIC_NODES | (1 << 13), {0x5}, 2));
  EXPECT_EQ(r[1].start, 2u) << "back to back with the range before it";
  EXPECT_EQ(r[1].end, 6u);
  EXPECT_EQ(r[1].policy, Policy(MPOL_INTERLEAVE, MPOL_F_RELATIVE_NODES, {0x3}));
  EXPECT_EQ(r[2].policy, Policy(MPOL_LOCAL, 0, {}));
  EXPECT_EQ(r[3].policy, Policy(MPOL_PREFERRED, 0, {0x2}));
  for (const SharedPolicyRange& range : r) EXPECT_TRUE(range.policy.home_node_seen);
}

TEST(SharedPolicyDecodeTest, FilesAreOnePerInodeInDevAndInodeOrder) {
  const Record a = File(3, 90), b = File(4, 12);
  Result<std::vector<SharedPolicyTree>> trees =
      DecodeSharedPolicyRecords(Bytes({a, Range(a, 0, 1), b}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 2u);
  EXPECT_EQ((*trees)[0].inode, 12u);
  EXPECT_EQ((*trees)[1].inode, 90u);
  EXPECT_EQ((*trees)[1].ranges.size(), 1u);
}

TEST(SharedPolicyDecodeTest, TheSameInodeAtTwoFdsThatAgreeIsOneTree) {
  const Record at3 = File(3, 77), at9 = File(9, 77);
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(
      Bytes({at3, Range(at3, 0, 4), Range(at3, 4, 8, MPOL_INTERLEAVE, 0, 0x3), at9,
             Range(at9, 0, 4), Range(at9, 4, 8, MPOL_INTERLEAVE, 0, 0x3)}),
      kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 1u);
  EXPECT_EQ((*trees)[0].ranges.size(), 2u);
  // Cut at both: one cut tree.
  Record cut3 = at3, cut9 = at9;
  cut3.flags = cut9.flags = KHOD_SHARED_POLICY_F_CUT;
  trees = DecodeSharedPolicyRecords(Bytes({cut3, cut9}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 1u);
  EXPECT_TRUE((*trees)[0].cut);
  // The same inode number on another device is another file.
  Record other_dev = at9;
  other_dev.dev = kDev + 1;
  trees = DecodeSharedPolicyRecords(Bytes({at3, Range(at3, 0, 4), other_dev}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  EXPECT_EQ(trees->size(), 2u);
}

TEST(SharedPolicyDecodeTest, TheSameInodeAtTwoFdsThatDisagreeIsBusy) {
  const Record at3 = File(3, 77), at9 = File(9, 77);
  const std::string busy = "read differently at two fds";
  // Another end, another policy, another home node, another count, cut at one fd only.
  ExpectRefused(Bytes({at3, Range(at3, 0, 4), at9, Range(at9, 0, 5)}), Status::Code::kBusy, busy);
  ExpectRefused(Bytes({at3, Range(at3, 0, 4), at9, Range(at9, 0, 4, MPOL_INTERLEAVE)}),
                Status::Code::kBusy, busy);
  Record homed = Range(at9, 0, 4);
  homed.home_node = 1;
  ExpectRefused(Bytes({at3, Range(at3, 0, 4), at9, homed}), Status::Code::kBusy, busy);
  ExpectRefused(Bytes({at3, Range(at3, 0, 4), at9}), Status::Code::kBusy, busy);
  ExpectRefused(Bytes({at3, at9, Range(at9, 0, 4)}), Status::Code::kBusy, busy);
  Record cut9 = at9;
  cut9.flags = KHOD_SHARED_POLICY_F_CUT;
  ExpectRefused(Bytes({at3, cut9}), Status::Code::kBusy, "inode 77");
}

TEST(SharedPolicyDecodeTest, ACutFileHasNoRanges) {
  Record f = File(3, 77);
  f.flags = KHOD_SHARED_POLICY_F_CUT;
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(Bytes({f}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  ASSERT_EQ(trees->size(), 1u);
  EXPECT_TRUE((*trees)[0].cut);
  EXPECT_TRUE((*trees)[0].ranges.empty());
  // The program writes no range of a cut tree.
  ExpectCorrupt(Bytes({f, Range(f, 0, 1)}), "a cut tree with range records");
}

TEST(SharedPolicyDecodeTest, RefusesAShortRead) {
  const Record f = File(3, 77);
  std::string bytes = Bytes({f, Range(f, 0, 1)});
  bytes.pop_back();
  ExpectCorrupt(bytes, "not whole 200-byte records");
  ExpectCorrupt(Bytes({f}).substr(0, 1), "1 bytes are not whole");
}

TEST(SharedPolicyDecodeTest, RefusesARecordOfAnotherLayout) {
  const Record f = File(3, 77);
  for (int field = 0; field < 3; ++field) {
    Record bad = f;
    if (field == 0) bad.magic ^= 1;
    if (field == 1) bad.version = KHOD_SHARED_POLICY_VERSION + 1;
    if (field == 2) bad.size = sizeof(Record) - 8;
    ExpectCorrupt(Bytes({bad}), "shared_policy record 0 of process 4242: magic");
    ExpectCorrupt(Bytes({f, bad}), "record 1");  // a file's record after a file
    // A range record of another layout is not a range of its file.
    Record range = Range(f, 0, 1);
    if (field == 0) range.magic ^= 1;
    if (field == 1) range.version = KHOD_SHARED_POLICY_VERSION + 1;
    if (field == 2) range.size = sizeof(Record) - 8;
    ExpectCorrupt(Bytes({f, range}),
                  "record 1 of process 4242 is not a range of the file record 0");
  }
}

TEST(SharedPolicyDecodeTest, RefusesARecordOfAnotherProcess) {
  const Record f = File(3, 77);
  Record other = File(4, 78);
  other.tgid = kPid + 1;
  ExpectCorrupt(Bytes({f, other}), "is of process 4243, the records before it of 4242");
  Record range = Range(f, 0, 1);
  range.tgid = kPid + 1;
  ExpectCorrupt(Bytes({f, range}), "not a range of the file record 0");
}

TEST(SharedPolicyDecodeTest, RefusesRangeRecordsNotOfTheirFile) {
  const Record f = File(3, 77);
  ExpectCorrupt(Bytes({Range(f, 0, 1)}), "kind 2 where a file's record belongs");
  Record unknown = f;
  unknown.kind = 7;
  ExpectCorrupt(Bytes({unknown}), "kind 7");
  for (int field = 0; field < 4; ++field) {
    Record r = Range(f, 0, 1);
    if (field == 0) r.fd = 4;
    if (field == 1) r.ino = 78;
    if (field == 2) r.dev = kDev + 1;
    if (field == 3) r.kind = KHOD_SHARED_POLICY_KIND_FILE;  // a file where its range belongs
    Record counted = f;
    counted.ranges = 1;
    ExpectCorrupt(RawBytes({counted, r}), "record 1 of process 4242 is not a range of the file");
  }
  // A file record counting fewer ranges than follow it: the next is not a file's.
  Record one = f;
  one.ranges = 1;
  ExpectCorrupt(RawBytes({one, Range(f, 0, 1), Range(f, 1, 2)}),
                "record 2 of process 4242: kind 2");
}

TEST(SharedPolicyDecodeTest, RefusesRangesEmptyOutOfOrderOrOverlapping) {
  const Record f = File(3, 77);
  const std::string says = "is empty or not after the range before it";
  ExpectCorrupt(Bytes({f, Range(f, 4, 4)}), "range 4-4 " + says);
  ExpectCorrupt(Bytes({f, Range(f, 5, 4)}), says);
  ExpectCorrupt(Bytes({f, Range(f, 4, 8), Range(f, 0, 2)}), "record 2 of process 4242: range 0-2");
  ExpectCorrupt(Bytes({f, Range(f, 4, 8), Range(f, 7, 9)}), "range 7-9 " + says);
  ExpectCorrupt(Bytes({f, Range(f, 4, 8), Range(f, 4, 9)}), says);
  ExpectCorrupt(Bytes({f, Range(f, 0, 2), Range(f, 4, 8), Range(f, 9, 9)}), "record 3");
  EXPECT_TRUE(DecodeSharedPolicyRecords(Bytes({f, Range(f, 0, 4), Range(f, 4, 8)}), kPid).ok());
}

TEST(SharedPolicyDecodeTest, RefusesARangeWithoutAPolicy) {
  const Record f = File(3, 77);
  Record r = Range(f, 0, 1);
  r.flags |= KHOD_SHARED_POLICY_F_NO_POLICY;
  ExpectCorrupt(Bytes({f, r}), "a range without a policy");
}

TEST(SharedPolicyDecodeTest, RefusesANodemaskOfBadSize) {
  const Record f = File(3, 77);
  for (uint32_t bytes : {uint32_t{sizeof(Record::nodes) + 8}, uint32_t{12}, uint32_t{1}}) {
    Record r = Range(f, 0, 1);
    r.node_bytes = bytes;
    ExpectCorrupt(Bytes({f, r}), "nodemask of " + std::to_string(bytes) + " bytes");
  }
  // A kernel with fewer nodes fills fewer words (and none where CONFIG_NODES_SHIFT is small).
  Record narrow = Range(f, 0, 1, MPOL_BIND, 0, 0x5);
  narrow.node_bytes = 8;
  narrow.nodes[1] = 0xff;  // past what the kernel filled: not read
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(Bytes({f, narrow}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  EXPECT_EQ((*trees)[0].ranges[0].policy, Policy(MPOL_BIND, 0, {0x5}));
}

TEST(SharedPolicyDecodeTest, RefusesAHomeNodeOutOfRange) {
  const Record f = File(3, 77);
  for (int32_t bad : {-2, kMaxNumaNodes, 1 << 30}) {
    Record r = Range(f, 0, 1);
    r.home_node = bad;
    ExpectCorrupt(Bytes({f, r}), "home node " + std::to_string(bad));
  }
  Record last = Range(f, 0, 1);
  last.home_node = kMaxNumaNodes - 1;
  Result<std::vector<SharedPolicyTree>> trees = DecodeSharedPolicyRecords(Bytes({f, last}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  EXPECT_EQ((*trees)[0].ranges[0].policy.home_node, kMaxNumaNodes - 1);
  // Without F_HOME_NODE (no such field in the kernel) the word is not the home node.
  Record no_field = Range(f, 0, 1);
  no_field.flags &= ~KHOD_SHARED_POLICY_F_HOME_NODE;
  no_field.home_node = 5000;
  trees = DecodeSharedPolicyRecords(Bytes({f, no_field}), kPid);
  ASSERT_TRUE(trees.ok()) << trees.status().ToString();
  EXPECT_EQ((*trees)[0].ranges[0].policy.home_node, -1);
  EXPECT_TRUE((*trees)[0].ranges[0].policy.home_node_seen);
}

TEST(SharedPolicyDecodeTest, RefusesAPolicyNumaMapsDoesNotPrint) {
  const Record f = File(3, 77);
  for (uint16_t mode : {uint16_t{7}, uint16_t{9}, uint16_t{0xffff}}) {
    ExpectCorrupt(Bytes({f, Range(f, 0, 1, mode)}),
                  "mode " + std::to_string(mode) + " or its nodemask is not one numa_maps prints");
  }
  Record cut = Range(f, 0, 1);  // a nodemask wider than the record's
  cut.flags |= KHOD_SHARED_POLICY_F_NODES_CUT;
  ExpectCorrupt(Bytes({f, cut}), "not one numa_maps prints");
}

TEST(SharedPolicyDecodeTest, RefusesMoreRangeRecordsThanTheBoundOrTheRead) {
  const Record f = File(3, 77);
  std::vector<Record> many = {f};
  for (uint64_t i = 0; i <= KHOD_SHARED_POLICY_MAX_RANGES; ++i) many.push_back(Range(f, i, i + 1));
  ExpectCorrupt(Bytes(many), "9 range records, past the read or the program's bound");
  many.pop_back();
  EXPECT_TRUE(DecodeSharedPolicyRecords(Bytes(many), kPid).ok()) << "the bound itself";
  Record three = f;
  three.ranges = 3;
  ExpectCorrupt(RawBytes({three, Range(f, 0, 1), Range(f, 1, 2)}),
                "3 range records, past the read");
  Record huge = f;
  huge.ranges = ~uint32_t{0};
  ExpectCorrupt(RawBytes({huge}), "past the read");
}

TEST(SharedPolicyDecodeTest, AKernelWithoutNumaIsUnsupported) {
  Record f = File(3, 77);
  f.flags = KHOD_SHARED_POLICY_F_NO_NUMA;
  ExpectRefused(Bytes({f}), Status::Code::kUnsupported, "CONFIG_NUMA");
  ExpectRefused(Bytes({File(4, 78), f}), Status::Code::kUnsupported, "CONFIG_NUMA");
}

// WholeFilePolicy: trees built by hand.

SharedPolicyTree Tree(std::vector<SharedPolicyRange> ranges) {
  SharedPolicyTree t;
  t.dev = makedev(0, 1);
  t.inode = 77;
  t.ranges = std::move(ranges);
  return t;
}

const Mempolicy kBind = Policy(MPOL_BIND, 0, {0x1});
const Mempolicy kInterleave = Policy(MPOL_INTERLEAVE, 0, {0x3});

void ExpectNotOnePolicy(const SharedPolicyTree& t, uint64_t pages,
                        const std::vector<std::string>& says) {
  Result<Mempolicy> p = WholeFilePolicy(t, pages);
  ASSERT_FALSE(p.ok()) << MempolicyToString(*p);
  EXPECT_EQ(p.status().code(), Status::Code::kFailedPrecondition) << p.status().ToString();
  for (const std::string& s : says)
    EXPECT_NE(p.status().message().find(s), std::string::npos)
        << "wanted \"" << s << "\" in " << p.status().ToString();
}

TEST(WholeFilePolicyTest, AnEmptyTreeIsDefault) {
  Result<Mempolicy> p = WholeFilePolicy(Tree({}), 16);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, Mempolicy());
}

TEST(WholeFilePolicyTest, OneRangeOverEveryPageIsItsPolicy) {
  Result<Mempolicy> p = WholeFilePolicy(Tree({{0, 16, kBind}}), 16);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kBind);
}

TEST(WholeFilePolicyTest, RangesOfOnePolicyBackToBackAreThatPolicy) {
  Result<Mempolicy> p =
      WholeFilePolicy(Tree({{0, 4, kInterleave}, {4, 5, kInterleave}, {5, 16, kInterleave}}), 16);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kInterleave);
}

TEST(WholeFilePolicyTest, AGapAPartOrTwoPoliciesAreNotOnePolicy) {
  ExpectNotOnePolicy(Tree({{0, 4, kBind}, {5, 16, kBind}}), 16,
                     {"pages 0-3 bind nodes=0", "pages 5-15 bind nodes=0", "of its 16 pages"});
  ExpectNotOnePolicy(Tree({{0, 4, kBind}}), 16, {"pages 0-3 bind", "default elsewhere"});
  ExpectNotOnePolicy(Tree({{2, 16, kBind}}), 16, {"pages 2-15 bind"});
  ExpectNotOnePolicy(Tree({{0, 4, kBind}, {4, 16, kInterleave}}), 16,
                     {"pages 0-3 bind nodes=0", "pages 4-15 interleave nodes=0-1"});
  // The same mode and nodes with another home node is another policy.
  Mempolicy homed = kBind;
  homed.home_node = 0;
  ExpectNotOnePolicy(Tree({{0, 4, kBind}, {4, 16, homed}}), 16, {"pages 4-15 bind nodes=0 home=0"});
  // Past four ranges the message says there are more.
  std::vector<SharedPolicyRange> five;
  for (uint64_t i = 0; i < 5; ++i) five.push_back({2 * i, 2 * i + 1, kBind});
  ExpectNotOnePolicy(Tree(five), 16, {"pages 6-6 bind nodes=0, ..."});
}

TEST(WholeFilePolicyTest, RangesPastTheEndAreNotThePolicyOfAnyPage) {
  Result<Mempolicy> p = WholeFilePolicy(Tree({{0, 4, kBind}, {4, 8, kInterleave}}), 4);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kBind);
  p = WholeFilePolicy(Tree({{0, 64, kBind}}), 4);  // a range the file was truncated inside
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kBind);
  p = WholeFilePolicy(Tree({{8, 16, kBind}}), 4);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, Mempolicy());
  // A range that starts inside and runs past the end covers the pages it has.
  p = WholeFilePolicy(Tree({{0, 2, kBind}, {2, 100, kBind}}), 4);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, kBind);
  ExpectNotOnePolicy(Tree({{0, 2, kBind}, {2, 100, kInterleave}}), 4,
                     {"pages 2-3 interleave", "of its 4 pages"});
}

TEST(WholeFilePolicyTest, ACutTreeIsNotOnePolicy) {
  SharedPolicyTree t = Tree({});
  t.cut = true;
  Result<Mempolicy> p = WholeFilePolicy(t, 16);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Status::Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("more than 8 ranges"), std::string::npos)
      << p.status().ToString();
}

}  // namespace
}  // namespace khod
