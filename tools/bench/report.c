/* report.c: gt-bench's human output (from the JSON result), progress line. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

struct label {
	const char	*key;
	const char	*name;
	const char	*unit;
};

static const struct label labels[] = {
	{ "size",		"size",			"B" },
	{ "seconds",		"time",			"s" },
	{ "step_seconds",	"time per step",	"s" },
	{ "bytes",		"bytes",		"B" },
	{ "verified_bytes",	"verified bytes",	"B" },
	{ "round_trips",	"round trips",		"" },
	{ "round_trips_per_s",	"round trips",		"/s" },
	{ "mbps",		"throughput",		"MB/s" },
	{ "peak_mbps",		"peak (1 s)",		"MB/s" },
	{ "avg_rtt_us",		"avg RTT",		"us" },
	{ "min_us",		"min",			"us" },
	{ "avg_us",		"avg",			"us" },
	{ "p50_us",		"p50",			"us" },
	{ "p90_us",		"p90",			"us" },
	{ "p99_us",		"p99",			"us" },
	{ "max_us",		"max",			"us" },
	{ "conns",		"connections",		"" },
	{ "workers",		"workers",		"" },
	{ "sessions",		"sessions",		"" },
	{ "sessions_per_s",	"sessions",		"/s" },
	{ "failures",		"failures",		"" },
	{ "p50_setup_us",	"setup p50",		"us" },
	{ "p99_setup_us",	"setup p99",		"us" },
	{ "max_setup_us",	"setup max",		"us" },
	{ "held",		"held",			"" },
	{ "connect_seconds",	"connect phase",	"s" },
	{ "hold_seconds",	"hold",			"s" },
	{ "pings",		"pings",		"" },
	{ "pid",		"pid",			"" },
	{ "rss_peak_kb",	"RSS peak",		"KiB" },
	{ "hwm_kb",		"VmHWM",		"KiB" },
	{ "verify_errors",	"verification errors",	"" },
	{ "conn_errors",	"connection errors",	"" },
	{ "errors",		"errors",		"" },
	{ NULL,			NULL,			NULL },
};

/* Display name and unit of a result key. */
static const struct label *
report_label(const char *key)
{
	static struct label	unknown;
	const struct label	*l;

	for (l = labels; l->key != NULL; l++)
		if (strcmp(l->key, key) == 0)
			return l;
	unknown.key = unknown.name = key;
	unknown.unit = "";
	return &unknown;
}

/* A scalar as text: integers plain, reals with two decimals. */
static void
report_value(const json_t *v, char *buf, size_t len)
{
	if (json_is_integer(v))
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(buf, len, "%.2f", json_real_value(v));
	else if (json_is_string(v))
		snprintf(buf, len, "%s", json_string_value(v));
	else
		snprintf(buf, len, "-");
}

/* An array of flat objects as a table with right-aligned columns. */
static void
report_table(FILE *f, const json_t *rows)
{
	const json_t	*row, *first = json_array_get(rows, 0), *v;
	const char	*key;
	const struct label *l;
	char		 head[64], cell[64];
	int		 w[32];
	size_t		 i, c, nc = 0;

	if (first == NULL)
		return;
	json_object_foreach((json_t *)first, key, v) {
		if (nc == 32)
			break;
		l = report_label(key);
		snprintf(head, sizeof(head), l->unit[0] ? "%s %s" : "%s%s",
		    l->name, l->unit);
		w[nc] = (int)strlen(head);
		json_array_foreach(rows, i, row) {
			report_value(json_object_get(row, key), cell, sizeof(cell));
			if ((int)strlen(cell) > w[nc])
				w[nc] = (int)strlen(cell);
		}
		nc++;
	}
	fprintf(f, " ");
	c = 0;
	json_object_foreach((json_t *)first, key, v) {
		if (c == nc)
			break;
		l = report_label(key);
		snprintf(head, sizeof(head), l->unit[0] ? "%s %s" : "%s%s",
		    l->name, l->unit);
		fprintf(f, " %*s", w[c++], head);
	}
	fprintf(f, "\n");
	json_array_foreach(rows, i, row) {
		fprintf(f, " ");
		c = 0;
		json_object_foreach((json_t *)first, key, v) {
			if (c == nc)
				break;
			report_value(json_object_get(row, key), cell,
			    sizeof(cell));
			fprintf(f, " %*s", w[c++], cell);
		}
		fprintf(f, "\n");
	}
}

/* A result as aligned "name value unit" lines, then its tables. */
void
bench_print_human(FILE *f, const json_t *res)
{
	const char		*key;
	const json_t		*v;
	const struct label	*l;
	char			 cell[64];

	fprintf(f, "gt-bench %s -> %s\n",
	    json_string_value(json_object_get(res, "mode")),
	    json_string_value(json_object_get(res, "target")));
	json_object_foreach((json_t *)res, key, v) {
		if (strcmp(key, "mode") == 0 || strcmp(key, "target") == 0 ||
		    json_is_array(v))
			continue;
		l = report_label(key);
		report_value(v, cell, sizeof(cell));
		fprintf(f, "  %-20s %14s %s\n", l->name, cell, l->unit);
	}
	json_object_foreach((json_t *)res, key, v) {
		if (json_is_array(v) && json_array_size(v) > 0)
			report_table(f, v);
	}
	fflush(f);
}

/* Rewrite the live line on stderr (only when on: a terminal, a long run). */
void
bench_progress(int on, const char *fmt, ...)
{
	va_list	ap;
	char	buf[256];

	if (!on)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "\r%s\033[K", buf);
	fflush(stderr);
}

/* Erase the progress line. */
void
bench_progress_end(int on)
{
	if (!on)
		return;
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
}
