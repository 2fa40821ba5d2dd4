/*
 * addr.c: IP literals to sockaddrs and back, "host:port" splitting, and
 * CIDR blocks. inet_pton/inet_ntop do the real work; this file decides the
 * forms around them (brackets, ports, prefixes) once for every caller.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gt/addr.h"

/* Longest IP literal text: a full IPv6 with an embedded IPv4, 45 bytes. */
#define ADDR_IPMAX	(INET6_ADDRSTRLEN - 1)

static const uint8_t addr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Copy the n bytes at s into buf[size] as a string; -1 if they do not fit. */
static int
addr_copy(const char *s, size_t n, char *buf, size_t size)
{
	if (n >= size)
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 0;
}

/* inet_pton both ways round: the family of literal s, its bytes in a[16]. */
static int
addr_pton(const char *s, uint8_t *a)
{
	/* Bound the work on hostile input: no literal is longer. */
	if (s == NULL || strnlen(s, ADDR_IPMAX + 1) > ADDR_IPMAX)
		return 0;
	if (inet_pton(AF_INET, s, a) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, a) == 1)
		return AF_INET6;
	return 0;
}

/* Callers ask "is this a literal, which kind?" without a sockaddr. */
int
gt_addr_ip_family(const char *s)
{
	uint8_t a[16];

	return addr_pton(s, a);
}

/* Parse a literal (maybe "[v6]") and a port into a sockaddr. */
int
gt_addr_parse_ip(const char *s, uint16_t port, int flags,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*sin;
	struct sockaddr_in6	*sin6;
	char			 buf[ADDR_IPMAX + 1];
	uint8_t			 a[16];
	size_t			 n;
	int			 family;

	if (s == NULL || ss == NULL || len == NULL)
		goto bad;
	if (s[0] == '[') {
		/* Brackets hold an IPv6 literal only, and only when asked. */
		if (!(flags & GT_ADDR_BRACKETS))
			goto bad;
		n = strnlen(s, ADDR_IPMAX + 3);
		if (n < 2 || n > ADDR_IPMAX + 2 || s[n - 1] != ']' ||
		    addr_copy(s + 1, n - 2, buf, sizeof(buf)) == -1)
			goto bad;
		if ((family = addr_pton(buf, a)) != AF_INET6)
			goto bad;
	} else if ((family = addr_pton(s, a)) == 0)
		goto bad;
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, a, 4);
		*len = sizeof(*sin);
	} else {
		sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, a, 16);
		*len = sizeof(*sin6);
	}
	return 0;
bad:
	errno = EINVAL;
	return -1;
}

/* A port: 1 to 5 decimal digits, nothing else, 1..65535. */
static int
addr_port(const char *s, uint16_t *port)
{
	unsigned long	v = 0;
	size_t		i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 5 || s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || v < 1 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* Split host:port or [v6]:port; the host may be a name. */
int
gt_addr_split(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char	*h, *colon, *rb;
	size_t		 n;
	uint16_t	 p;

	/* Longest form: "[" host "]:65535". */
	if (s == NULL || host == NULL || port == NULL ||
	    strnlen(s, GT_ADDR_HOSTMAX + 9) > GT_ADDR_HOSTMAX + 8)
		return -1;
	if (s[0] == '[') {
		if ((rb = strchr(s, ']')) == NULL || rb[1] != ':')
			return -1;
		h = s + 1;
		n = (size_t)(rb - h);
		colon = rb + 1;
		/* Inside brackets: IPv6 text only, so no ']' or '[' twice. */
		if (memchr(h, '[', n) != NULL)
			return -1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL ||
		    memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;
		h = s;
		n = (size_t)(colon - s);
		if (memchr(h, ']', n) != NULL)
			return -1;
	}
	if (n == 0 || n > GT_ADDR_HOSTMAX || addr_port(colon + 1, &p) == -1 ||
	    addr_copy(h, n, host, hostlen) == -1)
		return -1;
	*port = p;
	return 0;
}

/* host + port as one string, brackets around an IPv6-looking host. */
int
gt_addr_join(const char *host, uint16_t port, char *buf, size_t size)
{
	int n;

	if (buf == NULL || size == 0)
		return -1;
	if (host == NULL)
		host = "?";
	n = snprintf(buf, size, strchr(host, ':') != NULL ? "[%s]:%u" :
	    "%s:%u", host, port);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The address bytes and port of an IPv4/IPv6 sockaddr; its family or 0. */
static int
addr_unpack(const struct sockaddr *sa, socklen_t len, const uint8_t **p,
    uint16_t *port)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(*sin)) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		*p = (const uint8_t *)&sin->sin_addr;
		*port = ntohs(sin->sin_port);
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(*sin6)) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		*p = sin6->sin6_addr.s6_addr;
		*port = ntohs(sin6->sin6_port);
		return AF_INET6;
	}
	return 0;
}

/* Write the address of sa, bracketed or not, with or without ":port". */
static int
addr_format(const struct sockaddr *sa, socklen_t len, int brackets,
    int withport, char *buf, size_t size)
{
	char		 host[INET6_ADDRSTRLEN];
	const uint8_t	*a;
	uint16_t	 port;
	int		 family, n;

	if (buf == NULL || size == 0)
		return -1;
	if ((family = addr_unpack(sa, len, &a, &port)) == 0 ||
	    inet_ntop(family, a, host, sizeof(host)) == NULL)
		goto bad;
	if (family == AF_INET6 && brackets)
		n = withport ? snprintf(buf, size, "[%s]:%u", host, port) :
		    snprintf(buf, size, "[%s]", host);
	else
		n = withport ? snprintf(buf, size, "%s:%u", host, port) :
		    snprintf(buf, size, "%s", host);
	if (n < 0 || (size_t)n >= size)
		goto bad;
	return 0;
bad:
	snprintf(buf, size, "?");
	return -1;
}

/* "ip:port" or "[v6]:port", for logs and error messages. */
int
gt_addr_format(const struct sockaddr *sa, socklen_t len, char *buf,
    size_t size)
{
	return addr_format(sa, len, 1, 1, buf, size);
}

/* The address alone, bracketed on request. */
int
gt_addr_format_ip(const struct sockaddr *sa, socklen_t len, int flags,
    char *buf, size_t size)
{
	return addr_format(sa, len, (flags & GT_ADDR_BRACKETS) != 0, 0, buf,
	    size);
}

/* The raw address bytes of sa, for comparisons (SANs, loopback checks). */
size_t
gt_addr_bytes(const struct sockaddr *sa, socklen_t len, const uint8_t **p)
{
	uint16_t	port;

	switch (addr_unpack(sa, len, p, &port)) {
	case AF_INET:
		return 4;
	case AF_INET6:
		return 16;
	default:
		return 0;
	}
}

/* Parse a prefix: 1 to 3 decimal digits, nothing else, at most max. */
static int
cidr_prefix(const char *s, unsigned max, int flags, unsigned *out)
{
	unsigned	v = 0;
	size_t		i;

	if (s[0] == '\0')
		return -1;
	if ((flags & GT_CIDR_STRICT) && s[0] == '0' && s[1] != '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= 3 || s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* Clear the bits of addr (len bytes) beyond prefix. */
static void
cidr_mask(uint8_t *addr, size_t len, unsigned prefix)
{
	size_t		i;
	unsigned	bits;

	for (i = 0; i < len; i++) {
		bits = prefix > i * 8 ? prefix - (unsigned)(i * 8) : 0;
		if (bits >= 8)
			continue;
		addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* One CIDR block, with the reason when it is not one. */
int
gt_cidr_scan(const char *s, int flags, struct gt_cidr *c)
{
	char		 buf[ADDR_IPMAX + 1];
	const char	*slash;
	size_t		 alen;
	struct gt_cidr	 r;

	if (s == NULL || c == NULL)
		return GT_CIDR_EADDR;
	memset(&r, 0, sizeof(r));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || addr_copy(s, alen, buf, sizeof(buf)) == -1 ||
	    (r.family = addr_pton(buf, r.addr)) == 0)
		return GT_CIDR_EADDR;
	r.prefix = r.family == AF_INET ? 32 : 128;
	if (slash != NULL && cidr_prefix(slash + 1, r.prefix, flags,
	    &r.prefix) == -1)
		return GT_CIDR_EPREFIX;
	/* ::ffff:a.b.c.d/96..128 is an IPv4 block written the IPv6 way. */
	if (r.family == AF_INET6 && r.prefix >= 96 &&
	    memcmp(r.addr, addr_v4mapped, sizeof(addr_v4mapped)) == 0) {
		memmove(r.addr, r.addr + 12, 4);
		memset(r.addr + 4, 0, 12);
		r.family = AF_INET;
		r.prefix -= 96;
	}
	cidr_mask(r.addr, r.family == AF_INET ? 4 : 16, r.prefix);
	*c = r;
	return GT_CIDR_OK;
}

/* Does addr (family's length) fall in rule c, whose host bits are clear? */
static int
cidr_in(const struct gt_cidr *c, int family, const uint8_t *addr)
{
	size_t		len, full;
	unsigned	rest;

	if (c->family != family)
		return 0;
	len = family == AF_INET ? 4 : 16;
	if (c->prefix > len * 8)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(addr, c->addr, full) != 0)
		return 0;
	return rest == 0 ||
	    (addr[full] & (uint8_t)(0xff00u >> rest)) == c->addr[full];
}

/* Is the peer address inside any of the n rules? */
int
gt_cidr_match(const struct gt_cidr *list, size_t n, const struct sockaddr *sa)
{
	const uint8_t	*a;
	int		 family;
	size_t		 i, alen;

	if (sa == NULL || (list == NULL && n > 0))
		return 0;
	if ((alen = gt_addr_bytes(sa, sa->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6), &a)) == 0)
		return 0;
	family = alen == 4 ? AF_INET : AF_INET6;
	if (family == AF_INET6 &&
	    memcmp(a, addr_v4mapped, sizeof(addr_v4mapped)) == 0) {
		a += 12;
		family = AF_INET;
	}
	for (i = 0; i < n; i++)
		if (cidr_in(&list[i], family, a))
			return 1;
	return 0;
}

/* Write c as "addr/prefix"; the inverse of gt_cidr_scan. */
int
gt_cidr_format(const struct gt_cidr *c, char *buf, size_t size)
{
	char	a[INET6_ADDRSTRLEN];
	int	n;

	if (size > 0)
		buf[0] = '\0';
	if ((c->family != AF_INET && c->family != AF_INET6) ||
	    inet_ntop(c->family, c->addr, a, sizeof(a)) == NULL)
		return -1;
	n = snprintf(buf, size, "%s/%u", a, c->prefix);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}
