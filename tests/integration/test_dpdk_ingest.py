# SPDX-License-Identifier: BSD-3-Clause
"""SLW1 over the DPDK dataplane, end to end, as root.

Creates a network namespace and a veth pair (removed at the end), starts the
built sluiced ($SL_BUILD_ROOT/control/sluiced) with net_af_packet on the
host end and dpdk.ip on the veth's subnet, creates streams through the
Kinesis API, and from inside the namespace, with ordinary sockets only
(this file re-runs itself there as the producer):
- ARP: the namespace has no static neighbour entry for the appliance; its
  kernel resolves it, and the entry holds the port's MAC;
- ping: an ICMP echo request is answered (`ping` when installed, else a raw
  ICMP socket), with the identifier, sequence and data echoed;
- SLW1 frames built from WIRE.md alone (tests/helpers/slw1.py, CRC-32C of
  its own, no code shared with the C side) sent through a
  UDP socket: every ack datagram parses (magic, version, CRC), echoes the
  producer id and batch sequence, and its entries match the records: one
  entry per shard in order of first appearance (shards from MD5(key) and
  the stream's hash ranges, as Kinesis), the counts, status OK, and
  sequence numbers that continue from frame to frame within a shard; a
  retransmission is answered with the DUPLICATE flag and the same entries;
  a damaged frame with MALFORMED; a frame for a missing stream with
  STREAM_NOT_FOUND; an ack larger than one datagram arrives split into
  parts that reassemble to the same entries;
- datagrams to another UDP port and to another IP (sent to the port's MAC)
  are not answered and show up in not_for_us; so does a datagram with a
  damaged IPv4 header checksum sent through a packet socket (bad_ip_csum);
- the books on GET /metrics (Prometheus text, sets after `# sluice-set`):
  every frame that reached the ingest core ended in exactly one outcome
  counter, every packet the RX lcore took in one class, the port's own
  counters (set port0) agree with the lcore's and show no loss, and each
  ingest counter equals what the producer sent (frames, bytes, records,
  ack datagrams received, not_for_us, bad_packet); likewise the counters
  the daemon logs when it stops;
- then sluiced is stopped and started again on the same data directory:
  every frame stored before is retransmitted and answered DUPLICATE with
  the original entries (sequence numbers included), new frames continue
  each shard's sequence numbers, and their retransmission is a duplicate;
- every record is read back with boto3: GetShardIterator
  AT_SEQUENCE_NUMBER at each ack entry's first sequence number and
  GetRecords give the entry's records (partition key, data byte for byte,
  first_seq + i), and each shard read from TRIM_HORIZON holds exactly the
  records stored, each once.

Before that, a net_pcap port replays frames written here into a pcap file
(every kind of header the RX loop tells apart: ARP with and without an
802.1Q tag, ICMP echo, IPv4 fragments, a runt, bad version, IHL, lengths,
checksum and source, other ports and protocols, SLW1 with a tag; SLW1
frames stored, retransmitted, stale, unauthorized and malformed in six
ways, into a stream created in a first run on the same data directory)
and records what the port sends into another: the ARP and ICMP answers
and the acks, checked byte by byte (both checksums recomputed here, the
tag kept); every counter of the sets dpdk_rx and ingest on /metrics and
those the daemon logs at stop against what was sent; `sluice stats
--json` against /metrics; the stored records read back (in a third run,
without DPDK).
Exit 77 (skip) when not root, without `ip`, with fewer than 2 CPUs (an
RX lcore needs a CPU besides EAL's main lcore), or when no python3 here
has boto3.
"""
import json
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import kinesis  # noqa: E402
import metrics  # noqa: E402
import pcap  # noqa: E402
import slw1  # noqa: E402
from checks import Failure, check  # noqa: E402
from sluiced import BUILD_ROOT, Sluiced  # noqa: E402
from slw1 import build_frame, parse_ack  # noqa: E402
from veth import Veth  # noqa: E402

SKIP = 77
SLUICE = os.path.join(BUILD_ROOT, "tools", "sluice")
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
ACK_TIMEOUT_S = 5
UDP_PORT = 7400
STREAM = "dp-test"
SHARDS = 2
WIDE_STREAM = "dp-wide"
WIDE_SHARDS = 100  # ~73 entries > 59: more than one ack datagram at MTU 1500
WIDE_BATCH = 1002

# In the producer's results (JSON) an ack is slw1.Ack.as_dict(): status,
# flags, part, parts, producer_id, batch_seq, entries of shard, count,
# status, first_seq.


# ---------------------------------------------------- producer (in netns) ----

def raw_ping(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(ACK_TIMEOUT_S)
    ident, seq, data = random.randrange(1, 0xFFFF), 7, os.urandom(24)
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, pcap.inet_csum(hdr + data), ident, seq) + data
    s.sendto(pkt, (ip, 0))
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while time.monotonic() < deadline:
        d, addr = s.recvfrom(2048)
        ihl = (d[0] & 0xF) * 4
        ic = d[ihl:]
        if addr[0] == ip and ic[0] == 0 and struct.unpack("!HH", ic[4:8]) == (ident, seq):
            return pcap.inet_csum(ic) == 0 and ic[8:] == data
    return False


def neighbour(ip):
    out = subprocess.run(["ip", "neigh", "show", ip], capture_output=True, text=True).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


RECEIVED = {"ack_datagrams": 0}  # in the producer: every ack datagram it got


def acks_for(sock, producer, batch):
    """Ack datagrams for (producer, batch) until all parts are in."""
    parts = {}
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d, _ = sock.recvfrom(65535)
        except socket.timeout:
            break
        RECEIVED["ack_datagrams"] += 1
        a = parse_ack(d).as_dict()
        if a["producer_id"] != producer or a["batch_seq"] != batch:
            continue
        parts[a["part"]] = a
        if len(parts) == a["parts"]:
            return [parts[i] for i in range(a["parts"])]
    raise TimeoutError(f"no complete ack for batch {batch} (parts {sorted(parts)})")


def wire_records(recs):
    """The spec's [key, data hex] pairs as the frame builder takes them."""
    return [(k.encode(), bytes.fromhex(v)) for k, v in recs]


def producer(spec):
    """Runs inside the namespace; prints one JSON object of results. Phase
    "first" before the daemon's restart, "again" after it."""
    ip, res = spec["ip"], {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    sent = {"frames": 0, "bytes": 0}  # SLW1 datagrams to dpdk.ip:dpdk.udp_port

    def send(f):
        sock.sendto(f, (ip, UDP_PORT))
        sent["frames"] += 1
        sent["bytes"] += len(f)

    if spec["phase"] == "first":
        producer_first(spec, sock, send, res)
    else:
        producer_again(spec, sock, send, res)
    res["sent"] = sent
    res["ack_datagrams"] = RECEIVED["ack_datagrams"]
    print(json.dumps(res))


def producer_first(spec, sock, send, res):
    ip, other_ip, pid = spec["ip"], spec["other_ip"], spec["producer"]
    res["neigh_before"] = neighbour(ip)
    res["frames"] = []
    for batch, recs in enumerate(spec["frames"], start=1):
        send(build_frame(spec["stream"], wire_records(recs), pid, batch))
        res["frames"].append(acks_for(sock, pid, batch))
    res["neigh_after"] = neighbour(ip)
    # A retransmission of batch 1, a damaged frame, a missing stream.
    recs = wire_records(spec["frames"][0])
    send(build_frame(spec["stream"], recs, pid, 1))
    res["duplicate"] = acks_for(sock, pid, 1)
    bad = bytearray(build_frame(spec["stream"], recs, pid, 1000))
    bad[-6] ^= 0xFF
    send(bytes(bad))
    res["malformed"] = acks_for(sock, pid, 1000)
    send(build_frame("no-such-stream", recs, pid, 1001))
    res["not_found"] = acks_for(sock, pid, 1001)
    # A frame over most shards of a wide stream: its ack takes two datagrams.
    wide = build_frame(spec["wide_stream"], [(k.encode(), b"") for k in spec["wide_keys"]],
                       pid, WIDE_BATCH)
    assert len(wide) <= 1472, f"wide frame of {len(wide)} bytes would be fragmented"
    send(wide)
    res["wide"] = acks_for(sock, pid, WIDE_BATCH)
    # Not for us: another port, another address (resolved to the port's
    # MAC by a static entry, so the frames do reach it). None is answered.
    n = spec["not_for_us_each"]
    subprocess.run(["ip", "neigh", "replace", other_ip, "lladdr", res["neigh_after"],
                    "dev", spec["ifname"]], check=True)
    for i in range(n):
        sock.sendto(build_frame(spec["stream"], recs, pid, 2000 + i), (ip, UDP_PORT + 1))
        sock.sendto(build_frame(spec["stream"], recs, pid, 3000 + i), (other_ip, UDP_PORT))
    # Sent raw through a packet socket to the port's MAC: a datagram with a
    # damaged IPv4 header checksum (counted as bad). (IPv4 fragments are
    # checked in the pcap case: net_af_packet's fanout has the kernel
    # reassemble them, PACKET_FANOUT_FLAG_DEFRAG, before the port sees them.)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((spec["ifname"], 0))
    udp = pcap.udp(build_frame(spec["stream"], recs, pid, 5000), 40000, UDP_PORT)
    raw.send(pcap.ether(pcap.ipv4(udp, spec["far_ip"], ip, ident=77, damage=0x0101),
                        src=raw.getsockname()[4][:6],
                        dst=bytes.fromhex(res["neigh_after"].replace(":", ""))))
    raw.close()
    res["stray_acks"] = stray_acks(sock)
    if shutil.which("ping"):
        r = subprocess.run(["ping", "-c", "1", "-W", "3", ip], capture_output=True, text=True)
        res["ping"] = r.returncode == 0
        res["ping_how"] = "ping"
    else:
        res["ping"] = raw_ping(ip)
        res["ping_how"] = "raw ICMP socket"


def producer_again(spec, sock, send, res):
    """After the restart: every frame stored before it retransmitted (and
    the wide one), new frames, and a retransmission of the first new one."""
    ip, pid = spec["ip"], spec["producer"]
    res["retransmitted"] = []
    for batch, recs in enumerate(spec["frames"], start=1):
        send(build_frame(spec["stream"], wire_records(recs), pid, batch))
        res["retransmitted"].append(acks_for(sock, pid, batch))
    send(build_frame(spec["wide_stream"], [(k.encode(), b"") for k in spec["wide_keys"]], pid,
                     WIDE_BATCH))
    res["wide"] = acks_for(sock, pid, WIDE_BATCH)
    first_new = WIDE_BATCH + 1  # batch_seq goes on increasing
    res["new"] = []
    for batch, recs in enumerate(spec["new_frames"], start=first_new):
        send(build_frame(spec["stream"], wire_records(recs), pid, batch))
        res["new"].append(acks_for(sock, pid, batch))
    send(build_frame(spec["stream"], wire_records(spec["new_frames"][0]), pid, first_new))
    res["new_duplicate"] = acks_for(sock, pid, first_new)
    res["stray_acks"] = stray_acks(sock)
    res["neigh"] = neighbour(ip)


def stray_acks(sock):
    """Datagrams that arrive within a second (none is expected)."""
    sock.settimeout(1.0)
    stray = 0
    try:
        while True:
            sock.recvfrom(65535)
            stray += 1
    except socket.timeout:
        pass
    return stray


# ------------------------------------------------------- Kinesis (setup) ----

def shard_ranges(api_port, stream, shards):
    """Create the stream; its shards' hash ranges as (number, low, high)."""
    try:
        status, body = kinesis.call(api_port, "CreateStream",
                                    {"StreamName": stream, "ShardCount": shards})
    except OSError:
        raise Failure(f"no Kinesis API on api.listen (127.0.0.1:{api_port}): this test "
                      f"creates its streams with CreateStream")
    check(status == 200, f"CreateStream {stream}: {status} {body}")
    ranges, token = [], None
    while True:
        args = {"NextToken": token} if token else {"StreamName": stream}
        status, body = kinesis.call(api_port, "ListShards", args)
        check(status == 200, f"ListShards {stream}: {status} {body}")
        ranges += [(int(s["ShardId"].split("-")[1]), int(s["HashKeyRange"]["StartingHashKey"]),
                    int(s["HashKeyRange"]["EndingHashKey"])) for s in body["Shards"]]
        token = body.get("NextToken")
        if not token:
            break
    check(len(ranges) == shards, f"{stream}: {len(ranges)} shards listed")
    return ranges


def shard_of(key, ranges):
    h = slw1.hash_key_of(key)
    for shard, lo, hi in ranges:
        if lo <= h <= hi:
            return shard
    raise AssertionError(f"no shard for {key}")


def expected_entries(recs, ranges):
    return slw1.entries_in_order(shard_of(k, ranges) for k, _ in recs)


# ---------------------------------------------------- Kinesis (read back) ----

class Ledger:
    """What a stream must hold, from the acks: per shard number, the
    records (sequence number or None when unacked, key, data) in order."""

    def __init__(self, stream, ranges):
        self.stream, self.ranges = stream, ranges
        self.shards = {num: [] for num, _, _ in ranges}
        self.entries = []  # (shard, first_seq, [(key, data)]) per OK ack entry

    def stored(self, recs, entries, what):
        """recs ([key str, data bytes]) stored with these ack entries."""
        for e in entries:
            mine = [(k, d) for k, d in recs if shard_of(k, self.ranges) == e["shard"]]
            check(len(mine) == e["count"], f"{what}: shard {e['shard']} count {e['count']}, "
                  f"{len(mine)} records routed there")
            self.entries.append((e["shard"], e["first_seq"], mine))
            self.shards[e["shard"]] += [(e["first_seq"] + i, k, d)
                                        for i, (k, d) in enumerate(mine)]

    def stored_unacked(self, recs):
        for k, d in recs:
            self.shards[shard_of(k, self.ranges)].append((None, k, d))

    def verify(self, kc):
        """Each ack entry read at its first sequence number, then every
        shard from TRIM_HORIZON: exactly the records stored, once each."""
        ids = shard_ids(kc, self.stream)
        for shard, first, recs in self.entries:
            it = kc.get_shard_iterator(StreamName=self.stream, ShardId=ids[shard],
                                       ShardIteratorType="AT_SEQUENCE_NUMBER",
                                       StartingSequenceNumber=str(first))["ShardIterator"]
            got = []
            for _ in range(100):
                r = kc.get_records(ShardIterator=it, Limit=len(recs) - len(got))
                got += r["Records"]
                if len(got) >= len(recs) or not r["Records"]:
                    break
                it = r["NextShardIterator"]
            got = [(int(g["SequenceNumber"]), g["PartitionKey"], bytes(g["Data"])) for g in got]
            want = [(first + i, k, d) for i, (k, d) in enumerate(recs)]
            check(got == want, f"{self.stream} shard {shard} from {first}: "
                  f"{first_difference(got, want)}")
        for shard, want in self.shards.items():
            got = [(int(g["SequenceNumber"]), g["PartitionKey"], bytes(g["Data"]))
                   for g in kinesis.read_all(kc, self.stream, ids[shard], rounds=1000)]
            # Unacked records: their sequence numbers are whatever was read.
            want = [(g[0] if w[0] is None else w[0],) + w[1:] for w, g in zip(want, got)] + \
                want[len(got):]
            check(got == want, f"{self.stream} shard {shard} from TRIM_HORIZON: "
                  f"{first_difference(got, want)}")
            seqs = [g[0] for g in got]
            check(all(b > a for a, b in zip(seqs, seqs[1:])),
                  f"{self.stream} shard {shard}: sequence numbers not increasing: {seqs}")


def first_difference(got, want):
    """Where two lists of (sequence number, key, data) part."""
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"record {i} read {g}, expected {w}"
    return f"{len(got)} records read, {len(want)} expected"


def shard_ids(kc, stream):
    ids, args = {}, {"StreamName": stream}
    while True:
        r = kc.list_shards(**args)
        ids.update({int(s["ShardId"].split("-")[1]): s["ShardId"] for s in r["Shards"]})
        if not r.get("NextToken"):
            return ids
        args = {"NextToken": r["NextToken"]}


# ------------------------------------------------------------- metrics ----

# The counters of the ingest set besides the outcomes (metrics.INGEST_OUTCOMES,
# malformed_*): a counter not named in either is new and this test must
# learn how it adds up.
INGEST_OTHERS = ("frames", "records", "bytes", "records_stored", "records_rejected",
                 "records_duplicate",
                 "dedupe_evicted", "acks", "ack_datagrams", "not_for_us", "bad_packet",
                 "ip_fragment", "ack_tx_drop")
PORT_COUNTERS = ("rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "imissed", "ierrors",
                 "oerrors", "rx_nombuf")


def settled_metrics(api_port, timeout=10, until=None):
    """/metrics once the port and RX counters stop moving (frames the
    kernel of the namespace may still send, answers still going out),
    every frame has ended in an outcome, and until(m) holds."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        m = metrics.fetch(api_port)
        ing = m.get("ingest", {})
        now = {k: m.get(k) for k in ("ingest", "dpdk_rx", "port0")}
        if now == prev and ing.get("frames") == metrics.ended(ing) and \
                (until is None or until(m)):
            return m
        if time.monotonic() > deadline:
            return m
        prev = now
        time.sleep(0.2)


def check_accounting(m, what):
    """The daemon's own books: every frame ended in one outcome, every
    packet the RX lcore took in one class, the port's counters agree."""
    for name in ("ingest", "dpdk_rx", "port0"):
        check(name in m, f"{what}: no set {name} on /metrics (sets {sorted(m)})")
    ing, rx, port = m["ingest"], m["dpdk_rx"], m["port0"]
    known = metrics.INGEST_OUTCOMES + INGEST_OTHERS
    unknown = [k for k in ing if k not in known
               and not k.startswith("malformed_")]
    check(not unknown, f"{what}: ingest counters unknown to this test: {unknown}")
    missing = [k for k in known if k not in ing]
    check(not missing, f"{what}: ingest counters missing: {missing}")
    check(ing["frames"] == metrics.ended(ing),
          f"{what}: ingest frames {ing['frames']}, ended in an outcome {metrics.ended(ing)}: {ing}")
    missing = [k for k in PORT_COUNTERS if k not in port]
    check(not missing, f"{what}: port0 counters missing: {missing}")
    for k in ("imissed", "ierrors", "oerrors", "rx_nombuf"):
        check(port[k] == 0, f"{what}: port0 {k} {port[k]}")
    bad = metrics.rx_bad(rx)
    classes = metrics.rx_classified(rx)
    check(rx["replies_dropped"] == 0 and rx["acks_dropped"] == 0,
          f"{what}: replies_dropped {rx['replies_dropped']} acks_dropped {rx['acks_dropped']}")
    check(rx["rx_packets"] == classes,
          f"{what}: dpdk_rx rx_packets {rx['rx_packets']}, classified {classes}: {rx}")
    check((port["rx_packets"], port["rx_bytes"]) == (rx["rx_packets"], rx["rx_bytes"]),
          f"{what}: port0 received {port['rx_packets']} ({port['rx_bytes']} bytes), the RX "
          f"lcore took {rx['rx_packets']} ({rx['rx_bytes']} bytes)")
    check(rx["tx_packets"] == rx["acks_sent"] + rx["arp_replies"] + rx["icmp_replies"],
          f"{what}: dpdk_rx tx_packets {rx['tx_packets']}: {rx}")
    check(port["tx_packets"] == rx["tx_packets"],
          f"{what}: port0 tx_packets {port['tx_packets']}, the RX lcore sent {rx['tx_packets']}")
    check((ing["frames"], ing["not_for_us"], ing["bad_packet"], ing["ip_fragment"]) ==
          (rx["ingest_frames"], rx["not_for_us"], bad, rx["ip_fragments"]),
          f"{what}: ingest frames/not_for_us/bad_packet/ip_fragment {ing}, dpdk_rx {rx}")
    check(ing["ack_datagrams"] == rx["acks_sent"] + rx["acks_dropped"] and
          ing["ack_tx_drop"] == rx["acks_dropped"],
          f"{what}: ingest ack_datagrams {ing['ack_datagrams']} ack_tx_drop "
          f"{ing['ack_tx_drop']}, dpdk_rx acks_sent {rx['acks_sent']}")


def dpdk_baseline(d):
    """/metrics before the test sends anything. net_af_packet's packet
    socket takes frames from every interface of the host until it is bound
    to its own (here: whatever runs on lo meanwhile); they are counted, as
    not_for_us or bad, and are no part of what this test sent."""
    base = settled_metrics(d.api_port)
    check_accounting(base, "at start")
    rx = base["dpdk_rx"]
    check(base["ingest"]["frames"] == 0 and rx["acks_sent"] == rx["tx_packets"] == 0,
          f"traffic before the test sent any: {base}")
    return base


def check_counters(got, want, what):
    """Every counter of a set: those in want as given, the others 0."""
    diff = {k: (v, want.get(k, 0)) for k, v in got.items() if v != want.get(k, 0)}
    absent = [k for k in want if k not in got]
    check(not diff and not absent, f"{what}: (got, expected) {diff}, absent {absent}")


def check_stats_cli(api_port):
    """`sluice stats --json` prints what /metrics holds: the same sets and
    counters, each value between a read before and one after it."""
    before = metrics.fetch(api_port)
    r = subprocess.run([SLUICE, "--endpoint", f"http://127.0.0.1:{api_port}", "--json",
                        "stats"], capture_output=True, text=True, timeout=30)
    after = metrics.fetch(api_port)
    check(r.returncode == 0, f"sluice stats --json: exit {r.returncode}: {r.stderr}")
    cli = json.loads(r.stdout)
    check(sorted(cli) == sorted(before) == sorted(after),
          f"sluice stats --json sets {sorted(cli)}, /metrics {sorted(before)}")
    for name, counters in cli.items():
        check(sorted(counters) == sorted(before[name]),
              f"sluice stats --json {name}: {sorted(counters)}, /metrics {sorted(before[name])}")
        for c, v in counters.items():
            check(before[name][c] <= v <= after[name][c],
                  f"sluice stats --json {name} {c} {v}, /metrics {before[name][c]} then "
                  f"{after[name][c]}")
    return cli


# ------------------------------------------------------------------ test ----

class Net(Veth):
    """The veth pair and namespace of the test; ip is dpdk.ip, other_ip
    another address of the far end's subnet."""

    def __init__(self):
        tag = os.getpid() % 100000
        net = 200 + tag % 50
        super().__init__(f"sldpi{tag}", f"sldh{tag}", f"sldf{tag}", f"10.{net}.7.1")
        self.ip, self.other_ip = f"10.{net}.7.2", f"10.{net}.7.3"


class Daemon(Sluiced):
    """sluiced on a temporary data directory with a boto3 client on it (kc);
    start() after a stop runs it again on the same directory (each run logs
    to its own file)."""

    def __init__(self, args):
        super().__init__(tmp_prefix="sluice-dp-", dpdk_prefix=f"sl-dp-{os.getpid()}",
                         ready_timeout_s=READY_TIMEOUT_S, stop_timeout_s=STOP_TIMEOUT_S)
        self.start(args)

    def start(self, args):
        super().start("--dpdk.idle_sleep_us=50", "--ingest.kernel=off", *args)
        self.kc = kinesis.client(self.api_port)

    def port_mac(self):
        m = re.search(r"dpdk: port 0: \S+ \(driver \S+\) mac ([0-9a-f:]{17})", self.text())
        check(m, "port 0 not logged:\n" + self.text())
        return m.group(1)


def make_frames(prefix="key", seed=5, count=6):
    rnd = random.Random(seed)
    frames = []
    for i in range(count):
        recs = []
        for j in range(rnd.randrange(1, 12)):
            key = f"{prefix}-{i}-{j}-{rnd.randrange(1 << 30)}"
            recs.append((key, os.urandom(rnd.randrange(0, 64)).hex()))
        frames.append(recs)
    # 100 records (one datagram) over 2 shards: 2 entries.
    frames.append([(f"{prefix[0]}{j}", os.urandom(2).hex()) for j in range(100)])
    return frames


def entries_of(parts):
    return [e for p in parts for e in p["entries"]]


def check_stored(parts, recs, ranges, next_seq, what):
    """An OK ack (all parts) of recs: entries against the routing, sequence
    numbers continuing each shard's (next_seq, updated)."""
    for p in parts:
        check(p["status"] == slw1.OK, f"{what}: status {p['status']}")
        check(p["flags"] == 0, f"{what}: flags {p['flags']}")
    entries = entries_of(parts)
    want = expected_entries(recs, ranges)
    got = [(e["shard"], e["count"]) for e in entries]
    check(got == want, f"{what}: entries {got}, expected {want}")
    for e in entries:
        check(e["status"] == slw1.OK, f"{what}: entry status {e['status']}")
        if e["shard"] in next_seq:
            check(e["first_seq"] == next_seq[e["shard"]],
                  f"{what}: shard {e['shard']} seq {e['first_seq']}, expected "
                  f"{next_seq[e['shard']]}")
        next_seq[e["shard"]] = e["first_seq"] + e["count"]


def check_duplicate(parts, original, what):
    """A retransmission's ack: DUPLICATE on every part, the original's
    status and entries (sequence numbers included)."""
    check(all(p["flags"] & slw1.ACK_F_DUPLICATE for p in parts), f"{what}: not DUPLICATE")
    check([p["status"] for p in parts] == [p["status"] for p in original],
          f"{what}: status {[p['status'] for p in parts]}")
    check(entries_of(parts) == entries_of(original),
          f"{what}: entries {entries_of(parts)}, the original's {entries_of(original)}")


def check_acks(res, frames, ranges, port_mac):
    check(res["neigh_before"] is None, f"a neighbour entry before any traffic: "
          f"{res['neigh_before']}")
    check(res["neigh_after"] == port_mac,
          f"ARP: neighbour {res['neigh_after']}, the port's MAC is {port_mac}")
    next_seq = {}
    for batch, (recs, parts) in enumerate(zip(frames, res["frames"]), start=1):
        check_stored(parts, recs, ranges, next_seq, f"batch {batch}")
    check_duplicate(res["duplicate"], res["frames"][0], "retransmission of batch 1")
    check(res["malformed"][0]["status"] == slw1.MALFORMED and not res["malformed"][0]["entries"],
          f"damaged frame: {res['malformed']}")
    check(res["not_found"][0]["status"] == slw1.STREAM_NOT_FOUND,
          f"missing stream: {res['not_found']}")
    check(res["stray_acks"] == 0, f"{res['stray_acks']} answer(s) to frames not for us")
    check(res["ping"], f"no echo reply ({res['ping_how']})")
    return next_seq


def lcore_counter(text, name):
    vals = [int(v) for v in re.findall(rf"RX lcore \d+ stopped: .*\b{name} (\d+)", text)]
    check(vals, f"no RX lcore counters logged at stop:\n{text}")
    return sum(vals)


def decoded(recs):
    """The spec's [key, data hex] pairs as (key str, data bytes)."""
    return [(k, bytes.fromhex(v)) for k, v in recs]


def wait_dpdk(d):
    d.wait_ready(require="DPDK ingest: SLW1 on UDP")


def run_producer(net, d, spec):
    r = subprocess.run(["ip", "netns", "exec", net.ns, sys.executable,
                        os.path.abspath(__file__), "--producer"],
                       input=json.dumps(spec), capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"producer ({spec['phase']}) failed:\n{r.stderr}\n"
          f"--- daemon:\n{d.text()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def case_veth():
    """net_af_packet on a veth, a producer in a namespace (Kinesis API
    needed), the daemon restarted on its data directory in the middle."""
    net = Net()
    d = None
    try:
        args = [f"--dpdk-vdev=net_af_packet0,iface={net.host_if}", "--dpdk-ip", net.ip]
        d = Daemon(args)
        wait_dpdk(d)
        base = dpdk_baseline(d)
        port_mac = d.port_mac()
        ranges = shard_ranges(d.api_port, STREAM, SHARDS)
        wide_ranges = shard_ranges(d.api_port, WIDE_STREAM, WIDE_SHARDS)
        frames = make_frames()
        new_frames = make_frames("new", seed=6, count=3)
        not_for_us_each = 5
        wide_keys = [f"w{j}" for j in range(130)]  # one datagram: < 1472 bytes
        spec = {"phase": "first", "producer": random.getrandbits(63) | 1,
                "ip": net.ip, "other_ip": net.other_ip, "far_ip": net.far_ip,
                "ifname": net.far_if, "stream": STREAM, "frames": frames,
                "new_frames": new_frames, "not_for_us_each": not_for_us_each,
                "wide_stream": WIDE_STREAM, "wide_keys": wide_keys}
        res = run_producer(net, d, spec)
        next_seq = check_acks(res, frames, ranges, port_mac)
        wide = res["wide"]
        want = expected_entries([(k, "") for k in wide_keys], wide_ranges)
        check(len(wide) >= 2 and len(want) > 59,
              f"wide ack in {len(wide)} datagram(s) for {len(want)} entries")
        check(all(p["parts"] == len(wide) and p["status"] == slw1.OK for p in wide),
              f"wide ack parts: {[(p['part'], p['parts'], p['status']) for p in wide]}")
        check([(e["shard"], e["count"]) for p in wide for e in p["entries"]] == want,
              "wide ack entries differ from the records' shards")
        ledger, wide_ledger = Ledger(STREAM, ranges), Ledger(WIDE_STREAM, wide_ranges)
        for batch, (recs, parts) in enumerate(zip(frames, res["frames"]), start=1):
            ledger.stored(decoded(recs), entries_of(parts), f"batch {batch}")
        wide_ledger.stored([(k, b"") for k in wide_keys], entries_of(wide), "wide batch")

        # The books before the restart: every frame the producer sent to
        # dpdk.ip:dpdk.udp_port reached the ingest core and ended once.
        n_frames = len(frames) + 4  # + duplicate, damaged, missing stream, wide
        check(res["sent"]["frames"] == n_frames, f"producer sent {res['sent']}")
        m = settled_metrics(d.api_port)
        check_accounting(m, "before the restart")
        n_recs = sum(len(r) for r in frames)
        check_counters(metrics.delta(m, base)["ingest"], {
            "frames": n_frames, "bytes": res["sent"]["bytes"],
            "records": n_recs + 2 * len(frames[0]) + len(wide_keys),
            "records_stored": n_recs + len(wide_keys), "frames_ok": len(frames) + 1,
            # the missing stream's frame, and the retransmission of frame 1
            "records_rejected": len(frames[0]), "records_duplicate": len(frames[0]),
            "duplicate": 1, "malformed_bad_crc": 1, "stream_not_found": 1, "acks": n_frames,
            "ack_datagrams": res["ack_datagrams"], "not_for_us": 2 * not_for_us_each,
            "bad_packet": 1}, "ingest before the restart")
        rx = metrics.delta(m, base)["dpdk_rx"]
        check((rx["icmp_replies"], rx["bad_ip_csum"]) == (1, 1) and rx["arp_replies"] >= 1,
              f"dpdk_rx before the restart: {rx}")

        # The same in the line the RX lcore logs when it stops. Only our
        # frames cross the veth (IPv6 is off): exactly the 2n sent, once
        # what came in before is set aside.
        text = d.stop_clean()
        brx = base["dpdk_rx"]
        nfu = lcore_counter(text, "not_for_us") - brx["not_for_us"]
        check(nfu == 2 * not_for_us_each,
              f"not_for_us {nfu}, sent {2 * not_for_us_each} not-for-us datagrams")
        check(lcore_counter(text, "icmp_replies") >= 1, "no ICMP reply counted")
        check(lcore_counter(text, "arp_replies") >= 1, "no ARP reply counted")
        check(lcore_counter(text, "ingest_frames") == n_frames,
              f"ingest_frames: {lcore_counter(text, 'ingest_frames')}, sent {n_frames}")
        bad = lcore_counter(text, "bad") - sum(v for k, v in brx.items() if k.startswith("bad_"))
        check(bad == 1 and lcore_counter(text, "bad_ip_csum") - brx["bad_ip_csum"] == 1,
              f"bad: {bad}, sent 1 bad IPv4 header checksum")
        check(lcore_counter(text, "acks_dropped") == 0, "acks dropped")

        # Again on the same data directory: what was stored before is
        # answered DUPLICATE with the same entries, new frames continue
        # each shard's sequence numbers.
        d.start(args)
        wait_dpdk(d)
        base = dpdk_baseline(d)
        check(d.port_mac() == port_mac, f"port MAC {d.port_mac()} after the restart")
        res2 = run_producer(net, d, dict(spec, phase="again"))
        for batch, (orig, parts) in enumerate(zip(res["frames"], res2["retransmitted"]),
                                              start=1):
            check_duplicate(parts, orig, f"batch {batch} after the restart")
        check_duplicate(res2["wide"], wide, "wide batch after the restart")
        for batch, (recs, parts) in enumerate(zip(new_frames, res2["new"]),
                                              start=WIDE_BATCH + 1):
            what = f"batch {batch} (after the restart)"
            check_stored(parts, recs, ranges, next_seq, what)
            ledger.stored(decoded(recs), entries_of(parts), what)
        check_duplicate(res2["new_duplicate"], res2["new"][0],
                        f"batch {WIDE_BATCH + 1} again")
        check(res2["stray_acks"] == 0, f"{res2['stray_acks']} unexpected datagram(s)")
        check(res2["neigh"] == port_mac, f"neighbour {res2['neigh']} after the restart")

        # Read back: each ack entry at its first sequence number, each
        # shard whole (every record once, nothing else).
        ledger.verify(d.kc)
        wide_ledger.verify(d.kc)

        n2 = len(frames) + 1 + len(new_frames) + 1
        check(res2["sent"]["frames"] == n2, f"producer sent {res2['sent']}")
        m = settled_metrics(d.api_port)
        check_accounting(m, "after the restart")
        n_new = sum(len(r) for r in new_frames)
        check_counters(metrics.delta(m, base)["ingest"], {
            "frames": n2, "bytes": res2["sent"]["bytes"],
            "records": n_recs + len(wide_keys) + n_new + len(new_frames[0]),
            "records_stored": n_new, "frames_ok": len(new_frames),
            "records_duplicate": n_recs + len(wide_keys) + len(new_frames[0]),
            "duplicate": len(frames) + 2, "acks": n2,
            "ack_datagrams": res2["ack_datagrams"]}, "ingest after the restart")
        text = d.stop_clean()
        check(lcore_counter(text, "ingest_frames") == n2,
              f"ingest_frames after the restart: {lcore_counter(text, 'ingest_frames')}, "
              f"sent {n2}")
    except Exception:
        if d is not None and not isinstance(sys.exc_info()[1], Failure):
            print("--- daemon log:\n" + d.text())
        raise
    finally:
        if d is not None:
            d.close()
        net.close()


# ------------------------------------------------------------ pcap case ----

PEER_MAC = bytes.fromhex("020000000099")
PC_PEER, PC_OURS, PC_OTHER = "10.77.0.1", "10.77.0.2", "10.77.0.3"
PC_STREAM = "dp-pcap"
PC_SHARDS = 2
PC_PRODUCER = 0x5EED0001


# The headers of the replayed frames: from the peer, to us, unless told.
def eth(payload, vlan=None, etype=pcap.ETH_IPV4, dst=pcap.BROADCAST):
    return pcap.ether(payload, PEER_MAC, dst, etype, vlan)


def ip4(body, proto=17, src=PC_PEER, dst=PC_OURS, **kw):
    return pcap.ipv4(body, src, dst, proto, ident=9, **kw)


def udp4(payload, sport=40000, dport=UDP_PORT, length=None):
    return pcap.udp(payload, sport, dport, length)


def arp_req(target):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                       socket.inet_aton(PC_PEER), b"\0" * 6, socket.inet_aton(target))


def echo_req(data, damage=0):
    h = struct.pack("!BBHHH", 8, 0, 0, 0x77, 3)
    return struct.pack("!BBHHH", 8, 0, pcap.inet_csum(h + data) ^ damage, 0x77, 3) + data


def pcap_slw1():
    """The SLW1 frames of the replay, in order, beside the headers' cases:
    (name, frame, records (key str, data bytes) or None, expected ack
    status, None when no ack comes back, "duplicate" for the
    retransmission). Stored: a, b, quiet, c."""
    rnd = random.Random(9)

    def recs(tag, n):
        return [(f"{tag}-{j}-{rnd.randrange(1 << 30)}", rnd.randbytes(rnd.randrange(0, 40)))
                for j in range(n)]

    def wire(rs):
        return [(k.encode(), d) for k, d in rs]

    a, b, q, c = recs("pa", 6), recs("pb", 4), recs("pq", 3), recs("pc", 5)
    bad_crc = bytearray(build_frame(PC_STREAM, wire(b), PC_PRODUCER, 4))
    bad_crc[-1] ^= 0x5A
    bad_magic = bytearray(build_frame(PC_STREAM, wire(b), PC_PRODUCER, 5))
    bad_magic[0] ^= 0xFF
    v2 = bytearray(build_frame(PC_STREAM, wire(b), PC_PRODUCER, 6))
    v2[4] = 2
    no_recs = bytearray(build_frame(PC_STREAM, wire(b), PC_PRODUCER, 11))
    no_recs[6:8] = b"\0\0"  # record_count 0, the CRC made right again
    no_recs[-4:] = struct.pack("!I", slw1.crc32c(bytes(no_recs[:-4])))
    return [
        ("a", build_frame(PC_STREAM, wire(a), PC_PRODUCER, 1), a, slw1.OK),
        ("b", build_frame(PC_STREAM, wire(b), PC_PRODUCER, 2), b, slw1.OK),
        ("a again", build_frame(PC_STREAM, wire(a), PC_PRODUCER, 1), a, "duplicate"),
        ("quiet", build_frame(PC_STREAM, wire(q), 0, 3, flags=0), q, None),
        ("c", build_frame(PC_STREAM, wire(c), PC_PRODUCER, 100), c, slw1.OK),
        ("stale", build_frame(PC_STREAM, wire(a), PC_PRODUCER, 30), a, slw1.STALE_BATCH),
        ("bad CRC", bytes(bad_crc), None, slw1.MALFORMED),
        ("bad magic", bytes(bad_magic), None, None),
        ("version 2", bytes(v2), None, None),
        # AUTH set: a 32-byte tag after the CRC (no keys configured here).
        ("AUTH", build_frame(PC_STREAM, wire(b), PC_PRODUCER, 9,
                             flags=slw1.F_ACK_REQUESTED | slw1.F_AUTH), None, slw1.UNAUTHORIZED),
        ("bad stream name", build_frame("no/such", wire(b), PC_PRODUCER, 10), None,
         slw1.MALFORMED),
        ("record_count 0", bytes(no_recs), None, slw1.MALFORMED),
        ("a byte past frame_len", build_frame(PC_STREAM, wire(b), PC_PRODUCER, 12) + b"\0",
         None, slw1.MALFORMED),
    ]


def pcap_input():
    """(frames, counters the RX loop must end with)."""
    missing = build_frame("no-such-stream", [(b"k", b"v")], 42, 7)
    missing_quiet = build_frame("no-such-stream", [(b"k", b"v")], 42, 8, flags=0)
    full = udp4(missing)
    frames = [
        eth(arp_req(PC_OURS), etype=pcap.ETH_ARP),
        eth(arp_req(PC_OURS), vlan=5, etype=pcap.ETH_ARP),
        eth(ip4(echo_req(b"sluice-echo-data"), proto=1)),
        eth(ip4(full[:24], frag=0x2000)),                     # first fragment (MF)
        eth(ip4(full[24:], frag=24 // 8)),                    # last fragment
        eth(ip4(full, damage=0x0101)),                        # header checksum
        eth(ip4(full, ver_ihl=0x65)),                         # version 6
        eth(ip4(full, ver_ihl=0x44)),                         # IHL 4
        eth(ip4(full, total=20 + len(full) + 1)),             # past the frame
        eth(ip4(udp4(missing, length=7))),                    # UDP length
        eth(ip4(full, src="127.0.0.1")),                      # source
        eth(b"")[:10],                                        # runt
        eth(ip4(echo_req(b"x", damage=1), proto=1)),          # ICMP checksum
        eth(ip4(udp4(missing, dport=UDP_PORT + 1))),          # other port
        eth(ip4(full, dst=PC_OTHER)),                         # other IP
        eth(ip4(full, proto=6)),                              # TCP
        eth(b"\x60" + b"\0" * 60, etype=0x86DD),              # IPv6
        eth(arp_req(PC_OTHER), etype=pcap.ETH_ARP),                # ARP for another
        eth(ip4(full), vlan=9),                               # SLW1, acked
        eth(ip4(udp4(missing_quiet))),                       # SLW1, no ack asked
    ] + [eth(ip4(udp4(f))) for _, f, _, _ in pcap_slw1()]    # stored, refused, malformed
    slw1_frames = 2 + len(pcap_slw1())
    want = {"rx_packets": len(frames), "arp_replies": 2, "icmp_replies": 1, "ip_fragments": 2,
            "bad": 8, "bad_ip_csum": 1, "bad_ip_version": 1, "bad_ip_hdr_len": 1,
            "bad_ip_len": 1, "bad_udp_len": 1, "bad_ip_src": 1, "bad_eth": 1, "bad_icmp": 1,
            "not_for_us": 5, "ingest_frames": slw1_frames, "acks_dropped": 0,
            "replies_dropped": 0}
    return frames, want


def strip_tag(f):
    if struct.unpack("!H", f[12:14])[0] == 0x8100:
        return struct.unpack("!H", f[14:16])[0], f[:12] + f[16:]
    return None, f


def check_pcap_output(out, port_mac):
    mac = bytes.fromhex(port_mac.replace(":", ""))
    arps, echoes, acks = [], [], []
    for f in out:
        vlan, u = strip_tag(f)
        check(u[:6] == PEER_MAC and u[6:12] == mac, f"sent {f[:14].hex()}: wrong MACs")
        etype = struct.unpack("!H", u[12:14])[0]
        if etype == 0x0806:
            arps.append((vlan, f, u))
        elif etype == 0x0800 and u[14 + 9] == 1:
            echoes.append((vlan, u))
        elif etype == 0x0800 and u[14 + 9] == 17:
            acks.append((vlan, u))
        else:
            raise Failure(f"unexpected frame sent: {f.hex()}")
    check(len(arps) == 2 and len(echoes) == 1,
          f"sent {len(out)} frames: {len(arps)} ARP, {len(echoes)} ICMP, {len(acks)} UDP")
    check(sorted(v or 0 for v, _, _ in arps) == [0, 5], "ARP answers' tags")
    for vlan, f, u in arps:
        check(len(f) == 60, f"ARP answer of {len(f)} bytes, not padded to 60")
        a = u[14:42]
        check(a[:8] == struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2), f"ARP header {a[:8].hex()}")
        check(a[8:14] == mac and a[14:18] == socket.inet_aton(PC_OURS), "ARP sender")
        check(a[18:24] == PEER_MAC and a[24:28] == socket.inet_aton(PC_PEER), "ARP target")
    vlan, u = echoes[0]
    ip = u[14:]
    check(vlan is None and pcap.inet_csum(ip[:20]) == 0, "echo reply IPv4 checksum")
    check(ip[12:16] == socket.inet_aton(PC_OURS) and ip[16:20] == socket.inet_aton(PC_PEER),
          "echo reply addresses")
    ic = ip[20:struct.unpack("!H", ip[2:4])[0]]
    check(ic[0] == 0 and ic[1] == 0 and pcap.inet_csum(ic) == 0, "echo reply type or checksum")
    check(ic[4:8] == struct.pack("!HH", 0x77, 3) and ic[8:] == b"sluice-echo-data",
          "echo reply identifier, sequence or data")
    by_frame = {}
    for vlan, u in acks:
        ip = u[14:]
        total = struct.unpack("!H", ip[2:4])[0]
        check(ip[0] == 0x45 and pcap.inet_csum(ip[:20]) == 0, "ack IPv4 header or checksum")
        check(ip[12:16] == socket.inet_aton(PC_OURS) and ip[16:20] == socket.inet_aton(PC_PEER),
              "ack addresses")
        udp = ip[20:total]
        sport, dport, ulen, _ = struct.unpack("!HHHH", udp[:8])
        check((sport, dport, ulen) == (UDP_PORT, 40000, len(udp)),
              f"ack ports {sport}->{dport}")
        pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
        check(pcap.inet_csum(pseudo + udp) == 0, "ack UDP checksum")
        a = parse_ack(udp[8:]).as_dict()
        key = (a["producer_id"], a["batch_seq"])
        check(key not in by_frame and (a["part"], a["parts"]) == (0, 1),
              f"ack {a}: a second ack, or in parts, for {key}")
        check(vlan == (9 if key == (42, 7) else None),
              f"ack of {key} tagged {vlan}: the frame came with "
              f"{9 if key == (42, 7) else 'none'}")
        by_frame[key] = a
    check((42, 7) in by_frame and by_frame[(42, 7)]["status"] == slw1.STREAM_NOT_FOUND,
          f"ack of the frame for a missing stream: {by_frame.get((42, 7))}")
    return by_frame


def check_pcap_acks(acks, ranges, ledger):
    """The acks of pcap_slw1's frames: one each where one is due, with its
    status; the stored frames' entries against the routing, sequence
    numbers continuing (past the unacked frame's records), into ledger.
    Returns how the retransmission of a ended: duplicate or
    duplicate_in_flight (still being stored when it came: no ack)."""
    next_seq, how, stored = {}, None, {}
    for name, f, recs, status in pcap_slw1():
        batch = struct.unpack("!Q", f[20:28])[0]
        key = (PC_PRODUCER, batch)
        if status == "duplicate":
            how = "duplicate" if key in acks and acks[key]["flags"] else "duplicate_in_flight"
            if how == "duplicate":
                check_duplicate([acks[key]], [stored[key]], f"pcap {name}")
            continue
        if status is None:
            if recs is not None:  # stored without an ack: takes its place in the shards
                ledger.stored_unacked(recs)
                for shard, n in expected_entries(recs, ranges):
                    if shard in next_seq:
                        next_seq[shard] += n
            continue
        check(key in acks, f"pcap {name}: no ack")
        a = acks[key]
        if status == slw1.OK:
            check_stored([a], recs, ranges, next_seq, f"pcap {name}")
            ledger.stored(recs, a["entries"], f"pcap {name}")
            stored[key] = a
        else:
            check(a["status"] == status and a["flags"] == 0 and not a["entries"],
                  f"pcap {name}: ack {a}, expected status {status}")
    due = {(PC_PRODUCER, struct.unpack("!Q", f[20:28])[0]) for _, f, _, st in pcap_slw1()
           if st is not None and (st != "duplicate" or how == "duplicate")}
    extra = set(acks) - due - {(42, 7)}
    check(not extra, f"pcap: acks for {sorted(extra)}, which asked for none")
    return how


def case_pcap():
    """net_pcap: crafted frames in, what the port sends out; the stream
    the valid ones go to was created in a first run on the same data
    directory (the file is replayed as soon as the port starts)."""
    tmp = tempfile.TemporaryDirectory(prefix="sluice-dp-pcap-")
    d = None
    try:
        rx_path, tx_path = os.path.join(tmp.name, "in.pcap"), os.path.join(tmp.name, "out.pcap")
        frames, want = pcap_input()
        pcap.write(rx_path, frames)
        d = Daemon(["--no-dpdk"])
        d.wait_ready()
        ranges = shard_ranges(d.api_port, PC_STREAM, PC_SHARDS)
        d.stop_clean()
        d.start([f"--dpdk-vdev=net_pcap0,rx_pcap={rx_path},tx_pcap={tx_path}",
                 "--dpdk-ip", PC_OURS])
        wait_dpdk(d)
        port_mac = d.port_mac()
        # The file is replayed at once; wait for every answer to go out.
        m = settled_metrics(d.api_port,
                            until=lambda m: m["dpdk_rx"]["rx_packets"] == len(frames))
        check_accounting(m, "pcap")
        sent = [f for _, f, _, _ in pcap_slw1()]
        n_slw1 = 2 + len(sent)
        ing = m["ingest"]
        dup = {k: ing[k] for k in ("duplicate", "duplicate_in_flight")}
        check(sum(dup.values()) == 1, f"one retransmission, counted {dup}")
        rx_want = dict(want, bad_ip_csum=1, rx_bytes=sum(len(f) for f in frames),
                       acks_sent=ing["acks"], tx_packets=ing["acks"] + 3)
        rx_want.pop("bad")
        check_counters(m["dpdk_rx"], rx_want, "pcap dpdk_rx")
        stored = [r for _, _, r, st in pcap_slw1() if st in (slw1.OK, None) and r is not None]
        parsed = [r for _, _, r, _ in pcap_slw1() if r is not None]
        acked = sum(1 for _, _, _, st in pcap_slw1() if st not in (None, "duplicate"))
        check_counters(ing, dict(dup, **{
            "frames": n_slw1, "bytes": sum(len(f) for f in sent) + 2 * len(
                build_frame("no-such-stream", [(b"k", b"v")], 42, 7)),
            "records": sum(len(r) for r in parsed) + 2,
            "records_stored": sum(len(r) for r in stored), "frames_ok": len(stored),
            # the stale frame ("a" again, batch 30) and the two to no-such-stream;
            # the retransmission of "a"
            "records_rejected": len(pcap_slw1()[0][2]) + 2,
            "records_duplicate": len(pcap_slw1()[0][2]),
            "stream_not_found": 2, "stale_batch": 1, "unauthorized": 1,
            "malformed_bad_crc": 1, "malformed_bad_magic": 1, "malformed_bad_version": 1,
            "malformed_bad_stream": 1, "malformed_bad_count": 1, "malformed_bad_length": 1,
            "acks": acked + 1 + dup["duplicate"], "ack_datagrams": acked + 1 + dup["duplicate"],
            "not_for_us": want["not_for_us"], "bad_packet": want["bad"],
            "ip_fragment": want["ip_fragments"]}), "pcap ingest")
        port = m["port0"]
        check((port["tx_packets"], port["rx_packets"]) == (ing["acks"] + 3, len(frames)),
              f"pcap port0: {port}")
        cli = check_stats_cli(d.api_port)
        check(cli["ingest"] == ing and cli["dpdk_rx"] == m["dpdk_rx"],
              f"sluice stats --json: ingest {cli['ingest']}, dpdk_rx {cli['dpdk_rx']}; "
              f"/metrics: {ing}, {m['dpdk_rx']}")
        text = d.stop_clean()
        want["acks_sent"] = ing["acks"]
        for name, value in want.items():
            got = lcore_counter(text, name) if value else \
                sum(int(v) for v in re.findall(rf"stopped: .*\b{name} (\d+)", text))
            check(got == value, f"{name} {got}, expected {value}")
        out = pcap.read(tx_path)
        check(len(out) == ing["acks"] + 3, f"{len(out)} frames sent, counted {ing['acks'] + 3}")
        acks = check_pcap_output(out, port_mac)
        ledger = Ledger(PC_STREAM, ranges)
        how = check_pcap_acks(acks, ranges, ledger)
        check(dup[how] == 1, f"the retransmission ended as {how}, counted {dup}")
        # Read back from the data directory, in a third run without DPDK.
        d.start(["--no-dpdk"])
        d.wait_ready()
        ledger.verify(d.kc)
        d.stop_clean()
    except Exception:
        if d is not None and not isinstance(sys.exc_info()[1], Failure):
            print("--- daemon log:\n" + d.text())
        raise
    finally:
        if d is not None:
            d.close()
        tmp.cleanup()


def run():
    if os.geteuid() != 0:
        print("skip: needs root (DPDK EAL, veth pairs, namespaces)")
        return SKIP
    if shutil.which("ip") is None:
        print("skip: iproute2's `ip` is not installed")
        return SKIP
    if len(os.sched_getaffinity(0)) < 2:
        print("skip: an RX lcore needs a second CPU")
        return SKIP
    if kinesis.boto3_or_reexec(__file__) is None:  # the test needs it, not the producer
        print(f"skip: boto3 is not importable by {sys.executable} nor by the python3 on PATH")
        return SKIP
    cases = [("pcap replay: headers, every counter, ARP/ICMP answers, acks, read back",
              case_pcap),
             ("veth + namespace: ARP, ping, acks, duplicates across a restart, not for us, "
              "the books, read back", case_veth)]
    failed = 0
    for name, fn in cases:
        try:
            fn()
            print(f"ok {name}")
        except Failure as e:
            print(f"FAIL {name}: {e}")
            failed += 1
        except Exception:
            traceback.print_exc()
            print(f"FAIL {name}")
            failed += 1
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--producer":
        producer(json.loads(sys.stdin.read()))
        sys.exit(0)
    sys.exit(run())
