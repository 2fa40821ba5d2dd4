/*
 * cidr.c: the API allowlist. IPv4 and IPv6 CIDRs; an IPv4 address seen
 * through an IPv6 socket (::ffff:a.b.c.d) is treated as the IPv4 address,
 * both in rules and in peers, so one rule set covers dual-stack listeners.
 * The text is parsed by gt_cidr_scan (addr.c), the same as the config check.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gt/auth.h"

static const uint8_t cidr_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

/* Parse one allowlist entry; host bits are cleared. */
int
gt_cidr_parse(const char *s, struct gt_cidr *c)
{
	return gt_cidr_scan(s, 0, c) == GT_CIDR_OK ? 0 : -1;
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
	    memcmp(a, cidr_v4mapped, sizeof(cidr_v4mapped)) == 0) {
		a += 12;
		family = AF_INET;
	}
	for (i = 0; i < n; i++)
		if (cidr_in(&list[i], family, a))
			return 1;
	return 0;
}
