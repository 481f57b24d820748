// khoctl cancel [--socket PATH]: abandon the live update before the new side
// takes over; khod goes back to IDLE and the gmems stay attached.
#include "khoctl/commands.h"
#include "khoctl/khod_call.h"
#include "khoctl/usage.h"

namespace khod {

int RunCancel(const Args& args) {
  return RunPhaseCommand("cancel", kCancelUsage, args, &KhodClient::Cancel);
}

}  // namespace khod
