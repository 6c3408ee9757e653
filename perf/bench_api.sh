#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# summary: Kinesis API: PutRecords 500 x 100 B / 1 KiB records/s (wrk), PutRecord p50/p99 (closed loop, 1 conn), GetRecords drain; vs kinesalite under the same load
#
# The api benchmark, run by perf/run.sh (see perf/README.md for the
# contract). sluiced (kernel backend, a fresh data directory under
# $SL_PERF_BUILD/api-scratch on the project's filesystem, streams in the
# default fsync durability: a PutRecords is answered once its records are
# fdatasync'd) and kinesalite (perf/api/package.json, installed into
# perf/api/node_modules by npm when missing; it keeps records in memory)
# run side by side, each on free local ports. On both, in the same run:
#
#   0. the same streams are created with boto3 (4 shards each: api-100b,
#      api-1k, api-warm), and the same request bodies are prepared once
#      (perf/api/bench_api.py bodies);
#   1. warm-up: a short PutRecords load into api-warm (not counted);
#   2. wrk (1 thread, 16 connections) posts PutRecords of 500 records of
#      100 B, then of 1 KiB (random data, random partition keys), the same
#      bodies in the same rotation, for the same time on each server;
#      perf/api/put.lua counts the records in answers that are 200 with a
#      FailedRecordCount, and the failed ones;
#   3. wrk with 1 connection, closed loop (wrk2 is not in Debian, so no
#      open-loop pacing): PutRecord of one 100-byte record, p50 and p99;
#   4. the drain: a Python keep-alive client reads every shard of api-100b
#      and api-1k from TRIM_HORIZON (GetRecords, Limit 10000) until an empty
#      page at MillisBehindLatest 0; records/s over the whole stream.
#
# The two servers take turns (the order alternates from step to step) and
# before each step the script waits until neither is still using CPU for
# an earlier step. Any failure (a non-200 answer, a failed record, a socket
# error, fewer records read back than were acknowledged, more than could
# have been in flight) fails the benchmark: the tables go to stderr and no
# figure is printed. Target (the api issue): PutRecords records/s >= 10 x
# kinesalite's, every sluice record fsync-durable. With --quick the loads
# last 3 s instead of 10.
set -euo pipefail

quick=
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	*)
		echo "bench_api.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

die() {
	echo "bench_api.sh: $*" >&2
	exit 1
}

api="$SL_SOURCE_ROOT/perf/api"
sluiced="$SL_PERF_BUILD/control/sluiced"
[ -x "$sluiced" ] || die "$sluiced was not built"
for tool in wrk node npm python3; do
	command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps --perf)"
done
python3 -c 'import boto3' 2>/dev/null || die "python3 has no boto3"

if [ ! -f "$api/node_modules/kinesalite/cli.js" ]; then
	echo "bench_api.sh: npm install (kinesalite, into perf/api/node_modules)" >&2
	(cd "$api" && npm install --no-audit --no-fund >&2) || die "npm install failed"
fi
kinesalite_version=$(node -p "require('$api/node_modules/kinesalite/package.json').version")

conns=16
shards=4
if [ -n "$quick" ]; then
	put_s=3 lat_s=3 warm_s=1
else
	put_s=10 lat_s=10 warm_s=2
fi

scratch="$SL_PERF_BUILD/api-scratch"
rm -rf "$scratch"
mkdir -p "$scratch/bodies"
results="$scratch/results.tsv"
: >"$results"

sluice_pid=
kinesalite_pid=
cleanup() {
	local pid
	for pid in $sluice_pid $kinesalite_pid; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in $sluice_pid $kinesalite_pid; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$scratch"
}
trap cleanup EXIT

read -r sluice_port ingest_port kinesalite_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
sluice_url="http://127.0.0.1:$sluice_port"
kinesalite_url="http://127.0.0.1:$kinesalite_port"

"$sluiced" --no-dpdk --data-dir "$scratch/var" --api-listen "127.0.0.1:$sluice_port" \
	--ingest-listen "127.0.0.1:$ingest_port" >"$scratch/sluiced.log" 2>&1 &
sluice_pid=$!
node "$api/node_modules/kinesalite/cli.js" --port "$kinesalite_port" --createStreamMs 0 \
	--deleteStreamMs 0 --updateStreamMs 0 --shardLimit 100000 >"$scratch/kinesalite.log" 2>&1 &
kinesalite_pid=$!

# wait_for NAME PID LOG PATTERN: until the log says the server is up.
wait_for() {
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q "$4" "$3" && return 0
		kill -0 "$2" 2>/dev/null || break
		sleep 0.1
	done
	cat "$3" >&2
	die "$1 did not start"
}
wait_for sluiced "$sluice_pid" "$scratch/sluiced.log" "daemon: ready"
wait_for kinesalite "$kinesalite_pid" "$scratch/kinesalite.log" "Listening at"

python3 "$api/bench_api.py" bodies "$scratch/bodies"
for url in "$sluice_url" "$kinesalite_url"; do
	python3 "$api/bench_api.py" create "$url" "$shards" api-100b api-1k api-warm ||
		die "creating the streams on $url failed"
done

# The CPU time (clock ticks, user + system) a process has used so far.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Both servers still running, or the end of the run with the dead one's log.
alive() {
	kill -0 "$sluice_pid" 2>/dev/null || {
		tail -n 20 "$scratch/sluiced.log" >&2
		die "sluiced exited during the run"
	}
	kill -0 "$kinesalite_pid" 2>/dev/null || {
		tail -n 20 "$scratch/kinesalite.log" >&2
		die "kinesalite exited during the run"
	}
}

# Until neither server uses more than ~5% of a CPU (the answers to requests
# wrk left in flight are still being worked on), at most 60 s.
settle() {
	local hz a b i s0 s1 k0 k1

	hz=$(getconf CLK_TCK)
	for ((i = 0; i < 240; i++)); do
		alive
		s0=$(cpu_ticks "$sluice_pid")
		k0=$(cpu_ticks "$kinesalite_pid")
		sleep 0.25
		s1=$(cpu_ticks "$sluice_pid")
		k1=$(cpu_ticks "$kinesalite_pid")
		a=$((s1 - s0))
		b=$((k1 - k0))
		[ $((a * 80)) -le "$hz" ] && [ $((b * 80)) -le "$hz" ] && return 0
	done
	echo "bench_api.sh: the servers are still busy after 60 s; measuring anyway" >&2
}

# run_wrk TAG SERVER OPERATION BODIES RECORDS_PER_BODY CONNECTIONS SECONDS:
# one wrk load; put.lua's result line, with the server's CPU time over the
# load, is appended to $results.
run_wrk() {
	local tag=$1 srv=$2 op=$3 bodies=$4 per=$5 c=$6 secs=$7 url pid t0 t1 line

	if [ "$srv" = sluice ]; then
		url=$sluice_url pid=$sluice_pid
	else
		url=$kinesalite_url pid=$kinesalite_pid
	fi
	settle
	echo "bench_api.sh: $tag on $srv: wrk, $op, $c connection(s), ${secs} s" >&2
	t0=$(cpu_ticks "$pid")
	wrk -t1 -c"$c" -d"${secs}s" --timeout 30s -s "$api/put.lua" "$url/" -- \
		"$op" "$scratch/bodies/$bodies" "$per" >"$scratch/wrk.out" 2>&1 ||
		{
			cat "$scratch/wrk.out" >&2
			die "wrk failed"
		}
	alive
	t1=$(cpu_ticks "$pid")
	line=$(grep '^wrk_result' "$scratch/wrk.out") || {
		cat "$scratch/wrk.out" >&2
		die "wrk printed no result"
	}
	printf '%s\t%s\t%s\tcpu_s=%s\n' "$tag" "$srv" "$line" \
		"$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { print t / hz }')" \
		>>"$results"
}

# drain KEY STREAM RECORD_BYTES SERVER: read the stream back.
drain() {
	local url=$sluice_url line

	[ "$4" = sluice ] || url=$kinesalite_url
	settle
	echo "bench_api.sh: drain_$1 on $4: GetRecords over all of $2" >&2
	line=$(python3 "$api/bench_api.py" drain "$url" "$2" "$3") || die "the drain of $2 on $4 failed"
	printf 'drain_%s\t%s\t%s\n' "$1" "$4" "$line" >>"$results"
}

run_wrk warm sluice PutRecords warm.jsonl 500 "$conns" "$warm_s"
run_wrk warm kinesalite PutRecords warm.jsonl 500 "$conns" "$warm_s"
run_wrk put_100b kinesalite PutRecords put_100b.jsonl 500 "$conns" "$put_s"
run_wrk put_100b sluice PutRecords put_100b.jsonl 500 "$conns" "$put_s"
run_wrk put_1k sluice PutRecords put_1k.jsonl 500 "$conns" "$put_s"
run_wrk put_1k kinesalite PutRecords put_1k.jsonl 500 "$conns" "$put_s"
run_wrk put1_100b kinesalite PutRecord put1_100b.jsonl 1 1 "$lat_s"
run_wrk put1_100b sluice PutRecord put1_100b.jsonl 1 1 "$lat_s"
drain 100b api-100b 100 sluice
drain 100b api-100b 100 kinesalite
drain 1k api-1k 1024 kinesalite
drain 1k api-1k 1024 sluice

alive
written=$(awk '/^write_bytes:/ { printf "%.0f", $2 / 1e6 }' "/proc/$sluice_pid/io")
echo "bench_api.sh: sluiced $("$sluiced" --version 2>&1 | head -n 1): fsync durability" \
	"(the default), $written MB written to the disk over the run (/proc/PID/io)" >&2
python3 "$api/bench_api.py" report "$results" "$conns" "$put_s" "$lat_s" \
	"kinesalite $kinesalite_version (in memory, node $(node --version))"
