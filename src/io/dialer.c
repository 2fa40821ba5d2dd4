/* dialer.c: TEMPORARY minimal dialer (literal IPs only), replaced by the dialer branch. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "gt/dialer.h"

struct gt_dial {
	struct event	*d_ev;
	evutil_socket_t	 d_fd;
	gt_dial_cb	*d_cb;
	void		*d_arg;
	int		 d_err;
};

/* Connected, failed or timed out. */
static void
dial_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_dial	*d = arg;
	int		 err = d->d_err;
	socklen_t	 len = sizeof(err);

	if (what & EV_TIMEOUT)
		err = ETIMEDOUT;
	else if (err == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	event_free(d->d_ev);
	if (err != 0) {
		if (d->d_fd != -1)
			close(d->d_fd);
		d->d_cb(-1, err, strerror(err), d->d_arg);
	} else
		d->d_cb(d->d_fd, 0, NULL, d->d_arg);
	free(d);
}

struct gt_dial *
gt_dial_start(struct event_base *base, struct evdns_base *dns, const char *host,
    uint16_t port, int timeout_secs, gt_dial_cb *cb, void *arg)
{
	struct gt_dial		*d;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 sl;
	struct timeval		 tv = { timeout_secs, 0 };

	(void)dns;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return NULL;
	d->d_cb = cb;
	d->d_arg = arg;
	d->d_fd = -1;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sl = sizeof(*sin6);
	} else {
		d->d_err = EAFNOSUPPORT;
		sl = 0;
	}
	if (d->d_err == 0) {
		d->d_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (d->d_fd == -1)
			d->d_err = errno;
		else if (connect(d->d_fd, (struct sockaddr *)&ss, sl) == -1 &&
		    errno != EINPROGRESS)
			d->d_err = errno;
	}
	if ((d->d_ev = event_new(base, d->d_fd, EV_WRITE, dial_cb, d)) == NULL) {
		if (d->d_fd != -1)
			close(d->d_fd);
		free(d);
		return NULL;
	}
	if (d->d_err != 0 || d->d_fd == -1)
		event_active(d->d_ev, EV_WRITE, 0);
	else
		event_add(d->d_ev, &tv);
	return d;
}

void
gt_dial_cancel(struct gt_dial *d)
{
	event_free(d->d_ev);
	if (d->d_fd != -1)
		close(d->d_fd);
	free(d);
}
