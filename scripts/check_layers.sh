#!/usr/bin/env bash
# Fails (exit 1, naming the path) when a dependency runs against khod's layers:
#  - nothing below the programs (capture, kernel, serializer, state, restore, verify, handover)
#    depends on //daemon, //khoctl or //tools;
#  - kernel/ does not depend on state/ (kernel returns plain kernel facts, kernel/memory_facts.h);
#  - restore/ does not depend on verify/ (the data flows restore -> verify).
# Bazel visibility (//build_defs:top_layer) refuses the first kind at build time; this catches a
# visibility widened by hand. A sh_test cannot call bazel, so scripts/test.sh runs this first.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
check() {
  local what=$1 from=$2 to=$3 path
  if ! path=$(bazel query "somepath($from, $to)" 2>/dev/null); then
    echo "check_layers.sh: bazel query failed for $what" >&2
    status=1
  elif [ -n "$path" ]; then
    echo "check_layers.sh: $what:" >&2
    echo "$path" | sed 's/^/  /' >&2
    status=1
  fi
}
check "a layer below the programs depends on daemon/, khoctl/ or tools/" \
  "//capture/... + //kernel/... + //serializer/... + //state/... + //restore/... + //verify/... + //handover/..." \
  "//daemon/... + //khoctl/... + //tools/..."
check "kernel/ depends on state/" "//kernel/..." "//state/..."
check "restore/ depends on verify/" "//restore/..." "//verify/..."
[ $status -eq 0 ] && echo "check_layers.sh: layers hold" >&2
exit $status
