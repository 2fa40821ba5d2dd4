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
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include "gt/client.h"
#include "gt/log.h"
#include "gt/mux.h"
#include "gt/proto.h"
#include "gt/endpoint.h"

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
	evutil_socket_t			 d_fd;
	struct event			*d_ev;
	struct evdns_getaddrinfo_request *d_req;
	int				 d_in_dns;	/* resolver callback still due */
	int				 d_dead;	/* cancelled while resolving */
};

struct gt_client {
	struct event_base		*c_base;
	struct evdns_base		*c_dns;
	struct gt_client_opts		 c_opts;
	char				 c_server[300];	/* host:port, for logs */
	struct gt_tls_ctx		*c_tls;
	struct gt_ep			*c_conn;	/* during connect/handshake */
	struct gt_mux			*c_mux;		/* while up */
	struct event			*c_retry;
	struct evdns_getaddrinfo_request *c_req;
	int				 c_in_dns;
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

/* Map a connect errno to the refusal code sent back to the server. */
static uint8_t
client_status_for(int err)
{
	switch (err) {
	case ECONNREFUSED:
		return GT_STATUS_REFUSED;
	case ETIMEDOUT:
		return GT_STATUS_TIMEOUT;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		return GT_STATUS_UNREACHABLE;
	default:
		return GT_STATUS_FAILED;
	}
}

/* The one way a dial ends. */
static void
dial_free(struct client_dial *d)
{
	TAILQ_REMOVE(&d->d_client->c_dials, d, d_link);
	if (d->d_ev != NULL)
		event_free(d->d_ev);
	if (d->d_fd != -1)
		evutil_closesocket(d->d_fd);
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

/* Connect finished, failed or timed out. */
static void
dial_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client_dial	*d = arg;
	struct gt_ep		*ep;
	int			 err = 0;
	socklen_t		 len = sizeof(err);

	if (what & EV_TIMEOUT) {
		dial_fail(d, GT_STATUS_TIMEOUT, "timed out");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		dial_fail(d, client_status_for(err), strerror(err));
		return;
	}
	log_debug("client", "stream %u connected to %s:%u", d->d_id, d->d_host,
	    d->d_port);
	d->d_fd = -1;	/* the stream's endpoint owns it now */
	if ((ep = gt_ep_plain_open(d->d_client->c_base, fd, NULL, NULL)) == NULL)
		gt_mux_refuse(d->d_mux, d->d_id, GT_STATUS_RESOURCE);
	else
		(void)gt_mux_accept(d->d_mux, d->d_id, ep);
	dial_free(d);
}

/* Start a non-blocking connect to one resolved address. */
static void
dial_start(struct client_dial *d, const struct sockaddr *sa, socklen_t salen)
{
	struct timeval	tv = { d->d_client->c_opts.dial_timeout, 0 };
	int		err;

	d->d_fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->d_fd == -1) {
		err = errno;
		dial_fail(d, err == EMFILE || err == ENFILE ? GT_STATUS_RESOURCE :
		    GT_STATUS_FAILED, strerror(err));
		return;
	}
	if (connect(d->d_fd, sa, salen) == -1 && errno != EINPROGRESS) {
		err = errno;
		dial_fail(d, client_status_for(err), strerror(err));
		return;
	}
	d->d_ev = event_new(d->d_client->c_base, d->d_fd, EV_WRITE,
	    dial_event_cb, d);
	if (d->d_ev == NULL || event_add(d->d_ev, &tv) == -1) {
		dial_fail(d, GT_STATUS_RESOURCE, "out of memory");
		return;
	}
}

/* The resolver answered for a target name. */
static void
dial_dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct client_dial *d = arg;

	d->d_in_dns = 0;
	d->d_req = NULL;
	if (d->d_dead) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		free(d);	/* already unlinked */
		return;
	}
	if (result != 0 || ai == NULL) {
		dial_fail(d, GT_STATUS_DNS, evutil_gai_strerror(result));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	dial_start(d, ai->ai_addr, (socklen_t)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
}

/* The server asks for host:port: check -allow, then dial without blocking. */
static void
client_connect_request(struct gt_mux *mux, uint32_t id, const char *host,
    uint16_t port, void *arg)
{
	struct gt_client	*c = arg;
	struct client_dial	*d;
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct evutil_addrinfo	 hints;
	char			 portstr[8];

	if (!gt_allow_match(&c->c_opts.allow, host, port)) {
		log_warnx("client", "refused stream %u to %s:%u: not in -allow",
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
	d->d_fd = -1;
	snprintf(d->d_host, sizeof(d->d_host), "%s", host);
	TAILQ_INSERT_TAIL(&c->c_dials, d, d_link);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		dial_start(d, (struct sockaddr *)sin, sizeof(*sin));
		return;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		dial_start(d, (struct sockaddr *)sin6, sizeof(*sin6));
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(portstr, sizeof(portstr), "%u", port);
	d->d_in_dns = 1;
	/* The callback may run before this returns; d_in_dns tells. */
	d->d_req = evdns_getaddrinfo(c->c_dns, host, portstr, &hints,
	    dial_dns_cb, d);
}

/* Cancel every dial of the tunnel that went away. */
static void
client_cancel_dials(struct gt_client *c)
{
	struct client_dial *d;

	while ((d = TAILQ_FIRST(&c->c_dials)) != NULL) {
		if (d->d_in_dns) {
			/* The resolver calls back once more; it frees d then. */
			TAILQ_REMOVE(&c->c_dials, d, d_link);
			d->d_dead = 1;
			if (d->d_req != NULL)
				evdns_getaddrinfo_cancel(d->d_req);
			continue;
		}
		dial_free(d);
	}
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

/* Dial the server at one resolved address. */
static void
client_dial_server(struct gt_client *c, const struct sockaddr *sa, socklen_t len)
{
	evutil_socket_t fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("client", "socket");
		client_retry(c);
		return;
	}
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		log_warn("client", "connect to %s", c->c_server);
		evutil_closesocket(fd);
		client_retry(c);
		return;
	}
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

/* The resolver answered for the server's name. */
static void
client_dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct gt_client *c = arg;

	c->c_in_dns = 0;
	c->c_req = NULL;
	if (result == EVUTIL_EAI_CANCEL) {
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		return;
	}
	if (result != 0 || ai == NULL) {
		log_warnx("client", "cannot resolve %s: %s", c->c_opts.server_host,
		    evutil_gai_strerror(result));
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		client_retry(c);
		return;
	}
	client_dial_server(c, ai->ai_addr, (socklen_t)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
}

/* One connection attempt. */
static void
client_connect(struct gt_client *c)
{
	struct evutil_addrinfo	hints;
	char			portstr[8];

	if (c->c_stopping)
		return;
	log_info("client", "connecting to %s", c->c_server);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(portstr, sizeof(portstr), "%u", c->c_opts.server_port);
	c->c_in_dns = 1;
	c->c_req = evdns_getaddrinfo(c->c_dns, c->c_opts.server_host, portstr,
	    &hints, client_dns_cb, c);
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
	if (strchr(o->server_host, ':') != NULL)
		snprintf(c->c_server, sizeof(c->c_server), "[%s]:%u",
		    o->server_host, o->server_port);
	else
		snprintf(c->c_server, sizeof(c->c_server), "%s:%u",
		    o->server_host, o->server_port);
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
	if (c->c_in_dns && c->c_req != NULL)
		evdns_getaddrinfo_cancel(c->c_req);
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
