/* server.c: gt-bench's echo and sink servers, one libevent loop. */
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gt/log.h"
#include "gt/loop.h"

#include "bench.h"

#define SRV_OUT_HIGH	(4 * 1024 * 1024)	/* stop reading above this backlog */
#define SRV_OUT_LOW	(512 * 1024)		/* resume reading below this */
#define SRV_DL_FILL	(1024 * 1024)		/* download: output kept this full */

enum srv_state {
	SRV_PEEK,	/* sink: waiting for a possible header */
	SRV_ECHO,
	SRV_DISCARD,
	SRV_VERIFY,
	SRV_DOWNLOAD,
	SRV_CLOSING,	/* flushing output, then free */
};

struct srv;

struct srv_conn {
	TAILQ_ENTRY(srv_conn)	 sc_entry;
	struct srv		*sc_srv;
	struct bufferevent	*sc_bev;
	enum srv_state		 sc_state;
	uint64_t		 sc_seed;
	uint64_t		 sc_off;	/* verify: bytes checked good */
	uint64_t		 sc_left;	/* download: bytes still to send */
	int			 sc_bad;
	char			 sc_peer[64];
};

struct srv {
	struct event_base		*s_base;
	struct evconnlistener		*s_lev;
	struct event			*s_sigint, *s_sigterm, *s_timer;
	struct event			*s_resume;
	int				 s_sink;
	TAILQ_HEAD(, srv_conn)		 s_conns;
};

static void	srv_read_cb(struct bufferevent *, void *);
static void	srv_write_cb(struct bufferevent *, void *);

/* The one teardown of a connection. */
static void
srv_conn_free(struct srv_conn *sc)
{
	TAILQ_REMOVE(&sc->sc_srv->s_conns, sc, sc_entry);
	bufferevent_free(sc->sc_bev);
	free(sc);
}

/* Close once the output has drained (the read side is done). */
static void
srv_conn_close_after_flush(struct srv_conn *sc)
{
	sc->sc_state = SRV_CLOSING;
	bufferevent_disable(sc->sc_bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(sc->sc_bev)) == 0) {
		srv_conn_free(sc);
		return;
	}
	bufferevent_setwatermark(sc->sc_bev, EV_WRITE, 0, 0);
}

/* Download: top the output up with the pattern. */
static void
srv_fill(struct srv_conn *sc)
{
	struct evbuffer		*out = bufferevent_get_output(sc->sc_bev);
	struct evbuffer_iovec	 v;
	size_t			 n;

	while (sc->sc_left > 0 && evbuffer_get_length(out) < SRV_DL_FILL) {
		n = BENCH_IO_CHUNK;
		if (n > sc->sc_left)
			n = (size_t)sc->sc_left;
		if (evbuffer_reserve_space(out, (ev_ssize_t)n, &v, 1) < 1)
			return;
		if (v.iov_len > n)
			v.iov_len = n;
		bench_pattern_fill(BENCH_DL_SEED, sc->sc_off, v.iov_base,
		    v.iov_len);
		if (evbuffer_commit_space(out, &v, 1) == -1)
			return;
		sc->sc_off += v.iov_len;
		sc->sc_left -= v.iov_len;
	}
}

/* Verify the upload bytes in the input buffer against pattern(seed). */
static void
srv_verify(struct srv_conn *sc, struct evbuffer *in)
{
	struct evbuffer_iovec	 v[8];
	size_t			 chk, done = 0;
	int			 i, n;

	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 8);
		if (n > 8)
			n = 8;
		done = 0;
		for (i = 0; i < n && !sc->sc_bad; i++) {
			chk = bench_pattern_check(sc->sc_seed, sc->sc_off,
			    v[i].iov_base, v[i].iov_len);
			sc->sc_off += chk;
			if (chk != v[i].iov_len) {
				sc->sc_bad = 1;
				log_warnx("sink", "upload from %s: verification "
				    "failed at stream offset %llu", sc->sc_peer,
				    (unsigned long long)sc->sc_off);
			}
			done += v[i].iov_len;
		}
		if (sc->sc_bad) {
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		evbuffer_drain(in, done);
	}
}

/* Sink: decide from the first bytes whether a header opens the stream. */
static void
srv_peek(struct srv_conn *sc, struct evbuffer *in)
{
	unsigned char	hdr[BENCH_HDR_LEN];
	size_t		len = evbuffer_get_length(in);
	int		up, dl;

	if (len > BENCH_HDR_LEN)
		len = BENCH_HDR_LEN;
	if (evbuffer_copyout(in, hdr, len) != (ev_ssize_t)len)
		return;
	up = bench_header_prefix(hdr, len, BENCH_TAG_UP);
	dl = bench_header_prefix(hdr, len, BENCH_TAG_DL);
	if (!up && !dl) {
		sc->sc_state = SRV_DISCARD;
		return;
	}
	if (len < BENCH_HDR_LEN)
		return;		/* wait for the rest of the header */
	evbuffer_drain(in, BENCH_HDR_LEN);
	if (up) {
		sc->sc_state = SRV_VERIFY;
		sc->sc_seed = bench_get_be64(hdr + BENCH_TAG_LEN);
		log_debug("sink", "%s: verified upload", sc->sc_peer);
	} else {
		sc->sc_state = SRV_DOWNLOAD;
		sc->sc_left = bench_get_be64(hdr + BENCH_TAG_LEN);
		log_debug("sink", "%s: download of %llu bytes", sc->sc_peer,
		    (unsigned long long)sc->sc_left);
		bufferevent_setwatermark(sc->sc_bev, EV_WRITE, SRV_OUT_LOW, 0);
		srv_fill(sc);
	}
}

/* Input: echo it back, discard it, verify it, or read a header. */
static void
srv_read_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn	*sc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct evbuffer	*out = bufferevent_get_output(bev);

	if (sc->sc_state == SRV_PEEK)
		srv_peek(sc, in);
	switch (sc->sc_state) {
	case SRV_ECHO:
		evbuffer_add_buffer(out, in);
		if (evbuffer_get_length(out) >= SRV_OUT_HIGH)
			bufferevent_disable(bev, EV_READ);
		break;
	case SRV_VERIFY:
		srv_verify(sc, in);
		break;
	case SRV_DISCARD:
	case SRV_DOWNLOAD:
	case SRV_CLOSING:
		evbuffer_drain(in, evbuffer_get_length(in));
		break;
	case SRV_PEEK:
		break;
	}
}

/* Output drained below the low mark: resume reading, refill, or finish. */
static void
srv_write_cb(struct bufferevent *bev, void *arg)
{
	struct srv_conn *sc = arg;

	switch (sc->sc_state) {
	case SRV_ECHO:
		if (!(bufferevent_get_enabled(bev) & EV_READ))
			bufferevent_enable(bev, EV_READ);
		break;
	case SRV_DOWNLOAD:
		srv_fill(sc);
		break;
	case SRV_CLOSING:
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			srv_conn_free(sc);
		break;
	default:
		break;
	}
}

/* EOF or error: answer a verified upload, flush an echo, or drop. */
static void
srv_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct srv_conn	*sc = arg;
	unsigned char	 rp[BENCH_HDR_LEN];

	(void)bev;
	if (what & BEV_EVENT_ERROR) {
		log_debug("bench", "%s: %s", sc->sc_peer,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		srv_conn_free(sc);
		return;
	}
	if (!(what & BEV_EVENT_EOF))
		return;
	switch (sc->sc_state) {
	case SRV_VERIFY:
		srv_verify(sc, bufferevent_get_input(sc->sc_bev));
		bench_make_header(rp, BENCH_TAG_RP, sc->sc_off);
		bufferevent_write(sc->sc_bev, rp, sizeof(rp));
		log_debug("sink", "%s: upload done, %llu bytes verified%s",
		    sc->sc_peer, (unsigned long long)sc->sc_off,
		    sc->sc_bad ? " then a mismatch" : "");
		srv_conn_close_after_flush(sc);
		break;
	case SRV_ECHO:
		srv_conn_close_after_flush(sc);
		break;
	default:
		srv_conn_free(sc);
		break;
	}
}

/* A new connection: TCP_NODELAY, large reads, its state. */
static void
srv_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct srv	*s = arg;
	struct srv_conn	*sc;
	int		 one = 1;

	(void)lev;
	(void)salen;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	sc->sc_bev = bufferevent_socket_new(s->s_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (sc->sc_bev == NULL) {
		free(sc);
		evutil_closesocket(fd);
		return;
	}
	sc->sc_srv = s;
	sc->sc_state = s->s_sink ? SRV_PEEK : SRV_ECHO;
	bench_format_addr(sa, sc->sc_peer, sizeof(sc->sc_peer));
	TAILQ_INSERT_TAIL(&s->s_conns, sc, sc_entry);
	bufferevent_set_max_single_read(sc->sc_bev, BENCH_IO_CHUNK);
	bufferevent_set_max_single_write(sc->sc_bev, BENCH_IO_CHUNK);
	bufferevent_setcb(sc->sc_bev, srv_read_cb, srv_write_cb, srv_event_cb,
	    sc);
	bufferevent_setwatermark(sc->sc_bev, EV_WRITE, SRV_OUT_LOW, 0);
	bufferevent_enable(sc->sc_bev, EV_READ | EV_WRITE);
	log_debug("bench", "%s: connected", sc->sc_peer);
}

/* Out of descriptors: pause accepting for a moment instead of spinning. */
static void
srv_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct srv	*s = arg;
	struct timeval	 tv = { 0, 100000 };

	log_warn("bench", "accept");
	evconnlistener_disable(lev);
	evtimer_add(s->s_resume, &tv);
}

/* Resume accepting after a pause. */
static void
srv_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(s->s_lev);
}

/* SIGINT/SIGTERM or the -duration timer: leave the loop. */
static void
srv_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(s->s_base);
}

/* Free everything the server holds; safe on a partial set-up. */
static void
srv_teardown(struct srv *s)
{
	struct srv_conn *sc;

	while ((sc = TAILQ_FIRST(&s->s_conns)) != NULL)
		srv_conn_free(sc);
	if (s->s_lev != NULL)
		evconnlistener_free(s->s_lev);
	if (s->s_sigint != NULL)
		event_free(s->s_sigint);
	if (s->s_sigterm != NULL)
		event_free(s->s_sigterm);
	if (s->s_timer != NULL)
		event_free(s->s_timer);
	if (s->s_resume != NULL)
		event_free(s->s_resume);
	if (s->s_base != NULL)
		event_base_free(s->s_base);
}

/* Run an echo or sink server until a signal or -duration; exit status. */
int
bench_serve(int sink, const char *listen, long duration_s)
{
	struct srv		 s;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv;
	char			 err[256], name[96];
	int			 rc = 1;

	memset(&s, 0, sizeof(s));
	TAILQ_INIT(&s.s_conns);
	s.s_sink = sink;
	if (bench_parse_addr(listen, 1, &ss, &sslen, err, sizeof(err)) == -1) {
		fprintf(stderr, "gt-bench: -listen: %s\n", err);
		return 2;
	}
	bench_raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if ((s.s_base = gt_loop_new()) == NULL) {
		log_errorx("bench", "event_base_new failed");
		goto out;
	}
	s.s_lev = evconnlistener_new_bind(s.s_base, srv_accept_cb, &s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    4096, (struct sockaddr *)&ss, (int)sslen);
	if (s.s_lev == NULL) {
		log_warn("bench", "listen on %s", listen);
		goto out;
	}
	evconnlistener_set_error_cb(s.s_lev, srv_accept_error_cb);
	sslen = sizeof(ss);
	if (getsockname(evconnlistener_get_fd(s.s_lev), (struct sockaddr *)&ss,
	    &sslen) == -1) {
		log_warn("bench", "getsockname");
		goto out;
	}
	s.s_sigint = evsignal_new(s.s_base, SIGINT, srv_stop_cb, &s);
	s.s_sigterm = evsignal_new(s.s_base, SIGTERM, srv_stop_cb, &s);
	s.s_resume = evtimer_new(s.s_base, srv_resume_cb, &s);
	if (s.s_sigint == NULL || s.s_sigterm == NULL || s.s_resume == NULL ||
	    evsignal_add(s.s_sigint, NULL) == -1 ||
	    evsignal_add(s.s_sigterm, NULL) == -1)
		goto out;
	if (duration_s > 0) {
		tv.tv_sec = duration_s;
		tv.tv_usec = 0;
		if ((s.s_timer = evtimer_new(s.s_base, srv_stop_cb, &s)) == NULL ||
		    evtimer_add(s.s_timer, &tv) == -1)
			goto out;
	}
	bench_format_addr((struct sockaddr *)&ss, name, sizeof(name));
	printf("listening on %s\n", name);
	fflush(stdout);
	log_info("bench", "%s server listening on %s", sink ? "sink" : "echo",
	    name);
	if (event_base_dispatch(s.s_base) == -1)
		goto out;
	log_info("bench", "%s server stopped", sink ? "sink" : "echo");
	rc = 0;
out:
	srv_teardown(&s);
	return rc;
}
