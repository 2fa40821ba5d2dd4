/* sockio.c: fast socket reads and writes beside a socket bufferevent. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "gt/sockio.h"

ssize_t
gt_sockio_read(evutil_socket_t fd, struct evbuffer *dst, size_t want)
{
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	ssize_t			 r;
	size_t			 left;
	int			 nv, i, err;

	/* A socket bufferevent freezes its input's end: this is its reader now. */
	evbuffer_unfreeze(dst, 0);
	nv = evbuffer_reserve_space(dst, (ev_ssize_t)want, v, 2);
	if (nv <= 0) {
		evbuffer_freeze(dst, 0);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < nv; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	r = readv(fd, iov, nv);
	err = errno;
	left = r > 0 ? (size_t)r : 0;
	for (i = 0; i < nv; i++) {
		if (v[i].iov_len > left)
			v[i].iov_len = left;
		left -= v[i].iov_len;
	}
	evbuffer_commit_space(dst, v, r > 0 ? nv : 0);
	evbuffer_freeze(dst, 0);
	errno = err;
	return r;
}

size_t
gt_sockio_write_now(struct bufferevent *bev)
{
	struct evbuffer		*out = bufferevent_get_output(bev);
	struct evbuffer_iovec	 v[8];
	struct iovec		 iov[8];
	struct msghdr		 mh;
	ssize_t			 w;
	int			 n, i;

	n = evbuffer_peek(out, -1, NULL, v, 8);
	if (n <= 0)
		return 0;
	if (n > 8)
		n = 8;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = v[i].iov_base;
		iov[i].iov_len = v[i].iov_len;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = (size_t)n;
	w = sendmsg(bufferevent_getfd(bev), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w <= 0)
		return 0;
	/* A socket bufferevent freezes its output's front for itself. */
	evbuffer_unfreeze(out, 1);
	evbuffer_drain(out, (size_t)w);
	evbuffer_freeze(out, 1);
	return (size_t)w;
}

size_t
gt_sockio_adapt(size_t size, size_t want, ssize_t got, size_t lo, size_t hi)
{
	if (got > 0 && (size_t)got == want && size < hi)
		size *= 2;
	else if (got > 0 && (size_t)got < want / 4 && size > lo)
		size /= 2;
	return size < lo ? lo : size > hi ? hi : size;
}
