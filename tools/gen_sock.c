/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluice-gen: the kernel socket transports.
 *
 * UDP: one connected socket; a frame is one datagram, an ack datagram is
 * handed to the engine as it comes. A refused or failed send (an ICMP port
 * unreachable reported on the socket, no buffer space) is counted in
 * send_errors and left to the frame's timeout.
 *
 * TCP: one connection; frames go back to back through an output buffer
 * (non-blocking writes, so acks are read while frames are still going
 * out), acks are cut from the byte stream by their own length (32 + 24 *
 * entry_count + 4). Bytes that cannot start an ack (wrong magic, more
 * entries than a frame can have records) mean the stream lost sync: counted
 * as a bad ack and the connection is dropped (-EPIPE), like a peer that
 * closed it; the engine reconnects and resends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/error.h>

#include "gen.h"

#define UDP_RECV_BURST 256       /* datagrams read per poll */
#define SOCK_BUF_BYTES (4 << 20) /* SO_RCVBUF / SO_SNDBUF asked for */
#define TCP_OUT_MIN    (1 << 20)
#define TCP_IN_BYTES   (64 << 10)
#define ACK_BYTES_MAX                                                                              \
	(SL_SLW1_ACK_HDR_BYTES + SL_FRAME_RECORDS_MAX * SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES)
#define TCP_ACKS_PER_POLL 4096 /* acks cut from the stream per poll */

SL_STATIC_ASSERT(ACK_BYTES_MAX <= TCP_IN_BYTES);

struct sock {
	struct gen_transport t;
	int fd;
	bool tcp;
	char host[GEN_HOST_MAX + 1];
	char port[8];
	uint64_t connect_timeout_ns;
	/* TCP */
	uint8_t *out;
	size_t out_cap, out_head, out_tail;
	uint8_t in[TCP_IN_BYTES];
	size_t in_len;
	/* UDP */
	uint8_t dgram[GEN_UDP_PAYLOAD_MAX + 1];
};

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / SL_NS_PER_S),
				 .tv_nsec = (long)(ns % SL_NS_PER_S)};
}

static void set_bufs(int fd)
{
	int v = SOCK_BUF_BYTES;
	/* Best effort: the kernel caps them at net.core.*mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

/* Connect a non-blocking socket, waiting at most timeout_ns. */
static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len, uint64_t timeout_ns)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return sl_neg_errno();
	struct pollfd pfd = {.fd = fd, .events = POLLOUT};
	struct timespec ts = to_timespec(timeout_ns);
	int n = ppoll(&pfd, 1, &ts, NULL);
	if (n < 0)
		return sl_neg_errno();
	if (n == 0)
		return -ETIMEDOUT;
	int err = 0;
	socklen_t el = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
		return sl_neg_errno();
	return err ? -err : 0;
}

/* Resolve and connect (TCP: with a timeout); fd non-blocking. */
static int sock_connect(struct sock *s)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = s->tcp ? SOCK_STREAM : SOCK_DGRAM};
	struct addrinfo *res = NULL;
	int gai = getaddrinfo(s->host, s->port, &hints, &res);
	if (gai != 0) {
		snprintf(s->t.why, sizeof(s->t.why), "cannot resolve %s: %s", s->host,
			 gai_strerror(gai));
		return -EHOSTUNREACH;
	}
	int rc = -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = sl_neg_errno();
			continue;
		}
		set_bufs(fd);
		rc = connect_wait(fd, ai->ai_addr, ai->ai_addrlen, s->connect_timeout_ns);
		if (rc == 0) {
			if (s->tcp) {
				int one = 1;
				(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			}
			s->fd = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	if (rc != 0)
		snprintf(s->t.why, sizeof(s->t.why), "cannot connect to %s port %s (%s): %s",
			 s->host, s->port, s->tcp ? "tcp" : "udp", sl_strerror(rc));
	return rc;
}

/* ---- UDP ---- */

static int udp_send(struct gen_transport *t, const uint8_t *buf, size_t len)
{
	struct sock *s = (struct sock *)t;
	for (;;) {
		ssize_t n = send(s->fd, buf, len, 0);
		if (n == (ssize_t)len)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* Socket buffer full: wait for room, briefly. */
			struct pollfd pfd = {.fd = s->fd, .events = POLLOUT};
			struct timespec ts = to_timespec(10 * SL_NS_PER_MS);
			if (ppoll(&pfd, 1, &ts, NULL) > 0)
				continue;
		}
		t->stats->send_errors++;
		return 0;
	}
}

static bool always_room(struct gen_transport *t, size_t len)
{
	(void)t;
	(void)len;
	return true;
}

static bool always_idle(struct gen_transport *t)
{
	(void)t;
	return true;
}

static int udp_poll(struct gen_transport *t, uint64_t wait_ns, gen_ack_fn *ack, void *arg)
{
	struct sock *s = (struct sock *)t;
	struct pollfd pfd = {.fd = s->fd, .events = POLLIN};
	struct timespec ts = to_timespec(wait_ns);
	int n = ppoll(&pfd, 1, &ts, NULL);
	if (n <= 0)
		return n < 0 && errno != EINTR ? sl_neg_errno() : 0;
	int got = 0;
	for (int i = 0; i < UDP_RECV_BURST; i++) {
		ssize_t r = recv(s->fd, s->dgram, sizeof(s->dgram), MSG_DONTWAIT | MSG_TRUNC);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			/* ICMP unreachable for an earlier datagram, and the like. */
			t->stats->send_errors++;
			continue;
		}
		/* Longer than any datagram: hand over what fits; it fails the
		 * length check and counts as a bad ack. */
		size_t len = (size_t)r < sizeof(s->dgram) ? (size_t)r : sizeof(s->dgram);
		ack(arg, s->dgram, len);
		got++;
	}
	return got;
}

static int no_reconnect(struct gen_transport *t)
{
	(void)t;
	return -EOPNOTSUPP;
}

static void sock_destroy(struct gen_transport *t)
{
	struct sock *s = (struct sock *)t;
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->out);
	free(s);
}

static const struct gen_transport_ops udp_ops = {
    .send = udp_send,
    .room = always_room,
    .poll = udp_poll,
    .reconnect = no_reconnect,
    .idle = always_idle,
    .destroy = sock_destroy,
};

/* ---- TCP ---- */

/* Write what the socket takes now. 0, or -EPIPE when the connection broke. */
static int tcp_flush(struct sock *s)
{
	while (s->out_head < s->out_tail) {
		ssize_t n =
		    send(s->fd, s->out + s->out_head, s->out_tail - s->out_head, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			snprintf(s->t.why, sizeof(s->t.why), "send: %s", sl_strerror(-errno));
			return -EPIPE;
		}
		s->out_head += (size_t)n;
	}
	s->out_head = s->out_tail = 0;
	return 0;
}

static bool tcp_room(struct gen_transport *t, size_t len)
{
	struct sock *s = (struct sock *)t;
	return s->out_cap - (s->out_tail - s->out_head) >= len;
}

static int tcp_send(struct gen_transport *t, const uint8_t *buf, size_t len)
{
	struct sock *s = (struct sock *)t;
	if (!tcp_room(t, len))
		return -EAGAIN;
	if (s->out_cap - s->out_tail < len) {
		memmove(s->out, s->out + s->out_head, s->out_tail - s->out_head);
		s->out_tail -= s->out_head;
		s->out_head = 0;
	}
	memcpy(s->out + s->out_tail, buf, len);
	s->out_tail += len;
	return tcp_flush(s);
}

/*
 * Cut the complete acks at the front of the input buffer and hand them
 * over. Returns how many, or -EPIPE when the stream cannot be an ack stream.
 */
static int tcp_cut_acks(struct sock *s, gen_ack_fn *ack, void *arg)
{
	size_t off = 0;
	int got = 0;
	while (s->in_len - off >= SL_SLW1_ACK_HDR_BYTES && got < TCP_ACKS_PER_POLL) {
		const uint8_t *p = s->in + off;
		uint32_t magic =
		    (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		size_t entries = (size_t)p[28] << 8 | p[29];
		if (magic != SL_SLW1_ACK_MAGIC || entries > SL_FRAME_RECORDS_MAX) {
			s->t.stats->acks_received++;
			s->t.stats->bad_acks++;
			s->t.stats->bad_ack_format++;
			snprintf(s->t.why, sizeof(s->t.why), "the ack stream lost sync");
			return -EPIPE;
		}
		size_t len =
		    SL_SLW1_ACK_HDR_BYTES + entries * SL_SLW1_ACK_ENTRY_BYTES + SL_SLW1_CRC_BYTES;
		if (s->in_len - off < len)
			break;
		ack(arg, p, len);
		off += len;
		got++;
	}
	memmove(s->in, s->in + off, s->in_len - off);
	s->in_len -= off;
	return got;
}

static int tcp_read(struct sock *s, gen_ack_fn *ack, void *arg)
{
	int got = 0;
	for (;;) {
		ssize_t n = recv(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return got;
		if (n <= 0) {
			snprintf(s->t.why, sizeof(s->t.why), "connection %s",
				 n == 0 ? "closed by the peer" : sl_strerror(-errno));
			return -EPIPE;
		}
		s->in_len += (size_t)n;
		int rc = tcp_cut_acks(s, ack, arg);
		if (rc < 0)
			return rc;
		got += rc;
		if (got >= TCP_ACKS_PER_POLL)
			return got;
	}
}

static int tcp_poll(struct gen_transport *t, uint64_t wait_ns, gen_ack_fn *ack, void *arg)
{
	struct sock *s = (struct sock *)t;
	bool pending = s->out_head < s->out_tail;
	struct pollfd pfd = {.fd = s->fd, .events = (short)(POLLIN | (pending ? POLLOUT : 0))};
	struct timespec ts = to_timespec(wait_ns);
	int n = ppoll(&pfd, 1, &ts, NULL);
	if (n < 0)
		return errno == EINTR ? 0 : sl_neg_errno();
	if (n == 0)
		return 0;
	if (pfd.revents & POLLOUT) {
		int rc = tcp_flush(s);
		if (rc < 0)
			return rc;
	}
	if (pfd.revents & (POLLIN | POLLERR | POLLHUP))
		return tcp_read(s, ack, arg);
	return 0;
}

static int tcp_reconnect(struct gen_transport *t)
{
	struct sock *s = (struct sock *)t;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->out_head = s->out_tail = 0;
	s->in_len = 0;
	return sock_connect(s);
}

static bool tcp_idle(struct gen_transport *t)
{
	struct sock *s = (struct sock *)t;
	return s->out_head == s->out_tail;
}

static const struct gen_transport_ops tcp_ops = {
    .send = tcp_send,
    .room = tcp_room,
    .poll = tcp_poll,
    .reconnect = tcp_reconnect,
    .idle = tcp_idle,
    .destroy = sock_destroy,
};

int gen_sock_open(const struct gen_options *o, struct gen_stats *stats, struct gen_transport **out,
		  char *why, size_t why_cap)
{
	SL_ASSERT(o->transport == GEN_T_UDP || o->transport == GEN_T_TCP);
	struct sock *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(why, why_cap, "out of memory");
		return -ENOMEM;
	}
	s->fd = -1;
	s->tcp = o->transport == GEN_T_TCP;
	s->t.ops = s->tcp ? &tcp_ops : &udp_ops;
	s->t.ordered = s->tcp;
	s->t.stats = stats;
	s->t.payload_max = s->tcp ? SL_SLW1_FRAME_MAX : GEN_UDP_PAYLOAD_MAX;
	s->connect_timeout_ns = o->timeout_ns;
	snprintf(s->host, sizeof(s->host), "%s", o->host);
	snprintf(s->port, sizeof(s->port), "%u", (unsigned)o->port);
	if (s->tcp) {
		uint64_t frame = gen_frame_bytes_max(o);
		s->out_cap = frame > TCP_OUT_MIN ? (size_t)frame : TCP_OUT_MIN;
		s->out = malloc(s->out_cap);
		if (s->out == NULL) {
			snprintf(why, why_cap, "out of memory");
			sock_destroy(&s->t);
			return -ENOMEM;
		}
	}
	int rc = sock_connect(s);
	if (rc != 0) {
		snprintf(why, why_cap, "%s", s->t.why);
		sock_destroy(&s->t);
		return rc;
	}
	*out = &s->t;
	return 0;
}
