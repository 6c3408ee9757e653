#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run one libFuzzer target for a bounded time (SL_FUZZ_SECONDS, default 20)
# over its checked-in corpus. New inputs go to a scratch directory, never
# into the source tree; a crash leaves its input there and fails the test.
set -euo pipefail
target=$1
corpus=$2
secs=${SL_FUZZ_SECONDS:-20}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
"$target" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
	-print_final_stats=1 "$scratch" "$corpus"
