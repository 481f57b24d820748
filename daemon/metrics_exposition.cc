#include "daemon/metrics_exposition.h"

#include <cstdio>
#include <cstdlib>
#include <map>

#include "verify/verify_reply.h"

namespace khod {

namespace {

// One metric family: its HELP and TYPE lines, then its samples.
class Family {
 public:
  Family(std::string* out, const char* name, const char* type, const char* help)
      : out_(out), name_(name) {
    *out_ += std::string("# HELP ") + name + " " + help + "\n";
    *out_ += std::string("# TYPE ") + name + " " + type + "\n";
  }
  // `labels` as written between the braces ("phase=\"IDLE\""), or empty.
  Family& Sample(const std::string& labels, double value) {
    // The shortest of 15 or 17 digits that reads back as the same double.
    char v[64];
    std::snprintf(v, sizeof(v), "%.15g", value);
    if (std::strtod(v, nullptr) != value) std::snprintf(v, sizeof(v), "%.17g", value);
    *out_ += name_;
    if (!labels.empty()) *out_ += "{" + labels + "}";
    *out_ += std::string(" ") + v + "\n";
    return *this;
  }

 private:
  std::string* out_;
  std::string name_;
};

// Label values here are enum names and khod's own words: no quoting needed
// beyond what these characters allow.
std::string Label(const char* key, const std::string& value) {
  return std::string(key) + "=\"" + value + "\"";
}

double Seconds(uint64_t nanos) { return static_cast<double>(nanos) / 1e9; }

// Phases a live update moves through while the guests are paused.
bool InBlackout(v1::Phase p) {
  return p == v1::FROZEN || p == v1::HANDED_OVER || p == v1::RESTORED || p == v1::VERIFIED;
}

// The session's recovery() text opens with what khod did with the record at
// start: "new session", "resumed ..." or "rolled back ..."; a reexec's new
// khod says "resumed HANDED_OVER after reexec" (a handover, not a recovery).
std::string RecoveryOutcome(const std::string& recovery) {
  if (recovery.find(" after reexec") != std::string::npos) return "";
  if (recovery.rfind("rolled back", 0) == 0) return "rolled_back";
  if (recovery.rfind("resumed", 0) == 0) return "resumed";
  return "";
}

// VerifyReply.verdict ("EQUAL", "DIFFERENT", "NOT VERIFIED") as a label value.
std::string VerdictLabel(const v1::VerifyReply& v) {
  if (v.verdict() == "EQUAL") return "equal";
  if (v.verdict() == "DIFFERENT") return "different";
  if (v.verdict() == "NOT VERIFIED") return "not_verified";
  return v.differences_size() > 0 ? "different" : "";  // a reply without a verdict: never "equal"
}

}  // namespace

std::string RenderMetrics(const v1::StatusReply& s, const v1::VerifyReply* last_verify) {
  std::string out;
  {
    Family f(&out, "khod_phase", "gauge",
             "Phase of the live-update session: 1 for the current phase, 0 for the others.");
    for (int p = v1::IDLE; p <= v1::FINISHED; ++p)
      f.Sample(Label("phase", v1::Phase_Name(static_cast<v1::Phase>(p))), p == s.phase() ? 1 : 0);
  }
  Family(&out, "khod_session_generation", "gauge",
         "Generation of the session record: bumps on every durable change.")
      .Sample("", static_cast<double>(s.generation()));

  std::map<v1::Phase, uint64_t> durations;
  for (const v1::PhaseDuration& d : s.durations()) durations[d.phase()] = d.nanos();
  if (!durations.empty()) {
    Family f(&out, "khod_phase_transition_seconds", "gauge",
             "Time khod took for the transition into each phase of the current live update.");
    for (const auto& [phase, nanos] : durations)
      f.Sample(Label("phase", v1::Phase_Name(phase)), Seconds(nanos));
  }
  if (s.has_reexec_timeline()) {
    const v1::ReexecTimeline& t = s.reexec_timeline();
    Family(&out, "khod_reexec_step_seconds", "gauge",
           "Steps of the reexec handover that started this khod: stop (old khod), exec, "
           "open (session), serve (gRPC).")
        .Sample(Label("step", "stop"), Seconds(t.stop_nanos()))
        .Sample(Label("step", "exec"), Seconds(t.exec_nanos()))
        .Sample(Label("step", "open"), Seconds(t.open_nanos()))
        .Sample(Label("step", "serve"), Seconds(t.serve_nanos()));
  }
  // Only once the update reached VERIFIED: before, part of it is not measured yet.
  if (durations.count(v1::VERIFIED) && durations.count(v1::RESTORED) &&
      durations.count(v1::FROZEN)) {
    uint64_t nanos = 0;
    for (const auto& [phase, n] : durations)
      if (InBlackout(phase)) nanos += n;
    if (s.has_reexec_timeline()) {
      const v1::ReexecTimeline& t = s.reexec_timeline();
      nanos += t.stop_nanos() + t.exec_nanos() + t.open_nanos() + t.serve_nanos();
    }
    Family(&out, "khod_blackout_seconds", "gauge",
           "khod's own time in the last live update while guests were paused: freeze, handover "
           "(and the reexec steps), restore and verify; the orchestrator's time between calls "
           "is not included.")
        .Sample("", Seconds(nanos));
  }
  Family(&out, "khod_blob_bytes", "gauge",
         "Size of the serialized snapshot blobs: the handover blob of Freeze and the capture "
         "of Prepare (0 when none).")
      .Sample(Label("blob", "handover"), static_cast<double>(s.blob_bytes()))
      .Sample(Label("blob", "prepared"), static_cast<double>(s.prepared_blob_bytes()));

  std::map<std::string, std::pair<uint64_t, uint64_t>> by_provenance;  // count, bytes
  for (const v1::GmemInfo& g : s.gmems()) {
    auto& c = by_provenance[g.provenance().empty() ? "unknown" : g.provenance()];
    c.first += 1;
    c.second += g.size();
  }
  {
    Family f(&out, "khod_gmems", "gauge",
             "guest_memfds in the session, by provenance (kernel: real memory; model: khod's "
             "MODEL).");
    for (const auto& [prov, c] : by_provenance) f.Sample(Label("provenance", prov), c.first);
    if (by_provenance.empty()) f.Sample(Label("provenance", "kernel"), 0);
  }
  {
    Family f(&out, "khod_gmem_bytes", "gauge",
             "Size of the guest_memfds in the session, by provenance.");
    for (const auto& [prov, c] : by_provenance)
      f.Sample(Label("provenance", prov), static_cast<double>(c.second));
    if (by_provenance.empty()) f.Sample(Label("provenance", "kernel"), 0);
  }

  if (last_verify) {
    const v1::VerifyReply& v = *last_verify;
    const std::string verdict = VerdictLabel(v);
    {
      Family f(&out, "khod_verify_verdict", "gauge",
               "Verdict of the last Verify this khod made, 1 for it: equal (everything observed "
               "and equal), different, not_verified (no difference where observable, parts not "
               "observed).");
      for (const char* name : {"equal", "different", "not_verified"})
        f.Sample(Label("verdict", name), verdict == name ? 1 : 0);
    }
    Family(&out, "khod_verify_pages", "gauge",
           "Pages of the last Verify: observed in full on both sides and equal, in a range "
           "found different, or not verified (not observed in full, or a PFN not seen).")
        .Sample(Label("result", "equal"), static_cast<double>(v.pages_equal()))
        .Sample(Label("result", "different"), static_cast<double>(v.pages_different()))
        .Sample(Label("result", "unverified"), static_cast<double>(v.pages_unverified()));
    // Every difference, also those past a list cut at its limit.
    Family(&out, "khod_verify_differences", "gauge",
           "Differences the last Verify found (each names a gmem and a field or page range), "
           "listed in its reply or not.")
        .Sample("", static_cast<double>(DifferenceCount(v)));
    Family(&out, "khod_verify_pages_compared", "gauge",
           "Resident pages (backed by a folio) the last Verify compared, real memory and MODEL "
           "apart.")
        .Sample(Label("provenance", "kernel"), static_cast<double>(v.real_pages_compared()))
        .Sample(Label("provenance", "model"), static_cast<double>(v.model_pages_compared()));
  }

  const std::string outcome = RecoveryOutcome(s.recovery());
  {
    Family f(&out, "khod_recoveries_total", "counter",
             "Session records this khod process resumed or rolled back when it started, after a "
             "restart or a crash (a reexec is counted in khod_reexecs_total).");
    f.Sample(Label("outcome", "resumed"), outcome == "resumed" ? 1 : 0);
    f.Sample(Label("outcome", "rolled_back"), outcome == "rolled_back" ? 1 : 0);
  }
  Family(&out, "khod_reexecs_total", "counter",
         "Reexec handovers the current session went through.")
      .Sample("", static_cast<double>(s.exec_count()));
  return out;
}

}  // namespace khod
