// khoctl/status_report.h on replies whose texts a hostile caller chose: what
// khoctl prints on root's terminal is printable ASCII, one line per line of
// the report, and nothing is cut (before, a member's gmem name with C1's CSI
// and a bidi override forged lines of `khoctl status`, and a 255-byte name
// pushed "owner uid 65534" out of a 256-byte line buffer). --json stays the
// reply as it is.
#include "khoctl/status_report.h"

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "verify/snapshot_diff.h"

namespace khod {
namespace {

// The audit's name: CSI 2J (clear), CSI H (home), a right-to-left override.
const std::string kForged =
    "vm0\xc2\x9b"
    "2J\xc2\x9bH\xe2\x80\xae"
    "FORGED";
const std::string kForgedShown = "vm0\\xc2\\x9b2J\\xc2\\x9bH\\xe2\\x80\\xaeFORGED";
// A C0 escape, a newline starting a forged line, and a backslash.
const std::string kNewline = "a\x1b[31m\nFAKE LINE\\";
const std::string kNewlineShown = "a\\x1b[31m\\x0aFAKE LINE\\x5c";

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

// Every line printable ASCII, none a forged one.
void ExpectPrintableLines(const std::string& text) {
  for (const std::string& line : Lines(text)) {
    for (const char c : line)
      EXPECT_TRUE(c >= 0x20 && c <= 0x7e)
          << "byte " << (static_cast<unsigned>(c) & 0xff) << " in line: " << line;
    EXPECT_NE(line.rfind("FAKE LINE", 0), 0u) << "a forged line: " << line;
  }
}

v1::StatusReply HostileStatus(const std::string& name) {
  v1::StatusReply s;
  s.set_phase(v1::IDLE);
  s.set_pid(42);
  s.set_recovery("recovered " + kNewline);
  s.set_kho_incoming("kho " + kNewline);
  s.set_last_verdict("EQUAL " + kForged);
  v1::GmemInfo* g = s.add_gmems();
  g->set_token(1);
  g->set_name(name);
  g->set_provenance("kernel");
  g->set_kind("shmem-memfd");
  g->set_size(1 << 20);
  g->set_owner_uid(65534);
  g->set_source("shmem-memfd fd 7 of pid 9 (/memfd:" + kNewline + " (deleted))");
  g->set_how("taken " + kForged);
  g->set_policy_note("note " + kNewline);
  v1::VmmPolicy* p = g->add_vmm_policies();
  p->set_first_page(0);
  p->set_pages(512);
  p->set_text("bind " + kNewline);
  return s;
}

TEST(StatusReportTest, ACallersNameIsShownEscapedAndForgesNoLine) {
  const std::string text = FormatStatus(HostileStatus(kForged));
  ExpectPrintableLines(text);
  EXPECT_NE(text.find("  1 '" + kForgedShown + "' kernel shmem-memfd 1.0 MiB"), std::string::npos)
      << text;
  EXPECT_NE(text.find("recovery     recovered " + kNewlineShown + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("      policy: note " + kNewlineShown + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("verdict      EQUAL " + kForgedShown + "\n"), std::string::npos) << text;
  EXPECT_EQ(Lines(text).size(), Lines(FormatStatus(HostileStatus("vm0"))).size()) << text;

  const std::string fds = FormatFds(HostileStatus(kForged));
  ExpectPrintableLines(fds);
  EXPECT_NE(fds.find("1      " + kForgedShown + " shmem-memfd    42       -      65534\n"),
            std::string::npos)
      << fds;
  EXPECT_NE(fds.find("policy for the VMM: gmem 1 pages 0-511 bind " + kNewlineShown + "\n"),
            std::string::npos)
      << fds;
  EXPECT_EQ(Lines(fds).size(), 3u) << fds;
}

// A name of the most bytes a name may have, escaped to four times that: the
// gmem's line goes on to its owner (before, the line was cut at 255 bytes and
// "owner uid 65534" was gone).
TEST(StatusReportTest, ALongNameCutsNothingFromItsLine) {
  for (const std::string& name : {std::string(255, 'x'), std::string(255, '\x9b')}) {
    const std::string text = FormatStatus(HostileStatus(name));
    ExpectPrintableLines(text);
    bool found = false;
    for (const std::string& line : Lines(text))
      if (line.rfind("  1 '", 0) == 0) {
        found = true;
        EXPECT_NE(line.find("' kernel shmem-memfd 1.0 MiB, 0 folio extents, owner uid 65534"),
                  std::string::npos)
            << line;
      }
    EXPECT_TRUE(found) << text;
    const std::string fds = FormatFds(HostileStatus(name));
    ExpectPrintableLines(fds);
    EXPECT_NE(fds.find(" shmem-memfd    42       -      65534\n"), std::string::npos) << fds;
  }
}

// What a plain reply looked like before is what it looks like now.
TEST(StatusReportTest, APlainReplyReadsAsBefore) {
  v1::StatusReply s;
  s.set_phase(v1::PREPARED);
  s.set_session_id(0x1234);
  s.set_generation(7);
  s.set_pid(42);
  s.set_exec_count(1);
  s.set_recovery("new session");
  s.set_kvm_available(true);
  v1::GmemInfo* g = s.add_gmems();
  g->set_token(3);
  g->set_name("vm0");
  g->set_provenance("kernel");
  g->set_kind("shmem-memfd");
  g->set_size(2 << 20);
  g->set_folio_extents(5);
  g->set_owner_uid(0);
  g->set_source("shmem-memfd fd 7 of pid 9 (/memfd:vm0 (deleted))");
  g->set_how("taken from fd 7 of pid 9");
  EXPECT_EQ(FormatStatus(s),
            "phase        PREPARED\n"
            "session      0000000000001234 (generation 7, khod pid 42, 1 reexecs)\n"
            "recovery     new session\n"
            "kvm          available\n"
            "owner        uid 0 (root)\n"
            "gmems        1\n"
            "  3 'vm0' kernel shmem-memfd 2.0 MiB, 5 folio extents, owner uid 0\n"
            "      shmem-memfd fd 7 of pid 9 (/memfd:vm0 (deleted))\n"
            "      how: taken from fd 7 of pid 9\n");
  EXPECT_EQ(FormatFds(s),
            "TOKEN  NAME             KIND           PID      FD     OWNER\n"
            "3      vm0              shmem-memfd    42       -      0\n");
}

// stdout while `print` runs.
std::string Stdout(const std::function<void()>& print) {
  std::fflush(stdout);
  const int saved = ::dup(STDOUT_FILENO);
  const int file = ::memfd_create("stdout", MFD_CLOEXEC);
  ::dup2(file, STDOUT_FILENO);
  print();
  std::fflush(stdout);
  ::dup2(saved, STDOUT_FILENO);
  ::close(saved);
  std::string out(static_cast<size_t>(::lseek(file, 0, SEEK_END)), '\0');
  EXPECT_EQ(::pread(file, out.data(), out.size(), 0), static_cast<ssize_t>(out.size()));
  ::close(file);
  return out;
}

// Verify's differences and the gmems it did not verify name what a caller
// chose: shown escaped; --json gives them as they are, JSON-escaped.
TEST(StatusReportTest, AVerifyReplyIsShownEscapedAndItsJsonIsExact) {
  v1::VerifyReply v;
  v.set_verdict("DIFFERENT");
  v1::Difference* d = v.add_differences();
  d->set_token(1);
  d->set_field("name " + kNewline);
  d->set_where("pages " + kForged);
  d->set_expected(kForged);
  d->set_found(kNewline);
  v1::UnverifiedGmem* u = v.add_unverified();
  u->set_token(2);
  u->set_name(kForged);
  u->set_pages(1);
  u->add_parts("part " + kNewline);
  const std::string text = FormatVerify(v);
  ExpectPrintableLines(text);
  EXPECT_NE(text.find("  gmem 0x1 'pages " + kForgedShown + "': name " + kNewlineShown +
                      ": expected " + kForgedShown + ", found " + kNewlineShown + "\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(kForgedShown + "': "), std::string::npos) << text;

  const std::string json = Stdout([&] { PrintVerifyReply(v, /*json=*/true); });
  v1::VerifyReply back;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok()) << json;
  EXPECT_EQ(back.SerializeAsString(), v.SerializeAsString()) << json;
  // Escaped by JSON itself: no raw newline inside, no C0 or C1 control.
  EXPECT_EQ(json.find('\n'), json.size() - 1) << json;
  EXPECT_EQ(json.find('\x1b'), std::string::npos) << json;
  EXPECT_EQ(json.find("\xc2\x9b"), std::string::npos) << json;
}

}  // namespace
}  // namespace khod

namespace khod {
namespace {

// A difference line is spelled as verify/snapshot_diff.h's Difference
// spells it, the gmem token in hex as the not-verified lines have it (before:
// "gmem 1507436" beside "not verified: gmem 0x17006c"); a snapshot-wide one
// (token 0) names no gmem; a list cut at its limit says so, once, as no
// difference (before: "gmem 0: (list cut): expected 1000 shown, found 1867
// differences in all").
TEST(StatusReportTest, DifferencesReadAsTheDiffSpellsThem) {
  v1::VerifyReply v;
  v.set_verdict("DIFFERENT");
  v.set_differences_found(1867);
  Difference canonical{true, 0x17006c, "ram0", "folios pages 256-511", "hole", "resident"};
  v1::Difference* d = v.add_differences();
  d->set_token(canonical.gmem_token);
  d->set_where(canonical.gmem_name);
  d->set_field(canonical.field);
  d->set_expected(canonical.expected);
  d->set_found(canonical.found);
  d = v.add_differences();
  d->set_field("header page_size");
  d->set_expected("4096");
  d->set_found("16384");
  for (int i = 2; i < 1000; ++i) *v.add_differences() = v.differences(0);
  d = v.add_differences();
  d->set_field(kListCut);
  d->set_expected("1000 shown");
  d->set_found("1867 differences in all");
  v1::UnverifiedGmem* u = v.add_unverified();
  u->set_token(0x17006c);
  u->set_name("ram0");
  u->add_parts("1 pages: x");
  const std::string text = FormatVerify(v);
  EXPECT_NE(text.find("\n  " + canonical.ToString() + "\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  gmem 0x17006c 'ram0': folios pages 256-511: expected hole, found "
                      "resident\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("  not verified: gmem 0x17006c 'ram0': "), std::string::npos) << text;
  EXPECT_NE(text.find("\n  header page_size: expected 4096, found 16384\n"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("gmem 0:"), std::string::npos) << text;
  EXPECT_EQ(text.find("gmem 1507436"), std::string::npos) << text;
  const std::string cut = "\n  (list cut: 1000 shown of 1867 differences)\n";
  ASSERT_GT(text.size(), cut.size());
  EXPECT_EQ(text.substr(text.size() - cut.size()), cut) << "the last line";
  EXPECT_EQ(text.find("(list cut):"), std::string::npos) << text;
}

}  // namespace
}  // namespace khod
