/*
 * test_fwd.c: the forwarder, in one process and one event loop, over real
 * 127.0.0.1 sockets: direct sessions (bulk, concurrency, half-close,
 * refusal, backpressure, removal), listener errors, restore with retry,
 * accept pause on EMFILE, and the tunnel hand-off (registry and mux are
 * stubbed here: this binary defines gt_registry_pick, gt_mux_open_watched
 * and the other gt_mux_ and gt_registry_ calls the forwarder makes).
 */
#include <sys/types.h>
#include <sys/resource.h>
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
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gt/counters.h"
#include "gt/endpoint.h"
#include "gt/fwd.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/registry.h"

#include "fwd_harness.h"

#define HIWAT		(256 * 1024)
#define ONE_SESSION_MAX	(HIWAT + 64 * 1024)	/* what one stalled direction may hold */

struct fwdport {
	struct gt_fwd	*fw;
	uint16_t	 port;
};

/* No session of the mapping is open. */
static int
cond_idle(void *arg)
{
	struct fwdport *fp = arg;
	const struct gt_counters *ctr = gt_fwd_counters(fp->fw, fp->port);

	return ctr != NULL && ctr->active == 0;
}

/* ---- tests ---- */

/* 4 MiB both ways through a direct mapping, then a clean half-closed end. */
static void
test_bulk(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	struct fwdport fp;
	const struct gt_counters *ctr;
	uint64_t a, in, out;
	char err[256];

	(void)state;
	assert_non_null(fw);
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	assert_null(gt_fwd_error(fw, fp.port));

	c = tclient_new(fp.port, 4 << 20, 42, 1, 0);
	assert_true(wait_for(cond_echoed, c));
	assert_echo(c);
	/* The target saw exactly what the client sent. */
	assert_int_equal(t->t_nconn, 1);
	assert_true(wait_for(cond_idle, &fp));
	ctr = gt_fwd_counters(fw, fp.port);
	assert_non_null(ctr);
	assert_int_equal(ctr->total, 1);
	assert_int_equal(ctr->active, 0);
	assert_int_equal(ctr->bytes_in, 4 << 20);
	assert_int_equal(ctr->bytes_out, 4 << 20);
	gt_fwd_totals(fw, &a, &in, &out);
	assert_int_equal(a, 0);
	assert_int_equal(in, 4 << 20);
	assert_int_equal(out, 4 << 20);
	assert_int_equal(gt_fwd_buffered(fw, fp.port), 0);
	tclient_free(c);
	gt_fwd_free(fw);
	target_free(t);
}

struct many {
	struct tclient	*c[50];
};

/* Every one of the clients has its echo and EOF. */
static int
cond_all_echoed(void *arg)
{
	struct many *mc = arg;
	int i;

	for (i = 0; i < 50; i++)
		if (!cond_echoed(mc->c[i]))
			return 0;
	return 1;
}

/* 50 sessions at once, each with its own bytes. */
static void
test_concurrent(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct many mc;
	struct fwdport fp;
	const struct gt_counters *ctr;
	char err[256];
	int i;

	(void)state;
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	for (i = 0; i < 50; i++)
		mc.c[i] = tclient_new(fp.port, 100000 + (uint64_t)i * 4099,
		    (uint64_t)i + 7, 1, 0);
	assert_true(wait_for(cond_all_echoed, &mc));
	for (i = 0; i < 50; i++)
		assert_echo(mc.c[i]);
	assert_true(wait_for(cond_idle, &fp));
	ctr = gt_fwd_counters(fw, fp.port);
	assert_int_equal(ctr->total, 50);
	assert_int_equal(t->t_nconn, 50);
	for (i = 0; i < 50; i++)
		tclient_free(mc.c[i]);
	gt_fwd_free(fw);
	target_free(t);
}

/* The client half-closes; the target's answer, sent after it saw EOF, still arrives. */
static void
test_half_close(void **state)
{
	struct target *t = target_new(T_REPLY);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	struct fwdport fp;
	char err[256], got[64];
	size_t n;

	(void)state;
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(fp.port, 1000, 3, 1, 0);
	c->c_keep = evbuffer_new();
	assert_true(wait_for(cond_closed, c));
	assert_true(c->c_eof);
	assert_false(c->c_error);
	assert_true(c->c_shut);
	/* "echo:" then the 1000 bytes sent before our FIN. */
	assert_int_equal(c->c_rx, 1005);
	n = evbuffer_remove(c->c_keep, got, 5);
	assert_int_equal(n, 5);
	assert_memory_equal(got, "echo:", 5);
	assert_true(hash_evbuffer(HASH_INIT, c->c_keep) == c->c_tx_hash);
	assert_true(wait_for(cond_idle, &fp));
	tclient_free(c);
	gt_fwd_free(fw);
	target_free(t);
}

/* A target port nobody listens on: the public socket is closed, nothing leaks. */
static void
test_refused(void **state)
{
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	struct fwdport fp;
	const struct gt_counters *ctr;
	char err[256];

	(void)state;
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "127.0.0.1", free_port(), 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(fp.port, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, c));
	assert_int_equal(c->c_rx, 0);
	assert_true(wait_for(cond_idle, &fp));
	ctr = gt_fwd_counters(fw, fp.port);
	assert_int_equal(ctr->total, 1);
	assert_int_equal(ctr->bytes_in, 0);
	tclient_free(c);
	gt_fwd_free(fw);
}

/* A target name goes through the resolver (the fwd's own: none was given). */
static void
test_hostname(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	struct fwdport fp;
	char err[256];

	(void)state;
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "localhost", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(fp.port, 70000, 9, 1, 0);
	assert_true(wait_for(cond_echoed, c));
	assert_echo(c);
	assert_true(wait_for(cond_idle, &fp));
	tclient_free(c);
	gt_fwd_free(fw);
	target_free(t);
}

struct stall {
	struct fwdport	 fp;
	struct tclient	*a;
	struct tclient	*b;
	struct target	*t;
	size_t		 max;	/* most bytes the mapping's sessions held */
};

/* Track the most the forwarder buffered. */
static void
stall_sample(struct stall *st)
{
	size_t n = gt_fwd_buffered(st->fp.fw, st->fp.port);

	if (n > st->max)
		st->max = n;
}

/* The stalled session's buffer reached the high-water mark. */
static int
cond_stall_full(void *arg)
{
	struct stall *st = arg;

	stall_sample(st);
	return gt_fwd_buffered(st->fp.fw, st->fp.port) >= HIWAT ||
	    st->a->c_error || st->a->c_eof;
}

/* The second session finished its echo. */
static int
cond_b_done(void *arg)
{
	struct stall *st = arg;

	stall_sample(st);
	return cond_echoed(st->b);
}

/* The stalled target received everything once it read again. */
static int
cond_sink_all(void *arg)
{
	struct stall *st = arg;
	struct tconn *tc = st->t->t_conns[0];

	stall_sample(st);
	return tc == NULL || tc->tc_rx >= st->a->c_tx_total || st->a->c_error;
}

/*
 * A target that accepts and never reads: the forwarder stops reading the
 * user (memory stays bounded) while a second session runs unharmed; when
 * the target reads again every byte arrives.
 */
static void
test_backpressure(void **state)
{
	struct stall st;
	struct gt_mapping m;
	struct tconn *tc;
	char err[256];
	int i;

	(void)state;
	memset(&st, 0, sizeof(st));
	st.t = target_new(T_STALL_FIRST);
	st.fp.fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	st.fp.port = free_port();
	m = mapping(st.fp.port, "127.0.0.1", st.t->t_port, 0);
	assert_int_equal(gt_fwd_add(st.fp.fw, &m, err, sizeof(err)), 0);

	st.a = tclient_new(st.fp.port, 32 << 20, 11, 0, 131072);
	assert_true(wait_for(cond_stall_full, &st));
	assert_false(st.a->c_error);
	/* Let the loop spin a while longer: nothing more is taken in. */
	for (i = 0; i < 50; i++) {
		event_base_loop(base, EVLOOP_ONCE);
		stall_sample(&st);
	}
	assert_true(st.max < ONE_SESSION_MAX);

	/* A second session on the same mapping is not affected. */
	st.b = tclient_new(st.fp.port, 1 << 20, 12, 1, 0);
	assert_true(wait_for(cond_b_done, &st));
	assert_echo(st.b);
	/* The first one is still held back, its sender still blocked. */
	assert_true(st.a->c_tx_made < st.a->c_tx_total ||
	    evbuffer_get_length(bufferevent_get_output(st.a->c_bev)) > 0);
	assert_true(gt_fwd_buffered(st.fp.fw, st.fp.port) < ONE_SESSION_MAX);
	assert_true(st.max < 3 * ONE_SESSION_MAX);

	/* The target reads again: reading resumes and every byte arrives. */
	st.max = 0;
	tc = st.t->t_conns[0];
	assert_non_null(tc);
	tc->tc_sink = 1;
	bufferevent_enable(tc->tc_bev, EV_READ);
	if (!wait_for(cond_sink_all, &st)) {
		tc = st.t->t_conns[0];
		fprintf(stderr, "sink stalled: rx %llu made %llu out %zu buffered %zu\n",
		    tc ? (unsigned long long)tc->tc_rx : 0ULL,
		    (unsigned long long)st.a->c_tx_made,
		    evbuffer_get_length(bufferevent_get_output(st.a->c_bev)),
		    gt_fwd_buffered(st.fp.fw, st.fp.port));
		fail();
	}
	tc = st.t->t_conns[0];
	assert_non_null(tc);
	assert_int_equal(tc->tc_rx, st.a->c_tx_total);
	assert_true(tc->tc_hash == st.a->c_tx_hash);
	assert_true(st.max < ONE_SESSION_MAX);

	tclient_free(st.a);
	tclient_free(st.b);
	gt_fwd_free(st.fp.fw);
	target_free(st.t);
}

struct three {
	struct tclient	*c[3];
};

/* Each of the three clients got its bytes back. */
static int
cond_three_rx(void *arg)
{
	struct three *th = arg;
	int i;

	for (i = 0; i < 3; i++)
		if (!cond_rx_total(th->c[i]))
			return 0;
	return 1;
}

/* Each of the three clients is closed. */
static int
cond_three_closed(void *arg)
{
	struct three *th = arg;
	int i;

	for (i = 0; i < 3; i++)
		if (!cond_closed(th->c[i]))
			return 0;
	return 1;
}

/* Removing a mapping closes its listener and its live sessions. */
static void
test_remove(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct three th;
	struct tclient *late;
	uint16_t port = free_port();
	uint64_t a;
	char err[256];
	int i;

	(void)state;
	m = mapping(port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	for (i = 0; i < 3; i++)
		th.c[i] = tclient_new(port, 1000, (uint64_t)i, 0, 0);
	assert_true(wait_for(cond_three_rx, &th));
	for (i = 0; i < 3; i++)
		assert_int_equal(th.c[i]->c_rx, 1000);
	gt_fwd_totals(fw, &a, NULL, NULL);
	assert_int_equal(a, 3);

	assert_int_equal(gt_fwd_remove(fw, port), 0);
	assert_null(gt_fwd_counters(fw, port));
	gt_fwd_totals(fw, &a, NULL, NULL);
	assert_int_equal(a, 0);
	assert_true(wait_for(cond_three_closed, &th));
	/* Nobody listens there any more. */
	late = tclient_new(port, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, late));
	assert_true(late->c_error);
	assert_false(late->c_connected);
	errno = 0;
	assert_int_equal(gt_fwd_remove(fw, port), -1);
	assert_int_equal(errno, ENOENT);

	tclient_free(late);
	for (i = 0; i < 3; i++)
		tclient_free(th.c[i]);
	gt_fwd_free(fw);
	target_free(t);
}

/* Port taken by the OS, port mapped twice, bad mappings. */
static void
test_add_errors(void **state)
{
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	uint16_t busy = 0, port = free_port();
	int fd = busy_socket(&busy);
	char err[256];

	(void)state;
	m = mapping(busy, "127.0.0.1", 9, 0);
	err[0] = '\0';
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), -1);
	assert_int_equal(errno, EADDRINUSE);
	assert_non_null(strstr(err, "in use"));
	assert_null(gt_fwd_counters(fw, busy));

	m = mapping(port, "127.0.0.1", 9, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	err[0] = '\0';
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	assert_true(err[0] != '\0');

	m = mapping(0, "127.0.0.1", 9, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);
	m = mapping(free_port(), "", 9, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), -1);
	assert_int_equal(errno, EINVAL);

	assert_null(gt_fwd_new(base, NULL, NULL, "not-an-address"));
	close(fd);
	gt_fwd_free(fw);
}

/* The mapping's port is listening (no error any more). */
static int
cond_listening(void *arg)
{
	struct fwdport *fp = arg;

	return gt_fwd_error(fp->fw, fp->port) == NULL;
}

/* Restore on a busy port: failed state with a reason, then bound by the retry timer. */
static void
test_restore(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct fwdport fp;
	struct tclient *c;
	uint16_t busy2 = 0;
	int fd, fd2;
	const char *e;

	(void)state;
	gt_fwd_set_retry_interval(fw, 50);
	fp.fw = fw;
	fp.port = 0;
	fd = busy_socket(&fp.port);
	m = mapping(fp.port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_restore(fw, &m), 1);
	e = gt_fwd_error(fw, fp.port);
	assert_non_null(e);
	assert_non_null(strstr(e, "in use"));
	assert_non_null(gt_fwd_counters(fw, fp.port));
	/* Mapped already, failed or not. */
	assert_int_equal(gt_fwd_restore(fw, &m), -1);
	assert_int_equal(errno, EEXIST);

	/* A few retries fail, then the port is freed and bound. */
	for (int i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_ONCE);
	assert_non_null(gt_fwd_error(fw, fp.port));
	close(fd);
	assert_true(wait_for(cond_listening, &fp));
	c = tclient_new(fp.port, 5000, 5, 1, 0);
	assert_true(wait_for(cond_echoed, c));
	assert_echo(c);
	tclient_free(c);

	/* A failed mapping can be removed. */
	fd2 = busy_socket(&busy2);
	m = mapping(busy2, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_restore(fw, &m), 1);
	assert_int_equal(gt_fwd_remove(fw, busy2), 0);
	assert_null(gt_fwd_error(fw, busy2));
	assert_null(gt_fwd_counters(fw, busy2));
	close(fd2);

	/* A free port restores straight away. */
	m = mapping(free_port(), "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_restore(fw, &m), 0);
	assert_null(gt_fwd_error(fw, m.source_port));
	gt_fwd_free(fw);
	target_free(t);
}

struct pausewait {
	struct gt_fwd	*fw;
};

/* Accepting was paused at least once. */
static int
cond_paused(void *arg)
{
	struct pausewait *pw = arg;

	return gt_fwd_paused(pw->fw) > 0;
}

/* Out of file descriptors: listeners pause, then accept again. */
static void
test_emfile(void **state)
{
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	struct pausewait pw;
	struct rlimit old, low;
	uint16_t port = free_port();
	int fill[1024], nfill = 0, fd, i;
	char err[256];

	(void)state;
	pw.fw = fw;
	gt_fwd_set_pause_interval(fw, 100);
	m = mapping(port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(port, 3000, 8, 1, 0);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 512;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	while (nfill < 1024 && (fd = open("/dev/null", O_RDONLY)) >= 0)
		fill[nfill++] = fd;
	assert_true(nfill < 1024);
	assert_int_equal(errno, EMFILE);

	assert_true(wait_for(cond_paused, &pw));
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

	/* The queued connection is taken once the pause is over. */
	assert_true(wait_for(cond_echoed, c));
	assert_echo(c);
	assert_true(gt_fwd_paused(fw) >= 1);
	tclient_free(c);
	gt_fwd_free(fw);
	target_free(t);
}

/* ---- tunnel hand-off, against stubs of the registry and the mux ---- */

static struct {
	int		 have_mux;	/* pick returns a mux */
	int		 open_fails;	/* gt_mux_open returns -1 */
	char		 picked[GT_CLIENT_MAX + 1];
	int		 npick;
	int		 picked_null;
	evutil_socket_t	 fd;
	struct gt_ep	*ep;
	char		 host[GT_HOSTNAME_MAX + 1];
	uint16_t	 port;
	struct gt_counters *ctr;
	char		 label[128];
	int		 nopen;
	gt_mux_ended_cb	*ended;		/* the forwarder's watcher */
	void		*ended_arg;
	int		 nclose;	/* gt_mux_close_stream calls */
} stub;

static int stub_mux_obj;

/* Stub: the registry's choice of tunnel. */
struct gt_mux *
gt_registry_pick(struct gt_registry *reg, const char *name)
{
	(void)reg;
	stub.npick++;
	stub.picked_null = name == NULL;
	snprintf(stub.picked, sizeof(stub.picked), "%s", name ? name : "");
	return stub.have_mux ? (struct gt_mux *)&stub_mux_obj : NULL;
}

/* Stub: take the public socket over, as stream 7. */
int
gt_mux_open_watched(struct gt_mux *mux, struct gt_ep *ep, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, struct gt_counters *ctr,
    const char *label, gt_mux_ended_cb *ended, void *arg, uint32_t *idp)
{
	(void)pp;
	assert_ptr_equal(mux, &stub_mux_obj);
	stub.nopen++;
	snprintf(stub.host, sizeof(stub.host), "%s", host);
	stub.port = port;
	stub.ctr = ctr;
	snprintf(stub.label, sizeof(stub.label), "%s", label);
	if (stub.open_fails) {
		gt_ep_free(ep);
		return -1;
	}
	stub.ep = ep;
	stub.fd = gt_ep_fd(ep);
	stub.ended = ended;
	stub.ended_arg = arg;
	if (idp != NULL)
		*idp = 7;
	return 0;
}

/* Stub: the stream's figures. */
int
gt_mux_stream_bytes(const struct gt_mux *mux, uint32_t id, uint64_t *from_ep,
    uint64_t *to_ep)
{
	assert_ptr_equal(mux, &stub_mux_obj);
	assert_int_equal(id, 7);
	*from_ep = 11;
	*to_ep = 22;
	return 0;
}

/* Stub: the stream ends, its endpoint freed, its watcher told. */
int
gt_mux_close_stream(struct gt_mux *mux, uint32_t id, const char *why)
{
	gt_mux_ended_cb *ended = stub.ended;

	(void)why;
	assert_ptr_equal(mux, &stub_mux_obj);
	if (id != 7 || ended == NULL)
		return -1;
	stub.nclose++;
	gt_ep_free(stub.ep);
	stub.ep = NULL;
	stub.ended = NULL;
	ended(stub.ended_arg);
	return 0;
}

/* Stub: the forwarder goes before the stream. */
void
gt_mux_unwatch(struct gt_mux *mux, uint32_t id)
{
	assert_ptr_equal(mux, &stub_mux_obj);
	if (id == 7)
		stub.ended = NULL;
}

/* Stub: the tunnel client's name. */
const char *
gt_mux_name(const struct gt_mux *mux)
{
	assert_ptr_equal(mux, &stub_mux_obj);
	return "alice";
}

/* Stub: the tunnel's peer, a client on another host (no provable loop). */
const char *
gt_mux_peer_addr(const struct gt_mux *mux)
{
	assert_ptr_equal(mux, &stub_mux_obj);
	return "192.0.2.1:40000";
}

/* Stub: a removed mapping's tunnel streams are closed through the registry. */
void
gt_registry_close_streams(struct gt_registry *reg, const struct gt_counters *ctr)
{
	(void)reg;
	(void)ctr;
}

/* Stub: an updated mapping's refused tunnel streams, through the registry. */
void
gt_registry_close_streams_if(struct gt_registry *reg,
    const struct gt_counters *ctr, int (*keep)(const struct gt_ep *, void *),
    void *arg, const char *why)
{
	(void)reg;
	(void)ctr;
	(void)keep;
	(void)arg;
	(void)why;
}

/* The stub mux got the socket. */
static int
cond_opened(void *arg)
{
	(void)arg;
	return stub.nopen > 0;
}

/* Tunnel mappings: no tunnel closes at once; with one, the mux gets the socket. */
static void
test_tunnel_handoff(void **state)
{
	static int fake_reg;
	struct gt_registry *reg = (struct gt_registry *)&fake_reg;
	struct gt_fwd *fw = gt_fwd_new(base, NULL, reg, "127.0.0.1");
	struct gt_fwd *noreg = gt_fwd_new(base, NULL, NULL, "127.0.0.1");
	struct gt_mapping m;
	struct tclient *c;
	uint16_t port = free_port(), port2 = free_port();
	char err[256], prefix[64];
	size_t n;

	(void)state;
	memset(&stub, 0, sizeof(stub));
	/* Defaults: 127.0.0.1 and the same port on the client's side. */
	m = mapping(port, "", 0, 1);
	snprintf(m.client, sizeof(m.client), "alice");
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);

	/* No client connected: closed at once. */
	c = tclient_new(port, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, c));
	assert_int_equal(stub.npick, 1);
	assert_string_equal(stub.picked, "alice");
	assert_int_equal(stub.nopen, 0);
	tclient_free(c);

	/* A tunnel: the mux owns the accepted socket. */
	stub.have_mux = 1;
	c = tclient_new(port, 0, 1, 0, 0);
	c->c_keep = evbuffer_new();
	assert_true(wait_for(cond_opened, NULL));
	assert_string_equal(stub.host, "127.0.0.1");
	assert_int_equal(stub.port, port);
	assert_ptr_equal(stub.ctr, gt_fwd_counters(fw, port));
	snprintf(prefix, sizeof(prefix), "port %u from 127.0.0.1:", port);
	assert_memory_equal(stub.label, prefix, strlen(prefix));
	/* It is the user's socket indeed. */
	assert_int_equal(write(stub.fd, "hi", 2), 2);
	gt_ep_free(stub.ep);
	assert_true(wait_for(cond_closed, c));
	n = evbuffer_get_length(c->c_keep);
	assert_int_equal(n, 2);
	tclient_free(c);

	/* The mux refuses (closing): it closed the socket itself. */
	stub.nopen = 0;
	stub.open_fails = 1;
	c = tclient_new(port, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, c));
	assert_int_equal(stub.nopen, 1);
	tclient_free(c);

	/* Any client when none is named; explicit target kept. */
	m = mapping(port2, "10.0.0.5", 8080, 1);
	stub.nopen = 0;
	stub.open_fails = 0;
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(port2, 0, 1, 0, 0);
	assert_true(wait_for(cond_opened, NULL));
	assert_true(stub.picked_null);
	assert_string_equal(stub.host, "10.0.0.5");
	assert_int_equal(stub.port, 8080);
	gt_ep_free(stub.ep);
	assert_true(wait_for(cond_closed, c));
	tclient_free(c);

	/* Tunnels disabled (no registry): closed at once. */
	m = mapping(free_port(), "", 0, 1);
	assert_int_equal(gt_fwd_add(noreg, &m, err, sizeof(err)), 0);
	stub.npick = 0;
	c = tclient_new(m.source_port, 0, 1, 0, 0);
	assert_true(wait_for(cond_closed, c));
	assert_int_equal(stub.npick, 0);
	tclient_free(c);

	gt_fwd_free(noreg);
	gt_fwd_free(fw);
}

/* What gt_fwd_sessions_foreach showed, copied. */
struct seen {
	int		 n;
	struct {
		struct gt_fwd_session_info si;
		char	 peer[64], client[80], target[280];
	}		 s[4];
};

/* Copy one listed session. */
static void
seen_cb(const struct gt_fwd_session_info *si, void *arg)
{
	struct seen *sn = arg;

	if (sn->n >= 4) {
		sn->n++;
		return;
	}
	sn->s[sn->n].si = *si;
	snprintf(sn->s[sn->n].peer, sizeof(sn->s[0].peer), "%s", si->peer);
	snprintf(sn->s[sn->n].client, sizeof(sn->s[0].client), "%s", si->client);
	snprintf(sn->s[sn->n].target, sizeof(sn->s[0].target), "%s", si->target);
	sn->n++;
}

/* List fw's sessions into sn. */
static void
seen_list(struct gt_fwd *fw, struct seen *sn)
{
	memset(sn, 0, sizeof(*sn));
	gt_fwd_sessions_foreach(fw, seen_cb, sn);
}

struct two {
	struct tclient	*a, *b;
};

/* Both clients got their bytes back. */
static int
cond_two_rx(void *arg)
{
	struct two *t = arg;

	return cond_rx_total(t->a) && cond_rx_total(t->b);
}

/*
 * The session table: direct sessions are listed in accept order with
 * their figures and closed by id through their teardown (the other one
 * keeps going); a tunnel session is listed with its client and the
 * stream's bytes, and closed through the mux; ids are never given twice.
 */
static void
test_sessions(void **state)
{
	static int fake_reg;
	struct target *t = target_new(T_ECHO);
	struct gt_fwd *fw = gt_fwd_new(base, NULL,
	    (struct gt_registry *)&fake_reg, "127.0.0.1");
	struct gt_mapping m;
	struct fwdport fp;
	struct two two;
	struct tclient *c;
	struct seen sn;
	char err[256], want[64];
	uint64_t id1, id2, id3;
	uint16_t tport = free_port();

	(void)state;
	memset(&stub, 0, sizeof(stub));
	fp.fw = fw;
	fp.port = free_port();
	m = mapping(fp.port, "127.0.0.1", t->t_port, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 0);
	assert_int_equal(gt_fwd_session_close(fw, 1, "test"), -1);
	assert_int_equal(errno, ENOENT);

	/* Two live sessions, each 1000 bytes echoed, neither ended. */
	two.a = tclient_new(fp.port, 1000, 3, 0, 0);
	assert_true(wait_for(cond_rx_total, two.a));
	two.b = tclient_new(fp.port, 3000, 5, 0, 0);
	assert_true(wait_for(cond_two_rx, &two));
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 2);
	id1 = sn.s[0].si.id;
	id2 = sn.s[1].si.id;
	assert_true(id1 > 0 && id2 > id1);
	assert_int_equal(sn.s[0].si.port, fp.port);
	assert_int_equal(sn.s[0].si.tunnel, 0);
	assert_string_equal(sn.s[0].client, "");
	assert_memory_equal(sn.s[0].peer, "127.0.0.1:", 10);
	snprintf(want, sizeof(want), "127.0.0.1:%u", t->t_port);
	assert_string_equal(sn.s[0].target, want);
	assert_int_equal(sn.s[0].si.bytes_in, 1000);
	assert_int_equal(sn.s[0].si.bytes_out, 1000);
	assert_int_equal(sn.s[1].si.bytes_in, 3000);
	assert_int_equal(sn.s[1].si.bytes_out, 3000);
	assert_true(sn.s[0].si.started_at > 0);
	assert_true(sn.s[0].si.age >= sn.s[1].si.age);

	/* Close the first: its user sees the end, the second stays. */
	assert_int_equal(gt_fwd_session_close(fw, id1, "test"), 0);
	assert_true(wait_for(cond_closed, two.a));
	assert_int_equal(gt_fwd_session_close(fw, id1, "test"), -1);
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 1);
	assert_true(sn.s[0].si.id == id2);
	assert_int_equal(gt_fwd_counters(fw, fp.port)->active, 1);
	assert_false(cond_closed(two.b));

	/* A tunnel session (stub mux): client name, stream bytes, closed via the mux. */
	stub.have_mux = 1;
	m = mapping(tport, "10.0.0.9", 22, 1);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(tport, 0, 1, 0, 0);
	assert_true(wait_for(cond_opened, NULL));
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 2);
	id3 = sn.s[1].si.id;
	assert_true(id3 > id2);
	assert_int_equal(sn.s[1].si.tunnel, 1);
	assert_int_equal(sn.s[1].si.port, tport);
	assert_string_equal(sn.s[1].client, "alice");
	assert_string_equal(sn.s[1].target, "10.0.0.9:22");
	assert_int_equal(sn.s[1].si.bytes_in, 11);
	assert_int_equal(sn.s[1].si.bytes_out, 22);
	assert_int_equal(gt_fwd_session_close(fw, id3, "test"), 0);
	assert_int_equal(stub.nclose, 1);
	assert_true(wait_for(cond_closed, c));
	assert_int_equal(gt_fwd_session_close(fw, id3, "test"), -1);
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 1);
	tclient_free(c);

	/* Removing the mapping ends its sessions and their records. */
	assert_int_equal(gt_fwd_remove(fw, fp.port), 0);
	assert_true(wait_for(cond_closed, two.b));
	seen_list(fw, &sn);
	assert_int_equal(sn.n, 0);
	tclient_free(two.a);
	tclient_free(two.b);
	gt_fwd_free(fw);
	target_free(t);
}

/* A DNS query reached the silent name server. */
static int
cond_udp_query(void *arg)
{
	int *fd = arg;
	char b[1];

	return recv(*fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/*
 * A session still waiting for its target's name (the name server never
 * answers) is closed cleanly by remove and by free: no leak, no late
 * callback into freed memory.
 */
static void
test_dns_pending(void **state)
{
	struct evdns_base *dns;
	struct gt_fwd *fw;
	struct gt_mapping m;
	struct tclient *c, *d;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	uint16_t port = free_port(), port2 = free_port();
	char err[256], ns[64];
	int ufd;
	uint64_t a;

	(void)state;
	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(ufd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(ufd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(ufd, (struct sockaddr *)&sin, &len), 0);
	dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	assert_non_null(dns);
	snprintf(ns, sizeof(ns), "127.0.0.1:%u", ntohs(sin.sin_port));
	assert_int_equal(evdns_base_nameserver_ip_add(dns, ns), 0);

	fw = gt_fwd_new(base, dns, NULL, "127.0.0.1");
	m = mapping(port, "target.test", 80, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	m = mapping(port2, "other.test", 80, 0);
	assert_int_equal(gt_fwd_add(fw, &m, err, sizeof(err)), 0);
	c = tclient_new(port, 100, 1, 0, 0);
	d = tclient_new(port2, 100, 2, 0, 0);
	assert_true(wait_for(cond_udp_query, &ufd));
	gt_fwd_totals(fw, &a, NULL, NULL);
	assert_int_equal(a, 2);

	assert_int_equal(gt_fwd_remove(fw, port), 0);
	assert_true(wait_for(cond_closed, c));
	/* The other lookup is still pending when everything is freed. */
	gt_fwd_free(fw);
	assert_true(wait_for(cond_closed, d));
	evdns_base_free(dns, 1);
	for (int i = 0; i < 5; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	tclient_free(c);
	tclient_free(d);
	close(ufd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bulk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restore, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emfile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tunnel_handoff, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dns_pending, setup,
		    teardown),
	};

	gt_log_init("test_fwd");
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
