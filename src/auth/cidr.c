/*
 * cidr.c: the API allowlist. IPv4 and IPv6 CIDRs; an IPv4 address seen
 * through an IPv6 socket (::ffff:a.b.c.d) is treated as the IPv4 address,
 * both in rules and in peers, so one rule set covers dual-stack listeners.
 * The text is parsed by gt_cidr_scan and matched by gt_cidr_match (addr.c),
 * the same code as the config check and the mappings' access rules.
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "gt/auth.h"

/* Parse one allowlist entry; host bits are cleared. */
int
gt_cidr_parse(const char *s, struct gt_cidr *c)
{
	return gt_cidr_scan(s, 0, c) == GT_CIDR_OK ? 0 : -1;
}
