/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ethernet / ARP / IPv4 / ICMP echo / UDP for the DPDK dataplane, pure over
 * byte buffers (see net.h for the contract).
 *
 * The layouts used here, offsets in bytes, all fields big-endian:
 *
 *   Ethernet   0 dst MAC (6), 6 src MAC (6), 12 ethertype (2)
 *   802.1Q     12 0x8100, 14 TCI (2: PCP 3 bits, DEI 1, VID 12), 16 ethertype
 *   ARP        0 htype 1, 2 ptype 0x0800, 4 hlen 6, 5 plen 4, 6 op (1 request,
 *              2 reply), 8 sender MAC, 14 sender IP, 18 target MAC, 24 target IP
 *   IPv4       0 version 4 | IHL (32-bit words), 1 TOS, 2 total length,
 *              4 identification, 6 flags (DF 0x4000, MF 0x2000) | fragment
 *              offset (13 bits), 8 TTL, 9 protocol (1 ICMP, 17 UDP),
 *              10 header checksum, 12 source, 16 destination, 20 options
 *   UDP        0 source port, 2 destination port, 4 length (header + data),
 *              6 checksum over the pseudo-header (source, destination, 0,
 *              17, UDP length), the header and the data; 0 sent as 0xFFFF
 *   ICMP echo  0 type (8 request, 0 reply), 1 code 0, 2 checksum over the
 *              whole ICMP message, 4 identifier, 6 sequence, 8 data
 *
 * Classification order: Ethernet (length, one tag, destination MAC), then
 * ARP or IPv4; for IPv4 the structure (version, IHL, total length), the
 * destination address (so traffic for other hosts costs no checksum), the
 * header checksum, the source address, fragments, then the protocol.
 */
#include <string.h>

#include <sluice/assert.h>
#include <sluice/net.h>

#define IP_PROTO_ICMP     1
#define IP_PROTO_UDP      17
#define IP_FLAG_DF        0x4000u
#define IP_FRAG_MASK      0x3FFFu /* MF and the fragment offset */
#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8
#define ARP_HTYPE_ETHER   1
#define ARP_OP_REQUEST    1
#define ARP_OP_REPLY      2
#define ETHERTYPE_QINQ    0x88A8u
#define UDP_PAYLOAD_MAX   65507u /* 65535 - 20 - 8 */

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

uint32_t sl_net_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = sum;
	size_t i = 0;
	for (; i + 1 < len; i += 2)
		s += rd16(p + i);
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 32)
		s = (s & 0xFFFFFFFFu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t sl_net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xFFFFu) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t sl_net_csum(const void *buf, size_t len)
{
	return (uint16_t)~sl_net_csum_fold(sl_net_csum_add(0, buf, len));
}

static enum sl_net_verdict verdict(struct sl_net_pkt *out, enum sl_net_verdict v)
{
	out->verdict = (uint8_t)v;
	return v;
}

static enum sl_net_verdict bad(struct sl_net_pkt *out, enum sl_net_bad why)
{
	out->bad = (uint8_t)why;
	return verdict(out, SL_NET_BAD);
}

static bool mac_is_group(const uint8_t *mac)
{
	return (mac[0] & 1u) != 0;
}

/* A source we would never answer: 0/8, loopback, multicast, class E, broadcast. */
static bool ip_src_unusable(uint32_t ip)
{
	uint8_t first = (uint8_t)(ip >> 24);
	return first == 0 || first == 127 || first >= 224;
}

static enum sl_net_verdict classify_arp(const uint8_t *buf, size_t len,
					const struct sl_net_local *local, struct sl_net_pkt *out)
{
	const uint8_t *a = buf + out->l2_len;
	if (len - out->l2_len < SL_NET_ARP_BYTES)
		return bad(out, SL_NET_BAD_ARP);
	if (rd16(a) != ARP_HTYPE_ETHER || rd16(a + 2) != SL_NET_ETHERTYPE_IPV4)
		return verdict(out, SL_NET_NOT_FOR_US);
	if (a[4] != 6 || a[5] != 4)
		return bad(out, SL_NET_BAD_ARP);
	if (rd16(a + 6) != ARP_OP_REQUEST || rd32(a + 24) != local->ip)
		return verdict(out, SL_NET_NOT_FOR_US);
	/* Answered to the sender's hardware address: never a group address.
	 * The sender IP may be 0 (an RFC 5227 probe), which we answer too. */
	if (mac_is_group(a + 8) || mac_is_group(buf + 6))
		return bad(out, SL_NET_BAD_IP_SRC);
	out->reply.peer_ip = rd32(a + 14);
	out->reply.local_ip = local->ip;
	return verdict(out, SL_NET_ARP_REQUEST);
}

static enum sl_net_verdict classify_udp(const uint8_t *l4, size_t l4_len,
					const struct sl_net_local *local,
					const struct sl_net_rx_hints *hints, struct sl_net_pkt *out)
{
	if (l4_len < SL_NET_UDP_HDR_BYTES)
		return bad(out, SL_NET_BAD_UDP_LEN);
	uint16_t udp_len = rd16(l4 + 4);
	if (udp_len < SL_NET_UDP_HDR_BYTES || udp_len > l4_len)
		return bad(out, SL_NET_BAD_UDP_LEN);
	if (rd16(l4 + 2) != local->udp_port)
		return verdict(out, SL_NET_NOT_FOR_US);
	if (hints->l4_csum == SL_NET_CSUM_BAD)
		return bad(out, SL_NET_BAD_L4_CSUM);
	out->payload_off = (uint16_t)(out->l2_len + out->l3_len + SL_NET_UDP_HDR_BYTES);
	out->payload_len = (uint16_t)(udp_len - SL_NET_UDP_HDR_BYTES);
	out->reply.peer_port = rd16(l4);
	out->reply.local_port = local->udp_port;
	return verdict(out, SL_NET_INGEST);
}

static enum sl_net_verdict classify_icmp(const uint8_t *l4, size_t l4_len, struct sl_net_pkt *out)
{
	if (l4_len < 1 || l4[0] != ICMP_ECHO_REQUEST)
		return verdict(out, SL_NET_NOT_FOR_US);
	if (l4_len < SL_NET_ICMP_HDR_BYTES || l4[1] != 0 || sl_net_csum(l4, l4_len) != 0)
		return bad(out, SL_NET_BAD_ICMP);
	out->payload_off = (uint16_t)(out->l2_len + out->l3_len);
	out->payload_len = (uint16_t)l4_len;
	return verdict(out, SL_NET_ICMP_ECHO);
}

static enum sl_net_verdict classify_ipv4(const uint8_t *buf, size_t len,
					 const struct sl_net_local *local,
					 const struct sl_net_rx_hints *hints,
					 struct sl_net_pkt *out)
{
	const uint8_t *ip = buf + out->l2_len;
	size_t avail = len - out->l2_len;
	if (avail < SL_NET_IPV4_HDR_BYTES)
		return bad(out, avail > 0 && (ip[0] >> 4) != 4 ? SL_NET_BAD_IP_VERSION
							       : SL_NET_BAD_IP_HDR_LEN);
	if ((ip[0] >> 4) != 4)
		return bad(out, SL_NET_BAD_IP_VERSION);
	size_t ihl = (size_t)(ip[0] & 0x0Fu) * 4;
	if (ihl < SL_NET_IPV4_HDR_BYTES || ihl > avail)
		return bad(out, SL_NET_BAD_IP_HDR_LEN);
	uint16_t total = rd16(ip + 2);
	if (total < ihl || total > avail)
		return bad(out, SL_NET_BAD_IP_LEN);
	out->l3_len = (uint16_t)ihl;
	out->ip_total_len = total;
	if (rd32(ip + 16) != local->ip)
		return verdict(out, SL_NET_NOT_FOR_US);
	if (hints->ip_csum == SL_NET_CSUM_BAD ||
	    (hints->ip_csum != SL_NET_CSUM_GOOD && sl_net_csum(ip, ihl) != 0))
		return bad(out, SL_NET_BAD_IP_CSUM);
	uint32_t src = rd32(ip + 12);
	if (ip_src_unusable(src) || mac_is_group(buf + 6))
		return bad(out, SL_NET_BAD_IP_SRC);
	if (rd16(ip + 6) & IP_FRAG_MASK)
		return verdict(out, SL_NET_FRAGMENT);
	out->reply.peer_ip = src;
	out->reply.local_ip = local->ip;
	const uint8_t *l4 = ip + ihl;
	size_t l4_len = total - ihl;
	switch (ip[9]) {
	case IP_PROTO_UDP:
		return classify_udp(l4, l4_len, local, hints, out);
	case IP_PROTO_ICMP:
		return classify_icmp(l4, l4_len, out);
	default:
		return verdict(out, SL_NET_NOT_FOR_US);
	}
}

enum sl_net_verdict sl_net_classify(const uint8_t *buf, size_t len,
				    const struct sl_net_local *local,
				    const struct sl_net_rx_hints *hints, struct sl_net_pkt *out)
{
	memset(out, 0, sizeof(*out));
	if (len < SL_NET_ETH_HDR_BYTES)
		return bad(out, SL_NET_BAD_ETH);
	uint16_t type = rd16(buf + 12);
	out->l2_len = SL_NET_ETH_HDR_BYTES;
	out->reply.has_vlan = hints->vlan_stripped;
	out->reply.vlan_tci = hints->vlan_stripped ? hints->vlan_tci : 0;
	if (type == SL_NET_ETHERTYPE_VLAN) {
		if (len < SL_NET_ETH_HDR_BYTES + SL_NET_VLAN_TAG_BYTES)
			return bad(out, SL_NET_BAD_ETH);
		if (hints->vlan_stripped) /* a second tag: QinQ is not ours */
			return verdict(out, SL_NET_NOT_FOR_US);
		out->reply.has_vlan = 1;
		out->reply.vlan_tci = rd16(buf + 14);
		type = rd16(buf + 16);
		out->l2_len += SL_NET_VLAN_TAG_BYTES;
	}
	if (type == SL_NET_ETHERTYPE_VLAN || type == ETHERTYPE_QINQ)
		return verdict(out, SL_NET_NOT_FOR_US);
	/* A unicast frame for another MAC (a promiscuous port sees them). */
	if (!mac_is_group(buf) && memcmp(buf, local->mac, 6) != 0)
		return verdict(out, SL_NET_NOT_FOR_US);
	memcpy(out->reply.peer_mac, buf + 6, 6);
	switch (type) {
	case SL_NET_ETHERTYPE_ARP:
		return classify_arp(buf, len, local, out);
	case SL_NET_ETHERTYPE_IPV4:
		return classify_ipv4(buf, len, local, hints, out);
	default:
		return verdict(out, SL_NET_NOT_FOR_US);
	}
}

/* Ethernet: back to the sender, from us. */
static void eth_turn(uint8_t *buf, const struct sl_net_local *local)
{
	memmove(buf, buf + 6, 6);
	memcpy(buf + 6, local->mac, 6);
}

size_t sl_net_arp_answer(uint8_t *buf, size_t cap, const struct sl_net_pkt *pkt,
			 const struct sl_net_local *local)
{
	SL_ASSERT_HOT(pkt->verdict == SL_NET_ARP_REQUEST);
	uint8_t *a = buf + pkt->l2_len;
	size_t len = (size_t)pkt->l2_len + SL_NET_ARP_BYTES;
	SL_ASSERT_HOT(len <= cap);
	eth_turn(buf, local);
	wr16(a + 6, ARP_OP_REPLY);
	memcpy(a + 18, a + 8, 10); /* target MAC and IP := the requester's */
	memcpy(a + 8, local->mac, 6);
	wr32(a + 14, local->ip);
	if (len < SL_NET_ETH_MIN_BYTES && cap >= SL_NET_ETH_MIN_BYTES) {
		memset(buf + len, 0, SL_NET_ETH_MIN_BYTES - len);
		len = SL_NET_ETH_MIN_BYTES;
	}
	return len;
}

size_t sl_net_icmp_answer(uint8_t *buf, const struct sl_net_pkt *pkt,
			  const struct sl_net_local *local)
{
	SL_ASSERT_HOT(pkt->verdict == SL_NET_ICMP_ECHO);
	uint8_t *ip = buf + pkt->l2_len;
	uint8_t *icmp = ip + pkt->l3_len;
	eth_turn(buf, local);
	memcpy(ip + 16, ip + 12, 4);
	wr32(ip + 12, local->ip);
	ip[8] = SL_NET_TTL;
	wr16(ip + 10, 0);
	wr16(ip + 10, sl_net_csum(ip, pkt->l3_len));
	icmp[0] = ICMP_ECHO_REPLY;
	wr16(icmp + 2, 0);
	wr16(icmp + 2, sl_net_csum(icmp, pkt->payload_len));
	return (size_t)pkt->l2_len + pkt->ip_total_len;
}

size_t sl_net_udp_build(uint8_t *out, size_t cap, const struct sl_net_reply *r,
			const uint8_t src_mac[6], const uint8_t *payload, size_t len,
			uint16_t ip_id, unsigned flags)
{
	size_t hdr = sl_net_udp_hdr_len(r);
	if (len > UDP_PAYLOAD_MAX || hdr + len > cap)
		return 0;
	uint8_t *p = out;
	memcpy(p, r->peer_mac, 6);
	memcpy(p + 6, src_mac, 6);
	p += 12;
	if (r->has_vlan) {
		wr16(p, SL_NET_ETHERTYPE_VLAN);
		wr16(p + 2, r->vlan_tci);
		p += SL_NET_VLAN_TAG_BYTES;
	}
	wr16(p, SL_NET_ETHERTYPE_IPV4);
	uint8_t *ip = p + 2;
	uint8_t *udp = ip + SL_NET_IPV4_HDR_BYTES;
	uint16_t udp_len = (uint16_t)(SL_NET_UDP_HDR_BYTES + len);
	ip[0] = 0x45;
	ip[1] = 0;
	wr16(ip + 2, (uint16_t)(SL_NET_IPV4_HDR_BYTES + udp_len));
	wr16(ip + 4, ip_id);
	wr16(ip + 6, IP_FLAG_DF);
	ip[8] = SL_NET_TTL;
	ip[9] = IP_PROTO_UDP;
	wr16(ip + 10, 0);
	wr32(ip + 12, r->local_ip);
	wr32(ip + 16, r->peer_ip);
	wr16(udp, r->local_port);
	wr16(udp + 2, r->peer_port);
	wr16(udp + 4, udp_len);
	wr16(udp + 6, 0);
	memcpy(udp + SL_NET_UDP_HDR_BYTES, payload, len);
	uint8_t pseudo[4] = {0, IP_PROTO_UDP, 0, 0};
	wr16(pseudo + 2, udp_len);
	uint32_t sum = sl_net_csum_add(0, ip + 12, 8); /* source, destination */
	sum = sl_net_csum_add(sum, pseudo, sizeof(pseudo));
	if (flags & SL_NET_TX_CSUM_OFFLOAD) {
		wr16(udp + 6, sl_net_csum_fold(sum));
	} else {
		wr16(ip + 10, sl_net_csum(ip, SL_NET_IPV4_HDR_BYTES));
		uint16_t c = (uint16_t)~sl_net_csum_fold(sl_net_csum_add(sum, udp, udp_len));
		wr16(udp + 6, c == 0 ? 0xFFFFu : c);
	}
	return hdr + len;
}
