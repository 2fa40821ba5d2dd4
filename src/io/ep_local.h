/*
 * ep_local.h: the inside of an endpoint, shared by the state machine
 * (endpoint.c) and the I/O tables that plug into it: plain TCP (ep_plain.c),
 * TLS (ep_tls.c, whose endpoint embeds this one), and the in-memory table
 * the fuzzers drive (ep_mem.c). Nothing outside src/io includes it.
 */
#ifndef GT_EP_LOCAL_H
#define GT_EP_LOCAL_H

#include <sys/types.h>
#include <netinet/in.h>
#include <stddef.h>

#include <event2/util.h>

#include "gt/endpoint.h"
#include "gt/rate.h"

#define EP_READ_MIN		(16 * 1024)	/* first read; sizes adapt from here */
#define EP_READ_MAX		(256 * 1024)	/* one read at most */
#define EP_RECORD		(16384 - 128)	/* TLS: one record, one Data frame, one 16 KiB chain */
#define EP_CHAIN_SLACK		128		/* a read of 2^n - this fills a 2^n chain */
#define EP_READ_BUDGET		(256 * 1024)	/* per event, then yield */
#define EP_WRITE_BUDGET		(1024 * 1024)	/* per event, then yield */
#define EP_CN_MAX		64

enum ep_state {
	EP_CONNECTING,		/* waiting for EV_WRITE, then SO_ERROR */
	EP_HANDSHAKE,		/* TLS handshake in progress */
	EP_OPEN,		/* READY reported; data flows (maybe one way only) */
	EP_CLOSING,		/* gt_ep_shutdown: flush, close_notify, FIN, wait EOF */
	EP_CLOSED,		/* EOF or ERROR reported; no more I/O */
};

/* Results of one I/O step of a table. */
enum ep_io {
	EP_IO_OK,		/* progress; may call again */
	EP_IO_DONE,		/* progress; the socket is probably exhausted */
	EP_IO_WANT_READ,	/* wait until the socket is readable */
	EP_IO_WANT_WRITE,	/* wait until the socket is writable */
	EP_IO_EOF,		/* the peer closed */
	EP_IO_ERROR,		/* c->ep_err holds why */
};

/* What differs between plain TCP, TLS and memory. */
struct ep_ops {
	const char	*name;
	/* One handshake step: OK when done, WANT_*, or ERROR. */
	enum ep_io	(*handshake)(struct gt_ep *);
	/* Append at most want bytes of plaintext to input; *n gets the size. */
	enum ep_io	(*read)(struct gt_ep *, size_t want, size_t *n);
	/* Send one chunk from the front of output; *n gets what left it. */
	enum ep_io	(*write)(struct gt_ep *, size_t budget, size_t *n);
	/* Bytes received and decoded but not yet in input. */
	int		(*pending)(struct gt_ep *);
	/* Read and drop one chunk while closing; *n grows by its size. */
	enum ep_io	(*discard)(struct gt_ep *, size_t *n);
	/* One step of the closing goodbye (close_notify): OK when sent. */
	enum ep_io	(*close_notify)(struct gt_ep *);
	void		(*free_priv)(struct gt_ep *);
	const char	*(*cipher)(const struct gt_ep *);
};

struct gt_ep {
	const struct ep_ops	*ep_ops;
	struct event_base	*ep_base;
	evutil_socket_t		 ep_fd;		/* -1: an in-memory endpoint */
	struct event		*ep_rev;	/* EV_READ|EV_PERSIST */
	struct event		*ep_wev;	/* EV_WRITE|EV_PERSIST */
	struct event		*ep_tmo;	/* handshake timeout */
	struct event		*ep_resched;	/* zero timer: read pass next loop */
	struct event		*ep_wdefer;	/* write pass at the end of this loop pass */
	int			 ep_wblocked;	/* the socket refused more: wait EV_WRITE */
	int			 ep_r_on, ep_w_on;
	struct evbuffer		*ep_in;
	struct evbuffer		*ep_out;
	gt_ep_cb		*ep_cb;
	void			*ep_arg;

	enum ep_state		 ep_state;
	int			 ep_reading;	/* caller wants input */
	int			 ep_eof;	/* peer closed its side */
	int			 ep_halfclose;	/* EOF leaves us writing (streams) */
	int			 ep_wshut_req;	/* shut our write side once output drains */
	int			 ep_wshut;	/* done: FIN sent */
	int			 ep_hs_want;	/* EP_IO_WANT_* during handshake */
	int			 ep_rd_wants_w; /* read pass blocked on EV_WRITE */
	int			 ep_wr_wants_r; /* write pass blocked on EV_READ */
	int			 ep_closing;	/* 0 flush, 1 close_notify, 2 wait EOF */
	int			 ep_shut_req;	/* gt_ep_shutdown before OPEN */
	size_t			 ep_lowat;
	int			 ep_above;	/* output was above lowat */
	size_t			 ep_rd_hiwat;	/* input we fill up to; 0 = no cap */
	size_t			 ep_rdsize;	/* next read's size, adapts */
	int			 ep_in_cb;	/* the input drain callback is set */

	unsigned		 ep_refcnt;
	int			 ep_dead;	/* gt_ep_free called */

	int			 ep_errno;	/* from the bio callbacks */
	size_t			 ep_wlen;	/* bytes a write step holds in flight */
	char			 ep_addr[INET6_ADDRSTRLEN + 16];
	char			 ep_err[256];
	char			*ep_cn;		/* verified peer name (TLS server) */

	/* bandwidth_limit: buckets paced by (referenced, NULL: none) */
	struct gt_rate		*ep_rrate;	/* reading the socket */
	struct gt_rate		*ep_wrate;	/* writing it (while OPEN) */
	struct gt_rate_waiter	 ep_rwait;
	struct gt_rate_waiter	 ep_wwait;
	int			 ep_rd_throttled; /* queued on ep_rrate: no EV_READ */
	int			 ep_wr_throttled; /* queued on ep_wrate: no writes */
	unsigned char		 ep_serial[GT_EP_SERIAL_MAX];	/* its certificate's serial */
	size_t			 ep_serial_len;	/* 0: none */
	unsigned char		*ep_issuer;	/* its issuer's name, DER */
	size_t			 ep_issuer_len;
};

/* endpoint.c: the state machine the tables plug into. */
struct gt_ep *ep_new(struct event_base *, evutil_socket_t fd,
	    const struct ep_ops *, size_t size, gt_ep_cb *, void *arg);
void	ep_ref(struct gt_ep *);
void	ep_unref(struct gt_ep *);
void	ep_fail(struct gt_ep *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* Report an event to the owner; nonzero when it freed c meanwhile. */
int	ep_emit(struct gt_ep *, enum gt_ep_ev);
/* Arm the socket events the state needs now. */
void	ep_update(struct gt_ep *);
/* Enter OPEN at once (a socket that is already connected, no handshake). */
void	ep_set_open(struct gt_ep *);

extern const struct ep_ops ep_plain_ops;
extern const struct ep_ops ep_tls_ops;
extern const struct ep_ops ep_mem_ops;

#endif
