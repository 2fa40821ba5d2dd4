/* net.c: gt-bench client connections: non-blocking sockets driven by poll(). */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* poll() one fd for at most slice_ms, never past the deadline. */
int
bench_wait(int fd, short events, uint64_t deadline, int slice_ms)
{
	struct pollfd	pfd;
	uint64_t	now = bench_now_ns();
	int		ms, rc;

	if (now >= deadline)
		return 0;
	ms = slice_ms;
	if ((deadline - now) / 1000000 < (uint64_t)ms)
		ms = (int)((deadline - now + 999999) / 1000000);
	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	rc = poll(&pfd, 1, ms);
	if (rc == -1)
		return errno == EINTR ? 0 : -1;
	return rc == 0 ? 0 : pfd.revents;
}

/* Prepare a connection object with its buffers; no socket yet. */
int
bench_conn_init(struct bench_conn *c, uint64_t seed, uint64_t deadline,
    size_t bufsize)
{
	memset(c, 0, sizeof(*c));
	c->bc_fd = -1;
	c->bc_seed = seed;
	c->bc_deadline = deadline;
	c->bc_bufsize = bufsize;
	c->bc_sbuf = malloc(bufsize);
	c->bc_rbuf = malloc(bufsize);
	if (c->bc_sbuf == NULL || c->bc_rbuf == NULL) {
		bench_conn_free(c);
		return -1;
	}
	return 0;
}

/* Close the socket and reset the stream offsets, keeping the buffers. */
void
bench_conn_close(struct bench_conn *c)
{
	if (c->bc_fd != -1)
		close(c->bc_fd);
	c->bc_fd = -1;
	c->bc_sent = c->bc_recvd = 0;
	c->bc_soff = 0;
	c->bc_slen = 0;
}

/* Close and free everything; idempotent. */
void
bench_conn_free(struct bench_conn *c)
{
	bench_conn_close(c);
	free(c->bc_sbuf);
	free(c->bc_rbuf);
	c->bc_sbuf = c->bc_rbuf = NULL;
}

/* Record a failure message. */
static int
conn_fail(struct bench_conn *c, int rc, const char *what, int err)
{
	if (err)
		snprintf(c->bc_err, sizeof(c->bc_err), "%s: %s", what,
		    strerror(err));
	else
		snprintf(c->bc_err, sizeof(c->bc_err), "%s", what);
	return rc;
}

/* Connect within BENCH_CONNECT_MS (and the deadline); TCP_NODELAY, non-blocking. */
int
bench_conn_connect(struct bench_conn *c, const struct sockaddr *sa,
    socklen_t salen)
{
	uint64_t	dl = bench_now_ns() + (uint64_t)BENCH_CONNECT_MS * 1000000;
	socklen_t	elen = sizeof(int);
	int		fd, one = 1, err = 0, rv;

	if (dl > c->bc_deadline)
		dl = c->bc_deadline;
	bench_conn_close(c);
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return conn_fail(c, -1, "socket", errno);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bc_fd = fd;
	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return conn_fail(c, -1, "connect", errno);
	for (;;) {
		rv = bench_wait(fd, POLLOUT, dl, 200);
		if (rv < 0)
			return conn_fail(c, -1, "poll", errno);
		if (rv > 0)
			break;
		if (bench_now_ns() >= dl)
			return conn_fail(c, -1, "connect: timed out", 0);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1)
		return conn_fail(c, -1, "connect", errno);
	if (err != 0)
		return conn_fail(c, -1, "connect", err);
	return 0;
}

/* Fail when the deadline passed or nothing moved for BENCH_IDLE_MS. */
static int
conn_check_time(struct bench_conn *c, uint64_t last)
{
	uint64_t now = bench_now_ns();

	if (now >= c->bc_deadline)
		return conn_fail(c, -1, "deadline reached with data in flight", 0);
	if (now - last >= (uint64_t)BENCH_IDLE_MS * 1000000)
		return conn_fail(c, -1, "no progress for 10 s", 0);
	return 0;
}

/* Send the pattern and verify its echo, with a bounded amount in flight. */
int
bench_conn_echo(struct bench_conn *c, uint64_t nbytes, uint64_t window,
    const atomic_int *stop)
{
	uint64_t	target = c->bc_sent + nbytes, last = bench_now_ns();
	uint64_t	room, want;
	size_t		off, chk;
	ssize_t		n;
	int		rv, can_send;
	short		ev;

	while (c->bc_recvd < target) {
		if (stop != NULL && atomic_load_explicit(stop,
		    memory_order_relaxed) && target > c->bc_sent)
			target = c->bc_sent;
		can_send = c->bc_sent < target &&
		    c->bc_sent - c->bc_recvd < window;
		if (can_send) {
			if (c->bc_sent >= c->bc_soff + c->bc_slen) {
				c->bc_soff = c->bc_sent;
				c->bc_slen = c->bc_bufsize;
				if (c->bc_slen > target - c->bc_sent)
					c->bc_slen = (size_t)(target - c->bc_sent);
				bench_pattern_fill(c->bc_seed, c->bc_soff,
				    c->bc_sbuf, c->bc_slen);
			}
			off = (size_t)(c->bc_sent - c->bc_soff);
			want = c->bc_slen - off;
			if (want > target - c->bc_sent)
				want = target - c->bc_sent;
			room = window - (c->bc_sent - c->bc_recvd);
			if (want > room)
				want = room;
			n = send(c->bc_fd, c->bc_sbuf + off, (size_t)want,
			    MSG_NOSIGNAL);
			if (n > 0) {
				c->bc_sent += (uint64_t)n;
				last = bench_now_ns();
				continue;
			}
			if (n == -1 && errno != EAGAIN && errno != EINTR)
				return conn_fail(c, -1, "send", errno);
		}
		if (c->bc_recvd == c->bc_sent)
			continue;	/* stop trimmed the target */
		ev = POLLIN;
		if (can_send)
			ev |= POLLOUT;
		rv = bench_wait(c->bc_fd, ev, c->bc_deadline, 200);
		if (rv < 0)
			return conn_fail(c, -1, "poll", errno);
		if (rv == 0) {
			if (conn_check_time(c, last) == -1)
				return -1;
			continue;
		}
		if (!(rv & (POLLIN | POLLHUP | POLLERR)))
			continue;
		want = c->bc_sent - c->bc_recvd;
		if (want > c->bc_bufsize)
			want = c->bc_bufsize;
		n = recv(c->bc_fd, c->bc_rbuf, (size_t)want, 0);
		if (n == 0)
			return conn_fail(c, -1, "connection closed by peer", 0);
		if (n == -1) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return conn_fail(c, -1, "recv", errno);
		}
		chk = bench_pattern_check(c->bc_seed, c->bc_recvd, c->bc_rbuf,
		    (size_t)n);
		if (chk != (size_t)n) {
			c->bc_verify_error = 1;
			c->bc_bad_off = c->bc_recvd + chk;
			snprintf(c->bc_err, sizeof(c->bc_err),
			    "verification failed at stream offset %llu",
			    (unsigned long long)c->bc_bad_off);
			return -2;
		}
		c->bc_recvd += (uint64_t)n;
		if (c->bc_progress != NULL)
			atomic_fetch_add_explicit(c->bc_progress, (uint64_t)n,
			    memory_order_relaxed);
		last = bench_now_ns();
	}
	return 0;
}

/* Send all of buf (headers); 0 or -1. */
int
bench_conn_send_all(struct bench_conn *c, const void *buf, size_t len)
{
	const unsigned char	*p = buf;
	uint64_t		 last = bench_now_ns();
	ssize_t			 n;

	while (len > 0) {
		n = send(c->bc_fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			last = bench_now_ns();
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return conn_fail(c, -1, "send", errno);
		if (bench_wait(c->bc_fd, POLLOUT, c->bc_deadline, 200) < 0)
			return conn_fail(c, -1, "poll", errno);
		if (conn_check_time(c, last) == -1)
			return -1;
	}
	return 0;
}

/* Receive exactly len bytes within the deadline and idle limit. */
int
bench_conn_recv_all(struct bench_conn *c, void *buf, size_t len)
{
	unsigned char	*p = buf;
	uint64_t	 last = bench_now_ns();
	ssize_t		 n;

	while (len > 0) {
		n = recv(c->bc_fd, p, len, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			last = bench_now_ns();
			continue;
		}
		if (n == 0)
			return conn_fail(c, -1, "connection closed by peer", 0);
		if (errno != EAGAIN && errno != EINTR)
			return conn_fail(c, -1, "recv", errno);
		if (bench_wait(c->bc_fd, POLLIN, c->bc_deadline, 200) < 0)
			return conn_fail(c, -1, "poll", errno);
		if (conn_check_time(c, last) == -1)
			return -1;
	}
	return 0;
}
