/* mapping.h: one port mapping, as stored (store.h), served (fwd.h) and shown (api). */
#ifndef GT_MAPPING_H
#define GT_MAPPING_H

#include <stdint.h>
#include <time.h>

#define GT_HOSTNAME_MAX	253	/* a DNS name or an IP literal */
#define GT_CLIENT_MAX	64	/* a certificate CN */

struct gt_mapping {
	int64_t		id;			/* database row id */
	uint16_t	source_port;		/* public port */
	char		target_host[GT_HOSTNAME_MAX + 1];
	uint16_t	target_port;
	int		use_tunnel;
	char		client[GT_CLIENT_MAX + 1];	/* "" = any connected client */
	time_t		created_at;
};

#endif
