#!/usr/bin/env bash
# scripts/fleet_example.sh four ways: two hosts EQUAL (exit 0, rollout
# complete); host2 DIFFERENT (exit 1, the rollout stops at host2); host2 NOT
# VERIFIED for its declared memslot, a kind the policy does not accept (stops)
# and then accepts (completes). First its policy alone (--check-policy), and
# docs/OPERATIONS.md's jq policy, on replies a restore may leave: only exit 3
# with a last reply saying NOT VERIFIED of accepted kinds goes on; no output,
# a Restore reply alone or JSON cut short is a stop (the documented jq said
# true for the first two).
set -uo pipefail
cd "${TEST_SRCDIR:-$PWD}/khod" 2>/dev/null || cd "$(dirname "$0")/.."
export KHOD_BIN="$PWD/daemon/khod" KHOCTL_BIN="$PWD/khoctl/khoctl"
out="$(mktemp "${TEST_TMPDIR:-/tmp}/khod-fleet-test.XXXXXX")"
replies="$(mktemp -d "${TEST_TMPDIR:-/tmp}/khod-fleet-replies.XXXXXX")"
trap 'rm -rf "$out" "$replies"' EXIT
fail=0

printf '' >"$replies/empty.json"
printf '{"phase":"RESTORED","message":"restored 1 gmems"}\n' >"$replies/restore_only.json"
printf '%s\n%s\n' '{"phase":"RESTORED","message":"restored 1 gmems"}' \
  '{"verdict":"NOT VERIFIED","unverified":[{"token":"1","name":"guest","parts":["1 memslot(s) of VM 0x1: the VMM'"'"'s declaration, not read from the kernel"],"kinds":["UNVERIFIED_DECLARED_MEMSLOTS"]}]}' \
  >"$replies/accepted.json"
head -c 60 "$replies/accepted.json" >"$replies/cut.json"
# The jq of docs/OPERATIONS.md's play, as its `shell: >-` folds it, the exit
# code in for {{ restored.rc }}.
policy_jq="$(awk '/shell: >-/ {f = 1; next} f {sub(/^ +/, ""); printf "%s ", $0} f && /<<< / {exit}' \
  docs/OPERATIONS.md)"
policy_jq="${policy_jq% <<< *}"
policy_jq="$(printf '%s' "$policy_jq" | sed 's/{{ restored.rc }}/"$jq_rc"/')"
case "$policy_jq" in
  "jq -se --argjson rc \"\$jq_rc\" '"*"NOT VERIFIED"*) ;;
  *) echo "FAILED: no jq policy found in docs/OPERATIONS.md: $policy_jq"; fail=1 ;;
esac
# WANT FILE EXIT: both policies go on (0) or stop (1) on FILE from a restore that exited EXIT.
check_policy() {
  scripts/fleet_example.sh --check-policy "$replies/$2" "$3" --accept UNVERIFIED_DECLARED_MEMSLOTS \
    >"$out" 2>&1
  local rc=$?
  [ $rc -eq "$1" ] || { cat "$out"; echo "FAILED: the script's policy on $2 (exit $3): $rc, not $1"; fail=1; }
  if command -v jq >/dev/null; then
    jq_rc="$3" eval "$policy_jq" <"$replies/$2" >"$out" 2>&1
    rc=$?
    [ $rc -eq 0 ] && [ "$1" -ne 0 ] && { cat "$out"; echo "FAILED: the documented jq accepts $2 (exit $3)"; fail=1; }
    [ $rc -ne 0 ] && [ "$1" -eq 0 ] && { cat "$out"; echo "FAILED: the documented jq stops at $2 (exit $3): $rc"; fail=1; }
  else
    echo "(no jq here: the documented policy not run on $2)"
  fi
}
check_policy 1 empty.json 3
check_policy 1 restore_only.json 3
check_policy 1 cut.json 3
check_policy 0 accepted.json 3
check_policy 1 accepted.json 0
check_policy 1 accepted.json 1
scripts/fleet_example.sh >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || { echo "FAILED: the good rollout exited $rc"; fail=1; }
grep -q "rollout complete: every host EQUAL" "$out" || { echo "FAILED: no completion line"; fail=1; }
[ "$(grep -c '^== host[12] EQUAL' "$out")" -eq 2 ] || { echo "FAILED: not both hosts EQUAL"; fail=1; }

scripts/fleet_example.sh --break-host2 >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 1 ] || { echo "FAILED: the broken rollout exited $rc, not 1"; fail=1; }
grep -q "^== host1 EQUAL" "$out" || { echo "FAILED: the canary did not pass"; fail=1; }
grep -q "^== rollout stops at host2 (exit 1" "$out" || { echo "FAILED: no stop at host2 on DIFFERENT"; fail=1; }
grep -q "^== host2 EQUAL" "$out" && { echo "FAILED: host2 reported EQUAL"; fail=1; }

scripts/fleet_example.sh --declare-memslots --accept UNVERIFIED_PAGES_INVISIBLE >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 1 ] || { echo "FAILED: NOT VERIFIED of a kind not accepted exited $rc, not 1"; fail=1; }
grep -q "^== rollout stops at host2 (exit 3" "$out" || { echo "FAILED: no stop at host2 on NOT VERIFIED"; fail=1; }
grep -q "(UNVERIFIED_DECLARED_MEMSLOTS)" "$out" || { echo "FAILED: the memslot's kind not named"; fail=1; }

scripts/fleet_example.sh --declare-memslots --accept UNVERIFIED_PAGES_INVISIBLE,UNVERIFIED_DECLARED_MEMSLOTS >"$out" 2>&1
rc=$?
cat "$out"
[ $rc -eq 0 ] || { echo "FAILED: NOT VERIFIED of accepted kinds exited $rc, not 0"; fail=1; }
grep -q "^== host2 NOT VERIFIED, of kinds the policy accepts" "$out" || { echo "FAILED: host2 not accepted"; fail=1; }
grep -q "^== host1 EQUAL" "$out" || { echo "FAILED: host1 not EQUAL"; fail=1; }
exit $fail
