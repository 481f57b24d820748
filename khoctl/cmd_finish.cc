// khoctl finish [--socket PATH]: close the session once the restore is
// verified (-> FINISHED).
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"

namespace khod {

int RunFinish(const Args& args) {
  return RunPhaseCommand("finish", "finish [--socket PATH] [--json]", args, &KhodClient::Finish);
}

}  // namespace khod
