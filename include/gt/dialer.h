/* dialer.h: TEMPORARY (replaced by the dialer branch). */
#ifndef GT_DIALER_H
#define GT_DIALER_H

#include <stdint.h>
#include <event2/util.h>

struct event_base;
struct evdns_base;
struct gt_dial;

typedef void gt_dial_cb(evutil_socket_t fd, int err, const char *why, void *arg);

struct gt_dial *gt_dial_start(struct event_base *, struct evdns_base *,
	    const char *host, uint16_t port, int timeout_secs, gt_dial_cb *, void *arg);
void	gt_dial_cancel(struct gt_dial *);

#endif
