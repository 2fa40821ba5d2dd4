/*
 * test_io_dialer.c: the asynchronous dialer against real sockets on
 * 127.0.0.0/8 and a real event loop. Names resolve only from /etc/hosts
 * ("localhost") or from a fake nameserver on 127.0.0.1 that never answers
 * or answers NXDOMAIN: no packet leaves the host.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "gt/addr.h"
#include "gt/dialer.h"
#include "dial_local.h"

struct result {
	struct event_base	*base;
	struct gt_dial		*d;	/* if set, cancelled from the callback */
	int			 called;
	evutil_socket_t		 fd;
	int			 err;
	char			 why[128];
};

/* The fake nameserver: counts queries, answers NXDOMAIN or nothing. */
struct fakedns {
	evutil_socket_t		 fd;
	struct event		*ev;
	int			 nxdomain;
	int			 queries;
	char			 addr[32];	/* "127.0.0.1:port" */
};

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Open descriptors of this process, to catch a leaked socket. */
static int
count_fds(void)
{
	DIR		*dir;
	struct dirent	*e;
	int		 n = 0;

	assert_non_null(dir = opendir("/proc/self/fd"));
	while ((e = readdir(dir)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* The dial's callback: record, optionally poke the handle, stop the loop. */
static void
dial_cb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct result *r = arg;

	r->called++;
	r->fd = fd;
	r->err = err;
	snprintf(r->why, sizeof(r->why), "%s", why);
	if (r->d != NULL)
		gt_dial_cancel(r->d);	/* a no-op inside the callback */
	event_base_loopbreak(r->base);
}

/* A fresh result for one dial on base. */
static void
result_init(struct result *r, struct event_base *base)
{
	memset(r, 0, sizeof(*r));
	r->base = base;
	r->fd = -2;
}

/* Timer: wake the loop, so run_until looks at its flag and clock again. */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/*
 * Run the loop until *flag becomes non-zero or ms pass. The tick repeats:
 * libevent's coarse clock may fire a one-shot timer a few ms before
 * now_ms() reaches the end, and a loop with nothing else armed would then
 * wait forever.
 */
static void
run_until(struct event_base *base, const int *flag, int ms)
{
	struct event	*t = event_new(base, -1, EV_PERSIST, tick_cb, base);
	struct timeval	 tv = { 0, 10 * 1000 };
	long long	 end = now_ms() + ms;

	assert_non_null(t);
	evtimer_add(t, &tv);
	while ((flag == NULL || *flag == 0) && now_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(t);
}

/* A listening socket on addr:0 with the given backlog; its port in *port. */
static int
listener(const char *addr, int backlog, uint16_t *port)
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	int			fd, one = 1;

	if (gt_addr_parse_ip(addr, 0, 0, &ss, &sl) == -1)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) == -1 ||
	    (backlog >= 0 && listen(fd, backlog) == -1) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1) {
		close(fd);
		return -1;
	}
	*port = ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* A port nothing listens on: bound (nobody else takes it), not listening. */
static int
refused_port(uint16_t *port)
{
	return listener("127.0.0.1", -1, port);
}

/*
 * A listener whose accept queue is full, so further SYNs are dropped and a
 * connect to it neither completes nor fails. The fillers are in fill[3].
 */
static int
full_listener(uint16_t *port, int fill[3])
{
	struct sockaddr_storage	ss;
	socklen_t		sl;
	int			fd, i;

	assert_true((fd = listener("127.0.0.1", 0, port)) >= 0);
	assert_int_equal(gt_addr_parse_ip("127.0.0.1", *port, 0, &ss, &sl), 0);
	for (i = 0; i < 3; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		(void)connect(fill[i], (struct sockaddr *)&ss, sl);
	}
	/* The first one completes into the queue: then it is full. */
	{
		struct pollfd pfd = { .fd = fill[0], .events = POLLOUT };

		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	return fd;
}

/* Close the connections that fill a full listener's queue. */
static void
close_fill(int fill[3])
{
	int i;

	for (i = 0; i < 3; i++)
		close(fill[i]);
}

/* Bytes cross both ways between a dialled socket and the accepted one. */
static void
check_bytes_cross(int dialled, int lfd)
{
	char	buf[16];
	int	afd, flags;

	flags = fcntl(dialled, F_GETFL);
	assert_true(flags & O_NONBLOCK);
	assert_true(fcntl(dialled, F_GETFD) & FD_CLOEXEC);
	assert_true((afd = accept(lfd, NULL, NULL)) >= 0);
	assert_int_equal(write(dialled, "ping", 4), 4);
	assert_int_equal(read(afd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(write(afd, "pong", 4), 4);
	fcntl(dialled, F_SETFL, flags & ~O_NONBLOCK);
	assert_int_equal(read(dialled, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	close(afd);
}

/* The fake nameserver's socket is readable: a query. */
static void
fakedns_cb(evutil_socket_t fd, short what, void *arg)
{
	struct fakedns		*f = arg;
	struct sockaddr_storage	 from;
	socklen_t		 fl = sizeof(from);
	unsigned char		 buf[512];
	ssize_t			 n;

	(void)what;
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
	if (n < 12)
		return;
	f->queries++;
	if (!f->nxdomain)
		return;
	buf[2] |= 0x80;				/* a response */
	buf[3] = (unsigned char)(0x80 | 3);	/* RA, NXDOMAIN */
	(void)sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
}

/* A resolver whose only nameserver is our fake one on 127.0.0.1. */
static struct evdns_base *
fakedns_new(struct event_base *base, struct fakedns *f, int nxdomain)
{
	struct evdns_base	*dns;
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->nxdomain = nxdomain;
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	f->ev = event_new(base, f->fd, EV_READ | EV_PERSIST, fakedns_cb, f);
	assert_non_null(f->ev);
	event_add(f->ev, NULL);
	assert_non_null(dns = evdns_base_new(base, 0));
	assert_int_equal(evdns_base_nameserver_ip_add(dns, f->addr), 0);
	return dns;
}

/* Close the fake nameserver. */
static void
fakedns_free(struct fakedns *f)
{
	event_free(f->ev);
	close(f->fd);
}

/* A literal address: connected socket, never a callback inside start. */
static void
test_literal(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	uint16_t		 port;
	int			 lfd, fds = count_fds();

	(void)state;
	assert_true((lfd = listener("127.0.0.1", 8, &port)) >= 0);
	result_init(&r, base);
	assert_non_null(gt_dial_start(base, NULL, "127.0.0.1", port, 5,
	    dial_cb, &r));
	assert_int_equal(r.called, 0);
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.err, 0);
	assert_true(r.fd >= 0);
	check_bytes_cross(r.fd, lfd);
	close(r.fd);
	/* Exactly once: nothing more comes. */
	run_until(base, NULL, 50);
	assert_int_equal(r.called, 1);
	close(lfd);
	assert_int_equal(count_fds(), fds);
	event_base_free(base);
}

/* "[::1]" and "::1" dial over IPv6 when the host has it. */
static void
test_literal_v6(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	uint16_t		 port;
	int			 lfd;

	(void)state;
	if ((lfd = listener("::1", 8, &port)) == -1) {
		event_base_free(base);
		skip();
	}
	result_init(&r, base);
	assert_non_null(gt_dial_start(base, NULL, "[::1]", port, 5, dial_cb,
	    &r));
	run_until(base, &r.called, 5000);
	assert_int_equal(r.err, 0);
	check_bytes_cross(r.fd, lfd);
	close(r.fd);
	close(lfd);
	event_base_free(base);
}

/* A refused port gives ECONNREFUSED; cancel inside the callback is harmless. */
static void
test_refused(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	uint16_t		 port;
	int			 bfd, fds = count_fds();

	(void)state;
	assert_true((bfd = refused_port(&port)) >= 0);
	result_init(&r, base);
	r.d = gt_dial_start(base, NULL, "127.0.0.1", port, 5, dial_cb, &r);
	assert_non_null(r.d);
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	assert_false(GT_DIAL_ERR_DNS(r.err));
	assert_string_equal(r.why, strerror(ECONNREFUSED));
	close(bfd);
	assert_int_equal(count_fds(), fds);
	event_base_free(base);
}

/* Bad arguments: NULL, no callback, and never a callback later. */
static void
test_bad_args(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	char			 big[300];

	(void)state;
	result_init(&r, base);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	errno = 0;
	assert_null(gt_dial_start(base, NULL, NULL, 80, 5, dial_cb, &r));
	assert_int_equal(errno, EINVAL);
	assert_null(gt_dial_start(base, NULL, "", 80, 5, dial_cb, &r));
	assert_null(gt_dial_start(base, NULL, "127.0.0.1", 0, 5, dial_cb, &r));
	assert_null(gt_dial_start(base, NULL, big, 80, 5, dial_cb, &r));
	assert_null(gt_dial_start(base, NULL, "127.0.0.1", 80, 5, NULL, &r));
	assert_null(dial_start_addrs(base, NULL, 0, 100, dial_cb, &r));
	gt_dial_cancel(NULL);
	run_until(base, NULL, 20);
	assert_int_equal(r.called, 0);
	event_base_free(base);
}

/* Cancel while connecting: no callback, no socket left open. */
static void
test_cancel_connecting(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	struct gt_dial		*d;
	uint16_t		 port;
	int			 lfd, fill[3], fds;

	(void)state;
	lfd = full_listener(&port, fill);
	fds = count_fds();
	result_init(&r, base);
	assert_non_null(d = gt_dial_start(base, NULL, "127.0.0.1", port, 5,
	    dial_cb, &r));
	run_until(base, NULL, 100);
	assert_int_equal(r.called, 0);
	gt_dial_cancel(d);
	run_until(base, NULL, 50);
	assert_int_equal(r.called, 0);
	assert_int_equal(count_fds(), fds);
	close_fill(fill);
	close(lfd);
	event_base_free(base);
}

/* Cancel with the result waiting for delivery: it is dropped. */
static void
test_cancel_pending_result(void **state)
{
	struct event_base	*base = event_base_new();
	struct result		 r;
	struct gt_dial		*d;

	(void)state;
	result_init(&r, base);
	/* No resolver for a name: failure known at once, delivered later. */
	assert_non_null(d = gt_dial_start(base, NULL, "localhost", 80, 5,
	    dial_cb, &r));
	assert_int_equal(r.called, 0);
	gt_dial_cancel(d);
	run_until(base, NULL, 20);
	assert_int_equal(r.called, 0);
	/* The same dial left alone reports a resolver failure. */
	assert_non_null(gt_dial_start(base, NULL, "localhost", 80, 5, dial_cb,
	    &r));
	run_until(base, &r.called, 1000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.fd, -1);
	assert_true(GT_DIAL_ERR_DNS(r.err));
	assert_int_equal(r.err, EVUTIL_EAI_FAIL);
	event_base_free(base);
}

/* "localhost" from /etc/hosts, answered inside evdns_getaddrinfo. */
static void
test_localhost(void **state)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns;
	struct result		 r;
	uint16_t		 port;
	int			 lfd;

	(void)state;
	assert_non_null(dns = evdns_base_new(base, 0));
	assert_int_equal(evdns_base_load_hosts(dns, "/etc/hosts"), 0);
	assert_true((lfd = listener("127.0.0.1", 8, &port)) >= 0);
	result_init(&r, base);
	assert_non_null(gt_dial_start(base, dns, "localhost", port, 5, dial_cb,
	    &r));
	assert_int_equal(r.called, 0);
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.err, 0);
	check_bytes_cross(r.fd, lfd);
	close(r.fd);
	close(lfd);
	evdns_base_free(dns, 0);
	event_base_free(base);
}

/* Cancel while the lookup is in flight: no callback, nothing leaks (ASan). */
static void
test_cancel_resolving(void **state)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns;
	struct fakedns		 f;
	struct result		 r;
	struct gt_dial		*d;

	(void)state;
	dns = fakedns_new(base, &f, 0);
	result_init(&r, base);
	assert_non_null(d = gt_dial_start(base, dns, "gt-dial.invalid", 80, 5,
	    dial_cb, &r));
	run_until(base, &f.queries, 5000);
	assert_true(f.queries > 0);
	assert_int_equal(r.called, 0);
	gt_dial_cancel(d);
	/* The resolver reports the cancel on the next pass, freeing the rest. */
	run_until(base, NULL, 50);
	assert_int_equal(r.called, 0);
	evdns_base_free(dns, 0);
	fakedns_free(&f);
	event_base_free(base);
}

/* The timeout covers resolution: a silent nameserver gives ETIMEDOUT. */
static void
test_timeout_resolving(void **state)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns;
	struct fakedns		 f;
	struct result		 r;
	long long		 t0;

	(void)state;
	dns = fakedns_new(base, &f, 0);
	result_init(&r, base);
	t0 = now_ms();
	assert_non_null(gt_dial_start(base, dns, "gt-dial.invalid", 80, 1,
	    dial_cb, &r));
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ETIMEDOUT);
	assert_true(now_ms() - t0 >= 900);
	assert_true(now_ms() - t0 < 3000);
	/* The lookup cancelled at the timeout reports back and is freed. */
	run_until(base, NULL, 50);
	assert_int_equal(r.called, 1);
	evdns_base_free(dns, 0);
	fakedns_free(&f);
	event_base_free(base);
}

/* A resolver failure is flagged apart from errnos. */
static void
test_nxdomain(void **state)
{
	struct event_base	*base = event_base_new();
	struct evdns_base	*dns;
	struct fakedns		 f;
	struct result		 r;

	(void)state;
	dns = fakedns_new(base, &f, 1);
	result_init(&r, base);
	assert_non_null(gt_dial_start(base, dns, "gt-dial.invalid", 80, 5,
	    dial_cb, &r));
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.fd, -1);
	assert_true(GT_DIAL_ERR_DNS(r.err));
	assert_int_equal(r.err, EVUTIL_EAI_NONAME);
	evdns_base_free(dns, 0);
	fakedns_free(&f);
	event_base_free(base);
}

/* Fill ss with 127.0.0.1:port. */
static void
addr_v4(struct sockaddr_storage *ss, uint16_t port)
{
	socklen_t sl;

	assert_int_equal(gt_addr_parse_ip("127.0.0.1", port, 0, ss, &sl), 0);
}

/* Two addresses, the first refuses: the second one connects. */
static void
test_next_after_refused(void **state)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_storage	 ss[3];
	struct result		 r;
	uint16_t		 bad, good;
	int			 bfd, lfd, fds = count_fds();

	(void)state;
	assert_true((bfd = refused_port(&bad)) >= 0);
	assert_true((lfd = listener("127.0.0.1", 8, &good)) >= 0);
	addr_v4(&ss[0], bad);
	addr_v4(&ss[1], good);
	result_init(&r, base);
	assert_non_null(dial_start_addrs(base, ss, 2, 5000, dial_cb, &r));
	assert_int_equal(r.called, 0);
	run_until(base, &r.called, 5000);
	assert_int_equal(r.called, 1);
	assert_int_equal(r.err, 0);
	check_bytes_cross(r.fd, lfd);
	close(r.fd);

	/* All refuse: the last error. */
	addr_v4(&ss[1], bad);
	addr_v4(&ss[2], bad);
	result_init(&r, base);
	assert_non_null(dial_start_addrs(base, ss, 3, 5000, dial_cb, &r));
	run_until(base, &r.called, 5000);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ECONNREFUSED);
	close(bfd);
	close(lfd);
	assert_int_equal(count_fds(), fds);
	event_base_free(base);
}

/* A black-holed first address gets its share of the time, then the next. */
static void
test_next_after_hang(void **state)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_storage	 ss[2];
	struct result		 r;
	uint16_t		 hang, good;
	int			 hfd, lfd, fill[3];
	long long		 t0, dt;

	(void)state;
	hfd = full_listener(&hang, fill);
	assert_true((lfd = listener("127.0.0.1", 8, &good)) >= 0);
	addr_v4(&ss[0], hang);
	addr_v4(&ss[1], good);
	result_init(&r, base);
	t0 = now_ms();
	assert_non_null(dial_start_addrs(base, ss, 2, 800, dial_cb, &r));
	run_until(base, &r.called, 5000);
	dt = now_ms() - t0;
	assert_int_equal(r.called, 1);
	assert_int_equal(r.err, 0);
	assert_true(dt >= 350);		/* half of 800 ms on the first */
	assert_true(dt < 800);
	check_bytes_cross(r.fd, lfd);
	close(r.fd);
	close_fill(fill);
	close(hfd);
	close(lfd);
	event_base_free(base);
}

/* Nothing answers within the timeout: ETIMEDOUT, on time, socket closed. */
static void
test_timeout(void **state)
{
	struct event_base	*base = event_base_new();
	struct sockaddr_storage	 ss[2];
	struct result		 r;
	uint16_t		 port;
	int			 lfd, fill[3], fds;
	long long		 t0, dt;

	(void)state;
	lfd = full_listener(&port, fill);
	fds = count_fds();
	result_init(&r, base);
	t0 = now_ms();
	assert_non_null(gt_dial_start(base, NULL, "127.0.0.1", port, 1,
	    dial_cb, &r));
	run_until(base, &r.called, 5000);
	dt = now_ms() - t0;
	assert_int_equal(r.called, 1);
	assert_int_equal(r.fd, -1);
	assert_int_equal(r.err, ETIMEDOUT);
	assert_string_equal(r.why, "timed out");
	assert_true(dt >= 900 && dt < 3000);
	assert_int_equal(count_fds(), fds);

	/* Two hanging addresses share a short timeout, then give up. */
	addr_v4(&ss[0], port);
	addr_v4(&ss[1], port);
	result_init(&r, base);
	t0 = now_ms();
	assert_non_null(dial_start_addrs(base, ss, 2, 300, dial_cb, &r));
	run_until(base, &r.called, 5000);
	dt = now_ms() - t0;
	assert_int_equal(r.err, ETIMEDOUT);
	assert_true(dt >= 250 && dt < 2000);
	assert_int_equal(count_fds(), fds);
	close_fill(fill);
	close(lfd);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_literal_v6),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_cancel_connecting),
		cmocka_unit_test(test_cancel_pending_result),
		cmocka_unit_test(test_localhost),
		cmocka_unit_test(test_cancel_resolving),
		cmocka_unit_test(test_timeout_resolving),
		cmocka_unit_test(test_nxdomain),
		cmocka_unit_test(test_next_after_refused),
		cmocka_unit_test(test_next_after_hang),
		cmocka_unit_test(test_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
