/*
 * fwd_direct.c: direct-mode sessions (relayd's shape). A session owns two
 * halves, the public socket and the target socket, each a bufferevent
 * pointing at its peer, and one teardown function every path goes through.
 *
 * The target is dialled asynchronously; the public side is not read until
 * it answers. Each half reads its socket itself, straight into its peer's
 * output (libevent 2.1's bufferevent reads take 4 KiB a call), and what
 * lands in an empty output is sent at once; the bufferevents keep only the
 * write backlog.
 * Backpressure: when a half's output passes FWD_HIWAT its source stops
 * reading, and resumes when that output drains under FWD_LOWAT. Half-close:
 * EOF on one half becomes shutdown(SHUT_WR) on the other once what it sent
 * is written; the session ends when both directions are done, or at once on
 * any error.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gt/counters.h"
#include "gt/log.h"
#include "gt/sockio.h"
#include "fwd_local.h"

#define FWD_HIWAT		(256 * 1024)	/* stop reading the source here */
#define FWD_LOWAT		(64 * 1024)	/* resume it here */
#define FWD_IOMAX		(256 * 1024)	/* one read or write at most */
#define FWD_IOMIN		(16 * 1024)	/* first read; reads adapt in between */
#define FWD_CONNECT_TIMEOUT	10		/* seconds, DNS included */

struct fwd_session;

struct fwd_half {
	struct bufferevent	*fh_bev;
	struct event		*fh_rev;	/* our reads of fh_bev's socket */
	size_t			 fh_rdsize;
	int			 fh_rd_on;
	struct fwd_half		*fh_peer;
	struct fwd_session	*fh_sess;
	int			 fh_eof;	/* our read side saw EOF */
	int			 fh_shut;	/* our write side is shut (peer's EOF carried) */
	int			 fh_paused;	/* reading stopped: the peer's output is full */
};

struct fwd_session {
	TAILQ_ENTRY(fwd_session) fs_entry;
	struct fwd_map		*fs_map;
	struct gt_counters	*fs_ctr;	/* referenced while we live */
	struct fwd_half		 fs_pub;	/* the public user */
	struct fwd_half		 fs_tgt;	/* the target we dialled */
	struct event		*fs_timer;	/* connect timeout */
	char			 fs_peer[FWD_ADDRSTRLEN];
	struct timespec		 fs_start;
	uint64_t		 fs_in;		/* public -> target */
	uint64_t		 fs_out;	/* target -> public */
	int			 fs_connected;
	int			 fs_inconnect;	/* inside the dial call: defer teardown */
	int			 fs_closing;	/* teardown asked during the dial call */
	char			 fs_why[128];
};

static void	fwd_session_close(struct fwd_session *, const char *);

/* Seconds since t. */
static double
fwd_elapsed(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	    (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * The one teardown: log the session, close both sockets, drop the
 * references. Asked for while the dial call runs (libevent may report a
 * failure synchronously from inside it), it only records the reason and
 * fwd_session_dial finishes the job.
 */
static void
fwd_session_close(struct fwd_session *s, const char *why)
{
	struct fwd_map *fm = s->fs_map;
	const struct gt_mapping *m = &fm->fm_map;

	if (s->fs_inconnect) {
		if (!s->fs_closing) {
			s->fs_closing = 1;
			snprintf(s->fs_why, sizeof(s->fs_why), "%s", why);
		}
		return;
	}
	if (s->fs_connected)
		log_info("fwd", "port %u: %s -> %s:%u closed (%s): %llu bytes in, "
		    "%llu bytes out, %.3f s", m->source_port, s->fs_peer,
		    m->target_host, m->target_port, why,
		    (unsigned long long)s->fs_in, (unsigned long long)s->fs_out,
		    fwd_elapsed(&s->fs_start));
	else
		log_info("fwd", "port %u: %s -> %s:%u refused: %s",
		    m->source_port, s->fs_peer, m->target_host, m->target_port,
		    why);

	TAILQ_REMOVE(&fm->fm_sessions, s, fs_entry);
	fm->fm_nsessions--;
	s->fs_ctr->active--;
	gt_counters_unref(s->fs_ctr);
	if (s->fs_timer != NULL)
		event_free(s->fs_timer);
	if (s->fs_pub.fh_rev != NULL)
		event_free(s->fs_pub.fh_rev);
	if (s->fs_tgt.fh_rev != NULL)
		event_free(s->fs_tgt.fh_rev);
	/* Safe inside their own callbacks: libevent defers the destruction. */
	if (s->fs_pub.fh_bev != NULL)
		bufferevent_free(s->fs_pub.fh_bev);
	if (s->fs_tgt.fh_bev != NULL)
		bufferevent_free(s->fs_tgt.fh_bev);
	free(s);
}

/* Both directions have ended and been flushed: the session is over. */
static int
fwd_session_done(struct fwd_session *s)
{
	if (s->fs_pub.fh_eof && s->fs_tgt.fh_eof &&
	    s->fs_pub.fh_shut && s->fs_tgt.fh_shut) {
		fwd_session_close(s, "done");
		return 1;
	}
	return 0;
}

/* Carry the peer's EOF: shut our write side. 1 if the session ended. */
static int
fwd_half_shut(struct fwd_half *h)
{
	if (h->fh_shut)
		return 0;
	h->fh_shut = 1;
	/* ENOTCONN if the other end is gone: the next error ends the session. */
	(void)shutdown(bufferevent_getfd(h->fh_bev), SHUT_WR);
	return fwd_session_done(h->fh_sess);
}

/* Read h's socket or not. */
static void
fwd_half_read_on(struct fwd_half *h, int on)
{
	if (h->fh_rev == NULL || h->fh_rd_on == on)
		return;
	if (on)
		event_add(h->fh_rev, NULL);
	else
		event_del(h->fh_rev);
	h->fh_rd_on = on;
}

/*
 * h's socket is readable: one read straight into the peer's output, sent at
 * once if that output was empty; h pauses when the output is full.
 */
static void
fwd_half_rd_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct fwd_half		*h = arg, *p = h->fh_peer;
	struct fwd_session	*s = h->fh_sess;
	struct evbuffer		*out = bufferevent_get_output(p->fh_bev);
	size_t			 before = evbuffer_get_length(out);
	ssize_t			 r;
	char			 why[128];

	(void)ev;
	r = gt_sockio_read(fd, out, h->fh_rdsize);
	if (r > 0) {
		h->fh_rdsize = gt_sockio_adapt(h->fh_rdsize, h->fh_rdsize, r,
		    FWD_IOMIN, FWD_IOMAX);
		if (h == &s->fs_pub) {
			s->fs_in += (size_t)r;
			s->fs_ctr->bytes_in += (size_t)r;
		} else {
			s->fs_out += (size_t)r;
			s->fs_ctr->bytes_out += (size_t)r;
		}
		if (before == 0)
			(void)gt_sockio_write_now(p->fh_bev);
		if (evbuffer_get_length(out) >= FWD_HIWAT) {
			fwd_half_read_on(h, 0);
			h->fh_paused = 1;
		}
		return;
	}
	if (r == 0) {
		h->fh_eof = 1;
		h->fh_paused = 0;
		fwd_half_read_on(h, 0);
		if (evbuffer_get_length(out) == 0)
			(void)fwd_half_shut(p);
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return;
	snprintf(why, sizeof(why), "%s side: %s",
	    h == &s->fs_pub ? "public" : "target", strerror(errno));
	fwd_session_close(s, why);
}

/* h's output drained under the low mark: resume its source, or carry its EOF. */
static void
fwd_half_write(struct bufferevent *bev, void *arg)
{
	struct fwd_half *h = arg, *src = h->fh_peer;
	size_t left = evbuffer_get_length(bufferevent_get_output(bev));

	if (!h->fh_sess->fs_connected)
		return;
	if (src->fh_paused && !src->fh_eof && left <= FWD_LOWAT) {
		src->fh_paused = 0;
		fwd_half_read_on(src, 1);
	}
	if (left == 0 && src->fh_eof)
		(void)fwd_half_shut(h);
}

/* The target answered: start moving bytes both ways. */
static void
fwd_session_connected(struct fwd_session *s)
{
	int one = 1;
	evutil_socket_t fd = bufferevent_getfd(s->fs_tgt.fh_bev);

	s->fs_connected = 1;
	evtimer_del(s->fs_timer);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	clock_gettime(CLOCK_MONOTONIC, &s->fs_start);
	log_debug("fwd", "port %u: %s -> %s:%u connected",
	    s->fs_map->fm_map.source_port, s->fs_peer,
	    s->fs_map->fm_map.target_host, s->fs_map->fm_map.target_port);
	bufferevent_disable(s->fs_pub.fh_bev, EV_READ);
	bufferevent_disable(s->fs_tgt.fh_bev, EV_READ);
	bufferevent_enable(s->fs_pub.fh_bev, EV_WRITE);
	bufferevent_enable(s->fs_tgt.fh_bev, EV_WRITE);
	s->fs_pub.fh_rev = event_new(bufferevent_get_base(s->fs_pub.fh_bev),
	    bufferevent_getfd(s->fs_pub.fh_bev), EV_READ | EV_PERSIST,
	    fwd_half_rd_cb, &s->fs_pub);
	s->fs_tgt.fh_rev = event_new(bufferevent_get_base(s->fs_tgt.fh_bev),
	    fd, EV_READ | EV_PERSIST, fwd_half_rd_cb, &s->fs_tgt);
	if (s->fs_pub.fh_rev == NULL || s->fs_tgt.fh_rev == NULL) {
		fwd_session_close(s, "out of memory");
		return;
	}
	fwd_half_read_on(&s->fs_pub, 1);
	fwd_half_read_on(&s->fs_tgt, 1);
}

/* Connected, EOF, or an error on one half. */
static void
fwd_half_event(struct bufferevent *bev, short what, void *arg)
{
	struct fwd_half *h = arg, *p = h->fh_peer;
	struct fwd_session *s = h->fh_sess;
	char why[128];
	int dnserr;

	if (what & BEV_EVENT_CONNECTED) {
		fwd_session_connected(s);
		return;
	}
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    s->fs_connected) {
		/* Reads are ours (fwd_half_rd_cb); a write-side EOF is an error. */
		h->fh_eof = 1;
		fwd_half_read_on(h, 0);
		if (evbuffer_get_length(bufferevent_get_output(p->fh_bev)) == 0)
			(void)fwd_half_shut(p);
		return;
	}
	if (!s->fs_connected) {
		dnserr = bufferevent_socket_get_dns_error(bev);
		if (dnserr != 0)
			snprintf(why, sizeof(why), "cannot resolve: %s",
			    evutil_gai_strerror(dnserr));
		else if (what & BEV_EVENT_ERROR)
			snprintf(why, sizeof(why), "%s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		else
			snprintf(why, sizeof(why), "connection closed");
	} else if (what & BEV_EVENT_ERROR)
		snprintf(why, sizeof(why), "%s side: %s",
		    h == &s->fs_pub ? "public" : "target",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(why, sizeof(why), "%s side: event 0x%x",
		    h == &s->fs_pub ? "public" : "target", (unsigned)what);
	fwd_session_close(s, why);
}

/* The target did not answer in time. */
static void
fwd_session_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct fwd_session *s = arg;

	(void)fd;
	(void)ev;
	fwd_session_close(s, "connect timed out");
}

/* Parse an IP literal target into ss; 0 on success, -1 if it is a name. */
static int
fwd_parse_ip(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (evutil_inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	if (evutil_inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

/* Start dialling the target; never blocks. 1 if the session already ended. */
static int
fwd_session_dial(struct fwd_session *s)
{
	struct gt_fwd *fw = s->fs_map->fm_fwd;
	const struct gt_mapping *m = &s->fs_map->fm_map;
	struct sockaddr_storage ss;
	struct evdns_base *dns;
	struct timeval tv = { FWD_CONNECT_TIMEOUT, 0 };
	socklen_t sslen;
	int r;

	evtimer_add(s->fs_timer, &tv);
	s->fs_inconnect = 1;
	if (fwd_parse_ip(m->target_host, m->target_port, &ss, &sslen) == 0)
		r = bufferevent_socket_connect(s->fs_tgt.fh_bev,
		    (struct sockaddr *)&ss, (int)sslen);
	else if ((dns = fwd_dns(fw)) != NULL)
		r = bufferevent_socket_connect_hostname(s->fs_tgt.fh_bev, dns,
		    AF_UNSPEC, m->target_host, m->target_port);
	else {
		r = -1;
		fwd_session_close(s, "no DNS resolver");
	}
	s->fs_inconnect = 0;
	if (r == -1 && !s->fs_closing)
		fwd_session_close(s, evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
	else if (s->fs_closing)
		fwd_session_close(s, s->fs_why);
	else
		return 0;
	return 1;
}

/* Set up one half over bev. */
static void
fwd_half_init(struct fwd_session *s, struct fwd_half *h, struct fwd_half *peer,
    struct bufferevent *bev)
{
	h->fh_bev = bev;
	h->fh_peer = peer;
	h->fh_sess = s;
	h->fh_rdsize = FWD_IOMIN;
	bufferevent_set_max_single_write(bev, FWD_IOMAX);
	bufferevent_setwatermark(bev, EV_WRITE, FWD_LOWAT, 0);
	bufferevent_setcb(bev, NULL, fwd_half_write, fwd_half_event, h);
}

/* A public connection to a direct mapping: dial its target. fd is ours now. */
void
fwd_direct_accept(struct fwd_map *fm, evutil_socket_t fd, const char *peer)
{
	struct event_base *base = fm->fm_fwd->fw_base;
	struct fwd_session *s;
	struct bufferevent *pub = NULL, *tgt = NULL;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (pub = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (tgt = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (s->fs_timer = evtimer_new(base, fwd_session_timeout, s)) == NULL) {
		log_warnx("fwd", "port %u: %s dropped: out of memory",
		    fm->fm_map.source_port, peer);
		if (tgt != NULL)
			bufferevent_free(tgt);
		if (pub != NULL)
			bufferevent_free(pub);
		else
			evutil_closesocket(fd);
		free(s);
		return;
	}
	s->fs_map = fm;
	s->fs_ctr = gt_counters_ref(fm->fm_ctr);
	s->fs_ctr->active++;
	s->fs_ctr->total++;
	snprintf(s->fs_peer, sizeof(s->fs_peer), "%s", peer);
	clock_gettime(CLOCK_MONOTONIC, &s->fs_start);
	fwd_half_init(s, &s->fs_pub, &s->fs_tgt, pub);
	fwd_half_init(s, &s->fs_tgt, &s->fs_pub, tgt);
	/* Nothing is read from the user before the target answers. */
	bufferevent_disable(pub, EV_READ);
	TAILQ_INSERT_TAIL(&fm->fm_sessions, s, fs_entry);
	fm->fm_nsessions++;
	(void)fwd_session_dial(s);
}

/* Close every session of fm (its mapping is going away). */
void
fwd_direct_close_all(struct fwd_map *fm)
{
	struct fwd_session *s;

	while ((s = TAILQ_FIRST(&fm->fm_sessions)) != NULL)
		fwd_session_close(s, "mapping removed");
}

/* Bytes fm's sessions hold in memory. */
size_t
fwd_direct_buffered(const struct fwd_map *fm)
{
	const struct fwd_session *s;
	size_t n = 0;

	TAILQ_FOREACH(s, &fm->fm_sessions, fs_entry) {
		n += evbuffer_get_length(bufferevent_get_input(s->fs_pub.fh_bev));
		n += evbuffer_get_length(bufferevent_get_output(s->fs_pub.fh_bev));
		n += evbuffer_get_length(bufferevent_get_input(s->fs_tgt.fh_bev));
		n += evbuffer_get_length(bufferevent_get_output(s->fs_tgt.fh_bev));
	}
	return n;
}
