// khoctl attach: hand khod one guest_memfd to carry across the live update.
//   attach --pid P --fd N [--token T] [--name S] [--vm-token V --vm-type T]
//          [--memslots FILE] [--gmem-flags F] [--hash] [--socket PATH]
//   attach --model-size 1T [--model-hstate 4k|2m|1g] [--populate] [--name S] ...
// The first takes fd N of VMM process P (khod uses pidfd_getfd); the second
// makes a MODEL guest (khod's model of in-flight kernel features).
// --memslots reads the VMM's declaration (the vmm_fixture's report is one):
// the memslots, VM, creation flags, name and attributes it gives for fd N;
// --vm-token, --vm-type, --gmem-flags and --name override it.
#include <climits>
#include <cstdio>

#include "capture/vmm_declaration.h"
#include "common/printable.h"
#include "common/status_macros.h"
#include "khoctl/attach_declaration.h"
#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/proto_json.h"
#include "khoctl/status_report.h"
#include "khoctl/usage.h"
#include "synth/size.h"

namespace khod {

namespace {

// Adds to `q` what the declaration file says about the VMM's fd `fd`.
Status ApplyDeclaration(const std::string& path, int fd, v1::AttachRequest* q) {
  v1::VmmDeclaration decl;
  KHOD_RETURN_IF_ERROR(LoadVmmDeclaration(path, &decl));
  return AddDeclarationTo(decl, fd, q).WithContext(path);
}

// A flag that must fit in `max` (pid, fd, vm type).
Result<uint64_t> Bounded(const ParsedFlags& f, const char* name, uint64_t lo, uint64_t max) {
  KHOD_ASSIGN_OR_RETURN(uint64_t v, f.GetUint(name, 0));
  if (v < lo || v > max)
    return Status::InvalidArgument(std::string(name) + " " + f.Get(name) + " is out of range (" +
                                   std::to_string(lo) + ".." + std::to_string(max) + ")");
  return v;
}

Result<v1::AttachRequest> BuildRequest(const ParsedFlags& f) {
  v1::AttachRequest q;
  const bool kernel = f.Has("--pid") || f.Has("--fd");
  const bool model = f.Has("--model-size");
  if (kernel == model)
    return Status::InvalidArgument("give either --pid P --fd N or --model-size SIZE");
  if (kernel) {
    if (!f.Has("--pid") || !f.Has("--fd"))
      return Status::InvalidArgument("--pid and --fd go together");
    if (f.Has("--model-hstate") || f.Has("--populate"))
      return Status::InvalidArgument("--model-hstate and --populate are for --model-size");
    KHOD_ASSIGN_OR_RETURN(uint64_t pid, Bounded(f, "--pid", 1, INT_MAX));
    KHOD_ASSIGN_OR_RETURN(uint64_t fd, Bounded(f, "--fd", 0, INT_MAX));
    q.mutable_kernel()->set_pid(static_cast<int32_t>(pid));
    q.mutable_kernel()->set_fd(static_cast<int32_t>(fd));
    if (f.Has("--memslots"))
      KHOD_RETURN_IF_ERROR(ApplyDeclaration(f.Get("--memslots"), static_cast<int>(fd), &q));
  } else {
    if (f.Has("--memslots")) return Status::InvalidArgument("--memslots needs --pid and --fd");
    Result<uint64_t> size = ParseSize(f.Get("--model-size"));
    if (!size.ok()) return size.status().WithContext("--model-size");
    const std::string h = f.Get("--model-hstate", "4k");
    const uint32_t order = h == "4k" ? 0 : h == "2m" ? 9 : h == "1g" ? 18 : 99;
    if (order == 99)
      return Status::InvalidArgument("--model-hstate '" + h + "' is not 4k, 2m or 1g");
    q.mutable_model()->set_size(*size);
    q.mutable_model()->set_hstate_order(order);
    q.mutable_model()->set_populate(f.Has("--populate"));
  }
  KHOD_ASSIGN_OR_RETURN(uint64_t token, f.GetUint("--token", 0));
  q.set_token(token);
  if (f.Has("--name")) q.set_name(f.Get("--name"));
  if (f.Has("--vm-token") != f.Has("--vm-type") && !f.Has("--memslots"))
    return Status::InvalidArgument("--vm-token and --vm-type go together");
  KHOD_ASSIGN_OR_RETURN(uint64_t vm_token, f.GetUint("--vm-token", q.vm_token()));
  q.set_vm_token(vm_token);
  if (f.Has("--vm-type")) {
    KHOD_ASSIGN_OR_RETURN(uint64_t vm_type, Bounded(f, "--vm-type", 0, UINT32_MAX));
    q.set_vm_type(static_cast<uint32_t>(vm_type));
  }
  KHOD_ASSIGN_OR_RETURN(uint64_t flags, f.GetUint("--gmem-flags", q.gmem_flags()));
  q.set_gmem_flags(flags);
  q.set_hash_contents(f.Has("--hash"));
  return q;
}

}  // namespace

int RunAttach(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--pid", true},
                                            {"--fd", true},
                                            {"--token", true},
                                            {"--name", true},
                                            {"--vm-token", true},
                                            {"--vm-type", true},
                                            {"--memslots", true},
                                            {"--gmem-flags", true},
                                            {"--hash", false},
                                            {"--model-size", true},
                                            {"--model-hstate", true},
                                            {"--populate", false},
                                            {"--socket", true},
                                            {"--json", false}});
  if (!f.ok()) return FailWithUsage("attach", kAttachUsage, f.status());
  if (Status s = RefuseArguments(f->positionals()); !s.ok())
    return FailWithUsage("attach", kAttachUsage, s);
  Result<v1::AttachRequest> q = BuildRequest(*f);
  if (!q.ok()) return FailWithUsage("attach", kAttachUsage, q.status());
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Result<v1::AttachReply> r = client.Attach(*q);
  if (!r.ok()) return FailKhodCall("attach", socket, r.status());
  if (f->Has("--json")) return PrintJson("attach", *r);
  const v1::GmemInfo& g = r->gmem();
  std::printf("attached gmem %llu '%s': %s, %s (%s)", static_cast<unsigned long long>(g.token()),
              EscapeNonPrintable(g.name()).c_str(), FormatBytes(g.size()).c_str(),
              EscapeNonPrintable(g.source()).c_str(), EscapeNonPrintable(g.provenance()).c_str());
  if (g.vm_token())
    std::printf(", VM %llu with %d memslot(s)", static_cast<unsigned long long>(g.vm_token()),
                q->memslots_size());
  std::printf("\n");
  return kExitOk;
}

}  // namespace khod
