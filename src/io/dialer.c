/*
 * dialer.c: the asynchronous dialer of dialer.h. A dial is a small state
 * machine: RESOLVING (evdns) -> CONNECTING to address i of n -> DONE (the
 * result waits for the deferred callback). One timer carries both the
 * whole-dial deadline and the share of the address being tried.
 *
 * Lifetime: the handle is released when the callback has run or on
 * gt_dial_cancel. A lookup still in flight then keeps the bare struct alive
 * (d_released set) until the resolver reports back, since evdns holds a
 * pointer to it and its cancel only schedules that report.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gt/loop.h"
#include "gt/addr.h"
#include "gt/dialer.h"
#include "gt/log.h"
#include "dial_local.h"

#define DIAL_MAX_TIMEOUT_SECS	86400	/* longer is taken as a day */

enum dial_state {
	DIAL_RESOLVING,
	DIAL_CONNECTING,
	DIAL_DONE,
};

union dial_sa {
	struct sockaddr		sa;
	struct sockaddr_in	sin;
	struct sockaddr_in6	sin6;
};

struct gt_dial {
	struct event_base		*d_base;
	gt_dial_cb			*d_cb;
	void				*d_arg;
	enum dial_state			 d_state;
	struct evdns_getaddrinfo_request *d_req;	/* NULL once cancelled */
	int				 d_in_dns;	/* resolver callback still due */
	int				 d_cancelled;	/* by the owner */
	int				 d_delivered;	/* callback called */
	int				 d_released;	/* owner gone, only d_in_dns holds it */
	union dial_sa			 d_addrs[DIAL_MAXADDRS];
	size_t				 d_naddrs;
	size_t				 d_cur;		/* address being tried */
	evutil_socket_t			 d_fd;		/* connecting, or the result */
	struct event			*d_conn;	/* EV_WRITE on d_fd while connecting */
	struct event			*d_timer;
	struct event			*d_done;	/* delivers the result */
	long long			 d_deadline;	/* ms, monotonic; 0 = none */
	int				 d_err;		/* result */
	int				 d_lasterr;	/* of the last address that failed */
	gt_dial_filter			*d_filter;	/* may refuse an address */
	void				*d_farg;
	size_t				 d_refused;	/* addresses the filter refused */
	char				 d_why[128];
};

static void	dial_conn_cb(evutil_socket_t, short, void *);

/* The length of a sockaddr of the family in a. */
static socklen_t
dial_salen(const union dial_sa *a)
{
	return a->sa.sa_family == AF_INET ? sizeof(a->sin) : sizeof(a->sin6);
}

/* Add one address to try, if it is TCP-dialable and there is room. */
static void
dial_add_addr(struct gt_dial *d, const struct sockaddr *sa, size_t len)
{
	if (d->d_naddrs == DIAL_MAXADDRS)
		return;
	if ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
	    (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))) {
		memset(&d->d_addrs[d->d_naddrs], 0, sizeof(d->d_addrs[0]));
		memcpy(&d->d_addrs[d->d_naddrs], sa, sa->sa_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
		d->d_naddrs++;
	}
}

/* Stop the connect in progress, if any: its socket and its event. */
static void
dial_stop_connect(struct gt_dial *d)
{
	if (d->d_conn != NULL) {
		event_free(d->d_conn);
		d->d_conn = NULL;
	}
	if (d->d_fd != -1) {
		evutil_closesocket(d->d_fd);
		d->d_fd = -1;
	}
}

/* Free what the handle holds; the struct goes once no lookup points to it. */
static void
dial_release(struct gt_dial *d)
{
	dial_stop_connect(d);
	if (d->d_timer != NULL)
		event_free(d->d_timer);
	if (d->d_done != NULL)
		event_free(d->d_done);
	d->d_timer = d->d_done = NULL;
	d->d_released = 1;
	if (!d->d_in_dns)
		free(d);
}

/* The dial is over: keep the result and deliver it from the loop. */
static void
dial_finish(struct gt_dial *d, evutil_socket_t fd, int err, const char *why)
{
	if (d->d_conn != NULL) {
		event_free(d->d_conn);
		d->d_conn = NULL;
	}
	if (d->d_fd != -1 && d->d_fd != fd)
		evutil_closesocket(d->d_fd);
	d->d_fd = fd;
	d->d_state = DIAL_DONE;
	d->d_err = err;
	snprintf(d->d_why, sizeof(d->d_why), "%s", why);
	evtimer_del(d->d_timer);
	event_active(d->d_done, EV_TIMEOUT, 1);
}

/* Hand the result to the owner, then let go of the dial. */
static void
dial_done_cb(evutil_socket_t unused, short what, void *arg)
{
	struct gt_dial	*d = arg;
	evutil_socket_t	 fd = d->d_fd;

	(void)unused;
	(void)what;
	d->d_fd = -1;	/* the owner's now */
	d->d_delivered = 1;
	d->d_cb(fd, d->d_err, d->d_why, d->d_arg);
	dial_release(d);
}

/* Arm the timer: the time left, or this address's share of it. */
static void
dial_arm(struct gt_dial *d)
{
	struct timeval	tv;
	long long	left;
	size_t		n;

	if (d->d_deadline == 0)
		return;
	if ((left = d->d_deadline - gt_mono_ms()) < 0)
		left = 0;
	if (d->d_state == DIAL_CONNECTING && (n = d->d_naddrs - d->d_cur) > 1)
		left /= (long long)n;
	tv.tv_sec = (time_t)(left / 1000);
	tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
	evtimer_add(d->d_timer, &tv);
}

/* The address being tried failed with err: note it and step past it. */
static void
dial_skip(struct gt_dial *d, int err)
{
	char addr[GT_ADDR_STRLEN];

	dial_stop_connect(d);
	d->d_lasterr = err;
	if (gt_log_get_level() <= GT_LOG_DEBUG) {
		gt_addr_format(&d->d_addrs[d->d_cur].sa,
		    dial_salen(&d->d_addrs[d->d_cur]), addr, sizeof(addr));
		log_debug("dial", "%s: %s%s", addr, strerror(err),
		    d->d_cur + 1 < d->d_naddrs ? "; trying the next address" :
		    "");
	}
	d->d_cur++;
}

/* Start connecting to the next address that does not fail at once. */
static void
dial_next(struct gt_dial *d)
{
	union dial_sa	*a;
	evutil_socket_t	 fd;
	int		 e;

	d->d_state = DIAL_CONNECTING;
	while (d->d_cur < d->d_naddrs) {
		a = &d->d_addrs[d->d_cur];
		if (d->d_filter != NULL &&
		    d->d_filter(&a->sa, dial_salen(a), d->d_farg)) {
			d->d_refused++;
			dial_skip(d, ELOOP);
			continue;
		}
		fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			e = errno;
			/* Out of descriptors or memory: no address fares better. */
			if (e == EMFILE || e == ENFILE || e == ENOBUFS ||
			    e == ENOMEM) {
				dial_finish(d, -1, e, strerror(e));
				return;
			}
			dial_skip(d, e);
			continue;
		}
		d->d_fd = fd;
		if (connect(fd, &a->sa, dial_salen(a)) == 0) {
			dial_finish(d, fd, 0, "connected");
			return;
		}
		if ((e = errno) != EINPROGRESS) {
			dial_skip(d, e);
			continue;
		}
		d->d_conn = event_new(d->d_base, fd, EV_WRITE, dial_conn_cb, d);
		if (d->d_conn == NULL || event_add(d->d_conn, NULL) == -1) {
			dial_finish(d, -1, ENOMEM, strerror(ENOMEM));
			return;
		}
		dial_arm(d);
		return;
	}
	/* A refused address is the news, whatever the others did. */
	if (d->d_refused > 0) {
		dial_finish(d, -1, ELOOP, "refused: this host's own port");
		return;
	}
	e = d->d_lasterr != 0 ? d->d_lasterr : ECONNREFUSED;
	dial_finish(d, -1, e, strerror(e));
}

/* The connect in progress finished, one way or the other. */
static void
dial_conn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_dial	*d = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	(void)what;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == 0) {
		dial_finish(d, fd, 0, "connected");
		return;
	}
	dial_skip(d, err);
	dial_next(d);
}

/* The deadline, or the share of the address being tried, ran out. */
static void
dial_timer_cb(evutil_socket_t unused, short what, void *arg)
{
	struct gt_dial				*d = arg;
	struct evdns_getaddrinfo_request	*req;

	(void)unused;
	(void)what;
	if (d->d_state == DIAL_RESOLVING) {
		/* Finish first: a resolver report, even an early one, is ignored. */
		dial_finish(d, -1, ETIMEDOUT, "timed out resolving the name");
		if ((req = d->d_req) != NULL) {
			d->d_req = NULL;
			evdns_getaddrinfo_cancel(req);
		}
		return;
	}
	if (d->d_cur + 1 >= d->d_naddrs) {
		dial_finish(d, -1, ETIMEDOUT, "timed out");
		return;
	}
	dial_skip(d, ETIMEDOUT);
	dial_next(d);
}

/* The resolver answered (or reports our cancel). */
static void
dial_dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct gt_dial		*d = arg;
	struct evutil_addrinfo	*p;

	d->d_in_dns = 0;
	d->d_req = NULL;
	if (d->d_released) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		free(d);
		return;
	}
	if (d->d_cancelled || d->d_state != DIAL_RESOLVING) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	if (result != 0) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		dial_finish(d, -1, result, evutil_gai_strerror(result));
		return;
	}
	for (p = ai; p != NULL; p = p->ai_next)
		if (p->ai_addr != NULL)
			dial_add_addr(d, p->ai_addr, p->ai_addrlen);
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (d->d_naddrs == 0) {
		dial_finish(d, -1, EVUTIL_EAI_NODATA,
		    evutil_gai_strerror(EVUTIL_EAI_NODATA));
		return;
	}
	dial_next(d);
}

/* A dial with its events and deadline, nothing started yet. */
static struct gt_dial *
dial_new(struct event_base *base, long long timeout_ms, gt_dial_cb *cb,
    void *arg)
{
	struct gt_dial *d;

	if (base == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->d_base = base;
	d->d_cb = cb;
	d->d_arg = arg;
	d->d_fd = -1;
	d->d_timer = evtimer_new(base, dial_timer_cb, d);
	d->d_done = event_new(base, -1, 0, dial_done_cb, d);
	if (d->d_timer == NULL || d->d_done == NULL) {
		dial_release(d);
		errno = ENOMEM;
		return NULL;
	}
	if (timeout_ms > 0)
		d->d_deadline = gt_mono_ms() + timeout_ms;
	return d;
}

/* Tests' entry: dial a given list, no resolver. */
struct gt_dial *
dial_start_addrs(struct event_base *base, const struct sockaddr_storage *addrs,
    size_t n, int timeout_ms, gt_dial_cb *cb, void *arg)
{
	struct gt_dial	*d;
	size_t		 i;

	if ((d = dial_new(base, timeout_ms, cb, arg)) == NULL)
		return NULL;
	for (i = 0; addrs != NULL && i < n; i++)
		dial_add_addr(d, (const struct sockaddr *)&addrs[i],
		    sizeof(addrs[i]));
	if (d->d_naddrs == 0) {
		dial_release(d);
		errno = EINVAL;
		return NULL;
	}
	dial_next(d);
	return d;
}

/* Dial host:port: a literal at once, a name once evdns answers. */
struct gt_dial *
gt_dial_start(struct event_base *base, struct evdns_base *dns,
    const char *host, uint16_t port, int timeout_secs, gt_dial_cb *cb,
    void *arg)
{
	return gt_dial_start_filtered(base, dns, host, port, timeout_secs,
	    NULL, NULL, cb, arg);
}

/* The same, every address asked of filter before it is tried. */
struct gt_dial *
gt_dial_start_filtered(struct event_base *base, struct evdns_base *dns,
    const char *host, uint16_t port, int timeout_secs, gt_dial_filter *filter,
    void *farg, gt_dial_cb *cb, void *arg)
{
	struct gt_dial		*d;
	struct sockaddr_storage	 ss;
	struct evutil_addrinfo	 hints;
	struct evdns_getaddrinfo_request *req;
	socklen_t		 sl;
	char			 portstr[8];

	if (host == NULL || host[0] == '\0' ||
	    strnlen(host, GT_ADDR_HOSTMAX + 1) > GT_ADDR_HOSTMAX || port == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (timeout_secs > DIAL_MAX_TIMEOUT_SECS)
		timeout_secs = DIAL_MAX_TIMEOUT_SECS;
	if ((d = dial_new(base, timeout_secs > 0 ? timeout_secs * 1000LL : 0,
	    cb, arg)) == NULL)
		return NULL;
	d->d_filter = filter;
	d->d_farg = farg;
	/* A literal needs no resolver. */
	if (gt_addr_parse_ip(host, port, GT_ADDR_BRACKETS, &ss, &sl) == 0) {
		dial_add_addr(d, (struct sockaddr *)&ss, sl);
		dial_next(d);
		return d;
	}
	if (dns == NULL) {
		dial_finish(d, -1, EVUTIL_EAI_FAIL,
		    "no resolver for host names");
		return d;
	}
	d->d_state = DIAL_RESOLVING;
	dial_arm(d);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(portstr, sizeof(portstr), "%u", port);
	d->d_in_dns = 1;
	/* A hosts-file answer or an error comes back before this returns. */
	req = evdns_getaddrinfo(dns, host, portstr, &hints, dial_dns_cb, d);
	if (d->d_in_dns)
		d->d_req = req;
	return d;
}

/* The owner lets go: no callback, nothing left open. */
void
gt_dial_cancel(struct gt_dial *d)
{
	struct evdns_getaddrinfo_request *req;

	if (d == NULL || d->d_delivered || d->d_cancelled)
		return;
	d->d_cancelled = 1;
	if (d->d_in_dns && (req = d->d_req) != NULL) {
		d->d_req = NULL;
		evdns_getaddrinfo_cancel(req);
	}
	dial_release(d);
}
