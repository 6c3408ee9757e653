# SPDX-License-Identifier: BSD-3-Clause
"""Black-box tests of `sluice segment verify|dump` (tools/sluice.c).

Segment files are made here by a small writer that follows the byte layout
in storage/include/sluice/segment.h on its own (segment header and batches,
big-endian, CRC-32C computed in Python by tests/helpers/slw1.py), so the CLI
is checked against the format as documented, not against the C builder. A batch's payload is its
records followed by its dedupe entries. The test writes:
- a valid file of 3 batches (one padded to 4096 bytes, a binary key, a key
  longer than 64 characters, data longer than 32 bytes, an explicit hash
  key, a sequence number above 2^64) and a header-only file;
- the same file with its last batch cut (a torn tail), with a byte of batch
  2 of 3 flipped (corruption with valid data after it), with a byte of the
  header flipped (a bad header), with batch 2's base_seq off by one and with
  the first batch not at the header's base_seq (sequence breaks).
It checks:
- `segment verify`: exit 0 only when every file is ok, 1 otherwise (a torn
  tail included), 2 for usage errors; the one line per file with offsets,
  byte and record counts, sequence and ISO 8601 arrival ranges; the --json
  array's fields (sequence numbers as decimal strings, problem kinds,
  offsets, valid_after);
- `segment dump`: the header line, one line per batch with its offset and
  counts, the dedupe entries, with --records one line per record whose key
  is shown as text or hex (at most 64 characters) and whose data hex prefix
  is the first 32 bytes written; --limit; the verify-style problem line at
  the first bad batch; the --json object with records and dedupe entries;
- help for the group and both commands.
"""

import datetime
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "helpers"))
from checks import ExitAssertions  # noqa: E402
from slw1 import crc32c  # noqa: E402

BUILD_ROOT = os.environ.get("SL_BUILD_ROOT", "")
SLUICE = os.path.join(BUILD_ROOT, "tools", "sluice")
TIMEOUT_S = 20

SEG_MAGIC = 0x534C5347
BATCH_MAGIC = 0x534C4254
HEADER_BYTES = 4096
BATCH_HEADER_BYTES = 64
DEDUPE_BYTES = 40


def u128(v):
    return v.to_bytes(16, "big")


def segment_header(stream_id, shard_id, base_seq, created_ms):
    """The 4096-byte segment header."""
    head = struct.pack(">IHHII", SEG_MAGIC, 1, HEADER_BYTES, stream_id, shard_id)
    head += u128(base_seq) + struct.pack(">Q", created_ms) + bytes(20)
    head += struct.pack(">I", crc32c(head))
    return head + bytes(HEADER_BYTES - len(head))


def record_bytes(delta_ms, key, data, hash_key=None):
    flags = 1 if hash_key is not None else 0
    out = struct.pack(">IBHI", delta_ms, flags, len(key), len(data)) + key
    if hash_key is not None:
        out += u128(hash_key)
    return out + data


def dedupe_bytes(d):
    return struct.pack(">QQ", d["producer_id"], d["batch_seq"]) + u128(d["first_seq"]) + \
        struct.pack(">HHHH", d["record_count"], d["entry_index"], d["entry_count"], 0)


def batch_bytes(base_seq, records, dedupe=(), align=8, flags=0):
    """A batch: records is a list of (arrival_ms, key, data, hash_key|None).

    A record arriving before record 0 is stored at record 0's time, as the
    builder does when the wall clock steps back.
    """
    first = records[0][0]
    recs = b"".join(record_bytes(max(r[0] - first, 0), r[1], r[2], r[3]) for r in records)
    entries = b"".join(dedupe_bytes(d) for d in dedupe)
    payload = recs + entries
    used = BATCH_HEADER_BYTES + len(payload)
    batch_len = (used + align - 1) // align * align
    last = max(r[0] for r in records)
    head = struct.pack(">IBBHII", BATCH_MAGIC, 1, flags, BATCH_HEADER_BYTES, batch_len,
                       len(payload))
    head += u128(base_seq) + struct.pack(">IHHQQI", len(records), len(dedupe), 0, first,
                                         last, 0)
    head += struct.pack(">I", crc32c(head + payload))
    return head + payload + bytes(batch_len - used)


T0 = 1700000000123  # 2023-11-14T22:13:20.123Z
BASE = (7 << 64) | 1000  # above 2^64: decimal formatting of the high half
LONG_KEY = b"k" * 70
LONG_DATA = bytes(range(40))
DEDUPE = [
    {"producer_id": 0xFEDCBA9876543210, "batch_seq": 42, "first_seq": BASE + 2,
     "record_count": 3, "entry_index": 1, "entry_count": 2},
    {"producer_id": 5, "batch_seq": 6, "first_seq": BASE + 4, "record_count": 1,
     "entry_index": 0, "entry_count": 1},
]
# (base_seq, records, dedupe, align)
BATCHES = [
    (BASE, [(T0, b"alpha", b"hello", None), (T0 + 5, b"beta", b"", None)], [], 4096),
    (BASE + 2, [(T0 + 10, b"\x00\x01\xff", LONG_DATA, None),
                (T0 + 9, LONG_KEY, b"x" * 3, None),
                (T0 + 30, b"ehk", b"\xde\xad", 12345)], DEDUPE[:1], 8),
    (BASE + 5, [(T0 + 1000, b"last", b"bye", None)], DEDUPE[1:], 8),
]


def build(batches=BATCHES, base_seq=BASE, overlapped=()):
    """A segment file's bytes and each batch's offset; the batches whose
    index is in `overlapped` carry flags bit 0 (OVERLAPPED)."""
    data = segment_header(3, 9, base_seq, T0 - 60000)
    offsets = []
    for i, (seq, recs, dedupe, align) in enumerate(batches):
        offsets.append(len(data))
        data += batch_bytes(seq, recs, dedupe, align, 1 if i in overlapped else 0)
    return data, offsets


def iso(ms):
    dt = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}Z"


def run(*args):
    return subprocess.run([SLUICE, *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False)


class SegmentCliTest(ExitAssertions, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not BUILD_ROOT:
            raise AssertionError("set SL_BUILD_ROOT")
        if not os.access(SLUICE, os.X_OK):
            raise AssertionError(f"{SLUICE} is not built")
        cls.tmp = tempfile.TemporaryDirectory(prefix="sluice-segcli-")
        cls.good, cls.off = build()
        cls.good_path = cls.write("good.seg", cls.good)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def write(cls, name, data):
        path = os.path.join(cls.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    # ---- the writer itself ------------------------------------------------

    def test_crc32c_check_value(self):
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)

    # ---- verify -------------------------------------------------------------

    def test_verify_ok(self):
        proc = run("segment", "verify", self.good_path)
        self.assert_exit(proc, 0)
        self.assertEqual(proc.stdout,
                         f"{self.good_path}: ok: 3 batches, 6 records, "
                         f"seq {BASE}..{BASE + 5}, arrival {iso(T0)}..{iso(T0 + 1000)}\n")
        self.assertEqual(proc.stderr, "")

    def test_verify_header_only(self):
        path = self.write("empty.seg", build(batches=[])[0])
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 0)
        self.assertEqual(proc.stdout, f"{path}: ok: 0 batches, 0 records\n")

    def test_verify_torn_tail(self):
        cut = self.off[2] + 40  # inside batch 3's header
        path = self.write("torn.seg", self.good[:cut])
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stdout, f"{path}: torn tail at offset {self.off[2]} "
                                      f"(40 bytes after the last good batch)\n")
        cut = len(self.good) - 3  # inside batch 3's payload
        path = self.write("torn2.seg", self.good[:cut])
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stdout, f"{path}: torn tail at offset {self.off[2]} "
                                      f"({cut - self.off[2]} bytes after the last good "
                                      f"batch)\n")

    def test_verify_corrupt_middle(self):
        data = bytearray(self.good)
        data[self.off[1] + BATCH_HEADER_BYTES + 20] ^= 0x40  # batch 2's payload
        path = self.write("corrupt.seg", bytes(data))
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertRegex(proc.stdout,
                         rf"^{re.escape(path)}: corrupt batch at offset {self.off[1]} "
                         rf"\(checksum[^)]*\); "
                         rf"valid data follows at offset {self.off[2]}\n$")

    def verify_flipped(self, data, at, name):
        """`segment verify` of data with byte `at` flipped, written as name:
        it must exit 1. Returns the path and the process."""
        damaged = bytearray(data)
        damaged[at] ^= 0x40
        path = self.write(name, bytes(damaged))
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        return path, proc

    def test_verify_overlapped(self):
        # Batch 3 written while batch 2's commit was in flight: fine as it is,
        # and when batch 2 is damaged, a torn tail (never acked), as recovery
        # judges it; without the flag, the same damage is corruption.
        flagged, off = build(overlapped=(2,))
        self.assertEqual(off, self.off)
        path = self.write("overlapped.seg", flagged)
        self.assert_exit(run("segment", "verify", path), 0)
        proc = run("segment", "dump", "--json", path)
        self.assertEqual([b["overlapped"] for b in json.loads(proc.stdout)["batches"]],
                         [False, False, True])
        proc = run("segment", "dump", path)
        batch_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("batch ")]
        self.assertEqual([ln.endswith(", overlapped") for ln in batch_lines],
                         [False, False, True])
        path, proc = self.verify_flipped(flagged, self.off[1] + BATCH_HEADER_BYTES + 20,
                                         "overlapped-torn.seg")  # batch 2's payload
        self.assertEqual(proc.stdout, f"{path}: torn tail at offset {self.off[1]} "
                                      f"({len(flagged) - self.off[1]} bytes after the last "
                                      f"good batch)\n")
        proc = run("segment", "verify", "--json", path)
        problem = json.loads(proc.stdout)[0]["problem"]
        self.assertEqual((problem["kind"], problem["offset"], problem["valid_after"]),
                         ("torn_tail", self.off[1], self.off[2]))
        self.assertIn("1 batch(es) written while it was in flight", problem["reason"])
        # Batch 2 flagged instead of 3: batch 3 is not, so it is corruption.
        flagged, _ = build(overlapped=(1,))
        path, proc = self.verify_flipped(flagged, self.off[0] + BATCH_HEADER_BYTES + 4,
                                         "overlapped-corrupt.seg")  # batch 1's payload
        self.assertRegex(proc.stdout, rf"^{re.escape(path)}: corrupt batch at offset "
                                      rf"{self.off[0]} ")

    def test_verify_bad_header(self):
        data = bytearray(self.good)
        data[9] ^= 1  # stream_id, under the header's CRC
        path = self.write("badhdr.seg", bytes(data))
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertRegex(proc.stdout, rf"^{re.escape(path)}: bad header \([^)]+\)\n$")
        path = self.write("short.seg", self.good[:100])
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stdout,
                         f"{path}: bad header (100 bytes, shorter than the 4096-byte header)\n")

    def test_verify_sequence_breaks(self):
        gap = [BATCHES[0], (BASE + 3,) + BATCHES[1][1:], BATCHES[2]]
        data, off = build(batches=gap)
        path = self.write("gap.seg", data)
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stdout,
                         f"{path}: corrupt batch at offset {off[1]} (base_seq {BASE + 3} "
                         f"where {BASE + 2} was expected); valid data follows at offset "
                         f"{off[2]}\n")
        data, off = build(base_seq=BASE - 1)
        path = self.write("first.seg", data)
        proc = run("segment", "verify", path)
        self.assert_exit(proc, 1)
        self.assertIn(f"corrupt batch at offset {HEADER_BYTES} (base_seq {BASE} where "
                      f"{BASE - 1} (the header's) was expected)", proc.stdout)

    def test_verify_many_and_json(self):
        torn = self.write("torn-j.seg", self.good[:-3])
        data = bytearray(self.good)
        data[self.off[1] + BATCH_HEADER_BYTES + 20] ^= 0x40
        corrupt = self.write("corrupt-j.seg", bytes(data))
        data = bytearray(self.good)
        data[9] ^= 1
        bad = self.write("badhdr-j.seg", bytes(data))
        proc = run("segment", "verify", self.good_path, self.good_path)
        self.assert_exit(proc, 0)
        self.assertEqual(len(proc.stdout.splitlines()), 2)
        proc = run("segment", "verify", "--json", self.good_path, torn, corrupt, bad)
        self.assert_exit(proc, 1)
        self.assertEqual(len(proc.stdout.splitlines()), 1)
        ok, t, c, b = json.loads(proc.stdout)
        self.assertEqual(ok, {"path": self.good_path, "ok": True, "batches": 3, "records": 6,
                              "first_seq": str(BASE), "last_seq": str(BASE + 5),
                              "first_arrival_ms": T0, "last_arrival_ms": T0 + 1000,
                              "problem": None})
        self.assertFalse(t["ok"])
        self.assertEqual((t["batches"], t["records"], t["last_seq"]), (2, 5, str(BASE + 4)))
        self.assertEqual({k: t["problem"][k] for k in ("kind", "offset", "valid_after")},
                         {"kind": "torn_tail", "offset": self.off[2], "valid_after": None})
        self.assertEqual((c["batches"], c["problem"]["kind"], c["problem"]["offset"],
                          c["problem"]["valid_after"]),
                         (1, "corrupt", self.off[1], self.off[2]))
        self.assertEqual((b["batches"], b["first_seq"], b["problem"]["kind"],
                          b["problem"]["offset"]), (0, None, "bad_header", 0))
        # The global --json works as well as the command's.
        proc = run("--json", "segment", "verify", self.good_path)
        self.assert_exit(proc, 0)
        self.assertTrue(json.loads(proc.stdout)[0]["ok"])

    def test_verify_usage(self):
        for args in (["segment", "verify"], ["segment", "verify", "--bogus", "x"],
                     ["segment", "frobnicate"]):
            proc = run(*args)
            self.assert_exit(proc, 2)
            self.assertEqual(proc.stdout, "")
            self.assertIn("--help", proc.stderr)
        proc = run("segment", "verify", "/nonexistent/x.seg")
        self.assert_exit(proc, 1)
        self.assertIn("cannot open", proc.stdout)

    def test_help(self):
        for args in (["segment", "--help"], ["help", "segment"]):
            proc = run(*args)
            self.assert_exit(proc, 0)
            self.assertIn("verify", proc.stdout)
            self.assertIn("dump", proc.stdout)
        for cmd in ("verify", "dump"):
            proc = run("segment", cmd, "--help")
            self.assert_exit(proc, 0)
            self.assertIn(f"segment {cmd} PATH", proc.stdout)

    # ---- dump ---------------------------------------------------------------

    def test_dump_batches(self):
        proc = run("segment", "dump", self.good_path)
        self.assert_exit(proc, 0)
        lines = proc.stdout.splitlines()
        self.assertEqual(lines[0], f"{self.good_path}: stream 3, shard 9, base_seq {BASE}, "
                                   f"created {iso(T0 - 60000)}, {len(self.good)} bytes")
        batch_lines = [ln for ln in lines if ln.startswith("batch ")]
        self.assertEqual(len(batch_lines), 3)
        dedupe_n = [len(d) for _, _, d, _ in BATCHES]
        batch_len = [self.off[1] - self.off[0], self.off[2] - self.off[1],
                     len(self.good) - self.off[2]]
        self.assertEqual(batch_len[0], 4096)
        for i, (seq, recs, _, _) in enumerate(BATCHES):
            first = recs[0][0]
            self.assertEqual(batch_lines[i],
                             f"batch {i} at offset {self.off[i]}: batch_len {batch_len[i]}, "
                             f"base_seq {seq}, {len(recs)} records, {dedupe_n[i]} dedupe, "
                             f"arrival {iso(first)}..{iso(max(r[0] for r in recs))}")
        self.assertFalse([ln for ln in lines if ln.startswith("  record")])

    def test_dump_dedupe(self):
        proc = run("segment", "dump", self.good_path)
        self.assert_exit(proc, 0)
        d = DEDUPE[0]
        self.assertIn(f"  dedupe 0: producer_id {d['producer_id']}, batch_seq 42, "
                      f"first_seq {d['first_seq']}, 3 records, entry 1/2\n", proc.stdout)
        self.assertEqual(proc.stdout.count("  dedupe "), 2)
        doc = json.loads(run("segment", "dump", "--json", self.good_path).stdout)
        self.assertEqual([len(b["dedupe"]) for b in doc["batches"]], [0, 1, 1])
        self.assertEqual(doc["batches"][1]["dedupe"][0],
                         {"producer_id": str(d["producer_id"]), "batch_seq": "42",
                          "first_seq": str(d["first_seq"]), "record_count": 3,
                          "entry_index": 1, "entry_count": 2})

    def test_dump_records(self):
        proc = run("segment", "dump", "--records", self.good_path)
        self.assert_exit(proc, 0)
        recs = [ln for ln in proc.stdout.splitlines() if ln.startswith("  record ")]
        self.assertEqual(len(recs), 6)
        self.assertEqual(recs[0], f"  record {BASE}: arrival {iso(T0)}, key \"alpha\", "
                                  f"data_len 5, data {b'hello'.hex()}")
        self.assertEqual(recs[1], f"  record {BASE + 1}: arrival {iso(T0 + 5)}, key \"beta\", "
                                  f"data_len 0, data ")
        self.assertEqual(recs[2], f"  record {BASE + 2}: arrival {iso(T0 + 10)}, key 0x0001ff, "
                                  f"data_len 40, data {LONG_DATA[:32].hex()}...")
        self.assertEqual(recs[3], f"  record {BASE + 3}: arrival {iso(T0 + 10)}, "
                                  f"key \"{'k' * 64}\"..., data_len 3, data 787878")
        self.assertIn("key \"last\", data_len 3, data 627965", recs[5])

    def test_dump_limit(self):
        proc = run("segment", "dump", "--limit", "1", self.good_path)
        self.assert_exit(proc, 0)
        lines = proc.stdout.splitlines()
        self.assertEqual(len([ln for ln in lines if ln.startswith("batch ")]), 1)
        self.assertEqual(lines[-1], f"(--limit 1: more follows at offset {self.off[1]})")
        proc = run("segment", "dump", "--limit=0", "--json", self.good_path)
        self.assert_exit(proc, 0)
        doc = json.loads(proc.stdout)
        self.assertEqual((doc["batches"], doc["limited"]), ([], True))
        for bad in (["--limit"], ["--limit", "-1"], ["--limit", "x"], ["--limit=99999999999"]):
            proc = run("segment", "dump", self.good_path, *bad)
            self.assert_exit(proc, 2)
        proc = run("segment", "dump", self.good_path, self.good_path)
        self.assert_exit(proc, 2)
        proc = run("segment", "dump")
        self.assert_exit(proc, 2)

    def test_dump_stops_at_problem(self):
        data = bytearray(self.good)
        data[self.off[1] + BATCH_HEADER_BYTES + 20] ^= 0x40
        path = self.write("corrupt-d.seg", bytes(data))
        proc = run("segment", "dump", "--records", path)
        self.assert_exit(proc, 1)
        lines = proc.stdout.splitlines()
        self.assertEqual(len([ln for ln in lines if ln.startswith("batch ")]), 1)
        self.assertRegex(lines[-1], rf"^{re.escape(path)}: corrupt batch at offset {self.off[1]} "
                                    rf"\(.*\); valid data follows at offset {self.off[2]}$")
        path = self.write("torn-d.seg", self.good[:-3])
        proc = run("segment", "dump", path)
        self.assert_exit(proc, 1)
        self.assertEqual(proc.stdout.splitlines()[-1],
                         f"{path}: torn tail at offset {self.off[2]} "
                         f"({len(self.good) - 3 - self.off[2]} bytes after the last good "
                         f"batch)")
        proc = run("segment", "dump", "--json", path)
        self.assert_exit(proc, 1)
        doc = json.loads(proc.stdout)
        self.assertEqual(len(doc["batches"]), 2)
        self.assertEqual((doc["problem"]["kind"], doc["problem"]["offset"]),
                         ("torn_tail", self.off[2]))
        path = self.write("short-d.seg", self.good[:10])
        proc = run("segment", "dump", "--json", path)
        self.assert_exit(proc, 1)
        doc = json.loads(proc.stdout)
        self.assertEqual((doc["header"], doc["batches"], doc["problem"]["kind"]),
                         (None, [], "bad_header"))

    def test_dump_json(self):
        proc = run("segment", "dump", "--json", "--records", self.good_path)
        self.assert_exit(proc, 0)
        self.assertEqual(len(proc.stdout.splitlines()), 1)
        doc = json.loads(proc.stdout)
        self.assertEqual(doc["header"], {"path": self.good_path, "stream_id": 3, "shard_id": 9,
                                         "base_seq": str(BASE), "created_ms": T0 - 60000,
                                         "size": len(self.good)})
        self.assertIsNone(doc["problem"])
        self.assertFalse(doc["limited"])
        self.assertEqual([b["offset"] for b in doc["batches"]], self.off)
        for b, (seq, recs, _, _) in zip(doc["batches"], BATCHES):
            self.assertEqual((b["base_seq"], b["record_count"], b["first_arrival_ms"],
                              b["last_arrival_ms"]),
                             (str(seq), len(recs), recs[0][0], max(r[0] for r in recs)))
            self.assertEqual(len(b["records"]), len(recs))
            for i, (r, (arrival, key, data, ehk)) in enumerate(zip(b["records"], recs)):
                self.assertEqual(r["seq"], str(seq + i))
                self.assertEqual(r["arrival_ms"], max(arrival, recs[0][0]))
                self.assertEqual((r["data_len"], r["data_hex"]), (len(data), data[:32].hex()))
                self.assertEqual(r["key_len"], len(key))
                self.assertEqual(r["explicit_hash_key"], None if ehk is None else str(ehk))
        r = doc["batches"][1]["records"]
        self.assertEqual((r[0]["key"], r[0]["key_is_hex"]), ("0001ff", True))
        self.assertEqual((r[1]["key"], r[1]["key_is_hex"]), ("k" * 64, False))
        proc = run("segment", "dump", "--json", self.good_path)
        self.assertNotIn("records", json.loads(proc.stdout)["batches"][0])


if __name__ == "__main__":
    unittest.main()
