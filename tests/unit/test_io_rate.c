/*
 * test_io_rate.c: the token bucket of bandwidth_limit (rate.h) on an
 * injected clock: refill arithmetic (fractions carried, the burst cap,
 * overdraw owed), the queue (nobody jumps it, turns go round-robin, a
 * waiter that wants little leaves the rest to the others), rate changes
 * (lower, higher, to and from unlimited), the real timer, and endpoints
 * paced by it: a read pass and a write pass stop at what the bucket gives
 * and go on when their turn comes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/endpoint.h"
#include "gt/rate.h"

static struct event_base *base;

#include "io_harness.h"

#define MS	1000000ull	/* ns */

static uint64_t fake_ns = 1000 * MS;

/* The injected clock. */
static uint64_t
fake_now(void *arg)
{
	(void)arg;
	return fake_ns;
}

/* A bucket of limit bytes/s on the fake clock. */
static struct gt_rate *
mkrate(uint64_t limit)
{
	struct gt_rate *r = gt_rate_new(base, limit);

	assert_non_null(r);
	gt_rate_set_clock(r, fake_now, NULL);
	return r;
}

/* A session that wants bytes: takes what its turn gives, then asks again. */
struct taker {
	struct gt_rate_waiter	 w;
	struct gt_rate		*r;
	size_t			 want;	/* per take */
	int			 greedy;	/* asks again after a grant */
	uint64_t		 got;
	unsigned		 wakes;
};

/* Take once; a greedy taker keeps taking until it is queued. */
static void
taker_go(struct taker *t)
{
	size_t g;

	while ((g = gt_rate_take(t->r, &t->w, t->want)) > 0) {
		t->got += g;
		if (!t->greedy)
			break;
	}
}

/* The bucket says it is our turn. */
static void
taker_wake(struct gt_rate_waiter *w, void *arg)
{
	struct taker *t = arg;

	(void)w;
	t->wakes++;
	taker_go(t);
}

static void
mktaker(struct taker *t, struct gt_rate *r, size_t want, int greedy)
{
	memset(t, 0, sizeof(*t));
	gt_rate_waiter_init(&t->w, taker_wake, t);
	t->r = r;
	t->want = want;
	t->greedy = greedy;
}

/* Sizes follow the limit; tokens refill exactly, carry fractions, stop at the burst. */
static void
test_refill(void **state)
{
	struct gt_rate		*r;
	struct gt_rate_waiter	 w;

	(void)state;
	r = mkrate(2000000);
	assert_int_equal(gt_rate_limit(r), 2000000);
	assert_int_equal(gt_rate_burst(r), 65536);
	assert_int_equal(gt_rate_quantum(r), 20000);
	/* A new bucket is full: the burst, not more. */
	gt_rate_waiter_init(&w, NULL, NULL);
	assert_int_equal(gt_rate_take(r, &w, 1000000), 65536);
	assert_int_equal(gt_rate_tokens(r), 0);
	fake_ns += 1 * MS;
	assert_int_equal(gt_rate_tokens(r), 2000);
	fake_ns += 10 * MS;
	assert_int_equal(gt_rate_tokens(r), 22000);
	/* Fractions of a byte are carried, not lost: 1 byte per 500 ns. */
	assert_int_equal(gt_rate_take(r, &w, 22000), 22000);
	fake_ns += 333;
	assert_int_equal(gt_rate_tokens(r), 0);		/* 0.666 */
	fake_ns += 333;
	assert_int_equal(gt_rate_tokens(r), 1);		/* 1.332 */
	fake_ns += 333;
	assert_int_equal(gt_rate_tokens(r), 1);		/* 1.998 */
	fake_ns += 1;
	assert_int_equal(gt_rate_tokens(r), 2);		/* 2.000 */
	/* A long pause fills the bucket to its burst only. */
	fake_ns += 3600000 * MS;
	assert_int_equal(gt_rate_tokens(r), 65536);
	/* Unused bytes go back; an overdraw (a TLS record) is owed. */
	assert_int_equal(gt_rate_take(r, &w, 1000), 1000);
	gt_rate_settle(r, 1000, 400);
	assert_int_equal(gt_rate_tokens(r), 65536 - 400);
	gt_rate_settle(r, 0, 70000);
	assert_true(gt_rate_tokens(r) < 0);
	assert_int_equal(gt_rate_take(r, &w, 10), 0);	/* queued */
	assert_int_equal(gt_rate_waiting(r), 1);
	assert_int_equal(gt_rate_throttled(r), 1);
	gt_rate_cancel(&w);
	gt_rate_cancel(&w);	/* twice is fine */
	assert_int_equal(gt_rate_waiting(r), 0);
	gt_rate_unref(r);

	/* Small and large limits: the burst is at most the limit, 1/50 s at the top. */
	r = mkrate(1024);
	assert_int_equal(gt_rate_burst(r), 1024);
	assert_int_equal(gt_rate_quantum(r), 1024);
	gt_rate_set(r, 100000000);
	assert_int_equal(gt_rate_burst(r), 2000000);
	assert_int_equal(gt_rate_quantum(r), 1000000);
	gt_rate_set(r, UINT64_MAX);	/* clamped */
	assert_int_equal(gt_rate_limit(r), GT_RATE_MAX);
	fake_ns += 5000 * MS;
	assert_int_equal(gt_rate_tokens(r), GT_RATE_MAX / 50);
	/* Without a limit, everything asked is given. */
	gt_rate_set(r, 0);
	assert_int_equal(gt_rate_take(r, &w, 123456789), 123456789);
	assert_int_equal(gt_rate_waiting(r), 0);
	gt_rate_unref(r);
}

/*
 * While anybody waits, nobody else takes; turns go round-robin a quantum
 * each, so greedy sessions get equal shares and the sum is the limit.
 */
static void
test_fair(void **state)
{
	struct gt_rate	*r;
	struct taker	 t[3], light, late;
	uint64_t	 sum, t0;
	int		 i, k;

	(void)state;
	r = mkrate(2000000);
	for (i = 0; i < 3; i++)
		mktaker(&t[i], r, 1 << 20, 1);
	/* The first takes the whole burst; the others find it empty. */
	for (i = 0; i < 3; i++)
		taker_go(&t[i]);
	assert_int_equal(t[0].got, 65536);
	assert_int_equal(t[1].got + t[2].got, 0);
	assert_int_equal(gt_rate_waiting(r), 3);
	/* Refilled, but a newcomer queues behind those waiting. */
	fake_ns += 5 * MS;
	mktaker(&late, r, 100, 0);
	taker_go(&late);
	assert_int_equal(late.got, 0);
	assert_int_equal(gt_rate_waiting(r), 4);
	gt_rate_cancel(&late.w);

	t0 = t[0].got;
	t[0].got = 0;
	for (k = 0; k < 300; k++) {	/* 3 s in 10 ms steps */
		fake_ns += 10 * MS;
		gt_rate_run(r);
	}
	sum = t[0].got + t[1].got + t[2].got;
	print_message("3 greedy sessions, 3 s at 2000000 B/s: %llu %llu %llu "
	    "(first burst %llu)\n", (unsigned long long)t[0].got,
	    (unsigned long long)t[1].got, (unsigned long long)t[2].got,
	    (unsigned long long)t0);
	/* All that refilled went out (the 5 ms above included), shared evenly. */
	assert_true(sum >= 6000000 && sum <= 6010000);
	for (i = 0; i < 3; i++) {
		assert_true(t[i].got >= sum / 3 - 20000);
		assert_true(t[i].got <= sum / 3 + 20000);
	}

	/* One that wants little per turn leaves the rest to the others. */
	mktaker(&light, r, 1000, 0);
	taker_go(&light);	/* queued behind the three */
	for (i = 0; i < 3; i++)
		t[i].got = 0;
	for (k = 0; k < 100; k++) {
		fake_ns += 10 * MS;
		gt_rate_run(r);
		if (light.w.w_rate == NULL)
			taker_go(&light);	/* wants again next turn */
	}
	sum = t[0].got + t[1].got + t[2].got + light.got;
	print_message("with a light session: %llu %llu %llu, light %llu\n",
	    (unsigned long long)t[0].got, (unsigned long long)t[1].got,
	    (unsigned long long)t[2].got, (unsigned long long)light.got);
	assert_true(light.got > 0 && light.got <= 100 * 1000);
	assert_true(sum >= 2000000 - 40000 && sum <= 2000000 + 20000);
	for (i = 0; i < 3; i++)
		assert_true(t[i].got >= (sum - light.got) / 3 - 20000);
	for (i = 0; i < 3; i++)
		gt_rate_cancel(&t[i].w);
	gt_rate_cancel(&light.w);
	gt_rate_unref(r);
}

/* A new rate applies to waiters at once: lower, higher, none, and back. */
static void
test_change(void **state)
{
	struct gt_rate	*r;
	struct taker	 a, b;
	int		 k;

	(void)state;
	r = mkrate(2000000);
	mktaker(&a, r, 1 << 20, 1);
	mktaker(&b, r, 1 << 20, 1);
	taker_go(&a);
	taker_go(&b);
	a.got = b.got = 0;
	for (k = 0; k < 100; k++) {
		fake_ns += 10 * MS;
		gt_rate_run(r);
	}
	assert_true(a.got + b.got >= 1980000 && a.got + b.got <= 2020000);
	/* Doubled: twice the bytes in the same time. */
	gt_rate_set(r, 4000000);
	assert_int_equal(gt_rate_burst(r), 80000);
	a.got = b.got = 0;
	for (k = 0; k < 100; k++) {
		fake_ns += 10 * MS;
		gt_rate_run(r);
	}
	assert_true(a.got + b.got >= 3960000 && a.got + b.got <= 4040000);
	/* Lowered: what the bucket holds is clamped to the new burst. */
	fake_ns += 1000 * MS;
	assert_int_equal(gt_rate_waiting(r), 2);
	gt_rate_set(r, 1024);
	assert_true(gt_rate_tokens(r) <= 1024);
	/* None: every waiter is woken and takes all it asks. */
	gt_rate_set(r, 0);
	a.greedy = b.greedy = 0;
	a.got = b.got = 0;
	gt_rate_run(r);
	assert_int_equal(a.got, 1 << 20);
	assert_int_equal(b.got, 1 << 20);
	assert_int_equal(gt_rate_waiting(r), 0);
	/* From none to a limit: full, then paced. */
	gt_rate_set(r, 2000000);
	a.greedy = 1;
	a.got = 0;
	taker_go(&a);
	assert_int_equal(a.got, 65536);
	assert_int_equal(gt_rate_waiting(r), 1);
	gt_rate_cancel(&a.w);
	gt_rate_unref(r);
}

/* The real timer wakes a waiter once a quantum has refilled. */
static void
test_timer(void **state)
{
	struct gt_rate	*r;
	struct taker	 a;

	(void)state;
	r = gt_rate_new(base, 1000000);	/* real clock: a 10 ms quantum */
	assert_non_null(r);
	mktaker(&a, r, 1 << 20, 0);
	taker_go(&a);
	assert_int_equal(a.got, 65536);
	taker_go(&a);
	assert_int_equal(gt_rate_waiting(r), 1);
	WAIT_UNTIL(a.wakes == 1, 5);
	assert_true(a.got >= 65536 + gt_rate_quantum(r));
	/* A raised limit re-times the wait; none wakes at once. */
	taker_go(&a);
	if (a.w.w_rate != NULL) {
		gt_rate_set(r, 0);
		WAIT_UNTIL(a.wakes == 2, 5);
	}
	gt_rate_cancel(&a.w);
	gt_rate_unref(r);
}

/* Input and written bytes of the endpoint test. */
static void
ep_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg)
{
	(void)c;
	(void)ev;
	(void)arg;
}

/* Turn the loop a few times without waiting. */
static void
spin(int n)
{
	while (n-- > 0) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/*
 * A paced endpoint reads and writes only what the bucket gives: on a
 * frozen clock exactly the burst, then a quantum per turn; unlimited, all.
 * The endpoint keeps the bucket alive after its owner lets go.
 */
static void
test_endpoint(void **state)
{
	struct gt_rate	*rd, *wr;
	struct gt_ep	*c, *m;
	int		 fds[2], sz = 1 << 20;
	char		*buf;
	size_t		 len = 128 * 1024, off = 0;
	ssize_t		 n;

	(void)state;
	buf = malloc(len);
	assert_non_null(buf);
	memset(buf, 'x', len);
	mkpair(fds);
	(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	while (off < len && (n = write(fds[1], buf + off, len - off)) > 0)
		off += (size_t)n;
	assert_int_equal(off, len);

	rd = mkrate(2000000);
	c = gt_ep_plain_open(base, fds[0], ep_cb, NULL);
	assert_non_null(c);
	gt_ep_set_rate(c, rd, NULL);
	assert_ptr_equal(gt_ep_read_rate(c), rd);
	/* The burst, less what is too little to take out of turn. */
	WAIT_UNTIL(gt_rate_waiting(rd) == 1, 5);
	spin(20);
	assert_int_equal(evbuffer_get_length(gt_ep_input(c)) +
	    (size_t)gt_rate_tokens(rd), 65536);
	assert_true(gt_rate_tokens(rd) < (int64_t)gt_rate_quantum(rd));
	/* Its turn: all there is now (20000 more in 10 ms), read in the wake. */
	fake_ns += 10 * MS;
	gt_rate_run(rd);
	assert_int_equal(gt_rate_tokens(rd), 0);
	assert_int_equal(evbuffer_get_length(gt_ep_input(c)), 65536 + 20000);
	assert_int_equal(gt_rate_waiting(rd), 1);
	/* Unlimited: the rest comes. */
	gt_rate_set(rd, 0);
	WAIT_UNTIL(evbuffer_get_length(gt_ep_input(c)) == len, 5);
	gt_rate_unref(rd);	/* the endpoint holds its own reference */
	gt_ep_free(c);
	close(fds[1]);

	/* Writing: a memory endpoint takes what the bucket allows. */
	wr = mkrate(2000000);
	m = gt_ep_mem(base, ep_cb, NULL);
	assert_non_null(m);
	gt_ep_set_rate(m, NULL, wr);
	evbuffer_add(gt_ep_output(m), buf, len);
	gt_ep_kick(m);
	WAIT_UNTIL(gt_ep_mem_written(m) == 65536, 5);
	spin(20);
	assert_int_equal(gt_ep_mem_written(m), 65536);
	assert_int_equal(gt_ep_out_pending(m), len - 65536);
	fake_ns += 10 * MS;
	gt_rate_run(wr);
	assert_int_equal(gt_ep_mem_written(m), 65536 + 20000);
	/* Raised: 40000 a quantum at 4 MB/s. */
	gt_rate_set(wr, 4000000);
	fake_ns += 10 * MS;
	gt_rate_run(wr);
	assert_int_equal(gt_ep_mem_written(m), 65536 + 20000 + 40000);
	/* No longer paced at all: the rest goes. */
	gt_ep_set_rate(m, NULL, NULL);
	WAIT_UNTIL(gt_ep_mem_written(m) == len, 5);
	assert_int_equal(gt_rate_waiting(wr), 0);
	gt_ep_free(m);

	/* From unlimited to limited under a running writer: paced at once. */
	gt_rate_set(wr, 0);
	m = gt_ep_mem(base, ep_cb, NULL);
	assert_non_null(m);
	gt_ep_set_rate(m, NULL, wr);
	gt_ep_mem_block(m, 1);		/* the peer does not read for now */
	evbuffer_add(gt_ep_output(m), buf, len);
	gt_ep_kick(m);
	spin(5);
	assert_int_equal(gt_ep_mem_written(m), 0);
	gt_rate_set(wr, 2000000);
	gt_ep_mem_block(m, 0);
	WAIT_UNTIL(gt_rate_waiting(wr) == 1, 5);
	spin(20);
	assert_int_equal(gt_ep_mem_written(m), 65536);
	gt_rate_unref(wr);
	gt_ep_free(m);
	free(buf);
}

/* A freed endpoint leaves the queue; the bucket outlives neither reference. */
static void
test_free_while_queued(void **state)
{
	struct gt_rate	*r;
	struct gt_ep	*m;
	static char	 buf[100000];

	(void)state;
	r = mkrate(2000000);
	m = gt_ep_mem(base, ep_cb, NULL);
	assert_non_null(m);
	gt_ep_set_rate(m, NULL, r);
	evbuffer_add(gt_ep_output(m), buf, sizeof(buf));
	gt_ep_kick(m);
	WAIT_UNTIL(gt_rate_waiting(r) == 1, 5);
	gt_ep_free(m);
	assert_int_equal(gt_rate_waiting(r), 0);
	fake_ns += 100 * MS;
	gt_rate_run(r);		/* nobody to wake, nothing touched */
	gt_rate_unref(r);
	spin(2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refill),
		cmocka_unit_test(test_fair),
		cmocka_unit_test(test_change),
		cmocka_unit_test(test_timer),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_free_while_queued),
	};
	int rc;

	base = event_base_new();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	event_base_free(base);
	return rc;
}
