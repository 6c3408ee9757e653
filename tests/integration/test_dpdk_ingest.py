# SPDX-License-Identifier: BSD-3-Clause
"""SLW1 over the DPDK dataplane, end to end, as root.

Creates a network namespace and a veth pair (removed at the end), starts the
built sluiced ($SL_BUILD_ROOT/control/sluiced) with net_af_packet on the
host end and dpdk.ip on the veth's subnet, creates a stream through the
Kinesis API, and from inside the namespace, with ordinary sockets only
(this file re-runs itself there as the producer):
- ARP: the namespace has no static neighbour entry for the appliance; its
  kernel resolves it, and the entry holds the port's MAC;
- ping: an ICMP echo request is answered (`ping` when installed, else a raw
  ICMP socket), with the identifier, sequence and data echoed;
- SLW1 frames built here from WIRE.md (CRC-32C of our own) sent through a
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
  are not answered and show up in the RX lcore's not_for_us counter, which
  the daemon logs when it stops; so does a datagram with a damaged IPv4
  header checksum sent through a packet socket (bad: 1, bad_ip_csum).

Then, without namespaces, a net_pcap port replays frames written here into
a pcap file (every kind of header the RX loop tells apart: ARP with and
without an 802.1Q tag, ICMP echo, IPv4 fragments, a runt, bad version, IHL,
lengths, checksum and source, other ports and protocols, SLW1 with a tag)
and records what the port sends into another: the ARP and ICMP answers
and the ack, checked byte by byte (both checksums recomputed here, the tag
kept), and each counter the daemon logs at stop against what was sent.
Exit 77 (skip) when not root, without `ip`, or with fewer than 2 CPUs (an
RX lcore needs a CPU besides EAL's main lcore).
"""
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

SKIP = 77
BUILD = os.environ.get("SL_BUILD_ROOT", "build")
SLUICED = os.path.join(BUILD, "control", "sluiced")
READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30
ACK_TIMEOUT_S = 5
UDP_PORT = 7400
STREAM = "dp-test"
SHARDS = 2
WIDE_STREAM = "dp-wide"
WIDE_SHARDS = 100  # ~73 entries > 59: more than one ack datagram at MTU 1500

# ---------------------------------------------------------------- SLW1 ----

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # WIRE.md's check value

F_ACK_REQUESTED = 0x01
ACK_F_DUPLICATE = 0x01
ST_OK, ST_STREAM_NOT_FOUND, ST_MALFORMED = 0, 3, 4


def frame(stream, records, producer_id, batch_seq, flags=F_ACK_REQUESTED):
    """records: list of (key bytes, data bytes)."""
    body = bytearray()
    for key, data in records:
        body += struct.pack("!BH", 0, len(key)) + key + struct.pack("!I", len(data)) + data
    s = stream.encode()
    frame_len = 29 + len(s) + len(body) + 4
    head = struct.pack("!IBBHIQQB", 0x534C5731, 1, flags, len(records), frame_len,
                       producer_id, batch_seq, len(s))
    f = head + s + bytes(body)
    return f + struct.pack("!I", crc32c(f))


def parse_ack(d):
    if len(d) < 36:
        raise ValueError(f"ack of {len(d)} bytes")
    if struct.unpack("!I", d[-4:])[0] != crc32c(d[:-4]):
        raise ValueError("ack CRC mismatch")
    magic, ver, status, flags, part, parts = struct.unpack("!IBBBBB", d[:9])
    if magic != 0x534C4131 or ver != 1:
        raise ValueError(f"ack magic {magic:#x} version {ver}")
    if d[9:12] != b"\0\0\0" or d[30:32] != b"\0\0":
        raise ValueError("ack reserved bytes not zero")
    producer, batch, count = struct.unpack("!QQH", d[12:30])
    if len(d) != 32 + 24 * count + 4:
        raise ValueError(f"ack length {len(d)} for {count} entries")
    entries = []
    for i in range(count):
        e = d[32 + 24 * i: 56 + 24 * i]
        shard, n, est, res = struct.unpack("!IHBB", e[:8])
        entries.append({"shard": shard, "count": n, "status": est,
                        "seq": int.from_bytes(e[8:24], "big")})
    return {"status": status, "flags": flags, "part": part, "parts": parts,
            "producer": producer, "batch": batch, "entries": entries}


# ---------------------------------------------------- producer (in netns) ----

def icmp_csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def raw_ping(ip):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    s.settimeout(ACK_TIMEOUT_S)
    ident, seq, data = random.randrange(1, 0xFFFF), 7, os.urandom(24)
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    pkt = struct.pack("!BBHHH", 8, 0, icmp_csum(hdr + data), ident, seq) + data
    s.sendto(pkt, (ip, 0))
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while time.monotonic() < deadline:
        d, addr = s.recvfrom(2048)
        ihl = (d[0] & 0xF) * 4
        ic = d[ihl:]
        if addr[0] == ip and ic[0] == 0 and struct.unpack("!HH", ic[4:8]) == (ident, seq):
            return icmp_csum(ic) == 0 and ic[8:] == data
    return False


def neighbour(ip):
    out = subprocess.run(["ip", "neigh", "show", ip], capture_output=True, text=True).stdout
    m = re.search(r"lladdr ([0-9a-f:]{17})", out)
    return m.group(1) if m else None


def acks_for(sock, producer, batch, want_parts=None):
    """Ack datagrams for (producer, batch) until all parts are in."""
    parts = {}
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            d, _ = sock.recvfrom(65535)
        except socket.timeout:
            break
        a = parse_ack(d)
        if a["producer"] != producer or a["batch"] != batch:
            continue
        parts[a["part"]] = a
        if len(parts) == a["parts"]:
            return [parts[i] for i in range(a["parts"])]
    raise TimeoutError(f"no complete ack for batch {batch} (parts {sorted(parts)})")


def producer(spec):
    """Runs inside the namespace; prints one JSON object of results."""
    ip, other_ip, res = spec["ip"], spec["other_ip"], {}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", 0))
    res["neigh_before"] = neighbour(ip)
    pid = random.getrandbits(63) | 1
    res["producer"] = pid
    res["frames"] = []
    for batch, recs in enumerate(spec["frames"], start=1):
        records = [(k.encode(), bytes.fromhex(v)) for k, v in recs]
        sock.sendto(frame(spec["stream"], records, pid, batch), (ip, UDP_PORT))
        res["frames"].append(acks_for(sock, pid, batch))
    res["neigh_after"] = neighbour(ip)
    # A retransmission of batch 1, a damaged frame, a missing stream.
    recs = [(k.encode(), bytes.fromhex(v)) for k, v in spec["frames"][0]]
    sock.sendto(frame(spec["stream"], recs, pid, 1), (ip, UDP_PORT))
    res["duplicate"] = acks_for(sock, pid, 1)
    bad = bytearray(frame(spec["stream"], recs, pid, 1000))
    bad[-6] ^= 0xFF
    sock.sendto(bytes(bad), (ip, UDP_PORT))
    res["malformed"] = acks_for(sock, pid, 1000)
    sock.sendto(frame("no-such-stream", recs, pid, 1001), (ip, UDP_PORT))
    res["not_found"] = acks_for(sock, pid, 1001)
    # A frame over most shards of a wide stream: its ack takes two datagrams.
    wide = frame(spec["wide_stream"], [(k.encode(), b"") for k in spec["wide_keys"]], pid, 1002)
    assert len(wide) <= 1472, f"wide frame of {len(wide)} bytes would be fragmented"
    sock.sendto(wide, (ip, UDP_PORT))
    res["wide"] = acks_for(sock, pid, 1002)
    # Not for us: another port, another address (resolved to the port's
    # MAC by a static entry, so the frames do reach it). None is answered.
    n = spec["not_for_us_each"]
    subprocess.run(["ip", "neigh", "replace", other_ip, "lladdr", res["neigh_after"],
                    "dev", spec["ifname"]], check=True)
    for i in range(n):
        sock.sendto(frame(spec["stream"], recs, pid, 2000 + i), (ip, UDP_PORT + 1))
        sock.sendto(frame(spec["stream"], recs, pid, 3000 + i), (other_ip, UDP_PORT))
    # Sent raw through a packet socket to the port's MAC: a datagram with a
    # damaged IPv4 header checksum (counted as bad). (IPv4 fragments are
    # checked in the pcap case: net_af_packet's fanout has the kernel
    # reassemble them, PACKET_FANOUT_FLAG_DEFRAG, before the port sees them.)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((spec["ifname"], 0))
    eth = bytes.fromhex(res["neigh_after"].replace(":", "")) + raw.getsockname()[4][:6] + \
        b"\x08\x00"
    payload = frame(spec["stream"], recs, pid, 5000)
    udp = struct.pack("!HHHH", 40000, UDP_PORT, 8 + len(payload), 0) + payload

    def ipv4(body, frag, damage=0):
        h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 77, frag, 64, 17,
                                  0, socket.inet_aton(spec["far_ip"]), socket.inet_aton(ip)))
        h[10:12] = struct.pack("!H", icmp_csum(bytes(h)) ^ damage)
        return bytes(h) + body

    raw.send(eth + ipv4(udp, 0x4000, damage=0x0101))
    raw.close()
    sock.settimeout(1.0)
    stray = 0
    try:
        while True:
            sock.recvfrom(65535)
            stray += 1
    except socket.timeout:
        pass
    res["stray_acks"] = stray
    if shutil.which("ping"):
        r = subprocess.run(["ping", "-c", "1", "-W", "3", ip], capture_output=True, text=True)
        res["ping"] = r.returncode == 0
        res["ping_how"] = "ping"
    else:
        res["ping"] = raw_ping(ip)
        res["ping_how"] = "raw ICMP socket"
    print(json.dumps(res))


# ------------------------------------------------------- Kinesis (setup) ----

def kinesis(port, op, body):
    """One Kinesis JSON 1.1 call; the Authorization header is SigV4-shaped
    (the API checks its shape, not yet its signature)."""
    payload = json.dumps(body).encode()
    date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    req = (f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Content-Type: application/x-amz-json-1.1\r\n"
           f"X-Amz-Target: Kinesis_20131202.{op}\r\nX-Amz-Date: {date}\r\n"
           f"Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/{date[:8]}/us-east-1/"
           f"kinesis/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, "
           f"Signature={'0' * 64}\r\n"
           f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n").encode() + payload
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, json.loads(rest) if rest.strip() else {}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shard_ranges(api_port, stream, shards):
    """Create the stream; its shards' hash ranges as (number, low, high)."""
    try:
        status, body = kinesis(api_port, "CreateStream",
                               {"StreamName": stream, "ShardCount": shards})
    except ConnectionRefusedError:
        raise Failed(f"no Kinesis API on api.listen (127.0.0.1:{api_port}): this test "
                     f"creates its streams with CreateStream")
    check(status == 200, f"CreateStream {stream}: {status} {body}")
    ranges, token = [], None
    while True:
        args = {"NextToken": token} if token else {"StreamName": stream}
        status, body = kinesis(api_port, "ListShards", args)
        check(status == 200, f"ListShards {stream}: {status} {body}")
        ranges += [(int(s["ShardId"].split("-")[1]), int(s["HashKeyRange"]["StartingHashKey"]),
                    int(s["HashKeyRange"]["EndingHashKey"])) for s in body["Shards"]]
        token = body.get("NextToken")
        if not token:
            break
    check(len(ranges) == shards, f"{stream}: {len(ranges)} shards listed")
    return ranges


def shard_of(key, ranges):
    h = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
    for shard, lo, hi in ranges:
        if lo <= h <= hi:
            return shard
    raise AssertionError(f"no shard for {key}")


def expected_entries(recs, ranges):
    order, counts = [], {}
    for k, _ in recs:
        s = shard_of(k, ranges)
        if s not in counts:
            order.append(s)
            counts[s] = 0
        counts[s] += 1
    return [(s, counts[s]) for s in order]


# ------------------------------------------------------------------ test ----

class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def sh(*args, **kw):
    return subprocess.run(list(args), check=True, **kw)


class Net:
    def __init__(self):
        tag = os.getpid() % 100000
        self.ns = f"sldpi{tag}"
        self.host_if, self.far_if = f"sldh{tag}", f"sldf{tag}"
        net = 200 + tag % 50
        self.far_ip, self.ip, self.other_ip = (f"10.{net}.7.1", f"10.{net}.7.2",
                                               f"10.{net}.7.3")
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.far_if)
        sh("ip", "link", "set", self.far_if, "netns", self.ns)
        # No IPv6 chatter on either end: every frame the port sees is ours.
        for args in (["sysctl", "-qw", f"net.ipv6.conf.{self.host_if}.disable_ipv6=1"],
                     ["ip", "netns", "exec", self.ns, "sysctl", "-qw",
                      f"net.ipv6.conf.{self.far_if}.disable_ipv6=1"]):
            subprocess.run(args, stderr=subprocess.DEVNULL)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "-n", self.ns, "addr", "add", f"{self.far_ip}/24", "dev", self.far_if)
        sh("ip", "-n", self.ns, "link", "set", self.far_if, "up")
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")

    def close(self):
        subprocess.run(["ip", "link", "del", self.host_if], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "del", self.ns], stderr=subprocess.DEVNULL)


class Daemon:
    def __init__(self, args):
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-dp-")
        self.api_port = free_port()
        self.log_path = os.path.join(self.tmp.name, "sluiced.log")
        self.log = open(self.log_path, "w+")
        self.prefix = f"sl-dp-{os.getpid()}"
        cmd = [SLUICED, "--data-dir", os.path.join(self.tmp.name, "var"),
               "--api-listen", f"127.0.0.1:{self.api_port}",
               "--ingest-listen", f"127.0.0.1:{free_port()}",
               f"--dpdk.file_prefix={self.prefix}", "--dpdk.idle_sleep_us=50",
               "--ingest.kernel=off"] + args
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for(self, pattern, timeout=READY_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.text()):
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        return bool(re.search(pattern, self.text()))

    def port_mac(self):
        m = re.search(r"dpdk: port 0: \S+ \(driver \S+\) mac ([0-9a-f:]{17})", self.text())
        check(m, "port 0 not logged:\n" + self.text())
        return m.group(1)

    def stop_clean(self):
        """SIGTERM; exit 0, no errors, EAL's runtime directory gone. The log."""
        code = self.stop()
        text = self.text()
        check(code == 0, f"exit {code}:\n{text}")
        check("with errors" not in text, text)
        check(not os.path.exists(f"/var/run/dpdk/{self.prefix}"), "EAL runtime dir left behind")
        return text

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        # A killed daemon leaves EAL's runtime directory behind; it is ours.
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        self.log.close()
        self.tmp.cleanup()


def make_frames():
    rnd = random.Random(5)
    frames = []
    for i in range(6):
        recs = []
        for j in range(rnd.randrange(1, 12)):
            key = f"key-{i}-{j}-{rnd.randrange(1 << 30)}"
            recs.append((key, os.urandom(rnd.randrange(0, 64)).hex()))
        frames.append(recs)
    # 100 records (one datagram) over 2 shards: 2 entries.
    frames.append([(f"k{j}", "ab") for j in range(100)])
    return frames


def check_acks(res, frames, ranges, port_mac):
    check(res["neigh_before"] is None, f"a neighbour entry before any traffic: "
          f"{res['neigh_before']}")
    check(res["neigh_after"] == port_mac,
          f"ARP: neighbour {res['neigh_after']}, the port's MAC is {port_mac}")
    next_seq = {}
    for batch, (recs, parts) in enumerate(zip(frames, res["frames"]), start=1):
        entries = [e for p in parts for e in p["entries"]]
        for p in parts:
            check(p["status"] == ST_OK, f"batch {batch}: status {p['status']}")
            check(p["flags"] == 0, f"batch {batch}: flags {p['flags']}")
        want = expected_entries(recs, ranges)
        got = [(e["shard"], e["count"]) for e in entries]
        check(got == want, f"batch {batch}: entries {got}, expected {want}")
        for e in entries:
            check(e["status"] == ST_OK, f"batch {batch}: entry status {e['status']}")
            if e["shard"] in next_seq:
                check(e["seq"] == next_seq[e["shard"]],
                      f"batch {batch}: shard {e['shard']} seq {e['seq']}, expected "
                      f"{next_seq[e['shard']]}")
            next_seq[e["shard"]] = e["seq"] + e["count"]
    dup = res["duplicate"]
    check(all(p["flags"] & ACK_F_DUPLICATE for p in dup), "retransmission not DUPLICATE")
    check([e for p in dup for e in p["entries"]] ==
          [e for p in res["frames"][0] for e in p["entries"]],
          "retransmission answered with other entries")
    check(res["malformed"][0]["status"] == ST_MALFORMED and not res["malformed"][0]["entries"],
          f"damaged frame: {res['malformed']}")
    check(res["not_found"][0]["status"] == ST_STREAM_NOT_FOUND,
          f"missing stream: {res['not_found']}")
    check(res["stray_acks"] == 0, f"{res['stray_acks']} answer(s) to frames not for us")
    check(res["ping"], f"no echo reply ({res['ping_how']})")


def lcore_counter(text, name):
    vals = [int(v) for v in re.findall(rf"RX lcore \d+ stopped: .*\b{name} (\d+)", text)]
    check(vals, f"no RX lcore counters logged at stop:\n{text}")
    return sum(vals)


def case_veth():
    """net_af_packet on a veth, a producer in a namespace (Kinesis API needed)."""
    net = Net()
    d = None
    try:
        d = Daemon([f"--dpdk-vdev=net_af_packet0,iface={net.host_if}", "--dpdk-ip", net.ip])
        check(d.wait_for(r"DPDK ingest: SLW1 on UDP"), "DPDK ingest did not start:\n" + d.text())
        check(d.wait_for(r"daemon: ready"), "no ready line:\n" + d.text())
        port_mac = d.port_mac()
        ranges = shard_ranges(d.api_port, STREAM, SHARDS)
        wide_ranges = shard_ranges(d.api_port, WIDE_STREAM, WIDE_SHARDS)
        frames = make_frames()
        not_for_us_each = 5
        wide_keys = [f"w{j}" for j in range(130)]  # one datagram: < 1472 bytes
        spec = {"ip": net.ip, "other_ip": net.other_ip, "far_ip": net.far_ip,
                "ifname": net.far_if, "stream": STREAM, "frames": frames,
                "not_for_us_each": not_for_us_each, "wide_stream": WIDE_STREAM,
                "wide_keys": wide_keys}
        r = subprocess.run(["ip", "netns", "exec", net.ns, sys.executable,
                            os.path.abspath(__file__), "--producer"],
                           input=json.dumps(spec), capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, f"producer failed:\n{r.stderr}\n--- daemon:\n{d.text()}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        check_acks(res, frames, ranges, port_mac)
        wide = res["wide"]
        want = expected_entries([(k, "") for k in wide_keys], wide_ranges)
        check(len(wide) >= 2 and len(want) > 59,
              f"wide ack in {len(wide)} datagram(s) for {len(want)} entries")
        check(all(p["parts"] == len(wide) and p["status"] == ST_OK for p in wide),
              f"wide ack parts: {[(p['part'], p['parts'], p['status']) for p in wide]}")
        check([(e["shard"], e["count"]) for p in wide for e in p["entries"]] == want,
              "wide ack entries differ from the records' shards")
        text = d.stop_clean()
        nfu = lcore_counter(text, "not_for_us")
        # Only our frames cross the veth (IPv6 is off): exactly the 2n sent.
        check(nfu == 2 * not_for_us_each,
              f"not_for_us {nfu}, sent {2 * not_for_us_each} not-for-us datagrams")
        check(lcore_counter(text, "icmp_replies") >= 1, "no ICMP reply counted")
        check(lcore_counter(text, "arp_replies") >= 1, "no ARP reply counted")
        n_frames = len(frames) + 4  # + duplicate, damaged, missing stream, wide
        check(lcore_counter(text, "ingest_frames") == n_frames,
              f"ingest_frames: {lcore_counter(text, 'ingest_frames')}, sent {n_frames}")
        check(lcore_counter(text, "bad") == 1 and lcore_counter(text, "bad_ip_csum") == 1,
              f"bad: {lcore_counter(text, 'bad')}, sent 1 bad IPv4 header checksum")
        check(lcore_counter(text, "acks_dropped") == 0, "acks dropped")
    except Exception:
        if d is not None and not isinstance(sys.exc_info()[1], Failed):
            print("--- daemon log:\n" + d.text())
        raise
    finally:
        if d is not None:
            d.close()
        net.close()


# ------------------------------------------------------------ pcap case ----

PEER_MAC = bytes.fromhex("020000000099")
BCAST = b"\xff" * 6
PC_PEER, PC_OURS, PC_OTHER = "10.77.0.1", "10.77.0.2", "10.77.0.3"


def eth(payload, vlan=None, etype=0x0800, dst=BCAST):
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return dst + PEER_MAC + tag + struct.pack("!H", etype) + payload


def ip4(body, proto=17, src=PC_PEER, dst=PC_OURS, frag=0x4000, ver_ihl=0x45, total=None,
        damage=0):
    h = bytearray(struct.pack("!BBHHHBBH4s4s", ver_ihl, 0,
                              20 + len(body) if total is None else total, 9, frag, 64, proto,
                              0, socket.inet_aton(src), socket.inet_aton(dst)))
    h[10:12] = struct.pack("!H", icmp_csum(bytes(h)) ^ damage)
    return bytes(h) + body


def udp4(payload, sport=40000, dport=UDP_PORT, length=None):
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length,
                       0) + payload


def arp_req(target):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                       socket.inet_aton(PC_PEER), b"\0" * 6, socket.inet_aton(target))


def echo_req(data, damage=0):
    h = struct.pack("!BBHHH", 8, 0, 0, 0x77, 3)
    return struct.pack("!BBHHH", 8, 0, icmp_csum(h + data) ^ damage, 0x77, 3) + data


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1, i, len(fr), len(fr)) + fr)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, f"{path}: {len(data)} bytes")
    magic = struct.unpack("<I", data[:4])[0]
    check(magic in (0xA1B2C3D4, 0xA1B23C4D), f"{path}: magic {magic:#x}")
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack("<IIII", data[off:off + 16])[2]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames


def pcap_input():
    """(frames, counters the RX loop must end with)."""
    slw1 = frame("no-such-stream", [(b"k", b"v")], 42, 7)
    slw1_quiet = frame("no-such-stream", [(b"k", b"v")], 42, 8, flags=0)
    full = udp4(slw1)
    frames = [
        eth(arp_req(PC_OURS), etype=0x0806),
        eth(arp_req(PC_OURS), vlan=5, etype=0x0806),
        eth(ip4(echo_req(b"sluice-echo-data"), proto=1)),
        eth(ip4(full[:24], frag=0x2000)),                     # first fragment (MF)
        eth(ip4(full[24:], frag=24 // 8)),                    # last fragment
        eth(ip4(full, damage=0x0101)),                        # header checksum
        eth(ip4(full, ver_ihl=0x65)),                         # version 6
        eth(ip4(full, ver_ihl=0x44)),                         # IHL 4
        eth(ip4(full, total=20 + len(full) + 1)),             # past the frame
        eth(ip4(udp4(slw1, length=7))),                       # UDP length
        eth(ip4(full, src="127.0.0.1")),                      # source
        eth(b"")[:10],                                        # runt
        eth(ip4(echo_req(b"x", damage=1), proto=1)),          # ICMP checksum
        eth(ip4(udp4(slw1, dport=UDP_PORT + 1))),             # other port
        eth(ip4(full, dst=PC_OTHER)),                         # other IP
        eth(ip4(full, proto=6)),                              # TCP
        eth(b"\x60" + b"\0" * 60, etype=0x86DD),              # IPv6
        eth(arp_req(PC_OTHER), etype=0x0806),                 # ARP for another
        eth(ip4(full), vlan=9),                               # SLW1, acked
        eth(ip4(udp4(slw1_quiet))),                           # SLW1, no ack asked
    ]
    want = {"rx_packets": len(frames), "arp_replies": 2, "icmp_replies": 1, "ip_fragments": 2,
            "bad": 8, "bad_ip_csum": 1, "bad_ip_version": 1, "bad_ip_hdr_len": 1,
            "bad_ip_len": 1, "bad_udp_len": 1, "bad_ip_src": 1, "bad_eth": 1, "bad_icmp": 1,
            "not_for_us": 5, "ingest_frames": 2, "acks_sent": 1, "acks_dropped": 0,
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
            raise Failed(f"unexpected frame sent: {f.hex()}")
    check(len(out) == 4 and len(arps) == 2 and len(echoes) == 1 and len(acks) == 1,
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
    check(vlan is None and icmp_csum(ip[:20]) == 0, "echo reply IPv4 checksum")
    check(ip[12:16] == socket.inet_aton(PC_OURS) and ip[16:20] == socket.inet_aton(PC_PEER),
          "echo reply addresses")
    ic = ip[20:struct.unpack("!H", ip[2:4])[0]]
    check(ic[0] == 0 and ic[1] == 0 and icmp_csum(ic) == 0, "echo reply type or checksum")
    check(ic[4:8] == struct.pack("!HH", 0x77, 3) and ic[8:] == b"sluice-echo-data",
          "echo reply identifier, sequence or data")
    vlan, u = acks[0]
    check(vlan == 9, f"ack tag {vlan}, the frame came with 9")
    ip = u[14:]
    total = struct.unpack("!H", ip[2:4])[0]
    check(ip[0] == 0x45 and icmp_csum(ip[:20]) == 0, "ack IPv4 header or checksum")
    check(ip[12:16] == socket.inet_aton(PC_OURS) and ip[16:20] == socket.inet_aton(PC_PEER),
          "ack addresses")
    udp = ip[20:total]
    sport, dport, ulen, _ = struct.unpack("!HHHH", udp[:8])
    check((sport, dport, ulen) == (UDP_PORT, 40000, len(udp)), f"ack ports {sport}->{dport}")
    pseudo = ip[12:20] + struct.pack("!BBH", 0, 17, ulen)
    check(icmp_csum(pseudo + udp) == 0, "ack UDP checksum")
    a = parse_ack(udp[8:])
    check((a["status"], a["producer"], a["batch"]) == (ST_STREAM_NOT_FOUND, 42, 7),
          f"ack {a}")


def case_pcap():
    """net_pcap: crafted frames in, what the port sends out."""
    tmp = tempfile.TemporaryDirectory(prefix="sluice-dp-pcap-")
    d = None
    try:
        rx_path, tx_path = os.path.join(tmp.name, "in.pcap"), os.path.join(tmp.name, "out.pcap")
        frames, want = pcap_input()
        write_pcap(rx_path, frames)
        d = Daemon([f"--dpdk-vdev=net_pcap0,rx_pcap={rx_path},tx_pcap={tx_path}",
                    "--dpdk-ip", PC_OURS])
        check(d.wait_for(r"DPDK ingest: SLW1 on UDP"), "DPDK ingest did not start:\n" + d.text())
        port_mac = d.port_mac()
        time.sleep(1.5)  # the file is replayed at once; let the answers go out
        text = d.stop_clean()
        for name, value in want.items():
            got = lcore_counter(text, name) if value else \
                sum(int(v) for v in re.findall(rf"stopped: .*\b{name} (\d+)", text))
            check(got == value, f"{name} {got}, expected {value}")
        check_pcap_output(read_pcap(tx_path), port_mac)
    except Exception:
        if d is not None and not isinstance(sys.exc_info()[1], Failed):
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
    cases = [("pcap replay: headers, counters, ARP/ICMP answers, ack framing", case_pcap),
             ("veth + namespace: ARP, ping, acks, duplicates, not for us", case_veth)]
    failed = 0
    for name, fn in cases:
        try:
            fn()
            print(f"ok {name}")
        except Failed as e:
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
