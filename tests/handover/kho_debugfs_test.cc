// KHO's incoming tree as debugfs shows it after a kexec (handover/
// kho_debugfs.h), on trees built with libfdt: the real layout is read and
// listed, and every hostile variant is refused with a message naming the
// file and the problem, never a crash. No machine here has KHO.
#include "handover/kho_debugfs.h"

#include <gtest/gtest.h>
#include <libfdt.h>

#include <cstring>
#include <string>
#include <utility>

#include "common/bytes.h"
#include "daemon/record_file.h"
#include "tests/support/fixture.h"
#include "tests/support/kho_tree.h"

namespace khod {
namespace {

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(KhoIncomingTest, AbsentTreeIsNotAnError) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_FALSE(in->present);
  EXPECT_EQ(in->Summary(), "KHO incoming FDT: none (" + root +
                               "/kho/in missing: no KHO kexec into this kernel, debugfs not "
                               "mounted there, or no CONFIG_KEXEC_HANDOVER)");
}

TEST(KhoIncomingTest, ListsLuoFromAKhoV1Tree) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  const std::string fdt = KhoRootFdt("kho-v1", {{"LUO"}, {"memblock"}});
  const std::string luo = LuoFdt(3);
  // debugfs exposes a sub-FDT by its totalsize; extra bytes are tolerated.
  WriteKhoIn(root, fdt, {{"LUO", luo + std::string(100, '\0')}, {"memblock", LuoFdt(0)}});
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  EXPECT_TRUE(in->present);
  EXPECT_EQ(in->compatible, "kho-v1");
  EXPECT_EQ(in->fdt_bytes, fdt.size());
  ASSERT_EQ(in->subtrees.size(), 2u);
  EXPECT_EQ(in->subtrees[0].name, "LUO");
  EXPECT_TRUE(in->subtrees[0].has_address);
  EXPECT_TRUE(in->subtrees[0].exposed);
  EXPECT_EQ(in->subtrees[0].compatible, "luo-v1");
  EXPECT_EQ(in->subtrees[0].bytes, luo.size());
  EXPECT_EQ(in->subtrees[0].problem, "");
  EXPECT_EQ(in->Summary(), "KHO incoming FDT: " + HumanBytes(fdt.size()) +
                               ", compatible kho-v1, sub-FDTs: LUO (luo-v1, " +
                               HumanBytes(luo.size()) + "), memblock (luo-v1, " +
                               HumanBytes(LuoFdt(0).size()) + ")");
}

TEST(KhoIncomingTest, KhoV2UsesPreservedDataAndOddNodesAreNamed) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  KhoNode luo{"LUO", "preserved-data"};
  KhoNode v1_style{"old", "fdt"};             // not kho-v2's property
  KhoNode missing{"gone", "preserved-data"};  // no file under sub_fdts/
  KhoNode metadata{"kexec-metadata", "preserved-data"};
  WriteKhoIn(root, KhoRootFdt("kho-v2", {luo, v1_style, missing, metadata}),
             {{"LUO", LuoFdt(1)}, {"kexec-metadata", std::string(24, '\x07')}});
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->subtrees.size(), 4u);
  EXPECT_EQ(in->subtrees[0].compatible, "luo-v1");
  EXPECT_FALSE(in->subtrees[1].has_address);
  EXPECT_FALSE(in->subtrees[2].exposed);
  EXPECT_EQ(in->subtrees[2].problem, "");
  // A blob that is not an FDT is listed with why, not an error.
  EXPECT_TRUE(Has(in->subtrees[3].problem, "not an FDT: truncated: 24 bytes"))
      << in->subtrees[3].problem;
  const std::string s = in->Summary();
  EXPECT_TRUE(Has(s, "compatible kho-v2")) << s;
  EXPECT_TRUE(Has(s, "old (no address property)")) << s;
  EXPECT_TRUE(Has(s, "gone (not in sub_fdts/)")) << s;
}

TEST(KhoIncomingTest, MalformedLuoSubFdtIsReportedNotFatal) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  std::string luo = LuoFdt(2);
  luo[0] ^= 0xff;
  WriteKhoIn(root, KhoRootFdt("kho-v1", {{"LUO"}}), {{"LUO", luo}});
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->subtrees.size(), 1u);
  EXPECT_TRUE(Has(in->subtrees[0].problem, "not an FDT: bad magic 0x2f0dfeed"))
      << in->subtrees[0].problem;
  EXPECT_TRUE(Has(in->Summary(), "LUO (not an FDT: bad magic")) << in->Summary();
}

TEST(KhoIncomingTest, NodeNamesNeverLeaveSubFdts) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  WriteKhoIn(root, KhoRootFdt("kho-v1", {{".."}}), {});
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->subtrees.size(), 1u);
  EXPECT_EQ(in->subtrees[0].problem, "node name is not a file name");
  EXPECT_FALSE(in->subtrees[0].exposed);
}

// Each hostile root FDT: the code and the words that must be in the message.
struct Hostile {
  const char* what;
  std::string fdt;
  Status::Code code;
  const char* says;
};

TEST(KhoIncomingTest, HostileRootFdtsAreRefusedNamingTheProblem) {
  const std::string good = KhoRootFdt("kho-v1", {{"LUO"}});
  std::string bad_magic = good;
  bad_magic[3] = 'X';
  std::string bad_struct = good;
  // The first structure token (FDT_BEGIN_NODE of the root) made unknown.
  const uint32_t off = fdt_off_dt_struct(good.data());
  bad_struct[off + 3] = 7;  // tags are 1-4 and 9
  std::string bad_version = good;
  bad_version[23] = 1;  // last_comp_version 1: libfdt reads none so old
  const Hostile cases[] = {
      {"empty", "", Status::Code::kCorruption, "truncated: 0 bytes"},
      {"short header", good.substr(0, 20), Status::Code::kCorruption, "truncated: 20 bytes"},
      {"cut in half", good.substr(0, good.size() / 2), Status::Code::kCorruption,
       "truncated: header says totalsize"},
      {"bad magic", bad_magic, Status::Code::kCorruption, "bad magic 0xd00dfe58"},
      {"bad version", bad_version, Status::Code::kCorruption, "bad header"},
      {"bad structure", bad_struct, Status::Code::kCorruption, "malformed structure"},
      {"no compatible", KhoRootFdt("", {{"LUO"}}), Status::Code::kCorruption,
       "has no compatible on its root node"},
      {"foreign compatible", KhoRootFdt("acme,widget", {}), Status::Code::kCorruption,
       "root compatible \"acme,widget\" is not KHO's"},
      {"future ABI", KhoRootFdt("kho-v9", {}), Status::Code::kUnsupported,
       "KHO ABI \"kho-v9\" unknown to khod"},
  };
  for (const Hostile& h : cases) {
    const TempDir tmp("kho-test");
    const std::string root = tmp.path();
    WriteKhoIn(root, h.fdt, {});
    Result<KhoIncoming> in = ReadKhoIncoming(root);
    ASSERT_FALSE(in.ok()) << h.what;
    EXPECT_EQ(in.status().code(), h.code) << h.what << ": " << in.status().ToString();
    EXPECT_TRUE(Has(in.status().message(), h.says)) << h.what << ": " << in.status().ToString();
    EXPECT_TRUE(Has(in.status().message(), root + "/kho/in/fdt"))
        << h.what << ": " << in.status().ToString();
  }
}

// Each file is read no further than its FDT header's totalsize declares
// (with a few pages of slack): a tree followed by a MiB is refused as larger
// than its header declares, a MiB that is no FDT from its head, neither read
// whole.
TEST(KhoIncomingTest, AFileIsReadNoFurtherThanItsHeaderDeclares) {
  const std::string mib(1 << 20, '\0');
  const std::string good = KhoRootFdt("kho-v1", {{"LUO"}});
  const std::pair<std::string, const char*> cases[] = {
      {good + mib, "more than its header declares"},
      {std::string(64, 'x') + mib, "not an FDT: bad magic 0x78787878"}};
  for (const auto& [fdt, says] : cases) {
    const TempDir tmp("kho-test");
    const std::string root = tmp.path();
    WriteKhoIn(root, fdt, {});
    Result<KhoIncoming> in = ReadKhoIncoming(root);
    ASSERT_FALSE(in.ok()) << fdt.size() << " bytes read as a tree";
    EXPECT_EQ(in.status().code(), Status::Code::kCorruption) << in.status().ToString();
    EXPECT_TRUE(Has(in.status().message(), says)) << in.status().ToString();
    EXPECT_TRUE(Has(in.status().message(), root + "/kho/in/fdt")) << in.status().ToString();
  }
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  WriteKhoIn(root, good, {{"LUO", LuoFdt(2) + mib}});
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  ASSERT_TRUE(in.ok()) << in.status().ToString();
  ASSERT_EQ(in->subtrees.size(), 1u);
  EXPECT_TRUE(Has(in->subtrees[0].problem, "more than its header declares"))
      << in->subtrees[0].problem;
  Result<std::string> sub = ReadKhoIncomingSubFdt(root, "LUO");
  EXPECT_EQ(sub.status().code(), Status::Code::kCorruption) << sub.status().ToString();
  // A sub-blob that is no FDT (kho-v2 carries such) is named from its head, not read.
  const TempDir other("kho-test");
  WriteKhoIn(other.path(), good, {{"LUO", "not an FDT" + mib}});
  Result<KhoIncoming> listed = ReadKhoIncoming(other.path());
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->subtrees.size(), 1u);
  EXPECT_EQ(listed->subtrees[0].problem.rfind("not an FDT: bad magic", 0), 0u)
      << listed->subtrees[0].problem;
  EXPECT_TRUE(listed->subtrees[0].exposed) << "it is there, only not read";
}

TEST(KhoIncomingTest, InDirectoryWithoutItsFdtIsCorruption) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  ASSERT_TRUE(MakeDirs(root + "/kho/in/sub_fdts", 0700).ok());
  Result<KhoIncoming> in = ReadKhoIncoming(root);
  EXPECT_EQ(in.status().code(), Status::Code::kCorruption) << in.status().ToString();
  EXPECT_TRUE(Has(in.status().message(), root + "/kho/in/fdt is missing"))
      << in.status().ToString();
}

TEST(KhoIncomingTest, SubFdtReaderTakesWhatTheRootListsBack) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  const std::string luo = LuoFdt(5);
  WriteKhoIn(root, KhoRootFdt("kho-v1", {{"LUO"}}), {{"LUO", luo + std::string(64, '\0')}});
  Result<std::string> r = ReadKhoIncomingSubFdt(root, "LUO");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, luo);  // trimmed to totalsize
}

// A sub-FDT whose header fdt_check_header accepts but whose structure block is
// broken is refused by the structure walk (docs/FORMAT.md "FDT structure rules"),
// never handed to a caller whose libfdt accessors would walk it.
TEST(KhoIncomingTest, SubFdtWithBrokenStructureIsRefused) {
  const std::string good = LuoFdt(5);
  const uint32_t off = fdt_off_dt_struct(good.data());
  const uint32_t struct_size = fdt_size_dt_struct(good.data());
  // The root's FDT_BEGIN_NODE made FDT_END_NODE: a node closed that was never opened.
  std::string end_outside = good;
  end_outside[off + 3] = FDT_END_NODE;
  // The first property (the root's `compatible`, after the root's 8-byte
  // BEGIN_NODE and empty name) claims a value longer than the structure block.
  std::string long_prop = good;
  ASSERT_EQ(fdt32_ld(reinterpret_cast<const fdt32_t*>(good.data() + off + 8)), FDT_PROP);
  long_prop[off + 12] = 0x7f;
  // A property name offset past the strings block.
  std::string bad_name = good;
  bad_name[off + 16] = 0x7f;
  const std::pair<std::string, std::string> cases[] = {
      {end_outside, "at byte 0x40: FDT_END_NODE outside any node"},
      {long_prop, "property value of " + std::to_string(0x7f000007u) +
                      " bytes runs past the structure block (" +
                      std::to_string(struct_size - 8 - 12) + " bytes left)"},
      {bad_name, "outside the strings block"},
  };
  ASSERT_EQ(off, 0x40u) << "libfdt's layout: header, reserve map at 48, structure at 64";
  for (const auto& [fdt, says] : cases) {
    ASSERT_EQ(fdt_check_header(fdt.data()), 0) << "only the structure is broken";
    const TempDir tmp("kho-test");
    const std::string root = tmp.path();
    WriteKhoIn(root, KhoRootFdt("kho-v1", {{"LUO"}}), {{"LUO", fdt}});
    Result<std::string> r = ReadKhoIncomingSubFdt(root, "LUO");
    ASSERT_FALSE(r.ok()) << says << ": a broken sub-FDT was accepted";
    EXPECT_EQ(r.status().code(), Status::Code::kCorruption) << r.status().ToString();
    EXPECT_TRUE(Has(r.status().message(), root + "/kho/in/sub_fdts/LUO: malformed structure: "))
        << r.status().ToString();
    EXPECT_TRUE(Has(r.status().message(), says)) << r.status().ToString() << " wanted " << says;
  }
}

}  // namespace
}  // namespace khod
