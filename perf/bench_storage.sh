#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# summary: storage engine in fsync mode: append MB/s and records/s (1/4/64 shards), durable-ack latency at 10/50/90% load, group commit; vs fio
#
# The storage benchmark, run by perf/run.sh (see perf/README.md for the
# contract). Everything happens in a scratch directory on the project's own
# filesystem (build/perf/storage-scratch, removed at the end), so that fio
# and sluice write to the same disk through the same filesystem:
#
#   1. fio, sequential O_DIRECT write bandwidth (1 MiB blocks, io_uring,
#      QD 8): the reference for the append MB/s figures.
#   2. perf/bench_storage throughput: 1 KiB records (16 per append) and
#      100-byte records (64 per append) over 1, 4 and 64 shards, with the
#      engine's configuration defaults (O_DIRECT segment writes); then 1 KiB
#      over 4 shards through the page cache (storage.direct_io off), for
#      comparison; then fio 1
#      again. The reference is the mean of the two fio runs.
#   3. fio, 4 KiB write + fdatasync, one at a time: the fdatasync latency
#      percentiles (fio's `sync` latency) are the reference for the
#      durable-ack latency figures.
#   4. bench_storage: the maximum rate of small appends (1..4 records of
#      1 KiB, 4 shards, closed loop), then paced runs at 10, 50 and 90% of
#      it for the durable-ack latency; then fio 3 again (mean of the two).
#   4b. fio at the same load as the 50% run: 4 jobs (one file each, as the
#      4 shards), O_DIRECT + O_DSYNC writes (each one a durable commit:
#      the write, then the file's metadata and a cache flush) of the 50%
#      run's bytes per commit, each job paced to a quarter of its disk
#      MB/s. Its write latency percentiles are what this disk and
#      filesystem take for one such commit at that load: the floor under
#      a group commit's ack latency, which waits for the commit in flight
#      before its own (docs/ARCHITECTURE.md, "Durable-ack latency").
#   5. bench_storage sweep: group commit on one shard (1 KiB, appends of
#      1..4 records): records per commit (per fdatasync) and p99 latency at
#      10..90% of the maximum and at the maximum.
#
# Threads are laid out as sluiced lays them: the producer (standing in for
# an RX lcore) pinned to the last CPU, the writer to the others
# (SL_BENCH_NO_PIN=1 turns that off).
#
# Targets (issue 3, for this 2-core machine): 1 KiB appends at >= 70% of
# fio's bandwidth; 100-byte records at >= 3 M records/s on one writer; p99
# durable-ack latency at 50% load <= 2 x fio's fdatasync p99 + 200 us.
# With --quick every step is shorter (about 1-2 s); all cases still run.
set -euo pipefail

quick=
for a in "$@"; do
	case $a in
	--quick) quick=1 ;;
	*)
		echo "bench_storage.sh: unknown argument $a" >&2
		exit 2
		;;
	esac
done

bin="$SL_PERF_BUILD/perf/bench_storage"
if [ ! -x "$bin" ]; then
	echo "bench_storage.sh: $bin was not built" >&2
	exit 1
fi
command -v fio >/dev/null || {
	echo "bench_storage.sh: fio is missing (tools/install-deps --perf)" >&2
	exit 1
}

if [ -n "$quick" ]; then
	fio_s=2 tput_s=1.5 lat_s=2 sweep_s=1 warm_s=0.3
else
	fio_s=5 tput_s=5 lat_s=5 sweep_s=3 warm_s=1
fi

scratch="$SL_SOURCE_ROOT/build/perf/storage-scratch"
rm -rf "$scratch"
mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT
runs="$scratch/runs.tsv"
: >"$runs"

fio_version=$(fio --version)

# fio_seq N: sequential O_DIRECT write bandwidth into $scratch/fio_seq_N.json
fio_seq() {
	echo "bench_storage.sh: fio sequential O_DIRECT write, ${fio_s} s" >&2
	fio --name=seq --directory="$scratch" --filename=fio_seq.dat --rw=write --bs=1m \
		--direct=1 --ioengine=io_uring --iodepth=8 --size=1G --time_based \
		--runtime="$fio_s" --output-format=json >"$scratch/fio_seq_$1.json"
	rm -f "$scratch/fio_seq.dat"
}

# fio_sync N: 4 KiB write + fdatasync latency into $scratch/fio_sync_N.json
fio_sync() {
	echo "bench_storage.sh: fio 4 KiB write + fdatasync, ${fio_s} s" >&2
	fio --name=sync --directory="$scratch" --filename=fio_sync.dat --rw=write --bs=4k \
		--fdatasync=1 --ioengine=sync --size=1G --time_based --runtime="$fio_s" \
		--output-format=json >"$scratch/fio_sync_$1.json"
	rm -f "$scratch/fio_sync.dat"
}

# sluice TAG MODE ARGS...: one bench_storage invocation; its run lines go
# to $runs prefixed with TAG.
sluice() {
	local tag=$1
	shift
	"$bin" "$@" --dir "$scratch/sluice" --warmup "$warm_s" >"$scratch/out" ||
		{
			echo "bench_storage.sh: bench_storage $* failed" >&2
			exit 1
		}
	sed "s/^run\t/$tag\t/" "$scratch/out" >>"$runs"
}

# The records/s of the run tagged TAG.
rps_of() {
	awk -F'\t' -v tag="$1" '$1 == tag {
		for (i = 2; i <= NF; i++) if ($i ~ /^records_per_s=/) { sub(/^[^=]*=/, "", $i); print $i }
	}' "$runs"
}

fio_seq 1
for sh in 1 4 64; do
	sluice "1k_${sh}sh" throughput --record-bytes 1024 --append-records 16 --shards "$sh" \
		--seconds "$tput_s"
	sluice "100b_${sh}sh" throughput --record-bytes 100 --append-records 64 --shards "$sh" \
		--seconds "$tput_s"
done
sluice 1k_4sh_buffered throughput --record-bytes 1024 --append-records 16 --shards 4 \
	--seconds "$tput_s" --buffered
fio_seq 2

fio_sync 1
sluice max_1k_4sh throughput --record-bytes 1024 --append-records 1-4 --shards 4 \
	--seconds "$tput_s"
max=$(rps_of max_1k_4sh)
for pct in 10 50 90; do
	rate=$(awk -v m="$max" -v p="$pct" 'BEGIN { printf "%.0f", m * p / 100 }')
	sluice "lat_${pct}" latency --record-bytes 1024 --append-records 1-4 --shards 4 \
		--rate "$rate" --seconds "$lat_s"
done
fio_sync 2

# fio_load: 4 KiB-aligned bytes per commit and per-job MB/s of the 50% run.
read -r load_bs load_rate load_size < <(awk -F'\t' '$1 == "lat_50" {
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	bs = int(v["disk_mbps"] * 1e6 / v["commits_per_s"] / 4096 + 0.5) * 4096
	if (bs < 4096) bs = 4096
	rate = int(v["disk_mbps"] * 1e6 / 4)
	printf "%d %d %d\n", bs, rate, int(rate * '"$fio_s"' * 1.5 / 1048576) + 64
}' "$runs")
echo "bench_storage.sh: fio 4 x O_DIRECT+O_DSYNC ${load_bs} B writes at ${load_rate} B/s each, ${fio_s} s" >&2
fio --name=load --directory="$scratch" --numjobs=4 --rw=write --bs="$load_bs" --direct=1 \
	--sync=dsync --ioengine=sync --rate="$load_rate" --size="${load_size}m" --fallocate=keep \
	--time_based --runtime="$fio_s" --group_reporting --output-format=json \
	>"$scratch/fio_load.json"
rm -f "$scratch"/load.*

sluice sweep sweep --record-bytes 1024 --append-records 1-4 --shards 1 --seconds "$sweep_s" \
	--loads 10,30,50,70,90

# Everything measured: the table of runs on stderr, the figure and target
# lines on stdout.
python3 - "$scratch" "$fio_version" <<'EOF'
import json
import sys

scratch, fio_version = sys.argv[1], sys.argv[2]


def load(name):
    with open(f"{scratch}/{name}") as f:
        return json.load(f)


runs = {}
sweep = []
with open(f"{scratch}/runs.tsv") as f:
    for line in f:
        cols = line.rstrip("\n").split("\t")
        kv = dict(c.split("=", 1) for c in cols[1:])
        for k, v in kv.items():
            try:
                kv[k] = float(v)
            except ValueError:
                pass
        if cols[0] == "sweep":
            sweep.append(kv)
        else:
            runs[cols[0]] = kv

seq = [load(f"fio_seq_{i}.json")["jobs"][0]["write"]["bw_bytes"] / 1e6 for i in (1, 2)]
fio_mbps = sum(seq) / 2
sync_pct = {}
for i in (1, 2):
    job = load(f"fio_sync_{i}.json")["jobs"][0]
    p = job["sync"]["lat_ns"]["percentile"]
    for q, key in (("p50", "50.000000"), ("p99", "99.000000"), ("p999", "99.900000")):
        sync_pct.setdefault(q, []).append(p[key] / 1e3)
    wc = job["write"]["clat_ns"]["percentile"]
    print(f"bench_storage.sh: fio run {i}: fdatasync (jobs[0].sync.lat_ns) p50/p99/p99.9 "
          f"{sync_pct['p50'][-1]:.0f}/{sync_pct['p99'][-1]:.0f}/{sync_pct['p999'][-1]:.0f} us; "
          f"the 4 KiB write before it (write.clat_ns) p50/p99 "
          f"{wc['50.000000'] / 1e3:.1f}/{wc['99.000000'] / 1e3:.1f} us", file=sys.stderr)
fio_sync = {q: sum(v) / len(v) for q, v in sync_pct.items()}
lj = load("fio_load.json")["jobs"][0]
lp = lj["write"]["clat_ns"]["percentile"]
fio_load = {q: lp[key] / 1e3 for q, key in (("p50", "50.000000"), ("p99", "99.000000"),
                                            ("p999", "99.900000"))}
load_bs = lj["job options"]["bs"]
load_mbps = lj["write"]["bw_bytes"] / 1e6
print(f"bench_storage.sh: fio at the 50% run's load: 4 jobs x {load_bs} B O_DIRECT+O_DSYNC "
      f"writes, {load_mbps:.0f} MB/s in all: commit (write clat) p50/p99/p99.9 "
      f"{fio_load['p50']:.0f}/{fio_load['p99']:.0f}/{fio_load['p999']:.0f} us", file=sys.stderr)
print(f"bench_storage.sh: fio seq O_DIRECT write {seq[0]:.0f} and {seq[1]:.0f} MB/s "
      f"(mean {fio_mbps:.0f})", file=sys.stderr)

# offered: records/s the producer was paced to ("max": closed loop);
# cpu: cores' worth of CPU time in the window (writer thread, producer
# thread, the whole process including io_uring's kernel workers).
hdr = ("case", "B", "shards", "recs/app", "offered", "rec/s", "MB/s", "disk MB/s", "rec/commit",
       "p50 us", "p99 us", "p99.9 us", "cpu wr", "cpu prod", "cpu proc")
fmt = "%-15s %5s %6s %8s %8s %9s %8s %9s %10s %9s %9s %9s %6s %8s %8s"
print(fmt % hdr, file=sys.stderr)
for tag, r in list(runs.items()) + [(f"sweep_{int(s['load_pct'])}pct", s) for s in sweep]:
    print(fmt % (tag, int(r["record_bytes"]), int(r["shards"]), r["append_records"],
                 f"{r['offered_rps']:.0f}" if r["offered_rps"] > 0 else "max",
                 f"{r['records_per_s']:.0f}", f"{r['payload_mbps']:.1f}",
                 f"{r['disk_mbps']:.1f}", f"{r['records_per_commit']:.1f}",
                 f"{r['p50_us']:.0f}", f"{r['p99_us']:.0f}", f"{r['p999_us']:.0f}",
                 f"{r['writer_cpu']:.2f}", f"{r['producer_cpu']:.2f}",
                 f"{r['process_cpu']:.2f}"), file=sys.stderr)

seq_name = f"{fio_version} seq write O_DIRECT 1 MiB QD8 io_uring (mean of 2)"


def sync_name(q):
    return f"{fio_version} 4 KiB write+fdatasync, fdatasync {q} (mean of 2)"


def figure(name, value, unit, ref, ref_name):
    r = "-" if ref is None else f"{ref:.1f}"
    print(f"figure\t{name}\t{value:.1f}\t{unit}\t{r}\t{ref_name}")


def target(name, value):
    print(f"target\t{name}\t{value:.1f}\tissue 3")


for sh in (1, 4, 64):
    name = f"storage_append_1k_{sh}sh_mbps"
    figure(name, runs[f"1k_{sh}sh"]["payload_mbps"], "MB/s", fio_mbps, seq_name)
    target(name, 0.7 * fio_mbps)
for sh in (1, 4, 64):
    name = f"storage_append_100b_{sh}sh_krps"
    figure(name, runs[f"100b_{sh}sh"]["records_per_s"] / 1e3, "krecords/s", None, "-")
    target(name, 3000)
figure("storage_append_1k_4sh_buffered_mbps", runs["1k_4sh_buffered"]["payload_mbps"], "MB/s",
       fio_mbps, seq_name)
figure("storage_append_1k_4sh_small_max_krps", runs["max_1k_4sh"]["records_per_s"] / 1e3,
       "krecords/s", None, "-")
for pct in (10, 50, 90):
    r = runs[f"lat_{pct}"]
    for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
        name = f"storage_ack_{q}_us_at_{pct}pct"
        figure(name, r[f"{q}_us"], "us", fio_sync[q], sync_name(label))
        if q == "p99" and pct == 50:
            target(name, 2 * fio_sync["p99"] + 200)
load_name = (f"{fio_version} 4 jobs O_DIRECT+O_DSYNC {load_bs} B writes, "
             f"{load_mbps:.0f} MB/s in all (the 50% run's load): one commit's latency")
for q, label in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
    figure(f"storage_ack_{q}_us_at_50pct_vs_disk_commit", runs["lat_50"][f"{q}_us"], "us",
           fio_load[q], f"{load_name}, {label}")
for s in sweep:
    pct = int(s["load_pct"])
    figure(f"storage_gc_1sh_{pct}pct_recs_per_commit", s["records_per_commit"],
           "records/commit", None, "-")
    figure(f"storage_gc_1sh_{pct}pct_p99_us", s["p99_us"], "us", fio_sync["p99"],
           sync_name("p99"))
EOF
