/*
 * cidr.c: the API allowlist. IPv4 and IPv6 CIDRs; an IPv4 address seen
 * through an IPv6 socket (::ffff:a.b.c.d) is treated as the IPv4 address,
 * both in rules and in peers, so one rule set covers dual-stack listeners.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gt/auth.h"

/* Longest address text we accept: a full IPv6 with an embedded IPv4. */
#define CIDR_ADDR_MAX	INET6_ADDRSTRLEN

static const uint8_t cidr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parse a prefix: 1 to 3 decimal digits, nothing else, at most max. */
static int
cidr_parse_prefix(const char *s, unsigned max, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	if (s[0] == '\0')
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
	size_t i;
	unsigned bits;

	for (i = 0; i < len; i++) {
		bits = prefix > i * 8 ? prefix - (unsigned)(i * 8) : 0;
		if (bits >= 8)
			continue;
		addr[i] &= (uint8_t)(0xff00u >> bits);
	}
}

/* Parse one allowlist entry; host bits are cleared. */
int
gt_cidr_parse(const char *s, struct gt_cidr *c)
{
	char buf[CIDR_ADDR_MAX + 1];
	const char *slash;
	size_t alen;
	struct gt_cidr r;

	if (s == NULL || c == NULL)
		return -1;
	memset(&r, 0, sizeof(r));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen > CIDR_ADDR_MAX)
		return -1;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (strchr(buf, ':') != NULL) {
		r.family = AF_INET6;
		if (inet_pton(AF_INET6, buf, r.addr) != 1)
			return -1;
		r.prefix = 128;
	} else {
		r.family = AF_INET;
		if (inet_pton(AF_INET, buf, r.addr) != 1)
			return -1;
		r.prefix = 32;
	}
	if (slash != NULL && cidr_parse_prefix(slash + 1, r.prefix,
	    &r.prefix) == -1)
		return -1;
	/* ::ffff:a.b.c.d/96..128 is an IPv4 rule written the IPv6 way. */
	if (r.family == AF_INET6 && r.prefix >= 96 &&
	    memcmp(r.addr, cidr_v4mapped, sizeof(cidr_v4mapped)) == 0) {
		memmove(r.addr, r.addr + 12, 4);
		memset(r.addr + 4, 0, 12);
		r.family = AF_INET;
		r.prefix -= 96;
	}
	cidr_mask(r.addr, r.family == AF_INET ? 4 : 16, r.prefix);
	*c = r;
	return 0;
}

/* Does addr (family's length) fall in rule c? */
static int
cidr_in(const struct gt_cidr *c, int family, const uint8_t *addr)
{
	uint8_t a[16];
	size_t len;

	if (c->family != family)
		return 0;
	len = family == AF_INET ? 4 : 16;
	if (c->prefix > len * 8)
		return 0;
	memcpy(a, addr, len);
	cidr_mask(a, len, c->prefix);
	return memcmp(a, c->addr, len) == 0;
}

/* Is the peer address inside any of the n rules? */
int
gt_cidr_match(const struct gt_cidr *list, size_t n, const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	uint8_t addr[16];
	int family;
	size_t i;

	if (sa == NULL || (list == NULL && n > 0))
		return 0;
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(addr, &sin->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(addr, sin6->sin6_addr.s6_addr + 12, 4);
			family = AF_INET;
		} else {
			memcpy(addr, sin6->sin6_addr.s6_addr, 16);
			family = AF_INET6;
		}
	} else
		return 0;
	for (i = 0; i < n; i++)
		if (cidr_in(&list[i], family, addr))
			return 1;
	return 0;
}
