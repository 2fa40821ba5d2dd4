/*
 * test_io_endpoint.c: the endpoint state machine through its plain and
 * memory tables: events, the read high-water mark (input never passes it,
 * reading resumes as the owner drains), half-close both ways, and the
 * memory table's blocking, over socketpairs and a real event loop.
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
#include <signal.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/endpoint.h"

static struct event_base *base;

#include "io_harness.h"

struct seen {
	int	nread, ndrained, neof, nerror;
	size_t	max_in;		/* largest input seen at a READ */
};


/* Run the loop a few passes (for "nothing more happens" checks). */
static void
settle(void)
{
	int i;

	for (i = 0; i < 50; i++) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
}


/* Count what the endpoint reports. */
static void
seen_cb(struct gt_ep *ep, enum gt_ep_ev ev, void *arg)
{
	struct seen	*s = arg;
	size_t		 n;

	switch (ev) {
	case GT_EP_EV_READ:
		s->nread++;
		n = evbuffer_get_length(gt_ep_input(ep));
		if (n > s->max_in)
			s->max_in = n;
		break;
	case GT_EP_EV_DRAINED:
		s->ndrained++;
		break;
	case GT_EP_EV_EOF:
		s->neof++;
		break;
	case GT_EP_EV_ERROR:
		s->nerror++;
		break;
	default:
		break;
	}
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

/* Write up to n bytes of a pattern to fd; returns what the kernel took. */
static size_t
fill(int fd, size_t n)
{
	static char	buf[65536];
	size_t		total = 0;
	ssize_t		w;

	memset(buf, 'x', sizeof(buf));
	while (total < n) {
		w = write(fd, buf, n - total < sizeof(buf) ? n - total : sizeof(buf));
		if (w <= 0)
			break;
		total += (size_t)w;
	}
	return total;
}

/* Input never grows past the read high-water mark; draining resumes reading. */
static void
test_read_hiwat(void **state)
{
	struct seen	 s = { 0 };
	struct gt_ep	*ep;
	int		 fds[2];
	size_t		 sent, got = 0;

	(void)state;
	mkpair(fds);
	ep = gt_ep_plain_open(base, fds[0], seen_cb, &s);
	assert_non_null(ep);
	gt_ep_set_read_hiwat(ep, 20000);
	sent = fill(fds[1], 200000);
	assert_true(sent > 40000);
	WAIT_UNTIL(evbuffer_get_length(gt_ep_input(ep)) == 20000, 5);
	settle();
	assert_int_equal(evbuffer_get_length(gt_ep_input(ep)), 20000);
	assert_true(s.max_in <= 20000);
	/* The owner takes what it has: reading goes on by itself. */
	while (got < sent) {
		size_t n = evbuffer_get_length(gt_ep_input(ep));

		got += n;
		evbuffer_drain(gt_ep_input(ep), n);
		if (got < sent)
			WAIT_UNTIL(evbuffer_get_length(gt_ep_input(ep)) > 0, 5);
	}
	assert_int_equal(got, sent);
	assert_true(s.max_in <= 20000);
	gt_ep_free(ep);
	close(fds[1]);
}

/* Half-close: the peer's FIN leaves us writing; ours goes after our bytes. */
static void
test_half_close(void **state)
{
	struct seen	 s = { 0 };
	struct gt_ep	*ep;
	int		 fds[2];
	char		 buf[16];

	(void)state;
	mkpair(fds);
	ep = gt_ep_plain_open(base, fds[0], seen_cb, &s);
	gt_ep_set_halfclose(ep, 1);
	assert_int_equal(write(fds[1], "ping", 4), 4);
	assert_int_equal(shutdown(fds[1], SHUT_WR), 0);
	WAIT_UNTIL(s.neof == 1, 5);
	assert_true(gt_ep_is_eof(ep));
	assert_int_equal(evbuffer_get_length(gt_ep_input(ep)), 4);
	/* Still open for writing. */
	evbuffer_add(gt_ep_output(ep), "pong", 4);
	gt_ep_kick(ep);
	gt_ep_shutdown_write(ep);
	assert_false(gt_ep_write_done(ep));
	WAIT_UNTIL(gt_ep_write_done(ep), 5);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "pong", 4);
	assert_int_equal(read(fds[1], buf, sizeof(buf)), 0);	/* our FIN */
	assert_int_equal(s.nerror, 0);
	gt_ep_free(ep);
	close(fds[1]);
}

/* Without half-close an EOF closes the endpoint; a reset is an ERROR. */
static void
test_eof_and_error(void **state)
{
	struct seen	 s = { 0 }, t = { 0 };
	struct gt_ep	*a, *b;
	int		 fa[2], fb[2];
	char		 big[300000];

	(void)state;
	mkpair(fa);
	a = gt_ep_plain_open(base, fa[0], seen_cb, &s);
	close(fa[1]);
	WAIT_UNTIL(s.neof == 1, 5);
	gt_ep_free(a);

	mkpair(fb);
	b = gt_ep_plain_open(base, fb[0], seen_cb, &t);
	close(fb[1]);
	memset(big, 'y', sizeof(big));
	evbuffer_add(gt_ep_output(b), big, sizeof(big));
	gt_ep_kick(b);
	WAIT_UNTIL(t.nerror + t.neof >= 1, 5);
	assert_non_null(gt_ep_error(b));
	gt_ep_free(b);
}

/* DRAINED comes when output falls to the low-water mark. */
static void
test_drained(void **state)
{
	struct seen	 s = { 0 };
	struct gt_ep	*ep;
	int		 fds[2];
	char		 big[400000], sink[65536];

	(void)state;
	mkpair(fds);
	ep = gt_ep_plain_open(base, fds[0], seen_cb, &s);
	gt_ep_set_lowat(ep, 0);
	memset(big, 'z', sizeof(big));
	evbuffer_add(gt_ep_output(ep), big, sizeof(big));
	gt_ep_kick(ep);
	settle();
	assert_true(gt_ep_out_pending(ep) > 0);	/* the peer has not read */
	assert_int_equal(s.ndrained, 0);
	while (s.ndrained == 0) {
		while (read(fds[1], sink, sizeof(sink)) > 0)
			;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	assert_int_equal(gt_ep_out_pending(ep), 0);
	gt_ep_free(ep);
	close(fds[1]);
}

/* The memory table: feed, count, block, unblock, EOF. */
static void
test_memory(void **state)
{
	struct seen	 s = { 0 };
	struct gt_ep	*ep;

	(void)state;
	ep = gt_ep_mem(base, seen_cb, &s);
	assert_non_null(ep);
	assert_int_equal(gt_ep_fd(ep), -1);
	gt_ep_mem_feed(ep, "abc", 3, 0);
	assert_int_equal(s.nread, 1);
	assert_int_equal(evbuffer_get_length(gt_ep_input(ep)), 3);
	gt_ep_mem_block(ep, 1);
	evbuffer_add(gt_ep_output(ep), "hello", 5);
	gt_ep_kick(ep);
	settle();
	assert_int_equal(gt_ep_mem_written(ep), 0);
	assert_int_equal(gt_ep_out_pending(ep), 5);
	gt_ep_mem_block(ep, 0);
	WAIT_UNTIL(gt_ep_mem_written(ep) == 5, 5);
	gt_ep_set_halfclose(ep, 1);
	gt_ep_mem_feed(ep, NULL, 0, 1);
	assert_int_equal(s.neof, 1);
	assert_true(gt_ep_is_eof(ep));
	gt_ep_free(ep);
}

/* An owner may free the endpoint from inside its own callback. */
static void
free_in_cb(struct gt_ep *ep, enum gt_ep_ev ev, void *arg)
{
	int *freed = arg;

	(void)ev;
	gt_ep_free(ep);
	*freed = 1;
}

static void
test_free_in_callback(void **state)
{
	struct gt_ep	*ep;
	int		 fds[2], freed = 0;

	(void)state;
	mkpair(fds);
	ep = gt_ep_plain_open(base, fds[0], free_in_cb, &freed);
	assert_int_equal(write(fds[1], "x", 1), 1);
	WAIT_UNTIL(freed, 5);
	settle();
	close(fds[1]);
	ep = gt_ep_mem(base, free_in_cb, &freed);
	freed = 0;
	gt_ep_mem_feed(ep, "x", 1, 1);
	assert_true(freed);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_read_hiwat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_in_callback, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);	/* as every gt program does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
