/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks the dataplane's packet layer (dataplane/net.c) without EAL.
 * Frames are written byte by byte here, with checksums from the test's own
 * implementation (little-endian word sums byte-swapped at the end, RFC 1071
 * §2(B), held to the published examples of RFC 1071 and of an IPv4 header),
 * so the checks hold the code to the wire formats, not to itself:
 * - the Internet checksum against those examples;
 * - ARP: a request for our address answered in place, byte by byte, with and
 *   without an 802.1Q tag, padded to 60 bytes; requests for others, replies,
 *   and malformed ARP;
 * - ICMP echo: a request answered in place (addresses, type, both
 *   checksums verified independently, data kept); bad checksum, other types;
 * - UDP/IPv4 to the ingest port with and without a tag (in the bytes, or
 *   stripped by the NIC), with IP options: payload place and the reply
 *   address; other ports, IPs and MACs not for us; fragments;
 * - every malformed-header rule with its reason, and the NIC's checksum
 *   verdicts believed;
 * - the ack builder: software checksums verified independently, the
 *   offload form, a built frame classified back, too small a buffer;
 * - every truncation of valid frames, from exact-length heap copies (so a
 *   sanitizer catches any read past the end), is never taken for ingest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/net.h>

#include "check.h"

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x99};
static const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x42};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
#define OUR_IP    0x0ACB0002u /* 10.203.0.2 */
#define PEER_IP   0x0ACB0001u /* 10.203.0.1 */
#define OTHER_IP  0x0ACB0003u
#define OUR_PORT  7400
#define PEER_PORT 40001

static const struct sl_net_local local = {
    .mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
    .ip = OUR_IP,
    .udp_port = OUR_PORT,
};
static const struct sl_net_rx_hints no_hints = {0};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/*
 * Reference one's-complement sum: little-endian words, folded, then
 * byte-swapped (RFC 1071 §2(B)); independent of net.c's big-endian loop.
 */
static uint16_t ref_sum(const uint8_t *p, size_t len)
{
	uint64_t s = 0;
	for (size_t i = 0; i < len; i += 2)
		s += (uint32_t)p[i] | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
	while (s > 0xFFFF)
		s = (s & 0xFFFF) + (s >> 16);
	return (uint16_t)((s & 0xFF) << 8 | s >> 8);
}

static uint16_t ref_csum(const uint8_t *p, size_t len)
{
	return (uint16_t)~ref_sum(p, len);
}

/* UDP checksum of an IPv4 datagram at ip (header already filled). */
static uint16_t ref_udp_csum(const uint8_t *ip)
{
	size_t ihl = (size_t)(ip[0] & 0xF) * 4;
	const uint8_t *udp = ip + ihl;
	uint16_t ulen = get16(udp + 4);
	uint8_t buf[12 + 2048];
	memcpy(buf, ip + 12, 8);
	buf[8] = 0;
	buf[9] = 17;
	put16(buf + 10, ulen);
	memcpy(buf + 12, udp, ulen);
	put16(buf + 12 + 6, 0);
	uint16_t c = ref_csum(buf, 12u + ulen);
	return c == 0 ? 0xFFFF : c;
}

static size_t put_eth(uint8_t *b, const uint8_t *dst, const uint8_t *src, int vlan, uint16_t type)
{
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	if (vlan >= 0) {
		put16(b + 12, 0x8100);
		put16(b + 14, (uint16_t)vlan);
		put16(b + 16, type);
		return 18;
	}
	put16(b + 12, type);
	return 14;
}

/* IPv4 header with opt_len bytes of NOP options; returns its length. */
static size_t put_ip(uint8_t *ip, uint32_t src, uint32_t dst, uint8_t proto, size_t l4_len,
		     size_t opt_len, uint16_t frag)
{
	size_t ihl = 20 + opt_len;
	ip[0] = (uint8_t)(0x40 | ihl / 4);
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(ihl + l4_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, frag);
	ip[8] = 17;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	memset(ip + 20, 1, opt_len); /* NOP */
	put16(ip + 10, ref_csum(ip, ihl));
	return ihl;
}

struct udp_spec {
	const uint8_t *dst_mac;
	int vlan;
	uint32_t src, dst;
	uint16_t sport, dport;
	size_t opt_len;
	uint16_t frag;
	size_t payload_len;
};

static size_t build_udp(uint8_t *b, const struct udp_spec *s)
{
	size_t l2 = put_eth(b, s->dst_mac, peer_mac, s->vlan, 0x0800);
	size_t ihl = put_ip(b + l2, s->src, s->dst, 17, 8 + s->payload_len, s->opt_len, s->frag);
	uint8_t *udp = b + l2 + ihl;
	put16(udp, s->sport);
	put16(udp + 2, s->dport);
	put16(udp + 4, (uint16_t)(8 + s->payload_len));
	put16(udp + 6, 0);
	for (size_t i = 0; i < s->payload_len; i++)
		udp[8 + i] = (uint8_t)(i * 7 + 3);
	put16(udp + 6, ref_udp_csum(b + l2));
	return l2 + ihl + 8 + s->payload_len;
}

static struct udp_spec udp_default(void)
{
	return (struct udp_spec){.dst_mac = our_mac,
				 .vlan = -1,
				 .src = PEER_IP,
				 .dst = OUR_IP,
				 .sport = PEER_PORT,
				 .dport = OUR_PORT,
				 .payload_len = 100};
}

static size_t build_arp(uint8_t *b, int vlan, uint16_t op, uint32_t spa, uint32_t tpa)
{
	size_t l2 = put_eth(b, bcast_mac, peer_mac, vlan, 0x0806);
	uint8_t *a = b + l2;
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, peer_mac, 6);
	put32(a + 14, spa);
	memset(a + 18, 0, 6);
	put32(a + 24, tpa);
	return l2 + 28;
}

static size_t build_icmp(uint8_t *b, int vlan, uint8_t type, size_t data_len)
{
	size_t l2 = put_eth(b, our_mac, peer_mac, vlan, 0x0800);
	size_t ihl = put_ip(b + l2, PEER_IP, OUR_IP, 1, 8 + data_len, 0, 0x4000);
	uint8_t *ic = b + l2 + ihl;
	ic[0] = type;
	ic[1] = 0;
	put16(ic + 2, 0);
	put16(ic + 4, 0xBEEF);
	put16(ic + 6, 7);
	for (size_t i = 0; i < data_len; i++)
		ic[8 + i] = (uint8_t)(0xA0 + i);
	put16(ic + 2, ref_csum(ic, 8 + data_len));
	return l2 + ihl + 8 + data_len;
}

static struct udp_spec dflt;

static enum sl_net_verdict classify(const uint8_t *b, size_t len, struct sl_net_pkt *p)
{
	return sl_net_classify(b, len, &local, &no_hints, p);
}

static void test_checksum_vectors(void)
{
	/* RFC 1071 §3: the sum of these bytes is 0xDDF2. */
	static const uint8_t rfc[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	CHECK_EQ_U64(sl_net_csum_fold(sl_net_csum_add(0, rfc, 8)), 0xDDF2);
	CHECK_EQ_U64(ref_sum(rfc, 8), 0xDDF2);
	CHECK_EQ_U64(sl_net_csum(rfc, 8), 0x220D);
	/* A published IPv4 header (192.168.0.1 -> 192.168.0.199) whose
	 * checksum field is 0xB861. */
	uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			   0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	CHECK_EQ_U64(sl_net_csum(hdr, 20), 0xB861);
	CHECK_EQ_U64(ref_csum(hdr, 20), 0xB861);
	put16(hdr + 10, 0xB861);
	CHECK_EQ_U64(sl_net_csum(hdr, 20), 0);
	/* Odd length: the last byte is padded with zero. */
	static const uint8_t odd[3] = {0x12, 0x34, 0x56};
	CHECK_EQ_U64(sl_net_csum(odd, 3), ref_csum(odd, 3));
	CHECK_EQ_U64(sl_net_csum(odd, 3), (uint16_t) ~(0x1234 + 0x5600));
	/* Random buffers, chained in even pieces, against the reference. */
	uint8_t buf[1501];
	srand(7);
	for (int round = 0; round < 200; round++) {
		size_t len = (size_t)(rand() % (int)sizeof(buf));
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		size_t cut = (len / 2) & ~(size_t)1;
		uint32_t s = sl_net_csum_add(sl_net_csum_add(0, buf, cut), buf + cut, len - cut);
		CHECK_EQ_U64((uint16_t)~sl_net_csum_fold(s), ref_csum(buf, len));
	}
}

static void check_arp_reply(const uint8_t *b, size_t len, size_t l2, int vlan)
{
	CHECK_EQ_U64(len, 60); /* padded: 42 or 46 bytes of ARP frame */
	CHECK(memcmp(b, peer_mac, 6) == 0);
	CHECK(memcmp(b + 6, our_mac, 6) == 0);
	if (vlan >= 0) {
		CHECK_EQ_U64(get16(b + 12), 0x8100);
		CHECK_EQ_U64(get16(b + 14), (uint16_t)vlan);
	}
	CHECK_EQ_U64(get16(b + l2 - 2), 0x0806);
	const uint8_t *a = b + l2;
	CHECK_EQ_U64(get16(a), 1);
	CHECK_EQ_U64(get16(a + 2), 0x0800);
	CHECK_EQ_U64(a[4], 6);
	CHECK_EQ_U64(a[5], 4);
	CHECK_EQ_U64(get16(a + 6), 2);
	CHECK(memcmp(a + 8, our_mac, 6) == 0);
	CHECK_EQ_U64(get32(a + 14), OUR_IP);
	CHECK(memcmp(a + 18, peer_mac, 6) == 0);
	CHECK_EQ_U64(get32(a + 24), PEER_IP);
	for (size_t i = l2 + 28; i < len; i++)
		CHECK_EQ_U64(b[i], 0);
}

static void test_arp(void)
{
	uint8_t b[128];
	struct sl_net_pkt p;
	for (int vlan = -1; vlan <= 5; vlan += 6) {
		memset(b, 0xEE, sizeof(b));
		size_t len = build_arp(b, vlan, 1, PEER_IP, OUR_IP);
		CHECK_EQ_U64(classify(b, len, &p), SL_NET_ARP_REQUEST);
		CHECK_EQ_U64(p.l2_len, vlan < 0 ? 14 : 18);
		CHECK_EQ_U64(p.reply.has_vlan, vlan >= 0);
		CHECK_EQ_U64(p.reply.peer_ip, PEER_IP);
		CHECK(memcmp(p.reply.peer_mac, peer_mac, 6) == 0);
		size_t out = sl_net_arp_answer(b, sizeof(b), &p, &local);
		check_arp_reply(b, out, p.l2_len, vlan);
		/* Our own reply, seen again, is not a request. */
		CHECK_EQ_U64(classify(b, out, &p), SL_NET_NOT_FOR_US);
	}
	/* No room to pad: the bare reply. */
	size_t len = build_arp(b, -1, 1, PEER_IP, OUR_IP);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_ARP_REQUEST);
	CHECK_EQ_U64(sl_net_arp_answer(b, len, &p, &local), 42);
	/* An RFC 5227 probe (sender 0.0.0.0) is answered too. */
	len = build_arp(b, -1, 1, 0, OUR_IP);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_ARP_REQUEST);
	/* For another address; a reply; a gratuitous announcement. */
	len = build_arp(b, -1, 1, PEER_IP, OTHER_IP);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	len = build_arp(b, -1, 2, PEER_IP, OUR_IP);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	len = build_arp(b, -1, 1, PEER_IP, PEER_IP);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	/* Malformed: short, bad lengths; not Ethernet/IPv4 ARP: not ours. */
	len = build_arp(b, -1, 1, PEER_IP, OUR_IP);
	CHECK_EQ_U64(classify(b, len - 1, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_ARP);
	b[14 + 4] = 8;
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_ARP);
	len = build_arp(b, -1, 1, PEER_IP, OUR_IP);
	put16(b + 14, 6); /* htype IEEE 802 */
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	/* A requester claiming a group MAC is never answered. */
	len = build_arp(b, -1, 1, PEER_IP, OUR_IP);
	b[14 + 8] |= 1;
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_IP_SRC);
}

static void test_icmp(void)
{
	uint8_t b[256], orig[256];
	struct sl_net_pkt p;
	for (int vlan = -1; vlan <= 9; vlan += 10) {
		size_t len = build_icmp(b, vlan, 8, 56);
		memcpy(orig, b, len);
		memset(b + len, 0, 16);
		CHECK_EQ_U64(classify(b, len + 16, &p), SL_NET_ICMP_ECHO);
		CHECK_EQ_U64(p.payload_len, 64);
		size_t l2 = p.l2_len;
		/* Ethernet padding after the datagram is dropped from the reply. */
		size_t out = sl_net_icmp_answer(b, &p, &local);
		CHECK_EQ_U64(out, len);
		CHECK(memcmp(b, peer_mac, 6) == 0);
		CHECK(memcmp(b + 6, our_mac, 6) == 0);
		const uint8_t *ip = b + l2;
		CHECK_EQ_U64(get32(ip + 12), OUR_IP);
		CHECK_EQ_U64(get32(ip + 16), PEER_IP);
		CHECK_EQ_U64(ip[8], 64);
		CHECK_EQ_U64(ref_csum(ip, 20), 0);
		const uint8_t *ic = ip + 20;
		CHECK_EQ_U64(ic[0], 0);
		CHECK_EQ_U64(ic[1], 0);
		CHECK_EQ_U64(ref_csum(ic, 64), 0);
		CHECK(memcmp(ic + 4, orig + l2 + 20 + 4, 60) == 0); /* id, seq, data */
		/* The reply is not a request. */
		CHECK_EQ_U64(classify(b, out, &p), SL_NET_NOT_FOR_US);
	}
	size_t len = build_icmp(b, -1, 8, 56);
	b[14 + 20 + 10] ^= 0x40; /* data changed, checksum not */
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_ICMP);
	len = build_icmp(b, -1, 13, 12); /* timestamp request */
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	/* An echo request shorter than its 8-byte header. */
	size_t l2 = put_eth(b, our_mac, peer_mac, -1, 0x0800);
	put_ip(b + l2, PEER_IP, OUR_IP, 1, 4, 0, 0);
	b[l2 + 20] = 8;
	CHECK_EQ_U64(classify(b, l2 + 24, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_ICMP);
}

static void test_udp_ingest(void)
{
	uint8_t b[2048];
	struct sl_net_pkt p;
	for (int vlan = -1; vlan <= 100; vlan += 101) {
		for (size_t opt = 0; opt <= 8; opt += 8) {
			struct udp_spec s = udp_default();
			s.vlan = vlan;
			s.opt_len = opt;
			size_t len = build_udp(b, &s);
			CHECK_EQ_U64(classify(b, len, &p), SL_NET_INGEST);
			size_t l2 = vlan < 0 ? 14 : 18;
			CHECK_EQ_U64(p.l2_len, l2);
			CHECK_EQ_U64(p.l3_len, 20 + opt);
			CHECK_EQ_U64(p.payload_off, l2 + 20 + opt + 8);
			CHECK_EQ_U64(p.payload_len, 100);
			CHECK_EQ_U64(b[p.payload_off], 3);
			CHECK(memcmp(p.reply.peer_mac, peer_mac, 6) == 0);
			CHECK_EQ_U64(p.reply.has_vlan, vlan >= 0);
			CHECK_EQ_U64(p.reply.vlan_tci, vlan >= 0 ? (unsigned)vlan : 0);
			CHECK_EQ_U64(p.reply.peer_ip, PEER_IP);
			CHECK_EQ_U64(p.reply.peer_port, PEER_PORT);
			CHECK_EQ_U64(p.reply.local_ip, OUR_IP);
			CHECK_EQ_U64(p.reply.local_port, OUR_PORT);
			/* Ethernet padding after the datagram is not payload. */
			memset(b + len, 0, 64);
			CHECK_EQ_U64(classify(b, len + 64, &p), SL_NET_INGEST);
			CHECK_EQ_U64(p.payload_len, 100);
		}
	}
	/* A tag the NIC stripped comes back in the reply. */
	struct udp_spec s = udp_default();
	size_t len = build_udp(b, &s);
	struct sl_net_rx_hints h = {.vlan_stripped = true, .vlan_tci = 0x2007};
	CHECK_EQ_U64(sl_net_classify(b, len, &local, &h, &p), SL_NET_INGEST);
	CHECK_EQ_U64(p.reply.has_vlan, 1);
	CHECK_EQ_U64(p.reply.vlan_tci, 0x2007);
	CHECK_EQ_U64(p.l2_len, 14);
	/* ... and a second tag in the bytes is QinQ: not ours. */
	s.vlan = 3;
	len = build_udp(b, &s);
	CHECK_EQ_U64(sl_net_classify(b, len, &local, &h, &p), SL_NET_NOT_FOR_US);
	/* Broadcast destination MAC: the IP decides. Empty payload is fine. */
	s = udp_default();
	s.dst_mac = bcast_mac;
	s.payload_len = 0;
	len = build_udp(b, &s);
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_INGEST);
	CHECK_EQ_U64(p.payload_len, 0);
}

static void test_not_for_us(void)
{
	uint8_t b[2048];
	struct sl_net_pkt p;
	struct udp_spec s = udp_default();
	s.dport = OUR_PORT + 1;
	CHECK_EQ_U64(classify(b, build_udp(b, &s), &p), SL_NET_NOT_FOR_US);
	s = udp_default();
	s.dst = OTHER_IP;
	CHECK_EQ_U64(classify(b, build_udp(b, &s), &p), SL_NET_NOT_FOR_US);
	s = udp_default();
	s.dst_mac = other_mac;
	CHECK_EQ_U64(classify(b, build_udp(b, &s), &p), SL_NET_NOT_FOR_US);
	/* Other protocols and ethertypes. */
	size_t len = build_udp(b, &dflt);
	b[14 + 9] = 6; /* TCP */
	put16(b + 14 + 10, 0);
	put16(b + 14 + 10, ref_csum(b + 14, 20));
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	len = build_udp(b, &dflt);
	put16(b + 12, 0x86DD); /* IPv6 */
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	put16(b + 12, 0x88A8); /* QinQ outer tag */
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_NOT_FOR_US);
	/* Fragments for us: first (MF), middle, last (offset only). */
	for (unsigned i = 0; i < 3; i++) {
		static const uint16_t frag[3] = {0x2000, 0x2010, 0x0010};
		s = udp_default();
		s.frag = frag[i];
		CHECK_EQ_U64(classify(b, build_udp(b, &s), &p), SL_NET_FRAGMENT);
	}
	s = udp_default();
	s.frag = 0x4000; /* DF alone is not a fragment */
	CHECK_EQ_U64(classify(b, build_udp(b, &s), &p), SL_NET_INGEST);
}

static void expect_bad(const uint8_t *b, size_t len, enum sl_net_bad why, int line)
{
	struct sl_net_pkt p;
	enum sl_net_verdict v = classify(b, len, &p);
	if (v != SL_NET_BAD || p.bad != why)
		fprintf(stderr, "line %d: verdict %d bad %d, expected bad %d\n", line, v, p.bad,
			why);
	CHECK_EQ_U64(v, SL_NET_BAD);
	CHECK_EQ_U64(p.bad, why);
}
#define EXPECT_BAD(b, len, why) expect_bad((b), (len), (why), __LINE__)

static void test_malformed(void)
{
	uint8_t b[2048];
	struct sl_net_pkt p;
	size_t len = build_udp(b, &dflt);
	EXPECT_BAD(b, 13, SL_NET_BAD_ETH);
	struct udp_spec s = udp_default();
	s.vlan = 1;
	size_t vlen = build_udp(b, &s);
	EXPECT_BAD(b, 17, SL_NET_BAD_ETH);
	CHECK_EQ_U64(classify(b, vlen, &p), SL_NET_INGEST);

	len = build_udp(b, &dflt);
	EXPECT_BAD(b, 14 + 19, SL_NET_BAD_IP_HDR_LEN);
	b[14] = 0x65; /* version 6 */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_VERSION);
	EXPECT_BAD(b, 15, SL_NET_BAD_IP_VERSION);
	b[14] = 0x44; /* IHL 4 */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_HDR_LEN);
	len = build_udp(b, &dflt);
	b[14] = 0x4F; /* IHL 15: 60 bytes, fits; the total length is 128 */
	EXPECT_BAD(b, 14 + 40, SL_NET_BAD_IP_HDR_LEN);

	len = build_udp(b, &dflt);
	put16(b + 14 + 2, 19); /* total < header */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_LEN);
	put16(b + 14 + 2, (uint16_t)(len - 14 + 1)); /* past the frame */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_LEN);

	len = build_udp(b, &dflt);
	b[14 + 8] ^= 1; /* TTL changed, checksum not */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_CSUM);
	/* A NIC that checked the header is believed either way. */
	struct sl_net_rx_hints good = {.ip_csum = SL_NET_CSUM_GOOD};
	CHECK_EQ_U64(sl_net_classify(b, len, &local, &good, &p), SL_NET_INGEST);
	b[14 + 8] ^= 1;
	struct sl_net_rx_hints badh = {.ip_csum = SL_NET_CSUM_BAD};
	CHECK_EQ_U64(sl_net_classify(b, len, &local, &badh, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_IP_CSUM);
	struct sl_net_rx_hints l4bad = {.l4_csum = SL_NET_CSUM_BAD};
	CHECK_EQ_U64(sl_net_classify(b, len, &local, &l4bad, &p), SL_NET_BAD);
	CHECK_EQ_U64(p.bad, SL_NET_BAD_L4_CSUM);
	/* The UDP checksum is left to SLW1's CRC when the NIC did not check. */
	b[len - 1] ^= 0xFF;
	CHECK_EQ_U64(classify(b, len, &p), SL_NET_INGEST);

	static const uint32_t bad_src[] = {0, 0x7F000001u, 0xE0000001u, 0xF0000001u, 0xFFFFFFFFu};
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad_src); i++) {
		s = udp_default();
		s.src = bad_src[i];
		EXPECT_BAD(b, build_udp(b, &s), SL_NET_BAD_IP_SRC);
	}
	len = build_udp(b, &dflt);
	b[6] |= 1; /* group source MAC */
	EXPECT_BAD(b, len, SL_NET_BAD_IP_SRC);

	len = build_udp(b, &dflt);
	put16(b + 14 + 20 + 4, 7);
	EXPECT_BAD(b, len, SL_NET_BAD_UDP_LEN);
	put16(b + 14 + 20 + 4, (uint16_t)(len - 14 - 20 + 1));
	EXPECT_BAD(b, len, SL_NET_BAD_UDP_LEN);
	/* An IP datagram too short for a UDP header. */
	s = udp_default();
	len = build_udp(b, &s);
	put16(b + 14 + 2, 20 + 7);
	put16(b + 14 + 10, 0);
	put16(b + 14 + 10, ref_csum(b + 14, 20));
	EXPECT_BAD(b, len, SL_NET_BAD_UDP_LEN);
}

static void test_udp_build(void)
{
	uint8_t out[2048], payload[1472];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i ^ 0x5A);
	struct sl_net_reply r = {.has_vlan = 0,
				 .peer_port = PEER_PORT,
				 .local_port = OUR_PORT,
				 .peer_ip = PEER_IP,
				 .local_ip = OUR_IP};
	memcpy(r.peer_mac, peer_mac, 6);
	for (int vlan = 0; vlan <= 1; vlan++) {
		r.has_vlan = (uint8_t)vlan;
		r.vlan_tci = vlan ? 0x0123 : 0;
		size_t lens[] = {0, 1, 56, 57, 1472};
		for (size_t k = 0; k < SL_ARRAY_SIZE(lens); k++) {
			size_t n = sl_net_udp_build(out, sizeof(out), &r, our_mac, payload, lens[k],
						    0x4242, 0);
			size_t l2 = vlan ? 18 : 14;
			CHECK_EQ_U64(n, l2 + 28 + lens[k]);
			CHECK_EQ_U64(sl_net_udp_hdr_len(&r), l2 + 28);
			CHECK(memcmp(out, peer_mac, 6) == 0);
			CHECK(memcmp(out + 6, our_mac, 6) == 0);
			if (vlan) {
				CHECK_EQ_U64(get16(out + 12), 0x8100);
				CHECK_EQ_U64(get16(out + 14), 0x0123);
			}
			CHECK_EQ_U64(get16(out + l2 - 2), 0x0800);
			const uint8_t *ip = out + l2;
			CHECK_EQ_U64(ip[0], 0x45);
			CHECK_EQ_U64(get16(ip + 2), 28 + lens[k]);
			CHECK_EQ_U64(get16(ip + 4), 0x4242);
			CHECK_EQ_U64(get16(ip + 6), 0x4000);
			CHECK_EQ_U64(ip[8], 64);
			CHECK_EQ_U64(ip[9], 17);
			CHECK_EQ_U64(get32(ip + 12), OUR_IP);
			CHECK_EQ_U64(get32(ip + 16), PEER_IP);
			CHECK_EQ_U64(ref_csum(ip, 20), 0);
			const uint8_t *udp = ip + 20;
			CHECK_EQ_U64(get16(udp), OUR_PORT);
			CHECK_EQ_U64(get16(udp + 2), PEER_PORT);
			CHECK_EQ_U64(get16(udp + 4), 8 + lens[k]);
			CHECK_EQ_U64(get16(udp + 6), ref_udp_csum(ip));
			CHECK(memcmp(udp + 8, payload, lens[k]) == 0);
			/* Seen from the peer's side, it is a datagram for it. */
			struct sl_net_local peer = {.ip = PEER_IP, .udp_port = PEER_PORT};
			memcpy(peer.mac, peer_mac, 6);
			struct sl_net_pkt p;
			CHECK_EQ_U64(sl_net_classify(out, n, &peer, &no_hints, &p), SL_NET_INGEST);
			CHECK_EQ_U64(p.payload_len, lens[k]);
			CHECK_EQ_U64(p.reply.has_vlan, vlan);
			CHECK_EQ_U64(p.reply.peer_port, OUR_PORT);
		}
	}
	/* Every value of a 2-byte payload: one of them makes the computed
	 * checksum 0, which must go out as 0xFFFF (0 means "none"). */
	unsigned ffff = 0, zero = 0, wrong = 0;
	r.has_vlan = 0;
	for (uint32_t w = 0; w <= 0xFFFF; w++) {
		uint8_t two[2];
		put16(two, (uint16_t)w);
		size_t n = sl_net_udp_build(out, sizeof(out), &r, our_mac, two, 2, 9, 0);
		uint16_t got = get16(out + n - 2 - 2);
		wrong += got != ref_udp_csum(out + 14);
		ffff += got == 0xFFFF;
		zero += got == 0;
	}
	CHECK_EQ_U64(wrong, 0);
	CHECK_EQ_U64(zero, 0);
	CHECK(ffff >= 1);
	/* Offload form: IP checksum 0, UDP field = folded pseudo-header sum. */
	r.has_vlan = 0;
	size_t n = sl_net_udp_build(out, sizeof(out), &r, our_mac, payload, 100, 1,
				    SL_NET_TX_CSUM_OFFLOAD);
	CHECK_EQ_U64(n, 14 + 28 + 100);
	CHECK_EQ_U64(get16(out + 14 + 10), 0);
	uint8_t pseudo[12];
	put32(pseudo, OUR_IP);
	put32(pseudo + 4, PEER_IP);
	pseudo[8] = 0;
	pseudo[9] = 17;
	put16(pseudo + 10, 108);
	CHECK_EQ_U64(get16(out + 14 + 20 + 6), ref_sum(pseudo, 12));
	/* Too small a buffer, too long a payload: nothing. */
	CHECK_EQ_U64(sl_net_udp_build(out, 14 + 28 + 99, &r, our_mac, payload, 100, 1, 0), 0);
	CHECK_EQ_U64(sl_net_udp_build(out, sizeof(out), &r, our_mac, payload, 65508, 1, 0), 0);
}

/* Every truncation, from an exact-length copy, is never taken for ingest. */
static void truncations(const uint8_t *frame, size_t len, enum sl_net_verdict whole)
{
	struct sl_net_pkt p;
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		memcpy(copy, frame, cut);
		enum sl_net_verdict v = classify(copy, cut, &p);
		if (cut == len)
			CHECK_EQ_U64(v, whole);
		else
			CHECK(v == SL_NET_BAD || (whole == SL_NET_ARP_REQUEST && cut >= 60));
		free(copy);
	}
}

static void test_truncations(void)
{
	uint8_t b[512];
	struct udp_spec s = udp_default();
	s.vlan = 7;
	s.opt_len = 4;
	truncations(b, build_udp(b, &s), SL_NET_INGEST);
	truncations(b, build_udp(b, &dflt), SL_NET_INGEST);
	truncations(b, build_arp(b, -1, 1, PEER_IP, OUR_IP), SL_NET_ARP_REQUEST);
	truncations(b, build_icmp(b, 2, 8, 20), SL_NET_ICMP_ECHO);
	/* Random bytes never crash and never pass as ingest unless they
	 * happen to be a valid datagram for us (vanishingly unlikely). */
	srand(11);
	unsigned ingest = 0;
	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand() % 200);
		uint8_t *copy = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			copy[i] = (uint8_t)rand();
		if (len >= 14 && round % 2) { /* give the deeper layers a chance */
			memcpy(copy, our_mac, 6);
			put16(copy + 12, round % 4 == 1 ? 0x0800 : 0x0806);
		}
		struct sl_net_pkt p;
		ingest += classify(copy, len, &p) == SL_NET_INGEST;
		free(copy);
	}
	CHECK_EQ_U64(ingest, 0);
}

int main(void)
{
	dflt = udp_default();
	test_checksum_vectors();
	test_arp();
	test_icmp();
	test_udp_ingest();
	test_not_for_us();
	test_malformed();
	test_udp_build();
	test_truncations();
	return sl_check_finish("test_net");
}
