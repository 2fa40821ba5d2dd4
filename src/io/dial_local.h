/*
 * dial_local.h: the dialer's entry below name resolution, for unit tests
 * (a list of addresses DNS could not give them) and nothing else.
 */
#ifndef GT_DIAL_LOCAL_H
#define GT_DIAL_LOCAL_H

#include <stddef.h>
#include <sys/socket.h>

#include "gt/dialer.h"

/* Most addresses of one answer that a dial tries; the rest are ignored. */
#define DIAL_MAXADDRS	16

/*
 * As gt_dial_start after resolving: try addrs[0..n) (copied; AF_INET and
 * AF_INET6 only, at most DIAL_MAXADDRS) in order, within timeout_ms
 * (<= 0: none). NULL with errno EINVAL (no usable address) or ENOMEM.
 */
struct gt_dial *dial_start_addrs(struct event_base *,
	    const struct sockaddr_storage *addrs, size_t n, int timeout_ms,
	    gt_dial_cb *, void *arg);

#endif
