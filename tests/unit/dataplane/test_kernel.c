/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checks dataplane/kernel.c, the kernel UDP/TCP ingest backend, against a
 * fake ingest core (defined here in place of ingest.c) that answers, drops
 * or keeps each frame as its stream name says and finishes kept frames
 * when the test tells it, in the order it is told. The backend runs its
 * real loop on a thread, on real sockets on 127.0.0.1:
 * - UDP: an ack reaches the datagram's source; kept frames hold their
 *   buffer (with udp_buffers held, further datagrams wait in the socket)
 *   and their bytes stay intact until released; a datagram longer than a
 *   buffer is dropped and counted (udp_truncated, the core's BAD_PACKET);
 *   an ack longer than udp_ack_payload_max goes out in WIRE.md parts;
 * - TCP: acks leave in frame order whatever order the core finishes in,
 *   frames without an ack keep their place; at most tcp_inflight_max
 *   frames of a connection are in the core at once; a peer that reads no
 *   acks stops being read, then resumes; a 3 MiB frame and a
 *   frame that arrives in pieces; garbage and a frame_len over the maximum
 *   close the connection (counted); a connection closed with frames in
 *   flight lives until they are released, their acks counted as dropped
 *   (ACK_TX); tcp_connections_max refuses the next connection (counted);
 *   with tcp_buffer_mb used up a connection waits and resumes when buffers
 *   are freed; an idle connection holds no buffer;
 * - TCP timeouts: a frame left unfinished past tcp_frame_timeout_ms closes
 *   its connection (counted), not before, and only after the acks of the
 *   frames before it, also of one the core still holds; a connection with
 *   nothing to do past tcp_idle_timeout_ms closes (counted), but not while
 *   a frame of it is in flight; one that sends frames slowly but steadily,
 *   each in pieces, for longer than both timeouts stays open; a peer that
 *   reads none of its acks is closed after tcp_idle_timeout_ms (counted,
 *   its acks counted as dropped); a frame this side stops reading (its
 *   bounds) does not time out meanwhile;
 * - stop: frames in flight are waited for and their acks written before
 *   the connections close;
 * - sl_kernel_ingest_wanted, and a taken address refused at create.
 */
#define UDP_BUF_BYTES 4096u
#include "../../../dataplane/kernel.c"

#include <pthread.h>
#include <sluice/crc32c.h>
#include <sys/eventfd.h>
#include <time.h>

#include "check.h"

/* ---- the fake ingest core ---- */

#define FAKE_KEPT_MAX 4096

struct fake_frame {
	void *buf_ref;
	uint64_t cookie;
	uint8_t reply[SL_INGEST_REPLY_BYTES];
	const uint8_t *buf;
	size_t len;
	uint32_t crc; /* of buf[0..len) when kept */
	uint64_t batch_seq;
	uint8_t flags;
};

enum { CMD_NONE = 0, CMD_FINISH_REVERSE, CMD_FINISH_FORWARD };

struct sl_ingest_port {
	struct sl_ingest_options o;
	int wake_fd;
	int cmd; /* atomic: what the test asks the core thread to do */
	/* written by the backend's thread, read by the test (atomics) */
	unsigned kept_count;
	unsigned kept_max;
	unsigned frames;
	unsigned bad_bytes; /* kept frames whose bytes changed before release */
	unsigned finishes;  /* commands carried out */
	uint64_t drops[SL_INGEST_DROP_COUNT];
	struct fake_frame kept[FAKE_KEPT_MAX];
	struct sl_record recs[SL_FRAME_RECORDS_MAX];
	struct sl_slw1_ack_entry ents[SL_FRAME_RECORDS_MAX];
	uint8_t ack[ACK_MAX_BYTES];
};

static struct sl_ingest_port *fake;

int sl_ingest_port_create(struct sl_store *st, const struct sl_ingest_options *o,
			  struct sl_ingest_port **out)
{
	(void)st;
	struct sl_ingest_port *p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	p->o = *o;
	p->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(o->ack_payload_max == 0); /* the backend splits UDP acks itself */
	fake = p;
	*out = p;
	return 0;
}

void sl_ingest_port_destroy(struct sl_ingest_port *p)
{
	if (p == NULL)
		return;
	CHECK_EQ_U64(p->kept_count, 0);
	close(p->wake_fd);
	if (fake == p)
		fake = NULL;
	free(p);
}

/* An ack of n entries, entry i: shard i, first_seq batch_seq * 1000 + i. */
static void fake_ack(struct sl_ingest_port *p, const uint8_t *reply, uint64_t cookie,
		     uint64_t batch_seq, uint8_t status, uint16_t n)
{
	for (uint16_t i = 0; i < n; i++)
		p->ents[i] = (struct sl_slw1_ack_entry){
		    .first_seq = (sl_u128)batch_seq * 1000 + i,
		    .shard = i,
		    .record_count = 1,
		    .status = SL_SLW1_OK,
		};
	struct sl_slw1_ack a = {.batch_seq = batch_seq, .status = status, .part = 0, .parts = 1};
	size_t len = sl_slw1_ack_build(p->ack, sizeof(p->ack), &a, p->ents, n);
	SL_ASSERT(len > 0);
	p->o.ops->send_ack(p->o.backend, reply, cookie, p->ack, len);
}

static bool stream_is(const struct sl_slw1_frame *f, const char *name)
{
	return f->stream_len == strlen(name) && memcmp(f->stream, name, f->stream_len) == 0;
}

/* Streams: "now" answered at once (1 entry), "wide" at once with one
 * entry per record, "drop" dropped silently, "keep" kept. */
bool sl_ingest_frame(struct sl_ingest_port *p, const uint8_t *buf, size_t len, void *buf_ref,
		     const uint8_t *reply, uint64_t cookie)
{
	struct sl_slw1_frame f;
	__atomic_add_fetch(&p->frames, 1, __ATOMIC_RELAXED);
	enum sl_slw1_status st =
	    sl_slw1_parse(buf, len, SL_RECORD_SIZE_LIMIT, &f, p->recs, SL_FRAME_RECORDS_MAX);
	bool ack = f.flags & SL_SLW1_F_ACK_REQUESTED;
	if (st != SL_SLW1_OK) {
		if (ack)
			fake_ack(p, reply, cookie, f.batch_seq, (uint8_t)st, 0);
		return false;
	}
	if (stream_is(&f, "keep")) {
		SL_ASSERT(p->kept_count < FAKE_KEPT_MAX);
		struct fake_frame *k = &p->kept[p->kept_count];
		*k = (struct fake_frame){.buf_ref = buf_ref,
					 .cookie = cookie,
					 .buf = buf,
					 .len = len,
					 .crc = sl_crc32c(buf, len),
					 .batch_seq = f.batch_seq,
					 .flags = f.flags};
		memcpy(k->reply, reply, SL_INGEST_REPLY_BYTES);
		unsigned n = __atomic_add_fetch(&p->kept_count, 1, __ATOMIC_RELAXED);
		if (n > __atomic_load_n(&p->kept_max, __ATOMIC_RELAXED))
			__atomic_store_n(&p->kept_max, n, __ATOMIC_RELAXED);
		return true;
	}
	if (ack && stream_is(&f, "now"))
		fake_ack(p, reply, cookie, f.batch_seq, SL_SLW1_OK, 1);
	if (ack && stream_is(&f, "wide"))
		fake_ack(p, reply, cookie, f.batch_seq, SL_SLW1_OK, f.record_count);
	return false;
}

static void fake_finish_one(struct sl_ingest_port *p, struct fake_frame *k)
{
	if (sl_crc32c(k->buf, k->len) != k->crc)
		__atomic_add_fetch(&p->bad_bytes, 1, __ATOMIC_RELAXED);
	if (k->flags & SL_SLW1_F_ACK_REQUESTED)
		fake_ack(p, k->reply, k->cookie, k->batch_seq, SL_SLW1_OK, 1);
	p->o.ops->release(p->o.backend, k->buf_ref, k->cookie);
}

unsigned sl_ingest_poll(struct sl_ingest_port *p)
{
	int cmd = __atomic_exchange_n(&p->cmd, CMD_NONE, __ATOMIC_ACQ_REL);
	if (cmd == CMD_NONE)
		return 0;
	unsigned n = p->kept_count;
	for (unsigned i = 0; i < n; i++)
		fake_finish_one(p, &p->kept[cmd == CMD_FINISH_REVERSE ? n - 1 - i : i]);
	__atomic_store_n(&p->kept_count, 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&p->finishes, 1, __ATOMIC_RELEASE);
	return n;
}

unsigned sl_ingest_inflight(const struct sl_ingest_port *p)
{
	return __atomic_load_n(&p->kept_count, __ATOMIC_RELAXED);
}

int sl_ingest_wake_fd(const struct sl_ingest_port *p)
{
	return p->wake_fd;
}

void sl_ingest_quiescent(struct sl_ingest_port *p)
{
	(void)p;
}

void sl_ingest_offline(struct sl_ingest_port *p)
{
	(void)p;
}

void sl_ingest_online(struct sl_ingest_port *p)
{
	uint64_t v;
	ssize_t n = read(p->wake_fd, &v, sizeof(v));
	(void)n;
}

void sl_ingest_count_drop(struct sl_ingest_port *p, enum sl_ingest_drop why, uint64_t n)
{
	__atomic_add_fetch(&p->drops[why], n, __ATOMIC_RELAXED);
}

/* Test thread: have the core finish every kept frame (on its thread). */
static void fake_finish_nowait(int cmd)
{
	__atomic_store_n(&fake->cmd, cmd, __ATOMIC_RELEASE);
	uint64_t one = 1;
	ssize_t n = write(fake->wake_fd, &one, sizeof(one));
	(void)n;
}

/* ... and wait until it has (more frames may be kept right after). */
static bool wait_for_at(bool (*cond)(void *), void *arg, unsigned ms);
static unsigned finishes_want;
static bool finished(void *arg)
{
	(void)arg;
	return __atomic_load_n(&fake->finishes, __ATOMIC_ACQUIRE) >= finishes_want;
}

static void fake_finish(int cmd)
{
	finishes_want = __atomic_load_n(&fake->finishes, __ATOMIC_ACQUIRE) + 1;
	fake_finish_nowait(cmd);
	CHECK(wait_for_at(finished, NULL, 2000));
}

/* ---- harness ---- */

struct harness {
	struct sl_kernel_ingest *k;
	pthread_t th;
	int stop_fd;
	int rc;
	struct sockaddr_in udp, tcp; /* where the backend listens */
};

static void *run_thread(void *arg)
{
	struct harness *h = arg;
	h->rc = sl_kernel_ingest_run(h->k, h->stop_fd);
	return NULL;
}

static void test_config(struct sl_config *cfg)
{
	sl_config_defaults(cfg);
	strcpy(cfg->ingest_listen.host, "127.0.0.1");
	cfg->ingest_listen.port = 0; /* any: UDP and TCP each get one */
	cfg->ingest_udp_buffers = 16;
	cfg->ingest_tcp_connections_max = 8;
	cfg->shutdown_timeout_ms = 2000;
}

static void sockname(int fd, struct sockaddr_in *out)
{
	socklen_t len = sizeof(*out);
	CHECK(getsockname(fd, (struct sockaddr *)out, &len) == 0);
}

static void start_backend(struct harness *h, const struct sl_config *cfg, uint64_t tcp_bytes_max)
{
	memset(h, 0, sizeof(*h));
	int rc = sl_kernel_ingest_create(NULL, cfg, &h->k);
	CHECK_EQ_U64(rc, 0);
	SL_ASSERT(rc == 0);
	if (tcp_bytes_max != 0)
		h->k->chunk_bytes_max = tcp_bytes_max;
	sockname(h->k->udp_fd, &h->udp);
	sockname(h->k->tcp_fd, &h->tcp);
	h->stop_fd = eventfd(0, EFD_CLOEXEC);
	CHECK(pthread_create(&h->th, NULL, run_thread, h) == 0);
}

static void stop_backend(struct harness *h)
{
	uint64_t one = 1;
	CHECK(write(h->stop_fd, &one, sizeof(one)) == sizeof(one));
	pthread_join(h->th, NULL);
	CHECK_EQ_U64(h->rc, 0);
	CHECK_EQ_U64(h->k->conns_live, 0);
	CHECK_EQ_U64(h->k->ops, 0);
	CHECK_EQ_U64(h->k->chunk_bytes, 0);
	CHECK_EQ_U64(fake->bad_bytes, 0);
	sl_kernel_ingest_destroy(h->k);
	close(h->stop_fd);
}

static uint64_t counter(const struct harness *h, unsigned idx)
{
	return sl_counter_block_get(h->k->c, idx);
}

static bool wait_for_at(bool (*cond)(void *), void *arg, unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		if (cond(arg))
			return true;
		usleep(1000);
	}
	return cond(arg);
}

struct cwait {
	const struct harness *h;
	unsigned idx;
	uint64_t want;
};
static bool counter_reached(void *arg)
{
	const struct cwait *w = arg;
	return counter(w->h, w->idx) >= w->want;
}
#define WAIT_COUNTER(h, idx, want)                                                                 \
	CHECK(wait_for_at(counter_reached, &(struct cwait){(h), (idx), (want)}, 2000))

static unsigned kept_want;
static bool kept_reached(void *arg)
{
	(void)arg;
	return sl_ingest_inflight(fake) >= kept_want;
}
#define WAIT_KEPT(n)                                                                               \
	do {                                                                                       \
		kept_want = (n);                                                                   \
		CHECK(wait_for_at(kept_reached, NULL, 2000));                                      \
	} while (0)

/* ---- frames and acks ---- */

static size_t build(uint8_t *out, size_t cap, const char *stream, uint64_t seq, bool ack,
		    unsigned records, uint32_t data_len)
{
	static uint8_t data[4u << 20];
	struct sl_record recs[SL_FRAME_RECORDS_MAX];
	SL_ASSERT(records <= SL_FRAME_RECORDS_MAX && data_len <= sizeof(data));
	for (unsigned i = 0; i < records; i++)
		recs[i] = (struct sl_record){
		    .key = (const uint8_t *)"pk", .key_len = 2, .data = data, .data_len = data_len};
	struct sl_slw1_frame_hdr hdr = {
	    .producer_id = 7,
	    .batch_seq = seq,
	    .stream = stream,
	    .stream_len = (uint8_t)strlen(stream),
	    .flags = ack ? SL_SLW1_F_ACK_REQUESTED : 0,
	};
	size_t n = sl_slw1_frame_build(out, cap, &hdr, recs, (uint16_t)records);
	SL_ASSERT(n > 0);
	return n;
}

static int udp_client(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void udp_send_to(int fd, const struct harness *h, const uint8_t *buf, size_t len)
{
	CHECK(sendto(fd, buf, len, 0, (const struct sockaddr *)&h->udp, sizeof(h->udp)) ==
	      (ssize_t)len);
}

/* One ack datagram: 0 and *a, entries; -1 on timeout or a bad ack. */
static int udp_recv_ack(int fd, struct sl_slw1_ack *a, struct sl_slw1_ack_entry *e, size_t *len_out)
{
	uint8_t buf[65536];
	ssize_t n;
	while ((n = recv(fd, buf, sizeof(buf), 0)) < 0 && errno == EINTR)
		;
	if (n <= 0)
		return -1;
	if (len_out != NULL)
		*len_out = (size_t)n;
	return sl_slw1_ack_parse(buf, (size_t)n, a, e, SL_FRAME_RECORDS_MAX) == 0 ? 0 : -1;
}

static int tcp_client(const struct harness *h)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(fd, (const struct sockaddr *)&h->tcp, sizeof(h->tcp)) == 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		CHECK(n > 0);
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static bool recv_exact(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* The next ack on a TCP connection: 0, or -1 (timeout, EOF, bad ack). */
static int tcp_recv_ack(int fd, struct sl_slw1_ack *a)
{
	uint8_t buf[ACK_MAX_BYTES];
	struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];
	if (!recv_exact(fd, buf, SL_SLW1_ACK_HDR_BYTES))
		return -1;
	size_t len = ack_len_at(buf);
	if (!recv_exact(fd, buf + SL_SLW1_ACK_HDR_BYTES, len - SL_SLW1_ACK_HDR_BYTES))
		return -1;
	return sl_slw1_ack_parse(buf, len, a, e, SL_FRAME_RECORDS_MAX) == 0 ? 0 : -1;
}

/* Whether the peer closed: EOF or a reset within the receive timeout. */
static bool closed_by_peer(int fd)
{
	uint8_t b[64];
	for (int i = 0; i < 64; i++) {
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false; /* timeout */
	}
	return false;
}

/* Nothing readable within ms. */
static bool quiet(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, ms) == 0;
}

static uint8_t fbuf[8u << 20];

/* ---- UDP ---- */

static void test_udp_acks_and_buffers(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];
	test_config(&cfg);
	cfg.ingest_udp_buffers = 8;
	start_backend(&h, &cfg, 0);
	int fd = udp_client();

	size_t n = build(fbuf, sizeof(fbuf), "now", 1, true, 1, 10);
	udp_send_to(fd, &h, fbuf, n);
	CHECK(udp_recv_ack(fd, &a, e, NULL) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK_EQ_U64(a.status, SL_SLW1_OK);
	CHECK_EQ_U64(a.entry_count, 1);

	/* Twelve kept frames: eight buffers held, four datagrams wait. */
	for (uint64_t s = 100; s < 112; s++) {
		n = build(fbuf, sizeof(fbuf), "keep", s, true, 2, 100);
		udp_send_to(fd, &h, fbuf, n);
	}
	WAIT_KEPT(8);
	usleep(50 * 1000);
	CHECK_EQ_U64(sl_ingest_inflight(fake), 8);
	CHECK(quiet(fd, 20));
	fake_finish(CMD_FINISH_REVERSE); /* reposts the buffers */
	WAIT_KEPT(4);
	fake_finish(CMD_FINISH_FORWARD);
	uint64_t seen = 0;
	for (int i = 0; i < 12; i++) {
		CHECK(udp_recv_ack(fd, &a, e, NULL) == 0);
		CHECK(a.batch_seq >= 100 && a.batch_seq < 112);
		seen |= 1ull << (a.batch_seq - 100);
	}
	CHECK_EQ_U64(seen, 0xfff);
	CHECK_EQ_U64(counter(&h, C_UDP_DATAGRAMS), 13);
	WAIT_COUNTER(&h, C_UDP_ACK_PARTS, 13);
	CHECK_EQ_U64(counter(&h, C_UDP_ACK_PARTS), 13);

	/* A datagram longer than a buffer: dropped, counted, no ack. */
	n = build(fbuf, sizeof(fbuf), "now", 2, true, 1, UDP_BUF_BYTES);
	CHECK(n > UDP_BUF_BYTES);
	udp_send_to(fd, &h, fbuf, n);
	WAIT_COUNTER(&h, C_UDP_TRUNCATED, 1);
	CHECK_EQ_U64(fake->drops[SL_INGEST_DROP_BAD_PACKET], 1);
	CHECK(quiet(fd, 20));
	/* ... and its buffer serves the next datagram. */
	n = build(fbuf, sizeof(fbuf), "now", 3, true, 1, 10);
	udp_send_to(fd, &h, fbuf, n);
	CHECK(udp_recv_ack(fd, &a, e, NULL) == 0);
	CHECK_EQ_U64(a.batch_seq, 3);
	CHECK_EQ_U64(counter(&h, C_UDP_DATAGRAMS), 14);

	close(fd);
	stop_backend(&h);
}

static void test_udp_ack_split(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];
	test_config(&cfg);
	cfg.ingest_udp_ack_payload_max = 128; /* 3 entries a part */
	start_backend(&h, &cfg, 0);
	int fd = udp_client();

	size_t n = build(fbuf, sizeof(fbuf), "wide", 9, true, 10, 1);
	udp_send_to(fd, &h, fbuf, n);
	uint32_t shard_seen[10] = {0};
	unsigned parts_seen = 0;
	for (int i = 0; i < 4; i++) {
		size_t len = 0;
		CHECK(udp_recv_ack(fd, &a, e, &len) == 0);
		CHECK(len <= 128);
		CHECK_EQ_U64(a.parts, 4);
		CHECK_EQ_U64(a.batch_seq, 9);
		CHECK_EQ_U64(a.entry_count, a.part < 3 ? 3 : 1);
		parts_seen |= 1u << a.part;
		for (unsigned j = 0; j < a.entry_count; j++) {
			unsigned want = a.part * 3u + j; /* entries in order across parts */
			CHECK_EQ_U64(e[j].shard, want);
			CHECK(e[j].first_seq == (sl_u128)9 * 1000 + want);
			if (want < 10)
				shard_seen[want]++;
		}
	}
	CHECK_EQ_U64(parts_seen, 0xf);
	for (int i = 0; i < 10; i++)
		CHECK_EQ_U64(shard_seen[i], 1);
	CHECK(quiet(fd, 20));
	/* An ack that fits goes whole. */
	n = build(fbuf, sizeof(fbuf), "wide", 10, true, 3, 1);
	udp_send_to(fd, &h, fbuf, n);
	CHECK(udp_recv_ack(fd, &a, e, NULL) == 0);
	CHECK_EQ_U64(a.parts, 1);
	CHECK_EQ_U64(a.entry_count, 3);
	WAIT_COUNTER(&h, C_UDP_ACK_PARTS, 5);
	CHECK_EQ_U64(counter(&h, C_UDP_ACK_PARTS), 5);
	close(fd);
	stop_backend(&h);
}

/* ---- TCP ---- */

/* What frame i of the ordering test is. */
enum kind { K_NOW, K_KEEP, K_KEEP_NOACK, K_DROP };
static enum kind kind_of(unsigned i)
{
	if (i % 7 == 3)
		return K_DROP;
	if (i % 5 == 0)
		return K_NOW;
	if (i % 5 == 1)
		return K_KEEP_NOACK;
	return K_KEEP;
}

static void test_tcp_order(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);

	enum { N = 60 };
	size_t at = 0;
	unsigned keep = 0;
	for (unsigned i = 0; i < N; i++) {
		enum kind kd = kind_of(i);
		const char *s = kd == K_NOW ? "now" : kd == K_DROP ? "drop" : "keep";
		at += build(fbuf + at, sizeof(fbuf) - at, s, i, kd != K_KEEP_NOACK, 1 + i % 3, 50);
		keep += kd == K_KEEP || kd == K_KEEP_NOACK;
	}
	send_all(fd, fbuf, at);
	WAIT_KEPT(keep);
	/* Frame 0 is answered at once; frame 1 (kept, no ack) holds the rest. */
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 0);
	CHECK(quiet(fd, 30));
	fake_finish(CMD_FINISH_REVERSE);
	for (unsigned i = 1; i < N; i++) {
		if (kind_of(i) == K_KEEP_NOACK || kind_of(i) == K_DROP)
			continue;
		CHECK(tcp_recv_ack(fd, &a) == 0);
		CHECK_EQ_U64(a.batch_seq, i);
		CHECK_EQ_U64(a.parts, 1);
	}
	CHECK(quiet(fd, 20));
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), N);
	CHECK(counter(&h, C_TCP_ACKS_HELD) > 0);
	close(fd);
	WAIT_COUNTER(&h, C_TCP_CLOSED, 1);
	stop_backend(&h);
}

static void test_tcp_inflight_bound(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_inflight_max = 4;
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	size_t at = 0;
	for (unsigned i = 0; i < 20; i++)
		at += build(fbuf + at, sizeof(fbuf) - at, "keep", i, true, 1, 10);
	send_all(fd, fbuf, at);
	for (int round = 0; round < 5; round++) {
		WAIT_KEPT(4);
		usleep(20 * 1000);
		CHECK_EQ_U64(sl_ingest_inflight(fake), 4);
		CHECK_EQ_U64(__atomic_load_n(&fake->frames, __ATOMIC_RELAXED), 4u * (round + 1));
		fake_finish(round % 2 ? CMD_FINISH_REVERSE : CMD_FINISH_FORWARD);
	}
	for (unsigned i = 0; i < 20; i++) {
		CHECK(tcp_recv_ack(fd, &a) == 0);
		CHECK_EQ_U64(a.batch_seq, i);
	}
	CHECK_EQ_U64(fake->kept_max, 4);
	close(fd);
	stop_backend(&h);
}

struct sender {
	int fd;
	const uint8_t *buf;
	size_t len;
};

static void *send_thread(void *arg)
{
	struct sender *sd = arg;
	send_all(sd->fd, sd->buf, sd->len);
	return NULL;
}

/* A peer that does not read its acks: the backend stops reading its
 * frames (the acks it holds stay bounded), and resumes as the peer reads. */
static void test_tcp_slow_reader(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	CHECK(connect(fd, (const struct sockaddr *)&h.tcp, sizeof(h.tcp)) == 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	enum { N = 60000 };
	size_t at = 0;
	for (unsigned i = 0; i < N; i++)
		at += build(fbuf + at, sizeof(fbuf) - at, "now", i, true, 1, 1);
	struct sender sd = {.fd = fd, .buf = fbuf, .len = at};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, send_thread, &sd) == 0);
	usleep(300 * 1000);
	/* 60000 acks of 60 bytes do not fit the socket buffers: reading stopped. */
	unsigned taken = __atomic_load_n(&fake->frames, __ATOMIC_RELAXED);
	CHECK(taken < N);
	CHECK(taken > 0);
	for (unsigned i = 0; i < N; i++) {
		if (tcp_recv_ack(fd, &a) != 0) {
			CHECK(!"ack missing");
			break;
		}
		if (a.batch_seq != i) {
			CHECK_EQ_U64(a.batch_seq, i);
			break;
		}
	}
	pthread_join(th, NULL);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), N);
	close(fd);
	stop_backend(&h);
}

static bool no_tcp_buffers(void *arg)
{
	const struct harness *h = arg;
	return __atomic_load_n(&h->k->chunk_bytes, __ATOMIC_RELAXED) == 0;
}

static void test_tcp_large_and_pieces(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);

	/* 3 MiB in one frame, after a small one in the same write. */
	size_t at = build(fbuf, sizeof(fbuf), "now", 1, true, 1, 10);
	at += build(fbuf + at, sizeof(fbuf) - at, "now", 2, true, 1, 3u << 20);
	send_all(fd, fbuf, at);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 2);
	CHECK_EQ_U64(a.status, SL_SLW1_OK);

	/* A frame in pieces: inside the length field, then inside a record. */
	size_t n = build(fbuf, sizeof(fbuf), "now", 3, true, 2, 1000);
	send_all(fd, fbuf, 10);
	usleep(20 * 1000);
	send_all(fd, fbuf + 10, 500);
	usleep(20 * 1000);
	CHECK(quiet(fd, 10));
	send_all(fd, fbuf + 510, n - 510);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 3);

	/* Idle: the connection holds no read buffer. */
	CHECK(wait_for_at(no_tcp_buffers, &h, 2000));
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), 3);
	close(fd);
	stop_backend(&h);
}

static void test_tcp_bad_streams(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);

	/* A frame, then garbage: the frame is answered, then the close. */
	int fd = tcp_client(&h);
	size_t n = build(fbuf, sizeof(fbuf), "now", 1, true, 1, 10);
	memset(fbuf + n, 'x', 64);
	send_all(fd, fbuf, n + 64);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK(closed_by_peer(fd));
	CHECK_EQ_U64(counter(&h, C_TCP_BAD_STREAM), 1);
	close(fd);

	/* A well-formed header announcing more than SL_SLW1_FRAME_MAX. */
	fd = tcp_client(&h);
	n = build(fbuf, sizeof(fbuf), "now", 2, true, 1, 10);
	uint32_t big = SL_SLW1_FRAME_MAX + 1;
	fbuf[8] = (uint8_t)(big >> 24);
	fbuf[9] = (uint8_t)(big >> 16);
	fbuf[10] = (uint8_t)(big >> 8);
	fbuf[11] = (uint8_t)big;
	send_all(fd, fbuf, n);
	CHECK(closed_by_peer(fd));
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TOO_LONG), 1);
	close(fd);

	/* A peer that leaves inside a frame. */
	fd = tcp_client(&h);
	n = build(fbuf, sizeof(fbuf), "now", 3, true, 1, 100);
	send_all(fd, fbuf, n / 2);
	usleep(20 * 1000);
	close(fd);
	WAIT_COUNTER(&h, C_TCP_PARTIAL_FRAMES, 1);
	WAIT_COUNTER(&h, C_TCP_CLOSED, 3);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), 1);
	stop_backend(&h);
}

static bool no_conns(void *arg)
{
	const struct harness *h = arg;
	return __atomic_load_n(&h->k->conns_live, __ATOMIC_RELAXED) == 0;
}

static void test_tcp_close_in_flight(void)
{
	struct sl_config cfg;
	struct harness h;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	size_t at = 0;
	for (unsigned i = 0; i < 10; i++)
		at += build(fbuf + at, sizeof(fbuf) - at, "keep", i, true, 1, 10);
	send_all(fd, fbuf, at);
	WAIT_KEPT(10);
	close(fd);
	WAIT_COUNTER(&h, C_TCP_CLOSED, 1);
	CHECK_EQ_U64(__atomic_load_n(&h.k->conns_live, __ATOMIC_RELAXED), 1); /* kept alive */
	fake_finish(CMD_FINISH_REVERSE);
	CHECK(wait_for_at(no_conns, &h, 2000));
	CHECK_EQ_U64(counter(&h, C_ACKS_ORPHANED), 10);
	CHECK_EQ_U64(fake->drops[SL_INGEST_DROP_ACK_TX], 10);
	stop_backend(&h);
}

static void test_tcp_connections_max(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_connections_max = 2;
	start_backend(&h, &cfg, 0);
	int fds[2];
	for (int i = 0; i < 2; i++) {
		fds[i] = tcp_client(&h);
		size_t n = build(fbuf, sizeof(fbuf), "now", (uint64_t)i, true, 1, 10);
		send_all(fds[i], fbuf, n);
		CHECK(tcp_recv_ack(fds[i], &a) == 0);
	}
	int third = tcp_client(&h);
	CHECK(closed_by_peer(third));
	WAIT_COUNTER(&h, C_TCP_REFUSED, 1);
	close(third);
	close(fds[0]);
	WAIT_COUNTER(&h, C_TCP_CLOSED, 1);
	int again = tcp_client(&h);
	size_t n = build(fbuf, sizeof(fbuf), "now", 5, true, 1, 10);
	send_all(again, fbuf, n);
	CHECK(tcp_recv_ack(again, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 5);
	CHECK_EQ_U64(counter(&h, C_TCP_REFUSED), 1);
	close(again);
	close(fds[1]);
	stop_backend(&h);
}

static void test_tcp_memory_wait(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 2 * (uint64_t)CHUNK_BYTES);
	int fa = tcp_client(&h), fb = tcp_client(&h), fc = tcp_client(&h);
	size_t n = build(fbuf, sizeof(fbuf), "keep", 1, true, 1, 10);
	send_all(fa, fbuf, n);
	WAIT_KEPT(1);
	n = build(fbuf, sizeof(fbuf), "keep", 2, true, 1, 10);
	send_all(fb, fbuf, n);
	WAIT_KEPT(2);
	/* Both chunks are held by kept frames: c waits for memory. */
	n = build(fbuf, sizeof(fbuf), "now", 3, true, 1, 10);
	send_all(fc, fbuf, n);
	WAIT_COUNTER(&h, C_TCP_MEMORY_WAITS, 1);
	CHECK(quiet(fc, 30));
	fake_finish(CMD_FINISH_FORWARD);
	CHECK(tcp_recv_ack(fa, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK(tcp_recv_ack(fb, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 2);
	CHECK(tcp_recv_ack(fc, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 3);
	close(fa);
	close(fb);
	close(fc);
	stop_backend(&h);
}

/* ---- TCP timeouts ---- */

/* Loop-clock reads may lead a test's own by a little. */
#define CLOCK_SLACK_MS 10

static uint64_t ms_since(uint64_t t0_ns)
{
	return (sl_clock_mono_ns() - t0_ns) / SL_NS_PER_MS;
}

/* Frames 1 (answered at once) and 2 (kept), then half of frame 3, which
 * stalls: the acks of 1 and 2 come first, then the close. */
static void test_tcp_frame_timeout(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_frame_timeout_ms = 300;
	cfg.ingest_tcp_idle_timeout_ms = 0; /* never */
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	size_t at = build(fbuf, sizeof(fbuf), "now", 1, true, 1, 10);
	at += build(fbuf + at, sizeof(fbuf) - at, "keep", 2, true, 1, 10);
	size_t n3 = build(fbuf + at, sizeof(fbuf) - at, "now", 3, true, 1, 100);
	uint64_t t0 = sl_clock_mono_ns();
	send_all(fd, fbuf, at + n3 / 2);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	WAIT_KEPT(1);
	WAIT_COUNTER(&h, C_TCP_FRAME_TIMEOUTS, 1);
	CHECK(ms_since(t0) + CLOCK_SLACK_MS >= 300);
	/* Frame 2 is still in the core: the connection waits for its ack. */
	CHECK(quiet(fd, 100));
	CHECK_EQ_U64(counter(&h, C_TCP_CLOSED), 0);
	fake_finish(CMD_FINISH_FORWARD);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 2);
	CHECK(closed_by_peer(fd));
	WAIT_COUNTER(&h, C_TCP_CLOSED, 1);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), 2);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 1);
	CHECK_EQ_U64(counter(&h, C_TCP_IDLE_TIMEOUTS), 0);
	CHECK_EQ_U64(counter(&h, C_ACKS_ORPHANED), 0);
	close(fd);

	/* Stalled inside the header (too short to know the frame's length). */
	fd = tcp_client(&h);
	size_t n = build(fbuf, sizeof(fbuf), "now", 4, true, 1, 10);
	t0 = sl_clock_mono_ns();
	send_all(fd, fbuf, 5);
	CHECK(closed_by_peer(fd));
	CHECK(ms_since(t0) + CLOCK_SLACK_MS >= 300);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 2);
	CHECK(n > 5);
	close(fd);
	stop_backend(&h);
}

/* A frame this side stopped reading (tcp_inflight_max reached) does not
 * time out: its clock stops until reading resumes. */
static void test_tcp_frame_timeout_paused(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_frame_timeout_ms = 100;
	cfg.ingest_tcp_inflight_max = 1;
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	/* Frame 2 is longer than a read chunk: part of it is read with frame 1. */
	size_t at = build(fbuf, sizeof(fbuf), "keep", 1, true, 1, 10);
	at += build(fbuf + at, sizeof(fbuf) - at, "now", 2, true, 1, 2 * CHUNK_BYTES);
	send_all(fd, fbuf, at);
	WAIT_KEPT(1);
	CHECK(quiet(fd, 400));
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 0);
	fake_finish(CMD_FINISH_FORWARD);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 2);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 0);
	CHECK_EQ_U64(counter(&h, C_TCP_CLOSED), 0);
	close(fd);
	stop_backend(&h);
}

/* A connection that sent nothing closes after the idle timeout; one with
 * a frame in the core does not, until the frame is answered and the
 * timeout has passed again. */
static void test_tcp_idle_timeout(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_idle_timeout_ms = 300;
	start_backend(&h, &cfg, 0);
	uint64_t t0 = sl_clock_mono_ns();
	int fd = tcp_client(&h);
	CHECK(closed_by_peer(fd));
	CHECK(ms_since(t0) + CLOCK_SLACK_MS >= 300);
	WAIT_COUNTER(&h, C_TCP_IDLE_TIMEOUTS, 1);
	close(fd);

	fd = tcp_client(&h);
	size_t n = build(fbuf, sizeof(fbuf), "keep", 1, true, 1, 10);
	send_all(fd, fbuf, n);
	WAIT_KEPT(1);
	CHECK(quiet(fd, 700)); /* more than twice the timeout: no EOF */
	CHECK_EQ_U64(counter(&h, C_TCP_IDLE_TIMEOUTS), 1);
	t0 = sl_clock_mono_ns();
	fake_finish(CMD_FINISH_FORWARD);
	CHECK(tcp_recv_ack(fd, &a) == 0);
	CHECK_EQ_U64(a.batch_seq, 1);
	CHECK(closed_by_peer(fd));
	CHECK(ms_since(t0) + CLOCK_SLACK_MS >= 300);
	WAIT_COUNTER(&h, C_TCP_IDLE_TIMEOUTS, 2);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 0);
	close(fd);
	stop_backend(&h);
}

/* Frames each in two pieces 40 ms apart, one every 100 ms, for about
 * 2 s: longer than both timeouts, and the connection stays open. */
static void test_tcp_slow_steady(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	cfg.ingest_tcp_frame_timeout_ms = 300;
	cfg.ingest_tcp_idle_timeout_ms = 400;
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	enum { N = 20 };
	for (unsigned i = 0; i < N; i++) {
		size_t n = build(fbuf, sizeof(fbuf), "now", i, true, 2, 200);
		send_all(fd, fbuf, n / 2);
		usleep(40 * 1000);
		send_all(fd, fbuf + n / 2, n - n / 2);
		CHECK(tcp_recv_ack(fd, &a) == 0);
		CHECK_EQ_U64(a.batch_seq, i);
		usleep(60 * 1000);
	}
	CHECK_EQ_U64(counter(&h, C_TCP_FRAMES), N);
	CHECK_EQ_U64(counter(&h, C_TCP_CLOSED), 0);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 0);
	CHECK_EQ_U64(counter(&h, C_TCP_IDLE_TIMEOUTS), 0);
	/* Then it stops: idle. */
	CHECK(closed_by_peer(fd));
	CHECK_EQ_U64(counter(&h, C_TCP_IDLE_TIMEOUTS), 1);
	close(fd);
	stop_backend(&h);
}

/* Read until the peer closes (EOF or reset): whether it did within the
 * receive timeout, bounded by max_bytes. */
static bool drained_to_close(int fd, size_t max_bytes)
{
	uint8_t b[4096];
	for (size_t got = 0; got <= max_bytes;) {
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		got += (size_t)n;
	}
	return false;
}

/* A peer that sends frames but reads no acks: reading stops, and after
 * the idle timeout with no ack written the connection closes, its
 * unwritten acks counted as dropped. */
static void test_tcp_ack_timeout(void)
{
	struct sl_config cfg;
	struct harness h;
	test_config(&cfg);
	cfg.ingest_tcp_frame_timeout_ms = 100;
	cfg.ingest_tcp_idle_timeout_ms = 300;
	start_backend(&h, &cfg, 0);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	CHECK(connect(fd, (const struct sockaddr *)&h.tcp, sizeof(h.tcp)) == 0);
	struct timeval tv = {.tv_sec = 2};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	enum { N = 60000 };
	size_t at = 0;
	for (unsigned i = 0; i < N; i++)
		at += build(fbuf + at, sizeof(fbuf) - at, "now", i, true, 1, 1);
	/* Send until the backend stops taking bytes (100 ms without room) or
	 * all is in the socket buffers. */
	size_t sent = 0;
	uint64_t t0 = sl_clock_mono_ns();
	for (unsigned tries = 0; sent < at && tries < 100000; tries++) {
		ssize_t n = send(fd, fbuf + sent, at - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, 100) == 0)
			break;
	}
	WAIT_COUNTER(&h, C_TCP_ACK_TIMEOUTS, 1);
	CHECK(ms_since(t0) + CLOCK_SLACK_MS >= 300);
	CHECK(drained_to_close(fd, at));
	CHECK(wait_for_at(no_conns, &h, 2000));
	uint64_t orphaned = counter(&h, C_ACKS_ORPHANED);
	CHECK(orphaned > 0);
	CHECK_EQ_U64(fake->drops[SL_INGEST_DROP_ACK_TX], orphaned);
	CHECK_EQ_U64(counter(&h, C_TCP_ACK_TIMEOUTS), 1);
	CHECK_EQ_U64(counter(&h, C_TCP_FRAME_TIMEOUTS), 0);
	CHECK_EQ_U64(counter(&h, C_TCP_IDLE_TIMEOUTS), 0);
	CHECK(counter(&h, C_TCP_FRAMES) < N); /* it stopped reading */
	close(fd);
	stop_backend(&h);
}

/* Finish the kept frames a little after the stop began. */
static void *finish_later(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	fake_finish_nowait(CMD_FINISH_REVERSE); /* the port is gone once stopped */
	return NULL;
}

static void test_stop_drains(void)
{
	struct sl_config cfg;
	struct harness h;
	struct sl_slw1_ack a;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	int fd = tcp_client(&h);
	int ufd = udp_client();
	size_t at = 0;
	for (unsigned i = 0; i < 5; i++)
		at += build(fbuf + at, sizeof(fbuf) - at, "keep", i, true, 1, 10);
	send_all(fd, fbuf, at);
	size_t n = build(fbuf, sizeof(fbuf), "keep", 50, true, 1, 10);
	udp_send_to(ufd, &h, fbuf, n);
	WAIT_KEPT(6);
	pthread_t th;
	CHECK(pthread_create(&th, NULL, finish_later, NULL) == 0);
	stop_backend(&h); /* returns once the frames are answered */
	pthread_join(th, NULL);
	for (unsigned i = 0; i < 5; i++) {
		CHECK(tcp_recv_ack(fd, &a) == 0);
		CHECK_EQ_U64(a.batch_seq, i);
	}
	CHECK(closed_by_peer(fd));
	struct sl_slw1_ack_entry e[SL_FRAME_RECORDS_MAX];
	CHECK(udp_recv_ack(ufd, &a, e, NULL) == 0);
	CHECK_EQ_U64(a.batch_seq, 50);
	close(fd);
	close(ufd);
}

static void test_wanted_and_bind(void)
{
	CHECK(sl_kernel_ingest_wanted(SL_SWITCH_ON, true));
	CHECK(sl_kernel_ingest_wanted(SL_SWITCH_ON, false));
	CHECK(!sl_kernel_ingest_wanted(SL_SWITCH_OFF, false));
	CHECK(!sl_kernel_ingest_wanted(SL_SWITCH_OFF, true));
	CHECK(sl_kernel_ingest_wanted(SL_SWITCH_AUTO, false));
	CHECK(!sl_kernel_ingest_wanted(SL_SWITCH_AUTO, true));

	struct sl_config cfg;
	struct harness h;
	test_config(&cfg);
	start_backend(&h, &cfg, 0);
	struct sl_config other = cfg;
	other.ingest_listen.port = ntohs(h.tcp.sin_port);
	struct sl_kernel_ingest *k2 = NULL;
	CHECK_EQ_U64(sl_kernel_ingest_create(NULL, &other, &k2), -EADDRINUSE);
	CHECK(k2 == NULL);
	strcpy(other.ingest_listen.host, "localhost"); /* taken as 127.0.0.1 */
	CHECK_EQ_U64(sl_kernel_ingest_create(NULL, &other, &k2), -EADDRINUSE);
	stop_backend(&h);
}

int main(void)
{
	test_wanted_and_bind();
	test_udp_acks_and_buffers();
	test_udp_ack_split();
	test_tcp_order();
	test_tcp_inflight_bound();
	test_tcp_slow_reader();
	test_tcp_large_and_pieces();
	test_tcp_bad_streams();
	test_tcp_close_in_flight();
	test_tcp_connections_max();
	test_tcp_memory_wait();
	test_tcp_frame_timeout();
	test_tcp_frame_timeout_paused();
	test_tcp_idle_timeout();
	test_tcp_slow_steady();
	test_tcp_ack_timeout();
	test_stop_drains();
	return sl_check_finish("kernel");
}
