#!/usr/bin/env bash
# scripts/install.sh into a DESTDIR with a PREFIX, from the binaries this
# build made (KHOD_BIN/KHOCTL_BIN: the -c opt build itself is the script's own
# first step, run by hand). Checks what lands where with which mode, that the
# units name the installed paths, and that systemd-analyze verifies them.
set -uo pipefail
cd "${TEST_SRCDIR:-$PWD}/khod" 2>/dev/null || cd "$(dirname "$0")/.."
tmp="$(mktemp -d "${TEST_TMPDIR:-/tmp}/khod-install-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {  # DESCRIPTION COMMAND...
  local what="$1"; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}
mode() { stat -c %a "$1"; }

dest="$tmp/dest"
KHOD_BIN="$PWD/daemon/khod" KHOCTL_BIN="$PWD/khoctl/khoctl" DESTDIR="$dest" PREFIX=/opt/khod \
  scripts/install.sh >"$tmp/install.log" 2>&1
check "install.sh exits 0 ($(tail -1 "$tmp/install.log"))" test $? -eq 0
check "khod installed 0755" test "$(mode "$dest/opt/khod/bin/khod")" = 755
check "khoctl installed 0755" test "$(mode "$dest/opt/khod/bin/khoctl")" = 755
check "state dir 0700" test "$(mode "$dest/var/lib/khod")" = 700
for u in khod.service khod.socket khod-group.socket; do
  check "$u installed 0644" test "$(mode "$dest/etc/systemd/system/$u")" = 644
done
check "khod.service runs the installed khod" \
  grep -q '^ExecStart=/opt/khod/bin/khod ' "$dest/etc/systemd/system/khod.service"
check "no /usr/local path left in the units" \
  bash -c "! grep -q /usr/local '$dest/etc/systemd/system/khod.service' '$dest/etc/systemd/system/khod.socket' '$dest/etc/systemd/system/khod-group.socket'"
check "installed khod --help exits 0" bash -c "'$dest/opt/khod/bin/khod' --help >/dev/null"
check "khoctl.1 holds khoctl's help" grep -q 'drive khod over gRPC\|khod: phase, durations' \
  "$dest/opt/khod/share/man/man1/khoctl.1"
check "khod.8 exists" test -s "$dest/opt/khod/share/man/man8/khod.8"
check "OPERATIONS.md installed" test -s "$dest/opt/khod/share/doc/khod/OPERATIONS.md"
check "khoctl.1 is a man page" grep -q '^\.TH KHOCTL 1' "$dest/opt/khod/share/man/man1/khoctl.1"
check "a relative PREFIX is refused" \
  bash -c "! DESTDIR='$tmp/x' PREFIX=opt KHOD_BIN=/bin/true KHOCTL_BIN=/bin/true scripts/install.sh 2>/dev/null"

# systemd-analyze verify needs the units they name (sysinit.target ...) and
# the binary: a scratch root with the host's stock units and the installed tree.
if command -v systemd-analyze >/dev/null 2>&1 && [ -d /usr/lib/systemd/system ]; then
  root="$tmp/root"
  mkdir -p "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  cp -a "$dest/." "$root/"
  systemd-analyze verify --root="$root" "$root/etc/systemd/system/khod.socket" \
    "$root/etc/systemd/system/khod-group.socket" \
    "$root/etc/systemd/system/khod.service" >"$tmp/verify.log" 2>&1
  rc=$?
  check "systemd-analyze verify exits 0" test $rc -eq 0
  check "systemd-analyze verify says nothing ($(head -c 300 "$tmp/verify.log"))" test ! -s "$tmp/verify.log"
else
  echo "SKIPPED: systemd-analyze verify (systemd-analyze missing: Debian package systemd)"
fi
exit $fail
