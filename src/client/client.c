/*
 * client.c: gt-client's life: connect out to the server (mutual TLS or
 * plain), run the tunnel's mux, dial local targets for the server without
 * ever blocking the loop, and reconnect with backoff after any loss.
 */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gt/addr.h"
#include "gt/client.h"
#include "gt/dialer.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/proxy_hdr.h"
#include "gt/endpoint.h"

#define CLIENT_CONNECT_TIMEOUT		15	/* seconds, every server address */
#define CLIENT_HANDSHAKE_TIMEOUT	15	/* seconds */
#define CLIENT_SESSION_LASTED		10	/* seconds up that reset the backoff */
#define CLIENT_BACKOFF_MAX_MS		30000
#define CLIENT_BACKOFF_MIN_MS		250

struct client_dial {
	TAILQ_ENTRY(client_dial)	 d_link;
	struct gt_client		*d_client;
	struct gt_mux			*d_mux;
	uint32_t			 d_id;
	uint16_t			 d_port;
	char				 d_host[256];
	struct gt_dial			*d_dial;	/* until it calls back */
	struct gt_proxy_addr		 d_pp;		/* the PROXY header's addresses */
	int				 d_has_pp;	/* write it to the target first */
};

struct gt_client {
	struct event_base		*c_base;
	struct evdns_base		*c_dns;
	struct gt_client_opts		 c_opts;
	char				 c_server[300];	/* host:port, for logs */
	struct gt_tls_ctx		*c_tls;
	struct gt_dial			*c_dial;	/* while dialling the server */
	struct gt_ep			*c_conn;	/* during the handshake */
	struct gt_mux			*c_mux;		/* while up */
	struct event			*c_retry;
	unsigned			 c_attempt;
	time_t				 c_up_since;
	int				 c_stopping;
	TAILQ_HEAD(, client_dial)	 c_dials;
};

static void	client_connect(struct gt_client *);
static void	client_retry(struct gt_client *);

/* Seconds on a clock that never jumps. */
static time_t
client_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

long
gt_client_backoff_ms(unsigned attempt, uint32_t rnd)
{
	long cap = 1000;

	/* 1 s doubling to 30 s; full jitter spreads a crowd of clients. */
	while (attempt-- > 0 && cap < CLIENT_BACKOFF_MAX_MS)
		cap *= 2;
	if (cap > CLIENT_BACKOFF_MAX_MS)
		cap = CLIENT_BACKOFF_MAX_MS;
	cap = (long)(rnd % (uint32_t)(cap + 1));
	return cap < CLIENT_BACKOFF_MIN_MS ? CLIENT_BACKOFF_MIN_MS : cap;
}

/* Map a dial's error (an errno, or a resolver's) to the refusal code sent back to the server. */
static uint8_t
client_status_for(int err)
{
	if (GT_DIAL_ERR_DNS(err))
		return GT_STATUS_DNS;
	switch (err) {
	case ECONNREFUSED:
		return GT_STATUS_REFUSED;
	case ETIMEDOUT:
		return GT_STATUS_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		return GT_STATUS_UNREACHABLE;
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
		return GT_STATUS_RESOURCE;
	default:
		return GT_STATUS_FAILED;
	}
}

/* The one way a dial ends. */
static void
dial_free(struct client_dial *d)
{
	TAILQ_REMOVE(&d->d_client->c_dials, d, d_link);
	gt_dial_cancel(d->d_dial);
	free(d);
}

/* Give up on a dial and tell the server why. */
static void
dial_fail(struct client_dial *d, uint8_t status, const char *why)
{
	log_warnx("client", "connect to %s:%u for stream %u failed: %s",
	    d->d_host, d->d_port, d->d_id, why);
	gt_mux_refuse(d->d_mux, d->d_id, status);
	dial_free(d);
}

/* The target is connected: its socket goes to the stream. */
static void
client_dial_done(struct client_dial *d, evutil_socket_t fd)
{
	struct gt_ep	*ep;
	uint8_t		 hdr[GT_PROXY_HDR_MAX];
	int		 n = 0;

	log_debug("client", "stream %u connected to %s:%u", d->d_id, d->d_host,
	    d->d_port);
	if (d->d_has_pp &&
	    (n = gt_proxy_hdr_encode(&d->d_pp, hdr, sizeof(hdr))) <= 0) {
		evutil_closesocket(fd);
		gt_mux_refuse(d->d_mux, d->d_id, GT_STATUS_FAILED);
	} else if ((ep = gt_ep_plain_open(d->d_client->c_base, fd, NULL,
	    NULL)) == NULL)
		gt_mux_refuse(d->d_mux, d->d_id, GT_STATUS_RESOURCE);
	/* The header is the target's first bytes, before any stream data. */
	else if (n > 0 && evbuffer_add(gt_ep_output(ep), hdr, (size_t)n) != 0) {
		gt_ep_free(ep);
		gt_mux_refuse(d->d_mux, d->d_id, GT_STATUS_RESOURCE);
	} else {
		if (n > 0)
			gt_ep_kick(ep);
		(void)gt_mux_accept(d->d_mux, d->d_id, ep);
	}
	dial_free(d);
}

/* The dialer connected to the target, or gave up on it. */
static void
client_dial_cb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct client_dial *d = arg;

	d->d_dial = NULL;	/* gone when this returns */
	if (fd == -1) {
		dial_fail(d, client_status_for(err), why);
		return;
	}
	client_dial_done(d, fd);
}

/* The server decides how often we refuse: the lines are rate limited. */
static struct gt_logrl	client_rl_refused;

/* The server asks for host:port: check -allow, then dial without blocking. */
static void
client_connect_request(struct gt_mux *mux, uint32_t id, const char *host,
    uint16_t port, const struct gt_proxy_addr *pp, void *arg)
{
	struct gt_client	*c = arg;
	struct client_dial	*d;
	int			 e;

	if (!gt_allow_match(&c->c_opts.allow, host, port)) {
		gt_log_rl(&client_rl_refused, GT_LOG_WARN, "client",
		    c->c_server, "refused stream %u to %s:%u: not in -allow",
		    id, host, port);
		gt_mux_refuse(mux, id, GT_STATUS_DENIED);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		gt_mux_refuse(mux, id, GT_STATUS_RESOURCE);
		return;
	}
	d->d_client = c;
	d->d_mux = mux;
	d->d_id = id;
	d->d_port = port;
	if (pp != NULL) {
		d->d_pp = *pp;
		d->d_has_pp = 1;
	}
	snprintf(d->d_host, sizeof(d->d_host), "%s", host);
	TAILQ_INSERT_TAIL(&c->c_dials, d, d_link);
	/* Every address of the name in turn; the callback never runs in here. */
	d->d_dial = gt_dial_start(c->c_base, c->c_dns, host, port,
	    c->c_opts.dial_timeout, client_dial_cb, d);
	if (d->d_dial == NULL) {
		e = errno;
		dial_fail(d, client_status_for(e), strerror(e));
	}
}

/* Cancel every dial of the tunnel that went away. */
static void
client_cancel_dials(struct gt_client *c)
{
	struct client_dial *d;

	while ((d = TAILQ_FIRST(&c->c_dials)) != NULL)
		dial_free(d);
}

/* The tunnel ended: clean up and come back later. */
static void
client_mux_closed(struct gt_mux *mux, const char *why, void *arg)
{
	struct gt_client *c = arg;

	log_warnx("client", "tunnel to %s lost: %s", c->c_server, why);
	client_cancel_dials(c);
	if (c->c_up_since != 0 &&
	    client_now() - c->c_up_since >= CLIENT_SESSION_LASTED)
		c->c_attempt = 0;
	c->c_up_since = 0;
	c->c_mux = NULL;
	gt_mux_free(mux);
	client_retry(c);
}

/* Connect and handshake events. */
static void
client_conn_cb(struct gt_ep *conn, enum gt_ep_ev ev, void *arg)
{
	struct gt_client	*c = arg;
	struct gt_mux_params	 p;
	struct gt_mux_cbs	 cbs;

	switch (ev) {
	case GT_EP_EV_READY:
		c->c_conn = NULL;
		memset(&p, 0, sizeof(p));
		p.role = GT_MUX_CLIENT;
		p.name = c->c_server;
		p.caps = GT_CAP_ALL;
		p.window = c->c_opts.window;
		p.buffer = c->c_opts.buffer;
		p.out_max = c->c_opts.output_max;
		p.max_streams = c->c_opts.max_sessions;
		memset(&cbs, 0, sizeof(cbs));
		cbs.connect_request = client_connect_request;
		cbs.closed = client_mux_closed;
		log_info("client", "connected to %s (%s)", c->c_server,
		    gt_ep_cipher(conn));
		c->c_up_since = client_now();
		if ((c->c_mux = gt_mux_new(c->c_base, conn, &p, &cbs, c)) == NULL) {
			log_warnx("client", "cannot start the tunnel");
			client_retry(c);
		}
		break;
	case GT_EP_EV_ERROR:
	case GT_EP_EV_EOF:
		log_warnx("client", "connection to %s failed: %s", c->c_server,
		    ev == GT_EP_EV_EOF ? "closed by server" : gt_ep_error(conn));
		c->c_conn = NULL;
		gt_ep_free(conn);
		client_retry(c);
		break;
	default:
		break;
	}
}

/* Connected to the server: start the handshake (or, plain, the tunnel). */
static void
client_server_open(struct gt_client *c, evutil_socket_t fd)
{
	if (c->c_tls != NULL)
		c->c_conn = gt_ep_tls_client(c->c_base, fd, c->c_tls,
		    c->c_opts.server_name, client_conn_cb, c);
	else
		c->c_conn = gt_ep_plain(c->c_base, fd, client_conn_cb, c);
	if (c->c_conn == NULL) {
		log_warnx("client", "cannot set up the connection");
		client_retry(c);
		return;
	}
	gt_ep_set_handshake_timeout(c->c_conn, CLIENT_HANDSHAKE_TIMEOUT);
}

/* The dialer reached the server at one of its addresses, or at none. */
static void
client_server_dial_cb(evutil_socket_t fd, int err, const char *why, void *arg)
{
	struct gt_client *c = arg;

	c->c_dial = NULL;	/* gone when this returns */
	if (fd == -1) {
		if (GT_DIAL_ERR_DNS(err))
			log_warnx("client", "cannot resolve %s: %s",
			    c->c_opts.server_host, why);
		else
			log_warnx("client", "connect to %s: %s", c->c_server,
			    why);
		client_retry(c);
		return;
	}
	client_server_open(c, fd);
}

/* One connection attempt: every address of the server in turn. */
static void
client_connect(struct gt_client *c)
{
	if (c->c_stopping)
		return;
	log_info("client", "connecting to %s", c->c_server);
	c->c_dial = gt_dial_start(c->c_base, c->c_dns, c->c_opts.server_host,
	    c->c_opts.server_port, CLIENT_CONNECT_TIMEOUT,
	    client_server_dial_cb, c);
	if (c->c_dial == NULL) {
		log_warn("client", "cannot dial %s", c->c_server);
		client_retry(c);
	}
}

/* Timer: try again. */
static void
client_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	client_connect(arg);
}

/* Schedule the next attempt with exponential backoff and jitter. */
static void
client_retry(struct gt_client *c)
{
	struct timeval	tv;
	uint32_t	rnd;
	long		ms;

	if (c->c_stopping)
		return;
	evutil_secure_rng_get_bytes(&rnd, sizeof(rnd));
	ms = gt_client_backoff_ms(c->c_attempt, rnd);
	if (c->c_attempt < 16)
		c->c_attempt++;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	log_info("client", "reconnecting in %ld ms", ms);
	evtimer_add(c->c_retry, &tv);
}

struct gt_client *
gt_client_new(struct event_base *base, struct evdns_base *dns,
    const struct gt_client_opts *o, char *err, size_t errlen)
{
	struct gt_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->c_base = base;
	c->c_dns = dns;
	c->c_opts = *o;
	if (c->c_opts.dial_timeout <= 0)
		c->c_opts.dial_timeout = 8;
	TAILQ_INIT(&c->c_dials);
	(void)gt_addr_join(o->server_host, o->server_port, c->c_server,
	    sizeof(c->c_server));
	if (!o->no_tls && (c->c_tls = gt_tls_ctx_client(o->cert, o->key, o->ca,
	    err, errlen)) == NULL) {
		free(c);
		return NULL;
	}
	if ((c->c_retry = evtimer_new(base, client_retry_cb, c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		gt_client_free(c);
		return NULL;
	}
	return c;
}

void
gt_client_start(struct gt_client *c)
{
	client_connect(c);
}

void
gt_client_free(struct gt_client *c)
{
	if (c == NULL)
		return;
	c->c_stopping = 1;
	client_cancel_dials(c);
	gt_dial_cancel(c->c_dial);
	if (c->c_mux != NULL)
		gt_mux_free(c->c_mux);
	if (c->c_conn != NULL)
		gt_ep_free(c->c_conn);
	if (c->c_retry != NULL)
		event_free(c->c_retry);
	if (c->c_tls != NULL)
		gt_tls_ctx_unref(c->c_tls);
	free(c);
}
