// kernel/vma_policy.h: the BPF program's records decoded without a kernel, on records the
// test writes. A record of another layout, a short one, a read a writer cut through and a
// VMA a get_policy op decides are each told apart; the policy is what numa_maps prints.
#include "kernel/vma_policy.h"

#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sys/sysmacros.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "kernel/bpf/vma_policy_record.h"

namespace khod {
namespace {

constexpr pid_t kPid = 4242;
constexpr uint32_t kSeqFlags = KHOD_VMA_POLICY_F_LOCK_SEQ | KHOD_VMA_POLICY_F_SEQCOUNT;

khod_vma_policy_record Record(uint32_t kind) {
  khod_vma_policy_record r;
  std::memset(&r, 0, sizeof(r));
  r.magic = KHOD_VMA_POLICY_MAGIC;
  r.version = KHOD_VMA_POLICY_VERSION;
  r.size = sizeof(r);
  r.kind = kind;
  r.flags = kSeqFlags;
  r.tgid = kPid;
  r.mm_seq = 6;
  r.home_node = -1;  // as the program starts each record
  return r;
}

khod_vma_policy_record Vma(uint64_t start, uint64_t end) {
  khod_vma_policy_record r = Record(KHOD_VMA_POLICY_KIND_VMA);
  r.start = start;
  r.end = end;
  return r;
}

void SetPolicy(khod_vma_policy_record* r, uint16_t mode, uint16_t flags, uint64_t nodes) {
  r->flags |= KHOD_VMA_POLICY_F_HAS_POLICY;
  r->mode = mode;
  r->mode_flags = flags;
  r->node_bytes = sizeof(r->nodes);
  r->nodes[0] = nodes;
}

// The records as given.
std::string RawBytes(const std::vector<khod_vma_policy_record>& records) {
  return std::string(reinterpret_cast<const char*>(records.data()),
                     records.size() * sizeof(khod_vma_policy_record));
}

// The records with the task's (the first, when it is one) counting the rest, as the
// program writes a whole read.
std::string Bytes(std::vector<khod_vma_policy_record> records) {
  if (!records.empty() && records[0].kind == KHOD_VMA_POLICY_KIND_TASK)
    records[0].vmas = records.size() - 1;
  return RawBytes(records);
}

Mempolicy Policy(int32_t mode, uint32_t flags, std::vector<uint64_t> nodes) {
  Mempolicy p;
  p.mode = mode;
  p.mode_flags = flags;
  p.nodemask = std::move(nodes);
  return p;
}

TEST(VmaPolicyDecodeTest, DecodesEachKindOfVma) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  SetPolicy(&task, MPOL_INTERLEAVE, 0, 0x3);
  khod_vma_policy_record own = Vma(0x1000, 0x3000);  // its own policy, internal flags set
  SetPolicy(&own, MPOL_BIND, MPOL_F_STATIC_NODES | (1 << 13) | (1 << 3) | (1 << 4) | 1, 0x5);
  khod_vma_policy_record none = Vma(0x3000, 0x4000);  // none: the task's
  khod_vma_policy_record file = Vma(0x5000, 0x7000);  // a file's, by its get_policy op
  file.flags |= KHOD_VMA_POLICY_F_FILE | KHOD_VMA_POLICY_F_GET_POLICY | KHOD_VMA_POLICY_F_MAY_SHARE;
  SetPolicy(&file, MPOL_BIND, 0, 1);
  file.ino = 77;
  file.dev = (8u << 20) | 3u;
  file.pgoff = 9;
  khod_vma_policy_record local = Vma(0x8000, 0x9000);  // local prints no nodes
  SetPolicy(&local, MPOL_LOCAL, MPOL_F_RELATIVE_NODES, 0x1);

  Result<std::vector<VmaPolicy>> vmas =
      DecodeVmaPolicyRecords(Bytes({task, own, none, file, local}), kPid);
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  ASSERT_EQ(vmas->size(), 4u);
  const VmaPolicy& a = (*vmas)[0];
  EXPECT_EQ(a.start, 0x1000u);
  EXPECT_EQ(a.end, 0x3000u);
  EXPECT_TRUE(a.answered);
  EXPECT_EQ(a.policy, Policy(MPOL_BIND, MPOL_F_STATIC_NODES | (1 << 13), {0x5}));
  EXPECT_EQ(a.dev, 0u);
  EXPECT_EQ(a.inode, 0u);
  EXPECT_FALSE(a.shared);
  EXPECT_TRUE((*vmas)[1].answered);
  EXPECT_EQ((*vmas)[1].policy, Policy(MPOL_INTERLEAVE, 0, {0x3}));
  const VmaPolicy& f = (*vmas)[2];
  EXPECT_FALSE(f.answered);
  EXPECT_EQ(f.inode, 77u);
  EXPECT_EQ(f.dev, makedev(8, 3));
  EXPECT_EQ(f.pgoff, 9u);
  EXPECT_TRUE(f.shared) << "VM_MAYSHARE: maps' 's'";
  EXPECT_EQ((*vmas)[3].policy, Policy(MPOL_LOCAL, MPOL_F_RELATIVE_NODES, {}));
}

TEST(VmaPolicyDecodeTest, NoTaskPolicyIsDefault) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  Result<std::vector<VmaPolicy>> vmas =
      DecodeVmaPolicyRecords(Bytes({task, Vma(0x1000, 0x2000)}), kPid);
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  EXPECT_TRUE((*vmas)[0].answered);
  EXPECT_EQ((*vmas)[0].policy, Mempolicy());
}

TEST(VmaPolicyDecodeTest, StaticWinsOverRelativeAsNumaMapsPrintsIt) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  khod_vma_policy_record v = Vma(0x1000, 0x2000);
  SetPolicy(&v, MPOL_PREFERRED, MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, 0x1);
  Result<std::vector<VmaPolicy>> vmas = DecodeVmaPolicyRecords(Bytes({task, v}), kPid);
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  EXPECT_EQ((*vmas)[0].policy, Policy(MPOL_PREFERRED, MPOL_F_STATIC_NODES, {0x1}));
}

TEST(VmaPolicyDecodeTest, UnknownModeOrCutNodemaskIsNotAnswered) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  khod_vma_policy_record unknown = Vma(0x1000, 0x2000);
  SetPolicy(&unknown, 9, 0, 0x1);
  khod_vma_policy_record cut = Vma(0x2000, 0x3000);
  SetPolicy(&cut, MPOL_BIND, 0, 0x1);
  cut.flags |= KHOD_VMA_POLICY_F_NODES_CUT;
  Result<std::vector<VmaPolicy>> vmas = DecodeVmaPolicyRecords(Bytes({task, unknown, cut}), kPid);
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  EXPECT_FALSE((*vmas)[0].answered);
  EXPECT_FALSE((*vmas)[1].answered);
}

void ExpectRefused(const std::string& bytes, Status::Code code, const std::string& says) {
  Result<std::vector<VmaPolicy>> vmas = DecodeVmaPolicyRecords(bytes, kPid);
  ASSERT_FALSE(vmas.ok());
  EXPECT_EQ(vmas.status().code(), code) << vmas.status().ToString();
  EXPECT_NE(vmas.status().message().find(says), std::string::npos) << vmas.status().ToString();
}

TEST(VmaPolicyDecodeTest, RefusesARecordOfAnotherLayout) {
  const khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  khod_vma_policy_record v = Vma(0x1000, 0x2000);
  v.version = KHOD_VMA_POLICY_VERSION + 1;
  ExpectRefused(Bytes({task, v}), Status::Code::kCorruption, "record 1");
  v = Vma(0x1000, 0x2000);
  v.magic ^= 1;
  ExpectRefused(Bytes({task, v}), Status::Code::kCorruption, "magic");
  v = Vma(0x1000, 0x2000);
  v.size -= 8;
  ExpectRefused(Bytes({task, v}), Status::Code::kCorruption, "size");
}

// A record of layout version 4 as its program wrote it: this layout's fields but the home
// node and its reserved word, 208 bytes.
std::string Version4Record(const khod_vma_policy_record& r) {
  constexpr size_t kHead = offsetof(khod_vma_policy_record, home_node);
  khod_vma_policy_record v4 = r;
  v4.version = 4;
  v4.size = 208;
  std::string bytes(reinterpret_cast<const char*>(&v4), kHead);
  bytes.append(reinterpret_cast<const char*>(&v4.nodes), sizeof(v4.nodes));
  bytes.append(reinterpret_cast<const char*>(&v4.vmas), sizeof(v4.vmas));
  return bytes;
}

// The home node (set_mempolicy_home_node), which numa_maps does not show, is read from the
// kernel's struct mempolicy: the record's where the program found the field (F_HOME_NODE),
// none (-1) where the kernel has no such field, and seen either way.
TEST(VmaPolicyDecodeTest, TheHomeNodeIsTheKernelsAndSeen) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  task.flags |= KHOD_VMA_POLICY_F_HOME_NODE;  // a task without a policy: default
  khod_vma_policy_record homed = Vma(0x1000, 0x2000);
  SetPolicy(&homed, MPOL_BIND, 0, 0xf);
  homed.flags |= KHOD_VMA_POLICY_F_HOME_NODE;
  homed.home_node = 3;
  khod_vma_policy_record no_field = homed;  // a kernel without the field (before 5.17)
  no_field.start = 0x2000;
  no_field.end = 0x3000;
  no_field.flags &= ~KHOD_VMA_POLICY_F_HOME_NODE;
  khod_vma_policy_record none = homed;  // the field, holding NUMA_NO_NODE
  none.start = 0x3000;
  none.end = 0x4000;
  none.home_node = -1;
  khod_vma_policy_record inherits = Vma(0x4000, 0x5000);  // no policy: the task's default
  inherits.flags |= KHOD_VMA_POLICY_F_HOME_NODE;
  Result<std::vector<VmaPolicy>> vmas =
      DecodeVmaPolicyRecords(Bytes({task, homed, no_field, none, inherits}), kPid);
  ASSERT_TRUE(vmas.ok()) << vmas.status().ToString();
  ASSERT_EQ(vmas->size(), 4u);
  Mempolicy want = Policy(MPOL_BIND, 0, {0xf});
  want.home_node = 3;
  EXPECT_EQ((*vmas)[0].policy.home_node, 3);
  EXPECT_TRUE((*vmas)[0].policy.home_node_seen);
  EXPECT_EQ((*vmas)[0].policy, want);
  for (size_t i = 1; i < 4; ++i) {
    EXPECT_TRUE((*vmas)[i].answered) << i;
    EXPECT_EQ((*vmas)[i].policy.home_node, -1) << i;
    EXPECT_TRUE((*vmas)[i].policy.home_node_seen) << i;
  }
  EXPECT_EQ((*vmas)[1].policy, Policy(MPOL_BIND, 0, {0xf}));
  EXPECT_EQ((*vmas)[3].policy, Mempolicy());

  // A home node no node can be.
  for (int32_t bad : {-2, KHOD_VMA_POLICY_NODE_WORDS * 64}) {
    khod_vma_policy_record wrong = homed;
    wrong.home_node = bad;
    ExpectRefused(Bytes({task, wrong}), Status::Code::kCorruption,
                  "home node " + std::to_string(bad));
  }
}

// Records of layout version 4 (208 bytes, no home node) from a program built before it:
// never decoded as this layout. Bytes that are not whole records of this size are refused as
// such; where they are (27 of them make 26 of this size), by the first record's version.
TEST(VmaPolicyDecodeTest, RefusesRecordsOfVersion4) {
  ASSERT_EQ(KHOD_VMA_POLICY_VERSION, 5);
  ASSERT_EQ(sizeof(khod_vma_policy_record), 216u);
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  std::string two = Version4Record(task) + Version4Record(Vma(0x1000, 0x2000));
  ASSERT_EQ(two.size(), 2 * 208u);
  ExpectRefused(two, Status::Code::kCorruption, "216-byte records");
  task.vmas = 26;
  std::string read = Version4Record(task);
  for (uint64_t i = 0; i < 26; ++i) read += Version4Record(Vma(0x1000 * (i + 1), 0x1000 * (i + 2)));
  ASSERT_EQ(read.size() % sizeof(khod_vma_policy_record), 0u);
  ExpectRefused(read, Status::Code::kCorruption, "version 4 size 208, expected");
  EXPECT_EQ(VmaPolicyReadBytes(read), std::nullopt);
}

// The task's record counts its mm's VMAs: a read holding fewer (cut short) or more is not
// taken, and the reader asks for exactly the bytes of a whole read once it has that record.
TEST(VmaPolicyDecodeTest, RefusesAReadThatHoldsOtherThanTheVmasCounted) {
  constexpr size_t kRecord = sizeof(khod_vma_policy_record);
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  task.vmas = 3;
  const std::vector<khod_vma_policy_record> two = {task, Vma(0x1000, 0x2000), Vma(0x2000, 0x3000)};
  ExpectRefused(RawBytes(two), Status::Code::kCorruption, "counts 3 VMAs, the read holds 2");
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes(two)), std::optional<size_t>(4 * kRecord));
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes({task})), std::optional<size_t>(4 * kRecord));
  std::vector<khod_vma_policy_record> three = two;
  three.push_back(Vma(0x3000, 0x4000));
  EXPECT_TRUE(DecodeVmaPolicyRecords(RawBytes(three), kPid).ok());
  three.push_back(Vma(0x4000, 0x5000));
  ExpectRefused(RawBytes(three), Status::Code::kCorruption, "counts 3 VMAs, the read holds 4");
  // Before the task's record is whole, or with a first record not a task's of this layout,
  // the reader does not know: it reads on.
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes({task}).substr(0, kRecord - 1)), std::nullopt);
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes({Vma(0x1000, 0x2000)})), std::nullopt);
  task.version = KHOD_VMA_POLICY_VERSION + 1;
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes({task})), std::nullopt);
  task = Record(KHOD_VMA_POLICY_KIND_TASK);
  task.vmas = ~uint64_t{0};  // no byte count wraps
  EXPECT_EQ(VmaPolicyReadBytes(RawBytes({task})), std::nullopt);
}

TEST(VmaPolicyDecodeTest, RefusesAShortRecord) {
  std::string bytes = Bytes({Record(KHOD_VMA_POLICY_KIND_TASK), Vma(0x1000, 0x2000)});
  bytes.pop_back();
  ExpectRefused(bytes, Status::Code::kCorruption, "not whole");
}

TEST(VmaPolicyDecodeTest, RefusesRecordsOutOfShape) {
  const khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  ExpectRefused(Bytes({Vma(0x1000, 0x2000)}), Status::Code::kCorruption, "not the task's");
  ExpectRefused(Bytes({task}), Status::Code::kCorruption, "no VMA");
  ExpectRefused(Bytes({task, Vma(0x2000, 0x3000), Vma(0x1000, 0x2000)}), Status::Code::kCorruption,
                "not after");
  ExpectRefused(Bytes({task, Vma(0x1000, 0x1000)}), Status::Code::kCorruption, "empty");
  ExpectRefused(Bytes({task, task}), Status::Code::kCorruption, "kind 1");
  khod_vma_policy_record other = Vma(0x1000, 0x2000);
  other.tgid = kPid + 1;
  ExpectRefused(Bytes({task, other}), Status::Code::kCorruption, "of process 4243");
  khod_vma_policy_record wide = Vma(0x1000, 0x2000);
  wide.node_bytes = sizeof(wide.nodes) + 8;
  ExpectRefused(Bytes({task, wide}), Status::Code::kCorruption, "nodemask");
}

TEST(VmaPolicyDecodeTest, AReadAWriterCutThroughIsBusy) {
  const khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  khod_vma_policy_record later = Vma(0x2000, 0x3000);
  later.mm_seq = 8;
  ExpectRefused(Bytes({task, Vma(0x1000, 0x2000), later}), Status::Code::kBusy, "changed");
  khod_vma_policy_record odd_task = task;
  odd_task.mm_seq = 7;
  khod_vma_policy_record odd = Vma(0x1000, 0x2000);
  odd.mm_seq = 7;
  ExpectRefused(Bytes({odd_task, odd}), Status::Code::kBusy, "changed");
  // Before the seqcount (Linux 6.4 to 6.12) the counter may be odd at rest.
  odd_task.flags = odd.flags = KHOD_VMA_POLICY_F_LOCK_SEQ;
  EXPECT_TRUE(DecodeVmaPolicyRecords(Bytes({odd_task, odd}), kPid).ok());
}

// The program read task->mempolicy again after copying it and found it replaced (or its mode
// or flags changed): the copy may mix two policies, so the read is made again.
TEST(VmaPolicyDecodeTest, ATaskPolicyChangedDuringItsCopyIsBusy) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  SetPolicy(&task, MPOL_INTERLEAVE, 0, 0x3);
  task.flags |= KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED;
  ExpectRefused(Bytes({task, Vma(0x1000, 0x2000)}), Status::Code::kBusy, "task policy");
  task.flags &= ~KHOD_VMA_POLICY_F_TASK_POLICY_CHANGED;
  EXPECT_TRUE(DecodeVmaPolicyRecords(Bytes({task, Vma(0x1000, 0x2000)}), kPid).ok());
}

TEST(VmaPolicyDecodeTest, AKernelItCannotReadIsUnsupported) {
  khod_vma_policy_record task = Record(KHOD_VMA_POLICY_KIND_TASK);
  khod_vma_policy_record v = Vma(0x1000, 0x2000);
  task.flags = v.flags = 0;
  ExpectRefused(Bytes({task, v}), Status::Code::kUnsupported, "mm_lock_seq");
  task.flags = v.flags = kSeqFlags | KHOD_VMA_POLICY_F_NO_NUMA;
  ExpectRefused(Bytes({task, v}), Status::Code::kUnsupported, "CONFIG_NUMA");
}

TEST(VmaPolicyDecodeTest, NoRecordIsNotFound) {
  ExpectRefused("", Status::Code::kNotFound, "no address space");
}

}  // namespace
}  // namespace khod
