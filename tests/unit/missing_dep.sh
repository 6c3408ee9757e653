#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A missing dependency stops `meson setup` with a line naming the Debian
# package to install. Hides one .pc file at a time (inih, liburing) from
# pkg-config behind a directory of links to every other one, and checks the
# refusal. Usage: missing_dep.sh SOURCE_ROOT
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dirs=$(pkg-config --variable pc_path pkg-config | tr ':' ' ')
fail=0
for pair in inih:libinih-dev liburing:liburing-dev; do
	pc=${pair%%:*}
	pkg=${pair#*:}
	rm -rf "$tmp/pc" "$tmp/build"
	mkdir -p "$tmp/pc"
	for d in $dirs; do
		[ -d "$d" ] || continue
		for f in "$d"/*.pc; do
			[ -e "$f" ] && [ "$(basename "$f")" != "$pc.pc" ] && ln -sf "$f" "$tmp/pc/"
		done
	done
	out=$(PKG_CONFIG_LIBDIR=$tmp/pc PKG_CONFIG_PATH= meson setup "$tmp/build" "$src" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "FAIL: meson setup succeeded without $pc.pc"
		fail=1
	elif ! grep -q "$pc not found by pkg-config: install the Debian package $pkg" <<<"$out"; then
		echo "FAIL: no line naming $pkg:"
		tail -5 <<<"$out"
		fail=1
	else
		echo "ok: without $pc.pc, setup says: install the Debian package $pkg"
	fi
done
exit $fail
