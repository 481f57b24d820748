#!/usr/bin/env bash
# Runs every khod test (GoogleTest under Bazel) in three passes and prints, last, the count of
# test cases over all of them: "N passed, N failed" (skipped cases, with reasons, on the lines
# before; a failure is named with its pass). Exit 0 only when none failed.
#   plain  //tests/...
#   asan   the tests that use neither daemon/, khoctl/ nor gRPC, built with --config=asan
#          (ASan + UBSan), less tests tagged no_asan
#   tsan   the tests tagged "tsan", built with --config=tsan: khod's own threads (the session
#          and its group commit, warm-ups and capture threads, the page-table walk in
#          shares) without a gRPC server. The gRPC tests stay out: Debian's gRPC and abseil
#          are prebuilt without TSan, and TSan reports races inside them (abseil's deadlock
#          graph, gRPC's epoll poller) that no suppression can yet tell from khod's own
#          handlers, which run on gRPC's threads.
# KHOD_TEST_PASSES picks passes (default "plain asan tsan"). The asan pass leaves out the
# daemon, khoctl and gRPC tests to keep CI well inside its hour on 2 shared cores; each pass's
# wall time is printed after it.
# A test that leaves an entry in /tmp fails the run: tests make their files in a TempDir
# (tests/support/fixture.h), under TEST_TMPDIR or, for a socket path TEST_TMPDIR is too long for,
# /tmp/khod-<tag>-*, <tag> naming this checkout (KHOD_TEST_TAG), so runs from other checkouts
# at the same time are not counted.
# So does a /var/tmp/khod-* entry a test left (the disk-backed files of tests that need a
# filesystem other than tmpfs, and swapped_pages_test's swap file): those are removed, any of
# them still on as swap turned off first, and named. An entry named after a live process
# (khod-...-<pid>) belongs to a run at the same time and is left alone. Such leftovers of an
# earlier run are cleared, with a note, before the tests start.
# First scripts/check_layers.sh and scripts/check_format.sh: a dependency against khod's layers,
# or a source clang-format would lay out differently, fails the run.
# Arguments go to every bazel test.
# Tests that need guest_memfd (/dev/kvm with KVM_CAP_GUEST_MEMFD), root or hugepages skip
# with the reason when absent.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
results=$(mktemp -d /tmp/khod-test-results.XXXXXX)
trap 'rm -rf "$results"' EXIT
status=0
# One tag per checkout (a fixed one keeps Bazel's cached test results valid across runs).
tag=$(pwd | sha1sum | cut -c1-8)
leftovers() { ls -d /tmp/khod-"$tag"-* 2>/dev/null; }
others() { ls -d /tmp/khod-* /tmp/khoctl-* 2>/dev/null | grep -v -e "^/tmp/khod-$tag-" -e "^$results\$"; }
before=$(leftovers)
others_before=$(others)

# /var/tmp/khod-* entries no live process owns: one named khod-...-<pid> is owned while <pid>
# runs; the others are made and removed within a test, so any found between runs is left.
var_tmp_leftovers() {
  local e pid
  for e in /var/tmp/khod-*; do
    [ -e "$e" ] || continue
    pid=$(expr "$e" : '.*-\([0-9][0-9]*\)$')
    [ -n "$pid" ] && [ -d "/proc/$pid" ] && continue
    echo "$e"
  done
}
# Turns off any of its arguments on as swap (a swap file left on stays on for the whole
# machine), then removes them; says on stderr which it could not.
remove_var_tmp_leftovers() {
  local e ok=0
  for e in "$@"; do
    if awk 'NR > 1 { print $1 }' /proc/swaps | grep -qxF "$e"; then
      echo "test.sh: $e is on as swap: swapoff" >&2
      if ! swapoff "$e"; then
        echo "test.sh: swapoff $e failed: left in place" >&2
        ok=1
        continue
      fi
    fi
    rm -rf -- "$e" || ok=1
  done
  return $ok
}
stale=$(var_tmp_leftovers)
if [ -n "$stale" ]; then
  echo "test.sh: note: removing what an earlier run left in /var/tmp:" >&2
  echo "$stale" >&2
  # shellcheck disable=SC2086  # the names have no spaces (khod-*)
  remove_var_tmp_leftovers $stale || status=1
fi

# run_pass NAME QUERY CONFIG_FLAG... -- EXTRA_ARGS...
run_pass() {
  local name=$1 query=$2
  shift 2
  local config=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do config+=("$1"); shift; done
  shift  # --
  local targets
  if ! targets=$(bazel query "$query" 2>/dev/null) || [ -z "$targets" ]; then
    echo "test.sh: pass $name: bazel query found no tests" >&2
    status=1
    return
  fi
  echo "=== pass $name: $(echo "$targets" | wc -l) test targets ${config[*]}" >&2
  local start=$SECONDS
  # Tests that reserve HugeTLB pages change a machine-wide sysctl: run them one at a time.
  bazel test "${config[@]}" --keep_going --local_test_jobs=1 --test_env=KHOD_TEST_TAG="$tag" \
    --build_event_json_file="$results/$name.bep.json" "$@" $targets || status=1
  python3 scripts/collect_test_xml.py "$results/$name.bep.json" "$results/xml/$name" $targets
  echo "=== pass $name: $((SECONDS - start)) s" >&2
}

scripts/check_layers.sh || status=1
scripts/check_format.sh || status=1

for pass in ${KHOD_TEST_PASSES:-plain asan tsan}; do
  case $pass in
    plain) run_pass plain 'tests(//tests/...)' -- "$@" ;;
    asan)
      run_pass asan "tests(//tests/...) except rdeps(tests(//tests/...), //daemon/... + \
        //khoctl/... + //third_party:grpc) except attr(tags, no_asan, tests(//tests/...))" \
        --config=asan -- "$@" ;;
    tsan)
      run_pass tsan "attr(tags, '\\btsan\\b', tests(//tests/...))" --config=tsan -- "$@" ;;
    *) echo "test.sh: unknown pass '$pass' (plain, asan, tsan)" >&2; status=1 ;;
  esac
done
left=$(comm -13 <(echo "$before") <(leftovers))
if [ -n "$left" ]; then
  echo "test.sh: tests left these behind in /tmp (each test's TempDir removes its own):" >&2
  echo "$left" >&2
  status=1
fi
var_left=$(var_tmp_leftovers)
if [ -n "$var_left" ]; then
  echo "test.sh: tests left these behind in /var/tmp (removed now, swap turned off first):" >&2
  echo "$var_left" >&2
  # shellcheck disable=SC2086  # the names have no spaces (khod-*)
  remove_var_tmp_leftovers $var_left
  status=1
fi
unlinked_swap=$(awk 'NR > 1 && $1 ~ /^\/var\/tmp\/khod-.*\(deleted\)$/ { print $1 }' /proc/swaps)
if [ -n "$unlinked_swap" ]; then
  echo "test.sh: a test's swap file was removed while on as swap (no path turns it off now):" >&2
  echo "$unlinked_swap" >&2
  status=1
fi
untagged=$(comm -13 <(echo "$others_before") <(others))
if [ -n "$untagged" ]; then
  echo "test.sh: note: new in /tmp without this checkout's tag (another run at the same time," >&2
  echo "or a test writing to /tmp itself, not through TempDir):" >&2
  echo "$untagged" >&2
fi
python3 scripts/test_summary.py "$results/xml"
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
