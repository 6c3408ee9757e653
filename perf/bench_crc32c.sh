#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# summary: CRC-32C throughput, sl_crc32c() vs ISA-L crc32_iscsi (64 B .. 1 MiB)
#
# The crc32c benchmark, run by perf/run.sh (see perf/README.md for the
# contract): runs perf/bench_crc32c, which checks that sluice and ISA-L give
# the same CRCs and then prints one figure line per buffer size.
# No target has been set for these figures; an issue that sets one adds
# a `target` line here.
set -euo pipefail

bin="$SL_PERF_BUILD/perf/bench_crc32c"
if [ ! -x "$bin" ]; then
	echo "bench_crc32c.sh: $bin was not built: meson did not find libisal" \
		"(install libisal-dev, then: meson setup --reconfigure $SL_PERF_BUILD)" >&2
	exit 1
fi

exec "$bin" "$@"
