/* allow.c: the client's -allow list: which local targets the server may ask for. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gt/client.h"

/* Parse a decimal port 1..65535 from [s, s+len). */
static int
allow_port(const char *s, size_t len, uint16_t *out)
{
	unsigned long	v = 0;
	size_t		i;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

/* A host is "*", an IP literal or a DNS name: letters, digits, '-', '.', ':'. */
static int
allow_host_ok(const char *h)
{
	size_t i, n = strlen(h);

	if (n == 0 || n > 253)
		return 0;
	if (strcmp(h, "*") == 0)
		return 1;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '.' &&
		    h[i] != ':' && h[i] != '%' && h[i] != '_')
			return 0;
	return 1;
}

/* Parse one "host:port|lo-hi|*" entry. */
static int
allow_entry(const char *e, size_t len, struct gt_allow_rule *r)
{
	const char	*colon, *dash, *pp;
	size_t		 hlen, plen;

	if (len == 0)
		return -1;
	if (e[0] == '[') {
		const char *rb = memchr(e, ']', len);

		if (rb == NULL || rb + 1 >= e + len || rb[1] != ':')
			return -1;
		hlen = (size_t)(rb - e - 1);
		if (hlen == 0 || hlen >= sizeof(r->host))
			return -1;
		memcpy(r->host, e + 1, hlen);
		colon = rb + 1;
	} else {
		colon = NULL;
		for (pp = e + len; pp > e; pp--)
			if (pp[-1] == ':') {
				colon = pp - 1;
				break;
			}
		if (colon == NULL)
			return -1;
		hlen = (size_t)(colon - e);
		if (hlen == 0 || hlen >= sizeof(r->host) ||
		    memchr(e, ':', hlen) != NULL)	/* bare IPv6 needs [] */
			return -1;
		memcpy(r->host, e, hlen);
	}
	r->host[hlen] = '\0';
	if (!allow_host_ok(r->host))
		return -1;
	pp = colon + 1;
	plen = (size_t)(e + len - pp);
	if (plen == 1 && *pp == '*') {
		r->port_lo = 1;
		r->port_hi = 65535;
		return 0;
	}
	if ((dash = memchr(pp, '-', plen)) != NULL) {
		if (allow_port(pp, (size_t)(dash - pp), &r->port_lo) == -1 ||
		    allow_port(dash + 1, plen - (size_t)(dash - pp) - 1,
		    &r->port_hi) == -1 || r->port_lo > r->port_hi)
			return -1;
		return 0;
	}
	if (allow_port(pp, plen, &r->port_lo) == -1)
		return -1;
	r->port_hi = r->port_lo;
	return 0;
}

int
gt_allow_parse(const char *s, struct gt_allow *a, char *err, size_t errlen)
{
	const char	*p = s, *comma;
	size_t		 len;

	memset(a, 0, sizeof(*a));
	if (s == NULL || *s == '\0') {
		snprintf(err, errlen, "-allow: empty list");
		return -1;
	}
	for (;;) {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (a->n == GT_ALLOW_MAX) {
			snprintf(err, errlen, "-allow: more than %d entries",
			    GT_ALLOW_MAX);
			return -1;
		}
		if (allow_entry(p, len, &a->rules[a->n]) == -1) {
			snprintf(err, errlen, "-allow: bad entry \"%.*s\" (want "
			    "HOST:PORT, HOST:LO-HI or HOST:*)", (int)(len > 80 ?
			    80 : len), p);
			return -1;
		}
		a->n++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return 0;
}

int
gt_allow_match(const struct gt_allow *a, const char *host, uint16_t port)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		const struct gt_allow_rule *r = &a->rules[i];

		if (port < r->port_lo || port > r->port_hi)
			continue;
		if (strcmp(r->host, "*") == 0 || strcasecmp(r->host, host) == 0)
			return 1;
	}
	return 0;
}
