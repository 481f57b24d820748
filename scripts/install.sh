#!/usr/bin/env bash
# Installs khod on this host (docs/OPERATIONS.md):
#   $PREFIX/bin/khod, $PREFIX/bin/khoctl             (PREFIX: /usr/local)
#   $UNITDIR/khod.service, khod.socket, khod-group.socket (UNITDIR: /etc/systemd/system)
#   /var/lib/khod, mode 0700, root's                 (khod.service's StateDirectory)
#   $PREFIX/share/man/man1/khoctl.1, man8/khod.8     (their --help text, as man pages)
#   $PREFIX/share/doc/khod/OPERATIONS.md
# everything under $DESTDIR when set (a package's staging root). The binaries
# are built with -c opt (Bazel, offline, Debian 12 packages via scripts/deps.sh)
# unless KHOD_BIN and KHOCTL_BIN name binaries built already. It enables and
# starts nothing: it prints what to run.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
STATEDIR=/var/lib/khod
for v in PREFIX UNITDIR; do
  case "${!v}" in
    /*) ;;
    *) echo "install.sh: $v='${!v}' must be an absolute path" >&2; exit 2 ;;
  esac
done
bindir="$PREFIX/bin"
docdir="$PREFIX/share/doc/khod"
mandir="$PREFIX/share/man"

if [ -z "${KHOD_BIN:-}" ] || [ -z "${KHOCTL_BIN:-}" ]; then
  scripts/deps.sh
  bazel build -c opt //daemon:khod //khoctl
  out="$(bazel info -c opt bazel-bin)"
  KHOD_BIN="$out/daemon/khod"
  KHOCTL_BIN="$out/khoctl/khoctl"
fi

# A man page holding a program's --help text as it prints it.
man_page() {  # NAME SECTION SUMMARY HELP-TEXT
  printf '.TH %s %s "" "khod" "khod"\n.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' \
    "$(echo "$1" | tr a-z A-Z)" "$2" "$1" "$3"
  printf '%s\n' "$4" | sed -e 's/\\/\\e/g' -e 's/^[.'"'"']/\\\&&/'
  printf '.fi\n.SH SEE ALSO\n%s/OPERATIONS.md\n' "$docdir"
}

install -d -m 0755 "$DESTDIR$bindir" "$DESTDIR$UNITDIR" "$DESTDIR$docdir" \
  "$DESTDIR$mandir/man1" "$DESTDIR$mandir/man8"
install -m 0755 "$KHOD_BIN" "$DESTDIR$bindir/khod"
install -m 0755 "$KHOCTL_BIN" "$DESTDIR$bindir/khoctl"
# The units name the installed paths.
for unit in khod.service khod.socket khod-group.socket; do
  sed -e "s|/usr/local/bin/|$bindir/|g" -e "s|/usr/local/share/doc/khod|$docdir|g" \
    "systemd/$unit" >"$DESTDIR$UNITDIR/$unit.tmp"
  chmod 0644 "$DESTDIR$UNITDIR/$unit.tmp"
  mv -f "$DESTDIR$UNITDIR/$unit.tmp" "$DESTDIR$UNITDIR/$unit"
done
# khod's session record and blobs: root's alone.
install -d -m 0700 "$DESTDIR$STATEDIR"
[ "$(id -u)" -ne 0 ] || chown root:root "$DESTDIR$STATEDIR"
install -m 0644 docs/OPERATIONS.md "$DESTDIR$docdir/OPERATIONS.md"
man_page khoctl 1 "the operator's CLI for khod" "$("$KHOCTL_BIN" --help)" \
  >"$DESTDIR$mandir/man1/khoctl.1"
man_page khod 8 "live-update state daemon for guest_memfd" "$("$KHOD_BIN" --help)" \
  >"$DESTDIR$mandir/man8/khod.8"
chmod 0644 "$DESTDIR$mandir/man1/khoctl.1" "$DESTDIR$mandir/man8/khod.8"

echo "installed khod and khoctl in $DESTDIR$bindir, units in $DESTDIR$UNITDIR, state dir $DESTDIR$STATEDIR"
[ -n "$DESTDIR" ] || echo "next: systemctl daemon-reload && systemctl enable --now khod.socket"
