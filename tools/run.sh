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
# Ctrl-C reaches sluiced directly; the shell only waits and cleans up.
trap 'true' INT TERM

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
sluice: DPDK dataplane on $HOST_IF (net_af_packet), appliance address $APPLIANCE_IP;
        the producer side is network namespace $NS ($FAR_IP), e.g.
          ip netns exec $NS <producer> --udp $APPLIANCE_IP:7400
        (if DPDK cannot start, sluiced says why and uses the kernel backend)
TXT
else
	args+=(--no-dpdk)
	echo "sluice: not root: no DPDK dataplane; SLW1 ingest on the kernel UDP/TCP backend at 127.0.0.1:7400"
fi
cat <<TXT
sluice: data in $root/var (metadata in var/meta.db, shard logs in var/shards/);
        inspect a shard's log with
          build/run/tools/sluice segment verify var/shards/*/*/*.seg
        (SLW1 ingest and the Kinesis API on 127.0.0.1:4567 are not served yet.)
        Ctrl-C stops it.
TXT

set +e
build/run/control/sluiced "${args[@]}" "$@"
rc=$?
set -e
exit $rc
