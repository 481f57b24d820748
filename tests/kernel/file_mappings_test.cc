// kernel/proc_maps, kernel/numa_maps and kernel/file_mappings: the lines the
// real 6.18 kernel printed for guest_memfd mappings
// (../shared/notes/gmem-6.18-facts.md), every policy form mpol_to_str()
// prints, hostile lines, and a live join on this process's own mappings.
#include "kernel/file_mappings.h"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <linux/mempolicy.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/numbers.h"
#include "common/text_lines.h"
#include "common/unique_fd.h"
#include "kernel/mempolicy_text.h"
#include "kernel/numa_maps.h"
#include "kernel/proc_maps.h"
#include "kernel/vma_policy_iter.h"
#include "tests/support/fixture.h"

namespace khod {
namespace {

constexpr uint64_t kPage = 4096;

Mempolicy Policy(int32_t mode, std::vector<uint64_t> mask, uint32_t flags = 0) {
  Mempolicy p;
  p.mode = mode;
  p.mode_flags = flags;
  p.nodemask = std::move(mask);
  return p;
}

// A policy as numa_maps shows it: the home node it does not print is not seen where the mode
// can hold one (bind, prefer (many)).
Mempolicy Shown(int32_t mode, std::vector<uint64_t> mask, uint32_t flags = 0) {
  Mempolicy p = Policy(mode, std::move(mask), flags);
  p.home_node_seen = !ModeCanHaveHomeNode(mode);
  return p;
}

// Whether a VMA's policy `from_vma` (its home node seen) is what numa_maps shows as `shown`:
// the same but for the home node numa_maps does not print.
::testing::AssertionResult AsNumaMapsShows(const Mempolicy& from_vma, const Mempolicy& shown) {
  Mempolicy unseen = from_vma;
  unseen.home_node = -1;
  unseen.home_node_seen = !ModeCanHaveHomeNode(from_vma.mode);
  if (!from_vma.home_node_seen || !(unseen == shown))
    return ::testing::AssertionFailure() << "from the VMA " << MempolicyToString(from_vma)
                                         << ", numa_maps " << MempolicyToString(shown);
  return ::testing::AssertionSuccess();
}

// A VMA of `file` as a reader reports one whose policy it answers.
VmaPolicy AnsweredVma(FileKey file, uint64_t start, uint64_t end, uint64_t pgoff,
                      Mempolicy policy) {
  VmaPolicy v;
  v.start = start;
  v.end = end;
  v.pgoff = pgoff;
  v.dev = file.dev;
  v.inode = file.inode;
  v.answered = true;
  v.policy = std::move(policy);
  return v;
}

TEST(ProcMapsTest, ParsesTheRecordedGuestMemfdLine) {
  auto e = ParseProcMapsLine(
      "7f118de1e000-7f118e61e000 rw-s 00000000 00:10 130198 "
      "anon_inode:[kvm-gmem]");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->start, 0x7f118de1e000u);
  EXPECT_EQ(e->end, 0x7f118e61e000u);
  EXPECT_EQ(e->perms, "rw-s");
  EXPECT_TRUE(e->shared());
  EXPECT_EQ(e->offset, 0u);
  EXPECT_EQ(e->dev_major, 0u);
  EXPECT_EQ(e->dev_minor, 0x10u);
  EXPECT_EQ(e->inode, 130198u);
  EXPECT_EQ(e->path, "anon_inode:[kvm-gmem]");
  auto anon = ParseProcMapsLine("7ffd1000-7ffd3000 rw-p 00000000 00:00 0");
  ASSERT_TRUE(anon.ok()) << anon.status().message();
  EXPECT_FALSE(anon->shared());
  EXPECT_EQ(anon->path, "");
}

TEST(ProcMapsTest, RefusesHostileLines) {
  for (const char* bad :
       {"", "garbage", "7f00-7e00 rw-s 0 00:10 1 x" /* end < start */, "7f00-7f10 rw-s zz 00:10 1",
        "7f00-7f10 rw 0 00:10 1", "7f00-7f10 rw-s 0 00:10",
        // A junk suffix on a number used to pass as that number (sscanf).
        "7f00-7f10 rw-s 0 00:10 1x /m", "7f00-7f10 rw-s 0 00:10 99999999999999999999",
        "7f00-7f10 rw-s 0 00:100000000 1", "7f00-7f10 rw-s -1 00:10 1", "7f00- 7f10 rw-s 0 00:10 1",
        " 7f00-7f10 rw-s 0 00:10 1"}) {
    auto e = ParseProcMapsLine(bad);
    EXPECT_FALSE(e.ok()) << bad;
    if (!e.ok()) {
      EXPECT_EQ(e.status().code(), Status::Code::kInvalidArgument);
    }
  }
}

// What a parse of every line keeps (no perms or path copied) is what
// ParseProcMapsLine reads, from the same lines, with the same errors; a line
// is read to its first kProcTextLineBytes by both.
TEST(ProcMapsTest, TheFieldsAloneParseAsTheWholeLine) {
  const std::string long_path = "7f00-7f10 r--p 00001000 08:01 12 /" + std::string(5000, 'p');
  for (const std::string& line : std::vector<std::string>{
           "7f118de1e000-7f118e61e000 rw-s 00000000 00:10 130198 anon_inode:[kvm-gmem]",
           "7ffd1000-7ffd3000 rw-p 00000000 00:00 0", "7f00-7f10 rw-p 0 fd:1 99999 /a b (deleted)",
           "7f00-7f10 rw-s 0 00:10 1", long_path, long_path.substr(0, kProcTextLineBytes),
           // Cut inside the inode: the first kProcTextLineBytes say another one.
           "7f00-7f10 rw-s 0 00:10 " + std::string(kProcTextLineBytes, '1'), "",
           "7f00-7e00 rw-s 0 00:10 1 x", "7f00-7f10 rw 0 00:10 1", "7f00-7f10 rw-s 0 00:10 1x /m",
           " 7f00-7f10 rw-s 0 00:10 1"}) {
    Result<ProcMapsEntry> whole = ParseProcMapsLine(line);
    Result<ProcMapsFields> fields = ParseProcMapsFields(line);
    ASSERT_EQ(whole.ok(), fields.ok()) << line.substr(0, 80);
    if (!whole.ok()) {
      EXPECT_EQ(whole.status().ToString(), fields.status().ToString());
      continue;
    }
    EXPECT_EQ(fields->start, whole->start);
    EXPECT_EQ(fields->end, whole->end);
    EXPECT_EQ(fields->offset, whole->offset);
    EXPECT_EQ(fields->dev_major, whole->dev_major);
    EXPECT_EQ(fields->dev_minor, whole->dev_minor);
    EXPECT_EQ(fields->inode, whole->inode);
    EXPECT_EQ(fields->shared, whole->shared());
  }
}

TEST(NumaMapsTest, ParsesEveryPolicyForm) {
  struct Case {
    const char* text;
    Mempolicy want;
  } cases[] = {
      {"default", Shown(MPOL_DEFAULT, {})},
      {"local", Shown(MPOL_LOCAL, {})},
      {"bind:0", Shown(MPOL_BIND, {1})},
      {"interleave:0-1", Shown(MPOL_INTERLEAVE, {3})},
      {"interleave:0", Shown(MPOL_INTERLEAVE, {1})},
      {"prefer:1", Shown(MPOL_PREFERRED, {2})},
      {"prefer:0", Shown(MPOL_PREFERRED, {1})},
      {"prefer (many):0-1,3", Shown(5, {0xb})},
      {"weighted interleave:0-1", Shown(6, {3})},
      {"bind=static:0", Shown(MPOL_BIND, {1}, MPOL_F_STATIC_NODES)},
      {"interleave=relative:0-1", Shown(MPOL_INTERLEAVE, {3}, MPOL_F_RELATIVE_NODES)},
      {"weighted interleave=static:2", Shown(6, {4}, MPOL_F_STATIC_NODES)},
      {"bind=static|balancing:64",
       Shown(MPOL_BIND, {0, 1}, MPOL_F_STATIC_NODES | MPOL_F_NUMA_BALANCING)},
      {"bind=balancing:0", Shown(MPOL_BIND, {1}, MPOL_F_NUMA_BALANCING)},
  };
  for (const Case& c : cases) {
    auto p = ParseNumaMapsPolicy(c.text);
    ASSERT_TRUE(p.ok()) << c.text << ": " << p.status().message();
    EXPECT_EQ(*p, c.want) << c.text << " read as " << MempolicyToString(*p);
  }
}

// mpol_to_str() prints no home node (set_mempolicy_home_node): a policy of a mode that can
// hold one has it not seen, home_node -1 saying nothing; of another mode, none is seen.
TEST(NumaMapsTest, TheHomeNodeIsNotShown) {
  for (const char* text : {"bind:0", "bind=static:0", "prefer (many):0"}) {
    auto p = ParseNumaMapsPolicy(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status().message();
    EXPECT_FALSE(p->home_node_seen) << text;
    EXPECT_EQ(p->home_node, -1) << text;
    EXPECT_NE(MempolicyToString(*p).find(" home=?"), std::string::npos) << MempolicyToString(*p);
  }
  for (const char* text :
       {"interleave:0", "default", "local", "prefer:0", "weighted interleave:0"}) {
    auto p = ParseNumaMapsPolicy(text);
    ASSERT_TRUE(p.ok()) << text << ": " << p.status().message();
    EXPECT_TRUE(p->home_node_seen) << text;
    EXPECT_EQ(p->home_node, -1) << text;
    EXPECT_EQ(MempolicyToString(*p).find(" home="), std::string::npos) << MempolicyToString(*p);
  }
  auto bind = ParseNumaMapsLine("7f00 bind:0 anon=1 dirty=1 N0=1");
  ASSERT_TRUE(bind.ok()) << bind.status().message();
  EXPECT_FALSE(bind->policy.home_node_seen);
  auto interleave = ParseNumaMapsLine("7f00 interleave:0 anon=1 dirty=1 N0=1");
  ASSERT_TRUE(interleave.ok()) << interleave.status().message();
  EXPECT_TRUE(interleave->policy.home_node_seen);
}

TEST(NumaMapsTest, RefusesHostilePolicies) {
  for (const char* bad :
       {"", "bogus", "bind:", "bind:x", "bind:1-0", "bind:0,", "bind:,0", "interleave:99999",
        "bind:1024", "bind=:0", "bind=fast:0", "default:0", "bind;0", "bind:0-"}) {
    auto p = ParseNumaMapsPolicy(bad);
    EXPECT_FALSE(p.ok()) << bad;
    if (!p.ok()) {
      EXPECT_EQ(p.status().code(), Status::Code::kInvalidArgument);
      EXPECT_NE(p.status().message().find("numa_maps policy"), std::string::npos);
    }
  }
}

// gmem-6.18-facts.md: a VMM's two mappings of one guest_memfd (anon inode
// 130198 on device 00:10, MAP_SHARED), the first mbound bind:0, the second
// (below it) with no policy of its own. Read from the VMAs alone (a guest_memfd
// mapping has no get_policy on 6.18: answered), they give what the recorded
// maps and numa_maps lines give joined.
TEST(FileMappingsTest, TheRecordedGuestMemfdMappingsReadTheSameFromTheirVmas) {
  const FileKey gmem{makedev(0, 0x10), 130198};
  VmaPolicy bound = AnsweredVma(gmem, 0x7f118de1e000, 0x7f118e61e000, 0, Policy(MPOL_BIND, {1}));
  VmaPolicy plain = AnsweredVma(gmem, 0x7f118d61e000, 0x7f118de1e000, 0, Mempolicy());
  bound.shared = plain.shared = true;
  VmaPolicy stack;  // anonymous: no file's
  stack.start = 0x7ffd1000;
  stack.end = 0x7ffd3000;
  stack.answered = true;
  Result<std::vector<FileMapping>> from_vmas =
      ProcessMappings::FromVmas({plain, bound, stack}).Of(gmem, kPage);
  Result<std::vector<FileMapping>> from_text = JoinFileMappings(
      "7f118d61e000-7f118de1e000 rw-s 00000000 00:10 130198 anon_inode:[kvm-gmem]\n"
      "7f118de1e000-7f118e61e000 rw-s 00000000 00:10 130198 anon_inode:[kvm-gmem]\n"
      "7ffd1000-7ffd3000 rw-p 00000000 00:00 0\n",
      "7f118d61e000 default file=anon_inode:[kvm-gmem]\n"
      "7f118de1e000 bind:0 file=anon_inode:[kvm-gmem] dirty=2047 N0=2047\n"
      "7ffd1000 default stack anon=2 dirty=2 N0=2\n",
      gmem, kPage);
  ASSERT_TRUE(from_vmas.ok()) << from_vmas.status().ToString();
  ASSERT_TRUE(from_text.ok()) << from_text.status().ToString();
  ASSERT_EQ(from_vmas->size(), 2u);
  ASSERT_EQ(from_text->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const FileMapping &v = (*from_vmas)[i], &t = (*from_text)[i];
    EXPECT_EQ(v.start, t.start) << i;
    EXPECT_EQ(v.end, t.end) << i;
    EXPECT_EQ(v.first_index, t.first_index) << i;
    EXPECT_EQ(v.count, t.count) << i;
    EXPECT_EQ(v.shared, t.shared) << i;
    EXPECT_TRUE(AsNumaMapsShows(v.policy, t.policy)) << i;
  }
  EXPECT_EQ((*from_vmas)[1].policy, Policy(MPOL_BIND, {1}));
  EXPECT_EQ((*from_text)[1].policy, Shown(MPOL_BIND, {1})) << "its home node not seen";
  EXPECT_TRUE((*from_vmas)[0].shared);
}

TEST(NumaMapsTest, ParsesTheRecordedLines) {
  // gmem-6.18-facts.md: the mbound VMM mapping, and a second one of the same file.
  auto e = ParseNumaMapsLine("7f118de1e000 bind:0 file=anon_inode:[kvm-gmem] dirty=2047 N0=2047");
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->start, 0x7f118de1e000u);
  EXPECT_EQ(e->policy, Shown(MPOL_BIND, {1}));
  auto d = ParseNumaMapsLine("7f118d61e000 default file=anon_inode:[kvm-gmem]");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->policy, Policy(MPOL_DEFAULT, {}));
  // The two modes whose names hold a space, followed by fields.
  auto w = ParseNumaMapsLine("7f00 weighted interleave=static:0-1 anon=3 dirty=3 N0=3");
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->policy, Policy(6, {3}, MPOL_F_STATIC_NODES));
  auto m = ParseNumaMapsLine("7f00 prefer (many):1 heap anon=1");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(m->policy, Shown(5, {2}));
  auto bare = ParseNumaMapsLine("7f00 interleave:0");
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_EQ(bare->policy, Policy(MPOL_INTERLEAVE, {1}));
  for (const char* bad : {"", "7f00", "7f00bind:0", "zz bind:0", "7f00  bind:0",
                          "7f00 bogus file=x", "12345678901234567 bind:0"})
    EXPECT_FALSE(ParseNumaMapsLine(bad).ok()) << bad;
}

TEST(FileMappingsTest, JoinsMapsAndNumaMapsForOneFile) {
  const std::string maps =
      "55d0a000-55d0b000 r-xp 00000000 08:01 4242 /usr/bin/vmm\n"
      "7f118d61e000-7f118de1e000 rw-s 00000000 00:10 130198 anon_inode:[kvm-gmem]\n"
      "7f118de1e000-7f118e61e000 rw-s 00000000 00:10 130198 anon_inode:[kvm-gmem]\n"
      "7f118e61e000-7f118e62e000 rw-s 00010000 00:10 130198 anon_inode:[kvm-gmem]\n"
      "7f118e700000-7f118e800000 rw-s 00000000 00:10 130199 anon_inode:[kvm-gmem]\n";
  const std::string numa =
      "55d0a000 default file=/usr/bin/vmm mapped=1 N0=1\n"
      "7f118d61e000 default file=anon_inode:[kvm-gmem]\n"
      "7f118de1e000 bind:0 file=anon_inode:[kvm-gmem] dirty=2047 N0=2047\n"
      "7f118e61e000 interleave=static:0-1 file=anon_inode:[kvm-gmem]\n"
      "7f118e700000 prefer:0 file=anon_inode:[kvm-gmem]\n";
  auto got = JoinFileMappings(maps, numa, FileKey{makedev(0, 0x10), 130198}, kPage);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].start, 0x7f118d61e000u);
  EXPECT_EQ((*got)[0].first_index, 0u);
  EXPECT_EQ((*got)[0].count, 2048u);
  EXPECT_EQ((*got)[0].policy, Policy(MPOL_DEFAULT, {}));
  EXPECT_EQ((*got)[1].policy, Shown(MPOL_BIND, {1}));
  EXPECT_TRUE((*got)[1].shared);
  EXPECT_EQ((*got)[2].first_index, 16u);  // offset 0x10000
  EXPECT_EQ((*got)[2].count, 16u);
  EXPECT_EQ((*got)[2].policy, Policy(MPOL_INTERLEAVE, {3}, MPOL_F_STATIC_NODES));
  // Another device with the same inode number is another file.
  auto none = JoinFileMappings(maps, numa, FileKey{makedev(0, 0x11), 130198}, kPage);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(FileMappingsTest, RefusesWhatDoesNotJoin) {
  const FileKey key{makedev(0, 0x10), 7};
  // A mapping of the file without its numa_maps line: the maps changed meanwhile.
  auto gone = JoinFileMappings("7f00000-7f01000 rw-s 00000000 00:10 7 x\n", "7f02000 default\n",
                               key, kPage);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Status::Code::kNotFound);
  auto bad_numa = JoinFileMappings("7f00000-7f01000 rw-s 00000000 00:10 7 x\n",
                                   "7f00000 teleport:0\n", key, kPage);
  ASSERT_FALSE(bad_numa.ok());
  EXPECT_EQ(bad_numa.status().code(), Status::Code::kInvalidArgument);
  auto bad_maps = JoinFileMappings("not a maps line\n", "", key, kPage);
  EXPECT_EQ(bad_maps.status().code(), Status::Code::kInvalidArgument);
  auto unaligned = JoinFileMappings("7f00000-7f01000 rw-s 00000800 00:10 7 x\n",
                                    "7f00000 default\n", key, kPage);
  EXPECT_EQ(unaligned.status().code(), Status::Code::kInvalidArgument);
}

// show_numa_map() prints a policy into 64 bytes: a longer one is cut, and the
// cut still parses as another node list. Such a policy is not taken, for its
// mapping's file alone; the VMA iterator's whole policy is taken over it.
TEST(FileMappingsTest, APolicyTheKernelMayHaveCutIsNotTaken) {
  std::string nodes;  // every other node: a list that does not fold into ranges
  for (int n = 0; n < 80; n += 2) nodes += (nodes.empty() ? "" : ",") + std::to_string(n);
  std::string fits = "bind:0";  // the longest list that fits the buffer
  for (size_t comma = nodes.find(','); comma != std::string::npos;
       comma = nodes.find(',', comma + 1))
    if (5 + comma < kNumaMapsPolicyCut) fits = "bind:" + nodes.substr(0, comma);
  ASSERT_GE(fits.size(), kNumaMapsPolicyCut - 3);
  EXPECT_TRUE(ParseNumaMapsPolicy(fits).ok()) << fits;
  const std::string cut = ("interleave=relative:" + nodes).substr(0, kNumaMapsPolicyCut);
  EXPECT_EQ(ParseNumaMapsPolicy(cut).status().code(), Status::Code::kUnsupported);
  EXPECT_EQ(ParseNumaMapsPolicy("interleave=relative:" + nodes).status().code(),
            Status::Code::kInvalidArgument)
      << "longer than any the kernel prints";

  const std::string maps =
      "7f00000-7f02000 rw-s 00000000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000000 00:10 8 b\n";
  const std::string numa = "7f00000 " + cut + " file=a\n7f10000 bind:0 file=b\n";
  auto parsed = ProcessMappings::Parse(maps, numa);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const FileKey a{makedev(0, 0x10), 7}, b{makedev(0, 0x10), 8};
  auto of_a = parsed->Of(a, kPage);
  ASSERT_FALSE(of_a.ok()) << "a cut policy was taken as " << ::testing::PrintToString(of_a->size());
  EXPECT_EQ(of_a.status().code(), Status::Code::kUnsupported) << of_a.status().ToString();
  auto of_b = parsed->Of(b, kPage);  // the same process's other file: its own policy
  ASSERT_TRUE(of_b.ok()) << of_b.status().ToString();
  EXPECT_EQ((*of_b)[0].policy, Shown(MPOL_BIND, {1}));

  // The iterator's policy of the same mapping is whole: it answers.
  auto read = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(read.ok());
  VmaPolicy whole;
  whole.start = 0x7f00000;
  whole.end = 0x7f02000;
  whole.dev = a.dev;
  whole.inode = a.inode;
  whole.answered = true;
  whole.policy = Policy(MPOL_INTERLEAVE, {0xaaaaaaaaaau}, MPOL_F_RELATIVE_NODES);
  read->AddVmaPolicies({whole});
  read->AddNumaMaps(numa);
  auto joined = read->Of(a, kPage);
  ASSERT_TRUE(joined.ok()) << joined.status().ToString();
  EXPECT_EQ((*joined)[0].policy, whole.policy);
}

// A VMA gives its policy to the maps line of the same range, file and offset
// only: a mapping made again between the two reads (another offset, start,
// end or file) is another mapping, and both are read again; a VMA whose
// policy its file decides sends the file to numa_maps, which then does not
// replace what the other VMAs gave.
TEST(FileMappingsTest, AVmaPolicyJoinsOnlyTheSameRangeFileAndOffset) {
  using Answers = ProcessMappings::VmaAnswers;
  const std::string maps =
      "7f00000-7f02000 rw-s 00004000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000000 00:10 7 a\n";
  const FileKey a{makedev(0, 0x10), 7};
  const VmaPolicy first = AnsweredVma(a, 0x7f00000, 0x7f02000, 4, Policy(MPOL_BIND, {1}));
  const VmaPolicy second = AnsweredVma(a, 0x7f10000, 0x7f11000, 0, first.policy);
  auto answers = [&](const VmaPolicy& changed) {
    auto parsed = ProcessMappings::ParseMaps(maps);
    EXPECT_TRUE(parsed.ok());
    parsed->AddVmaPolicies({changed, second});
    return parsed->VmaAnswersFor(a);
  };
  EXPECT_EQ(answers(first), Answers::kAll);
  VmaPolicy v = first;
  v.pgoff = 0;
  EXPECT_EQ(answers(v), Answers::kChanged) << "another offset";
  v = first;
  v.end = 0x7f01000;
  EXPECT_EQ(answers(v), Answers::kChanged) << "another end";
  v = first;
  v.start = 0x7f01000;
  EXPECT_EQ(answers(v), Answers::kChanged) << "another start";
  v = first;
  v.inode = 8;
  EXPECT_EQ(answers(v), Answers::kChanged) << "another file";
  v = first;
  v.answered = false;
  EXPECT_EQ(answers(v), Answers::kNumaMapsNeeded);

  // numa_maps read for the unanswered one keeps what the answered VMA gave.
  auto parsed = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(parsed.ok());
  parsed->AddVmaPolicies({v, second});
  parsed->AddNumaMaps("7f00000 interleave:0 file=a\n7f10000 default file=a\n");
  auto got = parsed->Of(a, kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)[0].policy, Policy(MPOL_INTERLEAVE, {1}));
  EXPECT_EQ((*got)[1].policy, second.policy);
}

// A VMA finds its line among many of the same file (in any order, as a
// hostile text may hold them), and one of another range among them is a
// change.
TEST(FileMappingsTest, AVmaFindsItsLineAmongManyOfItsFile) {
  using Answers = ProcessMappings::VmaAnswers;
  const FileKey a{makedev(0, 0x10), 7};
  constexpr uint64_t kLines = 5000;
  std::string maps;
  std::vector<VmaPolicy> vmas;
  for (uint64_t i = 0; i < kLines; ++i) {
    // Every other line from the top down: not in address order.
    const uint64_t n = i % 2 ? i : kLines - i;
    const uint64_t start = 0x10000000 + n * 2 * kPage;
    char line[128];
    std::snprintf(line, sizeof(line), "%llx-%llx rw-s %08llx 00:10 7 a\n",
                  static_cast<unsigned long long>(start),
                  static_cast<unsigned long long>(start + kPage),
                  static_cast<unsigned long long>(n % 3 * kPage));
    maps += line;
    vmas.push_back(AnsweredVma(a, start, start + kPage, n % 3, Policy(MPOL_BIND, {1})));
  }
  std::reverse(vmas.begin(), vmas.end());
  auto parsed = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  parsed->AddVmaPolicies(vmas);
  EXPECT_EQ(parsed->VmaAnswersFor(a), Answers::kAll);
  auto got = parsed->Of(a, kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->size(), kLines);
  vmas[kLines / 2].pgoff += 3;  // the same range at another offset
  parsed = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(parsed.ok());
  parsed->AddVmaPolicies(vmas);
  EXPECT_EQ(parsed->VmaAnswersFor(a), Answers::kChanged);
}

// A VMA of a file the maps text shows that matches none of its lines is a
// mapping made since the maps text was read: the file's mappings changed,
// whatever its lines' VMAs say; another file's answers stand.
TEST(FileMappingsTest, AVmaOfTheFileWithNoMapsLineIsAChange) {
  using Answers = ProcessMappings::VmaAnswers;
  const std::string maps =
      "7f00000-7f02000 rw-s 00000000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000000 00:10 8 b\n";
  const FileKey a{makedev(0, 0x10), 7}, b{makedev(0, 0x10), 8};
  const VmaPolicy of_a = AnsweredVma(a, 0x7f00000, 0x7f02000, 0, Policy(MPOL_BIND, {1}));
  const VmaPolicy of_b = AnsweredVma(b, 0x7f10000, 0x7f11000, 0, Policy(MPOL_BIND, {1}));
  // Mapped after the maps text was read.
  const VmaPolicy new_of_a = AnsweredVma(a, 0x7f20000, 0x7f21000, 0, Policy(MPOL_INTERLEAVE, {1}));
  auto parsed = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(parsed.ok());
  parsed->AddVmaPolicies({of_a, of_b, new_of_a});
  EXPECT_EQ(parsed->VmaAnswersFor(a), Answers::kChanged);
  EXPECT_EQ(parsed->VmaAnswersFor(b), Answers::kAll);
  parsed = ProcessMappings::ParseMaps(maps);
  ASSERT_TRUE(parsed.ok());
  parsed->AddVmaPolicies({of_a, of_b});
  EXPECT_EQ(parsed->VmaAnswersFor(a), Answers::kAll);
}

// numa_maps names no file and no end: its policy at a start joins the maps
// line at that start only while the file's lines read the same after it. A
// file whose mapping was split (or remade) in between loses what numa_maps
// gave it (NotFound: read again); a file that read the same keeps it, and a
// policy a VMA gave (joined by range, file and offset) stays.
TEST(FileMappingsTest, NumaMapsPoliciesStandOnlyForFilesThatReadTheSameAfter) {
  const std::string before =
      "7f00000-7f04000 rw-s 00000000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000000 00:10 8 b\n"
      "7f20000-7f21000 rw-s 00000000 00:10 9 c\n";
  const std::string numa =
      "7f00000 default file=a\n7f10000 bind:0 file=b\n7f20000 interleave:0 file=c\n";
  // a split at 7f02000 (its second half mbound), b unchanged, c remade
  // elsewhere (its start now another file's), and a new anonymous mapping.
  const std::string after =
      "7f00000-7f02000 rw-s 00000000 00:10 7 a\n"
      "7f02000-7f04000 rw-s 00002000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000000 00:10 8 b\n"
      "7f20000-7f21000 rw-s 00000000 00:10 10 d\n"
      "7f30000-7f31000 rw-s 00000000 00:10 9 c\n"
      "7f40000-7f41000 rw-p 00000000 00:00 0\n";
  const FileKey a{makedev(0, 0x10), 7}, b{makedev(0, 0x10), 8}, c{makedev(0, 0x10), 9};
  auto parsed = ProcessMappings::ParseMaps(before);
  ASSERT_TRUE(parsed.ok());
  // c's policy from its VMA, read before the remap.
  const VmaPolicy of_c = AnsweredVma(c, 0x7f20000, 0x7f21000, 0, Policy(MPOL_PREFERRED, {1}));
  parsed->AddVmaPolicies({of_c});
  parsed->AddNumaMaps(numa);
  ASSERT_TRUE(parsed->Of(a, kPage).ok()) << "joined by start before the check";
  auto read_after = ProcessMappings::ParseMaps(after);
  ASSERT_TRUE(read_after.ok());
  parsed->KeepNumaMapsPoliciesUnchangedIn(*read_after);
  auto of_a_now = parsed->Of(a, kPage);
  ASSERT_FALSE(of_a_now.ok()) << "a's first half's policy taken for the whole mapping";
  EXPECT_EQ(of_a_now.status().code(), Status::Code::kNotFound) << of_a_now.status().ToString();
  auto of_b_now = parsed->Of(b, kPage);
  ASSERT_TRUE(of_b_now.ok()) << of_b_now.status().ToString();
  EXPECT_EQ((*of_b_now)[0].policy, Shown(MPOL_BIND, {1}));
  auto of_c_now = parsed->Of(c, kPage);
  ASSERT_TRUE(of_c_now.ok()) << of_c_now.status().ToString();
  EXPECT_EQ((*of_c_now)[0].policy, of_c.policy) << "what its VMA gave stays";
}

// The one reader of a process's maps texts: this process's own maps holds
// a mapping made here; a pid naming no process is NotFound, and a name that
// is not a file of /proc/PID is refused, never read.
TEST(ProcMapsTest, ReadsAProcesssMapsTextBounded) {
  void* m = ::mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto text = ReadProcMapsText(::getpid(), "maps");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  char start[32];
  std::snprintf(start, sizeof(start), "%lx-", reinterpret_cast<unsigned long>(m));
  EXPECT_NE(text->find(start), std::string::npos) << start;
  ::munmap(m, kPage);
  EXPECT_EQ(ReadProcMapsText(0x7ffffff0, "maps").status().code(), Status::Code::kNotFound);
  // A directory, not a regular file.
  EXPECT_FALSE(ReadProcMapsText(::getpid(), "task").ok());
}

// A process's texts are parsed once for all its files: what concerns one
// file (a mapping not page aligned) is that file's error alone, and a file
// the process does not map has no mappings even when numa_maps is malformed.
TEST(FileMappingsTest, ParsedOnceEachFileIsAskedOnItsOwn) {
  const std::string maps =
      "7f00000-7f02000 rw-s 00000000 00:10 7 a\n"
      "7f10000-7f11000 rw-s 00000800 00:10 8 b\n"
      "7f20000-7f21000 rw-p 00000000 00:00 0\n";
  auto parsed = ProcessMappings::Parse(maps, "7f00000 bind:0\n7f10000 default\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  auto a = parsed->Of(FileKey{makedev(0, 0x10), 7}, kPage);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].count, 2u);
  EXPECT_EQ((*a)[0].policy, Shown(MPOL_BIND, {1}));
  EXPECT_EQ(parsed->Of(FileKey{makedev(0, 0x10), 8}, kPage).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(parsed->Of(FileKey{makedev(0, 0x10), 9}, kPage)->empty());
  // The same file asked with another page size: its own alignment.
  EXPECT_EQ(parsed->Of(FileKey{makedev(0, 0x10), 7}, 2 * 1024 * 1024).status().code(),
            Status::Code::kInvalidArgument);
  auto bad_numa = ProcessMappings::Parse(maps, "7f00000 teleport:0\n");
  ASSERT_TRUE(bad_numa.ok());
  EXPECT_EQ(bad_numa->Of(FileKey{makedev(0, 0x10), 7}, kPage).status().code(),
            Status::Code::kInvalidArgument);
  EXPECT_TRUE(bad_numa->Of(FileKey{makedev(0, 0x10), 9}, kPage)->empty());
  EXPECT_EQ(ProcessMappings::Parse("not a maps line\n", "").status().code(),
            Status::Code::kInvalidArgument);
}

// A VMM whose main thread exited while its other threads run shows no
// mapping in /proc/PID/maps (its leader is a zombie), though its memory is
// still mapped: its mappings are not known, never "none".
TEST(FileMappingsTest, AProcessWhoseMainThreadExitedIsNotSaidToMapNothing) {
  int to_parent[2];
  ASSERT_EQ(::pipe2(to_parent, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int fd = static_cast<int>(::syscall(SYS_memfd_create, "zombie-leader", 0));
    struct stat st;
    if (fd < 0 || ::ftruncate(fd, kPage) != 0 || ::fstat(fd, &st) != 0 ||
        ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED)
      ::_exit(1);
    pthread_t runs;
    if (::pthread_create(
            &runs, nullptr,
            [](void*) -> void* {
              for (;;) ::pause();
            },
            nullptr) != 0)
      ::_exit(1);
    const uint64_t key[2] = {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
    if (::write(to_parent[1], key, sizeof(key)) != static_cast<ssize_t>(sizeof(key))) ::_exit(1);
    // This thread alone (exit, not exit_group), without unwinding into the test.
    ::syscall(SYS_exit, 0);
  }
  ::close(to_parent[1]);
  uint64_t key[2] = {0, 0};
  const ssize_t n = ::read(to_parent[0], key, sizeof(key));
  ::close(to_parent[0]);
  auto reap = [child] {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
  };
  if (n != static_cast<ssize_t>(sizeof(key))) {
    reap();
    FAIL() << "the child did not map its file";
  }
  // Its leader shows as a zombie once its main thread has exited.
  const std::string stat_path = "/proc/" + std::to_string(child) + "/stat";
  bool zombie = false;
  for (int i = 0; i < 500 && !zombie; ++i) {
    std::string stat;
    if (FILE* f = std::fopen(stat_path.c_str(), "r")) {
      char buf[512];
      const size_t got = std::fread(buf, 1, sizeof(buf), f);
      std::fclose(f);
      stat.assign(buf, got);
    }
    const size_t paren = stat.rfind(')');
    zombie = paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
    if (!zombie) ::usleep(10000);
  }
  // Its other thread still runs: the process, and its mapping, live on.
  const bool alive = ::kill(child, 0) == 0 &&
                     ::access(("/proc/" + std::to_string(child) + "/task").c_str(), F_OK) == 0;
  ProcessMappingsCache cache(nullptr);
  Result<std::vector<FileMapping>> got = cache.Get(child, FileKey{key[0], key[1]}, kPage);
  // The VMA iterator does not visit a leader without an mm (NotFound), which
  // is not the process gone: its maps text tells.
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator();
  Result<std::vector<FileMapping>> through_vmas = Status::Internal("not read");
  if (iterator) {
    ProcessMappingsCache with_iterator(iterator);
    through_vmas = with_iterator.Get(child, FileKey{key[0], key[1]}, kPage);
  }
  int threads = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(child) + "/task").c_str())) {
    while (struct dirent* e = ::readdir(d)) threads += e->d_name[0] != '.';
    ::closedir(d);
  }
  reap();
  ASSERT_TRUE(zombie) << "the child's main thread did not exit";
  ASSERT_TRUE(alive);
  // (A sanitizer's runtime may add threads of its own.)
  ASSERT_GE(threads, 2) << "a zombie leader and the thread that runs";
  ASSERT_FALSE(got.ok()) << "said to map the file " << got->size() << " times";
  EXPECT_EQ(got.status().code(), Status::Code::kUnsupported) << got.status().ToString();
  EXPECT_NE(got.status().message().find("main thread"), std::string::npos)
      << got.status().ToString();
  if (!iterator) GTEST_SKIP() << "no VMA policy iterator: the read through it is not tried";
  ASSERT_FALSE(through_vmas.ok()) << "said to map the file " << through_vmas->size() << " times";
  EXPECT_EQ(through_vmas.status().code(), Status::Code::kUnsupported)
      << through_vmas.status().ToString();
  EXPECT_NE(through_vmas.status().message().find("main thread"), std::string::npos)
      << through_vmas.status().ToString();
}

// This process's own two mappings of a shmem memfd, one mbound interleave
// and (shmem having a shared policy) both showing it, read back live.
TEST(FileMappingsTest, ReadsThisProcesssMappingsOfAFile) {
  const TestMemfd file(8 * kPage, "file_mappings_test");
  const int fd = file.fd();
  void* a = ::mmap(nullptr, 8 * kPage, PROT_READ, MAP_SHARED, fd, 0);
  void* b = ::mmap(nullptr, 4 * kPage, PROT_NONE, MAP_SHARED, fd, 4 * kPage);
  ASSERT_NE(a, MAP_FAILED);
  ASSERT_NE(b, MAP_FAILED);
  unsigned long node0 = 1;
  ASSERT_EQ(::syscall(SYS_mbind, a, 8 * kPage, MPOL_INTERLEAVE, &node0, 2, 0), 0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  auto got = ReadFileMappings(::getpid(), FileKey{st.st_dev, st.st_ino}, kPage);
  ASSERT_TRUE(got.ok()) << got.status().message();
  ASSERT_EQ(got->size(), 2u);
  for (const FileMapping& m : *got) {
    EXPECT_TRUE(m.shared);
    EXPECT_EQ(m.policy, Policy(MPOL_INTERLEAVE, {1})) << std::hex << m.start;
    if (m.start == reinterpret_cast<uintptr_t>(a)) {
      EXPECT_EQ(m.first_index, 0u);
      EXPECT_EQ(m.count, 8u);
    } else {
      EXPECT_EQ(m.start, reinterpret_cast<uintptr_t>(b));
      EXPECT_EQ(m.first_index, 4u);
      EXPECT_EQ(m.count, 4u);
    }
  }
  ::munmap(a, 8 * kPage);
  ::munmap(b, 4 * kPage);
  auto dead = ReadFileMappings(0x7ffffff0, FileKey{st.st_dev, st.st_ino}, kPage);
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.status().code(), Status::Code::kNotFound);
}

// A capture round reads a VMM's maps and numa_maps once for all of its
// files (numa_maps walks every page the process maps), and reads them again
// only when a file's mapping is missing from what it read.
TEST(FileMappingsTest, OneReadOfAProcessServesEachOfItsFiles) {
  struct File {
    int fd;
    void* map;
    FileKey key;
  };
  std::vector<File> files;
  std::vector<TestMemfd> memfds;
  for (int i = 0; i < 3; ++i) {
    File f;
    memfds.emplace_back((i + 1) * kPage, "file_mappings_test");
    f.fd = memfds.back().fd();
    f.map = ::mmap(nullptr, (i + 1) * kPage, PROT_READ, MAP_SHARED, f.fd, 0);
    ASSERT_NE(f.map, MAP_FAILED);
    struct stat st;
    ASSERT_EQ(::fstat(f.fd, &st), 0);
    f.key = FileKey{st.st_dev, st.st_ino};
    files.push_back(f);
  }
  ProcessMappingsCache cache;
  for (int i = 0; i < 3; ++i) {
    auto got = cache.Get(::getpid(), files[i].key, kPage);
    ASSERT_TRUE(got.ok()) << got.status().message();
    ASSERT_EQ(got->size(), 1u) << i;
    EXPECT_EQ((*got)[0].start, reinterpret_cast<uintptr_t>(files[i].map));
    EXPECT_EQ((*got)[0].count, static_cast<uint64_t>(i + 1));
  }
  EXPECT_EQ(cache.reads(), 2) << "maps, and maps again after numa_maps";
  EXPECT_EQ(cache.numa_reads(), 1);
  // A second mapping of the first file made since the read: what was read
  // still joins (one mapping), as a round sees the process at one instant;
  // a fresh cache sees both.
  void* again = ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, files[0].fd, 0);
  ASSERT_NE(again, MAP_FAILED);
  EXPECT_EQ(cache.Get(::getpid(), files[0].key, kPage)->size(), 1u);
  EXPECT_EQ(ProcessMappingsCache().Get(::getpid(), files[0].key, kPage)->size(), 2u);
  ::munmap(again, kPage);
  for (int i = 0; i < 3; ++i) {
    ::munmap(files[i].map, (i + 1) * kPage);
  }
}

// Without a VMA reader, a process with no mapping of the file has its maps
// read, not its numa_maps (whose walk of every mapping's pages would add
// nothing); a file of the same process that it does map is then read with
// its policies.
TEST(FileMappingsTest, AProcessThatDoesNotMapTheFileCostsNoNumaMapsWalk) {
  TestMemfd unmapped(kPage, "file_mappings_test"), mapped(kPage, "file_mappings_test");
  auto key = [](int fd) {
    struct stat st;
    EXPECT_EQ(::fstat(fd, &st), 0);
    return FileKey{st.st_dev, st.st_ino};
  };
  void* m = ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, mapped.fd(), 0);
  ASSERT_NE(m, MAP_FAILED);
  ProcessMappingsCache cache(nullptr);
  Result<std::vector<FileMapping>> none = cache.Get(::getpid(), key(unmapped.fd()), kPage);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(cache.numa_reads(), 0);
  // Asked again: what was read answers, nothing is read.
  ASSERT_TRUE(cache.Get(::getpid(), key(unmapped.fd()), kPage).ok());
  EXPECT_EQ(cache.reads(), 1);
  Result<std::vector<FileMapping>> one = cache.Get(::getpid(), key(mapped.fd()), kPage);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].start, reinterpret_cast<uintptr_t>(m));
  EXPECT_EQ(cache.numa_reads(), 1);
  EXPECT_EQ(cache.reads(), 3) << "maps, and maps again after numa_maps";
  ::munmap(m, kPage);
}

// An unlinked file of `pages` pages on a disk filesystem, whose mappings keep
// their policy in the VMA as a guest_memfd's on Linux 6.18 (a tmpfs file's
// policy is its inode's: get_policy). fd() < 0 with why_not() when there is none.
class DiskFile {
 public:
  explicit DiskFile(uint64_t pages) : dir_("file_mappings_test") {
    std::string path = dir_.path() + "/guest";
    struct statfs fs;
    if (::statfs(dir_.path().c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC)
      path = "/var/tmp/khod-file-mappings-test-" + std::to_string(::getpid());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) {
      why_not_ = path + ": " + std::strerror(errno);
      return;
    }
    ::unlink(path.c_str());
    if (::fstatfs(fd_, &fs) != 0 || fs.f_type == TMPFS_MAGIC ||
        ::ftruncate(fd_, static_cast<off_t>(pages * kPage)) != 0) {
      why_not_ = "no disk filesystem for a test file";
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~DiskFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  DiskFile(const DiskFile&) = delete;
  DiskFile& operator=(const DiskFile&) = delete;
  int fd() const { return fd_; }
  const std::string& why_not() const { return why_not_; }
  FileKey key() const {
    struct stat st;
    return ::fstat(fd_, &st) == 0 ? FileKey{st.st_dev, st.st_ino} : FileKey{};
  }

 private:
  TempDir dir_;
  int fd_ = -1;
  std::string why_not_;
};

// A regular file's mappings keep their policy in the VMA (no vm_ops policy),
// as a guest_memfd's on Linux 6.18: the VMA iterator answers for them, with
// what numa_maps shows, and numa_maps (a walk of every page) is not read.
TEST(FileMappingsTest, TheVmasOwnPoliciesAnswerWithoutNumaMaps) {
  std::string why_not;
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator(&why_not);
  if (!iterator) GTEST_SKIP() << "no VMA policy iterator: " << why_not;
  const DiskFile file(8);
  if (file.fd() < 0) GTEST_SKIP() << file.why_not();
  const int fd = file.fd();
  auto* a = static_cast<char*>(::mmap(nullptr, 8 * kPage, PROT_READ, MAP_SHARED, fd, 0));
  ASSERT_NE(a, MAP_FAILED);
  unsigned long node0 = 1;
  ASSERT_EQ(::syscall(SYS_mbind, a, 4 * kPage, MPOL_INTERLEAVE, &node0, 2, 0), 0);
  ASSERT_EQ(
      ::syscall(SYS_mbind, a + 4 * kPage, 2 * kPage, MPOL_BIND | MPOL_F_STATIC_NODES, &node0, 2, 0),
      0);
  struct stat st;
  ASSERT_EQ(::fstat(fd, &st), 0);
  const FileKey key{st.st_dev, st.st_ino};

  ProcessMappingsCache with_iterator(iterator);
  Result<std::vector<FileMapping>> got = with_iterator.Get(::getpid(), key, kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(with_iterator.iterator_reads(), 1);
  EXPECT_EQ(with_iterator.numa_reads(), 0);
  EXPECT_EQ(with_iterator.reads(), 0) << "no maps text: the VMAs alone answered";
  ProcessMappingsCache numa_only(nullptr);
  Result<std::vector<FileMapping>> shown = numa_only.Get(::getpid(), key, kPage);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(numa_only.numa_reads(), 1);
  EXPECT_EQ(numa_only.iterator_reads(), 0);

  ASSERT_EQ(got->size(), 3u);  // the mbinds split the mapping in three
  ASSERT_EQ(shown->size(), got->size());
  for (size_t i = 0; i < got->size(); ++i) {
    EXPECT_EQ((*got)[i].start, (*shown)[i].start);
    EXPECT_EQ((*got)[i].count, (*shown)[i].count);
    EXPECT_EQ((*got)[i].first_index, (*shown)[i].first_index);
    EXPECT_TRUE(AsNumaMapsShows((*got)[i].policy, (*shown)[i].policy)) << "mapping " << i;
    EXPECT_TRUE((*got)[i].shared) << "mapping " << i;
    EXPECT_TRUE((*shown)[i].shared) << "mapping " << i;
  }
  EXPECT_EQ((*got)[0].policy, Policy(MPOL_INTERLEAVE, {1}));
  EXPECT_EQ((*got)[1].policy, Policy(MPOL_BIND, {1}, MPOL_F_STATIC_NODES));
  EXPECT_EQ((*got)[2].policy, Mempolicy());  // no policy of its own, nor this thread's
  ::munmap(a, 8 * kPage);
}

// The VMAs alone give each mapping as maps shows it: a private mapping at an
// offset ('p', its vm_pgoff) and a shared one ('s') of the same file, each
// equal to what maps and numa_maps give, without a maps text. A file the
// process does not map is not shown by them, which maps confirms (no
// numa_maps walk).
TEST(FileMappingsTest, TheVmasAloneGiveEachMappingAsMapsShowsIt) {
  std::string why_not;
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator(&why_not);
  if (!iterator) GTEST_SKIP() << "no VMA policy iterator: " << why_not;
  const DiskFile file(8), unmapped(1);
  if (file.fd() < 0 || unmapped.fd() < 0) GTEST_SKIP() << file.why_not() << unmapped.why_not();
  void* shared = ::mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED, file.fd(), 0);
  void* priv = ::mmap(nullptr, 3 * kPage, PROT_READ, MAP_PRIVATE, file.fd(), 5 * kPage);
  ASSERT_NE(shared, MAP_FAILED);
  ASSERT_NE(priv, MAP_FAILED);
  unsigned long node0 = 1;
  ASSERT_EQ(::syscall(SYS_mbind, priv, 3 * kPage, MPOL_PREFERRED, &node0, 2, 0), 0);

  ProcessMappingsCache from_vmas(iterator);
  Result<std::vector<FileMapping>> got = from_vmas.Get(::getpid(), file.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(from_vmas.reads(), 0);
  EXPECT_EQ(from_vmas.numa_reads(), 0);
  EXPECT_EQ(from_vmas.iterator_reads(), 1);
  Result<std::vector<FileMapping>> none = from_vmas.Get(::getpid(), unmapped.key(), kPage);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty()) << none->size() << " mappings of a file never mapped";
  EXPECT_EQ(from_vmas.reads(), 1) << "maps says whether it is mapped by another inode";
  EXPECT_EQ(from_vmas.numa_reads(), 0);

  Result<std::vector<FileMapping>> shown =
      ProcessMappingsCache(nullptr).Get(::getpid(), file.key(), kPage);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  ASSERT_EQ(got->size(), 2u);
  ASSERT_EQ(shown->size(), got->size());
  for (size_t i = 0; i < got->size(); ++i) {
    const FileMapping& g = (*got)[i];
    const FileMapping& w = (*shown)[i];
    EXPECT_EQ(g.start, w.start) << i;
    EXPECT_EQ(g.end, w.end) << i;
    EXPECT_EQ(g.first_index, w.first_index) << i;
    EXPECT_EQ(g.count, w.count) << i;
    EXPECT_EQ(g.shared, w.shared) << i;
    EXPECT_EQ(g.policy, w.policy) << i;
    if (g.start == reinterpret_cast<uintptr_t>(priv)) {
      EXPECT_FALSE(g.shared);
      EXPECT_EQ(g.first_index, 5u);
      EXPECT_EQ(g.policy, Policy(MPOL_PREFERRED, {1}));
    } else {
      EXPECT_EQ(g.start, reinterpret_cast<uintptr_t>(shared));
      EXPECT_TRUE(g.shared);
      EXPECT_EQ(g.first_index, 0u);
    }
  }
  ::munmap(shared, 2 * kPage);
  ::munmap(priv, 3 * kPage);
}

// The kernel, live: a mapping made again between the maps text and numa_maps
// (at the same address, the file's next page, no policy of its own). Joined
// by start, numa_maps' policy would go to the line maps read before the
// change, a mapping that never had it; maps read again after numa_maps shows
// the change, and the mappings are read again, the new one with its own.
TEST(FileMappingsTest, AMappingRemadeBeforeNumaMapsIsReadAgain) {
  const DiskFile file(8);
  if (file.fd() < 0) GTEST_SKIP() << file.why_not();
  auto* a = static_cast<char*>(::mmap(nullptr, 4 * kPage, PROT_READ, MAP_SHARED, file.fd(), 0));
  ASSERT_NE(a, MAP_FAILED);
  unsigned long node0 = 1;
  ASSERT_EQ(::syscall(SYS_mbind, a, 4 * kPage, MPOL_INTERLEAVE, &node0, 2, 0), 0);
  ProcessMappingsCache numa_only(nullptr);
  int remade = 0;
  numa_only.SetBeforeNumaMapsForTest([&] {
    if (remade++ == 0) {
      ASSERT_EQ(::mmap(a, 4 * kPage, PROT_READ, MAP_SHARED | MAP_FIXED, file.fd(), kPage), a);
    }
  });
  Result<std::vector<FileMapping>> got = numa_only.Get(::getpid(), file.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(remade, 2) << "numa_maps read once for each read of the mappings";
  EXPECT_EQ(numa_only.reads(), 4) << "maps before and after numa_maps, twice";
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].start, reinterpret_cast<uintptr_t>(a));
  EXPECT_EQ((*got)[0].first_index, 1u) << "the mapping as it is now";
  EXPECT_EQ((*got)[0].count, 4u);
  EXPECT_EQ((*got)[0].policy, Mempolicy()) << "the new mapping's, not the one it replaced";
  ::munmap(a, 4 * kPage);
}

// A shmem file's policy is its inode's (vm_ops->get_policy): the iterator
// leaves its mappings unanswered and numa_maps says.
TEST(FileMappingsTest, AMappingWhosePolicyIsItsFilesIsAskedOfNumaMaps) {
  std::string why_not;
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator(&why_not);
  if (!iterator) GTEST_SKIP() << "no VMA policy iterator: " << why_not;
  const TestMemfd file(4 * kPage, "file_mappings_test");
  void* a = ::mmap(nullptr, 4 * kPage, PROT_READ, MAP_SHARED, file.fd(), 0);
  void* b = ::mmap(nullptr, 4 * kPage, PROT_READ, MAP_SHARED, file.fd(), 0);
  ASSERT_NE(a, MAP_FAILED);
  ASSERT_NE(b, MAP_FAILED);
  unsigned long node0 = 1;
  ASSERT_EQ(::syscall(SYS_mbind, a, 4 * kPage, MPOL_INTERLEAVE, &node0, 2, 0), 0);
  struct stat st;
  ASSERT_EQ(::fstat(file.fd(), &st), 0);
  ProcessMappingsCache cache(iterator);
  Result<std::vector<FileMapping>> got =
      cache.Get(::getpid(), FileKey{st.st_dev, st.st_ino}, kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(cache.iterator_reads(), 0);
  EXPECT_EQ(cache.numa_reads(), 1);
  ASSERT_EQ(got->size(), 2u);
  // b was never mbound: its policy is the file's, which only numa_maps showed.
  for (const FileMapping& m : *got) EXPECT_EQ(m.policy, Policy(MPOL_INTERLEAVE, {1}));
  ::munmap(a, 4 * kPage);
  ::munmap(b, 4 * kPage);
}

// A VMA reader that answers what its test chose (VMAs, or an error) for
// every pid, counting its reads: the VMAs can be made to disagree with maps
// on every read, which the BPF iterator cannot be made to.
class FakeVmaReader : public VmaPolicyReader {
 public:
  explicit FakeVmaReader(Result<std::vector<VmaPolicy>> answer) : answers_{std::move(answer)} {}
  // The first read answers `first`, every later one `then`.
  FakeVmaReader(std::vector<VmaPolicy> first, std::vector<VmaPolicy> then)
      : answers_{std::move(first), std::move(then)} {}
  Result<std::vector<VmaPolicy>> Read(pid_t pid) const override {
    const size_t i = std::min<size_t>(reads_++, answers_.size() - 1);
    last_pid_ = pid;
    return answers_[i];
  }
  int reads() const { return reads_; }
  pid_t last_pid() const { return last_pid_; }

 private:
  const std::vector<Result<std::vector<VmaPolicy>>> answers_;
  mutable std::atomic<int> reads_{0};
  mutable std::atomic<pid_t> last_pid_{0};
};

// A shmem memfd of this process, mapped once and mbound interleave on node 0
// (which numa_maps shows as "interleave:0", the file's shared policy).
class InterleavedMemfdMapping {
 public:
  static constexpr uint64_t kPages = 4;
  InterleavedMemfdMapping() : file_(kPages * kPage, "file_mappings_test") {
    map_ = ::mmap(nullptr, kPages * kPage, PROT_READ, MAP_SHARED, file_.fd(), 0);
    struct stat st;
    if (map_ == MAP_FAILED || ::fstat(file_.fd(), &st) != 0) return;
    key_ = FileKey{st.st_dev, st.st_ino};
    unsigned long node0 = 1;
    mbound_ = ::syscall(SYS_mbind, map_, kPages * kPage, MPOL_INTERLEAVE, &node0, 2, 0) == 0;
  }
  ~InterleavedMemfdMapping() {
    if (map_ != MAP_FAILED) ::munmap(map_, kPages * kPage);
  }
  InterleavedMemfdMapping(const InterleavedMemfdMapping&) = delete;
  InterleavedMemfdMapping& operator=(const InterleavedMemfdMapping&) = delete;

  bool ok() const { return mbound_; }
  uint64_t start() const { return reinterpret_cast<uintptr_t>(map_); }
  FileKey key() const { return key_; }
  // Its VMA as a reader would report it: the same range, file and offset.
  VmaPolicy Vma() const {
    VmaPolicy v;
    v.start = start();
    v.end = start() + kPages * kPage;
    v.pgoff = 0;
    v.dev = key_.dev;
    v.inode = key_.inode;
    v.answered = true;
    return v;
  }
  static Mempolicy Policy() {
    Mempolicy p;
    p.mode = MPOL_INTERLEAVE;
    p.nodemask = {1};
    return p;
  }

 private:
  TestMemfd file_;
  void* map_ = MAP_FAILED;
  FileKey key_;
  bool mbound_ = false;
};

// The VMAs' read answers alone when it gives every mapping of the file a
// policy: its own (here one numa_maps would not show), with no maps text and
// no numa_maps read. Of a file it does not show it says nothing: maps is read
// (it may name the file by the inode users see, as for an overlayfs file,
// whose VMAs hold the backing file), here showing none either.
TEST(FileMappingsTest, TheVmasReadAnswersAloneWhenItGivesEveryMappingAPolicy) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  VmaPolicy vma = m.Vma();
  vma.shared = true;
  vma.policy = Policy(MPOL_PREFERRED, {1});
  const FakeVmaReader reader(std::vector<VmaPolicy>{vma});
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].start, m.start());
  EXPECT_EQ((*got)[0].count, InterleavedMemfdMapping::kPages);
  EXPECT_TRUE((*got)[0].shared);
  EXPECT_EQ((*got)[0].policy, Policy(MPOL_PREFERRED, {1})) << "the VMA's, not numa_maps'";
  EXPECT_EQ(cache.reads(), 0);
  Result<std::vector<FileMapping>> none =
      cache.Get(::getpid(), FileKey{m.key().dev, m.key().inode + 1}, kPage);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(reader.reads(), 1) << "the VMAs it read said nothing of that file";
  EXPECT_EQ(cache.iterator_reads(), 1);
  EXPECT_EQ(cache.reads(), 1);
  EXPECT_EQ(cache.numa_reads(), 0);
}

// A file the VMAs do not show but maps does (an overlayfs file: maps names
// the inode users see, the VMA the backing file's): not "no mapping", but
// what maps and numa_maps give.
TEST(FileMappingsTest, AFileTheVmasDoNotShowButMapsDoesIsReadFromMaps) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  VmaPolicy backing = m.Vma();  // the same mapping, of another inode
  backing.inode += 1;
  const FakeVmaReader reader(std::vector<VmaPolicy>{backing});
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u) << "said not to be mapped";
  EXPECT_EQ((*got)[0].start, m.start());
  EXPECT_EQ((*got)[0].policy, InterleavedMemfdMapping::Policy()) << "numa_maps' policy";
  EXPECT_EQ(cache.numa_reads(), 1);
  EXPECT_EQ(cache.iterator_reads(), 0);
}

// VMAs that never agree with maps (the mapping made again between every
// two reads, as a VMM that keeps remapping it) once the first read left the
// file's mapping to numa_maps: each attempt reads both again, and the last
// joins numa_maps by start rather than giving up, with the policy numa_maps
// shows, not one the VMAs claimed.
TEST(FileMappingsTest, VmasThatNeverAgreeWithMapsFallBackToNumaMapsOnTheLastRead) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  VmaPolicy unanswered = m.Vma();
  unanswered.answered = false;
  // The file's own dev and inode, but another offset, and another start:
  // neither gives the maps line a policy (kChanged).
  VmaPolicy other_offset = m.Vma();
  other_offset.pgoff = 1;
  other_offset.policy = Policy(MPOL_PREFERRED, {1});
  VmaPolicy other_start = m.Vma();
  other_start.start += kPage;
  other_start.policy = other_offset.policy;
  const FakeVmaReader reader({unanswered}, {other_offset, other_start});
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].start, m.start());
  EXPECT_EQ((*got)[0].count, InterleavedMemfdMapping::kPages);
  EXPECT_EQ((*got)[0].policy, InterleavedMemfdMapping::Policy()) << "numa_maps' policy";
  constexpr int kAttempts = ProcessMappingsCache::kReadAttempts;
  static_assert(kAttempts > 1, "a retry before the last read");
  EXPECT_EQ(reader.reads(), 1 + kAttempts) << "the first read, then one with each maps text";
  EXPECT_EQ(reader.last_pid(), ::getpid());
  EXPECT_EQ(cache.reads(), kAttempts + 1) << "and maps again after numa_maps";
  EXPECT_EQ(cache.numa_reads(), 1) << "numa_maps read on the last attempt alone";
  EXPECT_EQ(cache.iterator_reads(), 0);
  // What the last read gave answers the file again, nothing read.
  Result<std::vector<FileMapping>> again = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->size(), 1u);
  EXPECT_EQ(cache.reads(), kAttempts + 1);
  EXPECT_EQ(reader.reads(), 1 + kAttempts);
}

// A reader that fails for another reason than the process being gone (its
// mappings never settled: Busy) sends the first read to numa_maps, without
// reading anything again.
TEST(FileMappingsTest, AReaderErrorOtherThanNotFoundReadsNumaMapsAtOnce) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  const FakeVmaReader reader(Status::Busy("the mappings changed during each read"));
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].start, m.start());
  EXPECT_EQ((*got)[0].policy, InterleavedMemfdMapping::Policy());
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(cache.reads(), 2) << "maps, and maps again after numa_maps";
  EXPECT_EQ(cache.numa_reads(), 1);
  EXPECT_EQ(cache.iterator_reads(), 0);
}

// A reader's NotFound says the process is gone: Get says so, naming
// /proc/PID, and reads neither numa_maps nor maps again.
// What a round reports counts processes, each once: one whose files' policies
// came from its VMAs for one file and through numa_maps for another was read
// through numa_maps (its pages walked), and a second Get of it adds nothing.
TEST(FileMappingsTest, EachProcessIsCountedOnceByHowItsPoliciesWereRead) {
  const InterleavedMemfdMapping a, b;
  ASSERT_TRUE(a.ok() && b.ok()) << std::strerror(errno);
  VmaPolicy b_unanswered = b.Vma();
  b_unanswered.answered = false;  // its policy its file's: numa_maps
  const FakeVmaReader reader(std::vector<VmaPolicy>{a.Vma(), b_unanswered});
  ProcessMappingsCache cache(&reader);
  ASSERT_TRUE(cache.Get(::getpid(), a.key(), kPage).ok());
  EXPECT_EQ(cache.processes_from_vmas_only(), 1);
  EXPECT_EQ(cache.processes_through_numa_maps(), 0);
  ASSERT_TRUE(cache.Get(::getpid(), b.key(), kPage).ok());
  EXPECT_EQ(cache.processes_from_vmas_only(), 0) << "walked after all";
  EXPECT_EQ(cache.processes_through_numa_maps(), 1);
  ASSERT_TRUE(cache.Get(::getpid(), a.key(), kPage).ok());
  ASSERT_TRUE(cache.Get(::getpid(), b.key(), kPage).ok());
  EXPECT_EQ(cache.processes_from_vmas_only() + cache.processes_through_numa_maps(), 1);
}

TEST(FileMappingsTest, AReadersNotFoundIsTheProcessGone) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  const FakeVmaReader reader(Status::NotFound("process exited during the read"));
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_FALSE(got.ok()) << "answered " << got->size() << " mappings";
  EXPECT_EQ(got.status().code(), Status::Code::kNotFound) << got.status().ToString();
  const std::string proc = "/proc/" + std::to_string(::getpid());
  EXPECT_EQ(got.status().message().rfind(proc + ":", 0), 0u) << got.status().message();
  EXPECT_NE(got.status().message().find("exited during the read"), std::string::npos)
      << got.status().message();
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(cache.reads(), 1);
  EXPECT_EQ(cache.numa_reads(), 0);
  EXPECT_EQ(cache.iterator_reads(), 0);
}

// A file whose VMAs hold the file itself (a memfd, a hugetlbfs file, a
// guest_memfd: FileNaming::kItsOwnInode) is not mapped where one consistent
// read of the VMAs shows no mapping of it: nothing else is read, however
// long the process's maps. Asked as a file maps may name by another inode,
// the same file still has maps read.
TEST(FileMappingsTest, AFileOfItsOwnInodeTheVmasDoNotShowIsNotMapped) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  const TestMemfd unmapped(kPage, "file_mappings_test");
  struct stat st;
  ASSERT_EQ(::fstat(unmapped.fd(), &st), 0);
  const FileKey key{st.st_dev, st.st_ino};
  const FakeVmaReader reader(std::vector<VmaPolicy>{m.Vma()});
  ProcessMappingsCache cache(&reader);
  Result<std::vector<FileMapping>> none =
      cache.Get(::getpid(), key, kPage, FileNaming::kItsOwnInode);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  EXPECT_EQ(cache.reads(), 0) << "maps read for a file the VMAs say is not mapped";
  EXPECT_EQ(cache.numa_reads(), 0);
  EXPECT_EQ(cache.iterator_reads(), 1);
  // Asked again, and the mapped file: what the one read gave answers both.
  ASSERT_TRUE(cache.Get(::getpid(), key, kPage, FileNaming::kItsOwnInode).ok());
  Result<std::vector<FileMapping>> one = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  EXPECT_EQ(one->size(), 1u);
  EXPECT_EQ(reader.reads(), 1);
  EXPECT_EQ(cache.reads(), 0);
  // Of a file that may be named by another inode, the VMAs say nothing.
  Result<std::vector<FileMapping>> maybe = cache.Get(::getpid(), key, kPage);
  ASSERT_TRUE(maybe.ok()) << maybe.status().ToString();
  EXPECT_TRUE(maybe->empty());
  EXPECT_EQ(cache.reads(), 1);

  // The kernel's own read, where the iterator loads.
  std::string why_not;
  const VmaPolicyIterator* iterator = SharedVmaPolicyIterator(&why_not);
  if (!iterator) GTEST_SKIP() << "no VMA policy iterator: " << why_not;
  ProcessMappingsCache live(iterator);
  Result<std::vector<FileMapping>> live_none =
      live.Get(::getpid(), key, kPage, FileNaming::kItsOwnInode);
  ASSERT_TRUE(live_none.ok()) << live_none.status().ToString();
  EXPECT_TRUE(live_none->empty());
  EXPECT_EQ(live.reads(), 0);
  EXPECT_EQ(live.iterator_reads(), 1);
}

// A deleted file whose path (its directories gone too) is `path_bytes` long,
// as maps still prints it, made under `dir`; fd -1 where it cannot be.
UniqueFd DeletedFileOfLongPath(const std::string& dir, size_t path_bytes) {
  const std::string component(200, 'd');
  std::vector<int> dirs{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  for (size_t length = dir.size(); dirs.back() >= 0 && length < path_bytes;
       length += component.size() + 1) {
    if (::mkdirat(dirs.back(), component.c_str(), 0700) != 0) break;
    dirs.push_back(::openat(dirs.back(), component.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  }
  UniqueFd fd;
  if (dirs.back() >= 0) {
    fd.reset(::openat(dirs.back(), "f", O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ::unlinkat(dirs.back(), "f", 0);
    if (fd.valid() && ::ftruncate(fd.get(), kPage) != 0) fd.reset();
  }
  for (size_t i = dirs.size(); i-- > 1;) {
    if (dirs[i] >= 0) ::close(dirs[i]);
    ::unlinkat(dirs[i - 1], component.c_str(), AT_REMOVEDIR);
  }
  if (dirs[0] >= 0) ::close(dirs[0]);
  return fd;
}

// `count` one-page mappings of `fd` (its first page each time, so that no
// two merge into one VMA), unmapped when it goes.
class ManyMappings {
 public:
  ManyMappings(int fd, int count) {
    for (int i = 0; i < count; ++i) {
      void* p = ::mmap(nullptr, kPage, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) return;
      maps_.push_back(p);
    }
  }
  ~ManyMappings() {
    for (void* p : maps_) ::munmap(p, kPage);
  }
  ManyMappings(const ManyMappings&) = delete;
  ManyMappings& operator=(const ManyMappings&) = delete;
  size_t size() const { return maps_.size(); }

 private:
  std::vector<void*> maps_;
};

// A process whose maps is long because it maps another file many times,
// under a long name (its lines are the process's to make long): the texts
// are read through a buffer of fixed size, never held whole, and what they
// give is what the whole texts give (lines longer than what is read of them
// included).
TEST(FileMappingsTest, ALongMapsTextIsReadThroughABufferOfFixedSize) {
  const InterleavedMemfdMapping m;
  ASSERT_TRUE(m.ok()) << std::strerror(errno);
  const std::string long_name(249, 'n');  // memfd_create's longest
  const TestMemfd other(kPage, long_name.c_str());
  constexpr int kOtherMappings = 20000;
  const ManyMappings many(other.fd(), kOtherMappings);
  ASSERT_EQ(many.size(), static_cast<size_t>(kOtherMappings)) << std::strerror(errno);
  // Lines longer than a line-by-line read keeps of them.
  const TempDir dir("file_mappings_test");
  const UniqueFd deep = DeletedFileOfLongPath(dir.path(), kProcTextLineBytes + 1000);
  ASSERT_TRUE(deep.valid()) << std::strerror(errno);
  const ManyMappings deep_many(deep.get(), 100);
  ASSERT_EQ(deep_many.size(), 100u) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(::fstat(deep.get(), &st), 0);
  const FileKey deep_key{st.st_dev, st.st_ino};

  ProcessMappingsCache cache(nullptr);
  Result<std::vector<FileMapping>> got = cache.Get(::getpid(), m.key(), kPage);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].policy, InterleavedMemfdMapping::Policy());
  Result<std::vector<FileMapping>> deep_got = cache.Get(::getpid(), deep_key, kPage);
  ASSERT_TRUE(deep_got.ok()) << deep_got.status().ToString();
  EXPECT_EQ(cache.reads(), 2) << "maps, and maps again after numa_maps";
  EXPECT_EQ(cache.numa_reads(), 1);

  Result<std::string> maps = ReadProcMapsText(::getpid(), "maps");
  Result<std::string> numa = ReadProcMapsText(::getpid(), "numa_maps");
  ASSERT_TRUE(maps.ok() && numa.ok());
  ASSERT_GT(maps->size(), 64 * kProcTextReadBytes) << "a text far longer than the buffer";
  EXPECT_GT(cache.largest_text_held(), 0u);
  EXPECT_LE(cache.largest_text_held(), kProcTextReadBytes)
      << "of a maps text of " << maps->size() << " bytes";
  // The same as the whole texts (read after: this process's mappings of
  // these files did not change).
  Result<std::vector<FileMapping>> whole = JoinFileMappings(*maps, *numa, deep_key, kPage);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  ASSERT_EQ(deep_got->size(), 100u);
  ASSERT_EQ(whole->size(), deep_got->size());
  for (size_t i = 0; i < whole->size(); ++i) {
    EXPECT_EQ((*deep_got)[i].start, (*whole)[i].start) << i;
    EXPECT_EQ((*deep_got)[i].end, (*whole)[i].end) << i;
    EXPECT_EQ((*deep_got)[i].first_index, (*whole)[i].first_index) << i;
    EXPECT_EQ((*deep_got)[i].shared, (*whole)[i].shared) << i;
    EXPECT_EQ((*deep_got)[i].policy, (*whole)[i].policy) << i;
  }
}

// ForEachProcTextLine gives the lines a whole read splits, each cut to its
// first kProcTextLineBytes, with the same errors. (Compared for a file whose
// mappings stay: this process's heap may change between two reads.)
TEST(ProcMapsTest, ReadsAProcesssTextLineByLineAsAWholeRead) {
  const TempDir dir("file_mappings_test");
  const UniqueFd deep = DeletedFileOfLongPath(dir.path(), 3 * kProcTextLineBytes);
  ASSERT_TRUE(deep.valid()) << std::strerror(errno);
  constexpr size_t kMappings = 50;
  const ManyMappings deep_many(deep.get(), kMappings);
  ASSERT_EQ(deep_many.size(), kMappings) << std::strerror(errno);
  struct stat st;
  ASSERT_EQ(::fstat(deep.get(), &st), 0);
  // The deep file's lines of maps, and the numa_maps lines at their starts.
  std::set<uint64_t> starts;
  auto keep = [&](bool numa, std::string_view line, std::vector<std::string>* kept) {
    if (numa) {
      std::string_view rest = line;
      const std::optional<uint64_t> start = ConsumeHexU64(&rest);
      if (start && starts.count(*start)) kept->emplace_back(line);
      return;
    }
    Result<ProcMapsFields> f = ParseProcMapsFields(line);
    if (f.ok() && f->inode == st.st_ino && makedev(f->dev_major, f->dev_minor) == st.st_dev) {
      starts.insert(f->start);
      kept->emplace_back(line);
    }
  };
  for (const bool numa : {false, true}) {
    const char* name = numa ? "numa_maps" : "maps";
    std::vector<std::string> lines, whole;
    lines.reserve(kMappings);
    Result<ProcTextRead> read = ForEachProcTextLine(
        ::getpid(), name, [&](std::string_view line) { keep(numa, line, &lines); });
    ASSERT_TRUE(read.ok()) << read.status().ToString();
    EXPECT_GT(read->bytes, kMappings * kProcTextLineBytes) << name;
    EXPECT_LE(read->held, kProcTextReadBytes) << name;
    Result<std::string> text = ReadProcMapsText(::getpid(), name);
    ASSERT_TRUE(text.ok()) << text.status().ToString();
    ASSERT_TRUE(ForEachLine(*text, [&](std::string_view line) {
                  keep(numa, line.substr(0, kProcTextLineBytes), &whole);
                  return Status::Ok();
                }).ok());
    ASSERT_EQ(lines.size(), kMappings) << name;
    EXPECT_EQ(lines, whole) << name;
    for (const std::string& l : lines) EXPECT_EQ(l.size(), kProcTextLineBytes) << name << ": cut";
  }
  Result<ProcTextRead> gone = ForEachProcTextLine(0x7ffffff0, "maps", [](std::string_view) {});
  EXPECT_EQ(gone.status().ToString(), ReadProcMapsText(0x7ffffff0, "maps").status().ToString());
  Result<ProcTextRead> directory = ForEachProcTextLine(::getpid(), "task", [](std::string_view) {});
  EXPECT_EQ(directory.status().ToString(),
            ReadProcMapsText(::getpid(), "task").status().ToString());
}

}  // namespace
}  // namespace khod
