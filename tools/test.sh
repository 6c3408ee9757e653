#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# test.sh: install what is missing, build, run every test suite, and end
# with the line "N passed, M failed" (exit 0 only when M is 0).
#
# Two builds, both with -Werror:
#   build/test  gcc, debugoptimized, hot asserts on: suites unit, integration
#   build/san   clang, ASan + UBSan, libFuzzer targets: suites unit, fault, fuzz
# SL_FUZZ_SECONDS (default 20) bounds each fuzz target's run.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! tools/install-deps; then
	echo "test.sh: installing dependencies failed"
	echo "0 passed, 1 failed"
	exit 1
fi

passed=0
failed=0
skipped=0

# setup DIR ARGS...: configure once; reconfigure when the options changed.
setup() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1
	else
		mkdir -p "$(dirname "$dir")"
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1
	fi
}

# count DIR: add meson's per-test results (testlog.json) to the totals.
count() {
	local log=$1/meson-logs/testlog.json
	[ -f "$log" ] || return 0
	local p f s
	p=$(grep -c '"result": "OK"' "$log" || true)
	s=$(grep -c '"result": "SKIP"' "$log" || true)
	f=$(grep -Ec '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS|INTERRUPT)"' "$log" || true)
	passed=$((passed + p))
	failed=$((failed + f))
	skipped=$((skipped + s))
}

# run_build NAME SUITES -- MESON_ARGS...
run_build() {
	local dir=build/$1
	local suites=$2
	shift 2
	echo "== $dir: setup"
	if ! setup "$dir" "$@"; then
		cat "$dir.setup.log"
		echo "test.sh: $dir: meson setup failed"
		failed=$((failed + 1))
		return
	fi
	echo "== $dir: build"
	if ! ninja -C "$dir"; then
		echo "test.sh: $dir: build failed"
		failed=$((failed + 1))
		return
	fi
	local args=()
	for s in $suites; do args+=(--suite "$s"); done
	echo "== $dir: test (${suites})"
	rm -f "$dir/meson-logs/testlog.json"
	meson test -C "$dir" --no-rebuild --print-errorlogs "${args[@]}"
	count "$dir"
}

run_build test "unit integration" \
	--buildtype=debugoptimized -Dwerror=true -Dhot_asserts=enabled

if command -v clang >/dev/null; then
	CC=clang run_build san "unit fault fuzz" \
		--buildtype=debug -Dwerror=true -Dhot_asserts=enabled \
		-Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=enabled
else
	echo "test.sh: clang missing: sanitizer build not run"
	failed=$((failed + 1))
fi

if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
