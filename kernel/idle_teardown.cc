#include "kernel/idle_teardown.h"

#include <sched.h>

namespace khod {

bool SetIdleScheduling(pid_t tid) {
  const struct sched_param param = {};
  return tid > 0 && ::sched_setscheduler(tid, SCHED_IDLE, &param) == 0;
}

}  // namespace khod
