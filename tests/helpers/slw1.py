# SPDX-License-Identifier: BSD-3-Clause
"""SLW1, the sluice ingest wire format, written from WIRE.md alone.

The one Python implementation of WIRE.md (../shared/product/WIRE.md) that the
tests and benchmarks use: CRC-32C, the frame builder and parser, the ack
builder (split into datagrams of a bounded size) and the ack parser. It shares
no code with the C codec (dataplane/slw1.c, tools/sluice_gen.c), so each test
that drives the C side with these bytes cross-checks the two readings of the
document. It needs only the standard library: it is imported by tests that
re-run themselves inside a network namespace or under another interpreter.

Layout, big-endian (WIRE.md has the rules):

  frame  magic "SLW1" u32 | version u8 | flags u8 | record_count u16 |
         frame_len u32 | producer_id u64 | batch_seq u64 | stream_len u8 |
         stream | records | crc32c u32 | (AUTH: a 32-byte tag)
  record rflags u8 | key_len u16 | key | (EXPLICIT_HASH_KEY: u128) |
         data_len u32 | data
  ack    magic "SLA1" u32 | version u8 | status u8 | flags u8 | part u8 |
         parts u8 | reserved 3 | producer_id u64 | batch_seq u64 |
         entry_count u16 | reserved u16 | entries | crc32c u32
  entry  shard u32 | record_count u16 | status u8 | reserved u8 |
         first sequence number u128

Malformed input raises WireError, which says which rule failed.
"""
import hashlib
import re
import struct
from typing import NamedTuple

FRAME_MAGIC = 0x534C5731  # "SLW1"
ACK_MAGIC = 0x534C4131  # "SLA1"
VERSION = 1
FRAME_HEADER_BYTES = 29  # magic through stream_len; the stream name follows
ACK_HEADER_BYTES = 32
ACK_ENTRY_BYTES = 24
CRC_BYTES = 4
AUTH_TAG_BYTES = 32
HASH_KEY_BYTES = 16
RECORD_OVERHEAD_BYTES = 7  # rflags, key_len, data_len
RECORDS_MAX = 500
KEY_LEN_MAX = 256
STREAM_RE = re.compile(rb"^[A-Za-z0-9_.-]{1,128}$")

F_ACK_REQUESTED = 0x01
F_AUTH = 0x02
R_EXPLICIT_HASH_KEY = 0x01
ACK_F_DUPLICATE = 0x01

# Frame and entry status values.
(OK, PARTIAL, THROTTLED, STREAM_NOT_FOUND, MALFORMED, TOO_LARGE, UNAUTHORIZED, INTERNAL,
 STALE_BATCH, SHUTTING_DOWN) = range(10)


class WireError(ValueError):
    """Bytes that break a rule of WIRE.md; str() names the rule."""


# ---- CRC-32C: Castagnoli, reflected, init and final XOR 0xFFFFFFFF ----

def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data):
    """The CRC-32C of data (bytes-like)."""
    c = 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        c = t[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # WIRE.md's check value


# ---- frames ----

class Record(NamedTuple):
    """One record. key: str (sent as UTF-8) or bytes; hash_key: the
    explicit 128-bit hash key, or None to route by MD5(key)."""
    key: object
    data: bytes
    hash_key: object = None


class Frame(NamedTuple):
    """A parsed frame; its records are Records with bytes keys."""
    flags: int
    producer_id: int
    batch_seq: int
    stream: str
    records: list


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def build_frame(stream, records, producer_id=0, batch_seq=0, flags=F_ACK_REQUESTED,
                version=VERSION, tag=None):
    """The bytes of one frame: records are Records or (key, data[, hash_key])
    tuples, frame_len is the true length and the CRC is right; with F_AUTH
    the tag (32 zero bytes unless given) follows the CRC. Nothing is
    validated, so that tests can build frames that break the rules."""
    body = bytearray()
    for rec in records:
        r = Record(*rec)
        key = _bytes(r.key)
        rflags = R_EXPLICIT_HASH_KEY if r.hash_key is not None else 0
        body += struct.pack(">BH", rflags, len(key)) + key
        if r.hash_key is not None:
            body += r.hash_key.to_bytes(HASH_KEY_BYTES, "big")
        body += struct.pack(">I", len(r.data)) + r.data
    name = _bytes(stream)
    tail = AUTH_TAG_BYTES if flags & F_AUTH else 0
    frame_len = FRAME_HEADER_BYTES + len(name) + len(body) + CRC_BYTES + tail
    out = struct.pack(">IBBHIQQB", FRAME_MAGIC, version, flags, len(records), frame_len,
                      producer_id, batch_seq, len(name)) + name + bytes(body)
    out += struct.pack(">I", crc32c(out))
    if tail:
        out += bytes(AUTH_TAG_BYTES) if tag is None else tag
    return out


def parse_frame(buf):
    """One whole frame, every rule of WIRE.md checked (the tag, if any, is
    not); a Frame, or WireError."""
    if len(buf) < FRAME_HEADER_BYTES:
        raise WireError("short")
    magic, version, flags, count, frame_len = struct.unpack_from(">IBBHI", buf, 0)
    if magic != FRAME_MAGIC or version != VERSION or flags & ~(F_ACK_REQUESTED | F_AUTH):
        raise WireError("header")
    if frame_len != len(buf):
        raise WireError("frame_len")
    crc_off = frame_len - CRC_BYTES - (AUTH_TAG_BYTES if flags & F_AUTH else 0)
    if crc_off < FRAME_HEADER_BYTES or \
            struct.unpack_from(">I", buf, crc_off)[0] != crc32c(buf[:crc_off]):
        raise WireError("crc")
    producer_id, batch_seq, stream_len = struct.unpack_from(">QQB", buf, 12)
    stream = bytes(buf[FRAME_HEADER_BYTES:FRAME_HEADER_BYTES + stream_len])
    if not 1 <= count <= RECORDS_MAX or not STREAM_RE.match(stream):
        raise WireError("count or stream")
    off, records = FRAME_HEADER_BYTES + stream_len, []
    for _ in range(count):
        if off + 3 > crc_off:
            raise WireError("record past the crc")
        rflags, key_len = struct.unpack_from(">BH", buf, off)
        if rflags & ~R_EXPLICIT_HASH_KEY or not 1 <= key_len <= KEY_LEN_MAX:
            raise WireError("record")
        off += 3
        key = bytes(buf[off:off + key_len])
        off += key_len
        hash_key = None
        if rflags & R_EXPLICIT_HASH_KEY:
            hash_key = int.from_bytes(buf[off:off + HASH_KEY_BYTES], "big")
            off += HASH_KEY_BYTES
        if off + 4 > crc_off:
            raise WireError("record past the crc")
        (data_len,) = struct.unpack_from(">I", buf, off)
        off += 4
        data = bytes(buf[off:off + data_len])
        off += data_len
        if off > crc_off:
            raise WireError("record past the crc")
        records.append(Record(key, data, hash_key))
    if off != crc_off:
        raise WireError("trailing")
    return Frame(flags, producer_id, batch_seq, stream.decode(), records)


def hash_key_of(key, explicit=None):
    """The 128-bit hash key a record is routed by: the explicit one, else
    MD5 of the partition key (UTF-8) as a big-endian number, as in Kinesis."""
    if explicit is not None:
        return explicit
    return int.from_bytes(hashlib.md5(_bytes(key)).digest(), "big")


def entries_in_order(shards):
    """[(shard, record count)] from the shard of each record in frame order:
    one ack entry per shard, in the order in which each shard first appears
    among the frame's records."""
    order, counts = [], {}
    for s in shards:
        if s not in counts:
            order.append(s)
            counts[s] = 0
        counts[s] += 1
    return [(s, counts[s]) for s in order]


# ---- acks ----

class AckEntry(NamedTuple):
    shard: int
    count: int
    status: int
    first_seq: int


class Ack(NamedTuple):
    status: int
    flags: int
    part: int
    parts: int
    producer_id: int
    batch_seq: int
    entries: list  # AckEntry

    def as_dict(self):
        """The ack as plain JSON-able data (entries as dicts too)."""
        d = self._asdict()
        d["entries"] = [e._asdict() for e in self.entries]
        return d


def build_ack(status, flags, part, parts, producer_id, batch_seq, entries):
    """One ack datagram; entries: (shard, record_count, status, first_seq)."""
    out = struct.pack(">IBBBBB3sQQHH", ACK_MAGIC, VERSION, status, flags, part, parts,
                      bytes(3), producer_id, batch_seq, len(entries), 0)
    for shard, count, est, first_seq in entries:
        out += struct.pack(">IHBB", shard, count, est, 0) + first_seq.to_bytes(16, "big")
    return out + struct.pack(">I", crc32c(out))


def ack_datagrams(status, flags, producer_id, batch_seq, entries, payload_max):
    """The ack of a frame in as many parts as datagrams of payload_max bytes
    need (at least one), each with its own header and CRC."""
    per = (payload_max - ACK_HEADER_BYTES - CRC_BYTES) // ACK_ENTRY_BYTES
    parts = max(1, -(-len(entries) // per))
    return [build_ack(status, flags, i, parts, producer_id, batch_seq,
                      entries[i * per:(i + 1) * per]) for i in range(parts)]


def _want(got, want, what):
    if got != want:
        raise WireError(f"{what}: got {got!r}, want {want!r}")


def parse_ack(b):
    """One ack datagram (or TCP ack), every rule of WIRE.md checked; an Ack,
    or WireError."""
    if len(b) < ACK_HEADER_BYTES + CRC_BYTES:
        raise WireError(f"ack of {len(b)} bytes")
    magic, ver, status, flags, part, parts = struct.unpack_from(">IBBBBB", b, 0)
    _want(magic, ACK_MAGIC, "ack magic")
    _want(ver, VERSION, "ack version")
    _want(bytes(b[9:12]), b"\0\0\0", "ack reserved bytes 9..11")
    producer_id, batch_seq, n, res = struct.unpack_from(">QQHH", b, 12)
    _want(res, 0, "ack reserved bytes 30..31")
    _want(len(b), ACK_HEADER_BYTES + ACK_ENTRY_BYTES * n + CRC_BYTES, "ack length")
    _want(struct.unpack(">I", b[-4:])[0], crc32c(b[:-4]), "ack CRC")
    if part >= parts:
        raise WireError(f"ack part {part} of {parts}")
    entries = []
    for i in range(n):
        shard, count, st, r, first = struct.unpack_from(
            ">IHBB16s", b, ACK_HEADER_BYTES + ACK_ENTRY_BYTES * i)
        _want(r, 0, "ack entry reserved byte")
        entries.append(AckEntry(shard, count, st, int.from_bytes(first, "big")))
    return Ack(status, flags, part, parts, producer_id, batch_seq, entries)
