// khoctl cancel [--socket PATH]: abandon the live update before the new side
// takes over; khod goes back to IDLE and the gmems stay attached.
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"

namespace khod {

int RunCancel(const Args& args) {
  return RunPhaseCommand("cancel", "cancel [--socket PATH] [--json]", args, &KhodClient::Cancel);
}

}  // namespace khod
