#!/usr/bin/env bash
# Fails (exit 1, naming the files) when a C++ or proto source is not as clang-format lays it out
# (.clang-format: Google style, 100 columns). Debian 12's clang-format 14, as scripts/deps.sh
# installs it: another version may lay out some lines differently. Fix: clang-format -i FILE, or
# `git clang-format` for the lines of a change.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.proto' | grep -v '^third_party/')
bad=$(clang-format --dry-run "${files[@]}" 2>&1 | grep -- '-Wclang-format-violations' | cut -d: -f1 | sort -u)
if [ -n "$bad" ]; then
  echo "check_format.sh: not clang-formatted:" >&2
  echo "$bad" | sed 's/^/  /' >&2
  exit 1
fi
echo "check_format.sh: ${#files[@]} files clang-formatted" >&2
