/*
 * fwd_harness.h: what the forwarder's unit tests share, included by
 * test_fwd.c and test_fwd_tunnel.c: one event loop driven until a
 * condition holds, FNV-1a hashing of streams, kernel-chosen ports,
 * mappings, echo/sink target servers and pseudo-random test clients.
 * Each binary uses a subset, so the functions are static and marked
 * unused (-Wunused-function would fail the -Werror build otherwise).
 */
#ifndef FWD_HARNESS_H
#define FWD_HARNESS_H

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gt/fwd.h"

#define FWD_HARNESS_FN	static __attribute__((unused))

#define WAIT_MS		20000	/* overall bound of any wait */
#define MAXCONN		128

static struct event_base *base;
static struct event *tick;

/* ---- loop driving ---- */

/* Milliseconds on a monotonic clock. */
FWD_HARNESS_FN long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wake the loop now and then so waits can time out. */
FWD_HARNESS_FN void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
}

typedef int cond_fn(void *);

/* Run the loop until cond holds; 0 if WAIT_MS passed first. */
FWD_HARNESS_FN int
wait_for(cond_fn *cond, void *arg)
{
	long long end = now_ms() + WAIT_MS;

	while (!cond(arg)) {
		if (now_ms() > end)
			return 0;
		event_base_loop(base, EVLOOP_ONCE);
	}
	return 1;
}

/* Fresh event loop per test. */
FWD_HARNESS_FN int
setup(void **state)
{
	struct timeval tv = { 0, 10000 };

	(void)state;
	base = event_base_new();
	assert_non_null(base);
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	assert_non_null(tick);
	event_add(tick, &tv);
	return 0;
}

/* Free the loop; anything left registered on it would leak and show. */
FWD_HARNESS_FN int
teardown(void **state)
{
	(void)state;
	event_free(tick);
	event_base_free(base);
	base = NULL;
	return 0;
}

/* ---- data ---- */

/* FNV-1a over a stream, incrementally. */
FWD_HARNESS_FN uint64_t
hash_bytes(uint64_t h, const unsigned char *p, size_t n)
{
	while (n-- > 0) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define HASH_INIT	0xcbf29ce484222325ULL

/* Hash every byte in b without removing them. */
FWD_HARNESS_FN uint64_t
hash_evbuffer(uint64_t h, struct evbuffer *b)
{
	struct evbuffer_iovec v[64];
	struct evbuffer_ptr pos;
	int n, i;

	evbuffer_ptr_set(b, &pos, 0, EVBUFFER_PTR_SET);
	for (;;) {
		n = evbuffer_peek(b, -1, &pos, v, 64);
		if (n <= 0)
			break;
		for (i = 0; i < n && i < 64; i++) {
			h = hash_bytes(h, v[i].iov_base, v[i].iov_len);
			if (evbuffer_ptr_set(b, &pos, v[i].iov_len,
			    EVBUFFER_PTR_ADD) == -1)
				return h;
		}
		if (n <= 64)
			break;
	}
	return h;
}

/* A socket listening on 127.0.0.1:port (0: any), for "port in use". */
FWD_HARNESS_FN int
busy_socket(uint16_t *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(*port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A socket bound to 0.0.0.0:port (the forwarder's address), or -1. */
FWD_HARNESS_FN int
fwd_try_bind(uint16_t port)
{
	struct sockaddr_in	sin;
	int			fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	sin.sin_port = htons(port);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A port free on every address, below the ephemeral range. */
FWD_HARNESS_FN uint16_t
free_port(void)
{
	static unsigned	 seq;
	uint16_t	 port;
	int		 fd, tries;

	/*
	 * Not bind(0): that gives a port of the ephemeral range, which an
	 * outgoing connection may take before the forwarder binds it. Below
	 * that range (32768 on Linux) only explicit binds compete.
	 */
	for (tries = 0; tries < 1000; tries++) {
		port = (uint16_t)(20000 + ((unsigned)getpid() * 7919u +
		    seq++ * 104729u) % 12700u);
		if ((fd = fwd_try_bind(port)) >= 0) {
			close(fd);
			return port;
		}
	}
	fail_msg("no free port below the ephemeral range");
	return 0;
}

/* A mapping of port to host:tport (direct, or through a tunnel). */
FWD_HARNESS_FN struct gt_mapping
mapping(uint16_t port, const char *host, uint16_t tport, int tunnel)
{
	struct gt_mapping m;

	memset(&m, 0, sizeof(m));
	m.source_port = port;
	snprintf(m.target_host, sizeof(m.target_host), "%s", host);
	m.target_port = tport;
	m.use_tunnel = tunnel;
	return m;
}

/* ---- target servers ---- */

enum tmode {
	T_ECHO,		/* echo back; on EOF flush then close */
	T_REPLY,	/* collect; on EOF reply "echo:" + data, then close */
	T_STALL_FIRST,	/* first connection is never read; the others echo */
};

struct target;

struct tconn {
	struct target		*tc_t;
	struct bufferevent	*tc_bev;
	int			 tc_idx;
	int			 tc_eof;
	int			 tc_sink;	/* read and discard */
	uint64_t		 tc_rx;
	uint64_t		 tc_hash;
};

struct target {
	struct evconnlistener	*t_lev;
	struct evconnlistener	*t_lev6;
	uint16_t		 t_port;
	enum tmode		 t_mode;
	int			 t_nconn;
	int			 t_nclosed;
	struct tconn		*t_conns[MAXCONN];
};

/* Close a target connection. */
FWD_HARNESS_FN void
tconn_close(struct tconn *tc)
{
	tc->tc_t->t_conns[tc->tc_idx] = NULL;
	tc->tc_t->t_nclosed++;
	bufferevent_free(tc->tc_bev);
	free(tc);
}

/* Target side: data arrived. */
FWD_HARNESS_FN void
tconn_read(struct bufferevent *bev, void *arg)
{
	struct tconn *tc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	tc->tc_hash = hash_evbuffer(tc->tc_hash, in);
	tc->tc_rx += n;
	if (tc->tc_sink)
		evbuffer_drain(in, n);
	else if (tc->tc_t->t_mode != T_REPLY)
		bufferevent_write_buffer(bev, in);
}

/* Target side: output flushed; close once the peer's EOF was answered. */
FWD_HARNESS_FN void
tconn_write(struct bufferevent *bev, void *arg)
{
	struct tconn *tc = arg;

	if (tc->tc_eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tconn_close(tc);
}

/* Target side: EOF or error. */
FWD_HARNESS_FN void
tconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct tconn *tc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	if (what & BEV_EVENT_EOF) {
		tc->tc_eof = 1;
		if (tc->tc_t->t_mode == T_REPLY) {
			bufferevent_write(bev, "echo:", 5);
			bufferevent_write_buffer(bev, in);
		}
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			tconn_close(tc);
		return;
	}
	tconn_close(tc);
}

/* Target side: a connection from the forwarder. */
FWD_HARNESS_FN void
target_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct target *t = arg;
	struct tconn *tc;
	int small = 262144;

	(void)lev;
	(void)sa;
	(void)len;
	assert_true(t->t_nconn < MAXCONN);
	tc = calloc(1, sizeof(*tc));
	assert_non_null(tc);
	tc->tc_t = t;
	tc->tc_idx = t->t_nconn++;
	tc->tc_hash = HASH_INIT;
	tc->tc_bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(tc->tc_bev);
	t->t_conns[tc->tc_idx] = tc;
	bufferevent_setcb(tc->tc_bev, tconn_read, tconn_write, tconn_event, tc);
	if (t->t_mode == T_STALL_FIRST && tc->tc_idx == 0) {
		/* A modest window (above the loopback MSS, or window updates stall). */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		bufferevent_disable(tc->tc_bev, EV_READ);
		return;
	}
	bufferevent_enable(tc->tc_bev, EV_READ | EV_WRITE);
}

/* A target server on 127.0.0.1 (and [::1] on the same port if it can). */
FWD_HARNESS_FN struct target *
target_new(enum tmode mode)
{
	struct target *t = calloc(1, sizeof(*t));
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	socklen_t len = sizeof(sin);

	assert_non_null(t);
	t->t_mode = mode;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	t->t_lev = evconnlistener_new_bind(base, target_accept, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(t->t_lev);
	assert_int_equal(getsockname(evconnlistener_get_fd(t->t_lev),
	    (struct sockaddr *)&sin, &len), 0);
	t->t_port = ntohs(sin.sin_port);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	sin6.sin6_port = htons(t->t_port);
	t->t_lev6 = evconnlistener_new_bind(base, target_accept, t,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
	    (struct sockaddr *)&sin6, sizeof(sin6));
	return t;
}

/* Stop a target server and its connections. */
FWD_HARNESS_FN void
target_free(struct target *t)
{
	int i;

	for (i = 0; i < MAXCONN; i++)
		if (t->t_conns[i] != NULL)
			tconn_close(t->t_conns[i]);
	evconnlistener_free(t->t_lev);
	if (t->t_lev6 != NULL)
		evconnlistener_free(t->t_lev6);
	free(t);
}

/* ---- test clients ---- */

struct tclient {
	struct bufferevent	*c_bev;
	int			 c_connected;
	int			 c_eof;
	int			 c_error;
	int			 c_shut_after;	/* shutdown(SHUT_WR) once all is sent */
	int			 c_shut;
	uint64_t		 c_tx_total;
	uint64_t		 c_tx_made;	/* generated and queued */
	uint64_t		 c_seed;
	uint64_t		 c_tx_hash;
	uint64_t		 c_rx;
	uint64_t		 c_rx_hash;
	struct evbuffer		*c_keep;	/* what was received, if kept */
};

#define CLIENT_QUEUE	(256 * 1024)

/* Queue more pseudo-random bytes while the output is short. */
FWD_HARNESS_FN void
tclient_pump(struct tclient *c)
{
	unsigned char buf[16384];
	struct evbuffer *out = bufferevent_get_output(c->c_bev);
	size_t n, i;

	while (c->c_tx_made < c->c_tx_total &&
	    evbuffer_get_length(out) < CLIENT_QUEUE) {
		n = sizeof(buf);
		if (c->c_tx_total - c->c_tx_made < n)
			n = (size_t)(c->c_tx_total - c->c_tx_made);
		for (i = 0; i < n; i++) {
			c->c_seed ^= c->c_seed << 13;
			c->c_seed ^= c->c_seed >> 7;
			c->c_seed ^= c->c_seed << 17;
			buf[i] = (unsigned char)c->c_seed;
		}
		c->c_tx_hash = hash_bytes(c->c_tx_hash, buf, n);
		bufferevent_write(c->c_bev, buf, n);
		c->c_tx_made += n;
	}
	if (c->c_shut_after && !c->c_shut && c->c_connected &&
	    c->c_tx_made == c->c_tx_total && evbuffer_get_length(out) == 0) {
		c->c_shut = 1;
		shutdown(bufferevent_getfd(c->c_bev), SHUT_WR);
	}
}

/* Client side: data arrived. */
FWD_HARNESS_FN void
tclient_read(struct bufferevent *bev, void *arg)
{
	struct tclient *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);

	c->c_rx_hash = hash_evbuffer(c->c_rx_hash, in);
	c->c_rx += n;
	if (c->c_keep != NULL)
		evbuffer_add_buffer(c->c_keep, in);
	else
		evbuffer_drain(in, n);
}

/* Client side: output drained under the low mark. */
FWD_HARNESS_FN void
tclient_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tclient_pump(arg);
}

/* Client side: connected, EOF or error. */
FWD_HARNESS_FN void
tclient_event(struct bufferevent *bev, short what, void *arg)
{
	struct tclient *c = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->c_connected = 1;
		tclient_pump(c);
		return;
	}
	if (what & BEV_EVENT_EOF)
		c->c_eof = 1;
	else
		c->c_error = 1;
	bufferevent_disable(bev, EV_READ);
}

/* A client of 127.0.0.1:port that will send tx pseudo-random bytes. */
FWD_HARNESS_FN struct tclient *
tclient_new(uint16_t port, uint64_t tx, uint64_t seed, int shut_after,
    int sndbuf)
{
	struct tclient *c = calloc(1, sizeof(*c));
	struct sockaddr_in sin;
	evutil_socket_t fd;

	assert_non_null(c);
	c->c_tx_total = tx;
	c->c_seed = seed | 1;
	c->c_tx_hash = HASH_INIT;
	c->c_rx_hash = HASH_INIT;
	c->c_shut_after = shut_after;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	if (sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	c->c_bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(c->c_bev);
	bufferevent_setcb(c->c_bev, tclient_read, tclient_write, tclient_event, c);
	bufferevent_setwatermark(c->c_bev, EV_WRITE, CLIENT_QUEUE / 2, 0);
	bufferevent_enable(c->c_bev, EV_READ | EV_WRITE);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	assert_int_equal(bufferevent_socket_connect(c->c_bev,
	    (struct sockaddr *)&sin, sizeof(sin)), 0);
	return c;
}

/* Close and free a client. */
FWD_HARNESS_FN void
tclient_free(struct tclient *c)
{
	bufferevent_free(c->c_bev);
	if (c->c_keep != NULL)
		evbuffer_free(c->c_keep);
	free(c);
}

/* The client's side is closed by the peer (EOF or reset). */
FWD_HARNESS_FN int
cond_closed(void *arg)
{
	struct tclient *c = arg;

	return c->c_eof || c->c_error;
}

/* The client got everything it sent back, and then EOF. */
FWD_HARNESS_FN int
cond_echoed(void *arg)
{
	struct tclient *c = arg;

	return (c->c_rx == c->c_tx_total && c->c_eof) || c->c_error;
}

/* The client got back at least what it sent, or its side closed. */
FWD_HARNESS_FN int
cond_rx_total(void *arg)
{
	struct tclient *c = arg;

	return c->c_rx >= c->c_tx_total || c->c_error || c->c_eof;
}

/* Assert c's echo is exact. */
FWD_HARNESS_FN void
assert_echo(struct tclient *c)
{
	assert_false(c->c_error);
	assert_int_equal(c->c_rx, c->c_tx_total);
	assert_true(c->c_rx_hash == c->c_tx_hash);
}

#endif /* FWD_HARNESS_H */
