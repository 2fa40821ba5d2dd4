/*
 * sockio.h: socket reads and writes around a socket bufferevent, for the
 * two places where libevent 2.1's own are too slow: its evbuffer_read takes
 * at most 4 KiB a call (after an FIONREAD), and its writes wait for the next
 * loop pass. The bufferevent still owns the socket and its write backlog.
 */
#ifndef GT_SOCKIO_H
#define GT_SOCKIO_H

#include <stddef.h>
#include <sys/types.h>
#include <event2/util.h>

struct bufferevent;
struct evbuffer;

/*
 * One readv of up to want bytes from fd, appended to dst (which may be a
 * socket bufferevent's input or output). Returns bytes read, 0 at EOF, -1
 * with errno (EAGAIN when there was nothing).
 */
ssize_t	gt_sockio_read(evutil_socket_t fd, struct evbuffer *dst, size_t want);
/*
 * Send what bev's output holds now, without blocking or SIGPIPE; what the
 * kernel does not take stays for the bufferevent, which also reports any
 * error. Returns bytes sent (0 if none).
 */
size_t	gt_sockio_write_now(struct bufferevent *bev);
/*
 * Adapt a read size: double it after a read that filled it, halve it after
 * one that used under a quarter, within [lo, hi].
 */
size_t	gt_sockio_adapt(size_t size, size_t want, ssize_t got, size_t lo, size_t hi);

#endif
