/* accept_pause.c: pause listeners for a moment when accept() runs out of resources. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gt/accept_pause.h"
#include "gt/log.h"

struct gt_accept_pause {
	struct event		*ap_ev;
	unsigned		 ap_ms;
	int			 ap_paused;
	unsigned		 ap_count;
	gt_accept_pause_cb	*ap_cb;
	void			*ap_arg;
	char			 ap_what[64];
};

/* The pause is over: accept again. */
static void
accept_pause_done(evutil_socket_t fd, short what, void *arg)
{
	struct gt_accept_pause *ap = arg;

	(void)fd;
	(void)what;
	ap->ap_paused = 0;
	log_info(ap->ap_what, "accepting again");
	ap->ap_cb(0, ap->ap_arg);
}

struct gt_accept_pause *
gt_accept_pause_new(struct event_base *base, unsigned ms, const char *what,
    gt_accept_pause_cb *cb, void *arg)
{
	struct gt_accept_pause *ap;

	if ((ap = calloc(1, sizeof(*ap))) == NULL)
		return NULL;
	if ((ap->ap_ev = evtimer_new(base, accept_pause_done, ap)) == NULL) {
		free(ap);
		return NULL;
	}
	ap->ap_ms = ms;
	ap->ap_cb = cb;
	ap->ap_arg = arg;
	snprintf(ap->ap_what, sizeof(ap->ap_what), "%s", what);
	return ap;
}

void
gt_accept_pause_free(struct gt_accept_pause *ap)
{
	if (ap == NULL)
		return;
	event_free(ap->ap_ev);
	free(ap);
}

int
gt_accept_pause_error(struct gt_accept_pause *ap, int err)
{
	struct timeval tv;

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
		log_warnx(ap->ap_what, "accept: %s", strerror(err));
		return 0;
	}
	if (ap->ap_paused)
		return 1;
	ap->ap_paused = 1;
	ap->ap_count++;
	log_warnx(ap->ap_what, "accept: %s; pausing for %u ms", strerror(err),
	    ap->ap_ms);
	ap->ap_cb(1, ap->ap_arg);
	tv.tv_sec = ap->ap_ms / 1000;
	tv.tv_usec = (ap->ap_ms % 1000) * 1000;
	evtimer_add(ap->ap_ev, &tv);
	return 1;
}

int
gt_accept_paused(const struct gt_accept_pause *ap)
{
	return ap->ap_paused;
}

unsigned
gt_accept_pause_count(const struct gt_accept_pause *ap)
{
	return ap->ap_count;
}

void
gt_accept_pause_set_interval(struct gt_accept_pause *ap, unsigned ms)
{
	ap->ap_ms = ms;
}
