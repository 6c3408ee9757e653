#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
#
# run.sh: install what is missing, build, and run sluiced in the foreground
# on its embedded default configuration: data in ./var, the API on
# 127.0.0.1:4567. As root, the DPDK dataplane comes up on a veth pair whose
# far end sits in a network namespace this script creates (and removes on
# exit): producers in that namespace reach the appliance at 10.77.0.2.
# Not root: the kernel UDP/TCP backend on 127.0.0.1:7400. Ctrl-C stops it.
#
# Extra arguments go to sluiced (e.g. --daemon.log_level=debug).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

NS=sluice-run
HOST_IF=sl-run0
FAR_IF=sl-run1
FAR_IP=10.77.0.1
APPLIANCE_IP=10.77.0.2

tools/install-deps
if [ ! -f build/run/build.ninja ]; then
	meson setup build/run --buildtype=debugoptimized >/dev/null
fi
ninja -C build/run >/dev/null

cleanup() {
	if [ -n "${made_ns:-}" ]; then
		ip link del "$HOST_IF" 2>/dev/null || true
		ip netns del "$NS" 2>/dev/null || true
	fi
}
trap cleanup EXIT

args=(--data-dir ./var)
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null; then
	cleanup_stale() { ip link del "$HOST_IF" 2>/dev/null || true; ip netns del "$NS" 2>/dev/null || true; }
	cleanup_stale
	ip netns add "$NS"
	made_ns=1
	ip link add "$HOST_IF" type veth peer name "$FAR_IF"
	ip link set "$FAR_IF" netns "$NS"
	ip link set "$HOST_IF" up
	ip -n "$NS" addr add "$FAR_IP/24" dev "$FAR_IF"
	ip -n "$NS" link set "$FAR_IF" up
	ip -n "$NS" link set lo up
	args+=(--dpdk-vdev "net_af_packet0,iface=$HOST_IF" --dpdk-ip "$APPLIANCE_IP")
	cat <<TXT
sluice: DPDK dataplane on $HOST_IF (net_af_packet), appliance address $APPLIANCE_IP
        (answers ARP and ping); the producer side is network namespace $NS
        ($FAR_IP). If DPDK cannot start, sluiced says why in one line and
        takes SLW1 on the kernel backend at 127.0.0.1:7400 instead.
TXT
else
	args+=(--no-dpdk)
	echo "sluice: not root: no DPDK dataplane; SLW1 ingest on the kernel UDP/TCP backend at 127.0.0.1:7400"
fi
gen=build/run/tools/sluice-gen
cli=build/run/tools/sluice
cat <<TXT
sluice: data in $root/var (metadata in var/meta.db, shard logs in var/shards/).
        The Kinesis API is on http://127.0.0.1:4567; a stream "demo" (4 shards)
        is created at start if it does not exist. Send SLW1 frames:
TXT
if [ -n "${made_ns:-}" ]; then
	cat <<TXT
          ip netns exec $NS $gen --udp $APPLIANCE_IP:7400 --stream demo --records 100000
        or through the kernel TCP door on the host:
TXT
fi
cat <<TXT
          $gen --tcp 127.0.0.1:7400 --stream demo --records 100000
        Read them back and watch the counters:
          $cli get demo --limit 5
          $cli tail demo
          $cli stats
          aws --endpoint-url http://127.0.0.1:4567 kinesis list-shards --stream-name demo
        Inspect a shard's log:
          $cli segment verify var/shards/*/*/*.seg
        Ctrl-C stops it.
TXT
set +e
build/run/control/sluiced "${args[@]}" "$@" &
pid=$!
# Ctrl-C: the shell passes it on and waits for sluiced to flush and stop.
trap 'kill -INT $pid 2>/dev/null' INT TERM
for _ in $(seq 1 100); do
	if "$cli" stream describe demo >/dev/null 2>&1; then
		break
	fi
	if "$cli" stream create demo --shards 4 >/dev/null 2>&1; then
		echo "sluice: stream demo created"
		break
	fi
	kill -0 $pid 2>/dev/null || break
	sleep 0.2
done
rc=0
while kill -0 $pid 2>/dev/null; do
	wait $pid
	rc=$?
done
set -e
exit $rc
