# SPDX-License-Identifier: BSD-3-Clause
"""Ethernet/IPv4/UDP packets and classic pcap files, built by hand.

For the tests and benchmarks that feed sluiced's DPDK dataplane a pcap file
(net_pcap's rx_pcap), read what it sends (tx_pcap), or send raw packets
through a packet socket. Every field is a parameter, so that a test can
build the broken headers the RX loop must refuse; checksums are right
unless damaged on purpose (XORed with `damage`).

pcap: the classic format, little-endian, microsecond timestamps, snaplen
65535, link type 1 (Ethernet); packet i is stamped 1 s + i us.
"""
import socket
import struct

from checks import check

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
BROADCAST = b"\xff" * 6
PCAP_MAGIC = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D


def inet_csum(b):
    """The Internet checksum (RFC 1071) of b; 0 over data that holds its
    own right checksum."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ether(payload, src, dst=BROADCAST, etype=ETH_IPV4, vlan=None):
    """An Ethernet frame (MACs as 6 bytes), with an 802.1Q tag when vlan
    is given."""
    tag = struct.pack("!HH", ETH_VLAN, vlan) if vlan is not None else b""
    return dst + src + tag + struct.pack("!H", etype) + payload


def ipv4(body, src, dst, proto=17, ident=0, frag=0x4000, ttl=64, ver_ihl=0x45, total=None,
         damage=0):
    """An IPv4 packet of 20-byte header (addresses dotted); frag holds the
    flags and offset (DF by default); total defaults to the true length."""
    h = bytearray(struct.pack("!BBHHHBBH4s4s", ver_ihl, 0,
                              20 + len(body) if total is None else total, ident, frag, ttl,
                              proto, 0, socket.inet_aton(src), socket.inet_aton(dst)))
    h[10:12] = struct.pack("!H", inet_csum(bytes(h)) ^ damage)
    return bytes(h) + body


def udp(payload, sport, dport, length=None):
    """A UDP datagram without a checksum (0: none, as IPv4 allows)."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload) if length is None else length,
                       0) + payload


def write(path, frames):
    """A pcap file of frames."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1, i, len(fr), len(fr)) + fr)


def read(path):
    """The frames of a pcap file (either timestamp resolution)."""
    with open(path, "rb") as f:
        data = f.read()
    check(len(data) >= 24, f"{path}: {len(data)} bytes")
    magic = struct.unpack("<I", data[:4])[0]
    check(magic in (PCAP_MAGIC, PCAP_MAGIC_NS), f"{path}: magic {magic:#x}")
    frames, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack("<IIII", data[off:off + 16])[2]
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return frames
