/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel ingest backend: SLW1 over the host's own network stack, fed
 * into the same ingest core (ingest.h) as the DPDK RX lcores. It serves
 * when no DPDK port is configured or EAL cannot start (ingest.kernel =
 * auto), or beside DPDK (ingest.kernel = on).
 *
 * One thread runs it (sl-kernel-0, started by the daemon after the
 * writers, so it stops before them) with an io_uring of its own:
 * - UDP on ingest.listen: ingest.udp_buffers receive buffers of 64 KiB,
 *   each with a recvmsg kept posted; a buffer whose frame the core keeps is
 *   held until the core releases it, then posted again. One datagram is
 *   one frame; an ack goes back to the datagram's source address, split
 *   into parts of at most ingest.udp_ack_payload_max bytes (WIRE.md).
 * - TCP on the same address: at most ingest.tcp_connections_max
 *   connections (more are accepted and closed at once, counted). Frames
 *   follow each other on a connection, delimited with
 *   sl_slw1_frame_len_peek(); bytes that cannot start a frame, or a frame
 *   longer than SL_SLW1_FRAME_MAX, close the connection (counted). Acks
 *   leave in frame order, one per frame that asked for one, parts = 1.
 *   A connection holds at most ingest.tcp_inflight_max frames awaiting
 *   storage and stops reading beyond that (TCP flow control does the
 *   rest); all connections together hold at most ingest.tcp_buffer_mb of
 *   read buffers. A connection that closes with frames in flight lives on
 *   until the core has released them.
 *
 * Every drop has a counter: the core's "ingest" set (block "kernel"), and
 * this backend's "kernel_ingest" set for what never reached the core
 * (truncated datagrams, refused connections, broken TCP streams, ack
 * sends that failed).
 */
#ifndef SLUICE_KERNEL_H
#define SLUICE_KERNEL_H

#include <stdbool.h>

#include <sluice/config.h>

struct sl_store;
struct sl_kernel_ingest;

/*
 * Whether the daemon runs the kernel backend: ingest.kernel = on always,
 * off never, auto when DPDK has no port to take SLW1 on. Pure.
 */
bool sl_kernel_ingest_wanted(enum sl_config_switch mode, bool dpdk_has_ports);

/*
 * Boot, main thread: bind the UDP socket and the TCP listener to
 * cfg->ingest_listen, create the ingest port (which restores the dedupe
 * windows from st) and the buffers, all sized from cfg's [ingest] keys.
 * cfg is borrowed; st must outlive the backend. Returns 0 and *out, or
 * -errno (logged: -EADDRINUSE when the address is taken).
 */
int sl_kernel_ingest_create(struct sl_store *st, const struct sl_config *cfg,
			    struct sl_kernel_ingest **out);

/*
 * The backend's thread body (sl_thread_fn shape). Creates the io_uring
 * here, on the thread that drives it: with the ring made on the main
 * thread, the main thread's blocking calls saw EINTR (test_kernel, about
 * one run in fifteen). Serves until stop_fd is readable (never read),
 * then stops reading, waits until every frame in flight is answered and
 * released and the TCP acks are written (at most 3/4 of
 * daemon.shutdown_timeout_ms), closes every connection, and returns 0;
 * -ETIMEDOUT when frames were still in flight at the deadline; another
 * -errno when the io_uring failed. Called once.
 */
int sl_kernel_ingest_run(struct sl_kernel_ingest *k, int stop_fd);

/*
 * Free everything, on the thread that ran the backend (or the creator if
 * it never ran). When frames are still in flight (a run that timed out),
 * the ingest port and the buffers are left allocated, since storage may
 * still complete them, and that is logged. NULL: no-op.
 */
void sl_kernel_ingest_destroy(struct sl_kernel_ingest *k);

#endif /* SLUICE_KERNEL_H */
