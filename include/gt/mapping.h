/* mapping.h: one port mapping, as stored (store.h), served (fwd.h) and shown (api). */
#ifndef GT_MAPPING_H
#define GT_MAPPING_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <sys/socket.h>

#include "gt/addr.h"	/* struct gt_cidr */

#define GT_HOSTNAME_MAX	253	/* a DNS name or an IP literal */
#define GT_CLIENT_MAX	64	/* a certificate CN */
/*
 * access_ips entries per mapping: a list is checked at every accept, and
 * a longer one belongs in a firewall, not in a linear scan.
 */
#define GT_ACCESS_IPS_MAX	64
#define GT_MAXCONN_MAX	1000000	/* max_connections bound */
#define GT_PROXY_MAX	3	/* "", "v1", "v2" */
/*
 * bandwidth_limit, bytes per second each way: 0 (none) or MIN..MAX. Below
 * 1 KiB/s a TCP segment would take a second; 10 GiB/s is past any link
 * gt serves and keeps the bucket's arithmetic in 64 bits (rate.h).
 */
#define GT_BANDWIDTH_MIN	1024u
#define GT_BANDWIDTH_MAX	(10ull * 1024 * 1024 * 1024)

/* access_rule: who may connect to the public port. */
enum gt_access {
	GT_ACCESS_DISABLED = 0,	/* everybody (the default) */
	GT_ACCESS_WHITELIST,	/* only access_ips (an empty list: nobody) */
	GT_ACCESS_BLACKLIST,	/* everybody but access_ips */
};

struct gt_mapping {
	int64_t		id;			/* database row id */
	uint16_t	source_port;		/* public port */
	char		target_host[GT_HOSTNAME_MAX + 1];
	uint16_t	target_port;
	int		use_tunnel;
	char		client[GT_CLIENT_MAX + 1];	/* "" = any connected client */
	time_t		created_at;
	/* SPEC 9's per-mapping fields. */
	enum gt_access	access_rule;
	size_t		n_access_ips;
	struct gt_cidr	access_ips[GT_ACCESS_IPS_MAX];
	unsigned	max_connections;	/* 0: limits.max_sessions_per_mapping */
	uint64_t	bandwidth_limit;	/* bytes/s each way, 0: none (fwd paces) */
	/* "", "v1", "v2": the PROXY header to the target (proxy_hdr.h), read at each accept */
	char		proxy_protocol[GT_PROXY_MAX + 1];
};

/* "disabled", "whitelist", "blacklist". */
const char *gt_mapping_rule_name(enum gt_access);
/* The rule named s into *out: 0, or -1 for another word. */
int	gt_mapping_rule_parse(const char *s, enum gt_access *out);
/* May peer sa connect under m's access rule? 1 yes, 0 no. */
int	gt_mapping_admits(const struct gt_mapping *m, const struct sockaddr *sa);
/*
 * m's access_ips as text, comma-separated canonical CIDRs (the store's
 * column). 0, or -1 if buf is too small.
 */
int	gt_mapping_ips_format(const struct gt_mapping *m, char *buf, size_t len);
/*
 * Comma-separated CIDRs (as gt_mapping_ips_format writes) into m's list.
 * 0, or -1 (a bad entry, too many) with m untouched.
 */
int	gt_mapping_ips_parse(struct gt_mapping *m, const char *s);

#endif
