/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet layer of the DPDK dataplane, as pure functions over byte
 * buffers (no DPDK, no allocation, no logging, no global state), so unit
 * tests and fuzzers drive them without EAL and the RX loop (rx.c) stays a
 * thin shell around them:
 *
 *   sl_net_classify()     one received Ethernet frame → what it is: an SLW1
 *                         datagram for the ingest port (with the payload's
 *                         place and the address to answer), an ARP request or
 *                         an ICMP echo request for the appliance's address,
 *                         not for us, an IPv4 fragment, or a bad header (with
 *                         the reason, one drop counter each);
 *   sl_net_arp_answer()   turn an ARP request into its reply, in place;
 *   sl_net_icmp_answer()  turn an ICMP echo request into its reply, in place;
 *   sl_net_udp_build()    Ethernet (+ 802.1Q) / IPv4 / UDP around an ack;
 *   sl_net_csum_*()       the Internet checksum (RFC 1071).
 *
 * Accepted frames: Ethernet II with at most one 802.1Q tag (a tag the NIC
 * stripped is passed in the hints); IPv4 with version 4, IHL >= 5, a total
 * length that fits the frame and covers the header, a header checksum that
 * verifies (or that the NIC vouched for), not fragmented; UDP with a length
 * that fits the IP payload. The UDP checksum is not verified in software:
 * SLW1 carries its own CRC-32C over the whole frame, and senders behind
 * checksum offload (a veth, a VM) leave it unfinished in the bytes we see;
 * a NIC that verified it and found it bad is believed.
 *
 * Addresses are in host byte order in every struct here; the functions
 * convert at the wire.
 */
#ifndef SLUICE_NET_H
#define SLUICE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sluice/assert.h>

#define SL_NET_ETH_HDR_BYTES  14
#define SL_NET_VLAN_TAG_BYTES 4
#define SL_NET_IPV4_HDR_BYTES 20 /* without options */
#define SL_NET_UDP_HDR_BYTES  8
#define SL_NET_ARP_BYTES      28 /* Ethernet/IPv4 ARP body */
#define SL_NET_ICMP_HDR_BYTES 8  /* type, code, checksum, id, sequence */
#define SL_NET_ETH_MIN_BYTES  60 /* shortest Ethernet frame without its FCS */
#define SL_NET_TTL            64

#define SL_NET_ETHERTYPE_IPV4 0x0800u
#define SL_NET_ETHERTYPE_ARP  0x0806u
#define SL_NET_ETHERTYPE_VLAN 0x8100u

/* Headers an ack needs in front of its payload: Ethernet, a tag, IPv4, UDP. */
#define SL_NET_UDP_OVERHEAD_MAX                                                                    \
	(SL_NET_ETH_HDR_BYTES + SL_NET_VLAN_TAG_BYTES + SL_NET_IPV4_HDR_BYTES +                    \
	 SL_NET_UDP_HDR_BYTES)
/* UDP payload per datagram at an MTU: MTU - 20 - 8 (WIRE.md's ack split). */
#define SL_NET_UDP_PAYLOAD_MAX(mtu) ((size_t)(mtu)-SL_NET_IPV4_HDR_BYTES - SL_NET_UDP_HDR_BYTES)

/* The appliance's address on one port. */
struct sl_net_local {
	uint8_t mac[6];
	uint32_t ip;       /* host order; never 0 */
	uint16_t udp_port; /* SLW1 ingest port */
};

/*
 * Where an answer goes: what a received datagram says about its sender and
 * what it was sent to. It is the reply blob the RX loop hands the ingest
 * core with each frame and gets back with each ack (SL_INGEST_REPLY_BYTES).
 */
struct sl_net_reply {
	uint8_t peer_mac[6];
	uint8_t has_vlan;   /* 1: answer with an 802.1Q tag carrying vlan_tci */
	uint8_t port_index; /* the RX loop's own: which of its ports */
	uint16_t vlan_tci;
	uint16_t peer_port;
	uint16_t local_port;
	uint16_t reserved;
	uint32_t peer_ip;
	uint32_t local_ip;
};
SL_STATIC_ASSERT(sizeof(struct sl_net_reply) == 24);

/* What the NIC already checked, from the mbuf's offload flags. */
enum sl_net_csum_hint {
	SL_NET_CSUM_UNKNOWN = 0, /* not checked: verify in software */
	SL_NET_CSUM_GOOD = 1,
	SL_NET_CSUM_BAD = 2,
};

struct sl_net_rx_hints {
	uint8_t ip_csum; /* enum sl_net_csum_hint */
	uint8_t l4_csum; /* enum sl_net_csum_hint */
	bool vlan_stripped;
	uint16_t vlan_tci; /* with vlan_stripped: the tag the NIC removed */
};

enum sl_net_verdict {
	SL_NET_INGEST = 0,  /* UDP to local ip:udp_port: payload_off/len, reply */
	SL_NET_ARP_REQUEST, /* ARP who-has local ip: sl_net_arp_answer() */
	SL_NET_ICMP_ECHO,   /* echo request to local ip: sl_net_icmp_answer() */
	SL_NET_NOT_FOR_US,  /* another host, protocol, port, or an ARP reply */
	SL_NET_FRAGMENT,    /* IPv4 fragment for us: not reassembled */
	SL_NET_BAD,         /* bad header: `bad` says which rule */
	SL_NET_VERDICT_COUNT,
};

/* Why a frame is SL_NET_BAD: one counter each. */
enum sl_net_bad {
	SL_NET_BAD_NONE = 0,
	SL_NET_BAD_ETH,        /* shorter than its Ethernet header (and tag) */
	SL_NET_BAD_ARP,        /* an Ethernet/IPv4 ARP shorter than 28 bytes or bad lengths */
	SL_NET_BAD_IP_VERSION, /* IPv4 ethertype, version != 4 */
	SL_NET_BAD_IP_HDR_LEN, /* IHL < 5, or the header runs past the frame */
	SL_NET_BAD_IP_LEN,     /* total length < header, or past the frame */
	SL_NET_BAD_IP_CSUM,    /* header checksum (software, or the NIC said bad) */
	SL_NET_BAD_IP_SRC,     /* source 0, broadcast, multicast, loopback; or a group MAC */
	SL_NET_BAD_UDP_LEN,    /* UDP length < 8 or past the IP payload */
	SL_NET_BAD_L4_CSUM,    /* the NIC found the UDP checksum bad */
	SL_NET_BAD_ICMP,       /* echo request too short or its checksum bad */
	SL_NET_BAD_COUNT,
};

/* What sl_net_classify() found. Offsets are from the start of the frame. */
struct sl_net_pkt {
	uint8_t verdict; /* enum sl_net_verdict */
	uint8_t bad;     /* enum sl_net_bad; NONE unless SL_NET_BAD */
	uint16_t l2_len; /* Ethernet header, plus the tag when it is in the bytes */
	uint16_t l3_len; /* IPv4 header with options; 0 for ARP */
	uint16_t ip_total_len;
	uint16_t payload_off; /* INGEST: UDP payload; ICMP_ECHO: the ICMP message */
	uint16_t payload_len;
	struct sl_net_reply reply; /* INGEST, ARP_REQUEST, ICMP_ECHO: the sender */
};

/*
 * Classify the frame buf[0..len) (borrowed) received on a port whose
 * address is *local, with what the NIC checked in *hints. Fills *out and
 * returns out->verdict. Never reads outside buf[0..len). reply.port_index
 * is left 0 (the caller's to set). Any thread.
 */
enum sl_net_verdict sl_net_classify(const uint8_t *buf, size_t len,
				    const struct sl_net_local *local,
				    const struct sl_net_rx_hints *hints, struct sl_net_pkt *out);

/*
 * Rewrite the ARP request in buf (classified SL_NET_ARP_REQUEST as *pkt)
 * into the reply from *local, in place: Ethernet addresses swapped (the
 * tag, when in the bytes, kept), op 2, sender = local, target = the
 * requester. Zero-pads to the 60-byte Ethernet minimum when cap allows.
 * Returns the reply's length (<= cap).
 */
size_t sl_net_arp_answer(uint8_t *buf, size_t cap, const struct sl_net_pkt *pkt,
			 const struct sl_net_local *local);

/*
 * Rewrite the ICMP echo request in buf (classified SL_NET_ICMP_ECHO as
 * *pkt) into its echo reply, in place: Ethernet and IP addresses swapped,
 * TTL reset, type 0, both checksums recomputed; IP options and the echo
 * data kept. Returns the reply's length (Ethernet padding dropped).
 */
size_t sl_net_icmp_answer(uint8_t *buf, const struct sl_net_pkt *pkt,
			  const struct sl_net_local *local);

/* sl_net_udp_build() flags. */
#define SL_NET_TX_CSUM_OFFLOAD 0x1u /* leave both checksums to the NIC (see below) */

/*
 * Write Ethernet (with an 802.1Q tag when r->has_vlan) / IPv4 (DF, TTL 64,
 * identification ip_id) / UDP from r->local_* to r->peer_* around
 * payload[0..len) (borrowed) into out[0..cap), src_mac ours. Checksums in
 * software, or with SL_NET_TX_CSUM_OFFLOAD an IPv4 checksum of 0 and the
 * UDP checksum field holding the pseudo-header sum, as NICs that insert
 * them expect. Returns the frame's length, or 0 when it would not fit in
 * cap or len > 65507 (nothing written).
 */
size_t sl_net_udp_build(uint8_t *out, size_t cap, const struct sl_net_reply *r,
			const uint8_t src_mac[6], const uint8_t *payload, size_t len,
			uint16_t ip_id, unsigned flags);

/* Header bytes sl_net_udp_build() writes before the payload for r. */
static inline size_t sl_net_udp_hdr_len(const struct sl_net_reply *r)
{
	return SL_NET_UDP_OVERHEAD_MAX - (r->has_vlan ? 0 : SL_NET_VLAN_TAG_BYTES);
}

/*
 * The one's-complement sum of buf[0..len) (big-endian 16-bit words, an odd
 * last byte padded with zero) added to sum, not folded. Chain calls over
 * pieces of even length.
 */
uint32_t sl_net_csum_add(uint32_t sum, const void *buf, size_t len);

/* Fold a sum to 16 bits, not complemented (the pseudo-header form). */
uint16_t sl_net_csum_fold(uint32_t sum);

/* The Internet checksum of buf[0..len): the complemented folded sum. */
uint16_t sl_net_csum(const void *buf, size_t len);

#endif /* SLUICE_NET_H */
