/* main.c: gt-bench: echo/sink servers and verified measuring modes. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gt/flags.h"
#include "gt/log.h"

#include "bench.h"

#define MAX_SIZE	(64L * 1024 * 1024)
#define MAX_CONNS	1000
#define MAX_HOLD	100000

static const char	*f_listen, *f_target, *f_size, *f_conns, *f_pids;
static long		 f_duration = 5, f_count, f_interval = 5;
static int		 f_json, f_debug, f_version;

#define F_TARGET	{ "target", GT_FLAG_STRING, &f_target, 0, 0, "ADDR", \
	"echo or sink server to measure, host:port or [v6]:port (required)" }
#define F_DURATION	{ "duration", GT_FLAG_INT, &f_duration, 1, 3600, "S", \
	"seconds to measure (default 5); the run ends by S + 10 s at worst" }
#define F_SIZE(h)	{ "size", GT_FLAG_STRING, &f_size, 0, 0, "BYTES", h }
#define F_CONNS(h)	{ "conns", GT_FLAG_STRING, &f_conns, 0, 0, "N", h }
#define F_JSON		{ "json", GT_FLAG_BOOL, &f_json, 0, 0, NULL, \
	"print one JSON object to stdout instead of a table" }
#define F_DEBUG		{ "debug", GT_FLAG_BOOL, &f_debug, 0, 0, NULL, \
	"debug logging" }
#define F_VERSION	{ "version", GT_FLAG_BOOL, &f_version, 0, 0, NULL, \
	"print the version and exit" }
#define F_END		{ NULL, 0, NULL, 0, 0, NULL, NULL }

static const struct gt_flag t_server[] = {
	{ "listen", GT_FLAG_STRING, &f_listen, 0, 0, "ADDR",
	    "address to serve on, host:port or [v6]:port; port 0 picks one "
	    "and prints it (required)" },
	{ "duration", GT_FLAG_INT, &f_duration, 0, 86400, "S",
	    "exit after S seconds (default: until SIGINT/SIGTERM)" },
	F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_speed[] = {
	F_TARGET, F_DURATION, F_SIZE("bytes per echo round trip (default 32K)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_latency[] = {
	F_TARGET, F_DURATION, F_SIZE("bytes per ping (default 1024)"),
	{ "count", GT_FLAG_INT, &f_count, 1, 1000000000, "N",
	    "stop after N round trips (then -duration defaults to 3600)" },
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_oneway[] = {
	F_TARGET, F_DURATION, F_CONNS("parallel connections (default 1)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_concurrency[] = {
	F_TARGET, F_DURATION,
	F_CONNS("connection counts, one step each (default 1,2,5,10,20,50,100)"),
	F_SIZE("bytes per echo round trip (default 1024)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_sizes[] = {
	F_TARGET, F_DURATION,
	F_SIZE("round-trip sizes, one step each "
	    "(default 64,256,1K,4K,16K,64K,256K,1M)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_bandwidth[] = {
	F_TARGET, F_DURATION, F_CONNS("parallel connections (default 10)"),
	F_SIZE("bytes per echo chunk, 4 in flight (default 64K)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_rate[] = {
	F_TARGET, F_DURATION, F_CONNS("parallel workers (default 4)"),
	F_JSON, F_DEBUG, F_VERSION, F_END
};
static const struct gt_flag t_hold[] = {
	F_TARGET, F_DURATION,
	{ "interval", GT_FLAG_INT, &f_interval, 1, 3600, "S",
	    "seconds between the 16-byte echoes of each session (default 5)" },
	{ "pids", GT_FLAG_STRING, &f_pids, 0, 0, "PID,...",
	    "processes whose VmRSS/VmHWM to sample during the hold" },
	F_JSON, F_DEBUG, F_VERSION, F_END
};

struct mode {
	const char		*m_name;
	const struct gt_flag	*m_flags;
	const char		*m_synopsis;
	long			(*m_run)(const struct bench_opts *, json_t *);
	const char		*m_size;	/* default -size */
	const char		*m_conns;	/* default -conns */
	int			 m_size_list, m_conns_list;
};

static const struct mode modes[] = {
	{ "echo", t_server, "echo -listen ADDR [-duration S]", NULL,
	    NULL, NULL, 0, 0 },
	{ "sink", t_server, "sink -listen ADDR [-duration S]", NULL,
	    NULL, NULL, 0, 0 },
	{ "speed", t_speed, "speed -target ADDR [flags]", bench_speed,
	    "32K", "1", 0, 0 },
	{ "latency", t_latency, "latency -target ADDR [flags]", bench_latency,
	    "1024", "1", 0, 0 },
	{ "upload", t_oneway, "upload -target ADDR [flags]", bench_upload,
	    "64K", "1", 0, 0 },
	{ "download", t_oneway, "download -target ADDR [flags]", bench_download,
	    "64K", "1", 0, 0 },
	{ "concurrency", t_concurrency, "concurrency -target ADDR [flags]",
	    bench_concurrency, "1024", "1,2,5,10,20,50,100", 0, 1 },
	{ "sizes", t_sizes, "sizes -target ADDR [flags]", bench_sizes,
	    "64,256,1K,4K,16K,64K,256K,1M", "1", 1, 0 },
	{ "bandwidth", t_bandwidth, "bandwidth -target ADDR [flags]",
	    bench_bandwidth, "64K", "10", 0, 0 },
	{ "rate", t_rate, "rate -target ADDR [flags]", bench_rate,
	    "64", "4", 0, 0 },
	{ "hold", t_hold, "hold [N] -target ADDR [flags]", bench_hold,
	    "16", "1", 0, 0 },
	{ NULL, NULL, NULL, NULL, NULL, NULL, 0, 0 },
};

/* Top-level usage: the commands. */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: gt-bench COMMAND [flags]   (gt-bench COMMAND -h for its flags)\n"
	    "servers:\n"
	    "  echo -listen ADDR       echo every byte back\n"
	    "  sink -listen ADDR       discard (verify uploads, serve downloads)\n"
	    "measurements (every byte verified; MB = 10^6 bytes):\n"
	    "  speed       one connection, echo round trips: MB/s\n"
	    "  latency     one connection, ping-pong: p50/p90/p99/max us\n"
	    "  upload      one way to a sink: MB/s\n"
	    "  download    one way from a sink: MB/s\n"
	    "  concurrency 1..100 connections doing round trips: a table\n"
	    "  sizes       round trips of 64 B .. 1 MiB: a table\n"
	    "  bandwidth   N connections streaming echo: aggregate and peak MB/s\n"
	    "  rate        new sessions per second and setup time\n"
	    "  hold N      keep N sessions open, echo on each, sample RSS\n"
	    "exit status: 0 ok, 1 a verification or connection error, 2 usage\n");
}

/* Strictly decimal, for the positional N of hold. */
static int
is_number(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Turn the parsed flags into options; 0, or 2 after one line on stderr. */
static int
make_opts(const struct mode *m, struct bench_opts *o, const char *hold_n)
{
	char	err[256];
	long	pids[BENCH_MAX_PIDS];
	long	rss, hwm, v;
	size_t	i, n;

	memset(o, 0, sizeof(*o));
	o->bo_mode = m->m_name;
	if (f_target == NULL) {
		fprintf(stderr, "gt-bench %s: -target is required\n", m->m_name);
		return 2;
	}
	o->bo_target = f_target;
	if (bench_parse_addr(f_target, 0, &o->bo_addr, &o->bo_addrlen, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "gt-bench %s: -target: %s\n", m->m_name, err);
		return 2;
	}
	o->bo_duration = f_duration;
	o->bo_count = f_count;
	if (f_count > 0 && !gt_flags_given(m->m_flags, "duration"))
		o->bo_duration = 3600;
	o->bo_interval = f_interval;
	if (bench_parse_list(f_size ? f_size : m->m_size, 1, MAX_SIZE,
	    o->bo_sizes, m->m_size_list ? BENCH_MAX_LIST : 1, &o->bo_nsizes,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "gt-bench %s: -size: %s\n", m->m_name, err);
		return 2;
	}
	o->bo_size = (uint64_t)o->bo_sizes[0];
	if (bench_parse_list(f_conns ? f_conns : m->m_conns, 1, MAX_CONNS,
	    o->bo_conns, m->m_conns_list ? BENCH_MAX_LIST : 1, &o->bo_nconns,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "gt-bench %s: -conns: %s\n", m->m_name, err);
		return 2;
	}
	o->bo_hold = 1000;
	if (hold_n != NULL) {
		if (bench_parse_list(hold_n, 1, MAX_HOLD, &v, 1, &n, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "gt-bench hold: N: %s\n", err);
			return 2;
		}
		o->bo_hold = v;
	}
	if (f_pids != NULL) {
		if (bench_parse_list(f_pids, 1, 0x7fffffff, pids, BENCH_MAX_PIDS,
		    &o->bo_npids, err, sizeof(err)) == -1) {
			fprintf(stderr, "gt-bench %s: -pids: %s\n", m->m_name, err);
			return 2;
		}
		for (i = 0; i < o->bo_npids; i++) {
			o->bo_pids[i] = (int)pids[i];
			if (bench_proc_mem(o->bo_pids[i], &rss, &hwm) == -1) {
				fprintf(stderr, "gt-bench %s: -pids: cannot read "
				    "/proc/%ld/status\n", m->m_name, pids[i]);
				return 2;
			}
		}
	}
	o->bo_progress = isatty(STDERR_FILENO) && o->bo_duration > 3;
	o->bo_seed = bench_pattern_word(bench_now_ns(), (uint64_t)getpid());
	return 0;
}

/* Run one client mode, print its result, and map errors to the exit status. */
static int
run_mode(const struct mode *m, const struct bench_opts *o)
{
	json_t	*out;
	char	*s;
	long	 errs;

	signal(SIGPIPE, SIG_IGN);
	if ((out = json_object()) == NULL)
		return 1;
	errs = m->m_run(o, out);
	if (f_json) {
		if ((s = json_dumps(out, JSON_COMPACT |
		    JSON_REAL_PRECISION(15))) != NULL) {
			printf("%s\n", s);
			free(s);
		}
		fflush(stdout);
	} else
		bench_print_human(stdout, out);
	json_decref(out);
	if (errs > 0) {
		fprintf(stderr, "gt-bench %s: FAILED: %ld error(s) (verification or "
		    "connection); the figures above are not trustworthy\n",
		    m->m_name, errs);
		return 1;
	}
	return 0;
}

/* Dispatch to a server or a measuring mode. */
int
main(int argc, char **argv)
{
	const struct mode	*m;
	struct bench_opts	 o;
	const char		*hold_n = NULL;
	char			 prog[64];
	int			 idx = 2, rc;

	gt_log_init("gt-bench");
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "-help") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "-version") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("gt-bench %s\n", GT_VERSION);
		return 0;
	}
	for (m = modes; m->m_name != NULL; m++)
		if (strcmp(m->m_name, argv[1]) == 0)
			break;
	if (m->m_name == NULL) {
		fprintf(stderr, "gt-bench: unknown command \"%s\" (see gt-bench "
		    "-help)\n", argv[1]);
		return 2;
	}
	snprintf(prog, sizeof(prog), "gt-bench %s", m->m_name);
	if (m->m_run == bench_hold && idx < argc && is_number(argv[idx]))
		hold_n = argv[idx++];
	if (m->m_run == NULL)
		f_duration = 0;
	rc = gt_flags_parse(prog, m->m_synopsis, m->m_flags, argc, argv, &idx);
	if (rc == GT_FLAGS_HELP)
		return 0;
	if (rc != GT_FLAGS_OK)
		return 2;
	if (f_version) {
		printf("gt-bench %s\n", GT_VERSION);
		return 0;
	}
	if (idx < argc && m->m_run == bench_hold && hold_n == NULL &&
	    is_number(argv[idx]))
		hold_n = argv[idx++];
	if (idx < argc) {
		fprintf(stderr, "%s: unexpected argument \"%s\"\n", prog,
		    argv[idx]);
		return 2;
	}
	if (f_debug)
		gt_log_set_level(GT_LOG_DEBUG);
	if (m->m_run == NULL) {
		if (f_listen == NULL) {
			fprintf(stderr, "%s: -listen is required\n", prog);
			return 2;
		}
		return bench_serve(strcmp(m->m_name, "sink") == 0, f_listen,
		    f_duration);
	}
	if ((rc = make_opts(m, &o, hold_n)) != 0)
		return rc;
	return run_mode(m, &o);
}
