// khoctl finish [--socket PATH]: close the session once the restore is
// verified (-> FINISHED).
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunFinish(const Args& args) {
  return RunPhaseCommand("finish", kFinishUsage, args, &KhodClient::Finish);
}

}  // namespace khod
