# SPDX-License-Identifier: BSD-3-Clause
"""Black-box tests of `sluice-gen`, the SLW1 load generator (tools/sluice_gen.c).

The generator runs against a small fake appliance written here in Python,
from WIRE.md and independently of the C codec (tests/helpers/slw1.py: CRC-32C,
frame parser, ack builder and ack splitter), so every run also cross-checks
the C frame builder and ack parser. The fake stores frames (per-shard sequence
numbers, MD5 or explicit hash key -> one of 4 shards), remembers them for
deduplication, and follows a policy per (batch_seq, attempt): drop a frame,
store it but drop its ack (TCP: then stall the connection), answer THROTTLED, answer another status, answer
PARTIAL, send a bad ack (CRC, producer_id, record counts), or (TCP) close
the connection. Acks are split into parts of two entries, so the
generator's reassembly is always exercised over UDP.

Checked:
- --dump-frame prints exactly the bytes the Python builder makes from the
  same inputs (keys, explicit hash keys, data as documented), laid out as
  WIRE.md says, for ACK_REQUESTED, --no-ack and --auth;
- UDP: retransmission after a dropped frame (acked, not duplicate) and
  after a dropped ack (DUPLICATE), THROTTLED resent after backoff, a frame
  dropped every time is lost after --retries (exit 1), counts exact;
- bad acks (CRC, producer_id, record counts) are counted by reason and the
  frame still gets acked through its retransmission; exit 1;
- final statuses (STREAM_NOT_FOUND) and PARTIAL are counted, exit 1;
- TCP: frames back to back, acks in order, reconnect and resend after the
  peer closes or stops answering, counts exact with a window of 1, and with
  a window of 8 nothing is lost or stored twice;
- --record-acks lines are exactly the fake's stored entries;
- --no-ack over UDP and TCP: flag clear, every frame arrives, exit 0;
- --rate in frames/s and records/s holds within 20%;
- usage errors exit 2 naming the option;
- DPDK (root, net_af_packet on a veth pair, the fake in a network
  namespace): ARP resolution both ways, IPv4/UDP checksums the kernel
  accepts, acks parsed from RX, exit 0; net_memif against dpdk-testpmd
  echoing every packet back (TX and RX paths, EAL's runtime dir removed).

Run as `test_gen.py --serve ...` it is the fake alone (for the DPDK case).
"""

import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "helpers"))
import slw1  # noqa: E402
from slw1 import (ACK_F_DUPLICATE, F_ACK_REQUESTED, F_AUTH, INTERNAL, OK,  # noqa: E402
                  PARTIAL, THROTTLED, Record, WireError, ack_datagrams, build_frame, crc32c,
                  parse_frame)
from veth import Veth  # noqa: E402

BUILD_ROOT = os.environ.get("SL_BUILD_ROOT", "")
GEN = os.path.join(BUILD_ROOT, "tools", "sluice-gen")
TIMEOUT_S = 60
U64 = (1 << 64) - 1
U128 = (1 << 128) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & U64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return state, z ^ (z >> 31)


def gen_data(producer_id, batch_seq, index, length):
    """Record data as sluice-gen --help documents it."""
    out = bytearray(struct.pack(">QQH", producer_id, batch_seq, index))
    state = (producer_id ^ (batch_seq << 16) ^ index) & U64
    while len(out) < length:
        state, v = splitmix64(state)
        out += v.to_bytes(8, "big")
    return bytes(out[:length])


# ---- the fake appliance ----

SHARDS = 4
ACK_PAYLOAD_MAX = 32 + 2 * 24 + 4  # two entries per ack datagram
CLOSE = "close"
STALL = "stall"  # TCP: store this frame, then answer nothing more on the connection


def shard_of(rec):
    h = slw1.hash_key_of(rec.key, rec.hash_key)
    return min(h // ((U128 + 1) // SHARDS), SHARDS - 1)


class FakeAppliance:
    """Stores frames, deduplicates, answers by policy(frame, attempt)."""

    def __init__(self, policy=None, payload_max=ACK_PAYLOAD_MAX):
        self.policy = policy or (lambda f, a: "store")
        self.payload_max = payload_max
        self.lock = threading.Lock()
        self.counters = [0] * SHARDS
        self.stored = {}  # (pid, seq) -> (status, entries)
        self.attempts = {}
        self.frames = 0
        self.flags_seen = set()
        self.bad_frames = 0
        self.closes = 0
        self.data_errors = 0

    def _store(self, frame, partial):
        entries = []
        by_shard = slw1.entries_in_order(shard_of(r) for r in frame.records)
        for i, (s, count) in enumerate(by_shard):
            est = INTERNAL if partial and i > 0 else OK
            first = ((s + 1) << 64) | self.counters[s]
            if est == OK:
                self.counters[s] += count
            entries.append((s, count, est, first))
        status = PARTIAL if partial and len(by_shard) > 1 else OK
        return status, entries

    def _check_data(self, frame):
        for i, (_, data, _) in enumerate(frame.records):
            if data != gen_data(frame.producer_id, frame.batch_seq, i, len(data)):
                self.data_errors += 1

    def handle(self, buf):
        """Returns the ack datagrams to send, or CLOSE."""
        with self.lock:
            try:
                f = parse_frame(buf)
            except WireError:
                self.bad_frames += 1
                return []
            self.frames += 1
            self.flags_seen.add(f.flags)
            self._check_data(f)
            key = (f.producer_id, f.batch_seq)
            attempt = self.attempts.get(key, 0) + 1
            self.attempts[key] = attempt
            action = self.policy(f, attempt)
            if action == "drop":
                return []
            if action == CLOSE:
                self.closes += 1
                return CLOSE
            pid, seq = f.producer_id, f.batch_seq
            if action == "throttle":
                return ack_datagrams(THROTTLED, 0, pid, seq, [], self.payload_max)
            if action.startswith("status:"):
                return ack_datagrams(int(action[7:]), 0, pid, seq, [], self.payload_max)
            flags = 0
            if key in self.stored:
                status, entries = self.stored[key]
                flags = ACK_F_DUPLICATE
            else:
                status, entries = self._store(f, action == "partial")
                self.stored[key] = (status, entries)
            if action == STALL:
                return STALL
            if action == "store_drop_ack" or not f.flags & F_ACK_REQUESTED:
                return []
            if action == "bad_producer":
                pid ^= 1
            if action == "bad_count":
                s0, c0, e0, q0 = entries[0]
                entries = [(s0, c0 + 1, e0, q0)] + entries[1:]
            dgrams = ack_datagrams(status, flags, pid, seq, entries, self.payload_max)
            if action == "bad_crc":
                dgrams[0] = dgrams[0][:-1] + bytes([dgrams[0][-1] ^ 0xFF])
            return dgrams


class UdpServer(threading.Thread):
    def __init__(self, app, host="127.0.0.1", port=0):
        super().__init__(daemon=True)
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            try:
                buf, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            out = self.app.handle(buf)
            if out not in (CLOSE, STALL):
                for d in out:
                    self.sock.sendto(d, addr)

    def stop(self):
        self.stopping.set()
        self.join(5)
        self.sock.close()


class TcpServer(threading.Thread):
    """One connection at a time, frames cut by frame_len, acks in order."""

    def __init__(self, app):
        super().__init__(daemon=True)
        self.app = app
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stopping = threading.Event()
        self.connections = 0

    def serve(self, conn):
        buf = bytearray()
        stalled = False
        while not self.stopping.is_set():
            r, _, _ = select.select([conn], [], [], 0.05)
            if not r:
                continue
            try:
                chunk = conn.recv(1 << 16)
            except ConnectionError:
                return
            if not chunk:
                return
            buf += chunk
            while len(buf) >= 12:
                (frame_len,) = struct.unpack_from(">I", buf, 8)
                if len(buf) < frame_len:
                    break
                frame = bytes(buf[:frame_len])
                del buf[:frame_len]
                if stalled:
                    continue  # read and ignored: a stuck peer
                out = self.app.handle(frame)
                if out == CLOSE:
                    return
                if out == STALL:
                    stalled = True
                    continue
                for d in out:
                    conn.sendall(d)

    def run(self):
        while not self.stopping.is_set():
            r, _, _ = select.select([self.lsock], [], [], 0.05)
            if not r:
                continue
            conn, _ = self.lsock.accept()
            self.connections += 1
            with conn:
                self.serve(conn)

    def stop(self):
        self.stopping.set()
        self.join(5)
        self.lsock.close()


def run_gen(*args, timeout=TIMEOUT_S):
    return subprocess.run([GEN, *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def hexdump_bytes(text):
    """The bytes of a --dump-frame listing, checking its offsets."""
    out = bytearray()
    for line in text.splitlines():
        if "|" not in line:
            continue
        tokens = line.split("|")[0].split()
        if int(tokens[0], 16) != len(out):
            raise AssertionError(f"offset {tokens[0]} after {len(out)} bytes")
        out += bytes.fromhex("".join(tokens[1:]))
    return bytes(out)


class GenTestCase(unittest.TestCase):
    PID = 0x1122334455667788

    @classmethod
    def setUpClass(cls):
        if not os.access(GEN, os.X_OK):
            raise AssertionError(f"{GEN} is not built (set SL_BUILD_ROOT)")

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="sluice-gen-")
        self.addCleanup(self.tmp.cleanup)

    def udp(self, policy=None, **kw):
        app = FakeAppliance(policy, **kw)
        srv = UdpServer(app)
        srv.start()
        self.addCleanup(srv.stop)
        return app, f"127.0.0.1:{srv.port}"

    def tcp(self, policy=None):
        app = FakeAppliance(policy, payload_max=1 << 20)  # one ack, one part
        srv = TcpServer(app)
        srv.start()
        self.addCleanup(srv.stop)
        return app, srv, f"127.0.0.1:{srv.port}"

    def gen_json(self, *args, code=0):
        p = run_gen(*args, "--json", "--producer-id", str(self.PID))
        self.assertEqual(p.returncode, code, f"exit {p.returncode}, want {code}\n"
                         f"stdout: {p.stdout}\nstderr: {p.stderr}")
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1, f"stdout: {p.stdout}\nstderr: {p.stderr}")
        return json.loads(lines[0])

    def assert_counts(self, r, **want):
        got = {k: (r["status"][k[7:]] if k.startswith("status_") else
                   r["bad_ack"][k[4:]] if k.startswith("bad_") and k != "bad_acks" else r[k])
               for k in want}
        self.assertEqual(got, want, json.dumps(r, indent=1))

    def read_acks(self, path):
        rows = set()
        with open(path, encoding="utf-8") as f:
            for line in f:
                pid, seq, shard, first, count = line.split()
                rows.add((int(pid), int(seq), int(shard), int(first), int(count)))
        return rows

    def stored_rows(self, app):
        return {(pid, seq, shard, first, count)
                for (pid, seq), (_, entries) in app.stored.items()
                for shard, count, est, first in entries if est == OK}


class DumpFrameTest(GenTestCase):
    def dump(self, *extra):
        p = run_gen("--dump-frame", "--stream", "orders.eu-1", "--producer-id",
                    "0x0102030405060708", "--batch-seq-start", "7",
                    "--records-per-frame", "3", "--record-size", "30",
                    "--keys", "seq:2", *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout, hexdump_bytes(p.stdout)

    def test_matches_python_builder(self):
        text, got = self.dump()
        pid, seq = 0x0102030405060708, 7
        recs = [Record(f"key-{i % 2}", gen_data(pid, seq, i, 30)) for i in range(3)]
        want = build_frame("orders.eu-1", recs, pid, seq, F_ACK_REQUESTED)
        self.assertEqual(got.hex(), want.hex(), text)
        # The field offsets of WIRE.md's table, read straight off the dump.
        self.assertEqual(got[0:4], b"SLW1")
        self.assertEqual(got[4], 1)
        self.assertEqual(got[5], F_ACK_REQUESTED)
        self.assertEqual(struct.unpack_from(">H", got, 6)[0], 3)
        self.assertEqual(struct.unpack_from(">I", got, 8)[0], len(got))
        self.assertEqual(struct.unpack_from(">Q", got, 12)[0], pid)
        self.assertEqual(struct.unpack_from(">Q", got, 20)[0], seq)
        self.assertEqual(got[28], len("orders.eu-1"))
        self.assertEqual(got[29:40], b"orders.eu-1")
        self.assertEqual(struct.unpack_from(">I", got, len(got) - 4)[0], crc32c(got[:-4]))
        self.assertTrue(text.rstrip().endswith(f"{len(got):08x}"))

    def test_explicit_hash_keys_no_ack_auth(self):
        _, got = self.dump("--hash-keys", "spread:4", "--no-ack", "--auth")
        pid, seq = 0x0102030405060708, 7
        width = U128 // 4
        recs = [Record(f"key-{i % 2}", gen_data(pid, seq, i, 30), (i % 4) * width + width // 2)
                for i in range(3)]
        want = build_frame("orders.eu-1", recs, pid, seq, F_AUTH)
        self.assertEqual(got.hex(), want.hex())
        # With AUTH the CRC sits 36 bytes from the end, a zero tag after it.
        self.assertEqual(struct.unpack_from(">I", got, len(got) - 36)[0],
                         crc32c(got[:-36]))
        self.assertEqual(got[-32:], bytes(32))
        f = parse_frame(got)
        self.assertEqual([r.hash_key for r in f.records], [width // 2, width + width // 2,
                                                           2 * width + width // 2])

    def test_fixed_hash_key_and_key(self):
        _, got = self.dump("--hash-keys", "fixed:340282366920938463463374607431768211455",
                           "--keys", "fixed:k\u00e9y")
        f = parse_frame(got)
        self.assertEqual({r.hash_key for r in f.records}, {U128})
        self.assertEqual({r.key for r in f.records}, {"k\u00e9y".encode()})

    def test_uniform_sizes_and_random_keys(self):
        _, got = self.dump("--record-size", "5-50", "--keys", "random:40",
                           "--records-per-frame", "200", "--seed", "9")
        f = parse_frame(got)
        sizes = [len(r.data) for r in f.records]
        self.assertTrue(all(5 <= s <= 50 for s in sizes), sizes)
        self.assertGreater(len(set(sizes)), 20)  # not one size
        self.assertTrue(all(re.fullmatch(rb"[0-9a-f]{40}", r.key) for r in f.records))
        self.assertGreater(len({r.key for r in f.records}), 190)
        for i, (_, data, _) in enumerate(f.records):
            self.assertEqual(data, gen_data(0x0102030405060708, 7, i, len(data)))
        # The seed decides keys and sizes: same seed, same frame.
        _, again = self.dump("--record-size", "5-50", "--keys", "random:40",
                             "--records-per-frame", "200", "--seed", "9")
        self.assertEqual(got, again)


class UdpTest(GenTestCase):
    FRAMES = 60

    @staticmethod
    def policy(f, attempt):
        s = f.batch_seq
        if s == 42:
            return "drop"  # every time: lost
        if attempt > 1:
            return "store"
        return {3: "drop", 5: "store_drop_ack", 7: "throttle"}.get(s % 10, "store")

    def test_retransmit_throttle_lost(self):
        app, addr = self.udp(self.policy)
        acks = os.path.join(self.tmp.name, "acks")
        r = self.gen_json("--udp", addr, "--stream", "s1", "--frames", str(self.FRAMES),
                          "--records-per-frame", "7", "--keys", "seq:50", "--window", "8",
                          "--timeout-ms", "150", "--retries", "3", "--backoff-ms", "5",
                          "--record-acks", acks, code=1)
        drops = [s for s in range(1, 61) if s % 10 == 3]
        no_ack = [s for s in range(1, 61) if s % 10 == 5]
        throttled = [s for s in range(1, 61) if s % 10 == 7]
        self.assert_counts(r, frames_sent=60, records_sent=420, frames_acked=59,
                           records_acked=413, lost=1, records_lost=7,
                           retried=len(drops) + len(no_ack) + 3,
                           duplicate=len(no_ack), throttled=len(throttled),
                           throttle_resends=len(throttled), failed=0, bad_acks=0,
                           late_acks=0, status_OK=59, status_THROTTLED=len(throttled))
        self.assertEqual(app.attempts[(self.PID, 42)], 4)  # 1 + --retries
        self.assertEqual(app.data_errors, 0)
        self.assertEqual(app.flags_seen, {F_ACK_REQUESTED})
        self.assertEqual(r["latency"]["count"], 59)
        self.assertGreater(r["latency"]["p999_us"], r["latency"]["p50_us"])
        self.assertEqual(self.read_acks(acks), self.stored_rows(app))
        self.assertEqual(len(self.stored_rows(app)) > 59, True)  # several shards per frame

    def test_all_acked_exit_0_human_table(self):
        app, addr = self.udp()
        p = run_gen("--udp", addr, "--stream", "s1", "--records", "95",
                    "--records-per-frame", "10", "--record-size", "1-300")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"(?m)^frames\n  sent\s+10$")
        self.assertRegex(p.stdout, r"(?m)^  acked\s+10$")
        self.assertRegex(p.stdout, r"(?m)^records\n  sent\s+95$")
        self.assertIn("p50", p.stdout)
        self.assertEqual(app.frames, 10)
        self.assertEqual(sum(len(e) for _, e in app.stored.values()) > 0, True)
        self.assertEqual(sum(c for _, e in app.stored.values() for _, c, _, _ in e), 95)

    def test_bad_acks_counted(self):
        bad = {2: "bad_crc", 4: "bad_producer", 6: "bad_count"}

        def policy(f, attempt):
            return bad.get(f.batch_seq, "store") if attempt == 1 else "store"

        app, addr = self.udp(policy)
        r = self.gen_json("--udp", addr, "--stream", "s1", "--frames", "10",
                          "--records-per-frame", "5", "--keys", "seq:20",
                          "--timeout-ms", "100", code=1)
        # Every datagram of frame 4's ack names another producer.
        parts4 = -(-len(app.stored[(self.PID, 4)][1]) // 2)
        self.assert_counts(r, frames_acked=10, lost=0, bad_acks=2 + parts4, bad_format=1,
                           bad_producer=parts4, bad_content=1, retried=3, duplicate=3)

    def test_final_statuses(self):
        def policy(f, attempt):
            return {3: "status:3", 4: "partial", 5: "status:7"}.get(f.batch_seq, "store")

        app, addr = self.udp(policy)
        r = self.gen_json("--udp", addr, "--stream", "s1", "--frames", "8",
                          "--records-per-frame", "10", "--keys", "seq:10", code=1)
        _, partial_entries = app.stored[(self.PID, 4)]
        self.assertGreater(len(partial_entries), 1)
        ok_records = partial_entries[0][1]
        self.assert_counts(r, frames_acked=5, failed=3, partial=1, lost=0,
                           status_STREAM_NOT_FOUND=1, status_INTERNAL=1, status_PARTIAL=1,
                           records_acked=50 + ok_records, records_failed=30 - ok_records,
                           bad_acks=0)

    def test_no_ack(self):
        app, addr = self.udp()
        r = self.gen_json("--udp", addr, "--stream", "s1", "--frames", "200", "--no-ack",
                          "--rate", "2000")
        self.assert_counts(r, frames_sent=200, frames_acked=0, acks_received=0, lost=0)
        time.sleep(0.2)
        self.assertEqual(app.frames, 200)
        self.assertEqual(app.flags_seen, {0})

    def test_rate(self):
        for rate, unit_records in (("100", False), ("1000r", True)):
            with self.subTest(rate=rate):
                app, addr = self.udp()
                r = self.gen_json("--udp", addr, "--stream", "s1", "--rate", rate,
                                  "--duration", "1", "--records-per-frame", "10")
                want = 1000 if unit_records else 100
                got = r["records_sent"] if unit_records else r["frames_sent"]
                self.assertGreater(got, want * 0.8, r)
                self.assertLess(got, want * 1.2, r)
                self.assertEqual(r["lost"], 0)

    def test_random_producer_ids(self):
        app, addr = self.udp()
        seen = []
        for _ in range(2):
            p = run_gen("--udp", addr, "--stream", "s1", "--frames", "2", "--json")
            self.assertEqual(p.returncode, 0, p.stderr)
            seen.append(int(json.loads(p.stdout)["producer_id"]))
        self.assertNotEqual(seen[0], seen[1])
        self.assertNotIn(0, seen)
        self.assertEqual({pid for pid, _ in app.stored}, set(seen))
        self.assertEqual({seq for _, seq in app.stored}, {1, 2})  # from 1, increasing

    def test_timeout_with_nobody_listening(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))  # bound, never read: no ICMP, no ack
        self.addCleanup(s.close)
        r = self.gen_json("--udp", f"127.0.0.1:{s.getsockname()[1]}", "--stream", "s1",
                          "--frames", "3", "--timeout-ms", "30", "--retries", "2", code=1)
        self.assert_counts(r, frames_sent=3, lost=3, retried=6, transmissions=9,
                           frames_acked=0)


class TcpTest(GenTestCase):
    @staticmethod
    def policy(f, attempt):
        if attempt > 1:
            return "store"
        return {3: CLOSE, 5: STALL, 7: "throttle"}.get(f.batch_seq % 10, "store")

    def test_window_1_exact(self):
        app, srv, addr = self.tcp(self.policy)
        acks = os.path.join(self.tmp.name, "acks")
        r = self.gen_json("--tcp", addr, "--stream", "s1", "--frames", "30", "--window", "1",
                          "--records-per-frame", "4", "--keys", "seq:9",
                          "--timeout-ms", "150", "--backoff-ms", "5", "--record-acks", acks)
        self.assert_counts(r, frames_sent=30, frames_acked=30, lost=0, bad_acks=0,
                           reconnects=6, retried=6, duplicate=3, throttled=3,
                           throttle_resends=3, late_acks=0)
        self.assertEqual(app.closes, 3)
        self.assertEqual(srv.connections, 7)
        self.assertEqual(self.read_acks(acks), self.stored_rows(app))

    def test_window_8_nothing_lost_or_doubled(self):
        app, srv, addr = self.tcp(self.policy)
        acks = os.path.join(self.tmp.name, "acks")
        r = self.gen_json("--tcp", addr, "--stream", "s1", "--frames", "80", "--window", "8",
                          "--records-per-frame", "3", "--timeout-ms", "200",
                          "--backoff-ms", "5", "--record-acks", acks)
        self.assert_counts(r, frames_sent=80, frames_acked=80, lost=0, bad_acks=0,
                           throttled=8)
        self.assertGreaterEqual(r["reconnects"], 8 + 8)  # 8 closes, 8 silent frames
        self.assertEqual(len(app.stored), 80)
        self.assertEqual(self.read_acks(acks), self.stored_rows(app))
        self.assertEqual(app.data_errors, 0)

    def test_big_frames_no_ack(self):
        app, srv, addr = self.tcp()
        r = self.gen_json("--tcp", addr, "--stream", "s1", "--frames", "20", "--no-ack",
                          "--records-per-frame", "100", "--record-size", "2000-3000")
        self.assert_counts(r, frames_sent=20, acks_received=0)
        deadline = time.time() + 5
        while app.frames < 20 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(app.frames, 20)  # frames of ~250 KB, back to back
        self.assertEqual(app.flags_seen, {0})
        self.assertEqual(app.bad_frames, 0)

    def test_stuck_peer_no_ack(self):
        # Accepts and never reads: what does not fit in the socket buffers
        # cannot leave; the drain is bounded and the run fails.
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(1)
        self.addCleanup(lsock.close)
        start = time.time()
        p = run_gen("--tcp", f"127.0.0.1:{lsock.getsockname()[1]}", "--stream", "s1",
                    "--no-ack", "--frames", "400", "--records-per-frame", "100",
                    "--record-size", "1000", "--timeout-ms", "300", "--retries", "1",
                    "--json")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertRegex(p.stderr, "took nothing|unsent data left")
        self.assertLess(time.time() - start, 10)
        self.assertGreaterEqual(json.loads(p.stdout)["send_errors"], 1)

    def test_connect_refused(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = run_gen("--tcp", f"127.0.0.1:{port}", "--stream", "s1", "--frames", "1")
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot connect", p.stderr)


class UsageTest(GenTestCase):
    def assert_usage(self, args, *needles):
        p = run_gen(*args)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "")
        for n in needles:
            self.assertIn(n, p.stderr)
        self.assertIn("--help", p.stderr)

    def test_errors(self):
        udp = ["--udp", "127.0.0.1:9", "--stream", "s"]
        self.assert_usage(["--stream", "s"], "--udp")
        self.assert_usage(["--udp", "127.0.0.1:9"], "--stream")
        self.assert_usage(udp + ["--window", "65"], "--window", "1..64")
        self.assert_usage(udp + ["--records-per-frame", "501"], "--records-per-frame")
        self.assert_usage(udp + ["--records-per-frame", "x"], "not a number")
        self.assert_usage(["--udp", "127.0.0.1", "--stream", "s"], "HOST:PORT")
        self.assert_usage(["--udp", "h:1", "--tcp", "h:2", "--stream", "s"], "only one")
        self.assert_usage(["--udp", "h:1", "--stream", "bad name"], "stream name")
        self.assert_usage(udp + ["--bogus"], "unknown option")
        self.assert_usage(udp + ["--keys", "nope"], "--keys")
        self.assert_usage(udp + ["--record-size", "9-3"], "MIN")
        self.assert_usage(udp + ["--rate", "-1"], "--rate")
        self.assert_usage(udp + ["--no-ack", "--record-acks", "/tmp/x"], "--record-acks")
        self.assert_usage(["--dpdk-vdev", "net_null0", "--stream", "s"], "--src-ip")
        self.assert_usage(udp + ["--src-ip", "1.2.3.4"], "--dpdk-vdev")
        self.assert_usage(udp + ["--dst-mac", "zz"], "MAC")
        self.assert_usage(udp + ["extra"], "unexpected argument")
        self.assert_usage(udp + ["--idle-sleep-us", "20000"], "--idle-sleep-us")

    def test_frame_too_big_for_udp(self):
        app, addr = self.udp()
        self.assert_usage(["--udp", addr, "--stream", "s", "--records-per-frame", "500",
                           "--record-size", "1000"], "do not fit")

    def test_help_and_version(self):
        p = run_gen("--help")
        self.assertEqual(p.returncode, 0)
        for opt in ("--udp", "--tcp", "--dpdk-vdev", "--window", "--record-acks",
                    "--dump-frame", "--no-ack", "--rate"):
            self.assertIn(opt, p.stdout)
        p = run_gen("--version")
        self.assertEqual(p.returncode, 0)
        self.assertTrue(p.stdout.startswith("sluice-gen "))


# ---- DPDK: net_af_packet on a veth pair, the fake in a namespace ----

NS_IP, GEN_IP = "10.77.0.1", "10.77.0.2"


def dpdk_policy(f, attempt):
    if attempt == 1 and f.batch_seq % 10 == 3:
        return "drop"
    if attempt == 1 and f.batch_seq % 10 == 5:
        return "store_drop_ack"
    return "store"


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("ip"),
                     "DPDK on a veth pair needs root and iproute2")
class DpdkTest(GenTestCase):
    def setUp(self):
        super().setUp()
        tag = f"{os.getpid() % 100000}"
        self.veth = Veth(f"sgen{tag}", f"sgh{tag}", f"sgf{tag}", NS_IP)
        self.addCleanup(self.veth.close)
        self.ns, self.host_if = self.veth.ns, self.veth.host_if
        self.summary = os.path.join(self.tmp.name, "summary.json")
        self.server = subprocess.Popen(["ip", "netns", "exec", self.ns, sys.executable,
                                        __file__, "--serve", NS_IP, "7400", self.summary])
        self.addCleanup(self.stop_server)
        time.sleep(0.5)

    def stop_server(self):
        if self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            self.server.wait(10)

    def summary_json(self):
        self.stop_server()
        with open(self.summary, encoding="utf-8") as f:
            return json.load(f)

    def dpdk_args(self, *extra):
        return ["--dpdk-vdev", f"net_af_packet0,iface={self.host_if}", "--src-ip", GEN_IP,
                "--dst-ip", NS_IP, "--stream", "s1", "--timeout-ms", "200", *extra]

    def test_arp_and_acks(self):
        acks = os.path.join(self.tmp.name, "acks")
        r = self.gen_json(*self.dpdk_args("--frames", "100", "--records-per-frame", "8",
                                          "--keys", "seq:40", "--window", "8",
                                          "--record-acks", acks))
        s = self.summary_json()
        self.assert_counts(r, frames_sent=100, frames_acked=100, lost=0, bad_acks=0,
                           retried=20, duplicate=10)
        self.assertGreaterEqual(r["dpdk"]["arp_requests"], 1)
        self.assertEqual(s["bad_frames"], 0)
        self.assertEqual(s["data_errors"], 0)
        self.assertEqual(s["stored"], 100)
        self.assertEqual(len(self.read_acks(acks)), s["entries"])

    def test_dst_mac_kernel_asks_for_us(self):
        # We never ARP, so the kernel must resolve us to send its acks.
        mac = subprocess.run(["ip", "netns", "exec", self.ns, "cat",
                              f"/sys/class/net/{self.veth.far_if}/address"],
                             capture_output=True, text=True, check=True).stdout.strip()
        r = self.gen_json(*self.dpdk_args("--dst-mac", mac, "--frames", "30"))
        self.assert_counts(r, frames_sent=30, frames_acked=30, lost=0, bad_acks=0)
        self.assertEqual(r["dpdk"]["arp_requests"], 0)
        self.assertGreaterEqual(r["dpdk"]["arp_replies"], 1)

    def test_no_ack(self):
        r = self.gen_json(*self.dpdk_args("--frames", "50", "--no-ack", "--rate", "1000"))
        s = self.summary_json()
        self.assert_counts(r, frames_sent=50, acks_received=0)
        self.assertEqual(s["frames"], 50)
        self.assertEqual(s["flags"], [0])


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("dpdk-testpmd")
                     and len(os.sched_getaffinity(0)) >= 2,
                     "net_memif needs root, dpdk-testpmd as the peer and two CPUs")
class MemifTest(GenTestCase):
    """net_memif against testpmd swapping addresses (5tswap): each frame
    comes back to us as a UDP datagram, passes the Ethernet/IPv4/UDP checks
    and reaches the ack parser, which refuses it (an SLW1 frame, not an
    ack). That proves the memif TX and RX paths end to end."""

    def test_memif_echo(self):
        sock = os.path.join(self.tmp.name, "memif.sock")
        log_path = os.path.join(self.tmp.name, "testpmd.log")
        log = open(log_path, "w", encoding="utf-8")  # pylint: disable=consider-using-with
        self.addCleanup(log.close)
        cpus = sorted(os.sched_getaffinity(0))
        prefix = f"sgen-peer-{os.getpid()}"
        # testpmd leaves its EAL runtime directory behind.
        self.addCleanup(shutil.rmtree, f"/var/run/dpdk/{prefix}", ignore_errors=True)
        peer = subprocess.Popen(
            ["stdbuf", "-oL", "dpdk-testpmd", "-l", f"{cpus[0]},{cpus[1]}", "--no-huge", "-m", "1024",
             "--no-pci", "--file-prefix", prefix, "--vdev",
             f"net_memif0,role=server,socket={sock}", "--", "--forward-mode=5tswap",
             "--auto-start", "--total-num-mbufs", "4096", "--stats-period", "0"],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)

        def stop_peer():
            peer.stdin.close()  # testpmd waits for a line on stdin
            try:
                peer.wait(10)
            except subprocess.TimeoutExpired:
                peer.kill()
                peer.wait()

        self.addCleanup(stop_peer)
        # testpmd prints this once its port is started and forwarding (a
        # memif client that connects before that never sees its link up).
        deadline = time.time() + 20
        while time.time() < deadline:
            with open(log_path, encoding="utf-8", errors="replace") as f:
                if "Press enter to exit" in f.read():
                    break
            self.assertIsNone(peer.poll(), "testpmd exited")
            time.sleep(0.1)
        else:
            self.fail("testpmd did not start forwarding")
        runtime = "/var/run/dpdk"
        before = set(os.listdir(runtime)) if os.path.isdir(runtime) else set()
        r = self.gen_json("--dpdk-vdev", f"net_memif0,role=client,socket={sock}",
                          "--src-ip", GEN_IP, "--dst-ip", NS_IP, "--dst-mac",
                          "02:00:00:00:00:01", "--lcore", str(cpus[0]), "--stream", "s1",
                          "--frames", "20", "--timeout-ms", "100", "--retries", "0", code=1)
        self.assert_counts(r, frames_sent=20, lost=20, acks_received=20, bad_format=20)
        self.assertEqual(r["dpdk"]["rx_packets"], 20)
        self.assertEqual(r["dpdk"]["rx_bad_packet"], 0)
        after = set(os.listdir(runtime)) if os.path.isdir(runtime) else set()
        self.assertEqual({d for d in after - before if d.startswith("sluice-gen-")}, set())


def serve_main(argv):
    """The fake alone: UDP on HOST PORT until SIGTERM, then a JSON summary."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", nargs=3, metavar=("HOST", "PORT", "SUMMARY"), required=True)
    a = ap.parse_args(argv)
    host, port, summary = a.serve
    app = FakeAppliance(dpdk_policy, payload_max=1472)
    srv = UdpServer(app, host, int(port))
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    srv.start()
    done.wait()
    srv.stop()
    with open(summary, "w", encoding="utf-8") as f:
        json.dump({"frames": app.frames, "stored": len(app.stored),
                   "entries": sum(len(e) for _, e in app.stored.values()),
                   "bad_frames": app.bad_frames, "data_errors": app.data_errors,
                   "flags": sorted(app.flags_seen)}, f)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve_main(sys.argv[1:])
    else:
        unittest.main()
