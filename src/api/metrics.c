/* metrics.c: /metrics in Prometheus text exposition format 0.0.4. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gt/api.h"

struct metrics_buf {
	char	*mb_p;
	size_t	 mb_len, mb_size;
	int	 mb_fail;
};

/* Append formatted text, growing the buffer. */
static void __attribute__((format(printf, 2, 3)))
metrics_add(struct metrics_buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*np;
	int	 n;
	size_t	 need;

	if (b->mb_fail)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->mb_p + b->mb_len, b->mb_size - b->mb_len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->mb_fail = 1;
			return;
		}
		if ((size_t)n < b->mb_size - b->mb_len) {
			b->mb_len += (size_t)n;
			return;
		}
		need = b->mb_size * 2 + (size_t)n;
		if ((np = realloc(b->mb_p, need)) == NULL) {
			b->mb_fail = 1;
			return;
		}
		b->mb_p = np;
		b->mb_size = need;
	}
}

/* One metric with its HELP and TYPE lines. */
static void
metrics_one(struct metrics_buf *b, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_add(b, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help,
	    name, type, name, (unsigned long long)v);
}

/* Format the figures as Prometheus text. */
char *
gt_api_metrics_text(const struct gt_api_figures *f, size_t *len)
{
	static const char *const reasons[5] = { "allowlist", "max_connections",
	    "max_connections_per_ip", "deadline", "tls" };
	struct metrics_buf	b;
	int			code;
	size_t			i;

	memset(&b, 0, sizeof(b));
	b.mb_size = 2048;
	if ((b.mb_p = malloc(b.mb_size)) == NULL)
		return NULL;
	b.mb_p[0] = '\0';
	metrics_one(&b, "gt_mappings", "gauge", "Port mappings configured.", f->mappings);
	metrics_one(&b, "gt_sessions_active", "gauge", "Forwarded TCP sessions open now.",
	    f->sessions_active);
	metrics_one(&b, "gt_sessions_total", "counter",
	    "Forwarded TCP sessions accepted by the current mappings.", f->sessions_total);
	metrics_one(&b, "gt_bytes_in_total", "counter",
	    "Bytes from public users toward targets.", f->bytes_in);
	metrics_one(&b, "gt_bytes_out_total", "counter",
	    "Bytes from targets back to public users.", f->bytes_out);
	metrics_one(&b, "gt_tunnel_clients", "gauge", "Tunnel clients connected.",
	    f->tunnel_clients);
	metrics_one(&b, "gt_listeners_paused", "gauge",
	    "Public listeners paused for lack of file descriptors.", f->paused_listeners);
	metrics_one(&b, "gt_api_connections", "gauge", "API connections open now.",
	    f->api_conns);
	metrics_add(&b, "# HELP gt_api_connections_refused_total API connections "
	    "closed before an answer, by reason.\n"
	    "# TYPE gt_api_connections_refused_total counter\n");
	for (code = 0; code < 5; code++)
		metrics_add(&b, "gt_api_connections_refused_total{reason=\"%s\"} %llu\n",
		    reasons[code], (unsigned long long)f->api_refused[code]);
	metrics_one(&b, "gt_api_accept_pauses_total", "counter",
	    "Times the API stopped accepting for lack of file descriptors.",
	    f->api_pauses);
	metrics_add(&b, "# HELP gt_api_requests_total API requests answered, by status code.\n"
	    "# TYPE gt_api_requests_total counter\n");
	for (code = GT_API_CODE_MIN; f->codes != NULL && code <= GT_API_CODE_MAX; code++)
		if (f->codes[code - GT_API_CODE_MIN] != 0)
			metrics_add(&b, "gt_api_requests_total{code=\"%d\"} %llu\n", code,
			    (unsigned long long)f->codes[code - GT_API_CODE_MIN]);
	metrics_add(&b, "# HELP gt_mapping_refused_total Connections closed at "
	    "accept by the mapping's access rule.\n"
	    "# TYPE gt_mapping_refused_total counter\n");
	for (i = 0; i < f->nmaps && f->map_port != NULL && f->map_refused != NULL;
	    i++)
		metrics_add(&b, "gt_mapping_refused_total{port=\"%u\"} %llu\n",
		    (unsigned)f->map_port[i], (unsigned long long)f->map_refused[i]);
	if (f->map_bw != NULL && f->map_port != NULL) {
		metrics_add(&b, "# HELP gt_mapping_bandwidth_limit_bytes The "
		    "mapping's bandwidth_limit, bytes per second each way (0: "
		    "none).\n# TYPE gt_mapping_bandwidth_limit_bytes gauge\n");
		for (i = 0; i < f->nmaps; i++)
			metrics_add(&b, "gt_mapping_bandwidth_limit_bytes"
			    "{port=\"%u\"} %llu\n", (unsigned)f->map_port[i],
			    (unsigned long long)f->map_bw[i]);
	}
	if (f->map_throttled != NULL && f->map_waited_ns != NULL &&
	    f->map_port != NULL) {
		metrics_add(&b, "# HELP gt_mapping_throttled_total Times a "
		    "session of the mapping waited for its bandwidth_limit, by "
		    "direction (in: user to target).\n"
		    "# TYPE gt_mapping_throttled_total counter\n");
		for (i = 0; i < 2 * f->nmaps; i++)
			metrics_add(&b, "gt_mapping_throttled_total{port=\"%u\","
			    "direction=\"%s\"} %llu\n",
			    (unsigned)f->map_port[i / 2], i % 2 ? "out" : "in",
			    (unsigned long long)f->map_throttled[i]);
		metrics_add(&b, "# HELP gt_mapping_throttled_seconds_total Time "
		    "the mapping's sessions waited for its bandwidth_limit, "
		    "summed over sessions, by direction.\n"
		    "# TYPE gt_mapping_throttled_seconds_total counter\n");
		for (i = 0; i < 2 * f->nmaps; i++)
			metrics_add(&b, "gt_mapping_throttled_seconds_total"
			    "{port=\"%u\",direction=\"%s\"} %.3f\n",
			    (unsigned)f->map_port[i / 2], i % 2 ? "out" : "in",
			    (double)f->map_waited_ns[i] / 1e9);
	}
	metrics_add(&b, "# HELP gt_build_info Build of this server.\n"
	    "# TYPE gt_build_info gauge\ngt_build_info{version=\"%s\"} 1\n", GT_VERSION);
	if (b.mb_fail) {
		free(b.mb_p);
		return NULL;
	}
	if (len != NULL)
		*len = b.mb_len;
	return b.mb_p;
}
