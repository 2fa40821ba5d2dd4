/*
 * test_fwd_tunnel.c: tunnel-mode mappings through the real registry and
 * muxes: a server mux and a client mux talk over a plain TCP connection in
 * this process, the client side dials an echo target, and a user of the
 * public port gets its bytes back. (test_fwd.c covers the hand-off's edges
 * against stubs.)
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

#include "gt/counters.h"
#include "gt/fwd.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/registry.h"
#include "gt/transport.h"

#define WAIT_MS		20000	/* overall bound of any wait */
#define MAXCONN		128

static struct event_base *base;
static struct event *tick;

/* ---- loop driving ---- */

/* Milliseconds on a monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wake the loop now and then so waits can time out. */
static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd;
	(void)ev;
	(void)arg;
}

typedef int cond_fn(void *);

/* Run the loop until cond holds; 0 if WAIT_MS passed first. */
static int
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
static int
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
static int
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
static uint64_t
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
static uint64_t
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

/* A free 127.0.0.1 port, from the kernel. */
static uint16_t
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;
	uint16_t port;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A mapping of port to host:tport. */
static struct gt_mapping
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
static void
tconn_close(struct tconn *tc)
{
	tc->tc_t->t_conns[tc->tc_idx] = NULL;
	tc->tc_t->t_nclosed++;
	bufferevent_free(tc->tc_bev);
	free(tc);
}

/* Target side: data arrived. */
static void
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
static void
tconn_write(struct bufferevent *bev, void *arg)
{
	struct tconn *tc = arg;

	if (tc->tc_eof && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		tconn_close(tc);
}

/* Target side: EOF or error. */
static void
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
static void
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
static struct target *
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
static void
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
static void
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
static void
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
static void
tclient_write(struct bufferevent *bev, void *arg)
{
	(void)bev;
	tclient_pump(arg);
}

/* Client side: connected, EOF or error. */
static void
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
static struct tclient *
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
static void
tclient_free(struct tclient *c)
{
	bufferevent_free(c->c_bev);
	if (c->c_keep != NULL)
		evbuffer_free(c->c_keep);
	free(c);
}

/* The client's side is closed by the peer (EOF or reset). */
static int
cond_closed(void *arg)
{
	struct tclient *c = arg;

	return c->c_eof || c->c_error;
}

/* The client got everything it sent back, and then EOF. */
static int
cond_echoed(void *arg)
{
	struct tclient *c = arg;

	return (c->c_rx == c->c_tx_total && c->c_eof) || c->c_error;
}

/* The client got everything it sent back (or failed). */
static int
cond_rx_total(void *arg)
{
	struct tclient *c = arg;

	return c->c_rx >= c->c_tx_total || c->c_error || c->c_eof;
}

/* Assert c's echo is exact. */
static void
assert_echo(struct tclient *c)
{
	assert_false(c->c_error);
	assert_int_equal(c->c_rx, c->c_tx_total);
	assert_true(c->c_rx_hash == c->c_tx_hash);
}

/* ---- a tunnel in this process ---- */

struct tunnel {
	struct gt_conn	*sc, *cc;
	int		 sready, cready;
	struct gt_mux	*smux, *cmux;
	uint16_t	 echo_port;
	int		 nreq;
};

/* Connection events before the muxes take over: note READY. */
static void
tunnel_conn_cb(struct gt_conn *c, enum gt_conn_ev ev, void *arg)
{
	int *ready = arg;

	(void)c;
	if (ev == GT_CONN_EV_READY)
		*ready = 1;
	else if (ev == GT_CONN_EV_ERROR || ev == GT_CONN_EV_EOF)
		*ready = -1;
}

/* Both ends of the tunnel connection are ready. */
static int
cond_tunnel_ready(void *arg)
{
	struct tunnel *tn = arg;

	return tn->sready != 0 && tn->cready != 0;
}

/* Client role: dial what the server asks for (the test's echo target). */
static void
tunnel_connect_req(struct gt_mux *mux, uint32_t id, const char *host,
    uint16_t port, void *arg)
{
	struct tunnel *tn = arg;
	struct sockaddr_in sin;
	int fd;

	tn->nreq++;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		gt_mux_refuse(mux, id, GT_STATUS_FAILED);
		return;
	}
	/* Loopback: a blocking connect is immediate. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		gt_mux_refuse(mux, id, GT_STATUS_REFUSED);
		return;
	}
	evutil_make_socket_nonblocking(fd);
	gt_mux_accept(mux, id, fd);
}

/* A tunnel between a server mux named "alice" and a client mux. */
static void
tunnel_open(struct tunnel *tn)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct gt_mux_params sp, cp;
	struct gt_mux_cbs ccbs;
	int lfd, cfd, sfd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sfd = accept(lfd, NULL, NULL);
	assert_true(sfd >= 0);
	close(lfd);
	evutil_make_socket_nonblocking(cfd);
	evutil_make_socket_nonblocking(sfd);
	tn->sc = gt_conn_plain(base, sfd, tunnel_conn_cb, &tn->sready);
	tn->cc = gt_conn_plain(base, cfd, tunnel_conn_cb, &tn->cready);
	assert_non_null(tn->sc);
	assert_non_null(tn->cc);
	assert_true(wait_for(cond_tunnel_ready, tn));
	assert_int_equal(tn->sready, 1);
	assert_int_equal(tn->cready, 1);

	memset(&sp, 0, sizeof(sp));
	sp.role = GT_MUX_SERVER;
	sp.name = "alice";
	sp.caps = GT_CAP_ALL;
	cp = sp;
	cp.role = GT_MUX_CLIENT;
	memset(&ccbs, 0, sizeof(ccbs));
	ccbs.connect_request = tunnel_connect_req;
	tn->smux = gt_mux_new(base, tn->sc, &sp, NULL, tn);
	tn->cmux = gt_mux_new(base, tn->cc, &cp, &ccbs, tn);
	assert_non_null(tn->smux);
	assert_non_null(tn->cmux);
}

/* The mapping's figures show sess sessions, all closed. */
struct idlewait {
	struct gt_fwd	*fw;
	uint16_t	 port;
	uint64_t	 total;
};

/* Every session counted and closed. */
static int
cond_all_idle(void *arg)
{
	struct idlewait *iw = arg;
	const struct gt_counters *ctr = gt_fwd_counters(iw->fw, iw->port);

	return ctr != NULL && ctr->total == iw->total && ctr->active == 0;
}

/* A tunnel mapping carries bytes both ways through a real tunnel. */
static void
test_tunnel_echo(void **state)
{
	struct tunnel tn;
	struct target *t = target_new(T_ECHO);
	struct gt_registry *reg = gt_registry_new();
	struct gt_fwd *fw;
	struct gt_mapping m;
	struct tclient *c, *d;
	struct idlewait iw;
	const struct gt_counters *ctr;
	uint16_t port = free_port(), port2 = free_port();
	char err[256];

	(void)state;
	memset(&tn, 0, sizeof(tn));
	tunnel_open(&tn);
	gt_registry_add(reg, "alice", tn.smux);
	fw = gt_fwd_new(base, NULL, reg, "127.0.0.1");
	assert_non_null(fw);

	m = mapping(port, "127.0.0.1", t->t_port, 1);
	snprintf(m.client, sizeof(m.client), "alice");
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	/* Plain echo: the user closes once everything came back. */
	c = tclient_new(port, 1 << 20, 21, 0, 0);
	assert_true(wait_for(cond_rx_total, c));
	assert_echo(c);
	assert_int_equal(tn.nreq, 1);
	tclient_free(c);
	iw.fw = fw;
	iw.port = port;
	iw.total = 1;
	assert_true(wait_for(cond_all_idle, &iw));
	ctr = gt_fwd_counters(fw, port);
	assert_int_equal(ctr->bytes_in, 1 << 20);
	assert_int_equal(ctr->bytes_out, 1 << 20);

	/* Half-close: the user's FIN crosses, the echo still comes back. */
	c = tclient_new(port, 1 << 20, 22, 1, 0);
	assert_true(wait_for(cond_echoed, c));
	assert_echo(c);
	assert_true(c->c_eof);
	iw.total = 2;
	assert_true(wait_for(cond_all_idle, &iw));
	tclient_free(c);

	/* A mapping for another client: closed at once, nothing asked of alice. */
	m = mapping(port2, "127.0.0.1", t->t_port, 1);
	snprintf(m.client, sizeof(m.client), "bob");
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	d = tclient_new(port2, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, d));
	assert_int_equal(d->c_rx, 0);
	assert_int_equal(tn.nreq, 2);
	tclient_free(d);

	gt_fwd_free(fw);
	gt_registry_remove(reg, tn.smux);
	gt_registry_free(reg);
	gt_mux_free(tn.smux);
	gt_mux_free(tn.cmux);
	target_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tunnel_echo, setup, teardown),
	};

	gt_log_init("test_fwd_tunnel");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
