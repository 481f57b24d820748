#!/usr/bin/env bash
# A fleet rollout of a live update, host by host, the way an orchestrator
# drives khod (docs/OPERATIONS.md "Fleet rollout"), on two khods of this
# machine standing in for two hosts. Each "host" is a khod with its own
# socket, state dir and metrics file, and a stand-in VMM: a process holding a
# 1 MiB memfd with pages written (real memory, real PFNs).
#
# For each host, canary first: attach -> prepare -> pause guests (here: the
# stand-in has nothing to pause) -> freeze --guests-paused -> restore, which
# verifies -> finish. The rollout stops at the first host whose verdict is not
# EQUAL (khoctl exit 1 DIFFERENT, 3 NOT VERIFIED, 2 error): it goes no
# further, rolls that host back as far as khod allows (cancel) and reports
# each host's state as JSON.
#
#   scripts/fleet_example.sh              # both hosts EQUAL: the rollout completes
#   scripts/fleet_example.sh --break-host2
#       host2's restore rebuilds the memory from the blob instead of keeping
#       it in place (--force-rebuild, what a lost fd would force): its verify
#       finds every PFN changed, DIFFERENT, and the rollout stops there.
# Binaries: KHOD_BIN / KHOCTL_BIN, else bazel-bin/ (built if missing). Root
# (khod takes the VMM's memfd with pidfd_getfd). Exit 0 when every host
# verified EQUAL, 1 when the rollout stopped.
set -uo pipefail
cd "$(dirname "$0")/.."
break_host2=0
[ "${1:-}" = "--break-host2" ] && break_host2=1
if [ -z "${KHOD_BIN:-}" ] || [ -z "${KHOCTL_BIN:-}" ]; then
  [ -x bazel-bin/daemon/khod ] && [ -x bazel-bin/khoctl/khoctl ] || bazel build //daemon:khod //khoctl
  KHOD_BIN="$PWD/bazel-bin/daemon/khod"
  KHOCTL_BIN="$PWD/bazel-bin/khoctl/khoctl"
fi
# In /tmp for short socket paths; under a test run, named for its KHOD_TEST_TAG, so that
# scripts/test.sh fails the run if the directory is left behind.
work="$(mktemp -d "/tmp/khod-${KHOD_TEST_TAG:+$KHOD_TEST_TAG-}fleet.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

hosts=(host1 host2)
start_host() {  # NAME EXTRA-KHOD-FLAGS...
  local h="$1"; shift
  mkdir -p "$work/$h"
  "$KHOD_BIN" --socket "$work/$h/khod.sock" --state-dir "$work/$h/state" \
    --metrics-textfile "$work/$h/khod.prom" "$@" 2>"$work/$h/khod.log" &
  pids+=($!)
  # The stand-in VMM: prints its pid and memfd number, then holds the memfd.
  python3 -c '
import os, sys, time
fd = os.memfd_create("guest")
os.ftruncate(fd, 1 << 20)
for i in range(0, 256, 2):
    os.pwrite(fd, bytes([i]) * 4096, i * 4096)
print(os.getpid(), fd, flush=True)
time.sleep(600)
' >"$work/$h/vmm.out" &
  pids+=($!)
}
ctl() {  # HOST COMMAND ARGS...: khoctl against HOST's khod
  local h="$1" c="$2"; shift 2
  "$KHOCTL_BIN" "$c" --socket "$work/$h/khod.sock" "$@"
}

start_host host1 --transport reexec
start_host host2 --transport reexec
restore_flags=()
for h in "${hosts[@]}"; do
  for _ in $(seq 100); do
    [ -s "$work/$h/vmm.out" ] && [ -S "$work/$h/khod.sock" ] && break
    sleep 0.1
  done
done

rollout_ok=1
for h in "${hosts[@]}"; do
  echo "== $h"
  read -r vmm_pid vmm_fd <"$work/$h/vmm.out"
  [ "$h" = host2 ] && [ $break_host2 -eq 1 ] && restore_flags=(--force-rebuild)
  step() {  # NAME COMMAND...: runs it, shows its output; returns its exit code
    local what="$1"; shift
    "$@" >"$work/$h/last.out" 2>&1
    local rc=$?
    sed 's/^/   /' "$work/$h/last.out" | head -n 12
    local n; n=$(wc -l <"$work/$h/last.out")
    [ "$n" -le 12 ] || echo "   ... ($((n - 12)) more lines)"
    [ $rc -eq 0 ] || echo "   -> $what exited $rc"
    return $rc
  }
  step attach ctl "$h" attach --pid "$vmm_pid" --fd "$vmm_fd" --name guest --hash &&
    step prepare ctl "$h" prepare &&
    step freeze ctl "$h" freeze --guests-paused &&
    step restore ctl "$h" restore "${restore_flags[@]}" &&
    step finish ctl "$h" finish
  rc=$?
  if [ $rc -ne 0 ]; then
    echo "== rollout stops at $h (exit $rc: 1 DIFFERENT, 2 error, 3 NOT VERIFIED); no further host is touched"
    echo "== rollback of $h: khoctl cancel"
    ctl "$h" cancel 2>&1 | sed 's/^/   /' ||
      echo "   (khod cannot cancel from here: the host stays as it is for an operator)"
    rollout_ok=0
    break
  fi
  echo "== $h EQUAL; metrics: $(grep -E '^khod_(phase\{phase="FINISHED"\}|blackout_seconds|reexecs_total|verify_verdict\{verdict="equal"\})' "$work/$h/khod.prom" | tr '\n' ' ')"
done
echo "== each host's khod status"
for h in "${hosts[@]}"; do
  if json="$(ctl "$h" status --json 2>&1)"; then
    printf '%s\n' "$json" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sys.argv[1] + ":", s["phase"], "|", s["last_verdict"] or "no verdict")' "$h"
  else
    echo "$h: $json"
  fi
done
[ $rollout_ok -eq 1 ] && echo "rollout complete: every host EQUAL" && exit 0
echo "rollout stopped"
exit 1
