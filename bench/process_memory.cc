#include "bench/process_memory.h"

#include "kernel/proc_status.h"

namespace khod {

uint64_t RssAnonKb(pid_t pid) {
  Result<uint64_t> kb = ProcStatusNumber(pid, "RssAnon:");
  return kb.ok() ? *kb : 0;
}

}  // namespace khod
