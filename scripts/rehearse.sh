#!/usr/bin/env bash
# The main job: an end-to-end live-update rehearsal on this machine.
# Starts khod and a VMM fixture, attaches its memory files (real guest_memfds
# where the kernel makes them; shmem + HugeTLB memfds and MODEL guests where it
# does not, and says why), Prepare -> Freeze -> handover by re-executing khod ->
# Restore -> Verify -> a new VMM process takes the restored memory back from
# khod (pidfd_getfd) and checks its pattern -> Finish, then prints the phases,
# blob sizes and the verdict. The workdir is removed on PASS, kept on failure.
# Extra arguments go to the rehearsal (e.g. --corrupt-blob, --transport dir).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
bazel build //tools/rehearsal:rehearsal //khoctl:khoctl >&2
workdir=$(mktemp -d /tmp/khod-rehearsal.XXXXXX)
exec bazel-bin/tools/rehearsal/rehearsal --workdir "$workdir" "$@"
