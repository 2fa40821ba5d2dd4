/*
 * dialer.h: the one asynchronous TCP dialer. Give it a host (an IP literal,
 * "[v6]", or a name for the evdns resolver) and a port; it resolves without
 * blocking, tries every address in turn until one connects, and hands over
 * a connected non-blocking socket, all within one timeout.
 *
 * Timing: the timeout covers the whole dial, resolution included. While
 * more than one address is left, an address that neither connects nor fails
 * gets its share of the time left (left / addresses left), so a black-holed
 * first address cannot starve the others; the last one gets all that is
 * left. A refused or failing address moves on at once.
 *
 * Callback: exactly once per dial unless it was cancelled first, always
 * from the event loop, never from inside gt_dial_start(). The dial handle
 * is gone once the callback returns.
 */
#ifndef GT_DIALER_H
#define GT_DIALER_H

#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

struct event_base;
struct evdns_base;
struct gt_dial;

/*
 * fd: the connected non-blocking socket (close-on-exec), now the callee's,
 * or -1. err: 0; an errno (ECONNREFUSED..., ETIMEDOUT when the timeout ran
 * out, EMFILE...) from the last address tried; or, for a resolver failure,
 * an EVUTIL_EAI_* code, which is negative: test with GT_DIAL_ERR_DNS().
 * why: one line for logs, borrowed for the call.
 */
typedef void gt_dial_cb(evutil_socket_t fd, int err, const char *why,
    void *arg);

#define GT_DIAL_ERR_DNS(err)	((err) < 0)

/*
 * Dial host:port. dns (borrowed) resolves names; NULL means IP literals
 * only (a name then fails with EVUTIL_EAI_FAIL). host is read during the
 * call only.
 * timeout_secs <= 0 means no timeout of ours (the kernel's connect timeout
 * and the resolver's still apply). Returns the dial, or NULL with errno
 * (EINVAL: no host, an empty one or one over GT_ADDR_HOSTMAX bytes, or
 * port 0; ENOMEM) and then never calls back.
 */
struct gt_dial *gt_dial_start(struct event_base *, struct evdns_base *dns,
	    const char *host, uint16_t port, int timeout_secs, gt_dial_cb *,
	    void *arg);
/*
 * Asked before each resolved address is tried (sa, len: the address with
 * its port): nonzero refuses it and the dial moves on. When nothing else
 * connects, a dial that refused an address fails with ELOOP: the
 * forwarder refuses targets that are this server's own ports.
 */
typedef int gt_dial_filter(const struct sockaddr *sa, socklen_t len,
    void *arg);

/* As gt_dial_start, every address passing filter (farg) first. */
struct gt_dial *gt_dial_start_filtered(struct event_base *,
	    struct evdns_base *dns, const char *host, uint16_t port,
	    int timeout_secs, gt_dial_filter *filter, void *farg, gt_dial_cb *,
	    void *arg);
/*
 * Abandon d: the callback will not run and a socket it holds is closed.
 * Safe at any time before the callback (while resolving, connecting, or
 * with the result waiting to be delivered) and a no-op inside it. When a
 * lookup is in flight its last bytes go when the resolver reports the
 * cancel, on the next loop pass: keep dns and the loop alive until then.
 */
void	gt_dial_cancel(struct gt_dial *d);

#endif
