/*
 * ep_mem.c: the in-memory table of an endpoint. No socket and no waiting:
 * the owner's output is counted and dropped (or refused while "blocked", a
 * peer that does not read), input is whatever gt_ep_mem_feed() appends. The
 * mux fuzzer and unit tests drive the real owners through it.
 */
#include <stdlib.h>

#include <event2/buffer.h>

#include "ep_local.h"

struct ep_mem {
	struct gt_ep	 m_ep;		/* first: a struct gt_ep * is one of us */
	size_t		 m_written;
	int		 m_blocked;
	struct evbuffer	*m_capture;	/* borrowed: written bytes go here */
};

#define EP_MEM(c)	((struct ep_mem *)(c))

/* Nothing to agree on. */
static enum ep_io
mem_handshake(struct gt_ep *c)
{
	(void)c;
	return EP_IO_OK;
}

/* Input arrives only through gt_ep_mem_feed. */
static enum ep_io
mem_read(struct gt_ep *c, size_t want, size_t *n)
{
	(void)c;
	(void)want;
	*n = 0;
	return EP_IO_WANT_READ;
}

/* Take (count and drop) what the budget allows, unless blocked. */
static enum ep_io
mem_write(struct gt_ep *c, size_t budget, size_t *n)
{
	size_t len = evbuffer_get_length(c->ep_out);

	if (EP_MEM(c)->m_blocked)
		return EP_IO_WANT_WRITE;
	if (len > budget)
		len = budget;
	if (EP_MEM(c)->m_capture != NULL)
		evbuffer_remove_buffer(c->ep_out, EP_MEM(c)->m_capture, len);
	else
		evbuffer_drain(c->ep_out, len);
	EP_MEM(c)->m_written += len;
	*n = len;
	return EP_IO_OK;
}

/* Nothing is ever held inside. */
static int
mem_pending(struct gt_ep *c)
{
	(void)c;
	return 0;
}

/* Closing: the peer is gone at once. */
static enum ep_io
mem_discard(struct gt_ep *c, size_t *n)
{
	(void)c;
	(void)n;
	return EP_IO_EOF;
}

/* No goodbye. */
static enum ep_io
mem_close_notify(struct gt_ep *c)
{
	(void)c;
	return EP_IO_OK;
}

/* The name shown for a memory endpoint. */
static const char *
mem_cipher(const struct gt_ep *c)
{
	(void)c;
	return "memory";
}

const struct ep_ops ep_mem_ops = {
	.name = "memory",
	.handshake = mem_handshake,
	.read = mem_read,
	.write = mem_write,
	.pending = mem_pending,
	.discard = mem_discard,
	.close_notify = mem_close_notify,
	.free_priv = NULL,
	.cipher = mem_cipher,
};

/* An open endpoint with no socket. */
struct gt_ep *
gt_ep_mem(struct event_base *base, gt_ep_cb *cb, void *arg)
{
	struct gt_ep *c;

	if ((c = ep_new(base, -1, &ep_mem_ops, sizeof(struct ep_mem), cb,
	    arg)) != NULL)
		ep_set_open(c);
	return c;
}

/* Bytes arrive from the imaginary peer (and then, maybe, its EOF). */
void
gt_ep_mem_feed(struct gt_ep *c, const void *data, size_t len, int eof)
{
	if (c->ep_dead || c->ep_state != EP_OPEN || c->ep_eof)
		return;
	ep_ref(c);	/* the owner may free c from its callback */
	if (len > 0 && evbuffer_add(c->ep_in, data, len) == 0 &&
	    ep_emit(c, GT_EP_EV_READ))
		goto out;
	if (eof && c->ep_state == EP_OPEN) {
		c->ep_eof = 1;
		if (!c->ep_halfclose)
			c->ep_state = EP_CLOSED;
		ep_update(c);
		(void)ep_emit(c, GT_EP_EV_EOF);
	}
out:
	ep_unref(c);
}

/* What the owner wrote so far. */
size_t
gt_ep_mem_written(const struct gt_ep *c)
{
	return c->ep_ops == &ep_mem_ops ? EP_MEM(c)->m_written : 0;
}

/* A peer that stops (or starts again) taking our bytes. */
void
gt_ep_mem_block(struct gt_ep *c, int blocked)
{
	if (c->ep_ops != &ep_mem_ops || c->ep_dead)
		return;
	EP_MEM(c)->m_blocked = blocked != 0;
	if (!blocked)
		c->ep_wblocked = 0;
	ep_update(c);
}

/* Keep what the owner writes in dst (borrowed, must outlive c) instead of dropping it. */
void
gt_ep_mem_capture(struct gt_ep *c, struct evbuffer *dst)
{
	if (c->ep_ops == &ep_mem_ops)
		EP_MEM(c)->m_capture = dst;
}
