// khoctl prepare [--socket PATH]: khod captures every attached gmem while the
// guests run (IDLE -> PREPARED); refused with nothing attached or in another phase.
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"

namespace khod {

int RunPrepare(const Args& args) {
  return RunPhaseCommand("prepare", "prepare [--socket PATH] [--json]", args, &KhodClient::Prepare);
}

}  // namespace khod
