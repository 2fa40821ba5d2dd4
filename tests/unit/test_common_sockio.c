/* test_common_sockio.c: reads and writes beside a socket bufferevent. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gt/sockio.h"

/* Read sizes double when filled, halve when mostly empty, stay in bounds. */
static void
test_adapt(void **state)
{
	(void)state;
	assert_int_equal(gt_sockio_adapt(16384, 16384, 16384, 16384, 262144), 32768);
	assert_int_equal(gt_sockio_adapt(262144, 262144, 262144, 16384, 262144), 262144);
	assert_int_equal(gt_sockio_adapt(65536, 65536, 100, 16384, 262144), 32768);
	assert_int_equal(gt_sockio_adapt(16384, 16384, 1, 16384, 262144), 16384);
	assert_int_equal(gt_sockio_adapt(65536, 65536, 20000, 16384, 262144), 65536);
	assert_int_equal(gt_sockio_adapt(65536, 65536, -1, 16384, 262144), 65536);
	assert_int_equal(gt_sockio_adapt(65536, 65536, 0, 16384, 262144), 65536);
}

/* More than libevent's 4 KiB in one read, into a bufferevent's own input. */
static void
test_read_large(void **state)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*bev;
	char			 buf[100000], back[100000];
	int			 fds[2], sz = 1 << 20;
	ssize_t			 r;
	size_t			 i;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	bev = bufferevent_socket_new(base, fds[1], BEV_OPT_CLOSE_ON_FREE);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7);
	assert_int_equal(write(fds[0], buf, sizeof(buf)), sizeof(buf));
	r = gt_sockio_read(fds[1], bufferevent_get_input(bev), 65536);
	assert_true(r > 4096);
	assert_int_equal(evbuffer_get_length(bufferevent_get_input(bev)), (size_t)r);
	assert_int_equal(evbuffer_remove(bufferevent_get_input(bev), back,
	    (size_t)r), (int)r);
	assert_memory_equal(back, buf, (size_t)r);
	/* Nothing left to read would block: EAGAIN, nothing appended. */
	while ((r = gt_sockio_read(fds[1], bufferevent_get_input(bev), 65536)) > 0)
		evbuffer_drain(bufferevent_get_input(bev), (size_t)r);
	assert_int_equal(r, -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	assert_int_equal(evbuffer_get_length(bufferevent_get_input(bev)), 0);
	/* EOF reads as 0. */
	close(fds[0]);
	assert_int_equal(gt_sockio_read(fds[1], bufferevent_get_input(bev), 16), 0);
	bufferevent_free(bev);
	event_base_free(base);
}

/* write_now sends from a bufferevent's output and drains what went out. */
static void
test_write_now(void **state)
{
	struct event_base	*base = event_base_new();
	struct bufferevent	*bev;
	char			 got[64];
	int			 fds[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	bev = bufferevent_socket_new(base, fds[0], BEV_OPT_CLOSE_ON_FREE);
	assert_int_equal(gt_sockio_write_now(bev), 0);
	evbuffer_add(bufferevent_get_output(bev), "hello ", 6);
	evbuffer_add(bufferevent_get_output(bev), "world", 5);
	assert_int_equal(gt_sockio_write_now(bev), 11);
	assert_int_equal(evbuffer_get_length(bufferevent_get_output(bev)), 0);
	assert_int_equal(read(fds[1], got, sizeof(got)), 11);
	assert_memory_equal(got, "hello world", 11);
	/* A closed peer: no SIGPIPE, nothing sent, the bytes stay queued. */
	close(fds[1]);
	evbuffer_add(bufferevent_get_output(bev), "x", 1);
	assert_int_equal(gt_sockio_write_now(bev), 0);
	assert_int_equal(evbuffer_get_length(bufferevent_get_output(bev)), 1);
	bufferevent_free(bev);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_adapt),
		cmocka_unit_test(test_read_large),
		cmocka_unit_test(test_write_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
