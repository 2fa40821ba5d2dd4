/*
 * mux.c: many sessions over one tunnel endpoint.
 *
 * A stream owns two halves that point at each other (relayd's shape): the
 * local endpoint (the public user's on the server, the target's on the
 * client) and its conn ID on the tunnel. Every way a stream ends goes
 * through stream_teardown(); every way the tunnel ends goes through
 * mux_fail(); every frame leaves through mux_sent(), which ends the tunnel
 * when one cannot be queued. Entry points from the event loop bracket their
 * work with mux_enter()/mux_leave() so that a free asked for inside a
 * callback is deferred until the outermost callback returns (tmux's deferred
 * free).
 *
 * Flow (docs/PROTOCOL.md): a stream reads its endpoint only as far as its
 * credit allows, so a peer that grants nothing leaves the bytes in the
 * kernel and pushes back on the user. The scheduler moves what was read,
 * one chunk per stream per turn, into the tunnel's output while that output
 * is under its high-water mark. Tunnel bytes for a stream go into its
 * endpoint's output; credit goes back to the peer as they leave it, and a
 * stream whose endpoint drains fast is granted a larger window, out of the
 * tunnel's and the process's growth budgets (windows shrink back towards a
 * fair share as streams multiply).
 */
#include <sys/types.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/loop.h"
#include "gt/addr.h"
#include "gt/counters.h"
#include "gt/endpoint.h"
#include "gt/frame.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"

#define MUX_OUT_HIWAT		(128 * 1024)	/* tunnel output we fill with data up to */
#define MUX_OUT_LOWAT		(48 * 1024)	/* refill when drained to this */
#define MUX_OUT_MAX		(4 * 1024 * 1024)	/* default params.out_max */
#define MUX_BUFFER		(8ull * 1024 * 1024)	/* default params.buffer */
#define MUX_SOCK_READ_HIWAT	(256 * 1024)	/* bytes read ahead of the tunnel, at most */
#define MUX_BASE_READ_HIWAT	(64 * 1024)	/* the same for a stream without credit */
#define MUX_BASE_SOCK_LIMIT	(1024 * 1024)	/* base mode: pause the tunnel past this */
#define MUX_MAX_STREAMS		200000
#define MUX_CREDIT_MAX		0x7fffffffLL
#define MUX_TICK_MS		200	/* liveness is judged this finely */

enum stream_state {
	ST_PENDING,		/* waiting for the ConnectResponse (server) or the dial (client) */
	ST_OPEN,
	ST_DRAINING,		/* peer closed: flush the endpoint's output, then free */
};

struct mux_stream {
	struct gt_mux			*s_mux;
	uint32_t			 s_id;
	enum stream_state		 s_state;
	uint32_t			 s_caps;	/* extensions in effect for this stream */
	struct gt_ep			*s_ep;		/* NULL while pending on the client */
	struct mux_stream		*s_hnext;	/* hash chain */
	TAILQ_ENTRY(mux_stream)		 s_ready;
	int				 s_queued;
	int64_t				 s_credit;	/* bytes we may still send */
	int64_t				 s_rwin;	/* bytes the peer may still send */
	uint32_t			 s_win;		/* our receive window now */
	uint32_t			 s_extra;	/* of it, taken from the budgets */
	uint32_t			 s_consumed;	/* written to the endpoint, not yet granted */
	size_t				 s_base_pend;	/* base mode: bytes counted in m_base_pend */
	size_t				 s_inlen;	/* read, not yet sent: counted in m_rd_pend */
	size_t				 s_preout;	/* output queued before attach (a PROXY header): not the peer's bytes */
	unsigned			 s_local_eof:1,	/* the endpoint said EOF */
					 s_sent_shut:1,	/* we sent SHUTDOWN */
					 s_peer_shut:1,	/* peer sent SHUTDOWN */
					 s_blocking:1;	/* base mode: holds the tunnel paused */
	struct event			*s_timer;	/* pending connect timeout */
	struct gt_counters		*s_ctr;
	char				*s_label;
	struct timespec			 s_start;
	uint64_t			 s_from_sock;	/* endpoint -> tunnel */
	uint64_t			 s_to_sock;	/* tunnel -> endpoint */
	gt_mux_ended_cb			*s_ended;	/* the opener's watcher, or NULL */
	void				*s_ended_arg;
};

TAILQ_HEAD(stream_q, mux_stream);

struct gt_mux {
	struct event_base	*m_base;
	struct gt_ep		*m_conn;
	enum gt_mux_role	 m_role;
	char			*m_name;
	char			 m_peer[64];
	char			 m_peer_host[64];	/* rate-limit key */
	unsigned long		 m_hellos_ignored;
	uint32_t		 m_caps;	/* what we offer */
	uint32_t		 m_window;	/* our initial receive window per stream */
	uint32_t		 m_window_max;
	uint64_t		 m_buffer;	/* growth budget of this tunnel */
	uint64_t		 m_buf_used;
	struct gt_mux_budget	*m_process;	/* borrowed, may be NULL */
	size_t			 m_out_max;
	unsigned		 m_max_streams;
	int			 m_hb_interval, m_hb_timeout, m_connect_timeout;
	struct gt_mux_cbs	 m_cbs;
	void			*m_arg;

	int			 m_got_hello;
	uint32_t		 m_peer_caps;	/* intersection, once hello'd */
	uint32_t		 m_peer_window;
	int			 m_sent_hello;

	struct mux_stream	**m_table;
	size_t			 m_tsize;	/* power of two */
	unsigned		 m_nstreams;
	uint32_t		 m_next_id;
	struct stream_q		 m_readyq;

	struct event		*m_sched;	/* deferred scheduler run */
	struct event		*m_tick;	/* heartbeat and liveness, MUX_TICK_MS */
	struct event		*m_reaper;	/* deferred free */
	int64_t			 m_last_rx, m_last_ping;	/* ms */
	int64_t			 m_last_tx;	/* ms: our output last shrank or was empty */
	size_t			 m_last_outlen;
	time_t			 m_started;
	uint64_t		 m_nsessions;	/* streams ever opened */
	uint64_t		 m_bytes_from_sock, m_bytes_to_sock;
	size_t			 m_base_pend;	/* base mode: bytes waiting in endpoints */
	size_t			 m_rd_pend;	/* read from endpoints, not yet sent */
	size_t			 m_rd_max;	/* past it no stream reads (buffer / 4) */
	int			 m_rd_full;	/* reading stopped until m_rd_pend halves */
	unsigned		 m_rx_blocked;	/* base-mode streams over their limit */
	int			 m_rx_paused;	/* tunnel reading is off (either reason) */
	int			 m_closed;
	int			 m_depth;	/* callbacks on the stack */
	int			 m_free_wanted;
	int			 m_closed_reported;
	char			 m_why[128];
};

static void	mux_conn_cb(struct gt_ep *, enum gt_ep_ev, void *);
static void	mux_process_input(struct gt_mux *);
static void	mux_fail(struct gt_mux *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	mux_fail_proto(struct gt_mux *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	mux_schedule(struct gt_mux *);
static void	mux_destroy(struct gt_mux *);

/*
 * What a peer can make us log once per frame or per connection goes
 * through a limiter keyed by its address (log.h): a flood of hellos or of
 * bad tunnels costs a few lines, not megabytes.
 */
static struct gt_logrl	mux_rl_hello, mux_rl_proto, mux_rl_noproxy;
static void	mux_rx_update(struct gt_mux *);
static void	stream_teardown(struct mux_stream *, const char *, int);
static void	stream_ep_cb(struct gt_ep *, enum gt_ep_ev, void *);
static void	stream_outbuf_cb(struct evbuffer *, const struct evbuffer_cb_info *, void *);
static void	stream_check_done(struct mux_stream *);

/* Mark entry into a callback. */
static void
mux_enter(struct gt_mux *m)
{
	m->m_depth++;
}

/* Leave a callback; the outermost one carries out a deferred free. */
static void
mux_leave(struct gt_mux *m)
{
	if (--m->m_depth == 0 && m->m_free_wanted)
		mux_destroy(m);
}

/* Hash a conn ID into the table. */
static size_t
mux_slot(const struct gt_mux *m, uint32_t id)
{
	return (size_t)((id * 2654435761u) & (m->m_tsize - 1));
}

/* Find a stream by conn ID. */
static struct mux_stream *
mux_lookup(const struct gt_mux *m, uint32_t id)
{
	struct mux_stream *s;

	for (s = m->m_table[mux_slot(m, id)]; s != NULL; s = s->s_hnext)
		if (s->s_id == id)
			return s;
	return NULL;
}

/* Double the table when it is fuller than one entry a slot. */
static int
mux_grow(struct gt_mux *m)
{
	struct mux_stream	**nt, **ot = m->m_table, *s, *next;
	size_t			  i, osize = m->m_tsize;

	if (m->m_nstreams < m->m_tsize)
		return 0;
	if ((nt = calloc(osize * 2, sizeof(*nt))) == NULL)
		return -1;
	m->m_table = nt;
	m->m_tsize = osize * 2;
	for (i = 0; i < osize; i++) {
		for (s = ot[i]; s != NULL; s = next) {
			next = s->s_hnext;
			s->s_hnext = nt[mux_slot(m, s->s_id)];
			nt[mux_slot(m, s->s_id)] = s;
		}
	}
	free(ot);
	return 0;
}

/* Put a stream into the table. */
static int
mux_insert(struct gt_mux *m, struct mux_stream *s)
{
	size_t slot;

	if (mux_grow(m) == -1)
		return -1;
	slot = mux_slot(m, s->s_id);
	s->s_hnext = m->m_table[slot];
	m->m_table[slot] = s;
	m->m_nstreams++;
	return 0;
}

/* Take a stream out of the table. */
static void
mux_unlink(struct gt_mux *m, struct mux_stream *s)
{
	struct mux_stream **pp;

	for (pp = &m->m_table[mux_slot(m, s->s_id)]; *pp != NULL;
	    pp = &(*pp)->s_hnext) {
		if (*pp == s) {
			*pp = s->s_hnext;
			m->m_nstreams--;
			return;
		}
	}
}

/* The tunnel's output buffer (plaintext frames to send). */
static struct evbuffer *
mux_out(struct gt_mux *m)
{
	return gt_ep_output(m->m_conn);
}

/*
 * Every frame leaves through here, r being its encoder's result. A frame
 * that could not be queued, or our own frames piling up past out_max (a
 * peer that does not read), ends the tunnel. Returns -1 once it has ended.
 */
static int
mux_sent(struct gt_mux *m, int r)
{
	size_t len;

	if (m->m_closed)
		return -1;
	if (r == -1) {
		mux_fail(m, "cannot queue a frame: out of memory");
		return -1;
	}
	len = evbuffer_get_length(mux_out(m));
	if (len > m->m_out_max) {
		mux_fail(m, "peer is not reading: %zu bytes of ours unsent", len);
		return -1;
	}
	gt_ep_kick(m->m_conn);
	return 0;
}

/* A status code the peer understands on this stream. */
static uint8_t
mux_status_for(const struct mux_stream *s, uint8_t status)
{
	if (status == GT_STATUS_OK)
		return status;
	return (s->s_caps & GT_CAP_ERRCODES) ? status : GT_STATUS_FAILED;
}

/* Queue a Close for a stream, with a reason when the peer takes one. */
static int
mux_send_close(struct mux_stream *s, uint8_t reason)
{
	int r = (s->s_caps & GT_CAP_ERRCODES) ? (int)reason : -1;

	return mux_sent(s->s_mux, gt_frame_add_close(mux_out(s->s_mux),
	    s->s_id, r));
}

/* Take up to want bytes of window growth from the tunnel's and process's budgets. */
static uint32_t
mux_budget_take(struct gt_mux *m, uint32_t want)
{
	uint64_t avail = m->m_buffer > m->m_buf_used ?
	    m->m_buffer - m->m_buf_used : 0;

	if (m->m_process != NULL) {
		uint64_t p = m->m_process->limit > m->m_process->used ?
		    m->m_process->limit - m->m_process->used : 0;
		if (p < avail)
			avail = p;
	}
	if (want > avail)
		want = (uint32_t)avail;
	m->m_buf_used += want;
	if (m->m_process != NULL)
		m->m_process->used += want;
	return want;
}

/* Give window growth back to the budgets. */
static void
mux_budget_give(struct gt_mux *m, uint32_t n)
{
	m->m_buf_used -= n;
	if (m->m_process != NULL)
		m->m_process->used -= n;
}

/*
 * Read the tunnel unless a base-mode stream (no credit) holds it, or base
 * streams together hold more than the tunnel's buffer: the base protocol
 * leaves no other way to push back. Time spent so is not the peer's silence.
 */
static void
mux_rx_update(struct gt_mux *m)
{
	int paused = m->m_rx_blocked > 0 || m->m_base_pend > m->m_buffer;

	if (m->m_closed || paused == m->m_rx_paused)
		return;
	m->m_rx_paused = paused;
	gt_ep_read_enable(m->m_conn, !paused);
	if (!paused) {
		m->m_last_rx = gt_mono_ms();
		/* Frames read before the pause are still waiting. */
		event_active(m->m_sched, EV_READ, 0);
	}
}

/* Put a stream with bytes and credit on the round-robin queue. */
static void
stream_enqueue(struct mux_stream *s)
{
	struct gt_mux *m = s->s_mux;

	if (s->s_queued || s->s_state != ST_OPEN || s->s_sent_shut ||
	    m->m_closed)
		return;
	TAILQ_INSERT_TAIL(&m->m_readyq, s, s_ready);
	s->s_queued = 1;
	event_active(m->m_sched, EV_WRITE, 0);
}

/* Take a stream off the round-robin queue. */
static void
stream_dequeue(struct mux_stream *s)
{
	if (s->s_queued) {
		TAILQ_REMOVE(&s->s_mux->m_readyq, s, s_ready);
		s->s_queued = 0;
	}
}

/* A new stream in the table, not yet carrying an endpoint. */
static struct mux_stream *
stream_new(struct gt_mux *m, uint32_t id, const char *label)
{
	struct mux_stream *s;

	if (m->m_nstreams >= m->m_max_streams)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->s_mux = m;
	s->s_id = id;
	s->s_state = ST_PENDING;
	/* The mode of a stream is fixed at birth; see PROTOCOL.md "hello". */
	s->s_caps = m->m_got_hello ? m->m_peer_caps : 0;
	s->s_credit = m->m_peer_window;
	s->s_rwin = m->m_window;
	s->s_win = m->m_window;
	clock_gettime(CLOCK_MONOTONIC, &s->s_start);
	if (label != NULL && (s->s_label = strdup(label)) == NULL) {
		free(s);
		return NULL;
	}
	if (mux_insert(m, s) == -1) {
		free(s->s_label);
		free(s);
		return NULL;
	}
	m->m_nsessions++;
	return s;
}

/*
 * Read the endpoint only as far as the stream may send: its credit (a
 * flow-controlled stream) or a fixed allowance (a base one). A stream the
 * peer grants nothing so leaves the bytes in the kernel, which pushes back
 * on the user, instead of in our memory.
 */
static void
stream_read_update(struct mux_stream *s)
{
	int64_t	cap = MUX_BASE_READ_HIWAT;

	if (s->s_ep == NULL)
		return;
	if (s->s_caps & GT_CAP_FLOW)
		cap = s->s_credit < MUX_SOCK_READ_HIWAT ? s->s_credit :
		    MUX_SOCK_READ_HIWAT;
	if (cap > 0)
		gt_ep_set_read_hiwat(s->s_ep, (size_t)cap);
	gt_ep_read_enable(s->s_ep, s->s_state == ST_OPEN && !s->s_local_eof &&
	    !s->s_sent_shut && cap > 0 && !s->s_mux->m_rd_full);
}

/*
 * Account for bytes read from (delta > 0) or sent on behalf of (< 0) a
 * stream. Read-ahead across all streams is bounded too, not only per
 * stream: past m_rd_max every stream stops reading, and all start again
 * when it has halved (hysteresis, so the walk over the streams is rare).
 */
static void
mux_rd_account(struct gt_mux *m, struct mux_stream *s, ssize_t delta)
{
	struct mux_stream	*t;
	size_t			 i;
	int			 full;

	s->s_inlen += delta;
	m->m_rd_pend += delta;
	full = m->m_rd_full ? m->m_rd_pend > m->m_rd_max / 2 :
	    m->m_rd_pend >= m->m_rd_max;
	if (full == m->m_rd_full)
		return;
	m->m_rd_full = full;
	for (i = 0; i < m->m_tsize; i++)
		for (t = m->m_table[i]; t != NULL; t = t->s_hnext)
			stream_read_update(t);
}

/* Hang the endpoint under the stream: its events are the stream's now. */
static int
stream_attach(struct mux_stream *s, struct gt_ep *ep)
{
	s->s_ep = ep;
	gt_ep_setcb(ep, stream_ep_cb, s);
	gt_ep_set_halfclose(ep, 1);
	gt_ep_set_lowat(ep, 0);		/* DRAINED: all written */
	s->s_preout = evbuffer_get_length(gt_ep_output(ep));
	if (evbuffer_add_cb(gt_ep_output(ep), stream_outbuf_cb, s) == NULL)
		return -1;
	stream_read_update(s);
	return 0;
}

/*
 * The one way a stream ends: unlink, free its endpoint, give its budget
 * back, count, log. send_close: also tell the peer (-1: no, else the reason).
 */
static void
stream_teardown(struct mux_stream *s, const char *why, int send_close)
{
	struct gt_mux	*m = s->s_mux;
	struct timespec	 now;
	double		 secs;
	gt_mux_ended_cb	*ended = s->s_ended;
	void		*ended_arg = s->s_ended_arg;

	if (send_close >= 0 && !m->m_closed)
		(void)mux_send_close(s, (uint8_t)send_close);
	stream_dequeue(s);
	mux_unlink(m, s);
	mux_budget_give(m, s->s_extra);
	m->m_base_pend -= s->s_base_pend;
	if (s->s_inlen > 0)
		mux_rd_account(m, s, -(ssize_t)s->s_inlen);	/* s is unlinked */
	if (s->s_blocking)
		m->m_rx_blocked--;
	mux_rx_update(m);
	if (s->s_timer != NULL)
		event_free(s->s_timer);
	if (s->s_ep != NULL) {
		evbuffer_remove_cb(gt_ep_output(s->s_ep), stream_outbuf_cb, s);
		gt_ep_free(s->s_ep);
	}
	m->m_bytes_from_sock += s->s_from_sock;
	m->m_bytes_to_sock += s->s_to_sock;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - s->s_start.tv_sec) +
	    (double)(now.tv_nsec - s->s_start.tv_nsec) / 1e9;
	if (s->s_ctr != NULL) {
		gt_counters_end(s->s_ctr);
		gt_counters_unref(s->s_ctr);
	}
	log_info("mux", "session closed: tunnel %s id %u%s%s: %s, %llu bytes in, "
	    "%llu bytes out, %.3fs", m->m_name, s->s_id,
	    s->s_label ? " " : "", s->s_label ? s->s_label : "", why,
	    (unsigned long long)(m->m_role == GT_MUX_SERVER ? s->s_from_sock : s->s_to_sock),
	    (unsigned long long)(m->m_role == GT_MUX_SERVER ? s->s_to_sock : s->s_from_sock),
	    secs);
	free(s->s_label);
	free(s);
	/* Last: the watcher may forget its record of us, nothing more. */
	if (ended != NULL)
		ended(ended_arg);
}

/*
 * Give credit back for bytes that left toward the endpoint, in batches of
 * half a window. A stream whose endpoint keeps up gets a larger window
 * (doubling, up to window_max and its fair share of the budgets); one that
 * falls behind while above its share gives the excess back as it drains.
 */
static void
stream_grant(struct mux_stream *s)
{
	struct gt_mux	*m = s->s_mux;
	uint64_t	 fair;
	uint32_t	 grant, delta;
	size_t		 pend;

	if (!(s->s_caps & GT_CAP_FLOW) || m->m_closed ||
	    s->s_consumed < s->s_win / 2)
		return;
	if (s->s_peer_shut || s->s_state == ST_DRAINING)
		return;		/* the peer will send no more */
	grant = s->s_consumed;
	s->s_consumed = 0;
	pend = gt_ep_out_pending(s->s_ep);
	fair = m->m_buffer / (m->m_nstreams > 0 ? m->m_nstreams : 1);
	if (pend <= s->s_win / 4 && s->s_win < m->m_window_max &&
	    s->s_extra < fair) {
		delta = s->s_win;
		if (delta > m->m_window_max - s->s_win)
			delta = m->m_window_max - s->s_win;
		if (delta > fair - s->s_extra)
			delta = (uint32_t)(fair - s->s_extra);
		delta = mux_budget_take(m, delta);
		s->s_win += delta;
		s->s_extra += delta;
		grant += delta;
	} else if (s->s_extra > fair && pend > s->s_win / 2) {
		delta = (uint32_t)(s->s_extra - fair);
		if (delta > grant)
			delta = grant;
		mux_budget_give(m, delta);
		s->s_win -= delta;
		s->s_extra -= delta;
		grant -= delta;
	}
	if (grant == 0 || mux_sent(m, gt_frame_add_window(mux_out(m), s->s_id,
	    grant)) == -1)
		return;
	s->s_rwin += grant;
}

/* Bytes left the endpoint's output buffer: that is consumption. */
static void
stream_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;
	size_t			 n = info->n_deleted;

	(void)buf;
	/* What the owner queued before us earns the peer no credit. */
	if (s->s_preout > 0) {
		size_t k = n < s->s_preout ? n : s->s_preout;

		s->s_preout -= k;
		n -= k;
	}
	if (n == 0 || m->m_closed)
		return;
	mux_enter(m);
	if (s->s_caps & GT_CAP_FLOW) {
		s->s_consumed += (uint32_t)n;
		stream_grant(s);
	} else {
		if (n > s->s_base_pend)
			n = s->s_base_pend;
		s->s_base_pend -= n;
		m->m_base_pend -= n;
		mux_rx_update(m);
	}
	mux_leave(m);
}

/* Bytes read from the endpoint: the scheduler will carry them. */
static void
stream_on_input(struct mux_stream *s)
{
	size_t len = evbuffer_get_length(gt_ep_input(s->s_ep));

	if (len > s->s_inlen)
		mux_rd_account(s->s_mux, s, (ssize_t)(len - s->s_inlen));
	if (s->s_credit > 0 || !(s->s_caps & GT_CAP_FLOW))
		stream_enqueue(s);
}

/* Send our half-close (or, for a base peer, the Close) once input is sent. */
static void
stream_local_finish(struct mux_stream *s)
{
	struct gt_mux *m = s->s_mux;

	if (s->s_sent_shut || !s->s_local_eof || s->s_state != ST_OPEN)
		return;
	if (evbuffer_get_length(gt_ep_input(s->s_ep)) > 0)
		return;
	stream_dequeue(s);
	if (s->s_caps & GT_CAP_HALFCLOSE) {
		if (mux_sent(m, gt_frame_add_shutdown(mux_out(m), s->s_id)) == -1)
			return;
		s->s_sent_shut = 1;
	} else {
		/*
		 * go-tunnel has no half-close: EOF ends the stream. What the
		 * peer already sent still goes out to the endpoint first.
		 */
		if (mux_send_close(s, GT_STATUS_FAILED) == -1)
			return;
		s->s_state = ST_DRAINING;
	}
	stream_check_done(s);
}

/*
 * Free the stream when both ways are done: all the peer sent is written
 * (and its FIN carried across), and ours is sent.
 */
static void
stream_check_done(struct mux_stream *s)
{
	if (s->s_ep == NULL || gt_ep_out_pending(s->s_ep) > 0)
		return;
	if (s->s_state == ST_DRAINING)
		stream_teardown(s, "closed by peer", -1);
	else if (s->s_peer_shut && s->s_sent_shut && gt_ep_write_done(s->s_ep))
		stream_teardown(s, "done", -1);
}

/* The endpoint said EOF: our half-close follows once its bytes are sent. */
static void
stream_on_eof(struct mux_stream *s)
{
	s->s_local_eof = 1;
	if (s->s_state == ST_DRAINING)
		stream_teardown(s, "closed by both sides", -1);
	else
		stream_local_finish(s);
}

/* All the endpoint's output is written: a base stream lets the tunnel go. */
static void
stream_on_drained(struct mux_stream *s)
{
	struct gt_mux *m = s->s_mux;

	if (s->s_blocking) {
		s->s_blocking = 0;
		m->m_rx_blocked--;
		mux_rx_update(m);
	}
	stream_check_done(s);
}

/* Events of a stream's endpoint. */
static void
stream_ep_cb(struct gt_ep *ep, enum gt_ep_ev ev, void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;

	mux_enter(m);
	if (m->m_closed)
		goto out;	/* the reaper frees every stream */
	switch (ev) {
	case GT_EP_EV_READ:
		stream_on_input(s);
		break;
	case GT_EP_EV_DRAINED:
		stream_on_drained(s);
		break;
	case GT_EP_EV_EOF:
		stream_on_eof(s);
		break;
	case GT_EP_EV_ERROR:
		stream_teardown(s, gt_ep_error(ep), GT_STATUS_FAILED);
		break;
	case GT_EP_EV_READY:
		break;
	}
out:
	mux_leave(m);
}

/* Pending connect timed out: give up on it and tell the peer. */
static void
stream_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;

	(void)fd;
	(void)what;
	mux_enter(m);
	if (!m->m_closed)
		stream_teardown(s, "connect timeout", GT_STATUS_TIMEOUT);
	mux_leave(m);
}

/*
 * Move endpoint bytes into the tunnel: round-robin over ready streams, one
 * chunk each per turn, while the tunnel's output has room.
 */
static void
mux_schedule(struct gt_mux *m)
{
	struct evbuffer		*out, *in;
	struct mux_stream	*s;
	size_t			 avail, n;
	int			 sent = 0;

	if (m->m_closed)
		return;
	out = mux_out(m);
	while (evbuffer_get_length(out) < MUX_OUT_HIWAT &&
	    (s = TAILQ_FIRST(&m->m_readyq)) != NULL) {
		stream_dequeue(s);
		in = gt_ep_input(s->s_ep);
		avail = evbuffer_get_length(in);
		n = avail < GT_DATA_CHUNK ? avail : GT_DATA_CHUNK;
		if ((s->s_caps & GT_CAP_FLOW) && (int64_t)n > s->s_credit)
			n = (size_t)s->s_credit;
		if (n > 0) {
			if (gt_frame_add_data_hdr(out, s->s_id, (uint32_t)n) == -1 ||
			    evbuffer_remove_buffer(in, out, n) != (int)n) {
				mux_fail(m, "cannot queue a frame: out of memory");
				return;
			}
			s->s_credit -= (int64_t)n;
			s->s_from_sock += n;
			mux_rd_account(m, s, -(ssize_t)(n < s->s_inlen ? n : s->s_inlen));
			if (s->s_ctr != NULL) {
				if (m->m_role == GT_MUX_SERVER)
					s->s_ctr->bytes_in += n;
				else
					s->s_ctr->bytes_out += n;
			}
			stream_read_update(s);
			sent = 1;
		}
		if (evbuffer_get_length(in) > 0) {
			if (s->s_credit > 0 || !(s->s_caps & GT_CAP_FLOW))
				stream_enqueue(s);
		} else if (s->s_local_eof) {
			stream_local_finish(s);	/* may free s */
		}
		if (m->m_closed)
			return;
	}
	if (sent)
		(void)mux_sent(m, 0);
}

/* Deferred work: scheduler run, or resuming input after a pause. */
static void
mux_sched_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_mux *m = arg;

	(void)fd;
	mux_enter(m);
	if (what & EV_READ)
		mux_process_input(m);
	mux_schedule(m);
	mux_leave(m);
}

/* Send our hello: offered capabilities, window, and heartbeat timing. */
static void
mux_send_hello(struct gt_mux *m)
{
	if (m->m_sent_hello || m->m_caps == 0)
		return;
	m->m_sent_hello = 1;
	(void)mux_sent(m, gt_frame_add_hello(mux_out(m), m->m_caps, m->m_window,
	    (uint16_t)m->m_hb_interval, (uint16_t)m->m_hb_timeout));
}
/* The peer's hello: what it understands, its window, its heartbeat. */
static int
mux_on_hello(struct gt_mux *m, const struct gt_frame *f)
{
	if (f->magic != GT_HELLO_MAGIC) {
		mux_fail_proto(m, "bad hello magic 0x%08x", f->magic);
		return -1;
	}
	if (m->m_got_hello) {
		m->m_hellos_ignored++;
		gt_log_rl(&mux_rl_hello, GT_LOG_WARN, "mux", m->m_peer_host,
		    "tunnel %s (%s): second hello ignored", m->m_name, m->m_peer);
		return 0;
	}
	m->m_got_hello = 1;
	m->m_peer_caps = f->caps & m->m_caps;
	m->m_peer_window = f->window;
	if (m->m_peer_window < 16384)
		m->m_peer_window = 16384;
	if (m->m_peer_window > GT_WINDOW_MAX)
		m->m_peer_window = GT_WINDOW_MAX;
	if (m->m_role == GT_MUX_CLIENT && f->hb_interval > 0 &&
	    f->hb_timeout > f->hb_interval) {
		m->m_hb_interval = f->hb_interval;
		m->m_hb_timeout = f->hb_timeout;
	}
	log_info("mux", "tunnel %s: peer hello, caps 0x%x, window %u", m->m_name,
	    m->m_peer_caps, m->m_peer_window);
	/* The server answers the client's hello: see PROTOCOL.md. */
	if (m->m_role == GT_MUX_SERVER)
		mux_send_hello(m);
	return 0;
}

/* A ConnectRequest (client role). */
static int
mux_on_connect_req(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream	*s;
	char			 label[GT_HOST_MAX + 16];

	if (m->m_role != GT_MUX_CLIENT) {
		mux_fail_proto(m, "ConnectRequest sent to the server");
		return -1;
	}
	/* The extension exists only for a peer that negotiated it. */
	if (f->has_proxy && !(m->m_got_hello &&
	    (m->m_peer_caps & GT_CAP_PROXY))) {
		mux_fail_proto(m, "ConnectRequest extension without the "
		    "PROXY capability");
		return -1;
	}
	if (mux_lookup(m, f->id) != NULL) {
		mux_fail_proto(m, "ConnectRequest for live conn ID %u", f->id);
		return -1;
	}
	snprintf(label, sizeof(label), "to %s:%u", f->host, f->port);
	if ((s = stream_new(m, f->id, label)) == NULL) {
		/* Answer without a stream: the peer must not wait 10 s. */
		log_warnx("mux", "tunnel %s: refused conn ID %u: %s", m->m_name,
		    f->id, m->m_nstreams >= m->m_max_streams ?
		    "too many streams" : "out of memory");
		return mux_sent(m, gt_frame_add_connect_resp(mux_out(m), f->id,
		    (m->m_got_hello && (m->m_peer_caps & GT_CAP_ERRCODES)) ?
		    GT_STATUS_RESOURCE : GT_STATUS_FAILED));
	}
	if (m->m_cbs.connect_request != NULL)
		m->m_cbs.connect_request(m, f->id, f->host, f->port,
		    f->has_proxy ? &f->proxy : NULL, m->m_arg);
	else
		gt_mux_refuse(m, f->id, GT_STATUS_DENIED);
	return 0;
}


/* A ConnectResponse (server role). */
static void
mux_on_connect_resp(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream *s = mux_lookup(m, f->id);

	if (m->m_role != GT_MUX_SERVER) {
		mux_fail_proto(m, "ConnectResponse sent to the client");
		return;
	}
	if (s == NULL || s->s_state != ST_PENDING)
		return;		/* timed out meanwhile */
	if (s->s_timer != NULL) {
		event_free(s->s_timer);
		s->s_timer = NULL;
	}
	if (f->status != GT_STATUS_OK) {
		log_info("mux", "tunnel %s id %u%s%s: client refused the connect "
		    "(status %u)", m->m_name, s->s_id, s->s_label ? " " : "",
		    s->s_label ? s->s_label : "", f->status);
		stream_teardown(s, "refused by client", -1);
		return;
	}
	s->s_state = ST_OPEN;
	stream_read_update(s);
	if (evbuffer_get_length(gt_ep_input(s->s_ep)) > 0)
		stream_enqueue(s);
}

/* Data for a stream: straight into its endpoint's output. */
static void
mux_on_data(struct gt_mux *m, const struct gt_frame *f, struct evbuffer *in)
{
	struct mux_stream	*s = mux_lookup(m, f->id);

	if (s == NULL || s->s_state != ST_OPEN || s->s_peer_shut) {
		/* In flight when we closed it: harmless, drop. */
		evbuffer_drain(in, f->data_len);
		if (s != NULL && s->s_peer_shut)
			stream_teardown(s, "data after shutdown", GT_STATUS_PROTOCOL);
		return;
	}
	if ((s->s_caps & GT_CAP_FLOW) && (int64_t)f->data_len > s->s_rwin) {
		evbuffer_drain(in, f->data_len);
		log_warnx("mux", "tunnel %s id %u: peer overran its window "
		    "(%u > %lld)", m->m_name, s->s_id, f->data_len,
		    (long long)s->s_rwin);
		stream_teardown(s, "window overrun", GT_STATUS_OVERRUN);
		return;
	}
	if (evbuffer_remove_buffer(in, gt_ep_output(s->s_ep), f->data_len) !=
	    (int)f->data_len) {
		mux_fail(m, "out of memory");
		return;
	}
	gt_ep_kick(s->s_ep);
	s->s_rwin -= f->data_len;
	s->s_to_sock += f->data_len;
	if (s->s_ctr != NULL) {
		if (m->m_role == GT_MUX_SERVER)
			s->s_ctr->bytes_out += f->data_len;
		else
			s->s_ctr->bytes_in += f->data_len;
	}
	if (!(s->s_caps & GT_CAP_FLOW)) {
		/* A base peer has no credit: hold the whole tunnel instead. */
		s->s_base_pend += f->data_len;
		m->m_base_pend += f->data_len;
		if (!s->s_blocking &&
		    gt_ep_out_pending(s->s_ep) > MUX_BASE_SOCK_LIMIT) {
			s->s_blocking = 1;
			m->m_rx_blocked++;
		}
		mux_rx_update(m);
	}
}

/* Credit for a stream. */
static void
mux_on_window(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream *s = mux_lookup(m, f->id);

	if (s == NULL || !(s->s_caps & GT_CAP_FLOW))
		return;
	if (f->increment == 0 ||
	    s->s_credit + (int64_t)f->increment > MUX_CREDIT_MAX) {
		stream_teardown(s, "bad window update", GT_STATUS_PROTOCOL);
		return;
	}
	s->s_credit += f->increment;
	stream_read_update(s);
	if (s->s_ep != NULL && evbuffer_get_length(gt_ep_input(s->s_ep)) > 0)
		stream_enqueue(s);
}

/* Close from the peer: write what we hold to the endpoint, then free. */
static void
mux_on_close(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream *s = mux_lookup(m, f->id);

	if (s == NULL)
		return;
	if (s->s_state == ST_PENDING || s->s_ep == NULL) {
		stream_teardown(s, "cancelled by peer", -1);
		return;
	}
	s->s_state = ST_DRAINING;
	stream_dequeue(s);
	stream_read_update(s);
	stream_check_done(s);
}

/* Half-close from the peer: our FIN follows once its bytes are written. */
static void
mux_on_shutdown(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream *s = mux_lookup(m, f->id);

	if (s == NULL || s->s_state != ST_OPEN)
		return;
	if (!(s->s_caps & GT_CAP_HALFCLOSE)) {
		stream_teardown(s, "unexpected shutdown", GT_STATUS_PROTOCOL);
		return;
	}
	s->s_peer_shut = 1;
	gt_ep_shutdown_write(s->s_ep);
	stream_check_done(s);
}

/* Decode and act on every whole frame the endpoint has delivered. */
static void
mux_process_input(struct gt_mux *m)
{
	struct evbuffer	*in = gt_ep_input(m->m_conn);
	struct gt_frame	 f;
	int		 r;

	while (!m->m_closed && !m->m_rx_paused) {
		r = gt_frame_decode(in, &f, GT_FRAME_MAX_PAYLOAD);
		if (r == GT_FRAME_NEED_MORE)
			break;
		if (r < 0) {
			mux_fail_proto(m, "protocol error: %s", gt_frame_strerror(r));
			return;
		}
		m->m_last_rx = gt_mono_ms();
		switch (f.type) {
		case GT_FRAME_DATA:
			mux_on_data(m, &f, in);
			break;
		case GT_FRAME_WINDOW:
			mux_on_window(m, &f);
			break;
		case GT_FRAME_CONNECT_REQ:
			if (mux_on_connect_req(m, &f) == -1)
				return;
			break;
		case GT_FRAME_CONNECT_RESP:
			mux_on_connect_resp(m, &f);
			break;
		case GT_FRAME_CLOSE:
			mux_on_close(m, &f);
			break;
		case GT_FRAME_SHUTDOWN:
			mux_on_shutdown(m, &f);
			break;
		case GT_FRAME_KEEPALIVE:
			/*
			 * A gt client answers a gt server's heartbeat. Not a
			 * go-tunnel server's: if that one answered too, the
			 * two would ping-pong forever; it gets our own pings.
			 */
			if (m->m_role == GT_MUX_CLIENT && m->m_got_hello)
				(void)mux_sent(m, gt_frame_add_keepalive(mux_out(m)));
			break;
		case GT_FRAME_HELLO:
			if (mux_on_hello(m, &f) == -1)
				return;
			break;
		default:
			mux_fail_proto(m, "protocol error: unexpected frame type 0x%02x",
			    f.type);
			return;
		}
	}
}

/* Endpoint events on the tunnel connection. */
static void
mux_conn_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	struct gt_mux *m = arg;

	mux_enter(m);
	switch (ev) {
	case GT_EP_EV_READ:
		mux_process_input(m);
		break;
	case GT_EP_EV_DRAINED:
		m->m_last_tx = gt_mono_ms();
		mux_schedule(m);
		break;
	case GT_EP_EV_EOF:
		mux_process_input(m);
		mux_fail(m, "peer closed the tunnel");
		break;
	case GT_EP_EV_ERROR:
		mux_fail(m, "%s", gt_ep_error(c));
		break;
	case GT_EP_EV_READY:
		break;
	}
	mux_leave(m);
}

/*
 * Every tick: heartbeat out, liveness in. The peer is judged on what it
 * did: time we paused reading is not its silence, but our frames sitting
 * unsent for a whole timeout are its failure to read.
 */
static void
mux_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_mux	*m = arg;
	int64_t		 now = gt_mono_ms(), limit;
	size_t		 outlen;

	(void)fd;
	(void)what;
	mux_enter(m);
	if (m->m_closed)
		goto out;
	limit = (int64_t)m->m_hb_timeout * 1000;
	if (m->m_rx_paused)
		m->m_last_rx = now;
	outlen = evbuffer_get_length(mux_out(m));
	if (outlen <= MUX_OUT_LOWAT || outlen < m->m_last_outlen)
		m->m_last_tx = now;
	m->m_last_outlen = outlen;
	if (now - m->m_last_tx >= limit) {
		mux_fail(m, "peer is not reading: %zu bytes of ours unsent for "
		    "%.1fs", outlen, (double)(now - m->m_last_tx) / 1000);
	} else if (now - m->m_last_rx >= limit) {
		mux_fail(m, "heartbeat timeout (%.1fs of silence)",
		    (double)(now - m->m_last_rx) / 1000);
	} else if ((m->m_role == GT_MUX_SERVER || !m->m_got_hello) &&
	    now - m->m_last_ping >= (int64_t)m->m_hb_interval * 1000) {
		/*
		 * The server pings whatever the traffic, so that a client
		 * that only receives still answers; a client pings only a
		 * server that never said hello (go-tunnel).
		 */
		m->m_last_ping = now;
		(void)mux_sent(m, gt_frame_add_keepalive(mux_out(m)));
	}
out:
	mux_leave(m);
}

/* Deferred end of a tunnel, run from the loop: free the streams, report. */
static void
mux_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_mux		*m = arg;
	struct mux_stream	*s;
	size_t			 i;

	(void)fd;
	(void)what;
	mux_enter(m);
	for (i = 0; i < m->m_tsize; i++)
		while ((s = m->m_table[i]) != NULL)
			stream_teardown(s, "tunnel ended", -1);
	if (!m->m_closed_reported) {
		m->m_closed_reported = 1;
		if (m->m_cbs.closed != NULL)
			m->m_cbs.closed(m, m->m_why, m->m_arg);
	}
	mux_leave(m);
}

/*
 * The one way a tunnel ends: stop its I/O and, from the loop (never under
 * a caller that may still hold a stream), close every stream and report
 * once through the closed callback.
 */
static void __attribute__((format(printf, 3, 0)))
mux_vfail(struct gt_mux *m, struct gt_logrl *rl, const char *fmt, va_list ap)
{
	char	line[512];

	if (m->m_closed)
		return;
	m->m_closed = 1;
	vsnprintf(m->m_why, sizeof(m->m_why), fmt, ap);
	snprintf(line, sizeof(line), "tunnel %s (%s) ended after %lds: %s; "
	    "%u streams open, %llu sessions, %llu bytes sent, %llu bytes "
	    "received", m->m_name, m->m_peer,
	    (long)(time(NULL) - m->m_started), m->m_why, m->m_nstreams,
	    (unsigned long long)m->m_nsessions,
	    (unsigned long long)m->m_bytes_from_sock,
	    (unsigned long long)m->m_bytes_to_sock);
	/* The same line either way; a peer's own doing is rate limited. */
	if (rl != NULL)
		gt_log_rl(rl, GT_LOG_INFO, "mux", m->m_peer_host, "%s", line);
	else
		log_info("mux", "%s", line);
	if (m->m_tick != NULL)
		event_del(m->m_tick);
	gt_ep_read_enable(m->m_conn, 0);
	if (m->m_reaper != NULL)
		event_active(m->m_reaper, EV_TIMEOUT, 0);
}

/* End the tunnel for a reason of ours or the transport's. */
static void
mux_fail(struct gt_mux *m, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	mux_vfail(m, NULL, fmt, ap);
	va_end(ap);
}

/* As mux_fail, for a peer breaking the protocol: its line is rate limited. */
static void
mux_fail_proto(struct gt_mux *m, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	mux_vfail(m, &mux_rl_proto, fmt, ap);
	va_end(ap);
}

struct gt_mux *
gt_mux_new(struct event_base *base, struct gt_ep *conn,
    const struct gt_mux_params *p, const struct gt_mux_cbs *cbs, void *arg)
{
	struct gt_mux	*m;
	struct timeval	 tick = { 0, MUX_TICK_MS * 1000 };
	const char	*peer;
	uint16_t	 port;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto fail;
	m->m_base = base;
	m->m_conn = conn;
	m->m_role = p->role;
	m->m_caps = p->caps & GT_CAP_ALL;
	m->m_window = p->window ? p->window : GT_WINDOW_INITIAL;
	if (m->m_window < 16384)
		m->m_window = 16384;
	if (m->m_window > GT_WINDOW_MAX)
		m->m_window = GT_WINDOW_MAX;
	m->m_window_max = p->window_max ? p->window_max : GT_WINDOW_GROW_MAX;
	if (m->m_window_max < m->m_window)
		m->m_window_max = m->m_window;
	if (m->m_window_max > GT_WINDOW_MAX)
		m->m_window_max = GT_WINDOW_MAX;
	m->m_buffer = p->buffer ? p->buffer : MUX_BUFFER;
	m->m_rd_max = m->m_buffer / 4 > MUX_SOCK_READ_HIWAT ? m->m_buffer / 4 :
	    MUX_SOCK_READ_HIWAT;
	m->m_process = p->process;
	m->m_out_max = p->out_max ? p->out_max : MUX_OUT_MAX;
	if (m->m_out_max < 2 * MUX_OUT_HIWAT)
		m->m_out_max = 2 * MUX_OUT_HIWAT;
	m->m_max_streams = p->max_streams ? p->max_streams : MUX_MAX_STREAMS;
	m->m_hb_interval = p->hb_interval > 0 ? p->hb_interval : 10;
	m->m_hb_timeout = p->hb_timeout > m->m_hb_interval ? p->hb_timeout :
	    3 * m->m_hb_interval;
	m->m_connect_timeout = p->connect_timeout > 0 ? p->connect_timeout : 10;
	m->m_peer_window = GT_WINDOW_DEFAULT;
	if (cbs != NULL)
		m->m_cbs = *cbs;
	m->m_arg = arg;
	m->m_next_id = 1;
	m->m_started = time(NULL);
	m->m_last_rx = m->m_last_ping = m->m_last_tx = gt_mono_ms();
	TAILQ_INIT(&m->m_readyq);
	peer = gt_ep_peer_addr(conn);
	snprintf(m->m_peer, sizeof(m->m_peer), "%s", peer ? peer : "?");
	/* Per peer means per address: a new source port is the same peer. */
	if (gt_addr_split(m->m_peer, m->m_peer_host, sizeof(m->m_peer_host),
	    &port) == -1)
		snprintf(m->m_peer_host, sizeof(m->m_peer_host), "%s", m->m_peer);
	m->m_name = strdup(p->name ? p->name : m->m_peer);
	m->m_tsize = 64;
	m->m_table = calloc(m->m_tsize, sizeof(*m->m_table));
	m->m_sched = event_new(base, -1, 0, mux_sched_cb, m);
	m->m_tick = event_new(base, -1, EV_PERSIST, mux_tick_cb, m);
	m->m_reaper = event_new(base, -1, 0, mux_reaper_cb, m);
	if (m->m_name == NULL || m->m_table == NULL || m->m_sched == NULL ||
	    m->m_tick == NULL || m->m_reaper == NULL) {
		mux_destroy(m);
		return NULL;
	}
	event_add(m->m_tick, &tick);
	gt_ep_set_lowat(conn, MUX_OUT_LOWAT);
	gt_ep_setcb(conn, mux_conn_cb, m);
	/* The client speaks first; the server answers (PROTOCOL.md). */
	if (m->m_role == GT_MUX_CLIENT)
		mux_send_hello(m);
	/* Frames may have arrived with the end of the handshake. */
	if (evbuffer_get_length(gt_ep_input(conn)) > 0)
		event_active(m->m_sched, EV_READ, 0);
	return m;
fail:
	gt_ep_free(conn);
	return NULL;
}

/* Release everything: streams, events, the connection. */
static void
mux_destroy(struct gt_mux *m)
{
	struct mux_stream	*s;
	size_t			 i;

	m->m_closed = 1;
	/* The flood, if any, is over: say how big it was. */
	if (m->m_hellos_ignored > 0)
		gt_logrl_flush(&mux_rl_hello, GT_LOG_WARN, "mux",
		    m->m_peer_host);
	if (m->m_table != NULL)
		for (i = 0; i < m->m_tsize; i++)
			while ((s = m->m_table[i]) != NULL)
				stream_teardown(s, "tunnel freed", -1);
	if (m->m_sched != NULL)
		event_free(m->m_sched);
	if (m->m_tick != NULL)
		event_free(m->m_tick);
	if (m->m_reaper != NULL)
		event_free(m->m_reaper);
	if (m->m_conn != NULL)
		gt_ep_free(m->m_conn);
	free(m->m_table);
	free(m->m_name);
	free(m);
}

void
gt_mux_free(struct gt_mux *m)
{
	if (m == NULL)
		return;
	if (m->m_depth > 0) {
		/* Inside one of our callbacks: the outermost one frees. */
		m->m_free_wanted = 1;
		if (!m->m_closed) {
			m->m_closed_reported = 1;	/* the owner asked: no callback */
			mux_fail(m, "closed locally");
		}
		return;
	}
	mux_destroy(m);
}

/* The owner ends the tunnel (a revoked certificate, an operator). */
void
gt_mux_end(struct gt_mux *m, const char *why)
{
	if (m == NULL || m->m_closed)
		return;
	mux_fail(m, "%s", why);
}

int
gt_mux_open(struct gt_mux *m, struct gt_ep *ep, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, struct gt_counters *ctr,
    const char *label)
{
	return gt_mux_open_watched(m, ep, host, port, pp, ctr, label, NULL,
	    NULL, NULL);
}

int
gt_mux_open_watched(struct gt_mux *m, struct gt_ep *ep, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, struct gt_counters *ctr,
    const char *label,
    gt_mux_ended_cb *ended, void *arg, uint32_t *idp)
{
	struct mux_stream	*s;
	struct timeval		 tv = { m->m_connect_timeout, 0 };
	uint32_t		 id;
	int			 rc;

	if (m->m_closed || m->m_role != GT_MUX_SERVER) {
		gt_ep_free(ep);
		return -1;
	}
	/* Conn IDs are ours to choose; skip 0 and any still in use. */
	do {
		id = m->m_next_id++;
	} while (id == 0 || mux_lookup(m, id) != NULL);
	if ((s = stream_new(m, id, label)) == NULL) {
		log_warnx("mux", "tunnel %s: cannot open a stream: %s", m->m_name,
		    m->m_nstreams >= m->m_max_streams ? "too many streams" :
		    "out of memory");
		gt_ep_free(ep);
		return -1;
	}
	if (ctr != NULL) {
		s->s_ctr = gt_counters_ref(ctr);
		gt_counters_begin(ctr);
	}
	if (stream_attach(s, ep) == -1 ||
	    (s->s_timer = evtimer_new(m->m_base, stream_timeout_cb, s)) == NULL) {
		stream_teardown(s, "cannot set up the stream", -1);
		return -1;
	}
	/* The user's bytes wait in the kernel until the client has connected. */
	if (pp != NULL && (s->s_caps & GT_CAP_PROXY))
		rc = gt_frame_add_connect_req_proxy(mux_out(m), id, port, host,
		    pp);
	else {
		if (pp != NULL)
			gt_log_rl(&mux_rl_noproxy, GT_LOG_WARN, "mux",
			    m->m_peer_host, "tunnel %s: peer lacks the PROXY "
			    "capability: %s gets no PROXY header", m->m_name,
			    label ? label : "a session");
		rc = gt_frame_add_connect_req(mux_out(m), id, port, host);
	}
	if (mux_sent(m, rc) == -1)
		return -1;	/* the tunnel ended; its reaper frees the stream */
	evtimer_add(s->s_timer, &tv);
	/* Only now: on every failure above the watcher is never called. */
	s->s_ended = ended;
	s->s_ended_arg = arg;
	if (idp != NULL)
		*idp = id;
	log_info("mux", "session opened: tunnel %s id %u %s -> %s:%u", m->m_name,
	    id, label ? label : "-", host, port);
	return 0;
}

int
gt_mux_accept(struct gt_mux *m, uint32_t id, struct gt_ep *ep)
{
	struct mux_stream *s = m->m_closed ? NULL : mux_lookup(m, id);

	if (s == NULL || s->s_state != ST_PENDING || s->s_ep != NULL) {
		gt_ep_free(ep);
		return -1;
	}
	if (stream_attach(s, ep) == -1) {
		(void)mux_sent(m, gt_frame_add_connect_resp(mux_out(m), id,
		    mux_status_for(s, GT_STATUS_RESOURCE)));
		stream_teardown(s, "cannot set up the stream", -1);
		return -1;
	}
	if (mux_sent(m, gt_frame_add_connect_resp(mux_out(m), id,
	    GT_STATUS_OK)) == -1)
		return -1;
	s->s_state = ST_OPEN;
	stream_read_update(s);
	return 0;
}

void
gt_mux_refuse(struct gt_mux *m, uint32_t id, uint8_t status)
{
	struct mux_stream *s = m->m_closed ? NULL : mux_lookup(m, id);

	if (s == NULL || s->s_state != ST_PENDING)
		return;
	(void)mux_sent(m, gt_frame_add_connect_resp(mux_out(m), id,
	    mux_status_for(s, status)));
	stream_teardown(s, "refused", -1);
}

void
gt_mux_close_streams(struct gt_mux *m, const struct gt_counters *ctr)
{
	struct mux_stream	*s, *next;
	size_t			 i;

	if (m->m_closed)
		return;
	mux_enter(m);
	for (i = 0; i < m->m_tsize; i++) {
		for (s = m->m_table[i]; s != NULL; s = next) {
			next = s->s_hnext;
			if (s->s_ctr == ctr)
				stream_teardown(s, "mapping removed",
				    GT_STATUS_FAILED);
		}
	}
	mux_leave(m);
}

/* Close the streams of ctr that keep() refuses. */
void
gt_mux_close_streams_if(struct gt_mux *m, const struct gt_counters *ctr,
    int (*keep)(const struct gt_ep *, void *), void *arg, const char *why)
{
	struct mux_stream	*s, *next;
	size_t			 i;

	if (m->m_closed)
		return;
	mux_enter(m);
	for (i = 0; i < m->m_tsize; i++) {
		for (s = m->m_table[i]; s != NULL; s = next) {
			next = s->s_hnext;
			if (s->s_ctr == ctr && s->s_ep != NULL &&
			    !keep(s->s_ep, arg))
				stream_teardown(s, why, GT_STATUS_FAILED);
		}
	}
	mux_leave(m);
}

int
gt_mux_stream_bytes(const struct gt_mux *m, uint32_t id, uint64_t *from_ep,
    uint64_t *to_ep)
{
	const struct mux_stream *s = m->m_table != NULL ? mux_lookup(m, id) : NULL;

	if (s == NULL)
		return -1;
	*from_ep = s->s_from_sock;
	*to_ep = s->s_to_sock;
	return 0;
}

int
gt_mux_close_stream(struct gt_mux *m, uint32_t id, const char *why)
{
	struct mux_stream *s = m->m_table != NULL ? mux_lookup(m, id) : NULL;

	if (s == NULL)
		return -1;
	/* Also on a closing tunnel: its reaper would end the stream later. */
	mux_enter(m);
	stream_teardown(s, why, GT_STATUS_FAILED);
	mux_leave(m);
	return 0;
}

void
gt_mux_unwatch(struct gt_mux *m, uint32_t id)
{
	struct mux_stream *s = m->m_table != NULL ? mux_lookup(m, id) : NULL;

	if (s != NULL) {
		s->s_ended = NULL;
		s->s_ended_arg = NULL;
	}
}

const char *
gt_mux_name(const struct gt_mux *m)
{
	return m->m_name;
}

const char *
gt_mux_peer_addr(const struct gt_mux *m)
{
	return m->m_peer;
}

unsigned
gt_mux_streams(const struct gt_mux *m)
{
	return m->m_nstreams;
}

uint32_t
gt_mux_peer_caps(const struct gt_mux *m)
{
	return m->m_got_hello ? m->m_peer_caps : 0;
}

time_t
gt_mux_started(const struct gt_mux *m)
{
	return m->m_started;
}

int
gt_mux_is_closed(const struct gt_mux *m)
{
	return m->m_closed;
}
