#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy: checks that find bugs) over khod's C++ sources, or over the files
# given as arguments. Exit 1 when it reports anything.
#
# Bazel 4 has no compile-commands export offline, and khod's sources need nothing but the repo
# root, the generated protobuf headers (bazel-bin) and Debian's system headers, so the compile
# database is written here: one entry per source, the flags .bazelrc gives gcc.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# The generated .pb.h files the sources include.
bazel build $(bazel query 'kind(genrule, //...) except //third_party/...' 2>/dev/null) >/dev/null 2>&1 ||
  { echo "clang_tidy.sh: building the generated headers failed" >&2; exit 2; }
bin=$(bazel info bazel-bin 2>/dev/null)
if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(git ls-files '*.cc' | grep -v '^third_party/')
fi
db=$(mktemp -d /tmp/khod-clang-tidy.XXXXXX)
trap 'rm -rf "$db"' EXIT
python3 - "$root" "$bin" "$db/compile_commands.json" "${files[@]}" <<'PY'
import json, sys
root, bin_dir, out, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
flags = ["clang++", "-std=c++17", "-Wall", "-I" + root, "-I" + bin_dir, "-c"]
json.dump([{"directory": root, "file": f, "arguments": flags + [f]} for f in files],
          open(out, "w"), indent=1)
PY
jobs=$(nproc)
out=$(run-clang-tidy -quiet -j "$jobs" -p "$db" 2>&1)
findings=$(grep -E '(warning|error): ' <<<"$out" | sort -u)
if [ -n "$findings" ]; then
  echo "$findings"
  echo "clang_tidy.sh: $(wc -l <<<"$findings") finding(s) in ${#files[@]} files" >&2
  exit 1
fi
echo "clang_tidy.sh: ${#files[@]} files, no finding" >&2
