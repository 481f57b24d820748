#!/bin/bash
# Builds the libFuzzer targets outside Bazel with Debian's clang 14:
#   fuzz/build.sh [OUT_DIR]      (default /tmp/khod_fuzz)
# -> OUT_DIR/fdt_decode_fuzzer, OUT_DIR/proto_decode_fuzzer. See fuzz/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-/tmp/khod_fuzz}
CXX=${CXX:-clang++-14}
mkdir -p "$OUT/obj"
GEN=$(mktemp -d)
trap 'rm -rf "$GEN"' EXIT

# snapshot.pb.{h,cc} from the system protoc, as the Bazel genrule does.
(cd "$ROOT" && protoc -I. --cpp_out="$GEN" proto/snapshot.proto)

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
CXXFLAGS="-std=c++17 -g -O1 -fno-omit-frame-pointer $SAN -I$ROOT -I$GEN"

# The decoders and everything they call: status, hex, the folio list's allocator, threads, the
# hash, state model, invariants, serializer.
SRCS=("$ROOT"/common/status.cc "$ROOT"/common/hex.cc "$ROOT"/common/huge_page_allocator.cc
      "$ROOT"/common/thread_shares.cc "$ROOT"/common/xxh3.cc "$ROOT"/common/xxh3_avx2.cc
      "$ROOT"/state/*.cc "$ROOT"/serializer/*.cc "$GEN"/proto/snapshot.pb.cc)
OBJS=()
PIDS=()
for src in "${SRCS[@]}"; do
  obj="$OUT/obj/$(echo "${src#"$ROOT"/}" | tr '/' '_' | sed 's/^.*proto_snapshot/proto_snapshot/').o"
  extra=""
  [[ "$src" == */common/xxh3_avx2.cc ]] && extra="-mavx2"  # as common/BUILD builds it
  "$CXX" $CXXFLAGS $extra -fsanitize=fuzzer-no-link -c "$src" -o "$obj" &
  PIDS+=($!)
  OBJS+=("$obj")
done
for pid in "${PIDS[@]}"; do wait "$pid"; done  # a failed compile fails the build

for fuzzer in fdt_decode_fuzzer proto_decode_fuzzer; do
  "$CXX" $CXXFLAGS -fsanitize=fuzzer "$ROOT/fuzz/$fuzzer.cc" "${OBJS[@]}" \
    -lprotobuf -lfdt -lxxhash -lpthread -o "$OUT/$fuzzer"
  echo "built $OUT/$fuzzer"
done
