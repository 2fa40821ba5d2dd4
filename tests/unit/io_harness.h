/*
 * io_harness.h: what the I/O unit tests share: a clock, a wait on a
 * condition that runs the test's event loop (named base), and a pair of
 * connected non-blocking sockets. Included by one test file each.
 */
#ifndef GT_IO_HARNESS_H
#define GT_IO_HARNESS_H

#include <fcntl.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

/* Seconds on a clock that never jumps. */
static inline double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until cond or the deadline; fail on the deadline. */
#define WAIT_UNTIL(cond, secs) do {					\
	double _dl = now_s() + (secs);					\
	while (!(cond)) {						\
		if (now_s() > _dl)					\
			fail_msg("timed out waiting for " #cond);	\
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);	\
		usleep(100);						\
	}								\
} while (0)

/* A connected pair of non-blocking sockets. */
static inline void
mkpair(int fds[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
}

#endif
