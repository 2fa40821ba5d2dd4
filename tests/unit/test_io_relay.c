/*
 * test_io_relay.c: two endpoints back to back over socketpairs and a real
 * event loop: every byte both ways, half-close carried each way, and
 * backpressure (a sink that does not read holds the source at the mark).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/event.h>

#include "gt/endpoint.h"
#include "gt/relay.h"

static struct event_base *base;

#include "io_harness.h"

struct side {
	int		 user, target;	/* the test's ends */
	struct gt_relay	*relay;
	uint64_t	 ab, ba;
	int		 done;
	char		 why[128];
};


/* The relay ended. */
static void
done_cb(struct gt_relay *r, const char *why, void *arg)
{
	struct side *s = arg;

	s->done = 1;
	snprintf(s->why, sizeof(s->why), "%s", why);
	gt_relay_free(r);
	s->relay = NULL;
}

/* A relay between two socketpairs; the test holds the far ends. */
static void
mkrelay(struct side *s, size_t hiwat)
{
	int a[2], b[2];

	memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	fcntl(a[1], F_SETFL, O_NONBLOCK);
	fcntl(b[1], F_SETFL, O_NONBLOCK);
	s->user = a[1];
	s->target = b[1];
	s->relay = gt_relay_new(gt_ep_plain_open(base, a[0], NULL, NULL),
	    gt_ep_plain_open(base, b[0], NULL, NULL), hiwat, &s->ab, &s->ba,
	    done_cb, s);
	assert_non_null(s->relay);
}

/* Byte i of a stream seeded k. */
static uint8_t
pat(int k, size_t i)
{
	return (uint8_t)(i * 131 + (size_t)k * 17 + (i >> 11));
}

/* Push n pattern bytes from one fd while reading them at the other. */
static void
pump(struct side *s, int from, int to, int k, size_t n)
{
	uint8_t	buf[65536];
	size_t	sent = 0, got = 0, i;
	ssize_t	r;
	double	dl = now_s() + 20;

	while (got < n) {
		if (now_s() > dl)
			fail_msg("stuck at %zu of %zu", got, n);
		if (sent < n) {
			size_t m = n - sent < sizeof(buf) ? n - sent : sizeof(buf);

			for (i = 0; i < m; i++)
				buf[i] = pat(k, sent + i);
			if ((r = write(from, buf, m)) > 0)
				sent += (size_t)r;
		}
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		while ((r = read(to, buf, sizeof(buf))) > 0) {
			for (i = 0; i < (size_t)r; i++)
				if (buf[i] != pat(k, got + i))
					fail_msg("byte %zu differs", got + i);
			got += (size_t)r;
		}
	}
	(void)s;
}

static int
setup(void **state)
{
	(void)state;
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	event_base_loop(base, EVLOOP_NONBLOCK);
	event_base_free(base);
	return 0;
}

/* Bytes both ways, counted, then FINs both ways end the relay as "done". */
static void
test_both_ways_and_half_close(void **state)
{
	struct side	s;
	char		c;

	(void)state;
	mkrelay(&s, 0);
	pump(&s, s.user, s.target, 1, 3 << 20);
	pump(&s, s.target, s.user, 2, 2 << 20);
	assert_int_equal(s.ab, 3 << 20);
	assert_int_equal(s.ba, 2 << 20);
	/* The user half-closes: the target sees EOF, and can still answer. */
	shutdown(s.user, SHUT_WR);
	WAIT_UNTIL(read(s.target, &c, 1) == 0, 5);
	assert_false(s.done);
	pump(&s, s.target, s.user, 3, 100000);
	shutdown(s.target, SHUT_WR);
	WAIT_UNTIL(s.done, 5);
	assert_string_equal(s.why, "done");
	assert_int_equal(read(s.user, &c, 1), 0);
	close(s.user);
	close(s.target);
}

/* A target that does not read: the relay stops reading the user. */
static void
test_backpressure(void **state)
{
	struct side	s;
	static char	buf[1 << 20];
	size_t		pushed = 0, before;
	ssize_t		r;
	int		i, still = 0;

	(void)state;
	mkrelay(&s, 65536);
	memset(buf, 'q', sizeof(buf));
	/* Push until nothing more is taken for a while. */
	while (still < 200) {
		r = write(s.user, buf, sizeof(buf));
		if (r > 0) {
			pushed += (size_t)r;
			still = 0;
		} else
			still++;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	before = gt_relay_buffered(s.relay);
	assert_true(before <= 65536 + 65536);
	for (i = 0; i < 100; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(gt_relay_buffered(s.relay), before);
	/* The target reads: everything arrives. */
	{
		size_t got = 0;
		double dl = now_s() + 10;

		while (got < pushed && now_s() < dl) {
			while ((r = read(s.target, buf, sizeof(buf))) > 0)
				got += (size_t)r;
			event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		}
		assert_int_equal(got, pushed);
	}
	gt_relay_free(s.relay);
	close(s.user);
	close(s.target);
}

/* A reset on one side ends the relay with an error naming that side. */
static void
test_error(void **state)
{
	struct side	s;
	static char	buf[200000];

	(void)state;
	mkrelay(&s, 0);
	close(s.target);
	memset(buf, 'e', sizeof(buf));
	(void)write(s.user, buf, sizeof(buf));
	WAIT_UNTIL(s.done, 5);
	assert_non_null(strstr(s.why, "side"));
	close(s.user);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_both_ways_and_half_close,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
