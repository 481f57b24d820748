#include "khoctl/status_report.h"

#include <cstdio>
#include <set>

#include "common/bytes.h"
#include "common/printable.h"
#include "daemon/reexec_timeline.h"
#include "khoctl/proto_json.h"
#include "verify/snapshot_diff.h"
#include "verify/verdict.h"
#include "verify/verify_counts.h"
#include "verify/verify_reply.h"

namespace khod {

std::string FormatNanos(uint64_t ns) {
  char b[32];
  if (ns >= 1000000000ull)
    std::snprintf(b, sizeof(b), "%.2f s", ns / 1e9);
  else if (ns >= 1000000ull)
    std::snprintf(b, sizeof(b), "%.2f ms", ns / 1e6);
  else
    std::snprintf(b, sizeof(b), "%.1f us", ns / 1e3);
  return b;
}

std::string FormatBytes(uint64_t n) { return HumanBytes(n); }

std::string SessionOwnerText(const v1::StatusReply& s) {
  std::set<uint32_t> owners;
  for (const auto& g : s.gmems())
    if (g.has_owner_uid()) owners.insert(g.owner_uid());
  std::string o;
  for (uint32_t uid : owners)
    o += (o.empty() ? "uid " : " and uid ") + std::to_string(uid) + (uid == 0 ? " (root)" : "");
  if (owners.size() > 1) o += " (a record of a khod before one owner a session)";
  return o;
}

std::string FormatStatus(const v1::StatusReply& s) {
  std::string o = "phase        " + v1::Phase_Name(s.phase()) + "\n";
  char id[32];
  std::snprintf(id, sizeof(id), "%016llx", static_cast<unsigned long long>(s.session_id()));
  o += std::string("session      ") + id + " (generation " + std::to_string(s.generation()) +
       ", khod pid " + std::to_string(s.pid()) + ", " + std::to_string(s.exec_count()) +
       " reexecs)\n";
  o += "recovery     " + EscapeNonPrintable(s.recovery()) + "\n";
  o += std::string("kvm          ") +
       (s.kvm_available() ? "available" : "missing (memfd stand-ins and MODEL guests)") + "\n";
  if (s.transport() != v1::TRANSPORT_UNSPECIFIED)
    o += "transport    " + v1::Transport_Name(s.transport()) + "\n";
  if (!s.kho_incoming().empty()) o += "kho          " + EscapeNonPrintable(s.kho_incoming()) + "\n";
  if (s.has_reexec_timeline())
    o += "reexec       " + EscapeNonPrintable(ReexecTimelineText(s.reexec_timeline())) + "\n";
  if (s.prepared_blob_bytes())
    o += "prepared     " + FormatBytes(s.prepared_blob_bytes()) + " (proto)\n";
  if (s.blob_bytes())
    o += "frozen blob  " + FormatBytes(s.blob_bytes()) + " (" +
         v1::BlobFormat_Name(s.blob_format()) + ")\n";
  for (const auto& d : s.durations())
    o += "  -> " + v1::Phase_Name(d.phase()) +
         std::string(14 - std::min<size_t>(13, v1::Phase_Name(d.phase()).size()), ' ') +
         FormatNanos(d.nanos()) + "\n";
  if (const std::string owner = SessionOwnerText(s); !owner.empty())
    o += "owner        " + owner + "\n";
  o += "gmems        " + std::to_string(s.gmems_size()) + "\n";
  for (const auto& g : s.gmems()) {
    o += "  " + std::to_string(g.token()) + " '" + EscapeNonPrintable(g.name()) + "' " +
         EscapeNonPrintable(g.provenance()) + " " + EscapeNonPrintable(g.kind()) + " " +
         FormatBytes(g.size()) + ", " + std::to_string(g.folio_extents()) + " folio extents" +
         (g.adopted() ? ", adopted" : "");
    // Where the restarted VMM takes it back (pidfd_getfd), RESTORED until Finish.
    if (g.khod_fd()) o += ", khod fd " + std::to_string(g.khod_fd());
    // Who attached it (an older khod does not say).
    if (g.has_owner_uid()) o += ", owner uid " + std::to_string(g.owner_uid());
    o += "\n";
    o += "      " + EscapeNonPrintable(g.source()) + "\n";
    if (!g.how().empty() && g.how() != g.source())
      o += "      how: " + EscapeNonPrintable(g.how()) + "\n";
    if (!g.policy_note().empty())
      o += "      policy: " + EscapeNonPrintable(g.policy_note()) + "\n";
  }
  if (!s.last_verdict().empty()) o += "verdict      " + EscapeNonPrintable(s.last_verdict()) + "\n";
  return o;
}

std::string FormatFds(const v1::StatusReply& s) {
  // Left-aligned in `width` columns, as printf's %-Ns: a longer text is
  // never cut, it pushes the rest of the line on.
  const auto column = [](const std::string& text, size_t width) {
    return text.size() >= width ? text + " " : text + std::string(width - text.size() + 1, ' ');
  };
  std::string o = column("TOKEN", 6) + column("NAME", 16) + column("KIND", 14) + column("PID", 8) +
                  column("FD", 6) + "OWNER\n";
  for (const auto& g : s.gmems()) {
    const std::string kind = g.provenance() == "MODEL" ? "MODEL" : EscapeNonPrintable(g.kind());
    const std::string fd = g.khod_fd() ? std::to_string(g.khod_fd()) : "-";
    const std::string owner = g.has_owner_uid() ? std::to_string(g.owner_uid()) : "?";
    o += column(std::to_string(g.token()), 6) +
         column(g.name().empty() ? "-" : EscapeNonPrintable(g.name()), 16) + column(kind, 14) +
         column(std::to_string(s.pid()), 8) + column(fd, 6) + owner + "\n";
  }
  // What the VMM must mbind on its own mappings: the policy is not in the file.
  for (const auto& g : s.gmems())
    for (const auto& p : g.vmm_policies())
      o += "policy for the VMM: gmem " + std::to_string(g.token()) + " pages " +
           std::to_string(p.first_page()) + "-" + std::to_string(p.first_page() + p.pages() - 1) +
           " " + EscapeNonPrintable(p.text()) + "\n";
  return o;
}

std::string FormatVerify(const v1::VerifyReply& v) {
  const Verdict verdict = VerdictOf(v);
  std::string o = std::string(VerdictName(verdict)) + ": ";
  if (verdict == Verdict::kNotVerified) o += "no difference where observable; ";
  if (v.pages_compared() && !v.real_pages_compared() && !v.model_pages_compared()) {
    // A khod from before the split: its totals mix real and MODEL pages.
    o += std::to_string(v.pages_compared()) + " pages compared, " +
         std::to_string(v.pfns_compared()) + " PFNs (real and MODEL together), " +
         std::to_string(v.hashes_compared()) + " content hashes\n";
  } else {
    VerifyCounts c;
    c.real_pages = v.real_pages_compared();
    c.real_pfns = v.real_pfns_compared();
    c.real_hashes = v.real_hashes_compared();
    c.real_kinds = EscapeNonPrintable(v.real_kinds());
    c.real_unobserved_kinds = EscapeNonPrintable(v.real_unobserved_kinds());
    c.real_flags_carried = v.real_flags_carried();
    c.real_pages_witnessed = v.real_pages_witnessed();
    c.real_pages_walked = v.real_pages_walked();
    c.vmm_policies_from_vmas = v.vmm_policies_from_vmas();
    c.vmm_policies_from_numa_maps = v.vmm_policies_from_numa_maps();
    c.model_pages = v.model_pages_compared();
    c.model_hashes = v.model_hashes_compared();
    o += VerifyCountsText(c, verdict != Verdict::kDifferent) + "\n";
  }
  if (v.pages_equal() || v.pages_different() || v.pages_unverified())
    o += "  pages: " + std::to_string(v.pages_equal()) + " equal, " +
         std::to_string(v.pages_different()) + " different, " +
         std::to_string(v.pages_unverified()) + " not verified\n";
  for (const UnverifiedGmem& u : UnverifiedOf(v))
    o += "  not verified: " + EscapeNonPrintable(u.ToString()) + "\n";
  for (const auto& d : v.differences()) {
    // The entry ending a list cut at its limit is no difference: said as such.
    if (d.token() == 0 && d.field() == kListCut) {
      o += "  (list cut: " + std::to_string(v.differences_size() - 1) + " shown of " +
           std::to_string(DifferenceCount(v)) + " differences)\n";
      continue;
    }
    // As verify/snapshot_diff.h spells one ("gmem 0x2a 'ram0': folios pages
    // 256-511: expected hole, found ..."); token 0 is snapshot-wide (a
    // header or VM field). The reply's `where` is the gmem's name.
    Difference shown;
    shown.in_gmem = d.token() != 0;
    shown.gmem_token = d.token();
    shown.gmem_name = d.where();
    shown.field = d.field();
    shown.expected = d.expected();
    shown.found = d.found();
    o += "  " + EscapeNonPrintable(shown.ToString()) + "\n";
  }
  return o;
}

int PrintVerifyReply(const v1::VerifyReply& v, bool json) {
  if (json) {
    const int printed = PrintJson("verify", v);
    if (printed != 0) return printed;
  } else {
    std::fputs(FormatVerify(v).c_str(), stdout);
  }
  return VerdictExitCode(VerdictOf(v));
}

}  // namespace khod
