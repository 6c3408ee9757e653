/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Boot order, run loop and shutdown order of sluiced (see daemon.h).
 *
 * Boot: signals are blocked first, so every thread (EAL's included)
 * inherits the mask and only the main thread sees them, through a
 * signalfd. Then the data directory is created and locked (flock on
 * sluiced.pid, which holds our pid), EAL is started or the reason it was not
 * is logged in one line, and the threads start: writers, then control.
 * Shutdown stops them newest first, then releases EAL and the lock file.
 */
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/daemon.h>
#include <sluice/error.h>
#include <sluice/fs.h>
#include <sluice/log.h>

#include "sl_build.h"

#define SUBSYS "daemon"

/* Create and lock <data_dir>/sluiced.pid. 0, -EBUSY (another daemon), -errno. */
static int lock_data_dir(struct sl_daemon *d)
{
	int rc = sl_mkdirs(d->cfg.data_dir, 0750);
	if (rc != 0) {
		SL_ERR(SUBSYS, "data dir %s: %s", d->cfg.data_dir, sl_strerror(rc));
		return rc;
	}
	snprintf(d->pid_path, sizeof(d->pid_path), "%s/sluiced.pid", d->cfg.data_dir);
	d->lock_fd = open(d->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (d->lock_fd < 0) {
		rc = sl_neg_errno();
		SL_ERR(SUBSYS, "%s: %s", d->pid_path, sl_strerror(rc));
		return rc;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		char other[32] = "";
		ssize_t n = pread(d->lock_fd, other, sizeof(other) - 1, 0);
		other[n > 0 ? n : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		SL_ERR(SUBSYS, "data dir %s is in use by another sluiced (pid %s)", d->cfg.data_dir,
		       other[0] ? other : "unknown");
		close(d->lock_fd);
		d->lock_fd = -1;
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(d->lock_fd, 0) != 0 || pwrite(d->lock_fd, pid, (size_t)len, 0) != len) {
		rc = sl_neg_errno();
		SL_ERR(SUBSYS, "%s: %s", d->pid_path, sl_strerror(rc));
		return rc;
	}
	return 0;
}

static void unlock_data_dir(struct sl_daemon *d)
{
	if (d->lock_fd < 0)
		return;
	/* Unlink while still holding the lock, so no newcomer locks a file
	 * that is about to vanish. */
	unlink(d->pid_path);
	close(d->lock_fd);
	d->lock_fd = -1;
}

static int block_signals(struct sl_daemon *d)
{
	/* A signal ignored by our parent (a shell's trap '', nohup) would be
	 * discarded instead of queued for the signalfd: take them back. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&d->signals);
	sigaddset(&d->signals, SIGTERM);
	sigaddset(&d->signals, SIGINT);
	sigaddset(&d->signals, SIGHUP);
	int rc = -pthread_sigmask(SIG_BLOCK, &d->signals, NULL);
	if (rc != 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &d->signals, SFD_CLOEXEC | SFD_NONBLOCK);
	return d->signal_fd < 0 ? sl_neg_errno() : 0;
}

/* A shard writer thread: the storage engine's writer loop. */
static int writer_thread(void *arg, int stop_fd)
{
	struct sl_daemon_writer *w = arg;
	return sl_store_writer_run(w->d->store, w->index, stop_fd);
}

/*
 * The control thread: housekeeping once a second (retention), until the
 * Kinesis API's event loop joins it here. Returns when asked to stop.
 */
#define CONTROL_TICK_MS 1000
static int control_thread(void *arg, int stop_fd)
{
	struct sl_daemon *d = arg;
	struct pollfd p = {.fd = stop_fd, .events = POLLIN};
	for (;;) {
		int n = poll(&p, 1, CONTROL_TICK_MS);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return sl_neg_errno();
		if (n == 0)
			sl_store_retention_tick(d->store, sl_clock_wall_ms());
	}
}

static int start_threads(struct sl_daemon *d)
{
	d->threads = sl_threads_create();
	if (d->threads == NULL)
		return -ENOMEM;
	/* Start order: writers, then control; they stop in reverse. */
	SL_STATIC_ASSERT(SL_ARRAY_SIZE(d->writers) >= 64); /* storage.writers <= 64 */
	for (unsigned i = 0; i < d->cfg.storage_writers; i++) {
		d->writers[i] = (struct sl_daemon_writer){.d = d, .index = i};
		int rc = sl_threads_start(d->threads, "writer", i, writer_thread, &d->writers[i],
					  &d->eal.control_cpus);
		if (rc != 0)
			return rc;
	}
	return sl_threads_start(d->threads, "control", 0, control_thread, d, &d->eal.control_cpus);
}

static void start_dataplane(struct sl_daemon *d)
{
	int rc = sl_eal_start(&d->eal, &d->cfg);
	if (rc == 0) {
		if (d->eal.port_count == 0)
			SL_INFO(SUBSYS,
				"DPDK up with no ports: SLW1 ingest on the kernel backend "
				"at %s:%u",
				d->cfg.ingest_listen.host, d->cfg.ingest_listen.port);
		return;
	}
	SL_WARN(SUBSYS, "DPDK not started (%s): SLW1 ingest on the kernel backend at %s:%u",
		d->eal.why, d->cfg.ingest_listen.host, d->cfg.ingest_listen.port);
}

int sl_daemon_boot(struct sl_daemon *d, const struct sl_config *cfg)
{
	int rc;
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	d->lock_fd = -1;
	d->signal_fd = -1;
	SL_INFO(SUBSYS, "sluiced %s starting, pid %d", SL_VERSION, (int)getpid());
	if ((rc = block_signals(d)) != 0) {
		SL_ERR(SUBSYS, "signals: %s", sl_strerror(rc));
		goto err_signals;
	}
	if ((rc = lock_data_dir(d)) != 0)
		goto err_lock;
	struct sl_store_options so;
	sl_store_options_from_config(&so, &d->cfg);
	if ((rc = sl_store_open(&so, &d->store)) != 0)
		goto err_lock;
	start_dataplane(d);
	if ((rc = start_threads(d)) != 0) {
		SL_ERR(SUBSYS, "starting threads: %s", sl_strerror(rc));
		goto err_threads;
	}
	SL_INFO(SUBSYS, "ready: data dir %s, %u thread(s), dataplane %s", d->cfg.data_dir,
		sl_threads_count(d->threads), d->eal.up ? "DPDK" : "kernel");
	return 0;

err_threads:
	sl_store_stop_appends(d->store);
	sl_threads_destroy(d->threads);
	d->threads = NULL;
	sl_eal_stop(&d->eal);
	sl_store_close(d->store);
	d->store = NULL;
err_lock:
	unlock_data_dir(d);
err_signals:
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	d->signal_fd = -1;
	return rc;
}

/* Handle one pending signal: 1 to stop, 0 to go on. */
static int take_signal(struct sl_daemon *d)
{
	struct signalfd_siginfo si;
	ssize_t n = read(d->signal_fd, &si, sizeof(si));
	if (n != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		SL_INFO(SUBSYS, "SIGHUP: nothing to reload yet; ignored");
		return 0;
	}
	SL_INFO(SUBSYS, "%s: stopping", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
	return 1;
}

int sl_daemon_run(struct sl_daemon *d)
{
	struct pollfd p[2] = {
	    {.fd = d->signal_fd, .events = POLLIN},
	    {.fd = sl_threads_exit_fd(d->threads), .events = POLLIN},
	};
	for (;;) {
		int n = poll(p, 2, -1);
		if (n < 0 && errno != EINTR)
			return sl_neg_errno();
		if (n <= 0)
			continue;
		if ((p[0].revents & POLLIN) && take_signal(d))
			return 0;
		if (p[1].revents & POLLIN) {
			char name[SL_THREAD_NAME_MAX + 1];
			int result = 0;
			if (sl_threads_early_exit(d->threads, name, &result) == 0) {
				SL_ERR(SUBSYS, "thread %s stopped on its own (%s): shutting down",
				       name, result ? sl_strerror(result) : "no error");
				return result ? result : -EPIPE;
			}
		}
	}
}

int sl_daemon_shutdown(struct sl_daemon *d)
{
	/* No new appends; then threads newest first: the writers, last,
	 * commit what they hold before they return. */
	sl_store_stop_appends(d->store);
	int rc = sl_threads_stop_all(d->threads, d->cfg.shutdown_timeout_ms);
	sl_threads_destroy(d->threads);
	d->threads = NULL;
	sl_eal_stop(&d->eal);
	if (rc != -ETIMEDOUT)
		sl_store_close(d->store); /* a stuck writer may still use it */
	d->store = NULL;
	unlock_data_dir(d);
	close(d->signal_fd);
	d->signal_fd = -1;
	SL_INFO(SUBSYS, "stopped%s", rc ? " with errors" : "");
	return rc;
}
