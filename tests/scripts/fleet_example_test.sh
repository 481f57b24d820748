#!/usr/bin/env bash
# scripts/fleet_example.sh four ways: two hosts EQUAL (exit 0, rollout
# complete); host2 DIFFERENT (exit 1, the rollout stops at host2); host2 NOT
# VERIFIED for its declared memslot, a kind the policy does not accept (stops)
# and then accepts (completes).
set -uo pipefail
cd "${TEST_SRCDIR:-$PWD}/khod" 2>/dev/null || cd "$(dirname "$0")/.."
export KHOD_BIN="$PWD/daemon/khod" KHOCTL_BIN="$PWD/khoctl/khoctl"
out="$(mktemp "${TEST_TMPDIR:-/tmp}/khod-fleet-test.XXXXXX")"
trap 'rm -f "$out"' EXIT
fail=0
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
