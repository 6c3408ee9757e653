/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: the ack latency histogram and the final report (a table for
 * people, or one JSON object for scripts and tests).
 *
 * The histogram is log-linear: values below 64 ns have a bucket each; above,
 * each power of two is cut into 64 equal buckets, so a quantile is known to
 * within 1/64 of its value with a fixed 30 KiB of counters whatever the run's
 * length.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <sluice/assert.h>
#include <sluice/clock.h>

#include "gen.h"

SL_STATIC_ASSERT(GEN_HIST_SUB == 64);

static const char *const status_names[SL_SLW1_STATUS_MAX + 1] = {
    [SL_SLW1_OK] = "OK",
    [SL_SLW1_PARTIAL] = "PARTIAL",
    [SL_SLW1_THROTTLED] = "THROTTLED",
    [SL_SLW1_STREAM_NOT_FOUND] = "STREAM_NOT_FOUND",
    [SL_SLW1_MALFORMED] = "MALFORMED",
    [SL_SLW1_TOO_LARGE] = "TOO_LARGE",
    [SL_SLW1_UNAUTHORIZED] = "UNAUTHORIZED",
    [SL_SLW1_INTERNAL] = "INTERNAL",
    [SL_SLW1_STALE_BATCH] = "STALE_BATCH",
    [SL_SLW1_SHUTTING_DOWN] = "SHUTTING_DOWN",
};

const char *gen_status_name(unsigned status)
{
	return status <= SL_SLW1_STATUS_MAX ? status_names[status] : "?";
}

static unsigned bucket_of(uint64_t v)
{
	if (v < GEN_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v); /* >= 6 */
	unsigned shift = msb - 6;
	unsigned sub = (unsigned)(v >> shift) - GEN_HIST_SUB; /* 0..63 */
	return GEN_HIST_SUB + shift * GEN_HIST_SUB + sub;
}

/* The largest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
	if (b < GEN_HIST_SUB)
		return b;
	unsigned shift = (b - GEN_HIST_SUB) / GEN_HIST_SUB;
	uint64_t sub = (b - GEN_HIST_SUB) % GEN_HIST_SUB;
	uint64_t low = (GEN_HIST_SUB + sub) << shift;
	return low + ((UINT64_C(1) << shift) - 1);
}

void gen_hist_add(struct gen_hist *h, uint64_t ns)
{
	unsigned b = bucket_of(ns);
	SL_ASSERT(b < GEN_HIST_BUCKETS);
	h->buckets[b]++;
	if (h->count == 0 || ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->count++;
	h->sum_ns += ns;
}

uint64_t gen_hist_quantile(const struct gen_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	uint64_t seen = 0;
	for (unsigned b = 0; b < GEN_HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= rank) {
			uint64_t top = bucket_top(b);
			return top < h->max_ns ? top : h->max_ns;
		}
	}
	return h->max_ns;
}

static double per_second(uint64_t n, uint64_t ns)
{
	return ns == 0 ? 0.0 : (double)n * 1e9 / (double)ns;
}

static double us(uint64_t ns)
{
	return (double)ns / 1e3;
}

static const char *transport_name(enum gen_transport_kind k)
{
	switch (k) {
	case GEN_T_UDP:
		return "udp";
	case GEN_T_TCP:
		return "tcp";
	case GEN_T_DPDK:
		return "dpdk";
	case GEN_T_NONE:
		break;
	}
	return "none";
}

#define SET_U64(obj, name, v) json_object_set_new(obj, name, json_integer((json_int_t)(v)))

static void report_json(FILE *out, const struct gen_options *o, const struct gen_stats *s,
			const struct gen_hist *h)
{
	json_t *r = json_object();
	json_object_set_new(r, "transport", json_string(transport_name(o->transport)));
	json_object_set_new(r, "stream", json_string(o->stream));
	/* A string: a u64 does not survive every JSON reader as a number. */
	char pid[24];
	snprintf(pid, sizeof(pid), "%" PRIu64, o->producer_id);
	json_object_set_new(r, "producer_id", json_string(pid));
	json_object_set_new(r, "no_ack", json_boolean(o->no_ack));
	json_object_set_new(r, "elapsed_s", json_real((double)s->elapsed_ns / 1e9));
	SET_U64(r, "frames_sent", s->frames_sent);
	SET_U64(r, "records_sent", s->records_sent);
	SET_U64(r, "bytes_sent", s->bytes_sent);
	SET_U64(r, "transmissions", s->transmissions);
	SET_U64(r, "retried", s->retried);
	SET_U64(r, "throttle_resends", s->throttle_resends);
	SET_U64(r, "throttled", s->throttled);
	SET_U64(r, "frames_acked", s->frames_acked);
	SET_U64(r, "records_acked", s->records_acked);
	SET_U64(r, "duplicate", s->duplicate);
	SET_U64(r, "partial", s->partial);
	SET_U64(r, "failed", s->failed);
	SET_U64(r, "records_failed", s->records_failed);
	SET_U64(r, "lost", s->lost);
	SET_U64(r, "records_lost", s->records_lost);
	SET_U64(r, "interrupted", s->interrupted);
	json_t *st = json_object();
	for (unsigned i = 0; i <= SL_SLW1_STATUS_MAX; i++)
		SET_U64(st, gen_status_name(i), s->status[i]);
	json_object_set_new(r, "status", st);
	SET_U64(r, "acks_received", s->acks_received);
	SET_U64(r, "late_acks", s->late_acks);
	SET_U64(r, "bad_acks", s->bad_acks);
	json_t *bad = json_object();
	SET_U64(bad, "format", s->bad_ack_format);
	SET_U64(bad, "producer", s->bad_ack_producer);
	SET_U64(bad, "unknown_batch", s->bad_ack_unknown);
	SET_U64(bad, "order", s->bad_ack_order);
	SET_U64(bad, "content", s->bad_ack_content);
	json_object_set_new(r, "bad_ack", bad);
	SET_U64(r, "send_errors", s->send_errors);
	SET_U64(r, "reconnects", s->reconnects);
	json_object_set_new(r, "frames_per_s",
			    json_real(per_second(s->frames_sent, s->elapsed_ns)));
	json_object_set_new(r, "records_per_s",
			    json_real(per_second(s->records_sent, s->elapsed_ns)));
	json_object_set_new(r, "mbytes_per_s",
			    json_real(per_second(s->bytes_sent, s->elapsed_ns) / 1e6));
	json_t *lat = json_object();
	SET_U64(lat, "count", h->count);
	json_object_set_new(lat, "min_us", json_real(us(h->min_ns)));
	json_object_set_new(lat, "mean_us", json_real(h->count ? us(h->sum_ns / h->count) : 0.0));
	json_object_set_new(lat, "p50_us", json_real(us(gen_hist_quantile(h, 0.50))));
	json_object_set_new(lat, "p99_us", json_real(us(gen_hist_quantile(h, 0.99))));
	json_object_set_new(lat, "p999_us", json_real(us(gen_hist_quantile(h, 0.999))));
	json_object_set_new(lat, "max_us", json_real(us(h->max_ns)));
	json_object_set_new(r, "latency", lat);
	if (o->transport == GEN_T_DPDK) {
		json_t *d = json_object();
		SET_U64(d, "rx_packets", s->rx_packets);
		SET_U64(d, "rx_not_for_us", s->rx_not_for_us);
		SET_U64(d, "rx_bad_packet", s->rx_bad_packet);
		SET_U64(d, "tx_dropped", s->tx_dropped);
		SET_U64(d, "arp_requests", s->arp_requests);
		SET_U64(d, "arp_replies", s->arp_replies);
		json_object_set_new(r, "dpdk", d);
	}
	char *text = json_dumps(r, JSON_COMPACT | JSON_REAL_PRECISION(6));
	if (text != NULL) {
		fprintf(out, "%s\n", text);
		free(text);
	}
	json_decref(r);
}

static void row(FILE *out, const char *name, uint64_t v)
{
	fprintf(out, "  %-22s %" PRIu64 "\n", name, v);
}

static void report_table(FILE *out, const struct gen_options *o, const struct gen_stats *s,
			 const struct gen_hist *h)
{
	double secs = (double)s->elapsed_ns / 1e9;
	fprintf(out, "sluice-gen: %s, stream %s, producer %" PRIu64 ", %.3f s%s\n",
		transport_name(o->transport), o->stream, o->producer_id, secs,
		o->no_ack ? ", no acks" : "");
	fprintf(out, "frames\n");
	row(out, "sent", s->frames_sent);
	row(out, "transmissions", s->transmissions);
	row(out, "retried", s->retried);
	row(out, "throttled", s->throttled);
	row(out, "throttle resends", s->throttle_resends);
	row(out, "acked", s->frames_acked);
	row(out, "duplicate", s->duplicate);
	row(out, "partial", s->partial);
	row(out, "failed", s->failed);
	row(out, "lost", s->lost);
	if (s->interrupted)
		row(out, "interrupted", s->interrupted);
	fprintf(out, "records\n");
	row(out, "sent", s->records_sent);
	row(out, "acked", s->records_acked);
	row(out, "failed", s->records_failed);
	row(out, "lost", s->records_lost);
	fprintf(out, "answers by status\n");
	for (unsigned i = 0; i <= SL_SLW1_STATUS_MAX; i++) {
		if (s->status[i])
			row(out, gen_status_name(i), s->status[i]);
	}
	fprintf(out, "acks\n");
	row(out, "received", s->acks_received);
	row(out, "late", s->late_acks);
	row(out, "bad", s->bad_acks);
	if (s->bad_acks) {
		row(out, "  format/crc", s->bad_ack_format);
		row(out, "  producer_id", s->bad_ack_producer);
		row(out, "  unknown batch_seq", s->bad_ack_unknown);
		row(out, "  out of order", s->bad_ack_order);
		row(out, "  content", s->bad_ack_content);
	}
	fprintf(out, "transport\n");
	row(out, "send errors", s->send_errors);
	row(out, "reconnects", s->reconnects);
	if (o->transport == GEN_T_DPDK) {
		row(out, "rx packets", s->rx_packets);
		row(out, "rx not for us", s->rx_not_for_us);
		row(out, "rx bad packets", s->rx_bad_packet);
		row(out, "tx dropped", s->tx_dropped);
		row(out, "arp requests sent", s->arp_requests);
		row(out, "arp replies sent", s->arp_replies);
	}
	fprintf(out, "rate\n");
	fprintf(out, "  %-22s %.1f\n", "frames/s", per_second(s->frames_sent, s->elapsed_ns));
	fprintf(out, "  %-22s %.1f\n", "records/s", per_second(s->records_sent, s->elapsed_ns));
	fprintf(out, "  %-22s %.2f\n", "MB/s", per_second(s->bytes_sent, s->elapsed_ns) / 1e6);
	if (h->count) {
		fprintf(out, "ack latency (us, from first send)\n");
		fprintf(out, "  p50 %.1f  p99 %.1f  p999 %.1f  min %.1f  mean %.1f  max %.1f\n",
			us(gen_hist_quantile(h, 0.50)), us(gen_hist_quantile(h, 0.99)),
			us(gen_hist_quantile(h, 0.999)), us(h->min_ns), us(h->sum_ns / h->count),
			us(h->max_ns));
	}
}

void gen_report(FILE *out, const struct gen_options *o, const struct gen_stats *s,
		const struct gen_hist *h, bool json)
{
	if (json)
		report_json(out, o, s, h);
	else
		report_table(out, o, s, h);
	fflush(out);
}
