/*
 * proxy_hdr.c: the PROXY protocol header encoder (proxy_hdr.h). Addresses
 * are formatted here rather than with inet_ntop: the spec's v1 wants IPv6
 * as hex groups only, and inet_ntop writes v4-mapped and v4-compatible
 * addresses with a dotted quad.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "gt/proxy_hdr.h"

/* "" (none), "v1", "v2". */
int
gt_proxy_version_parse(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return GT_PROXY_NONE;
	if (strcmp(s, "v1") == 0)
		return GT_PROXY_V1;
	if (strcmp(s, "v2") == 0)
		return GT_PROXY_V2;
	return -1;
}

/* Is a (16 bytes) ::ffff:a.b.c.d? */
static int
proxy_is_mapped(const uint8_t *a)
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

/* One side of a connection into addr/port; its family (4, 6) or -1. */
static int
proxy_side(const struct sockaddr *sa, uint8_t *addr, uint16_t *port)
{
	const struct sockaddr_in	*s4;
	const struct sockaddr_in6	*s6;

	if (sa == NULL)
		return -1;
	memset(addr, 0, 16);
	if (sa->sa_family == AF_INET) {
		s4 = (const struct sockaddr_in *)sa;
		memcpy(addr, &s4->sin_addr, 4);
		*port = ntohs(s4->sin_port);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		s6 = (const struct sockaddr_in6 *)sa;
		*port = ntohs(s6->sin6_port);
		if (proxy_is_mapped(s6->sin6_addr.s6_addr)) {
			memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
			return 4;
		}
		memcpy(addr, s6->sin6_addr.s6_addr, 16);
		return 6;
	}
	return -1;
}

/* Rewrite the IPv4 address at a (first 4 bytes) as ::ffff:a.b.c.d. */
static void
proxy_map6(uint8_t *a)
{
	uint8_t v4[4];

	memcpy(v4, a, 4);
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	memcpy(a + 12, v4, 4);
}

int
gt_proxy_addr_set(struct gt_proxy_addr *pa, int version,
    const struct sockaddr *src, const struct sockaddr *dst)
{
	int fs, fd;

	memset(pa, 0, sizeof(*pa));
	if (version != GT_PROXY_V1 && version != GT_PROXY_V2)
		return -1;
	if ((fs = proxy_side(src, pa->src, &pa->src_port)) == -1 ||
	    (fd = proxy_side(dst, pa->dst, &pa->dst_port)) == -1)
		return -1;
	/* One family for both, as both versions require. */
	if (fs != fd) {
		proxy_map6(fs == 4 ? pa->src : pa->dst);
		fs = 6;
	}
	pa->version = (uint8_t)version;
	pa->family = (uint8_t)fs;
	return 0;
}

/*
 * IPv6 a as hex groups, the longest run of two or more zero groups as "::"
 * (the first such run on a tie), lower case: RFC 5952 without its dotted
 * quads, which v1 does not allow. out holds at least 40 bytes.
 */
static void
proxy_fmt6(const uint8_t *a, char *out, size_t len)
{
	unsigned	g[8];
	int		i, best = -1, bestlen = 0, run = 0, start = 0;
	size_t		n = 0;

	for (i = 0; i < 8; i++) {
		g[i] = ((unsigned)a[2 * i] << 8) | a[2 * i + 1];
		if (g[i] == 0) {
			if (run++ == 0)
				start = i;
			if (run > bestlen) {
				bestlen = run;
				best = start;
			}
		} else
			run = 0;
	}
	if (bestlen < 2)
		best = -1;
	out[0] = '\0';
	for (i = 0; i < 8 && n < len; i++) {
		if (i == best) {
			n += (size_t)snprintf(out + n, len - n, "::");
			i += bestlen - 1;
			continue;
		}
		n += (size_t)snprintf(out + n, len - n, "%s%x",
		    (i == 0 || i == best + bestlen) ? "" : ":", g[i]);
	}
}

/* Version 1: "PROXY TCP4|TCP6 src dst sport dport\r\n". */
static int
proxy_encode_v1(const struct gt_proxy_addr *pa, uint8_t *buf, size_t len)
{
	char	s[48], d[48], line[GT_PROXY_HDR_MAX + 1];
	int	n;

	if (pa->family == 4) {
		snprintf(s, sizeof(s), "%u.%u.%u.%u", pa->src[0], pa->src[1],
		    pa->src[2], pa->src[3]);
		snprintf(d, sizeof(d), "%u.%u.%u.%u", pa->dst[0], pa->dst[1],
		    pa->dst[2], pa->dst[3]);
	} else {
		proxy_fmt6(pa->src, s, sizeof(s));
		proxy_fmt6(pa->dst, d, sizeof(d));
	}
	n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
	    pa->family == 4 ? '4' : '6', s, d, pa->src_port, pa->dst_port);
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > len)
		return -1;
	memcpy(buf, line, (size_t)n);
	return n;
}

/* Version 2: signature, ver/cmd, family/protocol, length, addresses. */
static int
proxy_encode_v2(const struct gt_proxy_addr *pa, uint8_t *buf, size_t len)
{
	size_t alen = pa->family == 4 ? 4 : 16, body = 2 * alen + 4;
	uint8_t *p;

	if (16 + body > len)
		return -1;
	memcpy(buf, GT_PROXY_V2_SIG, GT_PROXY_V2_SIGLEN);
	buf[12] = 0x21;				/* version 2, PROXY */
	buf[13] = pa->family == 4 ? 0x11 : 0x21;	/* TCP over IPv4 / IPv6 */
	buf[14] = (uint8_t)(body >> 8);
	buf[15] = (uint8_t)body;
	p = buf + 16;
	memcpy(p, pa->src, alen);
	memcpy(p + alen, pa->dst, alen);
	p += 2 * alen;
	p[0] = (uint8_t)(pa->src_port >> 8);
	p[1] = (uint8_t)pa->src_port;
	p[2] = (uint8_t)(pa->dst_port >> 8);
	p[3] = (uint8_t)pa->dst_port;
	return (int)(16 + body);
}

int
gt_proxy_hdr_encode(const struct gt_proxy_addr *pa, uint8_t *buf, size_t len)
{
	if (pa == NULL || buf == NULL || (pa->family != 4 && pa->family != 6))
		return -1;
	switch (pa->version) {
	case GT_PROXY_V1:
		return proxy_encode_v1(pa, buf, len);
	case GT_PROXY_V2:
		return proxy_encode_v2(pa, buf, len);
	}
	return -1;
}
