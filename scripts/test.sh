#!/usr/bin/env bash
# Runs every khod test (GoogleTest under Bazel) and prints, last, the count of
# test cases: "N passed, N failed" (skipped cases, with reasons, on the lines before). Exit 0 only when none failed.
# Tests that need /dev/kvm, root or hugepages skip with the reason when absent.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
# Tests that reserve HugeTLB pages change a machine-wide sysctl: run them one at a time.
bazel test //tests/... --local_test_jobs=1 "$@"
status=$?
python3 scripts/test_summary.py "$(bazel info bazel-testlogs 2>/dev/null || echo bazel-testlogs)"
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
