/*
 * endpoint.c: the state machine every socket of gt runs on (OpenSMTPD's
 * struct io shape): public users, targets and tunnels alike.
 *
 * struct gt_ep holds what is common (events, the owner's evbuffers, states,
 * the callback, reference-counted deferred free) and points to a table of
 * functions that moves the bytes: plain TCP (ep_plain.c), TLS (ep_tls.c) or
 * memory (ep_mem.c). The owner sees one callback with event codes and two
 * buffers; which table runs underneath is invisible to it.
 *
 * Bounds: input is filled up to a read high-water mark (reading pauses there
 * and resumes as the owner drains it), output is the owner's to bound, and
 * DRAINED tells it when output fell to its low-water mark.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/addr.h"
#include "ep_local.h"

/* The socket's peer as "ip:port", "[ip]:port" or "unix". */
static void
ep_set_addr(struct gt_ep *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);

	if (getpeername(c->ep_fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (gt_addr_format((struct sockaddr *)&ss, sl, c->ep_addr,
	    sizeof(c->ep_addr)) == -1)
		snprintf(c->ep_addr, sizeof(c->ep_addr), "unix");
}

/* Leave the buckets' queues and drop their references. */
static void
ep_rate_release(struct gt_ep *c)
{
	gt_rate_cancel(&c->ep_rwait);
	gt_rate_cancel(&c->ep_wwait);
	gt_rate_unref(c->ep_rrate);
	gt_rate_unref(c->ep_wrate);
	c->ep_rrate = c->ep_wrate = NULL;
	c->ep_rd_throttled = c->ep_wr_throttled = 0;
}

/* Take a reference while code of ours runs that may call the callback. */
void
ep_ref(struct gt_ep *c)
{
	c->ep_refcnt++;
}

/* Release everything once the last reference is gone. */
void
ep_unref(struct gt_ep *c)
{
	if (--c->ep_refcnt > 0)
		return;
	ep_rate_release(c);
	if (c->ep_rev != NULL)
		event_free(c->ep_rev);
	if (c->ep_wev != NULL)
		event_free(c->ep_wev);
	if (c->ep_tmo != NULL)
		event_free(c->ep_tmo);
	if (c->ep_resched != NULL)
		event_free(c->ep_resched);
	if (c->ep_wdefer != NULL)
		event_free(c->ep_wdefer);
	if (c->ep_ops != NULL && c->ep_ops->free_priv != NULL)
		c->ep_ops->free_priv(c);
	if (c->ep_fd != -1)
		close(c->ep_fd);
	if (c->ep_in != NULL)
		evbuffer_free(c->ep_in);
	if (c->ep_out != NULL)
		evbuffer_free(c->ep_out);
	free(c->ep_cn);
	free(c->ep_issuer);
	free(c);
}

/* Tell the caller; nonzero when it freed c meanwhile (stop touching it). */
int
ep_emit(struct gt_ep *c, enum gt_ep_ev ev)
{
	if (c->ep_dead)
		return -1;
	if (c->ep_cb != NULL)
		c->ep_cb(c, ev, c->ep_arg);
	return c->ep_dead;
}

/* Record why and enter CLOSED; the caller reports ERROR. */
void
ep_fail(struct gt_ep *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->ep_err, sizeof(c->ep_err), fmt, ap);
	va_end(ap);
	c->ep_state = EP_CLOSED;
}

/* Enter CLOSED with an error and report it once. */
static void
ep_error(struct gt_ep *c)
{
	c->ep_state = EP_CLOSED;
	ep_update(c);
	ep_emit(c, GT_EP_EV_ERROR);
}

/* Room in input below the read high-water mark. */
static size_t
ep_in_room(const struct gt_ep *c)
{
	size_t have = evbuffer_get_length(c->ep_in);

	if (c->ep_rd_hiwat == 0)
		return EP_READ_MAX;
	return have < c->ep_rd_hiwat ? c->ep_rd_hiwat - have : 0;
}

/* Add or remove the socket events so they match what the state waits for. */
void
ep_update(struct gt_ep *c)
{
	int	r = 0, w = 0, outq;

	if (c->ep_dead)
		return;
	outq = evbuffer_get_length(c->ep_out) > 0 || c->ep_wlen > 0;
	switch (c->ep_state) {
	case EP_CONNECTING:
		w = 1;
		break;
	case EP_HANDSHAKE:
		r = c->ep_hs_want == EP_IO_WANT_READ;
		w = c->ep_hs_want == EP_IO_WANT_WRITE;
		break;
	case EP_OPEN:
		r = (c->ep_reading && !c->ep_eof && !c->ep_rd_wants_w &&
		    !c->ep_rd_throttled && ep_in_room(c) > 0) ||
		    c->ep_wr_wants_r;
		/*
		 * Writes are tried from the loop first; EV_WRITE is armed only
		 * once the socket has refused bytes. Streaming then costs no
		 * epoll_ctl per burst.
		 */
		w = (outq && c->ep_wblocked && !c->ep_wr_wants_r &&
		    !c->ep_wr_throttled) || c->ep_rd_wants_w;
		if (outq && !c->ep_wblocked && !c->ep_wr_wants_r &&
		    !c->ep_wr_throttled)
			event_active(c->ep_wdefer, EV_WRITE, 0);
		break;
	case EP_CLOSING:
		if (c->ep_closing < 2)
			w = 1;
		else
			r = 1;
		if (c->ep_wr_wants_r)
			r = 1, w = 0;
		break;
	case EP_CLOSED:
		break;
	}
	if (c->ep_rev == NULL)
		r = w = 0;	/* memory: no socket to wait for */
	if (r != c->ep_r_on) {
		if (r)
			event_add(c->ep_rev, NULL);
		else
			event_del(c->ep_rev);
		c->ep_r_on = r;
	}
	if (w != c->ep_w_on) {
		if (w)
			event_add(c->ep_wev, NULL);
		else
			event_del(c->ep_wev);
		c->ep_w_on = w;
	}
	if (c->ep_state == EP_CLOSED) {
		event_del(c->ep_resched);
		if (c->ep_tmo != NULL)
			event_del(c->ep_tmo);
	}
}

/* Run a read pass again on the next loop iteration (after polling others). */
static void
ep_resched_read(struct gt_ep *c)
{
	static const struct timeval zero = { 0, 0 };

	event_add(c->ep_resched, &zero);
}

/* Connected and verified: report READY, then move any queued data. */
static void
ep_open(struct gt_ep *c)
{
	c->ep_state = EP_OPEN;
	if (c->ep_tmo != NULL)
		event_del(c->ep_tmo);
	ep_update(c);
	if (ep_emit(c, GT_EP_EV_READY))
		return;
	if (c->ep_shut_req && c->ep_state == EP_OPEN) {
		c->ep_state = EP_CLOSING;
		c->ep_closing = 0;
		c->ep_reading = 0;
	}
	ep_update(c);
}

/* One handshake step, on start and on each readiness the step asked for. */
static void
ep_handshake(struct gt_ep *c)
{
	enum ep_io	r;

	r = c->ep_ops->handshake(c);
	switch (r) {
	case EP_IO_OK:
	case EP_IO_DONE:
		ep_open(c);
		return;
	case EP_IO_WANT_READ:
	case EP_IO_WANT_WRITE:
		c->ep_hs_want = r;
		ep_update(c);
		return;
	case EP_IO_EOF:
		ep_fail(c, "handshake failed: connection closed by peer");
		ep_error(c);
		return;
	case EP_IO_ERROR:
		ep_error(c);
		return;
	}
}

/* The connect finished (or failed): check SO_ERROR and start. */
static void
ep_connected(struct gt_ep *c)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->ep_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		ep_fail(c, "connect: %s", strerror(err));
		ep_error(c);
		return;
	}
	ep_set_addr(c);
	c->ep_state = EP_HANDSHAKE;
	ep_handshake(c);
}

/*
 * Move output to the socket, bounded per call; report DRAINED when output
 * fell to lowat or below. Nonzero when c was freed or failed.
 */
static int
ep_write_pass(struct gt_ep *c)
{
	size_t		total = 0, n, budget, grant;
	enum ep_io	r;
	int		paced;

	if (evbuffer_get_length(c->ep_out) > c->ep_lowat)
		c->ep_above = 1;
	while (total < EP_WRITE_BUDGET) {
		if (evbuffer_get_length(c->ep_out) == 0 && c->ep_wlen == 0)
			break;
		budget = EP_WRITE_BUDGET - total;
		grant = 0;
		paced = c->ep_wrate != NULL && c->ep_state == EP_OPEN;
		/* A TLS record in flight must go out whole: it is owed after. */
		if (paced && c->ep_wlen == 0) {
			grant = gt_rate_take(c->ep_wrate, &c->ep_wwait, budget);
			if (grant == 0) {
				c->ep_wr_throttled = 1;
				break;
			}
			budget = grant;
		}
		n = 0;
		r = c->ep_ops->write(c, budget, &n);
		if (paced)
			gt_rate_settle(c->ep_wrate, grant, n);
		total += n;
		if (r == EP_IO_OK)
			continue;
		if (r == EP_IO_DONE || r == EP_IO_WANT_WRITE)
			break;
		if (r == EP_IO_WANT_READ) {
			c->ep_wr_wants_r = 1;
			break;
		}
		if (r == EP_IO_EOF)
			ep_fail(c, "write: connection closed by peer");
		ep_error(c);
		return -1;
	}
	/* Whatever stopped the pass, what is left waits for EV_WRITE. */
	c->ep_wblocked = evbuffer_get_length(c->ep_out) > 0 ||
	    c->ep_wlen > 0;
	if (!c->ep_wblocked && c->ep_wshut_req && !c->ep_wshut &&
	    c->ep_state == EP_OPEN) {
		/* Half-close: the owner's last byte is out, now the FIN. */
		c->ep_wshut = 1;
		if (c->ep_fd >= 0)
			(void)shutdown(c->ep_fd, SHUT_WR);
	}
	if (c->ep_above &&
	    evbuffer_get_length(c->ep_out) <= c->ep_lowat) {
		c->ep_above = 0;
		if (c->ep_state == EP_OPEN &&
		    ep_emit(c, GT_EP_EV_DRAINED))
			return -1;
	}
	return 0;
}

/*
 * Move plaintext from the socket to input, bounded per call; report READ
 * once, then EOF if the peer closed. Nonzero when c was freed or failed.
 */
static int
ep_read_pass(struct gt_ep *c)
{
	size_t		total = 0, n, want, grant = 0;
	enum ep_io	r = EP_IO_OK;
	int		eof = 0, err = 0;

	event_del(c->ep_resched);
	while (c->ep_reading && !c->ep_eof && total < EP_READ_BUDGET &&
	    (want = ep_in_room(c)) > 0) {
		/* libevent adds its chain header and rounds to a power of 2. */
		if (want > c->ep_rdsize - EP_CHAIN_SLACK)
			want = c->ep_rdsize - EP_CHAIN_SLACK;
		if (c->ep_rrate != NULL) {
			/* Paced: no more than the bucket gives, or wait a turn. */
			grant = gt_rate_take(c->ep_rrate, &c->ep_rwait, want);
			if (grant == 0) {
				c->ep_rd_throttled = 1;
				break;
			}
			want = grant;
		}
		n = 0;
		r = c->ep_ops->read(c, want, &n);
		if (c->ep_rrate != NULL)
			gt_rate_settle(c->ep_rrate, grant, n);
		total += n;
		/*
		 * Bulk streams take big bites; a chatty one does not hold
		 * big chains for a few bytes (libevent 2.1's own reads take
		 * 4 KiB a call, after an FIONREAD).
		 */
		if (n >= c->ep_rdsize - EP_CHAIN_SLACK &&
		    c->ep_rdsize < EP_READ_MAX)
			c->ep_rdsize *= 2;
		else if (n < want / 4 && c->ep_rdsize > EP_READ_MIN)
			c->ep_rdsize /= 2;
		if (r == EP_IO_OK)
			continue;
		if (r == EP_IO_DONE || r == EP_IO_WANT_READ)
			break;
		if (r == EP_IO_WANT_WRITE) {
			c->ep_rd_wants_w = 1;
			break;
		}
		if (r == EP_IO_EOF)
			eof = 1;
		else
			err = 1;
		break;
	}
	if (eof)
		c->ep_eof = 1;
	if (err)
		c->ep_state = EP_CLOSED;
	if (total > 0 && ep_emit(c, GT_EP_EV_READ))
		return -1;
	if (err) {
		ep_error(c);
		return -1;
	}
	if (eof) {
		/* A half-closing endpoint keeps writing after the peer's FIN. */
		if (!c->ep_halfclose || c->ep_state != EP_OPEN)
			c->ep_state = EP_CLOSED;
		ep_update(c);
		return ep_emit(c, GT_EP_EV_EOF) ? -1 : 0;
	}
	/* Decrypted bytes inside mbedTLS will not wake the socket: go again. */
	if (c->ep_state == EP_OPEN && c->ep_reading && !c->ep_eof &&
	    !c->ep_rd_wants_w && !c->ep_rd_throttled && c->ep_ops->pending(c))
		ep_resched_read(c);
	return 0;
}

/* CLOSING: flush output, send close_notify, FIN, then wait for the peer's EOF. */
static void
ep_closing_step(struct gt_ep *c, short what)
{
	size_t		total;
	enum ep_io	r;

	c->ep_wr_wants_r = 0;
	if (c->ep_closing == 0) {
		if (ep_write_pass(c))
			return;
		if (evbuffer_get_length(c->ep_out) == 0 && c->ep_wlen == 0)
			c->ep_closing = 1;
	}
	if (c->ep_closing == 1) {
		r = c->ep_ops->close_notify(c);
		if (r == EP_IO_WANT_WRITE || r == EP_IO_WANT_READ) {
			c->ep_wr_wants_r = r == EP_IO_WANT_READ;
			return;
		}
		if (r == EP_IO_ERROR) {
			ep_error(c);
			return;
		}
		c->ep_wr_wants_r = 0;
		if (c->ep_fd >= 0)
			(void)shutdown(c->ep_fd, SHUT_WR);
		c->ep_closing = 2;
		return;
	}
	if (c->ep_closing != 2 || (what & EV_READ) == 0)
		return;
	/* We asked to stop reading: discard what still arrives, up to EOF. */
	for (total = 0; total < EP_READ_BUDGET; ) {
		r = c->ep_ops->discard(c, &total);
		if (r == EP_IO_OK)
			continue;
		if (r == EP_IO_WANT_READ || r == EP_IO_WANT_WRITE ||
		    r == EP_IO_DONE)
			return;
		if (r == EP_IO_ERROR) {
			ep_error(c);
			return;
		}
		c->ep_state = EP_CLOSED;
		ep_update(c);
		ep_emit(c, GT_EP_EV_EOF);
		return;
	}
}

/*
 * Readable or writable while OPEN. A pass blocked on the other direction
 * (TLS may need to read to write, or write to read) goes first.
 */
static void
ep_open_io(struct gt_ep *c, int readable)
{
	if (readable) {
		if (c->ep_wr_wants_r) {
			c->ep_wr_wants_r = 0;
			if (ep_write_pass(c))
				return;
		}
		if (c->ep_state == EP_OPEN && c->ep_reading)
			ep_read_pass(c);
		return;
	}
	if (c->ep_rd_wants_w) {
		c->ep_rd_wants_w = 0;
		if (c->ep_reading && ep_read_pass(c))
			return;
	}
	c->ep_wblocked = 0;
	if (c->ep_state == EP_OPEN && !c->ep_wr_wants_r)
		ep_write_pass(c);
}

/* EV_READ or EV_WRITE on the socket: whoever waits for it goes on. */
static void
ep_iocb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_ep	*c = arg;
	int		 readable = (what & EV_READ) != 0;

	(void)fd;
	ep_ref(c);
	switch (c->ep_state) {
	case EP_CONNECTING:
		if (!readable)
			ep_connected(c);
		break;
	case EP_HANDSHAKE:
		ep_handshake(c);
		break;
	case EP_OPEN:
		ep_open_io(c, readable);
		break;
	case EP_CLOSING:
		ep_closing_step(c, readable ? EV_READ : EV_WRITE);
		break;
	case EP_CLOSED:
		break;
	}
	ep_update(c);
	ep_unref(c);
}

/* Deferred write pass: everything queued in this loop pass goes out at once. */
static void
ep_wdefercb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_ep	*c = arg;

	(void)fd;
	(void)what;
	if (c->ep_dead || c->ep_state != EP_OPEN || c->ep_wblocked ||
	    c->ep_wr_wants_r || c->ep_wr_throttled)
		return;
	ep_ref(c);
	if (ep_write_pass(c) == 0)
		ep_update(c);
	ep_unref(c);
}

/* Zero timer: a read pass for bytes already inside mbedTLS. */
static void
ep_reschedcb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_ep	*c = arg;

	(void)fd;
	(void)what;
	ep_ref(c);
	if (c->ep_state == EP_OPEN && c->ep_reading &&
	    !c->ep_rd_wants_w && !c->ep_rd_throttled)
		ep_read_pass(c);
	ep_update(c);
	ep_unref(c);
}

/* Our turn at the read bucket: read now (the grant is for this call). */
static void
ep_rwake(struct gt_rate_waiter *w, void *arg)
{
	struct gt_ep	*c = arg;

	(void)w;
	c->ep_rd_throttled = 0;
	if (c->ep_dead)
		return;
	ep_ref(c);
	if (c->ep_state == EP_OPEN && c->ep_reading && !c->ep_rd_wants_w)
		ep_read_pass(c);
	ep_update(c);
	ep_unref(c);
}

/* Our turn at the write bucket: write now. */
static void
ep_wwake(struct gt_rate_waiter *w, void *arg)
{
	struct gt_ep	*c = arg;

	(void)w;
	c->ep_wr_throttled = 0;
	if (c->ep_dead)
		return;
	ep_ref(c);
	if (c->ep_state == EP_OPEN && !c->ep_wr_wants_r) {
		c->ep_wblocked = 0;
		if (ep_write_pass(c) == 0)
			ep_update(c);
	} else
		ep_update(c);
	ep_unref(c);
}

/* Handshake timer: READY did not come in time. */
static void
ep_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_ep	*c = arg;

	(void)fd;
	(void)what;
	ep_ref(c);
	if (c->ep_state == EP_CONNECTING ||
	    c->ep_state == EP_HANDSHAKE) {
		ep_fail(c, "handshake timeout");
		ep_error(c);
	}
	ep_unref(c);
}

/*
 * Shared part of the constructors: size bytes (a table may embed gt_ep in a
 * larger struct); fd -1 makes an in-memory endpoint. Closes fd on failure.
 */
struct gt_ep *
ep_new(struct event_base *base, evutil_socket_t fd,
    const struct ep_ops *ops, size_t size, gt_ep_cb *cb, void *arg)
{
	struct gt_ep	*c;
	int		 one = 1;

	if (fd < 0 && ops != &ep_mem_ops)
		return NULL;
	if ((c = calloc(1, size)) == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	c->ep_fd = fd;
	c->ep_base = base;
	c->ep_cb = cb;
	c->ep_arg = arg;
	c->ep_refcnt = 1;
	c->ep_reading = 1;
	c->ep_rdsize = EP_READ_MIN;
	c->ep_state = EP_CONNECTING;
	gt_rate_waiter_init(&c->ep_rwait, ep_rwake, c);
	gt_rate_waiter_init(&c->ep_wwait, ep_wwake, c);
	snprintf(c->ep_addr, sizeof(c->ep_addr), fd >= 0 ? "unknown" : "memory");
	if ((c->ep_resched = evtimer_new(base, ep_reschedcb, c)) == NULL ||
	    (c->ep_wdefer = event_new(base, -1, 0, ep_wdefercb, c)) == NULL ||
	    (c->ep_in = evbuffer_new()) == NULL ||
	    (c->ep_out = evbuffer_new()) == NULL)
		goto fail;
	if (fd >= 0) {
		if (evutil_make_socket_nonblocking(fd) == -1 ||
		    (c->ep_rev = event_new(base, fd, EV_READ | EV_PERSIST,
		    ep_iocb, c)) == NULL ||
		    (c->ep_wev = event_new(base, fd, EV_WRITE | EV_PERSIST,
		    ep_iocb, c)) == NULL)
			goto fail;
		/* Not for AF_UNIX socketpairs; harmless to fail there. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ep_set_addr(c);
	}
	c->ep_ops = ops;
	ep_update(c);
	return c;
fail:
	ep_unref(c);
	return NULL;
}

/* An accepted or memory endpoint: open from the start, no READY event. */
void
ep_set_open(struct gt_ep *c)
{
	c->ep_state = EP_OPEN;
	ep_update(c);
}

/* Change who hears the events. */
void
gt_ep_setcb(struct gt_ep *c, gt_ep_cb *cb, void *arg)
{
	c->ep_cb = cb;
	c->ep_arg = arg;
}

/* Plaintext received. */
struct evbuffer *
gt_ep_input(struct gt_ep *c)
{
	return c->ep_in;
}

/* Plaintext to send; call gt_ep_kick after appending. */
struct evbuffer *
gt_ep_output(struct gt_ep *c)
{
	return c->ep_out;
}

/* Schedule a write pass: whatever is appended before the loop runs goes together. */
void
gt_ep_kick(struct gt_ep *c)
{
	if (c->ep_dead)
		return;
	if (evbuffer_get_length(c->ep_out) > c->ep_lowat)
		c->ep_above = 1;
	ep_update(c);
}

/* Low-water mark for DRAINED. */
void
gt_ep_set_lowat(struct gt_ep *c, size_t lowat)
{
	c->ep_lowat = lowat;
}

/* Stop or resume moving bytes into input. */
void
gt_ep_read_enable(struct gt_ep *c, int on)
{
	if (c->ep_dead)
		return;
	on = on != 0;
	if (c->ep_state == EP_CLOSING || c->ep_state == EP_CLOSED)
		on = 0;
	if (on == c->ep_reading)
		return;
	c->ep_reading = on;
	if (!on)
		event_del(c->ep_resched);
	else if (c->ep_state == EP_OPEN && c->ep_ops->pending(c))
		ep_resched_read(c);
	ep_update(c);
}

/* Arm or disarm the READY deadline. */
void
gt_ep_set_handshake_timeout(struct gt_ep *c, int secs)
{
	struct timeval	tv;

	if (c->ep_dead)
		return;
	if (secs <= 0 || c->ep_state >= EP_OPEN) {
		if (c->ep_tmo != NULL)
			event_del(c->ep_tmo);
		return;
	}
	if (c->ep_tmo == NULL &&
	    (c->ep_tmo = evtimer_new(c->ep_base, ep_timeoutcb,
	    c)) == NULL)
		return;
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(c->ep_tmo, &tv);
}

/* The owner took bytes from input: reading resumes under the mark. */
static void
ep_in_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct gt_ep *c = arg;

	(void)buf;
	if (info->n_deleted > 0 && !c->ep_r_on && c->ep_reading &&
	    c->ep_state == EP_OPEN && !c->ep_eof)
		ep_update(c);
}

/* Cap input: reading pauses at hiwat bytes and resumes below it. */
void
gt_ep_set_read_hiwat(struct gt_ep *c, size_t hiwat)
{
	if (c->ep_dead)
		return;
	if (!c->ep_in_cb && hiwat > 0 &&
	    evbuffer_add_cb(c->ep_in, ep_in_drained_cb, c) != NULL)
		c->ep_in_cb = 1;
	c->ep_rd_hiwat = hiwat;
	ep_update(c);
}

/* Pace reading by rd and writing by wr (NULL: unpaced); referenced. */
void
gt_ep_set_rate(struct gt_ep *c, struct gt_rate *rd, struct gt_rate *wr)
{
	if (c->ep_dead)
		return;
	if (rd != c->ep_rrate) {
		gt_rate_cancel(&c->ep_rwait);
		gt_rate_unref(c->ep_rrate);
		c->ep_rrate = gt_rate_ref(rd);
		c->ep_rd_throttled = 0;
	}
	if (wr != c->ep_wrate) {
		gt_rate_cancel(&c->ep_wwait);
		gt_rate_unref(c->ep_wrate);
		c->ep_wrate = gt_rate_ref(wr);
		if (c->ep_wr_throttled)
			c->ep_wblocked = 0;	/* try again: the socket may take it */
		c->ep_wr_throttled = 0;
	}
	ep_update(c);
}

/* The read bucket, for a relay that reads the socket itself. */
struct gt_rate *
gt_ep_read_rate(const struct gt_ep *c)
{
	return c->ep_rrate;
}

/* EOF from the peer leaves the endpoint open for writing. */
void
gt_ep_set_halfclose(struct gt_ep *c, int on)
{
	c->ep_halfclose = on != 0;
}

/* Send FIN once output is written; reading goes on. */
void
gt_ep_shutdown_write(struct gt_ep *c)
{
	if (c->ep_dead || c->ep_wshut_req || c->ep_state != EP_OPEN)
		return;
	c->ep_wshut_req = 1;
	if (evbuffer_get_length(c->ep_out) == 0 && c->ep_wlen == 0) {
		c->ep_wshut = 1;
		if (c->ep_fd >= 0)
			(void)shutdown(c->ep_fd, SHUT_WR);
		return;
	}
	ep_update(c);
}

/* Bytes the owner gave and the socket has not taken yet. */
size_t
gt_ep_out_pending(const struct gt_ep *c)
{
	return evbuffer_get_length(c->ep_out) + c->ep_wlen;
}

/* Whether the peer's EOF came (input will grow no more). */
int
gt_ep_is_eof(const struct gt_ep *c)
{
	return c->ep_eof;
}

/* Whether our FIN went out. */
int
gt_ep_write_done(const struct gt_ep *c)
{
	return c->ep_wshut;
}

/* Begin a clean close: flush, close_notify, FIN, then EOF or ERROR. */
void
gt_ep_shutdown(struct gt_ep *c)
{
	if (c->ep_dead || c->ep_state >= EP_CLOSING)
		return;
	c->ep_reading = 0;
	event_del(c->ep_resched);
	if (c->ep_state != EP_OPEN) {
		c->ep_shut_req = 1;
		return;
	}
	c->ep_state = EP_CLOSING;
	c->ep_closing = 0;
	c->ep_rd_wants_w = 0;
	ep_update(c);
}

/* The caller is done: free now, or when our code on the stack returns. */
void
gt_ep_free(struct gt_ep *c)
{
	if (c == NULL || c->ep_dead)
		return;
	c->ep_dead = 1;
	c->ep_cb = NULL;
	if (c->ep_rev != NULL)
		event_del(c->ep_rev);
	if (c->ep_wev != NULL)
		event_del(c->ep_wev);
	event_del(c->ep_resched);
	event_del(c->ep_wdefer);
	if (c->ep_tmo != NULL)
		event_del(c->ep_tmo);
	ep_rate_release(c);
	ep_unref(c);
}

/* Whether c runs the TLS table. */
int
gt_ep_is_tls(const struct gt_ep *c)
{
	return c->ep_ops == &ep_tls_ops;
}

/* The verified client CN (server side, after READY), else NULL. */
const char *
gt_ep_peer_cn(const struct gt_ep *c)
{
	return c->ep_cn;
}

/* The verified client certificate's issuer name, DER (server side, after READY). */
const unsigned char *
gt_ep_peer_issuer(const struct gt_ep *c, size_t *len)
{
	*len = c->ep_issuer_len;
	return c->ep_issuer;
}

/* The verified client certificate's serial (server side, after READY). */
const unsigned char *
gt_ep_peer_serial(const struct gt_ep *c, size_t *len)
{
	*len = c->ep_serial_len;
	return c->ep_serial;
}

/* "ip:port" of the peer. */
const char *
gt_ep_peer_addr(const struct gt_ep *c)
{
	return c->ep_addr;
}

/* Negotiated suite, or "plain". */
const char *
gt_ep_cipher(const struct gt_ep *c)
{
	return c->ep_ops->cipher(c);
}

/* Why the last ERROR happened. */
const char *
gt_ep_error(const struct gt_ep *c)
{
	return c->ep_err[0] != '\0' ? c->ep_err : "no error";
}

/* The socket, or -1 for a memory endpoint. */
evutil_socket_t
gt_ep_fd(const struct gt_ep *c)
{
	return c->ep_fd;
}

/* The event base the endpoint runs on. Borrowed. */
struct event_base *
gt_ep_base(const struct gt_ep *c)
{
	return c->ep_base;
}
