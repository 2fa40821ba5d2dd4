/*
 * gate.h: what stands between the API's sockets and evhttp. Each API
 * connection's bufferevent is a filter made here (evhttp_set_bevcb), so the
 * gate sees every connection from accept to close and every byte both
 * ways: it closes refused peers before reading anything, caps connections
 * in total and per address, bounds what a connection may buffer, puts a
 * deadline on a request's head and on its body, and carries TLS when the
 * API is HTTPS. evhttp 2.1 offers none of those hooks itself
 * (docs/SECURITY.md, "The API's connections").
 */
#ifndef GT_API_GATE_H
#define GT_API_GATE_H

#include <stdint.h>
#include <sys/socket.h>

struct bufferevent;
struct event_base;
struct evhttp_connection;
struct gt_tls_ctx;

struct evbuffer;

/*
 * Whether sa may talk to the API at all (the allowlist). When not, the
 * callback may put a whole HTTP answer in refusal: a plain HTTP peer gets
 * it at once, before anything is read, and the connection closes.
 */
typedef int api_gate_allow_fn(const struct sockaddr *sa, void *arg,
	    struct evbuffer *refusal);

struct api_gate_limits {
	int	 max_conns;		/* open connections */
	int	 max_per_ip;		/* open connections from one address */
	int	 head_timeout;		/* s for a request head */
	int	 body_timeout;		/* s for a request body */
};

/* Why the gate closed connections, for /metrics. */
struct api_gate_stats {
	uint64_t	 open;
	uint64_t	 refused_allow;
	uint64_t	 refused_max;
	uint64_t	 refused_per_ip;
	uint64_t	 deadline;
	uint64_t	 tls_failed;
};

struct api_gate;

/* tls: NULL for plain HTTP, else referenced until free. NULL on ENOMEM. */
struct api_gate *api_gate_new(struct event_base *, const struct api_gate_limits *,
	    struct gt_tls_ctx *tls, api_gate_allow_fn *, void *arg);
/* New TLS material for connections accepted from now on (referenced). */
void	api_gate_set_tls(struct api_gate *, struct gt_tls_ctx *);
/* Free after evhttp_free (which frees every connection first). */
void	api_gate_free(struct api_gate *);
/* evhttp_set_bevcb's callback: a new connection's filter bufferevent. */
struct bufferevent *api_gate_bevcb(struct event_base *, void *gate);
/* A whole request arrived on evcon (evhttp dispatches it): stop its clock. */
void	api_gate_request_done(struct api_gate *, struct evhttp_connection *);
/* The TLS client certificate's CN on evcon, or NULL (borrowed). */
const char *api_gate_peer_cn(struct api_gate *, struct evhttp_connection *);
const struct api_gate_stats *api_gate_stats(const struct api_gate *);

#endif
