// daemon/metrics_exposition: khod's Prometheus text, checked line by line by
// a parser of the exposition format (every sample belongs to a family with
// HELP and TYPE, names and labels well formed, values numbers), and for what
// it must not claim.
#include "daemon/metrics_exposition.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace khod {
namespace {

// sample "name{labels}" -> value; fails the test on a malformed line.
std::map<std::string, double> ParseExposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP (khod_[a-z_]+) \S.*)");
  static const std::regex kType(R"(# TYPE (khod_[a-z_]+) (gauge|counter))");
  static const std::regex kSample(
      R"((khod_[a-z_]+)(\{[a-z_]+="[A-Za-z_]*"(,[a-z_]+="[A-Za-z_]*")*\})? (\S+))");
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string helped;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kHelp)) {
      EXPECT_EQ(types.count(m[1]), 0u) << "family declared twice: " << line;
      helped = m[1];
    } else if (std::regex_match(line, m, kType)) {
      EXPECT_EQ(m[1], helped) << "TYPE without its HELP: " << line;
      types[m[1]] = m[2];
    } else if (std::regex_match(line, m, kSample)) {
      EXPECT_EQ(types.count(m[1]), 1u) << "sample of an undeclared family: " << line;
      EXPECT_EQ(m[1], helped) << "sample outside its family's block: " << line;
      if (types[m[1]] == "counter") {
        EXPECT_EQ(std::string(m[1]).substr(std::string(m[1]).size() - 6), "_total") << line;
      }
      char* end = nullptr;
      const std::string v = m[4];
      double d = std::strtod(v.c_str(), &end);
      EXPECT_EQ(*end, '\0') << "value is not a number: " << line;
      EXPECT_EQ(samples.count(m[1].str() + m[2].str()), 0u) << "duplicate sample: " << line;
      samples[m[1].str() + m[2].str()] = d;
    } else {
      ADD_FAILURE() << "not exposition format: '" << line << "'";
    }
  }
  return samples;
}

v1::StatusReply Prepared() {
  v1::StatusReply s;
  s.set_phase(v1::PREPARED);
  s.set_generation(4);
  s.set_prepared_blob_bytes(4096);
  s.set_recovery("new session (no record in /var/lib/khod)");
  auto* d = s.add_durations();
  d->set_phase(v1::PREPARED);
  d->set_nanos(2500000);
  auto* g = s.add_gmems();
  g->set_provenance("kernel");
  g->set_size(1 << 20);
  g = s.add_gmems();
  g->set_provenance("model");
  g->set_size(1ull << 40);
  return s;
}

TEST(MetricsExpositionTest, PreparedSessionShowsPhaseDurationsBlobsAndGmems) {
  std::map<std::string, double> m = ParseExposition(RenderMetrics(Prepared(), nullptr));
  EXPECT_EQ(m["khod_phase{phase=\"PREPARED\"}"], 1);
  EXPECT_EQ(m["khod_phase{phase=\"IDLE\"}"], 0);
  EXPECT_EQ(m["khod_phase_transition_seconds{phase=\"PREPARED\"}"], 0.0025);
  EXPECT_EQ(m["khod_blob_bytes{blob=\"prepared\"}"], 4096);
  EXPECT_EQ(m["khod_gmems{provenance=\"kernel\"}"], 1);
  EXPECT_EQ(m["khod_gmem_bytes{provenance=\"model\"}"], 1099511627776.0);
  EXPECT_EQ(m["khod_reexecs_total"], 0);
  EXPECT_EQ(m["khod_recoveries_total{outcome=\"resumed\"}"], 0);
  // Not observed yet: no blackout, no verdict.
  EXPECT_EQ(m.count("khod_blackout_seconds"), 0u);
  EXPECT_EQ(m.count("khod_verify_verdict{verdict=\"equal\"}"), 0u);
}

TEST(MetricsExpositionTest, BlackoutOnlyOnceVerifiedAndCountsTheReexecSteps) {
  v1::StatusReply s = Prepared();
  s.set_phase(v1::RESTORED);
  for (v1::Phase p : {v1::FROZEN, v1::HANDED_OVER, v1::RESTORED}) {
    auto* d = s.add_durations();
    d->set_phase(p);
    d->set_nanos(1000000);
  }
  s.mutable_reexec_timeline()->set_exec_nanos(3000000);
  s.set_exec_count(1);
  s.set_recovery("resumed HANDED_OVER after reexec: adopted 1 fds");
  std::map<std::string, double> m = ParseExposition(RenderMetrics(s, nullptr));
  EXPECT_EQ(m.count("khod_blackout_seconds"), 0u);
  EXPECT_EQ(m["khod_reexec_step_seconds{step=\"exec\"}"], 0.003);
  EXPECT_EQ(m["khod_reexecs_total"], 1);
  EXPECT_EQ(m["khod_recoveries_total{outcome=\"resumed\"}"], 0);  // a reexec is no recovery

  s.set_phase(v1::VERIFIED);
  auto* d = s.add_durations();
  d->set_phase(v1::VERIFIED);
  d->set_nanos(1000000);
  v1::VerifyReply v;
  v.set_equal(true);
  v.set_verdict("EQUAL");
  v.set_real_pages_compared(256);
  v.set_pages_equal(256);
  m = ParseExposition(RenderMetrics(s, &v));
  // freeze + handover + restore + verify (4 ms) + the exec step (3 ms); not Prepare.
  EXPECT_DOUBLE_EQ(m["khod_blackout_seconds"], 0.007);
  EXPECT_EQ(m["khod_verify_verdict{verdict=\"equal\"}"], 1);
  EXPECT_EQ(m["khod_verify_pages{result=\"equal\"}"], 256);
  EXPECT_EQ(m["khod_verify_differences"], 0);
  EXPECT_EQ(m["khod_verify_pages_compared{provenance=\"kernel\"}"], 256);
}

TEST(MetricsExpositionTest, NotVerifiedIsNeverShownAsEqual) {
  v1::VerifyReply v;
  v.set_verdict("NOT VERIFIED");
  v.set_pages_equal(10);
  v.set_pages_unverified(65536);
  std::map<std::string, double> m = ParseExposition(RenderMetrics(Prepared(), &v));
  EXPECT_EQ(m["khod_verify_verdict{verdict=\"not_verified\"}"], 1);
  EXPECT_EQ(m["khod_verify_verdict{verdict=\"equal\"}"], 0);
  EXPECT_EQ(m["khod_verify_pages{result=\"unverified\"}"], 65536);
  EXPECT_EQ(m["khod_verify_pages{result=\"equal\"}"], 10);
}

// A Verify that found 3000 differences lists 1000 of them and one "(list
// cut)" entry saying how many there were (verify/snapshot_diff.cc): the
// metric counts the differences, not the entries.
TEST(MetricsExpositionTest, DifferencesPastACutListAreCounted) {
  v1::VerifyReply v;
  v.set_verdict("DIFFERENT");
  for (int i = 0; i < 1000; ++i) v.add_differences()->set_field("folios page " + std::to_string(i));
  v1::Difference* cut = v.add_differences();
  cut->set_field("(list cut)");
  cut->set_expected("1000 shown");
  cut->set_found("3000 differences in all");
  std::map<std::string, double> m = ParseExposition(RenderMetrics(Prepared(), &v));
  EXPECT_EQ(m["khod_verify_differences"], 3000);
  // A list not cut: its entries.
  v.mutable_differences()->RemoveLast();
  m = ParseExposition(RenderMetrics(Prepared(), &v));
  EXPECT_EQ(m["khod_verify_differences"], 1000);
}

TEST(MetricsExpositionTest, RecoveryOutcomeFromTheSessionsWords) {
  v1::StatusReply s = Prepared();
  s.set_recovery("rolled back FROZEN -> PREPARED: the handover had not been made");
  std::map<std::string, double> m = ParseExposition(RenderMetrics(s, nullptr));
  EXPECT_EQ(m["khod_recoveries_total{outcome=\"rolled_back\"}"], 1);
  EXPECT_EQ(m["khod_recoveries_total{outcome=\"resumed\"}"], 0);
  s.set_recovery("resumed PREPARED (1 gmems re-taken)");
  m = ParseExposition(RenderMetrics(s, nullptr));
  EXPECT_EQ(m["khod_recoveries_total{outcome=\"resumed\"}"], 1);
}

}  // namespace
}  // namespace khod
