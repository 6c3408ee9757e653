/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Quiescent-state-based reclamation: how the control thread swaps a
 * structure that poll loops read without locks (the shard map) and frees
 * the old one only once no reader can still hold it.
 *
 * Each reader thread (an RX lcore, the kernel ingest thread) registers once
 * and reports a quiescent state between bursts (sl_qsbr_quiescent: "I hold
 * no pointer obtained before this call"); a reader about to block for long
 * goes offline and comes back online after. The updater publishes the new
 * pointer, then calls sl_qsbr_synchronize(), which returns once every online
 * reader has been quiescent since; only then does it free the old one.
 *
 * Readers pay one relaxed store and one release store per burst; no read-
 * modify-write, no lock. Register and unregister lock a mutex (boot only).
 */
#ifndef SLUICE_QSBR_H
#define SLUICE_QSBR_H

#include <stdbool.h>
#include <stdint.h>

#define SL_QSBR_READERS_MAX 128

struct sl_qsbr;
struct sl_qsbr_reader;

struct sl_qsbr *sl_qsbr_create(void);
void sl_qsbr_destroy(struct sl_qsbr *q); /* every reader unregistered; NULL: no-op */

/* A reader slot, online from the start. NULL when SL_QSBR_READERS_MAX are taken. */
struct sl_qsbr_reader *sl_qsbr_register(struct sl_qsbr *q);
void sl_qsbr_unregister(struct sl_qsbr_reader *r); /* NULL: no-op */

/* Reader thread: hold no protected pointer across these. */
void sl_qsbr_quiescent(struct sl_qsbr_reader *r);
void sl_qsbr_offline(struct sl_qsbr_reader *r);
void sl_qsbr_online(struct sl_qsbr_reader *r);

/*
 * Updater (one thread at a time): wait until every reader online now has
 * passed a quiescent state or gone offline. Returns 0, or -ETIMEDOUT after
 * timeout_ms (a reader stuck online; the caller must not free then).
 */
int sl_qsbr_synchronize(struct sl_qsbr *q, uint32_t timeout_ms);

#endif /* SLUICE_QSBR_H */
