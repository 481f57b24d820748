#!/usr/bin/env bash
# The main job: an end-to-end live-update rehearsal on this machine.
# Starts khod and a VMM fixture, attaches its memory files (real guest_memfds
# where /dev/kvm exists; shmem + HugeTLB memfds and MODEL guests where it does
# not, and says so), Prepare -> Freeze -> handover by re-executing khod ->
# Restore -> Verify, then prints the phases, blob sizes and the verdict.
# Extra arguments go to the rehearsal (e.g. --corrupt-blob, --transport dir).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
bazel build //tools/rehearsal:rehearsal //khoctl:khoctl >&2
workdir=$(mktemp -d /tmp/khod-rehearsal.XXXXXX)
exec bazel-bin/tools/rehearsal/rehearsal --workdir "$workdir" "$@"
