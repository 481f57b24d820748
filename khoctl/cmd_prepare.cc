// khoctl prepare [--socket PATH]: khod captures every attached gmem while the
// guests run (IDLE -> PREPARED); refused with nothing attached or in another phase.
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunPrepare(const Args& args) {
  return RunPhaseCommand("prepare", kPrepareUsage, args, &KhodClient::Prepare);
}

}  // namespace khod
