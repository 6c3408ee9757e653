#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# summary: DPDK dataplane: one RX lcore's parse+hash+enqueue records/s (64 B, 512 B; net_pcap replay) vs testpmd rxonly; sluice-gen end to end over af_packet, fsync acks, with exact accounting
#
# The dataplane benchmark, run by perf/run.sh (see perf/README.md for the
# contract and for what each figure means). Needs root (DPDK EAL, a veth
# pair, a network namespace) and CPUs 0 and 1: the RX lcore (sluiced's, or
# testpmd's forwarding lcore) on CPU 1; sluiced's main thread, shard writer
# and control thread, and sluice-gen, on CPU 0.
#
#   1. rx: pcap files of MTU-sized SLW1 datagrams (64-byte and 512-byte
#      records, random partition keys, producer 0, no ack asked) replayed
#      forever by net_pcap (infinite_rx=1) into dpdk-testpmd
#      --forward-mode=rxonly (before and after), and into sluiced (a stream
#      of 4 shards in durability none, then fsync); counters read twice,
#      some seconds apart (testpmd's port stats; sluiced's GET /metrics).
#   2. e2e: sluice-gen on net_af_packet in a network namespace, sluiced on
#      net_af_packet on the other end of the veth, fsync durability, window
#      64, max rate: acked records/s and MB/s, ack latency, and the
#      accounting between the generator's report and sluiced's counters,
#      which must balance exactly (else the run fails).
#
# perf/dataplane/bench_dataplane.py does the work; this script checks the
# tools and owns the scratch directory ($SL_PERF_BUILD/dataplane-scratch:
# pcap files, data directories, logs; removed at the end). The namespace,
# the veth pair and EAL's runtime directories are removed by the Python
# side, also on failure. --quick: 2 s intervals instead of 5 (rx), 3 s
# loads instead of 10 (e2e).
set -euo pipefail

quick=()
for a in "$@"; do
	case $a in
	--quick) quick=(--quick) ;;
	*)
		echo "bench_dataplane.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

die() {
	echo "bench_dataplane.sh: $*" >&2
	exit 1
}

sluiced="$SL_PERF_BUILD/control/sluiced"
gen="$SL_PERF_BUILD/tools/sluice-gen"
for b in "$sluiced" "$gen"; do
	[ -x "$b" ] || die "$b was not built"
done
for tool in dpdk-testpmd ip python3 stdbuf; do
	command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps --perf)"
done
[ "$(id -u)" -eq 0 ] || die "needs root (DPDK EAL, veth pairs, network namespaces)"

scratch="$SL_PERF_BUILD/dataplane-scratch"
rm -rf "$scratch"
mkdir -p "$scratch"
py_pid=
cleanup() {
	# The Python side cleans up after itself, also on SIGTERM (it turns it
	# into an exception); this only waits for it and removes the files.
	if [ -n "$py_pid" ] && kill -0 "$py_pid" 2>/dev/null; then
		kill -TERM "$py_pid" 2>/dev/null || true
		wait "$py_pid" 2>/dev/null || true
	fi
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 "$SL_SOURCE_ROOT/perf/dataplane/bench_dataplane.py" "$sluiced" "$gen" "$scratch" \
	${quick[@]+"${quick[@]}"} &
py_pid=$!
rc=0
wait "$py_pid" || rc=$?
py_pid=
[ "$rc" -eq 0 ] || die "failed (exit $rc); nothing recorded"
