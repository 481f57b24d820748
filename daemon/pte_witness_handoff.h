// The PTE witness across a reexec (capture/pte_witness.h): the old khod
// writes what its witness knows (the keeper's state when it went idle and
// the pages of each file it does not map) into a sealed memfd; the new khod
// adopts the keeper with it, so that Verify, whose baseline is the Freeze
// capture made under that witness, walks only the pages it does not vouch
// for. Format: docs/FORMAT.md "reexec", PteWitnessHandoff in
// daemon/session_record.proto. Userspace only: no keeper survives a kexec.
#ifndef KHOD_DAEMON_PTE_WITNESS_HANDOFF_H_
#define KHOD_DAEMON_PTE_WITNESS_HANDOFF_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "capture/pte_witness.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace khod {

// Old side: a memfd "khod-pte-witness" holding `w`'s description, sealed
// against any change, close-on-exec (the reexec clears it).
Result<UniqueFd> WriteWitnessHandoff(const PteWitness& w);

// New side: the previous khod's keeper `keeper_pid` (this process's child)
// with its control socket, and what `handoff_fd` says of it. Each fd is
// taken (kept or closed: a keeper whose socket closes exits) only once it is
// what it should be, a SOCK_SEQPACKET socket and a regular file: an fd that
// is not is not this call's to close.
// Without a handoff (-1) or with one that cannot be read, the keeper is only
// held (a witness that never holds); the error is in `note`.
Result<std::unique_ptr<PteWitness>> AdoptWitnessHandoff(pid_t keeper_pid, int control_fd,
                                                        int handoff_fd, std::string* note);

}  // namespace khod

#endif  // KHOD_DAEMON_PTE_WITNESS_HANDOFF_H_
