/*
 * ep_plain.c: the plain TCP table of an endpoint: readv straight into the
 * input's free space, writev from the output, FIN for half-close.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "ep_local.h"

/* No handshake: connected is ready. */
static enum ep_io
plain_handshake(struct gt_ep *c)
{
	(void)c;
	return EP_IO_OK;
}

/*
 * One large read straight into input's free space (evbuffer_read would
 * first ask the kernel how much is there: one more syscall per read).
 */
static enum ep_io
plain_read(struct gt_ep *c, size_t want, size_t *n)
{
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	ssize_t			 r;
	size_t			 left;
	int			 nv, i;

	nv = evbuffer_reserve_space(c->ep_in, want, v, 2);
	if (nv <= 0) {
		ep_fail(c, "read: out of memory");
		return EP_IO_ERROR;
	}
	/* The reservation may be larger than asked: read no more than want. */
	for (i = 0, left = want; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len < left ? v[i].iov_len : left;
		left -= iov[i].iov_len;
	}
	r = readv(c->ep_fd, iov, nv);
	if (r > 0) {
		left = (size_t)r;
		for (i = 0; i < nv && left > 0; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		evbuffer_commit_space(c->ep_in, v, i);
		*n = (size_t)r;
		return (size_t)r >= want ? EP_IO_OK : EP_IO_DONE;
	}
	i = errno;
	evbuffer_commit_space(c->ep_in, v, 0);
	errno = i;
	if (r == 0)
		return EP_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return EP_IO_WANT_READ;
	ep_fail(c, "read: %s", strerror(errno));
	return EP_IO_ERROR;
}

/* One writev of as much of output as the budget allows. */
static enum ep_io
plain_write(struct gt_ep *c, size_t budget, size_t *n)
{
	int	r;

	r = evbuffer_write_atmost(c->ep_out, c->ep_fd, budget);
	if (r > 0) {
		*n = r;
		return evbuffer_get_length(c->ep_out) > 0 ?
		    EP_IO_DONE : EP_IO_OK;
	}
	if (r == 0)
		return EP_IO_OK;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return EP_IO_WANT_WRITE;
	ep_fail(c, "write: %s", strerror(errno));
	return EP_IO_ERROR;
}

/* The kernel holds plain bytes; nothing pending here. */
static int
plain_pending(struct gt_ep *c)
{
	(void)c;
	return 0;
}

/* Read and drop while closing. */
static enum ep_io
plain_discard(struct gt_ep *c, size_t *n)
{
	char	buf[16384];
	ssize_t	r;

	r = recv(c->ep_fd, buf, sizeof(buf), 0);
	if (r > 0) {
		*n += r;
		return EP_IO_OK;
	}
	if (r == 0)
		return EP_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return EP_IO_WANT_READ;
	ep_fail(c, "read: %s", strerror(errno));
	return EP_IO_ERROR;
}

/* No goodbye message in plain TCP. */
static enum ep_io
plain_close_notify(struct gt_ep *c)
{
	(void)c;
	return EP_IO_OK;
}

/* The name shown for a plain connection. */
static const char *
plain_cipher(const struct gt_ep *c)
{
	(void)c;
	return "plain";
}

const struct ep_ops ep_plain_ops = {
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

/* Plain TCP on fd (owned from now on), which may still be connecting. */
struct gt_ep *
gt_ep_plain(struct event_base *base, evutil_socket_t fd, gt_ep_cb *cb,
    void *arg)
{
	return ep_new(base, fd, &ep_plain_ops, sizeof(struct gt_ep), cb, arg);
}

/* Plain TCP on a connected fd (owned): open at once, no READY event. */
struct gt_ep *
gt_ep_plain_open(struct event_base *base, evutil_socket_t fd, gt_ep_cb *cb,
    void *arg)
{
	struct gt_ep *c;

	if ((c = ep_new(base, fd, &ep_plain_ops, sizeof(*c), cb, arg)) != NULL)
		ep_set_open(c);
	return c;
}
