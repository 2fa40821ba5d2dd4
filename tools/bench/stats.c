/* stats.c: latency histograms, list and address parsing, clocks. */
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

#define HIST_SUB	(1u << BENCH_HIST_SUBBITS)
/* Octaves above the exact range: 2^13 .. 2^63. */
#define HIST_OCTAVES	(64 - 13)

/* Allocate an empty histogram (about 470 KiB of counters). */
int
bench_hist_init(struct bench_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->bh_nbuckets = BENCH_HIST_EXACT + (size_t)HIST_OCTAVES * HIST_SUB;
	h->bh_counts = calloc(h->bh_nbuckets, sizeof(*h->bh_counts));
	if (h->bh_counts == NULL)
		return -1;
	h->bh_min = UINT64_MAX;
	return 0;
}

/* Release the counters; idempotent. */
void
bench_hist_free(struct bench_hist *h)
{
	free(h->bh_counts);
	h->bh_counts = NULL;
	h->bh_n = 0;
}

/* Bucket of a value: exact below 8192, then 1024 per octave (< 0.1% wide). */
static size_t
hist_bucket(uint64_t v)
{
	int		e;
	uint64_t	sub;

	if (v < BENCH_HIST_EXACT)
		return (size_t)v;
	e = 63 - __builtin_clzll(v);
	sub = (v >> (e - BENCH_HIST_SUBBITS)) - HIST_SUB;
	return BENCH_HIST_EXACT + (size_t)(e - 13) * HIST_SUB + (size_t)sub;
}

/* Highest value that falls in bucket b. */
static uint64_t
hist_bucket_top(size_t b)
{
	size_t		oct, sub;
	int		shift;

	if (b < BENCH_HIST_EXACT)
		return b;
	oct = (b - BENCH_HIST_EXACT) / HIST_SUB;
	sub = (b - BENCH_HIST_EXACT) % HIST_SUB;
	shift = (int)oct + 13 - BENCH_HIST_SUBBITS;
	return (((uint64_t)(HIST_SUB + sub) + 1) << shift) - 1;
}

/* Count one sample. */
void
bench_hist_add(struct bench_hist *h, uint64_t us)
{
	h->bh_counts[hist_bucket(us)]++;
	h->bh_n++;
	h->bh_sum += (double)us;
	if (us > h->bh_max)
		h->bh_max = us;
	if (us < h->bh_min)
		h->bh_min = us;
}

/* Add the samples of src to dst. */
void
bench_hist_merge(struct bench_hist *dst, const struct bench_hist *src)
{
	size_t i;

	if (src->bh_n == 0)
		return;
	for (i = 0; i < dst->bh_nbuckets; i++)
		dst->bh_counts[i] += src->bh_counts[i];
	dst->bh_n += src->bh_n;
	dst->bh_sum += src->bh_sum;
	if (src->bh_max > dst->bh_max)
		dst->bh_max = src->bh_max;
	if (src->bh_min < dst->bh_min)
		dst->bh_min = src->bh_min;
}

/* Smallest sample v with at least ceil(p% of n) samples <= v. */
uint64_t
bench_hist_percentile(const struct bench_hist *h, double p)
{
	uint64_t	rank, cum = 0, v;
	double		r;
	size_t		i;

	if (h->bh_n == 0)
		return 0;
	if (p >= 100.0)
		return h->bh_max;
	/* The epsilon keeps 99.9% of 1000 at rank 999 despite rounding. */
	r = p / 100.0 * (double)h->bh_n - 1e-9;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	for (i = 0; i < h->bh_nbuckets; i++) {
		cum += h->bh_counts[i];
		if (cum >= rank) {
			v = hist_bucket_top(i);
			return v > h->bh_max ? h->bh_max : v;
		}
	}
	return h->bh_max;
}

/* Arithmetic mean of the samples; 0 when empty. */
double
bench_hist_mean(const struct bench_hist *h)
{
	return h->bh_n ? h->bh_sum / (double)h->bh_n : 0.0;
}

/* Parse one decimal number with an optional K/M/G (binary) suffix. */
static int
list_number(const char *s, size_t len, long *out)
{
	char		buf[32], *end;
	long long	v, mult = 1;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	switch (buf[len - 1]) {
	case 'k': case 'K':
		mult = 1024;
		break;
	case 'm': case 'M':
		mult = 1024 * 1024;
		break;
	case 'g': case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	}
	if (mult != 1)
		buf[--len] = '\0';
	if (len == 0 || !isdigit((unsigned char)buf[0]))
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (*end != '\0' || errno == ERANGE || v > LONG_MAX / mult)
		return -1;
	*out = (long)(v * mult);
	return 0;
}

/* Comma-separated numbers with K/M/G suffixes, each within [min, max]. */
int
bench_parse_list(const char *s, long min, long max, long *out, size_t maxn,
    size_t *n, char *err, size_t errlen)
{
	const char	*p, *comma;
	size_t		 len;
	long		 v;

	*n = 0;
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "empty list");
		return -1;
	}
	for (p = s;; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (list_number(p, len, &v) == -1) {
			snprintf(err, errlen, "\"%.*s\" is not a number", (int)len, p);
			return -1;
		}
		if (v < min || v > max) {
			snprintf(err, errlen, "%ld is out of range %ld..%ld",
			    v, min, max);
			return -1;
		}
		if (*n == maxn) {
			snprintf(err, errlen, "more than %zu values", maxn);
			return -1;
		}
		out[(*n)++] = v;
		if (comma == NULL)
			break;
	}
	return 0;
}

/* host:port or [v6]:port to a socket address (names resolved before any loop runs). */
int
bench_parse_addr(const char *s, int allow0, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res = NULL;
	char		 host[256], *end;
	const char	*colon, *port, *hstart = s;
	size_t		 hlen;
	long		 pn;
	int		 rc;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || end[1] != ':') {
			snprintf(err, errlen, "bad address \"%s\": want [v6]:port", s);
			return -1;
		}
		hstart = s + 1;
		hlen = (size_t)(end - hstart);
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, errlen, "bad address \"%s\": want host:port", s);
			return -1;
		}
		hlen = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(err, errlen, "bad address \"%s\": bad host", s);
		return -1;
	}
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	errno = 0;
	pn = strtol(port, &end, 10);
	if (*port == '\0' || !isdigit((unsigned char)*port) || *end != '\0' ||
	    pn < (allow0 ? 0 : 1) || pn > 65535) {
		snprintf(err, errlen, "bad address \"%s\": bad port", s);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = s[0] == '[' ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0 || res == NULL) {
		snprintf(err, errlen, "bad address \"%s\": %s", s,
		    rc ? gai_strerror(rc) : "no address");
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* "1.2.3.4:80" or "[::1]:80". */
void
bench_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	}
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Sleep ms milliseconds, resuming after signals. */
void
bench_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Raise the open-files soft limit to the hard limit (many connections). */
void
bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}
