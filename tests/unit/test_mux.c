/*
 * test_mux.c: the mux between a server and a client end over a plain
 * transport on a socketpair, with every session's two outer ends held by
 * the test as raw non-blocking sockets, all in one event loop.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/counters.h"
#include "gt/frame.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/endpoint.h"

#define MAXS	8

struct side {
	struct gt_mux	*mux;
	int		 closed;
	char		 why[128];
};

struct env {
	struct event_base	*base;
	struct side		 srv, cli;
	/* client side: what to do with connect requests */
	int			 refuse;	/* status to refuse with, or 0 */
	int			 ignore;	/* leave requests unanswered */
	int			 target_fd[MAXS];	/* test's end of each target */
	int			 ntargets;
	char			 last_host[256];
	uint16_t		 last_port;
	int			 got_pp;	/* the last request had the extension */
	struct gt_proxy_addr	 last_pp;
};

static struct env E;

/* Seconds since an arbitrary point, for deadlines. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One pass of the loop without blocking long. */
static void
pump(void)
{
	event_base_loop(E.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Run the loop until cond() or the deadline; fail on the deadline. */
#define WAIT_UNTIL(cond, secs) do {					\
	double _dl = now_s() + (secs);					\
	while (!(cond)) {						\
		if (now_s() > _dl)					\
			fail_msg("timed out waiting for " #cond);	\
		event_base_loop(E.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);	\
		usleep(200);						\
	}								\
} while (0)

/* A connected pair of non-blocking sockets. */
static void
mkpair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
}

static void
closed_cb(struct gt_mux *m, const char *why, void *arg)
{
	struct side *s = arg;

	(void)m;
	s->closed = 1;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

/* The client role's target "dial": a socketpair whose far end the test keeps. */
static void
connect_request_cb(struct gt_mux *m, uint32_t id, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, void *arg)
{
	int fds[2];

	(void)arg;
	snprintf(E.last_host, sizeof(E.last_host), "%s", host);
	E.last_port = port;
	E.got_pp = pp != NULL;
	if (pp != NULL)
		E.last_pp = *pp;
	if (E.ignore)
		return;
	if (E.refuse) {
		gt_mux_refuse(m, id, (uint8_t)E.refuse);
		return;
	}
	mkpair(fds);
	assert_true(E.ntargets < MAXS);
	E.target_fd[E.ntargets++] = fds[1];
	{
		struct gt_ep	*ep = gt_ep_plain_open(E.base, fds[0], NULL, NULL);
		uint8_t		 hdr[GT_PROXY_HDR_MAX];
		int		 n;

		/* gt-client's order: the header, then the stream's bytes. */
		if (pp != NULL) {
			n = gt_proxy_hdr_encode(pp, hdr, sizeof(hdr));
			assert_true(n > 0);
			assert_int_equal(evbuffer_add(gt_ep_output(ep), hdr,
			    (size_t)n), 0);
		}
		assert_int_equal(gt_mux_accept(m, id, ep), 0);
	}
}

/* Make a mux over one end of a socketpair. */
static struct gt_mux *
mkmux(int fd, enum gt_mux_role role, uint32_t caps, struct side *side,
    int hb_interval, int hb_timeout, int connect_timeout)
{
	struct gt_mux_params	p;
	struct gt_mux_cbs	cbs;
	struct gt_ep		*c;

	c = gt_ep_plain(E.base, fd, NULL, NULL);
	assert_non_null(c);
	memset(&p, 0, sizeof(p));
	p.role = role;
	p.name = role == GT_MUX_SERVER ? "srv" : "cli";
	p.caps = caps;
	p.hb_interval = hb_interval;
	p.hb_timeout = hb_timeout;
	p.connect_timeout = connect_timeout;
	memset(&cbs, 0, sizeof(cbs));
	cbs.closed = closed_cb;
	if (role == GT_MUX_CLIENT)
		cbs.connect_request = connect_request_cb;
	memset(side, 0, sizeof(*side));
	side->mux = gt_mux_new(E.base, c, &p, &cbs, side);
	assert_non_null(side->mux);
	return side->mux;
}

/* A tunnel between a server mux and a client mux. */
static void
setup_tunnel(uint32_t srv_caps, uint32_t cli_caps, int connect_timeout)
{
	int fds[2];

	memset(&E, 0, sizeof(E));
	E.base = event_base_new();
	assert_non_null(E.base);
	mkpair(fds);
	mkmux(fds[0], GT_MUX_SERVER, srv_caps, &E.srv, 1, 3, connect_timeout);
	mkmux(fds[1], GT_MUX_CLIENT, cli_caps, &E.cli, 0, 0, 0);
	if (srv_caps && cli_caps)
		WAIT_UNTIL(gt_mux_peer_caps(E.srv.mux) != 0 &&
		    gt_mux_peer_caps(E.cli.mux) != 0, 5);
}

static void
teardown_tunnel(void)
{
	int i;

	if (E.srv.mux != NULL)
		gt_mux_free(E.srv.mux);
	if (E.cli.mux != NULL)
		gt_mux_free(E.cli.mux);
	for (i = 0; i < E.ntargets; i++)
		close(E.target_fd[i]);
	/* Let deferred frees run. */
	event_base_loop(E.base, EVLOOP_NONBLOCK);
	event_base_free(E.base);
}

/* Open a stream from the server; returns the test's user-side fd. */
static int
open_stream(struct gt_counters *ctr, const char *host, uint16_t port)
{
	int fds[2];

	mkpair(fds);
	assert_int_equal(gt_mux_open(E.srv.mux,
	    gt_ep_plain_open(E.base, fds[0], NULL, NULL), host, port, NULL, ctr,
	    "test"), 0);
	return fds[1];
}

/* Deterministic bytes of stream k at offset i. */
static uint8_t
pat(int k, size_t i)
{
	return (uint8_t)(i * 31 + (size_t)k * 7 + (i >> 9));
}

struct xfer {
	int		 fd;
	int		 k;
	size_t		 total, sent, recvd;
	int		 eof;
	int		 bad;
};

/* Non-blocking step: write more of the pattern. */
static void
xfer_send(struct xfer *x)
{
	uint8_t	buf[32768];
	size_t	n, i;
	ssize_t	w;

	if (x->sent >= x->total)
		return;
	n = x->total - x->sent < sizeof(buf) ? x->total - x->sent : sizeof(buf);
	for (i = 0; i < n; i++)
		buf[i] = pat(x->k, x->sent + i);
	w = write(x->fd, buf, n);
	if (w > 0)
		x->sent += (size_t)w;
}

/* Non-blocking step: read and check the pattern. */
static void
xfer_recv(struct xfer *x)
{
	uint8_t	buf[32768];
	ssize_t	r, i;

	r = read(x->fd, buf, sizeof(buf));
	if (r == 0)
		x->eof = 1;
	for (i = 0; i < r; i++)
		if (buf[i] != pat(x->k, x->recvd + (size_t)i))
			x->bad++;
	if (r > 0)
		x->recvd += (size_t)r;
}

/* Read whatever is there into buf; returns bytes or 0 on EOF, -1 nothing. */
static ssize_t
try_read(int fd, void *buf, size_t len)
{
	ssize_t r = read(fd, buf, len);

	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -1;
	return r < 0 ? 0 : r;
}

/* Read fd until EOF (pumping the loop); returns the bytes read. */
static size_t
read_to_eof(int fd, char *buf, size_t cap, double secs)
{
	double	dl = now_s() + secs;
	size_t	got = 0;
	ssize_t	r;

	for (;;) {
		pump();
		r = try_read(fd, buf + got, cap - got);
		if (r == 0)
			return got;
		if (r > 0)
			got += (size_t)r;
		if (now_s() > dl)
			fail_msg("no EOF on fd %d after %zu bytes", fd, got);
		usleep(100);
	}
}

/* Data both ways at once, every byte checked, counters moving. */
static void
test_bulk_both_ways(void **state)
{
	struct gt_counters	*ctr = gt_counters_new();
	struct xfer		 up_tx, up_rx, dn_tx, dn_rx;
	int			 user;
	const size_t		 N = 8u << 20;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	user = open_stream(ctr, "127.0.0.1", 22);
	WAIT_UNTIL(E.ntargets == 1, 5);
	assert_string_equal(E.last_host, "127.0.0.1");
	assert_int_equal(E.last_port, 22);
	up_tx = (struct xfer){ user, 1, N, 0, 0, 0, 0 };
	up_rx = (struct xfer){ E.target_fd[0], 1, N, 0, 0, 0, 0 };
	dn_tx = (struct xfer){ E.target_fd[0], 2, N, 0, 0, 0, 0 };
	dn_rx = (struct xfer){ user, 2, N, 0, 0, 0, 0 };
	double dl = now_s() + 60;
	while (up_rx.recvd < N || dn_rx.recvd < N) {
		xfer_send(&up_tx);
		xfer_send(&dn_tx);
		pump();
		xfer_recv(&up_rx);
		xfer_recv(&dn_rx);
		if (now_s() > dl)
			fail_msg("bulk stalled: up %zu down %zu", up_rx.recvd,
			    dn_rx.recvd);
	}
	assert_int_equal(up_rx.bad, 0);
	assert_int_equal(dn_rx.bad, 0);
	assert_int_equal(up_rx.recvd, N);
	assert_int_equal(dn_rx.recvd, N);
	assert_int_equal(ctr->bytes_in, N);
	assert_int_equal(ctr->bytes_out, N);
	assert_int_equal(ctr->active, 1);
	assert_int_equal(ctr->total, 1);
	close(user);
	close(E.target_fd[0]);
	E.ntargets = 0;
	WAIT_UNTIL(ctr->active == 0 && gt_mux_streams(E.srv.mux) == 0 &&
	    gt_mux_streams(E.cli.mux) == 0, 5);
	gt_counters_unref(ctr);
	teardown_tunnel();
}

/* Read exactly n bytes from fd, pumping the loop. */
static void
read_n(int fd, void *buf, size_t n)
{
	size_t	got = 0;
	ssize_t	r;
	double	dl = now_s() + 5;

	while (got < n) {
		r = read(fd, (char *)buf + got, n - got);
		if (r > 0)
			got += (size_t)r;
		else if (r == 0)
			fail_msg("EOF after %zu of %zu bytes", got, n);
		if (now_s() > dl)
			fail_msg("%zu of %zu bytes", got, n);
		pump();
	}
}

/*
 * The PROXY extension crosses the tunnel when both ends have GT_CAP_PROXY:
 * the client gets the addresses, its target the header before the data
 * (test_mux_bounds checks the header earns no credit). Without the bit:
 * no extension, the stream works as before.
 */
static void
test_proxy_ext(void **state)
{
	static const struct gt_proxy_addr pp = {
		.version = GT_PROXY_V1, .family = 4,
		.src = { 127, 0, 0, 2 }, .dst = { 127, 0, 0, 1 },
		.src_port = 40000, .dst_port = 8080,
	};
	static const char line[] = "PROXY TCP4 127.0.0.2 127.0.0.1 40000 8080\r\n";
	uint32_t	 caps[2] = { GT_CAP_ALL, GT_CAP_ALL & ~GT_CAP_PROXY };
	char		 buf[256];
	int		 user, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		setup_tunnel(GT_CAP_ALL, caps[i], 5);
		{
			int fds[2];

			mkpair(fds);
			assert_int_equal(gt_mux_open(E.srv.mux,
			    gt_ep_plain_open(E.base, fds[0], NULL, NULL),
			    "127.0.0.1", 22, &pp, NULL, "test"), 0);
			user = fds[1];
		}
		WAIT_UNTIL(E.ntargets == 1, 5);
		assert_int_equal(E.got_pp, i == 0);
		if (i == 0) {
			assert_memory_equal(&E.last_pp, &pp, sizeof(pp));
			read_n(E.target_fd[0], buf, sizeof(line) - 1);
			assert_memory_equal(buf, line, sizeof(line) - 1);
		}
		assert_int_equal(write(user, "data", 4), 4);
		read_n(E.target_fd[0], buf, 4);
		assert_memory_equal(buf, "data", 4);
		assert_int_equal(write(E.target_fd[0], "back", 4), 4);
		read_n(user, buf, 4);
		assert_memory_equal(buf, "back", 4);
		close(user);
		teardown_tunnel();
	}
}

/* A ConnectRequest extension from a peer that never offered the bit ends the tunnel. */
static void
test_proxy_ext_unasked(void **state)
{
	static const struct gt_proxy_addr pp = {
		.version = GT_PROXY_V2, .family = 4,
		.src = { 10, 0, 0, 1 }, .dst = { 10, 0, 0, 2 },
		.src_port = 1, .dst_port = 2,
	};
	struct evbuffer	*b;
	int		 fds[2];

	(void)state;
	memset(&E, 0, sizeof(E));
	E.base = event_base_new();
	mkpair(fds);
	mkmux(fds[1], GT_MUX_CLIENT, GT_CAP_ALL, &E.cli, 0, 0, 0);
	/* A base server (no hello) sends the extended form anyway. */
	b = evbuffer_new();
	assert_int_equal(gt_frame_add_connect_req_proxy(b, 1, 22, "127.0.0.1",
	    &pp), 0);
	assert_int_equal(write(fds[0], evbuffer_pullup(b, -1),
	    evbuffer_get_length(b)), (ssize_t)evbuffer_get_length(b));
	evbuffer_free(b);
	WAIT_UNTIL(E.cli.closed, 5);
	assert_non_null(strstr(E.cli.why, "PROXY"));
	assert_int_equal(E.ntargets, 0);
	close(fds[0]);
	teardown_tunnel();
}

/* The user's FIN reaches the target while the reply still comes back whole. */
static void
test_half_close(void **state)
{
	char	buf[64];
	int	user, t;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	user = open_stream(NULL, "localhost", 80);
	WAIT_UNTIL(E.ntargets == 1, 5);
	t = E.target_fd[0];
	assert_int_equal(write(user, "request", 7), 7);
	shutdown(user, SHUT_WR);
	/* The target sees the request, then EOF. */
	assert_int_equal(read_to_eof(t, buf, sizeof(buf), 5), 7);
	assert_memory_equal(buf, "request", 7);
	/* Its reply still flows back, then its own FIN. */
	assert_int_equal(write(t, "response", 8), 8);
	shutdown(t, SHUT_WR);
	assert_int_equal(read_to_eof(user, buf, sizeof(buf), 5), 8);
	assert_memory_equal(buf, "response", 8);
	WAIT_UNTIL(gt_mux_streams(E.srv.mux) == 0 &&
	    gt_mux_streams(E.cli.mux) == 0, 5);
	close(user);
	teardown_tunnel();
}

/*
 * A stalled reader on one stream: the sender is pushed back (bounded
 * buffering), a neighbour stream keeps its round trips, and every byte
 * arrives once the reader reads again.
 */
static void
test_stalled_reader(void **state)
{
	struct xfer	slow_tx, slow_rx;
	char		buf[1024];
	int		slow, fast, i;
	size_t		accepted_before;
	double		worst = 0;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	slow = open_stream(NULL, "127.0.0.1", 1);
	WAIT_UNTIL(E.ntargets == 1, 5);
	fast = open_stream(NULL, "127.0.0.1", 2);
	WAIT_UNTIL(E.ntargets == 2, 5);
	slow_tx = (struct xfer){ slow, 3, 64u << 20, 0, 0, 0, 0 };
	/* Push until the sender is blocked for a while. */
	double quiet = now_s() + 0.5;
	size_t last = 0;
	while (now_s() < quiet) {
		xfer_send(&slow_tx);
		pump();
		if (slow_tx.sent != last) {
			last = slow_tx.sent;
			quiet = now_s() + 0.5;
		}
	}
	accepted_before = slow_tx.sent;
	/*
	 * Bounded: the window (256 KiB) plus socket buffers at each end plus
	 * the mux's read buffer. Unbounded buffering would take all 64 MiB.
	 */
	assert_true(accepted_before < (8u << 20));
	/* The neighbour's round trips are unaffected. */
	for (i = 0; i < 200; i++) {
		double t0 = now_s();
		size_t got = 0;
		ssize_t r;

		memset(buf, 'a' + i % 26, sizeof(buf));
		assert_int_equal(write(fast, buf, sizeof(buf)), sizeof(buf));
		while (got < sizeof(buf)) {
			pump();
			r = try_read(E.target_fd[1], buf, sizeof(buf) - got);
			if (r > 0)
				got += (size_t)r;
			if (now_s() - t0 > 5)
				fail_msg("neighbour round trip %d stalled", i);
		}
		assert_int_equal(write(E.target_fd[1], buf, got), (ssize_t)got);
		got = 0;
		while (got < sizeof(buf)) {
			pump();
			r = try_read(fast, buf, sizeof(buf) - got);
			if (r > 0)
				got += (size_t)r;
			if (now_s() - t0 > 5)
				fail_msg("neighbour reply %d stalled", i);
		}
		if (now_s() - t0 > worst)
			worst = now_s() - t0;
	}
	print_message("stalled stream accepted %zu bytes; neighbour worst RTT %.3f ms\n",
	    accepted_before, worst * 1000);
	/* Now read: everything arrives, in order. */
	slow_tx.total = accepted_before + (4u << 20);
	slow_rx = (struct xfer){ E.target_fd[0], 3, slow_tx.total, 0, 0, 0, 0 };
	double dl = now_s() + 60;
	while (slow_rx.recvd < slow_tx.total) {
		xfer_send(&slow_tx);
		pump();
		xfer_recv(&slow_rx);
		if (now_s() > dl)
			fail_msg("stalled stream never recovered: %zu/%zu",
			    slow_rx.recvd, slow_tx.total);
	}
	assert_int_equal(slow_rx.bad, 0);
	close(slow);
	close(fast);
	teardown_tunnel();
}

/* A refusal closes the user's socket; the code reaches a gt peer. */
static void
test_refused(void **state)
{
	char	buf[8];
	int	user;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	E.refuse = GT_STATUS_DENIED;
	user = open_stream(NULL, "10.9.9.9", 22);
	WAIT_UNTIL(try_read(user, buf, sizeof(buf)) == 0, 5);
	WAIT_UNTIL(gt_mux_streams(E.srv.mux) == 0 &&
	    gt_mux_streams(E.cli.mux) == 0, 5);
	assert_false(E.srv.closed);
	close(user);
	teardown_tunnel();
}

/* No answer from the client: the pending connect times out alone. */
static void
test_connect_timeout(void **state)
{
	char	buf[8];
	int	user;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 1);
	E.ignore = 1;
	user = open_stream(NULL, "127.0.0.1", 9);
	WAIT_UNTIL(try_read(user, buf, sizeof(buf)) == 0, 5);
	/* The client was told to forget it too. */
	WAIT_UNTIL(gt_mux_streams(E.cli.mux) == 0, 5);
	assert_false(E.srv.closed);
	close(user);
	teardown_tunnel();
}

/* A go-tunnel-style peer (no hello): base frames only, still carries data. */
static void
test_base_peer(void **state)
{
	struct xfer	tx, rx;
	char		buf[8];
	int		user;

	(void)state;
	setup_tunnel(GT_CAP_ALL, 0, 5);
	user = open_stream(NULL, "127.0.0.1", 22);
	WAIT_UNTIL(E.ntargets == 1, 5);
	assert_int_equal(gt_mux_peer_caps(E.srv.mux), 0);
	tx = (struct xfer){ user, 4, 4u << 20, 0, 0, 0, 0 };
	rx = (struct xfer){ E.target_fd[0], 4, 4u << 20, 0, 0, 0, 0 };
	double dl = now_s() + 30;
	while (rx.recvd < rx.total) {
		xfer_send(&tx);
		pump();
		xfer_recv(&rx);
		if (now_s() > dl)
			fail_msg("base transfer stalled");
	}
	assert_int_equal(rx.bad, 0);
	/* Without half-close, EOF ends the stream (go-tunnel behaviour). */
	close(user);
	WAIT_UNTIL(try_read(E.target_fd[0], buf, sizeof(buf)) == 0, 5);
	teardown_tunnel();
}

/* Send raw bytes as a "client" and expect the server to end the tunnel. */
static void
bad_frame_case(const uint8_t *bytes, size_t len, const char *expect)
{
	int fds[2];

	memset(&E, 0, sizeof(E));
	E.base = event_base_new();
	mkpair(fds);
	mkmux(fds[0], GT_MUX_SERVER, GT_CAP_ALL, &E.srv, 1, 3, 5);
	assert_int_equal(write(fds[1], bytes, len), (ssize_t)len);
	WAIT_UNTIL(E.srv.closed, 5);
	if (strstr(E.srv.why, expect) == NULL)
		fail_msg("closed for \"%s\", wanted \"%s\"", E.srv.why, expect);
	close(fds[1]);
	teardown_tunnel();
}

/* Malformed frames end that tunnel, with the reason. */
static void
test_bad_frames(void **state)
{
	static const uint8_t badver[] = { 0x02, 0x05, 0, 0, 0, 0 };
	static const uint8_t huge[] = { 0x01, 0x03, 0x7f, 0, 0, 0 };
	static const uint8_t shortp[] = { 0x01, 0x02, 0, 0, 0, 2, 0, 0 };
	static const uint8_t unknown[] = { 0x01, 0x42, 0, 0, 0, 0 };
	static const uint8_t badhello[] = { 0x01, 0x06, 0, 0, 0, 12,
	    'X', 'X', 'X', 'X', 0, 0, 0, 7, 0, 4, 0, 0 };
	static const uint8_t connreq[] = { 0x01, 0x01, 0, 0, 0, 6,
	    0, 0, 0, 1, 0, 22 };

	(void)state;
	bad_frame_case(badver, sizeof(badver), "version");
	bad_frame_case(huge, sizeof(huge), "protocol error");
	bad_frame_case(shortp, sizeof(shortp), "protocol error");
	bad_frame_case(unknown, sizeof(unknown), "protocol error");
	bad_frame_case(badhello, sizeof(badhello), "hello");
	bad_frame_case(connreq, sizeof(connreq), "ConnectRequest");
}

/* Silence past the timeout ends the tunnel and its streams. */
static void
test_heartbeat_timeout(void **state)
{
	char	buf[8];
	int	fds[2], user;
	double	t0;

	(void)state;
	memset(&E, 0, sizeof(E));
	E.base = event_base_new();
	mkpair(fds);
	mkmux(fds[0], GT_MUX_SERVER, GT_CAP_ALL, &E.srv, 1, 2, 30);
	user = open_stream(NULL, "127.0.0.1", 22);
	t0 = now_s();
	WAIT_UNTIL(E.srv.closed, 6);
	assert_non_null(strstr(E.srv.why, "heartbeat"));
	assert_true(now_s() - t0 >= 1.5);
	WAIT_UNTIL(try_read(user, buf, sizeof(buf)) == 0, 2);
	close(user);
	close(fds[1]);
	teardown_tunnel();
}

/* A gt client answers the server's pings, so an idle tunnel lives on. */
static void
test_heartbeat_answered(void **state)
{
	double t0;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	t0 = now_s();
	while (now_s() - t0 < 4.5) {
		pump();
		usleep(1000);
	}
	assert_false(E.srv.closed);
	assert_false(E.cli.closed);
	teardown_tunnel();
}

/* When the client's tunnel goes, the server closes its sessions at once. */
static void
test_tunnel_loss(void **state)
{
	char	buf[8];
	int	user1, user2;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	user1 = open_stream(NULL, "127.0.0.1", 1);
	user2 = open_stream(NULL, "127.0.0.1", 2);
	WAIT_UNTIL(E.ntargets == 2, 5);
	gt_mux_free(E.cli.mux);
	E.cli.mux = NULL;
	WAIT_UNTIL(E.srv.closed, 5);
	WAIT_UNTIL(try_read(user1, buf, sizeof(buf)) == 0, 2);
	WAIT_UNTIL(try_read(user2, buf, sizeof(buf)) == 0, 2);
	assert_true(gt_mux_is_closed(E.srv.mux));
	assert_int_equal(gt_mux_open(E.srv.mux,
	    gt_ep_plain_open(E.base, dup(user1), NULL, NULL), "127.0.0.1", 1,
	    NULL, NULL, NULL), -1);
	close(user1);
	close(user2);
	teardown_tunnel();
}

/* Many streams at once, each with its own bytes. */
static void
test_many_streams(void **state)
{
	struct xfer	tx[MAXS], rx[MAXS];
	int		i, done;

	(void)state;
	setup_tunnel(GT_CAP_ALL, GT_CAP_ALL, 5);
	for (i = 0; i < MAXS; i++) {
		int u = open_stream(NULL, "127.0.0.1", (uint16_t)(1000 + i));

		WAIT_UNTIL(E.ntargets == i + 1, 5);
		tx[i] = (struct xfer){ u, 10 + i, 1u << 20, 0, 0, 0, 0 };
		rx[i] = (struct xfer){ E.target_fd[i], 10 + i, 1u << 20, 0, 0, 0, 0 };
	}
	double dl = now_s() + 60;
	do {
		done = 1;
		for (i = 0; i < MAXS; i++)
			xfer_send(&tx[i]);
		pump();
		for (i = 0; i < MAXS; i++) {
			xfer_recv(&rx[i]);
			if (rx[i].recvd < rx[i].total)
				done = 0;
		}
		if (now_s() > dl)
			fail_msg("many streams stalled");
	} while (!done);
	for (i = 0; i < MAXS; i++) {
		assert_int_equal(rx[i].bad, 0);
		close(tx[i].fd);
	}
	teardown_tunnel();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bulk_both_ways),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_stalled_reader),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_base_peer),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_heartbeat_timeout),
		cmocka_unit_test(test_heartbeat_answered),
		cmocka_unit_test(test_tunnel_loss),
		cmocka_unit_test(test_many_streams),
		cmocka_unit_test(test_proxy_ext),
		cmocka_unit_test(test_proxy_ext_unasked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
