/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sluiced: the appliance daemon. Reads the configuration (embedded defaults,
 * then --config FILE, then command-line overrides in order), boots, runs
 * until SIGTERM/SIGINT, shuts down in order. The only file that exits.
 *
 * Exit status: 0 after a clean stop; 1 when boot or shutdown failed or a
 * thread died; 2 for a bad command line or configuration, with the key, the
 * value and the reason on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sluice/alloc.h>
#include <sluice/config.h>
#include <sluice/daemon.h>
#include <sluice/error.h>
#include <sluice/log.h>

#include "sl_build.h"

#define EXIT_CONFIG   2
#define OVERRIDES_MAX 256

struct override {
	const char *key; /* "section.key" */
	const char *value;
	char key_buf[96];
};

struct cmdline {
	const char *config_path;
	bool print_config;
	unsigned count;
	struct override ov[OVERRIDES_MAX];
};

/* Shortcuts and the keys they set; a NULL value takes the next argument. */
static const struct shortcut {
	const char *flag;
	const char *key;
	const char *fixed_value;
} shortcuts[] = {
    {"--data-dir", "daemon.data_dir", NULL},    {"--api-listen", "api.listen", NULL},
    {"--ingest-listen", "ingest.listen", NULL}, {"--no-dpdk", "dpdk.enabled", "false"},
    {"--dpdk-vdev", "dpdk.vdev", NULL},         {"--dpdk-ip", "dpdk.ip", NULL},
    {"--lcores", "dpdk.lcores", NULL},
};

static void usage(FILE *out)
{
	fprintf(out, "usage: sluiced [--config FILE] [options] [--section.key=value ...]\n"
		     "\n"
		     "  --config FILE          INI configuration (see etc/sluice.conf)\n"
		     "  --section.key=VALUE    override any configuration key\n"
		     "  --data-dir DIR         daemon.data_dir\n"
		     "  --api-listen H:P       api.listen (Kinesis API)\n"
		     "  --ingest-listen H:P    ingest.listen (kernel UDP + TCP ingest)\n"
		     "  --no-dpdk              dpdk.enabled=false\n"
		     "  --dpdk-vdev SPEC       dpdk.vdev (repeatable)\n"
		     "  --dpdk-ip A.B.C.D      dpdk.ip\n"
		     "  --lcores LIST          dpdk.lcores\n"
		     "  --print-config         print the effective configuration and exit\n"
		     "  --version, --help\n");
}

static int add_override(struct cmdline *cl, const char *key, size_t key_len, const char *value)
{
	if (cl->count == OVERRIDES_MAX) {
		fprintf(stderr, "sluiced: more than %d overrides\n", OVERRIDES_MAX);
		return -E2BIG;
	}
	struct override *o = &cl->ov[cl->count++];
	snprintf(o->key_buf, sizeof(o->key_buf), "%.*s", (int)key_len, key);
	o->key = o->key_buf;
	o->value = value;
	return 0;
}

/* Split "--name=value" or take the value from the next argument. */
static const char *option_value(int argc, char **argv, int *i, const char *arg, size_t name_len)
{
	if (arg[name_len] == '=')
		return arg + name_len + 1;
	if (*i + 1 >= argc) {
		fprintf(stderr, "sluiced: %s needs a value\n", arg);
		return NULL;
	}
	return argv[++*i];
}

static int parse_one(struct cmdline *cl, int argc, char **argv, int *i)
{
	const char *arg = argv[*i];
	size_t name_len = strcspn(arg, "=");
	const char *v;

	if (strncmp(arg, "--config", name_len) == 0 && name_len == 8) {
		if ((v = option_value(argc, argv, i, arg, name_len)) == NULL)
			return -EINVAL;
		cl->config_path = v;
		return 0;
	}
	for (unsigned s = 0; s < sizeof(shortcuts) / sizeof(shortcuts[0]); s++) {
		const struct shortcut *sc = &shortcuts[s];
		if (strlen(sc->flag) != name_len || strncmp(arg, sc->flag, name_len) != 0)
			continue;
		if (sc->fixed_value)
			v = arg[name_len] == '\0' ? sc->fixed_value : NULL;
		else
			v = option_value(argc, argv, i, arg, name_len);
		if (v == NULL) {
			if (sc->fixed_value)
				fprintf(stderr, "sluiced: %s takes no value\n", sc->flag);
			return -EINVAL;
		}
		return add_override(cl, sc->key, strlen(sc->key), v);
	}
	if (strncmp(arg, "--", 2) == 0 && memchr(arg + 2, '.', name_len - 2) != NULL) {
		if ((v = option_value(argc, argv, i, arg, name_len)) == NULL)
			return -EINVAL;
		return add_override(cl, arg + 2, name_len - 2, v);
	}
	fprintf(stderr, "sluiced: unknown option '%s' (see sluiced --help)\n", arg);
	return -EINVAL;
}

/* Returns 0 to go on, 1 when --help/--version was handled, < 0 on error. */
static int parse_cmdline(struct cmdline *cl, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 1;
		}
		if (strcmp(argv[i], "--version") == 0) {
			char alloc[128];
			printf("sluiced %s (allocator %s)\n", SL_VERSION,
			       sl_allocator_describe(alloc, sizeof(alloc)));
			return 1;
		}
		if (strcmp(argv[i], "--print-config") == 0) {
			cl->print_config = true;
			continue;
		}
		int rc = parse_one(cl, argc, argv, &i);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int load_config(struct sl_config *cfg, const struct cmdline *cl)
{
	struct sl_config_error err;
	sl_config_defaults(cfg);
	if (cl->config_path && sl_config_load_file(cfg, cl->config_path, &err) != 0)
		goto err_print;
	for (unsigned i = 0; i < cl->count; i++) {
		if (sl_config_set(cfg, cl->ov[i].key, cl->ov[i].value, &err) != 0)
			goto err_print;
	}
	if (sl_config_validate(cfg, &err) != 0)
		goto err_print;
	if (sl_log_configure(cfg->log_level, cfg->log_subsystems) != 0) {
		fprintf(stderr, "sluiced: daemon.log_subsystems: cannot apply\n");
		return -EINVAL;
	}
	return 0;
err_print:
	fprintf(stderr, "sluiced: %s\n", err.msg);
	return -EINVAL;
}

static int print_config(const struct sl_config *cfg)
{
	size_t need = sl_config_format(cfg, false, NULL, 0) + 1;
	char *buf = malloc(need);
	if (buf == NULL)
		return EXIT_FAILURE;
	sl_config_format(cfg, false, buf, need);
	fputs(buf, stdout);
	free(buf);
	return EXIT_SUCCESS;
}

/*
 * Every connection, segment file and socket is a descriptor: take the
 * whole hard limit (distributions set the soft one to 1024, below what
 * api.connections_max alone may need). Logged when it stays short.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rlim_t was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		SL_WARN("daemon", "open files limit stays at %llu: %s", (unsigned long long)was,
			sl_strerror(sl_neg_errno()));
}

int main(int argc, char **argv)
{
	static struct cmdline cl;
	static struct sl_config cfg;
	static struct sl_daemon daemon;

	int rc = parse_cmdline(&cl, argc, argv);
	if (rc != 0)
		return rc > 0 ? EXIT_SUCCESS : EXIT_CONFIG;
	if (load_config(&cfg, &cl) != 0)
		return EXIT_CONFIG;
	if (cl.print_config)
		return print_config(&cfg);

	raise_nofile();
	if (sl_daemon_boot(&daemon, &cfg) != 0)
		return EXIT_FAILURE;
	int run_rc = sl_daemon_run(&daemon);
	int stop_rc = sl_daemon_shutdown(&daemon);
	return run_rc == 0 && stop_rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
