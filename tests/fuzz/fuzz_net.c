/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the dataplane's packet layer (dataplane/net.c) over any bytes
 * as one received Ethernet frame. The first input byte chooses what the NIC
 * is said to have checked (IP and UDP checksum hints, a stripped tag); the
 * rest is the frame, in a buffer of exactly its size so that any read past
 * the end is a sanitizer report. Invariants: no crash; the verdict is in
 * range and BAD exactly when a reason is given; an ingest datagram's
 * payload lies inside the frame; an ARP or ICMP echo request answered in a
 * copy gives a frame that is not itself a request for us, and an echo
 * reply whose IPv4 and ICMP checksums verify; an ack built back to an
 * ingest datagram's sender is, seen from the sender, an ingest datagram
 * with the same payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sluice/assert.h>
#include <sluice/net.h>

#define FRAME_MAX 16384

static const struct sl_net_local local = {
    .mac = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01},
    .ip = 0x0A000002u,
    .udp_port = 7400,
};

static uint8_t copy[FRAME_MAX + 64];
static uint8_t out[FRAME_MAX + SL_NET_UDP_OVERHEAD_MAX];

static void check_answer(const uint8_t *frame, size_t len, const struct sl_net_pkt *p)
{
	struct sl_net_pkt again;
	struct sl_net_rx_hints none = {0};
	size_t n;
	memcpy(copy, frame, len);
	if (p->verdict == SL_NET_ARP_REQUEST) {
		n = sl_net_arp_answer(copy, sizeof(copy), p, &local);
		SL_ASSERT(n >= (size_t)p->l2_len + SL_NET_ARP_BYTES);
		SL_ASSERT(n <= sizeof(copy));
	} else {
		n = sl_net_icmp_answer(copy, p, &local);
		SL_ASSERT(n <= len);
		SL_ASSERT(sl_net_csum(copy + p->l2_len, p->l3_len) == 0);
		SL_ASSERT(sl_net_csum(copy + p->payload_off, p->payload_len) == 0);
	}
	SL_ASSERT(sl_net_classify(copy, n, &local, &none, &again) != p->verdict);
}

static void check_ingest(const uint8_t *frame, size_t len, const struct sl_net_pkt *p)
{
	SL_ASSERT(p->payload_off <= len);
	SL_ASSERT(p->payload_len <= len - p->payload_off);
	size_t n = sl_net_udp_build(out, sizeof(out), &p->reply, local.mac, frame + p->payload_off,
				    p->payload_len, 1, 0);
	SL_ASSERT(n == sl_net_udp_hdr_len(&p->reply) + p->payload_len);
	struct sl_net_local peer = {.ip = p->reply.peer_ip, .udp_port = p->reply.peer_port};
	memcpy(peer.mac, p->reply.peer_mac, 6);
	struct sl_net_rx_hints none = {0};
	struct sl_net_pkt back;
	SL_ASSERT(sl_net_classify(out, n, &peer, &none, &back) == SL_NET_INGEST);
	SL_ASSERT(back.payload_len == p->payload_len);
	SL_ASSERT(memcmp(out + back.payload_off, frame + p->payload_off, p->payload_len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size - 1 > FRAME_MAX)
		return 0;
	struct sl_net_rx_hints h = {
	    .ip_csum = data[0] % 3,
	    .l4_csum = (data[0] >> 2) % 3,
	    .vlan_stripped = (data[0] & 0x10) != 0,
	    .vlan_tci = (uint16_t)(data[0] << 4),
	};
	size_t len = size - 1;
	uint8_t *frame = malloc(len ? len : 1);
	if (frame == NULL)
		return 0;
	memcpy(frame, data + 1, len);
	struct sl_net_pkt p;
	enum sl_net_verdict v = sl_net_classify(frame, len, &local, &h, &p);
	SL_ASSERT(v < SL_NET_VERDICT_COUNT);
	SL_ASSERT(p.verdict == v);
	SL_ASSERT((v == SL_NET_BAD) == (p.bad != SL_NET_BAD_NONE));
	SL_ASSERT(p.bad < SL_NET_BAD_COUNT);
	if (v == SL_NET_ARP_REQUEST || v == SL_NET_ICMP_ECHO)
		check_answer(frame, len, &p);
	else if (v == SL_NET_INGEST)
		check_ingest(frame, len, &p);
	free(frame);
	return 0;
}
