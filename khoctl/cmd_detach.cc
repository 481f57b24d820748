// khoctl detach --token T [--socket PATH]: khod lets go of one attached gmem.
#include <cstdio>

#include "khoctl/commands.h"
#include "khoctl/flag_parser.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunDetach(const Args& args) {
  Result<ParsedFlags> f = ParseFlags(args, {{"--token", true}, {"--socket", true}});
  if (!f.ok()) return FailWithUsage("detach", kDetachUsage, f.status());
  if (!f->Has("--token"))
    return FailWithUsage("detach", kDetachUsage, Status::InvalidArgument("--token T is required"));
  Result<uint64_t> token = f->GetUint("--token", 0);
  if (!token.ok()) return FailWithUsage("detach", kDetachUsage, token.status());
  const std::string socket = f->Get("--socket", DefaultSocket());
  KhodClient client(socket);
  Status s = client.Detach(*token);
  if (!s.ok()) return FailKhodCall("detach", socket, s);
  std::printf("detached gmem %llu\n", static_cast<unsigned long long>(*token));
  return kExitOk;
}

}  // namespace khod
