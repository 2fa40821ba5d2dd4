/*
 * relay.c: two endpoints back to back. Each direction is a source endpoint
 * and a sink endpoint, and moves bytes one of two ways:
 *
 * - buffers: what the source reads is moved (not copied: the evbuffer
 *   chains change hands) into the sink's output. The source stops reading
 *   while the sink holds more than the high-water mark, and starts again
 *   when the sink's DRAINED says it fell to a quarter of it. An EOF travels
 *   as a FIN once the sink has written everything before it.
 * - splice (Linux, both endpoints plain TCP, as HAProxy's splice-auto does):
 *   once a direction shows bulk traffic (one read of RELAY_SPLICE_MIN or
 *   more), it switches, when the sink has written everything, to socket ->
 *   pipe -> socket inside the kernel: the bytes never reach user space. The
 *   relay then waits on the two sockets itself. Small exchanges stay on
 *   buffers, which answer sooner; an idle session holds no pipe. If no pipe
 *   can be had, the direction stays on buffers.
 *
 * A source endpoint paced by a bucket (gt_ep_set_rate, a mapping's
 * bandwidth_limit) paces a spliced direction too: the relay asks the same
 * bucket before each splice from the source and waits its turn.
 *
 * The relay ends when both directions carried their FIN, or at the first
 * error; relay_finish() is the one way it ends.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/endpoint.h"
#include "gt/rate.h"
#include "gt/relay.h"

#define RELAY_HIWAT	(256 * 1024)
#define RELAY_PIPE_SIZE	(256 * 1024)	/* asked of the kernel; it may give less */
#define RELAY_BUDGET	(1024 * 1024)	/* spliced per event, then yield */
#define RELAY_SPLICE_MIN (64 * 1024)	/* a read this large means bulk: splice */

struct gt_relay;

struct relay_dir {
	struct gt_relay	*d_relay;
	struct gt_ep	*d_src;
	struct gt_ep	*d_dst;
	uint64_t	*d_count;	/* borrowed, may be NULL */
	uint64_t	 d_moved;
	int		 d_eof;		/* the source said EOF */
	int		 d_fin;		/* our FIN went out on the sink */
	int		 d_paused;	/* buffers: source reading stopped, sink full */
	const char	*d_name;	/* for messages: the source's side */
	/* splice */
	int		 d_spl_ok;	/* both ends plain sockets, splice allowed */
	int		 d_spl_want;	/* bulk seen: splice once the sink is empty */
	int		 d_spl;		/* this direction splices */
	int		 d_pipe[2];	/* -1 until the first byte */
	size_t		 d_cap;		/* the pipe's capacity */
	size_t		 d_inpipe;	/* bytes in the pipe */
	struct event	*d_rev;		/* source readable */
	struct event	*d_wev;		/* sink writable */
	int		 d_r_on, d_w_on;
	struct gt_rate_waiter d_rwait;	/* on the source's read bucket */
	int		 d_throttled;	/* queued there: d_rev stays off */
};

struct gt_relay {
	struct relay_dir	 r_dir[2];	/* 0: a -> b, 1: b -> a */
	struct gt_ep		*r_ep[2];
	size_t			 r_hiwat;
	gt_relay_done_cb	*r_cb;
	void			*r_arg;
	int			 r_done;
	int			 r_depth;	/* our callbacks on the stack */
	int			 r_free_wanted;
};

static void	relay_ep_cb(struct gt_ep *, enum gt_ep_ev, void *);
static void	relay_spl_setup(struct relay_dir *);

/* Release the pipes, the events, both endpoints and the relay. */
static void
relay_destroy(struct gt_relay *r)
{
	struct relay_dir	*d;
	int			 i;

	for (i = 0; i < 2; i++) {
		d = &r->r_dir[i];
		gt_rate_cancel(&d->d_rwait);
		if (d->d_rev != NULL)
			event_free(d->d_rev);
		if (d->d_wev != NULL)
			event_free(d->d_wev);
		if (d->d_pipe[0] != -1) {
			close(d->d_pipe[0]);
			close(d->d_pipe[1]);
		}
	}
	gt_ep_free(r->r_ep[0]);
	gt_ep_free(r->r_ep[1]);
	free(r);
}

/* Enter a callback of ours. */
static void
relay_enter(struct gt_relay *r)
{
	r->r_depth++;
}

/* Leave it; the outermost one carries out a free asked for meanwhile. */
static void
relay_leave(struct gt_relay *r)
{
	if (--r->r_depth == 0 && r->r_free_wanted)
		relay_destroy(r);
}

/* Arm or disarm one splice event. */
static void
relay_ev(struct event *ev, int *on, int want)
{
	if (ev == NULL || *on == want)
		return;
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

/* The one way the relay ends: stop all I/O, report once; the owner frees. */
static void
relay_finish(struct gt_relay *r, const char *why)
{
	int i;

	if (r->r_done)
		return;
	r->r_done = 1;
	for (i = 0; i < 2; i++) {
		gt_rate_cancel(&r->r_dir[i].d_rwait);
		relay_ev(r->r_dir[i].d_rev, &r->r_dir[i].d_r_on, 0);
		relay_ev(r->r_dir[i].d_wev, &r->r_dir[i].d_w_on, 0);
		gt_ep_read_enable(r->r_ep[i], 0);
	}
	if (r->r_cb != NULL)
		r->r_cb(r, why, r->r_arg);
}

/* Both FINs carried: the relay is done. */
static void
relay_check_done(struct gt_relay *r)
{
	int i;

	for (i = 0; i < 2; i++)
		if (!r->r_dir[i].d_eof || !(r->r_dir[i].d_fin ||
		    gt_ep_write_done(r->r_dir[i].d_dst)))
			return;
	relay_finish(r, "done");
}

/* Count bytes that crossed. */
static void
relay_count(struct relay_dir *d, size_t n)
{
	d->d_moved += n;
	if (d->d_count != NULL)
		*d->d_count += n;
}

/* ---- buffers ------------------------------------------------------------ */

/* Move what the source read into the sink; pause the source if the sink is full. */
static void
relay_move(struct gt_relay *r, struct relay_dir *d)
{
	struct evbuffer	*in = gt_ep_input(d->d_src);
	size_t		 n = evbuffer_get_length(in);

	if (n > 0) {
		if (evbuffer_add_buffer(gt_ep_output(d->d_dst), in) == -1) {
			relay_finish(r, "out of memory");
			return;
		}
		relay_count(d, n);
		gt_ep_kick(d->d_dst);
		if (d->d_spl_ok && !d->d_spl_want && n >= RELAY_SPLICE_MIN) {
			/* Bulk: DRAINED at empty says when to switch. */
			d->d_spl_want = 1;
			gt_ep_set_lowat(d->d_dst, 0);
		}
	}
	if (!d->d_paused && gt_ep_out_pending(d->d_dst) >= r->r_hiwat) {
		d->d_paused = 1;
		gt_ep_read_enable(d->d_src, 0);
	}
}

/* The sink took its bytes: resume the source, or see whether all is done. */
static void
relay_drained(struct gt_relay *r, struct relay_dir *d)
{
	if (d->d_spl_want && !d->d_spl && !d->d_eof &&
	    gt_ep_out_pending(d->d_dst) == 0) {
		relay_spl_setup(d);
		if (d->d_spl) {
			d->d_paused = 0;
			return;
		}
	}
	if (d->d_paused && !d->d_eof &&
	    gt_ep_out_pending(d->d_dst) <= r->r_hiwat / 4) {
		d->d_paused = 0;
		gt_ep_read_enable(d->d_src, 1);
	}
	relay_check_done(r);
}

/* Events of either endpoint (buffered directions). */
static void
relay_ep_cb(struct gt_ep *ep, enum gt_ep_ev ev, void *arg)
{
	struct gt_relay		*r = arg;
	int			 i = ep == r->r_ep[0] ? 0 : 1;
	struct relay_dir	*out = &r->r_dir[i];	/* ep is its source */
	struct relay_dir	*in = &r->r_dir[1 - i];	/* ep is its sink */
	char			 why[300];

	if (r->r_done)
		return;
	relay_enter(r);
	switch (ev) {
	case GT_EP_EV_READ:
		relay_move(r, out);
		break;
	case GT_EP_EV_DRAINED:
		relay_drained(r, in);
		break;
	case GT_EP_EV_EOF:
		relay_move(r, out);
		if (r->r_done)
			break;
		/* The FIN follows the last byte; DRAINED says when it left. */
		out->d_eof = 1;
		gt_ep_set_lowat(out->d_dst, 0);
		gt_ep_shutdown_write(out->d_dst);
		gt_ep_kick(out->d_dst);
		relay_check_done(r);
		break;
	case GT_EP_EV_ERROR:
		snprintf(why, sizeof(why), "%s side: %s", out->d_name,
		    gt_ep_error(ep));
		relay_finish(r, why);
		break;
	case GT_EP_EV_READY:
		break;
	}
	relay_leave(r);
}

/* ---- splice ------------------------------------------------------------- */

/* End the relay on a splice error, naming the side whose socket failed. */
static void
relay_spl_fail(struct relay_dir *d, const char *side, int err)
{
	char why[160];

	snprintf(why, sizeof(why), "%s side: %s", side, strerror(err));
	relay_finish(d->d_relay, why);
}

/* Our FIN on the sink, once the pipe is empty after the source's EOF. */
static void
relay_spl_fin(struct relay_dir *d)
{
	if (d->d_fin || !d->d_eof || d->d_inpipe > 0)
		return;
	d->d_fin = 1;
	(void)shutdown(gt_ep_fd(d->d_dst), SHUT_WR);
	relay_check_done(d->d_relay);
}

/*
 * Pipe to sink. Returns -1 when the relay ended. Reading the source goes on
 * only while the pipe has room; writing waits for EV_WRITE only while the
 * sink refuses.
 */
static int
relay_spl_flush(struct relay_dir *d)
{
	ssize_t n;

	while (d->d_inpipe > 0) {
		n = splice(d->d_pipe[0], NULL, gt_ep_fd(d->d_dst), NULL,
		    d->d_inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			d->d_inpipe -= (size_t)n;
			relay_count(d, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		relay_spl_fail(d, d == &d->d_relay->r_dir[0] ? "target" : "public",
		    n == 0 ? EPIPE : errno);
		return -1;
	}
	relay_ev(d->d_wev, &d->d_w_on, d->d_inpipe > 0);
	relay_ev(d->d_rev, &d->d_r_on, !d->d_eof && !d->d_throttled &&
	    d->d_inpipe < d->d_cap);
	return 0;
}

/* Make the direction's pipe at its first byte. -1: none to be had. */
static int
relay_spl_pipe(struct relay_dir *d)
{
	int sz;

	if (d->d_pipe[0] != -1)
		return 0;
	if (pipe2(d->d_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		d->d_pipe[0] = d->d_pipe[1] = -1;
		return -1;
	}
	/* The pipe is this direction's buffer: no larger than the mark. */
	(void)fcntl(d->d_pipe[1], F_SETPIPE_SZ, d->d_relay->r_hiwat <
	    RELAY_PIPE_SIZE ? (int)d->d_relay->r_hiwat : RELAY_PIPE_SIZE);
	sz = fcntl(d->d_pipe[1], F_GETPIPE_SZ);
	d->d_cap = sz > 0 ? (size_t)sz : 65536;
	if (d->d_cap > d->d_relay->r_hiwat)
		d->d_cap = d->d_relay->r_hiwat;
	return 0;
}

/* Fall back to buffers for a direction (no pipe to be had). */
static void
relay_spl_off(struct relay_dir *d)
{
	relay_ev(d->d_rev, &d->d_r_on, 0);
	relay_ev(d->d_wev, &d->d_w_on, 0);
	gt_rate_cancel(&d->d_rwait);	/* the endpoint waits its own turns now */
	d->d_throttled = 0;
	d->d_spl = 0;
	gt_ep_read_enable(d->d_src, 1);
}

/* Source readable: socket to pipe, then pipe to sink, within a budget. */
static void
relay_spl_rcb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir	*d = arg;
	struct gt_relay		*r = d->d_relay;
	struct gt_rate		*rate = gt_ep_read_rate(d->d_src);
	size_t			 total = 0, grant = 0;
	ssize_t			 n;

	(void)what;
	relay_enter(r);
	if (relay_spl_pipe(d) == -1) {
		relay_spl_off(d);
		goto out;
	}
	while (!r->r_done && total < RELAY_BUDGET && d->d_inpipe < d->d_cap) {
		size_t want = d->d_cap - d->d_inpipe;

		if (rate != NULL) {
			/* Paced: splice no more than the bucket gives. */
			if ((grant = gt_rate_take(rate, &d->d_rwait, want)) == 0) {
				d->d_throttled = 1;
				relay_ev(d->d_rev, &d->d_r_on, 0);
				break;
			}
			want = grant;
		}
		n = splice(fd, NULL, d->d_pipe[1], NULL, want,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (rate != NULL)
			gt_rate_settle(rate, grant, n > 0 ? (size_t)n : 0);
		if (n > 0) {
			d->d_inpipe += (size_t)n;
			total += (size_t)n;
			if (relay_spl_flush(d) == -1)
				goto out;
			/* Short: the socket is probably empty; epoll says when not. */
			if ((size_t)n < want)
				break;
			continue;
		}
		if (n == 0) {
			d->d_eof = 1;
			relay_ev(d->d_rev, &d->d_r_on, 0);
			relay_spl_fin(d);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			relay_spl_fail(d, d->d_name, errno);
		break;
	}
	if (!r->r_done)
		(void)relay_spl_flush(d);
out:
	relay_leave(r);
}

/* Our turn at the source's bucket: splice from it now. */
static void
relay_spl_wake(struct gt_rate_waiter *w, void *arg)
{
	struct relay_dir	*d = arg;

	(void)w;
	d->d_throttled = 0;
	if (d->d_relay->r_done || !d->d_spl)
		return;
	relay_spl_rcb(gt_ep_fd(d->d_src), EV_READ, d);
}

/* Sink writable again: empty the pipe, then carry a pending FIN. */
static void
relay_spl_wcb(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir	*d = arg;
	struct gt_relay		*r = d->d_relay;

	(void)fd;
	(void)what;
	relay_enter(r);
	if (relay_spl_flush(d) == 0)
		relay_spl_fin(d);
	relay_leave(r);
}

/*
 * Splice a direction if both its endpoints are plain sockets, its source
 * holds nothing read yet, and the system has splice. The endpoints stay as
 * the sockets' owners; the relay waits on the sockets itself.
 */
static void
relay_spl_setup(struct relay_dir *d)
{
	struct event_base *base = gt_ep_base(d->d_src);

	if (!d->d_spl_ok || evbuffer_get_length(gt_ep_input(d->d_src)) > 0 ||
	    gt_ep_out_pending(d->d_dst) > 0)
		return;
	d->d_rev = event_new(base, gt_ep_fd(d->d_src), EV_READ | EV_PERSIST,
	    relay_spl_rcb, d);
	d->d_wev = event_new(base, gt_ep_fd(d->d_dst), EV_WRITE | EV_PERSIST,
	    relay_spl_wcb, d);
	if (d->d_rev == NULL || d->d_wev == NULL) {
		if (d->d_rev != NULL)
			event_free(d->d_rev);
		if (d->d_wev != NULL)
			event_free(d->d_wev);
		d->d_rev = d->d_wev = NULL;
		return;
	}
	d->d_spl = 1;
	gt_ep_read_enable(d->d_src, 0);
	relay_ev(d->d_rev, &d->d_r_on, 1);
}

/* ---- interface ---------------------------------------------------------- */

struct gt_relay *
gt_relay_new(struct gt_ep *a, struct gt_ep *b, size_t hiwat,
    uint64_t *count_ab, uint64_t *count_ba, gt_relay_done_cb *cb, void *arg)
{
	struct gt_relay	*r;
	int		 i;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		gt_ep_free(a);
		gt_ep_free(b);
		return NULL;
	}
	r->r_ep[0] = a;
	r->r_ep[1] = b;
	r->r_hiwat = hiwat > 0 ? hiwat : RELAY_HIWAT;
	r->r_cb = cb;
	r->r_arg = arg;
	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &r->r_dir[i];

		d->d_relay = r;
		d->d_src = r->r_ep[i];
		d->d_dst = r->r_ep[1 - i];
		d->d_count = i == 0 ? count_ab : count_ba;
		d->d_name = i == 0 ? "public" : "target";
		d->d_pipe[0] = d->d_pipe[1] = -1;
		gt_rate_waiter_init(&d->d_rwait, relay_spl_wake, d);
	}
	for (i = 0; i < 2; i++) {
		gt_ep_setcb(r->r_ep[i], relay_ep_cb, r);
		gt_ep_set_halfclose(r->r_ep[i], 1);
		gt_ep_set_lowat(r->r_ep[i], r->r_hiwat / 4);
		gt_ep_set_read_hiwat(r->r_ep[i], r->r_hiwat);
		gt_ep_read_enable(r->r_ep[i], 1);
	}
	for (i = 0; i < 2; i++) {
		struct relay_dir *d = &r->r_dir[i];

		d->d_spl_ok = getenv("GT_NO_SPLICE") == NULL &&
		    !gt_ep_is_tls(d->d_src) && !gt_ep_is_tls(d->d_dst) &&
		    gt_ep_fd(d->d_src) != -1 && gt_ep_fd(d->d_dst) != -1;
		if (getenv("GT_SPLICE_ALWAYS") != NULL)
			relay_spl_setup(d);
	}
	/* Bytes that arrived before the relay existed. */
	for (i = 0; i < 2; i++)
		if (!r->r_dir[i].d_spl &&
		    evbuffer_get_length(gt_ep_input(r->r_ep[i])) > 0)
			relay_move(r, &r->r_dir[i]);
	return r;
}

void
gt_relay_free(struct gt_relay *r)
{
	if (r == NULL)
		return;
	r->r_done = 1;
	if (r->r_depth > 0) {
		r->r_free_wanted = 1;
		return;
	}
	relay_destroy(r);
}

size_t
gt_relay_buffered(const struct gt_relay *r)
{
	return gt_ep_out_pending(r->r_ep[0]) + gt_ep_out_pending(r->r_ep[1]) +
	    evbuffer_get_length(gt_ep_input(r->r_ep[0])) +
	    evbuffer_get_length(gt_ep_input(r->r_ep[1])) +
	    r->r_dir[0].d_inpipe + r->r_dir[1].d_inpipe;
}

uint64_t
gt_relay_moved(const struct gt_relay *r, int dir)
{
	return r->r_dir[dir != 0].d_moved;
}
