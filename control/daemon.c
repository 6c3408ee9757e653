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
#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sluice/assert.h>
#include <sluice/clock.h>
#include <sluice/daemon.h>
#include <sluice/error.h>
#include <sluice/evloop.h>
#include <sluice/expo.h>
#include <sluice/fs.h>
#include <sluice/http.h>
#include <sluice/kernel.h>
#include <sluice/kinesis.h>
#include <sluice/log.h>
#include <sluice/port.h>
#include <sluice/rx.h>

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
 * The control thread: one event loop (evloop.h) running the Kinesis API on
 * the HTTP server at api.listen, the completions of its appends (an
 * eventfd the shard writers signal), retention once a second, and the
 * thread's stop fd. On stop: no new connections or requests, the loop
 * runs until every request already taken is answered and written (or
 * CONTROL_DRAIN_MS passes), then everything is closed.
 */
#define CONTROL_TICK_MS  1000
#define CONTROL_DRAIN_MS 5000

struct control {
	struct sl_daemon *d;
	struct sl_evloop *loop;
	struct sl_kinesis *api;
	struct sl_http_server *http;
	struct sl_ev_timer tick;
	int stop_fd;
	bool stopping;
};

static void control_tick(struct sl_evloop *l, void *arg)
{
	struct control *c = arg;
	sl_store_retention_tick(c->d->store, sl_clock_wall_ms());
	sl_evloop_timer_arm(l, &c->tick, CONTROL_TICK_MS, control_tick, c);
}

static void control_on_stop(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	struct control *c = arg;
	c->stopping = true;
	sl_evloop_del(l, fd); /* level-triggered: it stays readable */
}

static void control_on_done(struct sl_evloop *l, int fd, uint32_t revents, void *arg)
{
	struct control *c = arg;
	sl_kinesis_poll(c->api);
}

static int control_http(struct control *c)
{
	struct sl_http_server_options o = {
	    .host = strcmp(c->d->cfg.api_listen.host, "localhost") == 0 ? "127.0.0.1"
									: c->d->cfg.api_listen.host,
	    .port = c->d->cfg.api_listen.port,
	    .handler = sl_kinesis_http_handler,
	    .error_fmt = sl_kinesis_http_error,
	    .arg = c->api,
	};
	sl_http_limits_from_config(&o.limits, &c->d->cfg);
	return sl_http_server_create(c->loop, &o, &c->http);
}

static int control_start(struct control *c)
{
	struct sl_kinesis_options ko;
	char key_path[SL_CONFIG_PATH_MAX + 32];
	int rc = sl_evloop_create(&c->loop);
	if (rc != 0)
		return rc;
	sl_kinesis_options_from_config(&ko, &c->d->cfg, c->d->store, key_path, sizeof(key_path));
	rc = sl_kinesis_create(&ko, &c->api);
	if (rc != 0)
		return rc;
	rc = sl_evloop_add(c->loop, sl_kinesis_completion_fd(c->api), EPOLLIN, control_on_done, c);
	rc = rc ?: sl_evloop_add(c->loop, c->stop_fd, EPOLLIN, control_on_stop, c);
	rc = rc ?: control_http(c);
	if (rc != 0)
		return rc;
	sl_evloop_timer_arm(c->loop, &c->tick, CONTROL_TICK_MS, control_tick, c);
	return 0;
}

/* Answer what was taken, within CONTROL_DRAIN_MS. */
static void control_drain(struct control *c)
{
	sl_http_server_stop_accepting(c->http);
	uint64_t end = sl_evloop_now_ms(c->loop) + CONTROL_DRAIN_MS;
	while ((sl_http_server_busy(c->http) > 0 || sl_kinesis_inflight(c->api) > 0) &&
	       sl_evloop_now_ms(c->loop) < end)
		sl_evloop_run_once(c->loop, 50);
	if (sl_http_server_busy(c->http) > 0)
		SL_WARN(SUBSYS, "API stopping with %u request(s) unanswered",
			sl_http_server_busy(c->http));
}

static void control_fini(struct control *c)
{
	sl_http_server_destroy(c->http);
	if (c->api != NULL)
		sl_evloop_del(c->loop, sl_kinesis_completion_fd(c->api));
	if (!c->stopping && c->loop != NULL)
		sl_evloop_del(c->loop, c->stop_fd);
	sl_kinesis_destroy(c->api); /* kept, not freed, if appends are in flight */
	if (c->loop != NULL)
		sl_evloop_timer_cancel(c->loop, &c->tick);
	sl_evloop_destroy(c->loop);
}

static int control_thread(void *arg, int stop_fd)
{
	struct control c = {.d = arg, .stop_fd = stop_fd};
	int rc = control_start(&c);
	if (rc != 0) {
		SL_ERR(SUBSYS, "Kinesis API on %s:%u: %s", c.d->cfg.api_listen.host,
		       c.d->cfg.api_listen.port, sl_strerror(rc));
		control_fini(&c);
		return rc;
	}
	/* Listening: boot may say "ready" now. */
	uint64_t one = 1;
	if (write(c.d->control_ready_fd, &one, sizeof(one)) != sizeof(one))
		SL_WARN(SUBSYS, "control ready: %s", sl_strerror(sl_neg_errno()));
	while (!c.stopping && rc >= 0)
		rc = sl_evloop_run_once(c.loop, -1);
	if (rc < 0)
		SL_ERR(SUBSYS, "control loop: %s", sl_strerror(rc));
	control_drain(&c);
	control_fini(&c);
	return rc < 0 ? rc : 0;
}

/* The kernel ingest thread: runs the backend, then frees it (it owns it). */
static int kernel_ingest_thread(void *arg, int stop_fd)
{
	struct sl_kernel_ingest *k = arg;
	int rc = sl_kernel_ingest_run(k, stop_fd);
	sl_kernel_ingest_destroy(k);
	return rc;
}

/*
 * SLW1 over the kernel's UDP and TCP on ingest.listen, when ingest.kernel
 * says so (auto: DPDK is not up or has no port). Binds before the thread
 * starts, so a taken address fails the boot. 0 or -errno (logged).
 */
static int start_kernel_ingest(struct sl_daemon *d)
{
	/* "auto": the kernel door opens whenever the DPDK door did not (EAL
	 * refused, no port, or the RX lcores failed to start). */
	bool dpdk_ingest = d->rx != NULL;
	if (!sl_kernel_ingest_wanted(d->cfg.ingest_kernel, dpdk_ingest))
		return 0;
	if (d->eal.up && d->eal.port_count > 0 && !dpdk_ingest)
		SL_WARN(SUBSYS,
			"DPDK ports up but no RX lcore runs: SLW1 ingest on the kernel "
			"backend at %s:%u",
			d->cfg.ingest_listen.host, d->cfg.ingest_listen.port);
	struct sl_kernel_ingest *k = NULL;
	int rc = sl_kernel_ingest_create(d->store, &d->cfg, &k);
	if (rc != 0)
		return rc;
	rc = sl_threads_start(d->threads, "kernel", 0, kernel_ingest_thread, k,
			      &d->eal.control_cpus);
	if (rc != 0)
		sl_kernel_ingest_destroy(k);
	return rc;
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
	int rc =
	    sl_threads_start(d->threads, "control", 0, control_thread, d, &d->eal.control_cpus);
	if (rc != 0)
		return rc;
	return start_kernel_ingest(d); /* last: ingest stops first */
}

static void start_dataplane(struct sl_daemon *d)
{
	int rc = sl_eal_start(&d->eal, &d->cfg);
	bool kernel = d->cfg.ingest_kernel != SL_SWITCH_OFF;
	if (rc == 0 && d->eal.port_count > 0)
		sl_expo_add_source(sl_port_expo_source, NULL); /* NIC counters on /metrics */
	if (rc == 0) {
		if (d->eal.port_count == 0)
			SL_INFO(SUBSYS, "DPDK up with no ports: %s at %s:%u",
				kernel ? "SLW1 ingest on the kernel backend"
				       : "no SLW1 ingest (ingest.kernel = off)",
				d->cfg.ingest_listen.host, d->cfg.ingest_listen.port);
		return;
	}
	SL_WARN(SUBSYS, "DPDK not started (%s): %s at %s:%u", d->eal.why,
		kernel ? "SLW1 ingest on the kernel backend"
		       : "no SLW1 ingest (ingest.kernel = off)",
		d->cfg.ingest_listen.host, d->cfg.ingest_listen.port);
}

/*
 * The DPDK RX lcores and their TX queues for acks: stopped, and their
 * frames drained, before the writers stop, since draining needs them.
 * Logs each lcore's counters. 0, or -ETIMEDOUT when frames were still
 * awaiting storage after daemon.shutdown_timeout_ms.
 */
static int stop_rx(struct sl_daemon *d)
{
	if (d->rx == NULL)
		return 0;
	int rc = sl_rx_stop(d->rx);
	sl_rx_destroy(d->rx);
	d->rx = NULL;
	return rc;
}

/*
 * When EAL is up with ports: configure them, create each RX lcore's ingest
 * port on the store and launch the RX loops (dataplane/rx.h). A port that
 * cannot be configured as asked is logged in one line and DPDK ingest is
 * off (d->rx stays NULL); the daemon carries on.
 */
static void start_rx(struct sl_daemon *d)
{
	char why[256] = "";
	if (!d->eal.up || d->eal.port_count == 0)
		return;
	int rc = sl_rx_create(&d->cfg, &d->eal, d->store, &d->rx, why, sizeof(why));
	if (rc != 0) {
		d->rx = NULL;
		SL_ERR(SUBSYS, "DPDK ingest not started: %s", why);
		return;
	}
	if ((rc = sl_rx_launch(d->rx)) != 0) {
		SL_ERR(SUBSYS, "DPDK ingest not started: launching RX lcores: %s", sl_strerror(rc));
		stop_rx(d);
		return;
	}
	struct in_addr ip = {.s_addr = htonl(d->cfg.dpdk_ip)};
	char ips[INET_ADDRSTRLEN];
	SL_INFO(SUBSYS, "DPDK ingest: SLW1 on UDP %s:%u, %u RX lcore(s), %u port(s)",
		inet_ntop(AF_INET, &ip, ips, sizeof(ips)), d->cfg.dpdk_udp_port,
		sl_rx_lcore_count(d->rx), d->eal.port_count);
}

/*
 * "ready" means every door is open: wait until the control thread listens
 * on api.listen (or returns, having logged why it could not).
 */
#define CONTROL_READY_MS 10000
static int wait_control_ready(struct sl_daemon *d)
{
	struct pollfd p[2] = {
	    {.fd = d->control_ready_fd, .events = POLLIN},
	    {.fd = sl_threads_exit_fd(d->threads), .events = POLLIN},
	};
	for (;;) {
		int n = poll(p, 2, CONTROL_READY_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return sl_neg_errno();
		if (n == 0) {
			SL_ERR(SUBSYS, "the control thread did not start serving in %u ms",
			       CONTROL_READY_MS);
			return -ETIMEDOUT;
		}
		if (p[0].revents & POLLIN)
			return 0;
		return -EPIPE; /* a thread returned: it logged why */
	}
}

int sl_daemon_boot(struct sl_daemon *d, const struct sl_config *cfg)
{
	int rc;
	memset(d, 0, sizeof(*d));
	d->cfg = *cfg;
	d->lock_fd = -1;
	d->signal_fd = -1;
	d->control_ready_fd = eventfd(0, EFD_CLOEXEC);
	if (d->control_ready_fd < 0)
		return sl_neg_errno();
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
	start_rx(d);
	if ((rc = start_threads(d)) != 0) {
		SL_ERR(SUBSYS, "starting threads: %s", sl_strerror(rc));
		goto err_threads;
	}
	if ((rc = wait_control_ready(d)) != 0)
		goto err_threads;
	SL_INFO(SUBSYS, "ready: data dir %s, %u thread(s), dataplane %s", d->cfg.data_dir,
		sl_threads_count(d->threads), d->eal.up ? "DPDK" : "kernel");
	return 0;

err_threads:
	stop_rx(d);
	sl_store_stop_appends(d->store);
	sl_threads_destroy(d->threads);
	d->threads = NULL;
	sl_expo_clear_sources();
	sl_eal_stop(&d->eal);
	sl_store_close(d->store);
	d->store = NULL;
err_lock:
	unlock_data_dir(d);
err_signals:
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	d->signal_fd = -1;
	close(d->control_ready_fd);
	d->control_ready_fd = -1;
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
	/* DPDK ingest first: its frames drain while the writers still run. */
	stop_rx(d);
	/* No new appends; then threads newest first: the writers, last,
	 * commit what they hold before they return. */
	sl_store_stop_appends(d->store);
	int rc = sl_threads_stop_all(d->threads, d->cfg.shutdown_timeout_ms);
	sl_threads_destroy(d->threads);
	d->threads = NULL;
	sl_expo_clear_sources();
	sl_eal_stop(&d->eal);
	if (rc != -ETIMEDOUT)
		sl_store_close(d->store); /* a stuck writer may still use it */
	d->store = NULL;
	unlock_data_dir(d);
	close(d->signal_fd);
	d->signal_fd = -1;
	close(d->control_ready_fd);
	d->control_ready_fd = -1;
	SL_INFO(SUBSYS, "stopped%s", rc ? " with errors" : "");
	return rc;
}
