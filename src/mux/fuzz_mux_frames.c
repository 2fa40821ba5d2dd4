/*
 * fuzz_mux_frames.c: libFuzzer target for the mux state machine behind the
 * frame decoder. A mux (server role, or client role when the control byte
 * says so) runs over a plain transport on a socketpair; the test holds the
 * peer end and writes the fuzz input there as the peer's frames, in chunks,
 * running the event loop between chunks and until idle, reading and
 * discarding whatever the mux sends. Then everything is freed: a leak, a
 * use after free or an overflow is a finding (ASan in fuzz builds).
 *
 * Input: byte 0 is control: bit 7 client role; bit 6 send a valid Hello
 * first (caps from bits 0-2); bits 3-5 number of streams the server opens
 * before the input (ids 1..n). Byte 1: chunk size (0: all at once).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "gt/frame.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/endpoint.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAXFD	64	/* local sockets the run keeps (user or target ends) */
#define FUZZ_IDLE_PASSES 6	/* loop passes without progress that mean idle */
#define FUZZ_MAX_PASSES	512	/* hard bound on loop passes per input */

struct fuzz_env {
	struct event_base	*base;
	struct gt_mux		*mux;
	int			 peer;		/* the fuzzer's end of the tunnel */
	int			 fds[FUZZ_MAXFD];	/* our ends of local sockets */
	int			 nfds;
	int			 closed;
	int			 refuse;	/* client role: refuse every request */
};

/* Make both ends of a socketpair non-blocking; -1 on failure. */
static int
fuzz_pair(int fds[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == -1)
		return -1;
	(void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
	return 0;
}

/* The tunnel ended: remember it, the mux is freed at the end of the run. */
static void
fuzz_closed_cb(struct gt_mux *m, const char *why, void *arg)
{
	struct fuzz_env *e = arg;

	(void)m;
	(void)why;
	e->closed = 1;
}

/* Client role: answer a ConnectRequest with a socketpair, or refuse it. */
static void
fuzz_connect_cb(struct gt_mux *m, uint32_t id, const char *host,
    uint16_t port, void *arg)
{
	struct fuzz_env	*e = arg;
	int		 fds[2];

	(void)host;
	if (e->refuse || (port & 1) || e->nfds >= FUZZ_MAXFD ||
	    fuzz_pair(fds) == -1) {
		gt_mux_refuse(m, id, (uint8_t)(port % 10));
		return;
	}
	e->fds[e->nfds++] = fds[1];
	(void)gt_mux_accept(m, id, fds[0]);
}

/* Read and discard what is waiting on fd; returns bytes read. */
static size_t
fuzz_drain_fd(int fd)
{
	char	buf[65536];
	size_t	total = 0;
	ssize_t	r;

	while ((r = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)r;
	return total;
}

/* Run the loop until nothing moves for a few passes (bounded). */
static void
fuzz_settle(struct fuzz_env *e)
{
	int	idle = 0, passes = 0, i;
	size_t	moved;

	while (idle < FUZZ_IDLE_PASSES && passes++ < FUZZ_MAX_PASSES) {
		event_base_loop(e->base, EVLOOP_NONBLOCK);
		moved = fuzz_drain_fd(e->peer);
		for (i = 0; i < e->nfds; i++)
			moved += fuzz_drain_fd(e->fds[i]);
		idle = moved == 0 ? idle + 1 : 0;
	}
}

/* Write all of p to the peer end, settling the loop whenever it is full. */
static void
fuzz_write(struct fuzz_env *e, const uint8_t *p, size_t n)
{
	ssize_t	w;
	int	stuck = 0;

	while (n > 0 && stuck < 4) {
		w = write(e->peer, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			stuck = 0;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return;		/* the mux closed its end */
		fuzz_settle(e);
		stuck++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_env		 e;
	struct gt_mux_params	 p;
	struct gt_mux_cbs	 cbs;
	struct gt_ep		*c;
	struct evbuffer		*hello;
	uint8_t			 ctl;
	size_t			 chunk, off, n;
	int			 fds[2], i, nstreams;

	if (size < 2)
		return 0;
	ctl = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;

	memset(&e, 0, sizeof(e));
	e.peer = -1;
	if ((e.base = event_base_new()) == NULL || fuzz_pair(fds) == -1)
		abort();
	e.peer = fds[1];
	if ((c = gt_ep_plain(e.base, fds[0], NULL, NULL)) == NULL)
		abort();
	memset(&p, 0, sizeof(p));
	p.role = (ctl & 0x80) ? GT_MUX_CLIENT : GT_MUX_SERVER;
	p.name = "fuzz";
	p.caps = GT_CAP_ALL;
	p.window = 4096;	/* small: the input can exhaust and overrun it */
	memset(&cbs, 0, sizeof(cbs));
	cbs.closed = fuzz_closed_cb;
	if (p.role == GT_MUX_CLIENT) {
		cbs.connect_request = fuzz_connect_cb;
		e.refuse = (ctl & 0x38) == 0x38;
	}
	if ((e.mux = gt_mux_new(e.base, c, &p, &cbs, &e)) == NULL)
		abort();

	/* The peer's Hello, so that the extension frames are in effect. */
	if (ctl & 0x40) {
		if ((hello = evbuffer_new()) == NULL ||
		    gt_frame_add_hello(hello, ctl & 0x7, 4096, 10, 30) != 0)
			abort();
		n = evbuffer_get_length(hello);
		fuzz_write(&e, evbuffer_pullup(hello, -1), n);
		evbuffer_free(hello);
		fuzz_settle(&e);
	}
	/* Server role: streams whose ids (1..n) the input can talk about. */
	nstreams = p.role == GT_MUX_SERVER ? (ctl >> 3) & 0x7 : 0;
	for (i = 0; i < nstreams && e.nfds < FUZZ_MAXFD; i++) {
		if (fuzz_pair(fds) == -1)
			abort();
		e.fds[e.nfds++] = fds[1];
		if (gt_mux_open(e.mux, fds[0], i & 1 ? "localhost" : "127.0.0.1",
		    (uint16_t)(8000 + i), NULL, "fuzz") != 0)
			break;
		/* Something for the mux to send once the stream is connected. */
		if (write(fds[1], "0123456789abcdef", 16) != 16)
			break;
	}
	fuzz_settle(&e);

	if (chunk == 0)
		chunk = size;
	for (off = 0; off < size && !e.closed; off += n) {
		n = size - off < chunk ? size - off : chunk;
		fuzz_write(&e, data + off, n);
		fuzz_settle(&e);
	}
	/* Half the runs also see the local sockets go away first. */
	if (ctl & 0x1)
		for (i = 0; i < e.nfds; i++)
			(void)shutdown(e.fds[i], SHUT_WR);
	fuzz_settle(&e);

	gt_mux_free(e.mux);
	event_base_loop(e.base, EVLOOP_NONBLOCK);	/* deferred frees */
	event_base_loop(e.base, EVLOOP_NONBLOCK);
	for (i = 0; i < e.nfds; i++)
		close(e.fds[i]);
	close(e.peer);
	event_base_free(e.base);
	return 0;
}
