// khoctl synth / inspect / convert end to end: runs the built binary and
// checks exit codes and output, plus the JSON writer and flag parser they use.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "khoctl/flag_parser.h"
#include "khoctl/json_writer.h"
#include "serializer/serializer.h"
#include "tests/support/fixture.h"
#include "tests/support/golden_paths.h"

namespace khod {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A file of this test's, in a directory removed at exit.
std::string TmpPath(const std::string& name) {
  static const TempDir dir("inspect-test");
  return dir.Join(name);
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary) << data;
}

// Runs khoctl (from the test's runfiles) with `args` (shell words).
RunResult Khoctl(const std::string& args) {
  const std::string out = TmpPath("stdout"), err = TmpPath("stderr");
  const std::string cmd = "khoctl/khoctl " + args + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  return r;
}

// khoctl `args` with its stdout as `redirect` says (">/dev/full", ">&-").
RunResult KhoctlOutputTo(const std::string& args, const std::string& redirect) {
  const std::string err = TmpPath("stderr");
  const int status = std::system(("khoctl/khoctl " + args + " " + redirect + " 2>" + err).c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = Slurp(err);
  return r;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Everything after the first line (which names the format and blob size).
std::string AfterFirstLine(const std::string& s) { return s.substr(s.find('\n') + 1); }

class KhoctlTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RunResult r = Khoctl("synth -o " + Fdt() +
                         " --size 8G --backing 2m --vms 2 --gmems-per-vm 2 --shared-ranges 20 "
                         "--split-folios 3 --splits-in-progress 1 --seed 7");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string Fdt() { return TmpPath("guest.fdt"); }
};

TEST_F(KhoctlTest, HelpListsTheBlobCommands) {
  RunResult r = Khoctl("help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* c : {"inspect FILE", "convert FILE", "synth -o OUT"})
    EXPECT_TRUE(Contains(r.out, c)) << c;
}

// A command's argument error shows the usage `khoctl help` gives for it:
// each usage line has one home (khoctl/usage.h).
TEST_F(KhoctlTest, EveryArgumentErrorShowsTheUsageHelpGives) {
  RunResult help = Khoctl("help");
  ASSERT_EQ(help.exit_code, 0);
  std::map<std::string, std::set<std::string>> usages;  // command -> its usage lines
  // Each command is two lines: "  USAGE", then "      SUMMARY".
  std::istringstream lines(help.out);
  std::string usage;
  for (std::string line; std::getline(lines, line); usage = line)
    if (line.compare(0, 6, "      ") == 0 && usage.compare(0, 2, "  ") == 0 && usage[2] != ' ')
      usages[usage.substr(2, usage.find(' ', 2) - 2)].insert(usage.substr(2));
  ASSERT_GE(usages.size(), 15u) << help.out;
  for (const auto& [name, lines_of] : usages) {
    RunResult r = Khoctl(name + " --no-such-flag");
    EXPECT_EQ(r.exit_code, 2) << name << ": " << r.err;
    const size_t at = r.err.find("usage: khoctl ");
    ASSERT_NE(at, std::string::npos) << name << ": " << r.err;
    const std::string shown = r.err.substr(at + 14, r.err.find('\n', at) - at - 14);
    EXPECT_EQ(lines_of.count(shown), 1u) << name << " showed '" << shown << "', not in help";
  }
}

// What synth wrote is said on stderr, as capture says it: stdout stays free
// for -o /dev/stdout.
TEST_F(KhoctlTest, SynthReportsWhatItWrote) {
  RunResult r = Khoctl("synth -o " + TmpPath("one.pb") + " --format proto --size 1G --run-pages 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "proto blob")) << r.err;
  EXPECT_TRUE(Contains(r.err, "262144 extents")) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(Slurp(TmpPath("one.pb")).substr(0, 8), "KHODSNAP");
}

// `khoctl synth -o /dev/stdout | ...` and `khoctl convert ... -o /dev/stdout`:
// what reaches the pipe is the blob alone, decoded whole (before, the
// summary line followed the blob on stdout).
TEST_F(KhoctlTest, BlobWrittenToStdoutIsTheBlobAlone) {
  const std::string piped = TmpPath("piped"), err = TmpPath("piped_err");
  const auto through_pipe = [&](const std::string& args) {
    const std::string cmd = "bash -c 'khoctl/khoctl " + args + " -o /dev/stdout 2>" + err +
                            " | cat >" + piped + "; exit ${PIPESTATUS[0]}'";
    const int st = std::system(cmd.c_str());
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  };
  for (const std::string format : {"fdt", "proto"}) {
    ASSERT_EQ(through_pipe("synth --size 64M --seed 3 --format " + format), 0) << Slurp(err);
    EXPECT_TRUE(Contains(Slurp(err), "/dev/stdout: " + format + " blob, ")) << Slurp(err);
    const std::string blob = Slurp(piped);
    Snapshot snap;
    const Status decoded = DecodeAny(blob, &snap);
    EXPECT_TRUE(decoded.ok()) << format << ": " << decoded.ToString();
    const std::string file = TmpPath("synth." + format);
    ASSERT_EQ(Khoctl("synth -o " + file + " --size 64M --seed 3 --format " + format).exit_code, 0);
    EXPECT_EQ(blob.size(), Slurp(file).size()) << format;

    ASSERT_EQ(through_pipe("convert " + file + " --to " + format), 0) << Slurp(err);
    EXPECT_TRUE(Contains(Slurp(err), " -> /dev/stdout (" + format + ", ")) << Slurp(err);
    EXPECT_TRUE(DecodeAny(Slurp(piped), &snap).ok()) << format;
    EXPECT_EQ(Slurp(piped), Slurp(file)) << format;
  }
}

// Output no one received is an error, even past stdio's buffer (where it
// keeps no errno): exit 2 naming why, never 0 (before: exit 0, nothing written).
TEST_F(KhoctlTest, OutputThatCannotBeWrittenIsAnError) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full here";
  for (const std::string& args :
       {std::string("help"), "inspect " + Fdt(), "inspect --extents " + Fdt(),
        "inspect --json --extents " + Fdt()}) {
    RunResult r = KhoctlOutputTo(args, ">/dev/full");
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(r.err, "khoctl: cannot write the output: No space left on device\n") << args;
  }
  // Closed: the error is the fd's.
  RunResult r = KhoctlOutputTo("help", ">&-");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "khoctl: cannot write the output: Bad file descriptor\n");
}

TEST_F(KhoctlTest, InspectShowsEverySection) {
  RunResult r = Khoctl("inspect " + Fdt());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want :
       {"snapshot: fdt blob", "format version  1.3", "producer        khoctl synth",
        "kernel          synthetic", "page size       4096", "vms: 2", "guest_memfds: 4",
        "provenance synthetic  (NOT captured from the kernel)",
        "backing       hugetlb, hstate order 9 (2M)", "mempolicy     interleave nodes=0",
        "order 0  (  4K): 512", "order 9  (  2M)", "restructures  1 (1 in progress)", "IN PROGRESS",
        "layout 512x4K@0", "attributes    6 ranges", "flags GUEST_MEMFD",
        "list them with --extents"})
    EXPECT_TRUE(Contains(r.out, want)) << "missing '" << want << "' in:\n" << r.out;
  EXPECT_EQ(r.err, "");
}

TEST_F(KhoctlTest, ExtentsFlagListsEveryExtent) {
  RunResult r = Khoctl("inspect --extents " + Fdt());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t lines = 0;
  for (size_t pos = 0; (pos = r.out.find("extent index", pos)) != std::string::npos; ++pos) ++lines;
  // 4 gmems x 1024 extents of 2M; each of the 3 split folios adds one extent of 4K pages
  // in place of a 2M extent.
  EXPECT_EQ(lines, 4u * 1024u);
}

TEST_F(KhoctlTest, JsonCarriesTheSameContent) {
  RunResult r = Khoctl("inspect --json " + Fdt());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  EXPECT_EQ(r.out.front(), '{');
  EXPECT_EQ(r.out.substr(r.out.size() - 2), "}\n");
  for (const char* want :
       {"\"format\": \"fdt\"", "\"provenance\": \"synthetic\"", "\"backing\": \"hugetlb\"",
        "\"hstate_order\": 9", "\"in_progress\": true", "\"by_order\": {",
        "\"mode_name\": \"interleave\"", "\"page_size\": 4096", "\"ranges\": 6"})
    EXPECT_TRUE(Contains(r.out, want)) << "missing " << want;
}

TEST_F(KhoctlTest, ConvertRoundTripsBetweenFormats) {
  const std::string pb = TmpPath("guest.pb"), back = TmpPath("guest_back.fdt");
  RunResult r = Khoctl("convert " + Fdt() + " --to proto -o " + pb);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.err, "(fdt,")) << r.err;
  EXPECT_EQ(r.out, "");
  r = Khoctl("convert " + pb + " --to=fdt -o " + back);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Slurp(back), Slurp(Fdt())) << "fdt -> proto -> fdt is not byte-identical";
  // inspect auto-detects the format and shows the same content for both.
  RunResult from_fdt = Khoctl("inspect " + Fdt()), from_pb = Khoctl("inspect " + pb);
  ASSERT_EQ(from_pb.exit_code, 0) << from_pb.err;
  EXPECT_TRUE(Contains(from_pb.out, "snapshot: proto blob"));
  EXPECT_EQ(AfterFirstLine(from_fdt.out), AfterFirstLine(from_pb.out));
}

TEST_F(KhoctlTest, BadBlobsExitTwoWithAMessage) {
  const std::string blob = Slurp(Fdt());
  struct Case {
    const char* name;
    std::string data;
  };
  std::string flipped = blob;
  flipped[blob.size() / 2] ^= 0x40;
  for (const Case& c :
       {Case{"truncated", blob.substr(0, blob.size() / 3)}, Case{"garbage", std::string(4096, 'x')},
        Case{"empty", ""}, Case{"bitflip", flipped}}) {
    const std::string path = TmpPath(std::string("bad_") + c.name);
    WriteFile(path, c.data);
    RunResult r = Khoctl("inspect " + path);
    EXPECT_EQ(r.exit_code, 2) << c.name;
    EXPECT_TRUE(Contains(r.err, "khoctl inspect: ")) << c.name << ": " << r.err;
    EXPECT_TRUE(Contains(r.err, path + ": ")) << c.name << ": " << r.err;
    EXPECT_EQ(r.out, "") << c.name;
    r = Khoctl("convert " + path + " --to proto -o " + TmpPath("never"));
    EXPECT_EQ(r.exit_code, 2) << c.name;
  }
}

TEST_F(KhoctlTest, ArgumentErrorsSayWhatIsWrong) {
  struct Case {
    std::string args;
    const char* message;
  };
  const std::string f = Fdt();
  for (const Case& c : {
           Case{"inspect", "expected exactly one FILE"},
           Case{"inspect " + f + " --bogus", "unknown flag '--bogus'"},
           Case{"inspect /nonexistent/blob", "No such file"},
           Case{"convert " + f + " -o x", "missing --to"},
           Case{"convert " + f + " --to proto", "missing -o"},
           Case{"convert " + f + " --to xml -o x", "format 'xml' is not fdt or proto"},
           Case{"synth --size 1G", "missing -o"},
           Case{"synth -o x --size 1X", "unknown suffix 'X'"},
           Case{"synth -o x --size G", "must start with a number"},
           Case{"synth -o x --backing 8k", "backing '8k'"},
           Case{"synth -o x --vms two", "--vms 'two' is not an unsigned number"},
           Case{"synth -o x --vms 0", "--vms must be between 1"},
           Case{"synth -o x --format", "needs a value"},
           Case{"synth -o x --size 3M --backing 1g", "not a positive multiple"},
           Case{"synth -o x --split-folios 2", "HugeTLB"},
           Case{"synth -o x -o y", "given twice"},
           Case{"frobnicate", "unknown command"},
       }) {
    RunResult r = Khoctl(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args;
    EXPECT_TRUE(Contains(r.err, c.message)) << c.args << " -> " << r.err;
  }
}

// A small MODEL guest written through the serializer: few extents are listed
// without --extents, and provenance, unknown PFNs, hwpoison and mempolicy show.
TEST_F(KhoctlTest, ModelGuestShowsItsProvenanceAndDetails) {
  Snapshot s;
  s.header.producer = "khod test";
  s.header.kernel_release = "6.18.0";
  s.header.boot_id = "b00t";
  GuestMemfd g;
  g.token = 0x2a;
  g.name = "model-guest";
  g.provenance = Provenance::kModel;
  g.size = 64 * 4096;
  g.flags = 3;
  g.policy = Mempolicy{2, 1u << 15, {0x5}, 2};
  g.folios = {{0, 0x1000, 8, 0, kFolioUptodate}, {8, kPfnUnknown, 4, 0, kFolioHwpoison}};
  g.attributes.Set(0, 8, kAttrPrivate);
  g.hashes = {{0, 8, 0x1234}};
  s.gmems.push_back(g);
  std::string blob;
  ASSERT_TRUE(Encode(s, BlobFormat::kProto, &blob).ok());
  const std::string path = TmpPath("model.khodsnap");
  WriteFile(path, blob);
  RunResult r = Khoctl("inspect " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want :
       {"provenance MODEL  (NOT captured from the kernel)", "vm none",
        "flags         MMAP|INIT_SHARED", "mempolicy     bind static nodes=0,2 home=2",
        "1 extents with unknown PFN", "4 hwpoison pages",
        "extent index 0x8 pfn unknown  4 x order 0  hwpoison",
        "extent index 0x0 pfn 0x1000  8 x order 0  uptodate", "8 private pages",
        "content hashes 1"})
    EXPECT_TRUE(Contains(r.out, want)) << "missing '" << want << "' in:\n" << r.out;
  r = Khoctl("inspect --json " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"provenance\": \"MODEL\""));
  EXPECT_TRUE(Contains(r.out, "\"first_pfn\": null"));
}

// A blob's texts reach root's terminal through inspect: a name an older khod
// took with a C1 control and a bidi override (the stored rule allows them,
// state/text_rule.h) is printed escaped, never as the bytes that move the
// cursor or reorder the line.
TEST(KhoctlInspectTexts, InspectEscapesTheBlobsTexts) {
  Snapshot s;
  s.header.producer = "khod\xe2\x80\xae";
  s.header.kernel_release = "6.18.0";
  s.header.boot_id = "b00t";
  GuestMemfd g;
  g.token = 0x2a;
  g.name =
      "vm0\xe2\x80\xae"
      "DEGROF\xc2\x9b"
      "31m";
  g.provenance = Provenance::kModel;
  g.size = 64 * 4096;
  s.gmems.push_back(g);
  std::string blob;
  ASSERT_TRUE(Encode(s, BlobFormat::kProto, &blob).ok());
  const std::string path = TmpPath("escaped.khodsnap");
  WriteFile(path, blob);
  RunResult r = Khoctl("inspect " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out, "\"vm0\\xe2\\x80\\xaeDEGROF\\xc2\\x9b31m\"")) << r.out;
  EXPECT_TRUE(Contains(r.out, "producer        khod\\xe2\\x80\\xae")) << r.out;
  for (char c : r.out) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << static_cast<int>(c);
}

TEST(JsonWriter, NestsAndEscapes) {
  JsonWriter w;
  w.BeginObject();
  w.Key("name").String("a\"b\\c\n\x01");
  w.Key("list").BeginArray();
  w.Uint(1);
  w.Int(-2);
  w.Bool(false);
  w.Null();
  w.Hex(255);
  w.EndArray();
  w.Key("empty").BeginObject();
  w.EndObject();
  w.EndObject();
  EXPECT_EQ(w.str(),
            "{\n  \"name\": \"a\\\"b\\\\c\\n\\u0001\",\n  \"list\": [\n    1,\n    -2,\n"
            "    false,\n    null,\n    \"0xff\"\n  ],\n  \"empty\": {}\n}\n");
}

TEST(FlagParser, ValuesAliasesAndPositionals) {
  Result<ParsedFlags> f = ParseFlags({"a", "-o", "out", "--n=5", "--json", "--", "--x"},
                                     {{"--out", true, "-o"}, {"--n", true}, {"--json", false}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->Get("--out"), "out");
  EXPECT_EQ(*f->GetUint("--n", 0), 5u);
  EXPECT_EQ(*f->GetUint("--missing", 9), 9u);
  EXPECT_TRUE(f->Has("--json"));
  EXPECT_EQ(f->positionals(), (std::vector<std::string>{"a", "--x"}));
  EXPECT_FALSE(ParseFlags({"--json=1"}, {{"--json", false}}).ok());
  EXPECT_FALSE(
      ParseFlags({"--n", "99999999999999999999"}, {{"--n", true}})->GetUint("--n", 0).ok());
}

// The 1.1 golden: inspect shows which flag bits the kernel showed, where each
// policy was read (VMM mappings with their ranges) and per-range visibility.
TEST(KhoctlInspectObservation, ShowsFlagsKnownPolicySourceAndVisibility) {
  const std::string golden = GoldenPath(kSnapshotGoldenDir, "snapshot_v1_1.khodsnap");
  RunResult r = Khoctl("inspect " + golden);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out,
                       "mempolicy     per VMM mapping (the file has no shared policy): 2  (they "
                       "place none of a guest_memfd's pages"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "pages 0x0 +0x400  pid 4242 mapping at 0x7f118de1e000  interleave"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "visibility    100 of 1024 pages not fully observed")) << r.out;
  EXPECT_TRUE(Contains(r.out, "pages 0x64 +0x64  initialized-only")) << r.out;
  EXPECT_TRUE(Contains(r.out, "INIT_SHARED not shown by the kernel: not claimed")) << r.out;
  EXPECT_TRUE(Contains(r.out, "mempolicy     unknown (not observed)")) << r.out;
  EXPECT_TRUE(Contains(r.out, "pages 0x0 +0x200  none")) << r.out;
  EXPECT_TRUE(Contains(r.out, "(the file's shared policy)")) << r.out;  // the shmem memfd
  RunResult j = Khoctl("inspect --json " + golden);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_TRUE(Contains(j.out, "\"policy_source\": \"vmm-mappings\"")) << j.out;
  EXPECT_TRUE(Contains(j.out, "\"flags_known\": \"0x1\"")) << j.out;
  EXPECT_TRUE(Contains(j.out, "\"unobserved_pages\": 512")) << j.out;
  EXPECT_TRUE(Contains(j.out, "\"visibility\": \"initialized-only\"")) << j.out;
  EXPECT_TRUE(Contains(j.out, "\"start_address\": \"0x7f1190000000\"")) << j.out;
  // A 1.0 blob: every page observed, but its producer saw no guest_memfd flag
  // bit and read the policy at one page (serializer/older_minors.h).
  RunResult old = Khoctl("inspect " + GoldenPath(kSnapshotGoldenDir, "snapshot_v1_0.fdt"));
  ASSERT_EQ(old.exit_code, 0) << old.err;
  EXPECT_TRUE(Contains(old.out, "visibility    full")) << old.out;
  EXPECT_TRUE(Contains(old.out, "MMAP|INIT_SHARED not shown by the kernel: set as declared"))
      << old.out;
  EXPECT_TRUE(
      Contains(old.out, "mempolicy     unknown (not observed: format 1.0: read at one page"))
      << old.out;
}

// The 1.2 golden: a home node seen is shown, one not seen says so (a 1.1
// blob's kernel bind policy reads as not seen too); its kernel memfd's policy,
// read at one page, is not the file's. The 1.3 golden's is, home node and all.
TEST(KhoctlInspectObservation, ShowsWhetherEachHomeNodeWasSeen) {
  RunResult r = Khoctl("inspect " + GoldenPath(kSnapshotGoldenDir, "snapshot_v1_2.khodsnap"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(Contains(r.out,
                       "pid 4242 mapping at 0x7f1190000000  bind static nodes=0,64 "
                       "home=0"))
      << r.out;
  EXPECT_TRUE(Contains(r.out, "mempolicy     unknown (not observed: format 1.2: read at one page"))
      << r.out;
  RunResult now = Khoctl("inspect " + GoldenPath(kSnapshotGoldenDir, "snapshot_v1_3.khodsnap"));
  ASSERT_EQ(now.exit_code, 0) << now.err;
  EXPECT_TRUE(Contains(now.out, "bind nodes=0 home=0  (the file's shared policy)")) << now.out;
  RunResult j =
      Khoctl("inspect --json " + GoldenPath(kSnapshotGoldenDir, "snapshot_v1_2.khodsnap"));
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_TRUE(Contains(j.out, "\"home_node_seen\": false")) << j.out;
  EXPECT_TRUE(Contains(j.out, "\"home_node\": 0")) << j.out;
  RunResult old = Khoctl("inspect " + GoldenPath(kSnapshotGoldenDir, "snapshot_v1_1.khodsnap"));
  ASSERT_EQ(old.exit_code, 0) << old.err;
  EXPECT_TRUE(Contains(old.out, "home=?")) << old.out;
}

}  // namespace
}  // namespace khod
