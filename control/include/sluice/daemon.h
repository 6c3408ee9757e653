/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon's life: boot (data directory and its lock, signals, DPDK EAL or
 * the kernel backend, threads in order), run until SIGTERM/SIGINT or a
 * thread fault, shut down in order (stop ingest, then the API, then flush
 * and fsync in the writers), and leave nothing behind but the data.
 *
 * Called from main.c on the main thread only; nothing here exits.
 */
#ifndef SLUICE_DAEMON_H
#define SLUICE_DAEMON_H

#include <signal.h>

#include <sluice/config.h>
#include <sluice/eal.h>
#include <sluice/rx.h>
#include <sluice/store.h>
#include <sluice/threads.h>

struct sl_daemon;

/* What each writer thread is handed. */
struct sl_daemon_writer {
	struct sl_daemon *d;
	unsigned index;
};

struct sl_daemon {
	struct sl_config cfg;
	struct sl_eal eal;
	struct sl_store *store;
	struct sl_daemon_writer writers[64];
	struct sl_threads *threads;
	struct sl_rx *rx; /* DPDK RX lcores; NULL when DPDK ingest is off */
	int lock_fd;
	int signal_fd;
	int control_ready_fd; /* eventfd: the control thread serves the API */
	sigset_t signals;
	char pid_path[SL_CONFIG_PATH_MAX + 32];
};

/*
 * Boot with a copy of `cfg` (validated by the caller). Returns 0, or a
 * negative errno after logging why, with everything it had set up undone.
 */
int sl_daemon_boot(struct sl_daemon *d, const struct sl_config *cfg);

/*
 * Block until SIGTERM or SIGINT (returns 0) or until a thread returns on
 * its own (returns its error, or -EPIPE if it returned 0).
 */
int sl_daemon_run(struct sl_daemon *d);

/* Stop everything in order and release the data directory. 0 or -errno. */
int sl_daemon_shutdown(struct sl_daemon *d);

#endif /* SLUICE_DAEMON_H */
