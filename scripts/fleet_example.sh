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
# EQUAL (khoctl exit 1 DIFFERENT, 2 error, 3 NOT VERIFIED), unless it is NOT
# VERIFIED and every kind of part not verified is one the policy accepts
# (--accept): it goes no further, rolls that host back as far as khod allows
# (cancel) and reports each host's state as JSON.
#
#   scripts/fleet_example.sh              # both hosts EQUAL: the rollout completes
#   scripts/fleet_example.sh --break-host2
#       host2's restore rebuilds the memory from the blob instead of keeping
#       it in place (--force-rebuild, what a file no process holds any more
#       would force): its verify finds every PFN changed, DIFFERENT, and the
#       rollout stops there.
#   scripts/fleet_example.sh --declare-memslots [--accept KIND[,KIND...]]
#       host2's VMM declares a memslot, which khod compares as a declaration
#       and never reads from KVM: NOT VERIFIED, kind UNVERIFIED_DECLARED_MEMSLOTS.
#       The rollout stops there, or goes on when --accept names that kind.
#   scripts/fleet_example.sh --check-policy RESTORE_JSON EXIT [--accept KIND[,KIND...]]
#       the policy alone, on what a `khoctl restore --json` printed (saved in
#       RESTORE_JSON) and its exit code: exit 0 when it goes on (exit 3, the
#       last reply a Verify reply saying NOT VERIFIED, every kind accepted),
#       1 when it stops (anything else: an empty file, no Verify reply, JSON
#       that does not parse).
# Binaries: KHOD_BIN / KHOCTL_BIN, else bazel-bin/ (built if missing). Root
# (khod takes the VMM's memfd with pidfd_getfd). Exit 0 when every host
# verified EQUAL or NOT VERIFIED of accepted kinds, 1 when the rollout stopped.
set -uo pipefail
called_from="$PWD"
cd "$(dirname "$0")/.."
break_host2=0 declare_memslots=0 accept="" check_policy=()
while [ $# -gt 0 ]; do
  case "$1" in
    --break-host2) break_host2=1 ;;
    --declare-memslots) declare_memslots=1 ;;
    --accept) accept="${2:?--accept needs KIND[,KIND...]}"; shift ;;
    --check-policy)
      check_policy=("${2:?--check-policy needs RESTORE_JSON EXIT}" "${3:?--check-policy needs RESTORE_JSON EXIT}")
      case "${check_policy[0]}" in /*) ;; *) check_policy[0]="$called_from/${check_policy[0]}" ;; esac
      shift 2 ;;
    *) echo "fleet_example.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
# Shows a restore's replies (what `khoctl restore --json` printed, in file $1)
# and its verdict; succeeds only when the rollout may go on past exit 3
# (docs/OPERATIONS.md "Fleet rollout", step 4): khoctl exited 3 ($2), the last
# reply is a Verify reply whose verdict is NOT VERIFIED, and every kind of part
# it did not verify is in --accept. Anything else fails, a stop: an empty file
# or a Restore reply alone (no verdict), JSON that does not parse (and any
# error of python's, exit 1 too), another exit code.
policy_accepts() {
  python3 - "$1" "$2" "$accept" <<'PY'
import json, sys
text, docs, at = open(sys.argv[1]).read(), [], 0
while True:  # the phase reply, then the verify reply
    while at < len(text) and text[at].isspace(): at += 1
    if at == len(text): break
    try:
        doc, at = json.JSONDecoder().raw_decode(text, at)
    except ValueError as e:
        print("   a reply that does not parse (%s): a stop" % e); sys.exit(1)
    docs.append(doc)
if not docs:
    print("   no reply: a stop"); sys.exit(1)
phase = docs[0]
print("   %s: %s" % (phase.get("phase"), phase.get("message", "")))
verify = docs[-1] if len(docs) > 1 else {}
if "verdict" not in verify:
    print("   no Verify reply: %s" % ("nothing to accept" if sys.argv[2] != "3" else "a stop"))
    sys.exit(1)
print("   %s: %s pages equal, %s different, %s not verified" % (verify.get("verdict"),
      verify.get("pagesEqual", verify.get("pages_equal", 0)),
      verify.get("pagesDifferent", verify.get("pages_different", 0)),
      verify.get("pagesUnverified", verify.get("pages_unverified", 0))))
kinds = []
for u in verify.get("unverified", []):
    for i, part in enumerate(u.get("parts", [])):
        k = u.get("kinds", [])[i] if i < len(u.get("kinds", [])) else "(no kind)"
        kinds.append(k)
        print("     not verified: %s (%s)" % (part, k))
if sys.argv[2] != "3" or verify.get("verdict") != "NOT VERIFIED":
    sys.exit(1)
accepted = set(filter(None, sys.argv[3].split(",")))
print("   policy accepts %s: %s" % (sorted(accepted) or "nothing",
      "every kind here" if set(kinds) <= accepted else "not " + ", ".join(sorted(set(kinds) - accepted))))
sys.exit(0 if set(kinds) <= accepted else 1)
PY
}

if [ ${#check_policy[@]} -gt 0 ]; then
  policy_accepts "${check_policy[@]}" && { echo "policy: goes on"; exit 0; }
  echo "policy: stops"
  exit 1
fi

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
  declaration=()
  if [ "$h" = host2 ] && [ $declare_memslots -eq 1 ]; then
    printf '{"vms":[{"token":1,"memslots":[{"slot":0,"base_gfn":0,"npages":256,"gmem_fd":%s}]}]}\n' \
      "$vmm_fd" >"$work/$h/declaration.json"
    declaration=(--memslots "$work/$h/declaration.json")
  fi
  rc=0
  step attach ctl "$h" attach --pid "$vmm_pid" --fd "$vmm_fd" --name guest --hash "${declaration[@]}" &&
    step prepare ctl "$h" prepare &&
    step freeze ctl "$h" freeze --guests-paused || rc=$?
  if [ $rc -eq 0 ]; then
    # The restore's replies as JSON (its phase, then its verdict): the policy
    # reads the kinds of what that verdict did not verify.
    ctl "$h" restore --json "${restore_flags[@]}" >"$work/$h/restore.json" 2>"$work/$h/restore.err"
    rc=$?
    sed 's/^/   /' "$work/$h/restore.err"
    verdict=EQUAL
    policy_accepts "$work/$h/restore.json" "$rc" &&
      rc=0 && verdict="NOT VERIFIED, of kinds the policy accepts"
    [ $rc -eq 0 ] || echo "   -> restore exited $rc"
  fi
  [ $rc -eq 0 ] && { step finish ctl "$h" finish || rc=$?; }
  if [ $rc -ne 0 ]; then
    echo "== rollout stops at $h (exit $rc: 1 DIFFERENT, 2 error, 3 NOT VERIFIED of a kind not accepted); no further host is touched"
    echo "== rollback of $h: khoctl cancel"
    ctl "$h" cancel 2>&1 | sed 's/^/   /' ||
      echo "   (khod cannot cancel from here: the host stays as it is for an operator)"
    rollout_ok=0
    break
  fi
  echo "== $h $verdict; metrics: $(grep -E '^khod_(phase\{phase="FINISHED"\}|blackout_seconds|reexecs_total|verify_verdict\{verdict="equal"\})' "$work/$h/khod.prom" | tr '\n' ' ')"
done
echo "== each host's khod status"
for h in "${hosts[@]}"; do
  if json="$(ctl "$h" status --json 2>&1)"; then
    printf '%s\n' "$json" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sys.argv[1] + ":", s["phase"], "|", s["last_verdict"] or "no verdict")' "$h"
  else
    echo "$h: $json"
  fi
done
[ $rollout_ok -eq 1 ] && echo "rollout complete: every host EQUAL or NOT VERIFIED of accepted kinds" && exit 0
echo "rollout stopped"
exit 1
