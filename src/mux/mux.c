/*
 * mux.c: many TCP sessions over one tunnel connection.
 *
 * A stream owns two halves that point at each other (relayd's shape): the
 * local socket (a bufferevent) and its conn ID on the tunnel. Every way a
 * stream ends goes through stream_teardown(); every way the tunnel ends goes
 * through mux_fail(). Entry points from libevent bracket their work with
 * mux_enter()/mux_leave() so that a free asked for inside a callback is
 * deferred until the outermost callback returns (tmux's deferred free).
 *
 * Flow (docs/PROTOCOL.md): socket bytes wait in the bufferevent's input
 * (bounded by its read high-water mark, so the kernel pushes back on the TCP
 * peer) until the scheduler moves them, one chunk per stream per turn, into
 * the tunnel's output, while that output is under its high-water mark and
 * the stream has credit. Tunnel bytes for a stream are moved into its
 * socket's output; credit goes back to the peer as they leave it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gt/counters.h"
#include "gt/frame.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/sockio.h"
#include "gt/endpoint.h"

#define MUX_OUT_HIWAT		(128 * 1024)	/* tunnel output we fill up to */
#define MUX_OUT_LOWAT		(48 * 1024)	/* refill when drained to this */
#define MUX_SOCK_READ_HIWAT	(256 * 1024)	/* socket bytes waiting for the tunnel */
#define MUX_SOCK_IO_MAX		(256 * 1024)	/* one read/write on a stream socket */
#define MUX_SOCK_IO_MIN		(16 * 1024)	/* first read; reads adapt in between */
#define MUX_BASE_SOCK_LIMIT	(1024 * 1024)	/* base mode: pause the tunnel past this */
#define MUX_MAX_STREAMS		200000
#define MUX_CREDIT_MAX		0x7fffffffLL
#define MUX_TICK_MS		200	/* liveness is judged this finely */

enum stream_state {
	ST_PENDING,		/* waiting for the ConnectResponse (server) or the dial (client) */
	ST_OPEN,
	ST_DRAINING,		/* peer closed: flush socket output, then free */
};

struct mux_stream {
	struct gt_mux			*s_mux;
	uint32_t			 s_id;
	enum stream_state		 s_state;
	uint32_t			 s_caps;	/* extensions in effect for this stream */
	struct bufferevent		*s_bev;		/* NULL while pending on the client */
	struct event			*s_rev;		/* our own reads of s_bev's socket */
	uint32_t			 s_rdsize;	/* next read's size, adapts */
	struct mux_stream		*s_hnext;	/* hash chain */
	TAILQ_ENTRY(mux_stream)		 s_ready;
	int				 s_queued;
	int64_t				 s_credit;	/* bytes we may still send */
	int64_t				 s_rwin;	/* bytes the peer may still send */
	uint32_t			 s_consumed;	/* written to the socket, not yet granted */
	unsigned			 s_local_eof:1,	/* socket said EOF */
					 s_sent_shut:1,	/* we sent SHUTDOWN */
					 s_peer_shut:1,	/* peer sent SHUTDOWN */
					 s_wr_shut:1,	/* shutdown(SHUT_WR) done */
					 s_blocking:1,	/* base mode: holds the tunnel paused */
					 s_rd_on:1;	/* s_rev is armed */
	struct event			*s_timer;	/* pending connect timeout */
	struct gt_counters		*s_ctr;
	char				*s_label;
	struct timespec			 s_start;
	uint64_t			 s_from_sock;	/* socket -> tunnel */
	uint64_t			 s_to_sock;	/* tunnel -> socket */
};

TAILQ_HEAD(stream_q, mux_stream);

struct gt_mux {
	struct event_base	*m_base;
	struct gt_ep		*m_conn;
	enum gt_mux_role	 m_role;
	char			*m_name;
	char			 m_peer[64];
	uint32_t		 m_caps;	/* what we offer */
	uint32_t		 m_window;	/* our receive window per stream */
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
	time_t			 m_started;
	uint64_t		 m_nsessions;	/* streams ever opened */
	uint64_t		 m_bytes_from_sock, m_bytes_to_sock;
	unsigned		 m_rx_blocked;	/* base-mode streams over their limit */
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
static void	mux_schedule(struct gt_mux *);
static void	mux_destroy(struct gt_mux *);
static void	stream_teardown(struct mux_stream *, const char *, int);
static void	stream_rd_cb(evutil_socket_t, short, void *);
static void	stream_writecb(struct bufferevent *, void *);
static void	stream_eventcb(struct bufferevent *, short, void *);
static void	stream_outbuf_cb(struct evbuffer *, const struct evbuffer_cb_info *, void *);
static void	stream_check_done(struct mux_stream *);

/* Milliseconds on a clock that never jumps. */
static int64_t
mux_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* Ask the transport to send what the output holds. */
static void
mux_kick(struct gt_mux *m)
{
	gt_ep_kick(m->m_conn);
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
static void
mux_send_close(struct mux_stream *s, uint8_t reason)
{
	int r = (s->s_caps & GT_CAP_ERRCODES) ? (int)reason : -1;

	gt_frame_add_close(mux_out(s->s_mux), s->s_id, r);
	mux_kick(s->s_mux);
}

/* Put a stream with bytes and credit on the round-robin queue. */
static void
stream_enqueue(struct mux_stream *s)
{
	struct gt_mux *m = s->s_mux;

	if (s->s_queued || s->s_state != ST_OPEN || s->s_sent_shut)
		return;
	TAILQ_INSERT_TAIL(&m->m_readyq, s, s_ready);
	s->s_queued = 1;
	if (m->m_sched != NULL)
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

/* A new stream in the table, not yet carrying a socket. */
static struct mux_stream *
stream_new(struct gt_mux *m, uint32_t id, const char *label)
{
	struct mux_stream *s;

	if (m->m_nstreams >= MUX_MAX_STREAMS)
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

/* Wrap a connected socket into the stream's bufferevent. */
static int
stream_attach(struct mux_stream *s, evutil_socket_t fd)
{
	struct gt_mux	*m = s->s_mux;
	int		 one = 1;

	evutil_make_socket_nonblocking(fd);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->s_bev = bufferevent_socket_new(m->m_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->s_bev == NULL) {
		evutil_closesocket(fd);
		return -1;
	}
	if (evbuffer_add_cb(bufferevent_get_output(s->s_bev), stream_outbuf_cb,
	    s) == NULL) {
		bufferevent_free(s->s_bev);
		s->s_bev = NULL;
		return -1;
	}
	/*
	 * The bufferevent only writes. libevent 2.1's evbuffer_read takes at
	 * most 4 KiB a call (and asks FIONREAD first), which caps a stream
	 * at one loop pass per 4 KiB: we read the socket ourselves.
	 */
	bufferevent_setcb(s->s_bev, NULL, stream_writecb, stream_eventcb, s);
	bufferevent_set_max_single_write(s->s_bev, MUX_SOCK_IO_MAX);
	s->s_rdsize = MUX_SOCK_IO_MIN;
	if ((s->s_rev = event_new(m->m_base, fd, EV_READ | EV_PERSIST,
	    stream_rd_cb, s)) == NULL) {
		bufferevent_free(s->s_bev);
		s->s_bev = NULL;
		return -1;
	}
	return 0;
}

/* Read the socket while the stream is open, not at EOF, and input has room. */
static void
stream_read_update(struct mux_stream *s)
{
	int want;

	if (s->s_rev == NULL)
		return;
	want = s->s_state == ST_OPEN && !s->s_local_eof &&
	    evbuffer_get_length(bufferevent_get_input(s->s_bev)) <
	    MUX_SOCK_READ_HIWAT;
	if (want == s->s_rd_on)
		return;
	if (want)
		event_add(s->s_rev, NULL);
	else
		event_del(s->s_rev);
	s->s_rd_on = want;
}

/*
 * The one way a stream ends: unlink, close its socket, count, log.
 * send_close: also tell the peer (-1: no, else the reason code).
 */
static void
stream_teardown(struct mux_stream *s, const char *why, int send_close)
{
	struct gt_mux	*m = s->s_mux;
	struct timespec	 now;
	double		 secs;

	if (send_close >= 0 && !m->m_closed)
		mux_send_close(s, (uint8_t)send_close);
	stream_dequeue(s);
	mux_unlink(m, s);
	if (s->s_blocking) {
		s->s_blocking = 0;
		if (--m->m_rx_blocked == 0 && !m->m_closed) {
			gt_ep_read_enable(m->m_conn, 1);
			if (m->m_sched != NULL)
				event_active(m->m_sched, EV_READ, 0);
		}
	}
	if (s->s_timer != NULL)
		event_free(s->s_timer);
	if (s->s_rev != NULL)
		event_free(s->s_rev);
	if (s->s_bev != NULL) {
		evbuffer_remove_cb(bufferevent_get_output(s->s_bev),
		    stream_outbuf_cb, s);
		bufferevent_free(s->s_bev);
	}
	m->m_bytes_from_sock += s->s_from_sock;
	m->m_bytes_to_sock += s->s_to_sock;
	clock_gettime(CLOCK_MONOTONIC, &now);
	secs = (double)(now.tv_sec - s->s_start.tv_sec) +
	    (double)(now.tv_nsec - s->s_start.tv_nsec) / 1e9;
	if (s->s_ctr != NULL) {
		if (s->s_ctr->active > 0)
			s->s_ctr->active--;
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
}

/*
 * Give credit back for bytes that left toward the socket, in batches of
 * half a window: the peer then always holds at least half a window.
 */
static void
stream_grant(struct mux_stream *s)
{
	struct gt_mux *m = s->s_mux;

	if (!(s->s_caps & GT_CAP_FLOW) || m->m_closed ||
	    s->s_consumed < m->m_window / 2)
		return;
	if (s->s_peer_shut || s->s_state == ST_DRAINING)
		return;		/* the peer will send no more */
	gt_frame_add_window(mux_out(m), s->s_id, s->s_consumed);
	s->s_rwin += s->s_consumed;
	s->s_consumed = 0;
	mux_kick(m);
}

/* Bytes left the socket's output buffer: that is consumption. */
static void
stream_outbuf_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct mux_stream *s = arg;

	(void)buf;
	if (info->n_deleted == 0)
		return;
	s->s_consumed += (uint32_t)info->n_deleted;
	stream_grant(s);
}

/* Socket bytes arrived: the scheduler will carry them. */
static void
stream_on_input(struct mux_stream *s)
{
	if (s->s_credit > 0 || !(s->s_caps & GT_CAP_FLOW))
		stream_enqueue(s);
	stream_read_update(s);
}

/* The socket's output drained fully. */
static void
stream_writecb(struct bufferevent *bev, void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;

	(void)bev;
	mux_enter(m);
	if (s->s_blocking) {
		s->s_blocking = 0;
		if (--m->m_rx_blocked == 0 && !m->m_closed) {
			gt_ep_read_enable(m->m_conn, 1);
			event_active(m->m_sched, EV_READ, 0);
		}
	}
	stream_check_done(s);
	mux_leave(m);
}

/* Send our half-close (or, for a base peer, the Close) once input is sent. */
static void
stream_local_finish(struct mux_stream *s)
{
	if (s->s_sent_shut || !s->s_local_eof || s->s_state != ST_OPEN)
		return;
	if (evbuffer_get_length(bufferevent_get_input(s->s_bev)) > 0)
		return;
	if (s->s_caps & GT_CAP_HALFCLOSE) {
		gt_frame_add_shutdown(mux_out(s->s_mux), s->s_id);
		mux_kick(s->s_mux);
		s->s_sent_shut = 1;
		stream_dequeue(s);
		stream_check_done(s);
	} else {
		/*
		 * go-tunnel has no half-close: EOF ends the stream. What the
		 * peer already sent still goes out to the socket first.
		 */
		mux_send_close(s, GT_STATUS_FAILED);
		s->s_state = ST_DRAINING;
		stream_dequeue(s);
		stream_check_done(s);
	}
}

/*
 * Decide what the socket's state allows now: carry the peer's FIN across
 * once its data is written, and free the stream when both ways are done.
 */
static void
stream_check_done(struct mux_stream *s)
{
	size_t pending;

	if (s->s_bev == NULL)
		return;
	pending = evbuffer_get_length(bufferevent_get_output(s->s_bev));
	if (pending > 0)
		return;
	if (s->s_state == ST_DRAINING) {
		stream_teardown(s, "closed by peer", -1);
		return;
	}
	if (s->s_peer_shut && !s->s_wr_shut) {
		(void)shutdown(bufferevent_getfd(s->s_bev), SHUT_WR);
		s->s_wr_shut = 1;
	}
	if (s->s_peer_shut && s->s_sent_shut)
		stream_teardown(s, "done", -1);
}

/* The socket said EOF: our half-close follows once its bytes are sent. */
static void
stream_on_eof(struct mux_stream *s)
{
	s->s_local_eof = 1;
	stream_read_update(s);
	if (s->s_state == ST_DRAINING)
		stream_teardown(s, "closed by both sides", -1);
	else
		stream_local_finish(s);
}

/*
 * The socket is readable: one read into the stream's input. The read size
 * adapts (16 KiB up to 256 KiB) so that bulk streams take big bites and a
 * chatty one does not allocate big chains for a few bytes.
 */
static void
stream_rd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;
	struct evbuffer		*in = bufferevent_get_input(s->s_bev);
	size_t			 have = evbuffer_get_length(in), want;
	ssize_t			 r;

	(void)what;
	mux_enter(m);
	want = have < MUX_SOCK_READ_HIWAT ? MUX_SOCK_READ_HIWAT - have : 0;
	if (want > s->s_rdsize)
		want = s->s_rdsize;
	if (want == 0) {
		stream_read_update(s);
		goto out;
	}
	r = gt_sockio_read(fd, in, want);
	if (r > 0) {
		s->s_rdsize = (uint32_t)gt_sockio_adapt(s->s_rdsize, want, r,
		    MUX_SOCK_IO_MIN, MUX_SOCK_IO_MAX);
		stream_on_input(s);
	} else if (r == 0) {
		stream_on_eof(s);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		stream_teardown(s, strerror(errno), GT_STATUS_FAILED);
	}
out:
	mux_leave(m);
}

/* A write error on a stream socket (reads are ours, see stream_rd_cb). */
static void
stream_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct mux_stream	*s = arg;
	struct gt_mux		*m = s->s_mux;

	(void)bev;
	mux_enter(m);
	if (what & BEV_EVENT_ERROR)
		stream_teardown(s, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()), GT_STATUS_FAILED);
	else if (what & BEV_EVENT_EOF)
		stream_on_eof(s);
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
	stream_teardown(s, "connect timeout", GT_STATUS_TIMEOUT);
	mux_leave(m);
}

/*
 * Move socket bytes into the tunnel: round-robin over ready streams, one
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
		in = bufferevent_get_input(s->s_bev);
		avail = evbuffer_get_length(in);
		n = avail < GT_DATA_CHUNK ? avail : GT_DATA_CHUNK;
		if ((s->s_caps & GT_CAP_FLOW) && (int64_t)n > s->s_credit)
			n = (size_t)s->s_credit;
		if (n > 0) {
			if (gt_frame_add_data_hdr(out, s->s_id, (uint32_t)n) == -1 ||
			    evbuffer_remove_buffer(in, out, n) != (int)n) {
				mux_fail(m, "out of memory");
				return;
			}
			s->s_credit -= (int64_t)n;
			s->s_from_sock += n;
			stream_read_update(s);
			if (s->s_ctr != NULL) {
				if (m->m_role == GT_MUX_SERVER)
					s->s_ctr->bytes_in += n;
				else
					s->s_ctr->bytes_out += n;
			}
			sent = 1;
		}
		if (evbuffer_get_length(in) > 0) {
			if (s->s_credit > 0 || !(s->s_caps & GT_CAP_FLOW))
				stream_enqueue(s);
		} else if (s->s_local_eof) {
			stream_local_finish(s);	/* may free s */
		}
	}
	if (sent)
		mux_kick(m);
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
	gt_frame_add_hello(mux_out(m), m->m_caps, m->m_window,
	    (uint16_t)m->m_hb_interval, (uint16_t)m->m_hb_timeout);
	mux_kick(m);
}

/* The peer's hello: what it understands, its window, its heartbeat. */
static int
mux_on_hello(struct gt_mux *m, const struct gt_frame *f)
{
	if (f->magic != GT_HELLO_MAGIC) {
		mux_fail(m, "bad hello magic 0x%08x", f->magic);
		return -1;
	}
	if (m->m_got_hello) {
		log_warnx("mux", "tunnel %s: second hello ignored", m->m_name);
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
		mux_fail(m, "ConnectRequest sent to the server");
		return -1;
	}
	if (mux_lookup(m, f->id) != NULL) {
		mux_fail(m, "ConnectRequest for live conn ID %u", f->id);
		return -1;
	}
	snprintf(label, sizeof(label), "to %s:%u", f->host, f->port);
	if ((s = stream_new(m, f->id, label)) == NULL) {
		/* Answer without a stream: the peer must not wait 10 s. */
		gt_frame_add_connect_resp(mux_out(m), f->id,
		    (m->m_got_hello && (m->m_peer_caps & GT_CAP_ERRCODES)) ?
		    GT_STATUS_RESOURCE : GT_STATUS_FAILED);
		mux_kick(m);
		return 0;
	}
	if (m->m_cbs.connect_request != NULL)
		m->m_cbs.connect_request(m, f->id, f->host, f->port, m->m_arg);
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
		mux_fail(m, "ConnectResponse sent to the client");
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
	/* Bytes the user sent before the tunnel was ready are waiting. */
	if (evbuffer_get_length(bufferevent_get_input(s->s_bev)) > 0)
		stream_enqueue(s);
}

/* Data for a stream: straight into its socket's output. */
static void
mux_on_data(struct gt_mux *m, const struct gt_frame *f, struct evbuffer *in)
{
	struct mux_stream	*s = mux_lookup(m, f->id);
	struct evbuffer		*sout;
	size_t			 pending;
	int			 was_empty;

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
	sout = bufferevent_get_output(s->s_bev);
	was_empty = evbuffer_get_length(sout) == 0;
	if (evbuffer_remove_buffer(in, sout, f->data_len) != (int)f->data_len) {
		mux_fail(m, "out of memory");
		return;
	}
	/* A socket with a backlog is full: let the bufferevent wait for it. */
	if (was_empty)
		(void)gt_sockio_write_now(s->s_bev);
	s->s_rwin -= f->data_len;
	s->s_to_sock += f->data_len;
	if (s->s_ctr != NULL) {
		if (m->m_role == GT_MUX_SERVER)
			s->s_ctr->bytes_out += f->data_len;
		else
			s->s_ctr->bytes_in += f->data_len;
	}
	if (!(s->s_caps & GT_CAP_FLOW) && !s->s_blocking) {
		/* A base peer has no credit: hold the whole tunnel instead. */
		pending = evbuffer_get_length(sout);
		if (pending > MUX_BASE_SOCK_LIMIT) {
			s->s_blocking = 1;
			if (m->m_rx_blocked++ == 0)
				gt_ep_read_enable(m->m_conn, 0);
		}
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
	if (s->s_bev != NULL &&
	    evbuffer_get_length(bufferevent_get_input(s->s_bev)) > 0)
		stream_enqueue(s);
}

/* Close from the peer: write what we hold to the socket, then free. */
static void
mux_on_close(struct gt_mux *m, const struct gt_frame *f)
{
	struct mux_stream *s = mux_lookup(m, f->id);

	if (s == NULL)
		return;
	if (s->s_state == ST_PENDING || s->s_bev == NULL) {
		stream_teardown(s, "cancelled by peer", -1);
		return;
	}
	s->s_state = ST_DRAINING;
	stream_dequeue(s);
	stream_read_update(s);
	stream_check_done(s);
}

/* Half-close from the peer. */
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
	stream_check_done(s);
}

/* Decode and act on every whole frame the transport has delivered. */
static void
mux_process_input(struct gt_mux *m)
{
	struct evbuffer	*in = gt_ep_input(m->m_conn);
	struct gt_frame	 f;
	int		 r;

	while (!m->m_closed && m->m_rx_blocked == 0) {
		r = gt_frame_decode(in, &f, GT_FRAME_MAX_PAYLOAD);
		if (r == GT_FRAME_NEED_MORE)
			break;
		if (r < 0) {
			mux_fail(m, "protocol error: %s", gt_frame_strerror(r));
			return;
		}
		m->m_last_rx = mux_now();
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
			if (m->m_role == GT_MUX_CLIENT && m->m_got_hello) {
				gt_frame_add_keepalive(mux_out(m));
				mux_kick(m);
			}
			break;
		case GT_FRAME_HELLO:
			if (mux_on_hello(m, &f) == -1)
				return;
			break;
		default:
			mux_fail(m, "protocol error: unexpected frame type 0x%02x",
			    f.type);
			return;
		}
	}
}

/* Transport events on the tunnel connection. */
static void
mux_conn_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	struct gt_mux *m = arg;

	(void)c;
	mux_enter(m);
	switch (ev) {
	case GT_EP_EV_READ:
		mux_process_input(m);
		break;
	case GT_EP_EV_DRAINED:
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

/* Every tick: heartbeat out, silence check in. */
static void
mux_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_mux	*m = arg;
	int64_t		 now = mux_now();

	(void)fd;
	(void)what;
	mux_enter(m);
	if (now - m->m_last_rx >= (int64_t)m->m_hb_timeout * 1000) {
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
		gt_frame_add_keepalive(mux_out(m));
		mux_kick(m);
	}
	mux_leave(m);
}

/* Deferred free, run from the loop. */
static void
mux_reaper_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_mux *m = arg;

	(void)fd;
	(void)what;
	if (!m->m_closed_reported) {
		m->m_closed_reported = 1;
		mux_enter(m);
		if (m->m_cbs.closed != NULL)
			m->m_cbs.closed(m, m->m_why, m->m_arg);
		mux_leave(m);
	}
}

/*
 * The one way a tunnel ends: close every stream, stop I/O, and report
 * (once, from the loop) through the closed callback.
 */
static void
mux_fail(struct gt_mux *m, const char *fmt, ...)
{
	struct mux_stream	*s;
	va_list			 ap;
	size_t			 i;

	if (m->m_closed)
		return;
	m->m_closed = 1;
	va_start(ap, fmt);
	vsnprintf(m->m_why, sizeof(m->m_why), fmt, ap);
	va_end(ap);
	log_info("mux", "tunnel %s (%s) ended after %lds: %s; %u streams open, "
	    "%llu sessions, %llu bytes sent, %llu bytes received", m->m_name,
	    m->m_peer, (long)(time(NULL) - m->m_started), m->m_why,
	    m->m_nstreams, (unsigned long long)m->m_nsessions,
	    (unsigned long long)m->m_bytes_from_sock,
	    (unsigned long long)m->m_bytes_to_sock);
	for (i = 0; i < m->m_tsize; i++)
		while ((s = m->m_table[i]) != NULL)
			stream_teardown(s, "tunnel ended", -1);
	if (m->m_tick != NULL)
		event_del(m->m_tick);
	gt_ep_read_enable(m->m_conn, 0);
	if (m->m_reaper != NULL)
		event_active(m->m_reaper, EV_TIMEOUT, 0);
}

struct gt_mux *
gt_mux_new(struct event_base *base, struct gt_ep *conn,
    const struct gt_mux_params *p, const struct gt_mux_cbs *cbs, void *arg)
{
	struct gt_mux	*m;
	struct timeval	 tick = { 0, MUX_TICK_MS * 1000 };
	const char	*peer;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		goto fail;
	m->m_base = base;
	m->m_conn = conn;
	m->m_role = p->role;
	m->m_caps = p->caps & GT_CAP_ALL;
	m->m_window = p->window ? p->window : GT_WINDOW_DEFAULT;
	if (m->m_window < 16384)
		m->m_window = 16384;
	if (m->m_window > GT_WINDOW_MAX)
		m->m_window = GT_WINDOW_MAX;
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
	m->m_last_rx = m->m_last_ping = mux_now();
	TAILQ_INIT(&m->m_readyq);
	peer = gt_ep_peer_addr(conn);
	snprintf(m->m_peer, sizeof(m->m_peer), "%s", peer ? peer : "?");
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

int
gt_mux_open(struct gt_mux *m, evutil_socket_t fd, const char *host,
    uint16_t port, struct gt_counters *ctr, const char *label)
{
	struct mux_stream	*s;
	struct timeval		 tv = { m->m_connect_timeout, 0 };
	uint32_t		 id;

	if (m->m_closed || m->m_role != GT_MUX_SERVER) {
		evutil_closesocket(fd);
		return -1;
	}
	/* Conn IDs are ours to choose; skip 0 and any still in use. */
	do {
		id = m->m_next_id++;
	} while (id == 0 || mux_lookup(m, id) != NULL);
	if ((s = stream_new(m, id, label)) == NULL) {
		log_warnx("mux", "tunnel %s: cannot open a stream: %s", m->m_name,
		    m->m_nstreams >= MUX_MAX_STREAMS ? "too many streams" :
		    "out of memory");
		evutil_closesocket(fd);
		return -1;
	}
	if (ctr != NULL) {
		s->s_ctr = gt_counters_ref(ctr);
		ctr->active++;
		ctr->total++;
	}
	if (stream_attach(s, fd) == -1 ||
	    (s->s_timer = evtimer_new(m->m_base, stream_timeout_cb, s)) == NULL ||
	    gt_frame_add_connect_req(mux_out(m), id, port, host) == -1) {
		stream_teardown(s, "cannot set up the stream", -1);
		return -1;
	}
	/* The user's bytes wait in the kernel until the client has connected. */
	bufferevent_enable(s->s_bev, EV_WRITE);
	evtimer_add(s->s_timer, &tv);
	mux_kick(m);
	log_info("mux", "session opened: tunnel %s id %u %s -> %s:%u", m->m_name,
	    id, label ? label : "-", host, port);
	return 0;
}

int
gt_mux_accept(struct gt_mux *m, uint32_t id, evutil_socket_t fd)
{
	struct mux_stream *s = m->m_closed ? NULL : mux_lookup(m, id);

	if (s == NULL || s->s_state != ST_PENDING || s->s_bev != NULL) {
		evutil_closesocket(fd);
		return -1;
	}
	if (stream_attach(s, fd) == -1) {
		gt_frame_add_connect_resp(mux_out(m), id,
		    mux_status_for(s, GT_STATUS_RESOURCE));
		mux_kick(m);
		stream_teardown(s, "cannot set up the stream", -1);
		return -1;
	}
	s->s_state = ST_OPEN;
	gt_frame_add_connect_resp(mux_out(m), id, GT_STATUS_OK);
	mux_kick(m);
	bufferevent_enable(s->s_bev, EV_WRITE);
	stream_read_update(s);
	return 0;
}

void
gt_mux_refuse(struct gt_mux *m, uint32_t id, uint8_t status)
{
	struct mux_stream *s = m->m_closed ? NULL : mux_lookup(m, id);

	if (s == NULL || s->s_state != ST_PENDING)
		return;
	gt_frame_add_connect_resp(mux_out(m), id, mux_status_for(s, status));
	mux_kick(m);
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
