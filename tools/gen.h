/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen internals, shared by the files of the load generator (tools/
 * sluice_gen.c and tools/gen_*.c): the options the command line decides,
 * the payload generator (keys, sizes, data of each record), the transports
 * (kernel UDP and TCP sockets, a DPDK port) behind one small ops table, the
 * engine (window, retransmission, ack verification) and the report.
 *
 * One thread does everything: the engine calls the transport, the transport
 * calls back into the engine for every ack message it receives. Nothing here
 * is shared with the daemon except the SLW1 codec (dataplane/slw1.h).
 */
#ifndef SLUICE_TOOLS_GEN_H
#define SLUICE_TOOLS_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <sluice/record.h>
#include <sluice/slw1.h>
#include <sluice/u128.h>

/*
 * Frames in flight at most. WIRE.md answers STALE_BATCH to a batch_seq 64 or
 * more below the producer's highest, so a sliding window of at most 64 keeps
 * every retransmission inside the appliance's dedupe memory.
 */
#define GEN_WINDOW_MAX        64
#define GEN_RETRIES_MAX       1000
#define GEN_TIMEOUT_MS_MAX    600000u
#define GEN_BACKOFF_MS_MAX    60000u
#define GEN_KEY_LEN_DEFAULT   16
#define GEN_UDP_PAYLOAD_MAX   65507u /* IPv4: 65535 - 20 (IP) - 8 (UDP) */
#define GEN_IP_UDP_HDR_BYTES  28     /* IPv4 header without options + UDP header */
#define GEN_HOST_MAX          255
#define GEN_VDEV_MAX          512
#define GEN_EAL_ARGS_MAX      512
#define GEN_PATH_MAX          4096
#define GEN_IDLE_SLEEP_US_MAX 10000

enum gen_transport_kind {
	GEN_T_NONE = 0,
	GEN_T_UDP,
	GEN_T_TCP,
	GEN_T_DPDK,
};

enum gen_key_mode {
	GEN_KEY_RANDOM = 0, /* key_len random hex characters per record */
	GEN_KEY_SEQ,        /* "key-<i>", i = 0, 1, ..., key_count - 1, 0, ... */
	GEN_KEY_FIXED,      /* the same key for every record */
};

enum gen_hash_mode {
	GEN_HASH_NONE = 0, /* MD5(key) on the appliance */
	GEN_HASH_RANDOM,   /* a random 128-bit explicit hash key per record */
	GEN_HASH_FIXED,    /* the same explicit hash key for every record */
	GEN_HASH_SPREAD,   /* the middle of hash range k of hash_count even ranges */
};

/* What the command line decided; filled by sluice_gen.c, read-only after. */
struct gen_options {
	enum gen_transport_kind transport;
	char host[GEN_HOST_MAX + 1]; /* UDP/TCP: name or address */
	uint16_t port;

	/* DPDK */
	char vdev[GEN_VDEV_MAX + 1];
	char eal_args[GEN_EAL_ARGS_MAX + 1]; /* extra EAL arguments, split on spaces */
	uint32_t src_ip, dst_ip;             /* network byte order */
	uint16_t src_port, dst_port;         /* host byte order */
	uint8_t dst_mac[6];
	bool dst_mac_set;
	bool src_ip_set, dst_ip_set;
	int lcore; /* -1: the first CPU this process may use */
	uint32_t arp_timeout_ms;
	uint32_t idle_sleep_us; /* sleep between empty RX polls; 0: busy poll */

	/* Frames */
	char stream[SL_STREAM_NAME_MAX + 1];
	uint8_t stream_len;
	uint64_t producer_id;
	uint64_t batch_seq_start;
	uint16_t records_per_frame;
	uint32_t size_min, size_max; /* data bytes per record, uniform in [min, max] */
	enum gen_key_mode key_mode;
	uint32_t key_count;                       /* GEN_KEY_SEQ */
	uint16_t key_len;                         /* GEN_KEY_RANDOM */
	char key_fixed[SL_PARTITION_KEY_MAX + 1]; /* GEN_KEY_FIXED */
	enum gen_hash_mode hash_mode;
	sl_u128 hash_fixed;
	uint32_t hash_count; /* GEN_HASH_SPREAD */
	bool auth;           /* AUTH flag with a zero tag */
	uint64_t seed;

	/* Pace and amount */
	double rate;       /* per second; 0: as fast as possible */
	bool rate_records; /* rate counts records, not frames */
	uint64_t duration_ns;
	uint64_t frames_max;  /* 0: no limit */
	uint64_t records_max; /* 0: no limit */

	/* Reliability */
	bool no_ack;
	uint32_t window;
	uint64_t timeout_ns;
	uint32_t retries;          /* retransmissions after a timeout, per frame */
	uint32_t throttle_retries; /* resends after THROTTLED, per frame */
	uint64_t backoff_ns;       /* first THROTTLED backoff; doubles, capped */
	uint64_t backoff_max_ns;

	/* Output */
	bool json;
	bool dump_frame;
	char record_acks[GEN_PATH_MAX];
	size_t payload_max; /* the transport's largest frame, set at open */
};

/*
 * The payload generator: the records of each frame, from the options and a
 * seeded PRNG. Record data is deterministic so that a reader can check what
 * it reads back: 8 bytes producer_id, 8 bytes batch_seq, 2 bytes record
 * index (big-endian), then gen_fill() bytes seeded by those three values;
 * all cut to the record's data length.
 */
struct gen_payload;

/* 0 and *out, or -ENOMEM. o is borrowed for the payload's life. */
int gen_payload_create(const struct gen_options *o, struct gen_payload **out);
void gen_payload_destroy(struct gen_payload *p);

/*
 * Build the frame of `records` records (1..records_per_frame) with
 * batch_seq into out[0..cap). Returns its length, or 0 when it does not fit.
 */
size_t gen_payload_frame(struct gen_payload *p, uint64_t batch_seq, uint16_t records, uint8_t *out,
			 size_t cap);

/* The largest frame the options can produce (every size at its maximum). */
uint64_t gen_frame_bytes_max(const struct gen_options *o);

/* The data of record `index` of a frame, as described above. */
void gen_record_data(uint64_t producer_id, uint64_t batch_seq, uint16_t index, uint8_t *out,
		     uint32_t len);

/* splitmix64: the PRNG of keys, sizes, hash keys and data filler. */
static inline uint64_t gen_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

/* Counters of one run; the engine and the transports add to them. */
struct gen_stats {
	uint64_t frames_sent; /* distinct frames (batch_seq values) */
	uint64_t records_sent;
	uint64_t bytes_sent; /* frame bytes of distinct frames */
	uint64_t transmissions;
	uint64_t retried;          /* retransmissions after a timeout or reconnect */
	uint64_t throttle_resends; /* resends after THROTTLED */
	uint64_t throttled;        /* THROTTLED answers */
	uint64_t frames_acked;     /* final status OK, DUPLICATE or not */
	uint64_t records_acked;    /* records stored: OK frames and OK entries of PARTIAL */
	uint64_t duplicate;        /* final OK acks with the DUPLICATE flag */
	uint64_t partial;
	uint64_t failed; /* final status other than OK (PARTIAL included) */
	uint64_t records_failed;
	uint64_t lost; /* gave up: no valid answer after every retry */
	uint64_t records_lost;
	uint64_t status[SL_SLW1_STATUS_MAX + 1]; /* answers by frame status */
	uint64_t acks_received;                  /* ack messages (datagrams) */
	uint64_t late_acks;                      /* for a frame already finished */
	uint64_t bad_acks;                       /* sum of the bad_ack_* below */
	uint64_t bad_ack_format;                 /* sl_slw1_ack_parse refused it */
	uint64_t bad_ack_producer;               /* not our producer_id */
	uint64_t bad_ack_unknown;                /* a batch_seq never sent */
	uint64_t bad_ack_order;                  /* TCP: not the oldest frame's */
	uint64_t bad_ack_content;                /* counts, statuses, parts disagree */
	uint64_t send_errors;
	uint64_t reconnects;
	uint64_t interrupted; /* in flight when a second signal ended the drain */
	uint64_t elapsed_ns;
	/* DPDK */
	uint64_t rx_packets;
	uint64_t rx_not_for_us;
	uint64_t rx_bad_packet;
	uint64_t tx_dropped;
	uint64_t arp_requests;
	uint64_t arp_replies;
};

/* Ack latency: a log-linear histogram, within 1/64 relative error. */
#define GEN_HIST_SUB     64
#define GEN_HIST_BUCKETS (GEN_HIST_SUB + (64 - 6) * GEN_HIST_SUB)
struct gen_hist {
	uint64_t count;
	uint64_t sum_ns;
	uint64_t min_ns, max_ns;
	uint64_t buckets[GEN_HIST_BUCKETS];
};

void gen_hist_add(struct gen_hist *h, uint64_t ns);
/* The value at quantile q (0..1]: an upper estimate within 1/64; 0 if empty. */
uint64_t gen_hist_quantile(const struct gen_hist *h, double q);

/* The final report: a table on out, or one JSON object with json. */
void gen_report(FILE *out, const struct gen_options *o, const struct gen_stats *s,
		const struct gen_hist *h, bool json);

/* Name of a frame status ("OK", "THROTTLED", ...); "?" when out of range. */
const char *gen_status_name(unsigned status);

/* Called by a transport for every ack message it received (borrowed). */
typedef void gen_ack_fn(void *arg, const uint8_t *buf, size_t len);

/*
 * A transport. Every function runs on the one thread; all return 0 or a
 * negative errno unless said otherwise.
 *   send:      hand over one frame (borrowed; copied or sent before return).
 *              -EPIPE: the connection broke (TCP), reconnect. A datagram the
 *              kernel or the port refused is counted (send_errors,
 *              tx_dropped) and reported as sent: its timeout retransmits it.
 *   room:      whether send() would take len bytes now (TCP's out buffer).
 *   poll:      wait up to wait_ns for acks (0: just look), call ack() for
 *              each; > 0 how many, 0 none, -EPIPE connection lost.
 *   reconnect: TCP: a new connection; everything unsent is dropped.
 *   idle:      nothing left to flush (the engine may exit).
 *   destroy:   close and free; NULL is a no-op.
 */
struct gen_transport;
struct gen_transport_ops {
	int (*send)(struct gen_transport *t, const uint8_t *buf, size_t len);
	bool (*room)(struct gen_transport *t, size_t len);
	int (*poll)(struct gen_transport *t, uint64_t wait_ns, gen_ack_fn *ack, void *arg);
	int (*reconnect)(struct gen_transport *t);
	bool (*idle)(struct gen_transport *t);
	void (*destroy)(struct gen_transport *t);
};

struct gen_transport {
	const struct gen_transport_ops *ops;
	bool ordered;       /* TCP: acks come back in the order frames went out */
	size_t payload_max; /* the largest frame it carries */
	struct gen_stats *stats;
	char why[512]; /* after a failed open or reconnect: what went wrong */
};

/*
 * Open a transport as o says. Returns 0 and *out, or a negative errno with
 * why[] (at most why_cap bytes) saying what failed. stats is borrowed.
 */
int gen_sock_open(const struct gen_options *o, struct gen_stats *stats, struct gen_transport **out,
		  char *why, size_t why_cap);
int gen_dpdk_open(const struct gen_options *o, struct gen_stats *stats, struct gen_transport **out,
		  char *why, size_t why_cap);

/*
 * Run the load as o says over t: returns 0 when the run completed (the
 * counters say how well), or a negative errno when it had to stop (a TCP
 * connection that could not be re-established). stop: set (from a signal
 * handler) to 1 to stop sending and drain, 2 to stop at once.
 */
int gen_engine_run(const struct gen_options *o, struct gen_transport *t, struct gen_payload *p,
		   struct gen_stats *s, struct gen_hist *h, FILE *acks_out,
		   volatile const sig_atomic_t *stop);

#endif /* SLUICE_TOOLS_GEN_H */
