/*
 * relay.c: two endpoints back to back. Each direction is a source endpoint
 * and a sink endpoint: what the source reads is moved (not copied: the
 * evbuffer chains change hands) into the sink's output. The source stops
 * reading while the sink holds more than the high-water mark, and starts
 * again when the sink's DRAINED says it fell to a quarter of it. An EOF
 * travels as a FIN once the sink has written everything before it. The
 * relay ends when both directions carried their FIN, or at the first error;
 * relay_finish() is the one way it ends.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "gt/endpoint.h"
#include "gt/relay.h"

#define RELAY_HIWAT	(256 * 1024)

struct relay_dir {
	struct gt_ep	*d_src;
	struct gt_ep	*d_dst;
	uint64_t	*d_count;	/* borrowed, may be NULL */
	uint64_t	 d_moved;
	int		 d_eof;		/* the source said EOF */
	int		 d_paused;	/* source reading stopped: sink full */
	const char	*d_name;	/* for messages: the source's side */
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

/* Release both endpoints and the relay. */
static void
relay_destroy(struct gt_relay *r)
{
	gt_ep_free(r->r_ep[0]);
	gt_ep_free(r->r_ep[1]);
	free(r);
}

/* The one way the relay ends: report once; the owner frees. */
static void
relay_finish(struct gt_relay *r, const char *why)
{
	if (r->r_done)
		return;
	r->r_done = 1;
	gt_ep_read_enable(r->r_ep[0], 0);
	gt_ep_read_enable(r->r_ep[1], 0);
	if (r->r_cb != NULL)
		r->r_cb(r, why, r->r_arg);
}

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
		d->d_moved += n;
		if (d->d_count != NULL)
			*d->d_count += n;
		gt_ep_kick(d->d_dst);
	}
	if (!d->d_paused && gt_ep_out_pending(d->d_dst) >= r->r_hiwat) {
		d->d_paused = 1;
		gt_ep_read_enable(d->d_src, 0);
	}
}

/* Both FINs carried: the relay is done. */
static void
relay_check_done(struct gt_relay *r)
{
	if (r->r_dir[0].d_eof && r->r_dir[1].d_eof &&
	    gt_ep_write_done(r->r_ep[0]) && gt_ep_write_done(r->r_ep[1]))
		relay_finish(r, "done");
}

/* The sink took its bytes: resume the source, or carry its EOF. */
static void
relay_drained(struct gt_relay *r, struct relay_dir *d)
{
	if (d->d_paused && !d->d_eof &&
	    gt_ep_out_pending(d->d_dst) <= r->r_hiwat / 4) {
		d->d_paused = 0;
		gt_ep_read_enable(d->d_src, 1);
	}
	relay_check_done(r);
}

/* Events of either endpoint. */
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
	r->r_depth++;
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
	if (--r->r_depth == 0 && r->r_free_wanted)
		relay_destroy(r);
}

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
	r->r_dir[0] = (struct relay_dir){ a, b, count_ab, 0, 0, 0, "public" };
	r->r_dir[1] = (struct relay_dir){ b, a, count_ba, 0, 0, 0, "target" };
	for (i = 0; i < 2; i++) {
		gt_ep_setcb(r->r_ep[i], relay_ep_cb, r);
		gt_ep_set_halfclose(r->r_ep[i], 1);
		gt_ep_set_lowat(r->r_ep[i], r->r_hiwat / 4);
		gt_ep_set_read_hiwat(r->r_ep[i], r->r_hiwat);
		gt_ep_read_enable(r->r_ep[i], 1);
	}
	/* Bytes that arrived before the relay existed. */
	for (i = 0; i < 2; i++)
		if (evbuffer_get_length(gt_ep_input(r->r_ep[i])) > 0)
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
	    evbuffer_get_length(gt_ep_input(r->r_ep[1]));
}

uint64_t
gt_relay_moved(const struct gt_relay *r, int dir)
{
	return r->r_dir[dir != 0].d_moved;
}
