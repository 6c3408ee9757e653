# SPDX-License-Identifier: BSD-3-Clause
"""SLW1 through the kernel ingest backend of sluiced, end to end.

Starts the built daemon ($SL_BUILD_ROOT/control/sluiced: temporary data
directory, --no-dpdk, free ports for api.listen and ingest.listen, UDP acks
split at 128 bytes so that parts are exercised), creates streams with boto3
(from the interpreter running this file, or the `python3` on PATH), and sends
SLW1 frames over UDP and TCP built from WIRE.md alone (tests/helpers/slw1.py:
CRC-32C, frame builder and ack parser in Python; it shares no code with the
C side). Checks:
- acks: status, flags, producer_id and batch_seq echoed, parts (reassembled
  from datagrams of at most 128 bytes, each with its own header and CRC),
  one entry per shard in order of first appearance, record counts per shard
  as MD5(partition key) (hashlib) or the explicit hash key against the
  stream's hash ranges (ListShards) says, sequence numbers consecutive per
  shard from frame to frame, across UDP and TCP;
- retransmissions (same producer_id, batch_seq) are answered DUPLICATE with
  the original entries and stored once, also after a restart of the daemon;
- MALFORMED (bad CRC, frame_len not the datagram's, a bad stream name, no
  records),
  nothing for garbage and an unknown version, STREAM_NOT_FOUND, TOO_LARGE (over TCP: a record over
  the stream's 1 MiB), no ack when ACK_REQUESTED is clear (yet stored);
- TCP: hundreds of frames in flight on one connection answered in frame
  order, frames without an ack keeping their place; a 2.5 MiB frame; bytes
  that cannot start a frame, and a frame_len over the SLW1 maximum, close
  the connection (after the acks of the frames before them); other
  connections carry on;
- every record read back with GetRecords, byte for byte, with the sequence
  numbers the acks gave, and nothing else stored; SIGTERM exits 0.

Each case prints `ok NAME` or `FAIL NAME: reason`; the last line is
`N passed, M failed`; exit status 1 on any failure. Exit 77 (skip) only
when no python3 here has boto3.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "helpers"))
import cases  # noqa: E402
import kinesis  # noqa: E402
import slw1  # noqa: E402
from checks import Failure, check, eq  # noqa: E402
from sluiced import SLUICED, Sluiced  # noqa: E402
from slw1 import (ACK_F_DUPLICATE, MALFORMED, OK, STREAM_NOT_FOUND, TOO_LARGE,  # noqa: E402
                  Ack, Record, build_frame, parse_ack)

SKIP = 77
if kinesis.boto3_or_reexec(__file__) is None:
    print(f"SKIP: boto3 is not importable by {sys.executable} nor by the python3 on PATH")
    sys.exit(SKIP)

READY_TIMEOUT_S = 30
STOP_TIMEOUT_S = 20
ACK_TIMEOUT_S = 10
UDP_ACK_PAYLOAD_MAX = 128  # given to the daemon: 3 entries a part
MIB = 1 << 20
# The longest frame sluiced accepts: 10 MiB of keys and data (the record
# size ceiling) plus the most a frame can hold besides: the header with the
# longest stream name, 500 records with explicit hash keys, CRC, AUTH tag.
FRAME_MAX = 10 * MIB + slw1.FRAME_HEADER_BYTES + 128 + slw1.RECORDS_MAX * (
    slw1.RECORD_OVERHEAD_BYTES + slw1.HASH_KEY_BYTES) + slw1.CRC_BYTES + slw1.AUTH_TAG_BYTES


class Daemon(Sluiced):
    """sluiced on a temporary data dir, a boto3 client on it; start() again
    after stop() reuses the data dir."""

    def __init__(self):
        super().__init__(tmp_prefix="sluice-kern-", ready_timeout_s=READY_TIMEOUT_S,
                         stop_timeout_s=STOP_TIMEOUT_S)

    def start(self):
        super().start("--no-dpdk", f"--ingest.udp_ack_payload_max={UDP_ACK_PAYLOAD_MAX}")
        self.ingest = self.ingest_addr
        self.k = kinesis.client(self.api_port)
        self.wait_ready(require="kernel: SLW1 on the kernel stack")


class Stream:
    """A stream and what this test knows is stored in it: per shard number,
    the records in order with the sequence numbers the acks gave."""

    def __init__(self, d, name, shards):
        self.d, self.name = d, name
        d.k.create_stream(StreamName=name, ShardCount=shards)
        deadline = time.monotonic() + 20
        while d.k.describe_stream_summary(StreamName=name)[
                "StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
            check(time.monotonic() < deadline, f"{name} not ACTIVE")
            time.sleep(0.05)
        self.shards = []
        for s in d.k.list_shards(StreamName=name)["Shards"]:
            r = s["HashKeyRange"]
            self.shards.append((int(s["ShardId"].split("-")[1]), int(r["StartingHashKey"]),
                                int(r["EndingHashKey"]), s["ShardId"]))
        eq(len(self.shards), shards, f"shards of {name}")
        self.stored = {num: [] for num, _, _, _ in self.shards}
        self.unacked = []  # records stored without an ack (no sequence numbers known)

    def shard_of(self, rec):
        h = slw1.hash_key_of(rec.key, rec.hash_key)
        found = [num for num, lo, hi, _ in self.shards if lo <= h <= hi]
        eq(len(found), 1, f"shards holding hash {h}")
        return found[0]

    def expected_entries(self, recs):
        """[(shard, count)] in order of each shard's first appearance."""
        return slw1.entries_in_order(self.shard_of(r) for r in recs)

    def check_ok(self, ack, recs, producer, seq, duplicate=False):
        """An OK ack of recs: header, entries against the routing, and
        (unless a duplicate) the sequence numbers follow what is stored."""
        eq(ack.status, OK, f"status of frame {seq}")
        eq(ack.flags, ACK_F_DUPLICATE if duplicate else 0, f"flags of frame {seq}")
        eq((ack.producer_id, ack.batch_seq), (producer, seq), "producer_id, batch_seq echoed")
        want = self.expected_entries(recs)
        eq([(e[0], e[1]) for e in ack.entries], want, f"entries of frame {seq}")
        for shard, count, st, first in ack.entries:
            eq(st, OK, f"entry status, shard {shard}")
            if duplicate:
                continue
            mine = [r for r in recs if self.shard_of(r) == shard]
            eq(len(mine), count, "entry record_count")
            prev = self.stored[shard]
            if prev:
                eq(first, prev[-1][0] + 1, f"first sequence number of shard {shard}")
            for i, r in enumerate(mine):
                prev.append((first + i, r))

    def verify(self):
        """GetRecords of every shard equals what the acks said, byte for byte."""
        unacked = list(self.unacked)
        for num, _, _, shard_id in self.shards:
            got = kinesis.read_all(self.d.k, self.name, shard_id)
            want = self.stored[num]
            seqs = [int(g["SequenceNumber"]) for g in got]
            for a, b in zip(seqs, seqs[1:]):
                eq(b, a + 1, f"{self.name}/{shard_id}: consecutive sequence numbers")
            acked = {s: r for s, r in want}
            for g, seq in zip(got, seqs):
                if seq in acked:
                    r = acked.pop(seq)
                    eq((g["PartitionKey"], bytes(g["Data"])), (r.key, r.data),
                       f"{self.name}/{shard_id} record {seq}")
                else:
                    match = [r for r in unacked if r.key == g["PartitionKey"]
                             and r.data == bytes(g["Data"]) and self.shard_of(r) == num]
                    check(match, f"{self.name}/{shard_id}: record {seq} "
                          f"({g['PartitionKey']!r}) was never sent")
                    unacked.remove(match[0])
            eq(sorted(acked), [], f"{self.name}/{shard_id}: acked records missing")
        eq(unacked, [], f"{self.name}: records sent without ack missing")


def records(n, prefix, size=16, explicit_every=0, rnd=random):
    out = []
    for i in range(n):
        data = bytes(rnd.getrandbits(8) for _ in range(size))
        ehk = rnd.getrandbits(128) if explicit_every and i % explicit_every == 0 else None
        out.append(Record(f"{prefix}-{i}-{rnd.getrandbits(32):08x}", data, ehk))
    return out


def udp_socket():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(ACK_TIMEOUT_S)
    return s


def udp_ack(sock, producer, seq):
    """Every part of the ack of (producer, seq), reassembled: the entries
    in part order; each part checked to carry the same header."""
    parts = {}
    first = None
    deadline = time.monotonic() + ACK_TIMEOUT_S
    while first is None or len(parts) < first.parts:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            b = sock.recv(65536)
        except socket.timeout:
            raise Failure(f"no (complete) ack for frame {producer}/{seq}: {len(parts)} parts")
        check(len(b) <= UDP_ACK_PAYLOAD_MAX, f"ack datagram of {len(b)} bytes")
        a = parse_ack(b)
        eq((a.producer_id, a.batch_seq), (producer, seq), "ack of another frame")
        if first is None:
            first = a
        eq((a.status, a.flags, a.parts), (first.status, first.flags, first.parts),
           "part header")
        check(a.part not in parts, f"part {a.part} twice")
        parts[a.part] = a
    entries = []
    for p in range(first.parts):
        entries += parts[p].entries
        if p < first.parts - 1:
            eq(len(parts[p].entries), (UDP_ACK_PAYLOAD_MAX - 36) // 24, "entries of a part")
    return Ack(first.status, first.flags, 0, first.parts, producer, seq, entries)


def udp_quiet(sock, secs):
    sock.settimeout(secs)
    try:
        b = sock.recv(65536)
    except socket.timeout:
        return True
    finally:
        sock.settimeout(ACK_TIMEOUT_S)
    raise Failure(f"unexpected datagram {b[:40]!r}")


def tcp_connect(d):
    s = socket.create_connection(d.ingest, timeout=ACK_TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exact(sock, n):
    b = b""
    while len(b) < n:
        chunk = sock.recv(n - len(b))
        if not chunk:
            raise Failure(f"connection closed after {len(b)} of {n} bytes")
        b += chunk
    return b


def tcp_ack(sock):
    hdr = recv_exact(sock, 32)
    n = struct.unpack_from(">H", hdr, 28)[0]
    a = parse_ack(hdr + recv_exact(sock, 24 * n + 4))
    eq((a.part, a.parts), (0, 1), "a TCP ack is one part")
    return a


def closed_by_peer(sock, secs=5):
    sock.settimeout(secs)
    try:
        while True:
            b = sock.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ---- cases ----------------------------------------------------------------

case = cases.Cases()


class Ctx:
    def __init__(self, d):
        self.d = d
        self.rnd = random.Random(1234)
        self.streams = {}
        self.sent = {}  # (producer, seq) -> (stream, recs, ack), for retransmissions
        self.producer = self.rnd.getrandbits(63) | 1

    def stream(self, name, shards):
        if name not in self.streams:
            self.streams[name] = Stream(self.d, f"k{os.getpid()}-{name}", shards)
        return self.streams[name]


@case
def udp_routing_and_sequence(ctx):
    st = ctx.stream("a", 4)
    sock = udp_socket()
    for seq in range(1, 6):
        recs = records(30, f"u{seq}", size=ctx.rnd.randrange(1, 300), explicit_every=7,
                       rnd=ctx.rnd)
        sock.sendto(build_frame(st.name, recs, ctx.producer, seq), ctx.d.ingest)
        a = udp_ack(sock, ctx.producer, seq)
        st.check_ok(a, recs, ctx.producer, seq)
        ctx.sent[(ctx.producer, seq)] = (st, recs, a)
    # Anonymous producer: stored every time, no dedupe.
    recs = records(3, "anon", rnd=ctx.rnd)
    for _ in range(2):
        sock.sendto(build_frame(st.name, recs, 0, 77), ctx.d.ingest)
        st.check_ok(udp_ack(sock, 0, 77), recs, 0, 77)
    sock.close()


@case
def udp_ack_in_parts(ctx):
    st = ctx.stream("wide", 8)
    sock = udp_socket()
    recs = []
    while len(st.expected_entries(recs)) < 8:  # every shard
        recs += records(8, "w", rnd=ctx.rnd)
    sock.sendto(build_frame(st.name, recs, ctx.producer, 1000), ctx.d.ingest)
    a = udp_ack(sock, ctx.producer, 1000)
    eq(a.parts, 3, "parts of an 8-entry ack at 128 bytes a datagram")
    st.check_ok(a, recs, ctx.producer, 1000)
    # One entry fits one datagram.
    one = [Record("same-key", b"x"), Record("same-key", b"y")]
    sock.sendto(build_frame(st.name, one, ctx.producer, 1001), ctx.d.ingest)
    a = udp_ack(sock, ctx.producer, 1001)
    eq(a.parts, 1, "parts of a one-entry ack")
    st.check_ok(a, one, ctx.producer, 1001)
    sock.close()


@case
def udp_duplicate(ctx):
    sock = udp_socket()
    for seq in (2, 4):
        st, recs, first = ctx.sent[(ctx.producer, seq)]
        sock.sendto(build_frame(st.name, recs, ctx.producer, seq), ctx.d.ingest)
        a = udp_ack(sock, ctx.producer, seq)
        st.check_ok(a, recs, ctx.producer, seq, duplicate=True)
        eq(a.entries, first.entries, "a duplicate repeats the original entries")
    sock.close()


@case
def udp_malformed_and_unknown(ctx):
    st = ctx.stream("a", 4)
    sock = udp_socket()
    recs = records(3, "bad", rnd=ctx.rnd)
    good = build_frame(st.name, recs, ctx.producer, 2000)
    bad_crc = bytearray(good)
    bad_crc[-1] ^= 0xFF
    bad_len = bytearray(good)
    struct.pack_into(">I", bad_len, 8, len(good) + 1)
    cases = {
        "bad CRC": bytes(bad_crc),
        "frame_len != datagram": bytes(bad_len),
        "a byte past frame_len": good + b"\0",
        "bad stream name": build_frame("no/such", recs, ctx.producer, 2000),
        "no records": build_frame(st.name, [], ctx.producer, 2000),
    }
    for what, b in cases.items():
        sock.sendto(b, ctx.d.ingest)
        a = udp_ack(sock, ctx.producer, 2000)
        eq(a.status, MALFORMED, what)
        eq(a.entries, [], f"{what}: entries")
    sock.sendto(build_frame(f"k{os.getpid()}-nope", recs, ctx.producer, 2001), ctx.d.ingest)
    a = udp_ack(sock, ctx.producer, 2001)
    eq(a.status, STREAM_NOT_FOUND, "unknown stream")
    eq(a.entries, [], "unknown stream: entries")
    # Garbage, and a version this appliance cannot read (so neither its
    # flags), get nothing back; the socket serves on.
    sock.sendto(b"\xff" * 100, ctx.d.ingest)
    sock.sendto(build_frame(st.name, recs, ctx.producer, 2000, version=2), ctx.d.ingest)
    udp_quiet(sock, 0.3)
    # None of it was stored: the same batch_seq stores now, fresh.
    sock.sendto(good, ctx.d.ingest)
    st.check_ok(udp_ack(sock, ctx.producer, 2000), recs, ctx.producer, 2000)
    sock.close()


@case
def udp_no_ack_requested(ctx):
    st = ctx.stream("noack", 2)
    sock = udp_socket()
    recs = records(5, "quiet", rnd=ctx.rnd)
    sock.sendto(build_frame(st.name, recs, ctx.producer, 3000, flags=0), ctx.d.ingest)
    udp_quiet(sock, 0.5)
    st.unacked += recs
    deadline = time.monotonic() + 10
    while sum(len(kinesis.read_all(ctx.d.k, st.name, s[3])) for s in st.shards) < 5:
        check(time.monotonic() < deadline, "records sent without ack not stored")
        time.sleep(0.1)
    sock.close()


@case
def tcp_acks_in_frame_order(ctx):
    st = ctx.stream("t", 4)
    quiet = ctx.stream("noack", 2)
    sock = tcp_connect(ctx.d)
    n_frames = 400
    plan = []  # (bytes, expected ack or None)
    for i in range(n_frames):
        recs = records(1 + i % 5, f"t{i}", size=ctx.rnd.randrange(1, 200), rnd=ctx.rnd)
        seq = 10000 + i
        if i % 10 == 3:
            plan.append((build_frame(f"k{os.getpid()}-nope", recs, 0, seq), (seq, STREAM_NOT_FOUND,
                                                                        None)))
        elif i % 10 == 7:
            plan.append((build_frame(quiet.name, recs, 0, seq, flags=0), None))
            quiet.unacked += recs
        elif i % 17 == 5:
            b = bytearray(build_frame(st.name, recs, 0, seq))
            b[-2] ^= 0x55
            plan.append((bytes(b), (seq, MALFORMED, None)))
        else:
            plan.append((build_frame(st.name, recs, 0, seq), (seq, OK, recs)))
    data = b"".join(b for b, _ in plan)
    sender = threading.Thread(target=sock.sendall, args=(data,))
    sender.start()
    try:
        for _, want in plan:
            if want is None:
                continue
            seq, status, recs = want
            a = tcp_ack(sock)
            eq(a.batch_seq, seq, "acks in frame order")
            eq(a.status, status, f"status of frame {seq}")
            if status == OK:
                st.check_ok(a, recs, 0, seq)
            else:
                eq(a.entries, [], f"entries of frame {seq}")
    finally:
        sender.join()
    sock.settimeout(0.3)
    try:
        extra = sock.recv(100)
        raise Failure(f"bytes after the last ack: {extra[:40]!r}")
    except socket.timeout:
        pass
    sock.close()


@case
def tcp_duplicate_and_producers(ctx):
    st = ctx.stream("t", 4)
    producer = ctx.producer + 2
    sock = tcp_connect(ctx.d)
    sent = {}
    for seq in range(1, 41):
        recs = records(4, f"p{seq}", rnd=ctx.rnd)
        sent[seq] = recs
        sock.sendall(build_frame(st.name, recs, producer, seq))
    for seq in range(1, 41):
        a = tcp_ack(sock)
        eq(a.batch_seq, seq, "acks in frame order")
        st.check_ok(a, sent[seq], producer, seq)
        ctx.sent[(producer, seq)] = (st, sent[seq], a)
    sock.close()
    # A retransmission on another connection.
    sock = tcp_connect(ctx.d)
    for seq in (5, 40, 5):
        sock.sendall(build_frame(st.name, sent[seq], producer, seq))
        a = tcp_ack(sock)
        st.check_ok(a, sent[seq], producer, seq, duplicate=True)
        eq(a.entries, ctx.sent[(producer, seq)][2].entries, "original entries")
    sock.close()


@case
def tcp_large_frames(ctx):
    st = ctx.stream("big", 2)
    sock = tcp_connect(ctx.d)
    rnd = ctx.rnd
    big = [Record(f"big{i}", rnd.randbytes(850 * 1024)) for i in range(3)]  # one 2.5 MiB frame
    sock.sendall(build_frame(st.name, big, ctx.producer + 4, 1))
    st.check_ok(tcp_ack(sock), big, ctx.producer + 4, 1)
    # key + data over the stream's 1 MiB maximum record size.
    over = [Record("k", rnd.randbytes(MIB))]
    sock.sendall(build_frame(st.name, over, ctx.producer + 4, 2))
    a = tcp_ack(sock)
    eq(a.status, TOO_LARGE, "a record over 1 MiB")
    eq(a.entries, [], "TOO_LARGE entries")
    at_max = [Record("k", rnd.randbytes(MIB - 1))]
    sock.sendall(build_frame(st.name, at_max, ctx.producer + 4, 3))
    st.check_ok(tcp_ack(sock), at_max, ctx.producer + 4, 3)
    sock.close()


@case
def tcp_broken_streams_close(ctx):
    st = ctx.stream("t", 4)
    # Garbage from the first byte.
    sock = tcp_connect(ctx.d)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    check(closed_by_peer(sock), "garbage did not close the connection")
    sock.close()
    # Two frames, then garbage: both acks, then the close.
    sock = tcp_connect(ctx.d)
    producer = ctx.producer + 6
    r1, r2 = records(2, "g1", rnd=ctx.rnd), records(2, "g2", rnd=ctx.rnd)
    sock.sendall(build_frame(st.name, r1, producer, 1) + build_frame(st.name, r2, producer, 2) +
                 b"\0" * 64)
    st.check_ok(tcp_ack(sock), r1, producer, 1)
    st.check_ok(tcp_ack(sock), r2, producer, 2)
    check(closed_by_peer(sock), "garbage after frames did not close the connection")
    sock.close()
    # A header announcing more than the SLW1 maximum.
    sock = tcp_connect(ctx.d)
    hdr = bytearray(build_frame(st.name, r1, producer, 3))
    struct.pack_into(">I", hdr, 8, FRAME_MAX + 1)
    sock.sendall(bytes(hdr[:64]))
    check(closed_by_peer(sock), "frame_len over the maximum did not close the connection")
    sock.close()
    # A peer that leaves in the middle of a frame stores nothing of it.
    sock = tcp_connect(ctx.d)
    half = build_frame(st.name, records(3, "half", rnd=ctx.rnd), producer, 4)
    sock.sendall(half[: len(half) // 2])
    time.sleep(0.1)
    sock.close()
    # Others carry on.
    sock = tcp_connect(ctx.d)
    r5 = records(2, "after", rnd=ctx.rnd)
    sock.sendall(build_frame(st.name, r5, producer, 5))
    st.check_ok(tcp_ack(sock), r5, producer, 5)
    sock.close()


@case
def restart_keeps_dedupe_and_sequence(ctx):
    eq(ctx.d.stop(), 0, "exit status of SIGTERM")
    ctx.d.start()
    sock = udp_socket()
    for seq in (1, 5):
        st, recs, first = ctx.sent[(ctx.producer, seq)]
        sock.sendto(build_frame(st.name, recs, ctx.producer, seq), ctx.d.ingest)
        a = udp_ack(sock, ctx.producer, seq)
        st.check_ok(a, recs, ctx.producer, seq, duplicate=True)
        eq(a.entries, first.entries, "entries remembered across the restart (UDP)")
    tcp = tcp_connect(ctx.d)
    st, recs, first = ctx.sent[(ctx.producer + 2, 33)]
    tcp.sendall(build_frame(st.name, recs, ctx.producer + 2, 33))
    a = tcp_ack(tcp)
    st.check_ok(a, recs, ctx.producer + 2, 33, duplicate=True)
    eq(a.entries, first.entries, "entries remembered across the restart (TCP)")
    # New frames continue the sequence numbers of every shard.
    st = ctx.stream("a", 4)
    recs = records(40, "after-restart", rnd=ctx.rnd)
    sock.sendto(build_frame(st.name, recs, ctx.producer, 3001), ctx.d.ingest)
    st.check_ok(udp_ack(sock, ctx.producer, 3001), recs, ctx.producer, 3001)
    st = ctx.stream("t", 4)
    tcp.sendall(build_frame(st.name, recs, ctx.producer + 2, 41))
    st.check_ok(tcp_ack(tcp), recs, ctx.producer + 2, 41)
    tcp.close()
    sock.close()


@case
def read_back_everything(ctx):
    for st in ctx.streams.values():
        st.verify()


# ---- main -----------------------------------------------------------------

def main():
    return cases.run(Daemon(), case, Ctx, needs=[SLUICED])


if __name__ == "__main__":
    sys.exit(main())
