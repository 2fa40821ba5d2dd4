/*
 * transport.c: one byte stream over one socket, plain TCP or mutual TLS 1.2
 * (mbedTLS), driven by raw libevent events (redis's connection.c shape).
 *
 * struct gt_conn holds the shared plumbing (events, the caller's evbuffers,
 * states, the callback, deferred free) and points to a table of functions
 * that does the actual reading and writing: conn_plain_ops or conn_tls_ops.
 * TLS talks to the socket itself through mbedtls_ssl_set_bio callbacks that
 * call send()/recv() directly, so ciphertext is never staged in evbuffers.
 *
 * Everything is kept in one file because the two tables share struct
 * gt_conn and the module has no private header.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "gt/log.h"
#include "gt/transport.h"

#define CONN_READ_CHUNK		(128 * 1024)	/* plain: one readv */
#define CONN_RECORD		16384		/* TLS: one full record */
#define CONN_READ_BUDGET	(256 * 1024)	/* per event, then yield */
#define CONN_WRITE_BUDGET	(1024 * 1024)	/* per event, then yield */
#define CONN_CN_MAX		64

enum conn_state {
	CONN_CONNECTING,	/* waiting for EV_WRITE, then SO_ERROR */
	CONN_HANDSHAKE,		/* TLS handshake in progress */
	CONN_OPEN,		/* READY reported; data flows */
	CONN_CLOSING,		/* gt_conn_shutdown: flush, close_notify, FIN, wait EOF */
	CONN_CLOSED,		/* EOF or ERROR reported; no more I/O */
};

/* Results of one I/O step of a vtable. */
enum conn_io {
	CONN_IO_OK,		/* progress; may call again */
	CONN_IO_DONE,		/* progress; the socket is probably exhausted */
	CONN_IO_WANT_READ,	/* wait until the socket is readable */
	CONN_IO_WANT_WRITE,	/* wait until the socket is writable */
	CONN_IO_EOF,		/* the peer closed */
	CONN_IO_ERROR,		/* c->conn_err holds why */
};

struct gt_conn;

/* What differs between plain TCP and TLS. */
struct conn_ops {
	const char	*name;
	/* One handshake step: OK when done, WANT_*, or ERROR. */
	enum conn_io	(*handshake)(struct gt_conn *);
	/* Append one chunk of plaintext to input; *n gets its size. */
	enum conn_io	(*read)(struct gt_conn *, size_t *n);
	/* Send one chunk from the front of output; *n gets what left it. */
	enum conn_io	(*write)(struct gt_conn *, size_t budget, size_t *n);
	/* Bytes received and decoded but not yet in input. */
	int		(*pending)(struct gt_conn *);
	/* Read and drop one chunk while closing; *n grows by its size. */
	enum conn_io	(*discard)(struct gt_conn *, size_t *n);
	/* One step of the closing goodbye (close_notify): OK when sent. */
	enum conn_io	(*close_notify)(struct gt_conn *);
	void		(*free_priv)(struct gt_conn *);
	const char	*(*cipher)(const struct gt_conn *);
};

struct gt_tls_ctx {
	unsigned			 tls_refcnt;
	int				 tls_server;
	mbedtls_ssl_config		 tls_conf;
	mbedtls_x509_crt		 tls_cert;
	mbedtls_x509_crt		 tls_ca;
	mbedtls_pk_context		 tls_key;
	mbedtls_entropy_context		 tls_entropy;
	mbedtls_ctr_drbg_context	 tls_drbg;
};

struct gt_conn {
	const struct conn_ops	*conn_ops;
	struct event_base	*conn_base;
	evutil_socket_t		 conn_fd;
	struct event		*conn_rev;	/* EV_READ|EV_PERSIST */
	struct event		*conn_wev;	/* EV_WRITE|EV_PERSIST */
	struct event		*conn_tmo;	/* handshake timeout */
	struct event		*conn_resched;	/* zero timer: read pass next loop */
	struct event		*conn_wdefer;	/* write pass at the end of this loop pass */
	int			 conn_wblocked;	/* the socket refused more: wait EV_WRITE */
	int			 conn_r_on, conn_w_on;
	struct evbuffer		*conn_in;
	struct evbuffer		*conn_out;
	gt_conn_cb		*conn_cb;
	void			*conn_arg;

	enum conn_state		 conn_state;
	int			 conn_reading;	/* caller wants input */
	int			 conn_eof;	/* peer closed its side */
	int			 conn_hs_want;	/* CONN_IO_WANT_* during handshake */
	int			 conn_rd_wants_w; /* read pass blocked on EV_WRITE */
	int			 conn_wr_wants_r; /* write pass blocked on EV_READ */
	int			 conn_closing;	/* 0 flush, 1 close_notify, 2 wait EOF */
	int			 conn_shut_req;	/* gt_conn_shutdown before OPEN */
	size_t			 conn_lowat;
	int			 conn_above;	/* output was above lowat */

	unsigned		 conn_refcnt;
	int			 conn_dead;	/* gt_conn_free called */

	int			 conn_errno;	/* from the bio callbacks */
	char			 conn_addr[INET6_ADDRSTRLEN + 16];
	char			 conn_err[256];
	char			*conn_cn;

	/* TLS only. */
	struct gt_tls_ctx	*conn_ctx;
	mbedtls_ssl_context	 conn_ssl;
	int			 conn_ssl_init;
	int			 conn_server;
	char			*conn_ipname;	/* IP literal checked against SAN */
	size_t			 conn_wlen;	/* bytes handed to ssl_write, in flight */
	int			 conn_hs_done;
};

static void	conn_update(struct gt_conn *);
static void	conn_fail(struct gt_conn *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* The socket's peer as "ip:port", "[ip]:port" or "unix". */
static void
conn_set_addr(struct gt_conn *c)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	char			 host[INET6_ADDRSTRLEN];

	if (getpeername(c->conn_fd, (struct sockaddr *)&ss, &sl) == -1)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(c->conn_addr, sizeof(c->conn_addr), "%s:%u", host,
		    ntohs(sin->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(c->conn_addr, sizeof(c->conn_addr), "[%s]:%u", host,
		    ntohs(sin6->sin6_port));
	} else
		snprintf(c->conn_addr, sizeof(c->conn_addr), "unix");
}

/* Take a reference while code of ours runs that may call the callback. */
static void
conn_ref(struct gt_conn *c)
{
	c->conn_refcnt++;
}

/* Release everything once the last reference is gone. */
static void
conn_unref(struct gt_conn *c)
{
	if (--c->conn_refcnt > 0)
		return;
	if (c->conn_rev != NULL)
		event_free(c->conn_rev);
	if (c->conn_wev != NULL)
		event_free(c->conn_wev);
	if (c->conn_tmo != NULL)
		event_free(c->conn_tmo);
	if (c->conn_resched != NULL)
		event_free(c->conn_resched);
	if (c->conn_wdefer != NULL)
		event_free(c->conn_wdefer);
	if (c->conn_ops != NULL && c->conn_ops->free_priv != NULL)
		c->conn_ops->free_priv(c);
	if (c->conn_fd != -1)
		close(c->conn_fd);
	if (c->conn_in != NULL)
		evbuffer_free(c->conn_in);
	if (c->conn_out != NULL)
		evbuffer_free(c->conn_out);
	free(c->conn_cn);
	free(c);
}

/* Tell the caller; nonzero when it freed c meanwhile (stop touching it). */
static int
conn_emit(struct gt_conn *c, enum gt_conn_ev ev)
{
	if (c->conn_dead)
		return -1;
	if (c->conn_cb != NULL)
		c->conn_cb(c, ev, c->conn_arg);
	return c->conn_dead;
}

/* Record why and enter CLOSED; the caller reports ERROR. */
static void
conn_fail(struct gt_conn *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->conn_err, sizeof(c->conn_err), fmt, ap);
	va_end(ap);
	c->conn_state = CONN_CLOSED;
}

/* Enter CLOSED with an error and report it once. */
static void
conn_error(struct gt_conn *c)
{
	c->conn_state = CONN_CLOSED;
	conn_update(c);
	conn_emit(c, GT_CONN_EV_ERROR);
}

/* Add or remove the socket events so they match what the state waits for. */
static void
conn_update(struct gt_conn *c)
{
	int	r = 0, w = 0, outq;

	if (c->conn_dead)
		return;
	outq = evbuffer_get_length(c->conn_out) > 0 || c->conn_wlen > 0;
	switch (c->conn_state) {
	case CONN_CONNECTING:
		w = 1;
		break;
	case CONN_HANDSHAKE:
		r = c->conn_hs_want == CONN_IO_WANT_READ;
		w = c->conn_hs_want == CONN_IO_WANT_WRITE;
		break;
	case CONN_OPEN:
		r = (c->conn_reading && !c->conn_eof && !c->conn_rd_wants_w) ||
		    c->conn_wr_wants_r;
		/*
		 * Writes are tried from the loop first; EV_WRITE is armed only
		 * once the socket has refused bytes. Streaming then costs no
		 * epoll_ctl per burst.
		 */
		w = (outq && c->conn_wblocked && !c->conn_wr_wants_r) ||
		    c->conn_rd_wants_w;
		if (outq && !c->conn_wblocked && !c->conn_wr_wants_r)
			event_active(c->conn_wdefer, EV_WRITE, 0);
		break;
	case CONN_CLOSING:
		if (c->conn_closing < 2)
			w = 1;
		else
			r = 1;
		if (c->conn_wr_wants_r)
			r = 1, w = 0;
		break;
	case CONN_CLOSED:
		break;
	}
	if (r != c->conn_r_on) {
		if (r)
			event_add(c->conn_rev, NULL);
		else
			event_del(c->conn_rev);
		c->conn_r_on = r;
	}
	if (w != c->conn_w_on) {
		if (w)
			event_add(c->conn_wev, NULL);
		else
			event_del(c->conn_wev);
		c->conn_w_on = w;
	}
	if (c->conn_state == CONN_CLOSED) {
		event_del(c->conn_resched);
		if (c->conn_tmo != NULL)
			event_del(c->conn_tmo);
	}
}

/* Run a read pass again on the next loop iteration (after polling others). */
static void
conn_resched_read(struct gt_conn *c)
{
	static const struct timeval zero = { 0, 0 };

	event_add(c->conn_resched, &zero);
}

/* Connected and verified: report READY, then move any queued data. */
static void
conn_open(struct gt_conn *c)
{
	c->conn_state = CONN_OPEN;
	if (c->conn_tmo != NULL)
		event_del(c->conn_tmo);
	conn_update(c);
	if (conn_emit(c, GT_CONN_EV_READY))
		return;
	if (c->conn_shut_req && c->conn_state == CONN_OPEN) {
		c->conn_state = CONN_CLOSING;
		c->conn_closing = 0;
		c->conn_reading = 0;
	}
	conn_update(c);
}

/* One handshake step, on start and on each readiness the step asked for. */
static void
conn_handshake(struct gt_conn *c)
{
	enum conn_io	r;

	r = c->conn_ops->handshake(c);
	switch (r) {
	case CONN_IO_OK:
	case CONN_IO_DONE:
		conn_open(c);
		return;
	case CONN_IO_WANT_READ:
	case CONN_IO_WANT_WRITE:
		c->conn_hs_want = r;
		conn_update(c);
		return;
	case CONN_IO_EOF:
		conn_fail(c, "handshake failed: connection closed by peer");
		conn_error(c);
		return;
	case CONN_IO_ERROR:
		conn_error(c);
		return;
	}
}

/* The connect finished (or failed): check SO_ERROR and start. */
static void
conn_connected(struct gt_conn *c)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->conn_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		conn_fail(c, "connect: %s", strerror(err));
		conn_error(c);
		return;
	}
	conn_set_addr(c);
	c->conn_state = CONN_HANDSHAKE;
	conn_handshake(c);
}

/*
 * Move output to the socket, bounded per call; report DRAINED when output
 * fell to lowat or below. Nonzero when c was freed or failed.
 */
static int
conn_write_pass(struct gt_conn *c)
{
	size_t		total = 0, n;
	enum conn_io	r;

	if (evbuffer_get_length(c->conn_out) > c->conn_lowat)
		c->conn_above = 1;
	while (total < CONN_WRITE_BUDGET) {
		if (evbuffer_get_length(c->conn_out) == 0 && c->conn_wlen == 0)
			break;
		n = 0;
		r = c->conn_ops->write(c, CONN_WRITE_BUDGET - total, &n);
		total += n;
		if (r == CONN_IO_OK)
			continue;
		if (r == CONN_IO_DONE || r == CONN_IO_WANT_WRITE)
			break;
		if (r == CONN_IO_WANT_READ) {
			c->conn_wr_wants_r = 1;
			break;
		}
		if (r == CONN_IO_EOF)
			conn_fail(c, "write: connection closed by peer");
		conn_error(c);
		return -1;
	}
	/* Whatever stopped the pass, what is left waits for EV_WRITE. */
	c->conn_wblocked = evbuffer_get_length(c->conn_out) > 0 ||
	    c->conn_wlen > 0;
	if (c->conn_above &&
	    evbuffer_get_length(c->conn_out) <= c->conn_lowat) {
		c->conn_above = 0;
		if (c->conn_state == CONN_OPEN &&
		    conn_emit(c, GT_CONN_EV_DRAINED))
			return -1;
	}
	return 0;
}

/*
 * Move plaintext from the socket to input, bounded per call; report READ
 * once, then EOF if the peer closed. Nonzero when c was freed or failed.
 */
static int
conn_read_pass(struct gt_conn *c)
{
	size_t		total = 0, n;
	enum conn_io	r = CONN_IO_OK;
	int		eof = 0, err = 0;

	event_del(c->conn_resched);
	while (c->conn_reading && !c->conn_eof && total < CONN_READ_BUDGET) {
		n = 0;
		r = c->conn_ops->read(c, &n);
		total += n;
		if (r == CONN_IO_OK)
			continue;
		if (r == CONN_IO_DONE || r == CONN_IO_WANT_READ)
			break;
		if (r == CONN_IO_WANT_WRITE) {
			c->conn_rd_wants_w = 1;
			break;
		}
		if (r == CONN_IO_EOF)
			eof = 1;
		else
			err = 1;
		break;
	}
	if (eof)
		c->conn_eof = 1;
	if (err)
		c->conn_state = CONN_CLOSED;
	if (total > 0 && conn_emit(c, GT_CONN_EV_READ))
		return -1;
	if (err) {
		conn_error(c);
		return -1;
	}
	if (eof) {
		c->conn_state = CONN_CLOSED;
		conn_update(c);
		conn_emit(c, GT_CONN_EV_EOF);
		return -1;
	}
	/* Decrypted bytes inside mbedTLS will not wake the socket: go again. */
	if (c->conn_state == CONN_OPEN && c->conn_reading && !c->conn_eof &&
	    !c->conn_rd_wants_w && c->conn_ops->pending(c))
		conn_resched_read(c);
	return 0;
}

/* CLOSING: flush output, send close_notify, FIN, then wait for the peer's EOF. */
static void
conn_closing_step(struct gt_conn *c, short what)
{
	size_t		total;
	enum conn_io	r;

	c->conn_wr_wants_r = 0;
	if (c->conn_closing == 0) {
		if (conn_write_pass(c))
			return;
		if (evbuffer_get_length(c->conn_out) == 0 && c->conn_wlen == 0)
			c->conn_closing = 1;
	}
	if (c->conn_closing == 1) {
		r = c->conn_ops->close_notify(c);
		if (r == CONN_IO_WANT_WRITE || r == CONN_IO_WANT_READ) {
			c->conn_wr_wants_r = r == CONN_IO_WANT_READ;
			return;
		}
		if (r == CONN_IO_ERROR) {
			conn_error(c);
			return;
		}
		c->conn_wr_wants_r = 0;
		shutdown(c->conn_fd, SHUT_WR);
		c->conn_closing = 2;
		return;
	}
	if (c->conn_closing != 2 || (what & EV_READ) == 0)
		return;
	/* We asked to stop reading: discard what still arrives, up to EOF. */
	for (total = 0; total < CONN_READ_BUDGET; ) {
		r = c->conn_ops->discard(c, &total);
		if (r == CONN_IO_OK)
			continue;
		if (r == CONN_IO_WANT_READ || r == CONN_IO_WANT_WRITE ||
		    r == CONN_IO_DONE)
			return;
		if (r == CONN_IO_ERROR) {
			conn_error(c);
			return;
		}
		c->conn_state = CONN_CLOSED;
		conn_update(c);
		conn_emit(c, GT_CONN_EV_EOF);
		return;
	}
}

/*
 * Readable or writable while OPEN. A pass blocked on the other direction
 * (TLS may need to read to write, or write to read) goes first.
 */
static void
conn_open_io(struct gt_conn *c, int readable)
{
	if (readable) {
		if (c->conn_wr_wants_r) {
			c->conn_wr_wants_r = 0;
			if (conn_write_pass(c))
				return;
		}
		if (c->conn_state == CONN_OPEN && c->conn_reading)
			conn_read_pass(c);
		return;
	}
	if (c->conn_rd_wants_w) {
		c->conn_rd_wants_w = 0;
		if (c->conn_reading && conn_read_pass(c))
			return;
	}
	c->conn_wblocked = 0;
	if (c->conn_state == CONN_OPEN && !c->conn_wr_wants_r)
		conn_write_pass(c);
}

/* EV_READ or EV_WRITE on the socket: whoever waits for it goes on. */
static void
conn_iocb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_conn	*c = arg;
	int		 readable = (what & EV_READ) != 0;

	(void)fd;
	conn_ref(c);
	switch (c->conn_state) {
	case CONN_CONNECTING:
		if (!readable)
			conn_connected(c);
		break;
	case CONN_HANDSHAKE:
		conn_handshake(c);
		break;
	case CONN_OPEN:
		conn_open_io(c, readable);
		break;
	case CONN_CLOSING:
		conn_closing_step(c, readable ? EV_READ : EV_WRITE);
		break;
	case CONN_CLOSED:
		break;
	}
	conn_update(c);
	conn_unref(c);
}

/* Deferred write pass: everything queued in this loop pass goes out at once. */
static void
conn_wdefercb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_conn	*c = arg;

	(void)fd;
	(void)what;
	if (c->conn_dead || c->conn_state != CONN_OPEN || c->conn_wblocked ||
	    c->conn_wr_wants_r)
		return;
	conn_ref(c);
	if (conn_write_pass(c) == 0)
		conn_update(c);
	conn_unref(c);
}

/* Zero timer: a read pass for bytes already inside mbedTLS. */
static void
conn_reschedcb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_conn	*c = arg;

	(void)fd;
	(void)what;
	conn_ref(c);
	if (c->conn_state == CONN_OPEN && c->conn_reading &&
	    !c->conn_rd_wants_w)
		conn_read_pass(c);
	conn_update(c);
	conn_unref(c);
}

/* Handshake timer: READY did not come in time. */
static void
conn_timeoutcb(evutil_socket_t fd, short what, void *arg)
{
	struct gt_conn	*c = arg;

	(void)fd;
	(void)what;
	conn_ref(c);
	if (c->conn_state == CONN_CONNECTING ||
	    c->conn_state == CONN_HANDSHAKE) {
		conn_fail(c, "handshake timeout");
		conn_error(c);
	}
	conn_unref(c);
}

/* Shared part of the constructors; closes fd on failure. */
static struct gt_conn *
conn_new(struct event_base *base, evutil_socket_t fd,
    const struct conn_ops *ops, gt_conn_cb *cb, void *arg)
{
	struct gt_conn	*c;
	int		 one = 1;

	if (fd < 0)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->conn_fd = fd;
	c->conn_base = base;
	c->conn_cb = cb;
	c->conn_arg = arg;
	c->conn_refcnt = 1;
	c->conn_reading = 1;
	c->conn_state = CONN_CONNECTING;
	snprintf(c->conn_addr, sizeof(c->conn_addr), "unknown");
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (c->conn_rev = event_new(base, fd, EV_READ | EV_PERSIST,
	    conn_iocb, c)) == NULL ||
	    (c->conn_wev = event_new(base, fd, EV_WRITE | EV_PERSIST,
	    conn_iocb, c)) == NULL ||
	    (c->conn_resched = evtimer_new(base, conn_reschedcb, c)) == NULL ||
	    (c->conn_wdefer = event_new(base, -1, 0, conn_wdefercb, c)) == NULL ||
	    (c->conn_in = evbuffer_new()) == NULL ||
	    (c->conn_out = evbuffer_new()) == NULL) {
		conn_unref(c);
		return NULL;
	}
	/* Not for AF_UNIX socketpairs; harmless to fail there. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_set_addr(c);
	c->conn_ops = ops;
	conn_update(c);
	return c;
}

/* ---- plain TCP ---------------------------------------------------------- */

/* No handshake: connected is ready. */
static enum conn_io
plain_handshake(struct gt_conn *c)
{
	(void)c;
	return CONN_IO_OK;
}

/*
 * One large read straight into input's free space (evbuffer_read would
 * first ask the kernel how much is there: one more syscall per read).
 */
static enum conn_io
plain_read(struct gt_conn *c, size_t *n)
{
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	ssize_t			 r;
	size_t			 left;
	int			 nv, i;

	nv = evbuffer_reserve_space(c->conn_in, CONN_READ_CHUNK, v, 2);
	if (nv <= 0) {
		conn_fail(c, "read: out of memory");
		return CONN_IO_ERROR;
	}
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	r = readv(c->conn_fd, iov, nv);
	if (r > 0) {
		left = (size_t)r;
		for (i = 0; i < nv && left > 0; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		evbuffer_commit_space(c->conn_in, v, i);
		*n = (size_t)r;
		return (size_t)r >= CONN_READ_CHUNK ? CONN_IO_OK : CONN_IO_DONE;
	}
	i = errno;
	evbuffer_commit_space(c->conn_in, v, 0);
	errno = i;
	if (r == 0)
		return CONN_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return CONN_IO_WANT_READ;
	conn_fail(c, "read: %s", strerror(errno));
	return CONN_IO_ERROR;
}

/* One writev of as much of output as the budget allows. */
static enum conn_io
plain_write(struct gt_conn *c, size_t budget, size_t *n)
{
	int	r;

	r = evbuffer_write_atmost(c->conn_out, c->conn_fd, budget);
	if (r > 0) {
		*n = r;
		return evbuffer_get_length(c->conn_out) > 0 ?
		    CONN_IO_DONE : CONN_IO_OK;
	}
	if (r == 0)
		return CONN_IO_OK;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return CONN_IO_WANT_WRITE;
	conn_fail(c, "write: %s", strerror(errno));
	return CONN_IO_ERROR;
}

/* The kernel holds plain bytes; nothing pending here. */
static int
plain_pending(struct gt_conn *c)
{
	(void)c;
	return 0;
}

/* Read and drop while closing. */
static enum conn_io
plain_discard(struct gt_conn *c, size_t *n)
{
	char	buf[16384];
	ssize_t	r;

	r = recv(c->conn_fd, buf, sizeof(buf), 0);
	if (r > 0) {
		*n += r;
		return CONN_IO_OK;
	}
	if (r == 0)
		return CONN_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return CONN_IO_WANT_READ;
	conn_fail(c, "read: %s", strerror(errno));
	return CONN_IO_ERROR;
}

/* No goodbye message in plain TCP. */
static enum conn_io
plain_close_notify(struct gt_conn *c)
{
	(void)c;
	return CONN_IO_OK;
}

/* The name shown for a plain connection. */
static const char *
plain_cipher(const struct gt_conn *c)
{
	(void)c;
	return "plain";
}

static const struct conn_ops conn_plain_ops = {
	.name = "plain",
	.handshake = plain_handshake,
	.read = plain_read,
	.write = plain_write,
	.pending = plain_pending,
	.discard = plain_discard,
	.close_notify = plain_close_notify,
	.free_priv = NULL,
	.cipher = plain_cipher,
};

/* ---- TLS ---------------------------------------------------------------- */

static const int tls_ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};

/* mbedTLS error code as text, for messages. */
static void
tls_strerror(int ret, char *buf, size_t len)
{
	mbedtls_strerror(ret, buf, len);
}

/* bio send: straight to the socket; EAGAIN becomes WANT_WRITE. */
static int
tls_send(void *arg, const unsigned char *buf, size_t len)
{
	struct gt_conn	*c = arg;
	ssize_t		 n;

	do {
		n = send(c->conn_fd, buf, len, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	c->conn_errno = errno;
	if (errno == EPIPE || errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_SEND_FAILED;
}

/* bio recv: straight from the socket; EAGAIN becomes WANT_READ. */
static int
tls_recv(void *arg, unsigned char *buf, size_t len)
{
	struct gt_conn	*c = arg;
	ssize_t		 n;

	do {
		n = recv(c->conn_fd, buf, len, 0);
	} while (n == -1 && errno == EINTR);
	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_READ;
	c->conn_errno = errno;
	if (errno == ECONNRESET)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return MBEDTLS_ERR_NET_RECV_FAILED;
}

/* Describe an mbedTLS failure in conn_err, with errno or verify flags. */
static void
tls_fail(struct gt_conn *c, const char *what, int ret)
{
	char		 e[128], v[512], *p;
	uint32_t	 flags;
	size_t		 len;

	tls_strerror(ret, e, sizeof(e));
	v[0] = '\0';
	/* The handshake's verify flags say why a certificate was refused. */
	if ((flags = mbedtls_ssl_get_verify_result(&c->conn_ssl)) != 0 &&
	    flags != (uint32_t)-1) {
		mbedtls_x509_crt_verify_info(v, sizeof(v), "", flags);
		/* One line: "a\nb\n" -> "a; b". */
		len = strlen(v);
		while (len > 0 && v[len - 1] == '\n')
			v[--len] = '\0';
		for (p = v; *p != '\0'; p++)
			if (*p == '\n')
				*p = ',';
	}
	if (v[0] != '\0')
		conn_fail(c, "%s: %s (%s)", what, e, v);
	else if (c->conn_errno != 0 && (ret == MBEDTLS_ERR_NET_SEND_FAILED ||
	    ret == MBEDTLS_ERR_NET_RECV_FAILED ||
	    ret == MBEDTLS_ERR_NET_CONN_RESET))
		conn_fail(c, "%s: %s", what, strerror(c->conn_errno));
	else
		conn_fail(c, "%s: %s", what, e);
}

/* Copy the subject's single CN if it is printable ASCII of 1..64 bytes. */
static char *
tls_cert_cn(const mbedtls_x509_crt *crt)
{
	const mbedtls_x509_name	*n;
	const mbedtls_x509_buf	*cn = NULL;
	char			*s;
	size_t			 i;

	for (n = &crt->subject; n != NULL; n = n->next) {
		if (n->oid.p == NULL ||
		    MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
			continue;
		if (cn != NULL)
			return NULL;	/* two CNs: ambiguous */
		cn = &n->val;
	}
	if (cn == NULL || cn->len == 0 || cn->len > CONN_CN_MAX)
		return NULL;
	for (i = 0; i < cn->len; i++)
		if (cn->p[i] < 0x20 || cn->p[i] >= 0x7f)
			return NULL;
	if ((s = malloc(cn->len + 1)) == NULL)
		return NULL;
	memcpy(s, cn->p, cn->len);
	s[cn->len] = '\0';
	return s;
}

/* Does an iPAddress SAN of crt equal the literal ip? */
static int
tls_cert_has_ip(const mbedtls_x509_crt *crt, const char *ip)
{
	const mbedtls_x509_sequence	*s;
	unsigned char			 a[16];
	size_t				 alen;

	if (inet_pton(AF_INET, ip, a) == 1)
		alen = 4;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		alen = 16;
	else
		return 0;
	if ((crt->ext_types & MBEDTLS_X509_EXT_SUBJECT_ALT_NAME) == 0)
		return 0;
	for (s = &crt->subject_alt_names; s != NULL; s = s->next)
		if (s->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    s->buf.len == alen && memcmp(s->buf.p, a, alen) == 0)
			return 1;
	return 0;
}

/* After the handshake: EKU, CN (server) and IP name (client) checks. */
static int
tls_verify_peer(struct gt_conn *c)
{
	const mbedtls_x509_crt	*crt;
	const char		*oid;
	size_t			 oidlen;
	uint32_t		 flags;

	if ((flags = mbedtls_ssl_get_verify_result(&c->conn_ssl)) != 0) {
		char v[512];

		mbedtls_x509_crt_verify_info(v, sizeof(v), "", flags);
		v[strcspn(v, "\n")] = '\0';
		conn_fail(c, "handshake failed: peer not verified (%s)", v);
		return -1;
	}
	if ((crt = mbedtls_ssl_get_peer_cert(&c->conn_ssl)) == NULL) {
		conn_fail(c, "handshake failed: no peer certificate");
		return -1;
	}
	if (c->conn_server) {
		oid = MBEDTLS_OID_CLIENT_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH);
	} else {
		oid = MBEDTLS_OID_SERVER_AUTH;
		oidlen = MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH);
	}
	/* check_extended_key_usage accepts a certificate without EKU: we do not. */
	if ((crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) == 0 ||
	    mbedtls_x509_crt_check_extended_key_usage(crt, oid, oidlen) != 0) {
		conn_fail(c, "handshake failed: peer certificate lacks "
		    "extended key usage %s", c->conn_server ? "clientAuth" :
		    "serverAuth");
		return -1;
	}
	if (c->conn_server) {
		if ((c->conn_cn = tls_cert_cn(crt)) == NULL) {
			conn_fail(c, "handshake failed: peer certificate has "
			    "no usable CN");
			return -1;
		}
	} else if (c->conn_ipname != NULL &&
	    !tls_cert_has_ip(crt, c->conn_ipname)) {
		conn_fail(c, "handshake failed: server certificate does not "
		    "name %s", c->conn_ipname);
		return -1;
	}
	return 0;
}

/* One mbedtls_ssl_handshake step; peer checks once it completes. */
static enum conn_io
tls_handshake(struct gt_conn *c)
{
	int	ret;

	ret = mbedtls_ssl_handshake(&c->conn_ssl);
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return CONN_IO_WANT_READ;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return CONN_IO_WANT_WRITE;
	if (ret != 0) {
		tls_fail(c, "handshake failed", ret);
		return CONN_IO_ERROR;
	}
	if (tls_verify_peer(c) == -1) {
		/* Best effort: tell the peer before closing. */
		(void)mbedtls_ssl_send_alert_message(&c->conn_ssl,
		    MBEDTLS_SSL_ALERT_LEVEL_FATAL,
		    MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED);
		return CONN_IO_ERROR;
	}
	c->conn_hs_done = 1;
	return CONN_IO_OK;
}

/* What a non-positive mbedtls_ssl_read result means for the caller. */
static enum conn_io
tls_read_result(struct gt_conn *c, int ret)
{
	switch (ret) {
	case MBEDTLS_ERR_SSL_WANT_READ:
		return CONN_IO_WANT_READ;
	case MBEDTLS_ERR_SSL_WANT_WRITE:
		return CONN_IO_WANT_WRITE;
	case 0:
	case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return CONN_IO_EOF;
	}
	tls_fail(c, "read", ret);
	return CONN_IO_ERROR;
}

/* One mbedtls_ssl_read of up to a record straight into input's free space. */
static enum conn_io
tls_read(struct gt_conn *c, size_t *n)
{
	struct evbuffer_iovec	v;
	int			ret;

	if (evbuffer_reserve_space(c->conn_in, CONN_RECORD, &v, 1) != 1) {
		conn_fail(c, "read: out of memory");
		return CONN_IO_ERROR;
	}
	ret = mbedtls_ssl_read(&c->conn_ssl, v.iov_base,
	    v.iov_len < CONN_RECORD ? v.iov_len : CONN_RECORD);
	if (ret > 0) {
		v.iov_len = ret;
		evbuffer_commit_space(c->conn_in, &v, 1);
		*n = ret;
		return CONN_IO_OK;
	}
	return tls_read_result(c, ret);
}

/*
 * One record from the front of output. On WANT_WRITE mbedTLS keeps the
 * encrypted record and must be called again with the same length, so the
 * bytes stay in output (conn_wlen) until ssl_write returns > 0.
 */
static enum conn_io
tls_write(struct gt_conn *c, size_t budget, size_t *n)
{
	unsigned char	*p;
	size_t		 len;
	int		 ret;

	(void)budget;
	if (c->conn_wlen == 0) {
		len = evbuffer_get_length(c->conn_out);
		if (len == 0)
			return CONN_IO_DONE;
		c->conn_wlen = len < CONN_RECORD ? len : CONN_RECORD;
	}
	if ((p = evbuffer_pullup(c->conn_out, c->conn_wlen)) == NULL) {
		conn_fail(c, "write: out of memory");
		return CONN_IO_ERROR;
	}
	ret = mbedtls_ssl_write(&c->conn_ssl, p, c->conn_wlen);
	if (ret > 0) {
		evbuffer_drain(c->conn_out, ret);
		c->conn_wlen = 0;
		*n = ret;
		return CONN_IO_OK;
	}
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return CONN_IO_WANT_WRITE;
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return CONN_IO_WANT_READ;
	tls_fail(c, "write", ret);
	return CONN_IO_ERROR;
}

/* Decrypted bytes, or a whole record, already inside mbedTLS. */
static int
tls_pending(struct gt_conn *c)
{
	return mbedtls_ssl_get_bytes_avail(&c->conn_ssl) > 0 ||
	    mbedtls_ssl_check_pending(&c->conn_ssl);
}

/* Read and drop one record while closing, up to close_notify or EOF. */
static enum conn_io
tls_discard(struct gt_conn *c, size_t *n)
{
	unsigned char	buf[CONN_RECORD];
	int		ret;

	ret = mbedtls_ssl_read(&c->conn_ssl, buf, sizeof(buf));
	if (ret > 0) {
		*n += ret;
		return CONN_IO_OK;
	}
	return tls_read_result(c, ret);
}

/* Send close_notify (again after WANT_WRITE until flushed). */
static enum conn_io
tls_close_notify(struct gt_conn *c)
{
	int	ret;

	if (!c->conn_hs_done)
		return CONN_IO_OK;
	ret = mbedtls_ssl_close_notify(&c->conn_ssl);
	if (ret == 0)
		return CONN_IO_OK;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return CONN_IO_WANT_WRITE;
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return CONN_IO_WANT_READ;
	tls_fail(c, "close_notify", ret);
	return CONN_IO_ERROR;
}

/* Release the mbedTLS session and our reference to its context. */
static void
tls_free_priv(struct gt_conn *c)
{
	if (c->conn_ssl_init)
		mbedtls_ssl_free(&c->conn_ssl);
	c->conn_ssl_init = 0;
	if (c->conn_ctx != NULL)
		gt_tls_ctx_unref(c->conn_ctx);
	c->conn_ctx = NULL;
	free(c->conn_ipname);
	c->conn_ipname = NULL;
}

/* The negotiated suite's name, or "none" before the handshake. */
static const char *
tls_cipher(const struct gt_conn *c)
{
	const char	*s;

	if (!c->conn_ssl_init ||
	    (s = mbedtls_ssl_get_ciphersuite(&c->conn_ssl)) == NULL)
		return "none";
	return s;
}

static const struct conn_ops conn_tls_ops = {
	.name = "tls",
	.handshake = tls_handshake,
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.discard = tls_discard,
	.close_notify = tls_close_notify,
	.free_priv = tls_free_priv,
	.cipher = tls_cipher,
};

/* Warn when a private key file is readable or writable by group/other. */
static void
tls_check_key_mode(const char *path)
{
	struct stat	st;

	if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
		log_warnx("tls", "key file %s is accessible by group/other "
		    "(mode %03o); it should be 0600", path,
		    (unsigned)(st.st_mode & 0777));
}

/* Shared constructor of both contexts. */
static struct gt_tls_ctx *
tls_ctx_new(int server, const char *cert, const char *key, const char *ca,
    char *err, size_t errlen)
{
	static const char	 pers[] = "gt-tls";
	struct gt_tls_ctx	*t;
	char			 e[128];
	int			 ret;

	if (errlen > 0)
		err[0] = '\0';
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->tls_refcnt = 1;
	t->tls_server = server;
	mbedtls_ssl_config_init(&t->tls_conf);
	mbedtls_x509_crt_init(&t->tls_cert);
	mbedtls_x509_crt_init(&t->tls_ca);
	mbedtls_pk_init(&t->tls_key);
	mbedtls_entropy_init(&t->tls_entropy);
	mbedtls_ctr_drbg_init(&t->tls_drbg);

	if ((ret = mbedtls_ctr_drbg_seed(&t->tls_drbg, mbedtls_entropy_func,
	    &t->tls_entropy, (const unsigned char *)pers, sizeof(pers) - 1))) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "random seed: %s", e);
		goto fail;
	}
	if (ca == NULL) {
		snprintf(err, errlen, "no CA file given");
		goto fail;
	}
	if ((ret = mbedtls_x509_crt_parse_file(&t->tls_ca, ca)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "%s: %s", ca, e);
		goto fail;
	}
	if (server && (cert == NULL || key == NULL)) {
		snprintf(err, errlen, "server needs a certificate and a key");
		goto fail;
	}
	if ((cert == NULL) != (key == NULL)) {
		snprintf(err, errlen, "certificate and key go together");
		goto fail;
	}
	if (cert != NULL) {
		if ((ret = mbedtls_x509_crt_parse_file(&t->tls_cert,
		    cert)) != 0) {
			mbedtls_strerror(ret, e, sizeof(e));
			snprintf(err, errlen, "%s: %s", cert, e);
			goto fail;
		}
		tls_check_key_mode(key);
		/* Never show key material: only the file name and the error. */
		if ((ret = mbedtls_pk_parse_keyfile(&t->tls_key, key,
		    NULL)) != 0) {
			mbedtls_strerror(ret, e, sizeof(e));
			snprintf(err, errlen, "%s: %s", key, e);
			goto fail;
		}
		if ((ret = mbedtls_pk_check_pair(&t->tls_cert.pk,
		    &t->tls_key)) != 0) {
			snprintf(err, errlen, "%s does not match %s", key, cert);
			goto fail;
		}
	}
	if ((ret = mbedtls_ssl_config_defaults(&t->tls_conf,
	    server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "ssl config: %s", e);
		goto fail;
	}
	mbedtls_ssl_conf_rng(&t->tls_conf, mbedtls_ctr_drbg_random,
	    &t->tls_drbg);
	mbedtls_ssl_conf_min_version(&t->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&t->tls_conf, MBEDTLS_SSL_MAJOR_VERSION_3,
	    MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_ciphersuites(&t->tls_conf, tls_ciphersuites);
	mbedtls_ssl_conf_authmode(&t->tls_conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_ca_chain(&t->tls_conf, &t->tls_ca, NULL);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	mbedtls_ssl_conf_renegotiation(&t->tls_conf,
	    MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
#if defined(MBEDTLS_SSL_SESSION_TICKETS)
	if (!server)
		mbedtls_ssl_conf_session_tickets(&t->tls_conf,
		    MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
#endif
	if (cert != NULL && (ret = mbedtls_ssl_conf_own_cert(&t->tls_conf,
	    &t->tls_cert, &t->tls_key)) != 0) {
		mbedtls_strerror(ret, e, sizeof(e));
		snprintf(err, errlen, "own certificate: %s", e);
		goto fail;
	}
	return t;
fail:
	gt_tls_ctx_unref(t);
	return NULL;
}

/* Server material: own pair, and the CA that must have signed clients. */
struct gt_tls_ctx *
gt_tls_ctx_server(const char *cert, const char *key, const char *client_ca,
    char *err, size_t errlen)
{
	return tls_ctx_new(1, cert, key, client_ca, err, errlen);
}

/* cert and key may both be NULL: a client without a certificate (tests). */
struct gt_tls_ctx *
gt_tls_ctx_client(const char *cert, const char *key, const char *ca,
    char *err, size_t errlen)
{
	return tls_ctx_new(0, cert, key, ca, err, errlen);
}

/* Another holder of the context. */
void
gt_tls_ctx_ref(struct gt_tls_ctx *t)
{
	t->tls_refcnt++;
}

/* Drop a holder; the last one frees (keys are zeroised by mbedTLS). */
void
gt_tls_ctx_unref(struct gt_tls_ctx *t)
{
	if (t == NULL || --t->tls_refcnt > 0)
		return;
	mbedtls_ssl_config_free(&t->tls_conf);
	mbedtls_x509_crt_free(&t->tls_cert);
	mbedtls_x509_crt_free(&t->tls_ca);
	mbedtls_pk_free(&t->tls_key);
	mbedtls_ctr_drbg_free(&t->tls_drbg);
	mbedtls_entropy_free(&t->tls_entropy);
	free(t);
}

/* Shared part of the TLS constructors. */
static struct gt_conn *
conn_tls_new(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, const char *server_name, gt_conn_cb *cb, void *arg)
{
	struct gt_conn	*c;
	unsigned char	 a[16];
	int		 ret;

	if (t == NULL) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if ((c = conn_new(base, fd, &conn_tls_ops, cb, arg)) == NULL)
		return NULL;
	gt_tls_ctx_ref(t);
	c->conn_ctx = t;
	c->conn_server = t->tls_server;
	mbedtls_ssl_init(&c->conn_ssl);
	c->conn_ssl_init = 1;
	if ((ret = mbedtls_ssl_setup(&c->conn_ssl, &t->tls_conf)) != 0)
		goto fail;
	if (!t->tls_server) {
		/*
		 * mbedTLS 2.28 matches names against dNSName SANs only: an IP
		 * literal is checked against iPAddress SANs after the handshake.
		 */
		if (server_name != NULL && (inet_pton(AF_INET, server_name,
		    a) == 1 || inet_pton(AF_INET6, server_name, a) == 1)) {
			if ((c->conn_ipname = strdup(server_name)) == NULL)
				goto fail;
			server_name = NULL;
		} else if (server_name == NULL) {
			/* Refuse to skip the name check silently. */
			goto fail;
		}
		if (server_name != NULL && (ret = mbedtls_ssl_set_hostname(
		    &c->conn_ssl, server_name)) != 0)
			goto fail;
	}
	mbedtls_ssl_set_bio(&c->conn_ssl, c, tls_send, tls_recv, NULL);
	return c;
fail:
	conn_unref(c);
	return NULL;
}

/* ---- public interface --------------------------------------------------- */

/* Plain TCP on fd (owned from now on). */
struct gt_conn *
gt_conn_plain(struct event_base *base, evutil_socket_t fd, gt_conn_cb *cb,
    void *arg)
{
	return conn_new(base, fd, &conn_plain_ops, cb, arg);
}

/* TLS server side on fd (owned); t must be a server context. */
struct gt_conn *
gt_conn_tls_server(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, gt_conn_cb *cb, void *arg)
{
	if (t != NULL && !t->tls_server) {
		close(fd);
		return NULL;
	}
	return conn_tls_new(base, fd, t, NULL, cb, arg);
}

/* TLS client side on fd (owned); server_name is required. */
struct gt_conn *
gt_conn_tls_client(struct event_base *base, evutil_socket_t fd,
    struct gt_tls_ctx *t, const char *server_name, gt_conn_cb *cb, void *arg)
{
	if (t != NULL && t->tls_server) {
		close(fd);
		return NULL;
	}
	return conn_tls_new(base, fd, t, server_name, cb, arg);
}

/* Change who hears the events. */
void
gt_conn_setcb(struct gt_conn *c, gt_conn_cb *cb, void *arg)
{
	c->conn_cb = cb;
	c->conn_arg = arg;
}

/* Plaintext received. */
struct evbuffer *
gt_conn_input(struct gt_conn *c)
{
	return c->conn_in;
}

/* Plaintext to send; call gt_conn_kick after appending. */
struct evbuffer *
gt_conn_output(struct gt_conn *c)
{
	return c->conn_out;
}

/* Schedule a write pass: whatever is appended before the loop runs goes together. */
void
gt_conn_kick(struct gt_conn *c)
{
	if (c->conn_dead)
		return;
	if (evbuffer_get_length(c->conn_out) > c->conn_lowat)
		c->conn_above = 1;
	conn_update(c);
}

/* Low-water mark for DRAINED. */
void
gt_conn_set_lowat(struct gt_conn *c, size_t lowat)
{
	c->conn_lowat = lowat;
}

/* Stop or resume moving bytes into input. */
void
gt_conn_read_enable(struct gt_conn *c, int on)
{
	if (c->conn_dead)
		return;
	on = on != 0;
	if (c->conn_state == CONN_CLOSING || c->conn_state == CONN_CLOSED)
		on = 0;
	if (on == c->conn_reading)
		return;
	c->conn_reading = on;
	if (!on)
		event_del(c->conn_resched);
	else if (c->conn_state == CONN_OPEN && c->conn_ops->pending(c))
		conn_resched_read(c);
	conn_update(c);
}

/* Arm or disarm the READY deadline. */
void
gt_conn_set_handshake_timeout(struct gt_conn *c, int secs)
{
	struct timeval	tv;

	if (c->conn_dead)
		return;
	if (secs <= 0 || c->conn_state >= CONN_OPEN) {
		if (c->conn_tmo != NULL)
			event_del(c->conn_tmo);
		return;
	}
	if (c->conn_tmo == NULL &&
	    (c->conn_tmo = evtimer_new(c->conn_base, conn_timeoutcb,
	    c)) == NULL)
		return;
	tv.tv_sec = secs;
	tv.tv_usec = 0;
	evtimer_add(c->conn_tmo, &tv);
}

/* Begin a clean close: flush, close_notify, FIN, then EOF or ERROR. */
void
gt_conn_shutdown(struct gt_conn *c)
{
	if (c->conn_dead || c->conn_state >= CONN_CLOSING)
		return;
	c->conn_reading = 0;
	event_del(c->conn_resched);
	if (c->conn_state != CONN_OPEN) {
		c->conn_shut_req = 1;
		return;
	}
	c->conn_state = CONN_CLOSING;
	c->conn_closing = 0;
	c->conn_rd_wants_w = 0;
	conn_update(c);
}

/* The caller is done: free now, or when our code on the stack returns. */
void
gt_conn_free(struct gt_conn *c)
{
	if (c == NULL || c->conn_dead)
		return;
	c->conn_dead = 1;
	c->conn_cb = NULL;
	event_del(c->conn_rev);
	event_del(c->conn_wev);
	event_del(c->conn_resched);
	event_del(c->conn_wdefer);
	if (c->conn_tmo != NULL)
		event_del(c->conn_tmo);
	conn_unref(c);
}

/* Whether c runs the TLS table. */
int
gt_conn_is_tls(const struct gt_conn *c)
{
	return c->conn_ops == &conn_tls_ops;
}

/* The verified client CN (server side, after READY), else NULL. */
const char *
gt_conn_peer_cn(const struct gt_conn *c)
{
	return c->conn_cn;
}

/* "ip:port" of the peer. */
const char *
gt_conn_peer_addr(const struct gt_conn *c)
{
	return c->conn_addr;
}

/* Negotiated suite, or "plain". */
const char *
gt_conn_cipher(const struct gt_conn *c)
{
	return c->conn_ops->cipher(c);
}

/* Why the last ERROR happened. */
const char *
gt_conn_error(const struct gt_conn *c)
{
	return c->conn_err[0] != '\0' ? c->conn_err : "no error";
}
