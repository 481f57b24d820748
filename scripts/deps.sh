#!/usr/bin/env bash
# Installs what khod builds and tests with, from Debian 12 packages only.
# Idempotent: does nothing when everything is already there.
set -euo pipefail
PKGS=(
  bazel-bootstrap            # Bazel 4.2.3, WORKSPACE mode, offline
  g++ pkg-config python3
  libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libfdt-dev device-tree-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libxxhash-dev zlib1g-dev
  libbpf-dev clang           # kernel/bpf: the BPF program (clang -target bpf) and its loader
  systemd                    # systemd-analyze, systemd-socket-activate (tests of the units)
  prometheus                 # promtool check metrics (tests of --metrics-textfile; ~20 MB)
  clang-format               # scripts/check_format.sh (clang-format 14 on Debian 12)
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi
