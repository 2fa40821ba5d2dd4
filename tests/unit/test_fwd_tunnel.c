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
#include "gt/endpoint.h"

#include "fwd_harness.h"

/* ---- a tunnel in this process ---- */

struct tunnel {
	struct gt_ep	*sc, *cc;
	int		 sready, cready;
	struct gt_mux	*smux, *cmux;
	struct event_base *base;
	uint16_t	 echo_port;
	int		 nreq;
};

/* Connection events before the muxes take over: note READY. */
static void
tunnel_conn_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	int *ready = arg;

	(void)c;
	if (ev == GT_EP_EV_READY)
		*ready = 1;
	else if (ev == GT_EP_EV_ERROR || ev == GT_EP_EV_EOF)
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
    uint16_t port, const struct gt_proxy_addr *pp, void *arg)
{
	struct tunnel *tn = arg;
	struct sockaddr_in sin;
	int fd;

	(void)pp;
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
	gt_mux_accept(mux, id, gt_ep_plain_open(tn->base, fd, NULL, NULL));
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
	tn->base = base;
	tn->sc = gt_ep_plain(base, sfd, tunnel_conn_cb, &tn->sready);
	tn->cc = gt_ep_plain(base, cfd, tunnel_conn_cb, &tn->cready);
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
