#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Every public header (*/include/sluice/*.h, found on disk so that a new one
# cannot be missed) compiles on its own, first in its translation unit, with
# the project's warnings as errors; and each is included at most once per TU
# without trouble (include guards). Usage: headers.sh CC SOURCE_ROOT [CFLAGS...]
set -u
cc=$1
root=$2
shift 2
incs=()
for d in "$root"/*/include; do incs+=("-I$d"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# sl_build.h is generated; give the check a stand-in.
printf '#define SL_VERSION "0"\n' >"$tmp/sl_build.h"
n=0
fail=0
for h in "$root"/*/include/sluice/*.h; do
	name=sluice/$(basename "$h")
	printf '#include <%s>\n#include <%s>\nint sl_header_check_%d(void);\nint sl_header_check_%d(void) { return 0; }\n' \
		"$name" "$name" "$n" "$n" >"$tmp/t.c"
	if ! "$cc" -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
		-Wmissing-prototypes -Wstrict-prototypes -Wshadow \
		-fsyntax-only "${incs[@]}" -I"$tmp" "$@" "$tmp/t.c" 2>"$tmp/err"; then
		echo "FAIL: $h does not compile on its own:"
		cat "$tmp/err"
		fail=$((fail + 1))
	fi
	n=$((n + 1))
done
echo "headers: $n checked, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
