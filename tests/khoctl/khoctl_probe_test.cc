// khoctl probe --debugfs DIR: the KHO tree a kexec handed this kernel, read
// from a tree built like debugfs shows it; absent and malformed trees are
// reported, the probe itself still succeeds.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "khoctl/probe_report.pb.h"
#include "tests/support/fixture.h"
#include "tests/support/kho_tree.h"

namespace khod {
namespace {

struct Out {
  int code = -1;
  std::string text;
};

Out Khoctl(const std::string& args) {
  Out o;
  FILE* p = ::popen(("timeout 20 khoctl/khoctl " + args + " 2>&1").c_str(), "r");
  if (!p) return o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) o.text.append(buf, n);
  const int st = ::pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

bool Has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// khoctl probe --json's line as its message (khoctl/probe_report.proto).
khoctl::v1::ProbeReport Report(const std::string& json) {
  khoctl::v1::ProbeReport r;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json, &r);
  EXPECT_TRUE(parsed.ok()) << parsed.message() << ": " << json;
  return r;
}

TEST(KhoctlProbeTest, ListsTheIncomingKhoTree) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  WriteKhoIn(root, KhoRootFdt("kho-v1", {{"LUO"}}), {{"LUO", LuoFdt(4)}});
  Out o = Khoctl("probe --debugfs " + root);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o.text, "\nkho_incoming      KHO incoming FDT: ")) << o.text;
  EXPECT_TRUE(Has(o.text, ", compatible kho-v1, sub-FDTs: LUO (luo-v1, ")) << o.text;
  o = Khoctl("probe --json --debugfs " + root);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(o.text.find('\n'), o.text.size() - 1) << "one line: " << o.text;
  khoctl::v1::ProbeReport r = Report(o.text);
  EXPECT_TRUE(r.kho_incoming().present()) << o.text;
  EXPECT_EQ(r.kho_incoming().summary().rfind("KHO incoming FDT: ", 0), 0u) << o.text;
  EXPECT_EQ(r.kho_incoming().compatible(), "kho-v1");
  ASSERT_EQ(r.kho_incoming().sub_fdts_size(), 1) << o.text;
  EXPECT_EQ(r.kho_incoming().sub_fdts(0).name(), "LUO");
  EXPECT_EQ(r.kho_incoming().sub_fdts(0).compatible(), "luo-v1");
  EXPECT_EQ(r.kho_incoming().error(), "");
}

TEST(KhoctlProbeTest, AbsentAndMalformedTreesAreReported) {
  const TempDir tmp("kho-test");
  const std::string root = tmp.path();
  Out o = Khoctl("probe --debugfs " + root);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o.text, "kho_incoming      KHO incoming FDT: none (" + root + "/kho/in missing"))
      << o.text;
  WriteKhoIn(root, KhoRootFdt("", {}), {});
  o = Khoctl("probe --debugfs " + root);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_TRUE(Has(o.text, "kho_incoming      unusable: Corruption: " + root +
                              "/kho/in/fdt: KHO incoming FDT has no compatible on its root node"))
      << o.text;
  o = Khoctl("probe --json --debugfs " + root);
  EXPECT_EQ(o.code, 0) << o.text;
  EXPECT_EQ(Report(o.text).kho_incoming().error(),
            "Corruption: " + root +
                "/kho/in/fdt: KHO incoming FDT has no compatible on its root node "
                "(KHO writes \"kho-v1\")")
      << o.text;
}

}  // namespace
}  // namespace khod
