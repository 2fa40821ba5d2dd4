/*
 * transport.h: a byte stream over one socket, plain TCP or mutual TLS
 * (mbedTLS), behind one table of functions so that callers (the mux) see
 * the same thing either way (redis's connection.h shape). The transport
 * knows nothing of frames.
 *
 * Model: the caller reads plaintext from gt_conn_input() and appends
 * plaintext to gt_conn_output(), then calls gt_conn_kick(). The transport
 * owns the socket and does all I/O from the event loop, reporting through
 * one callback taking an event code (OpenSMTPD's io_callback shape).
 */
#ifndef GT_TRANSPORT_H
#define GT_TRANSPORT_H

#include <stddef.h>
#include <event2/util.h>

struct event_base;
struct evbuffer;
struct gt_conn;
struct gt_tls_ctx;

enum gt_conn_ev {
	GT_CONN_EV_READY,	/* connected and, for TLS, handshake done and peer verified */
	GT_CONN_EV_READ,	/* new plaintext appended to gt_conn_input() */
	GT_CONN_EV_DRAINED,	/* output fell to or below the low-water mark */
	GT_CONN_EV_EOF,		/* peer closed (after all its data was delivered) */
	GT_CONN_EV_ERROR,	/* I/O, TLS or verification error, or timeout: gt_conn_error() */
};

/* The callback may call gt_conn_free() on c; the transport then touches c no more. */
typedef void gt_conn_cb(struct gt_conn *c, enum gt_conn_ev ev, void *arg);

/* TLS material, shared by connections, reference counted (SIGHUP swaps it). */
struct gt_tls_ctx *gt_tls_ctx_server(const char *cert, const char *key,
	    const char *client_ca, char *err, size_t errlen);
struct gt_tls_ctx *gt_tls_ctx_client(const char *cert, const char *key,
	    const char *ca, char *err, size_t errlen);
void	gt_tls_ctx_ref(struct gt_tls_ctx *);
void	gt_tls_ctx_unref(struct gt_tls_ctx *);

/*
 * New connection on fd, which it owns from now on (closed at free, also on
 * failure). fd is non-blocking and may still be connecting: the transport
 * waits for the connect to finish first. NULL on failure.
 */
struct gt_conn *gt_conn_plain(struct event_base *, evutil_socket_t fd,
	    gt_conn_cb *, void *arg);
struct gt_conn *gt_conn_tls_server(struct event_base *, evutil_socket_t fd,
	    struct gt_tls_ctx *, gt_conn_cb *, void *arg);
/* server_name: checked against the server certificate (CN/SAN). */
struct gt_conn *gt_conn_tls_client(struct event_base *, evutil_socket_t fd,
	    struct gt_tls_ctx *, const char *server_name, gt_conn_cb *, void *arg);

/* Change who hears the events (e.g. hand a READY connection to the mux). */
void	gt_conn_setcb(struct gt_conn *, gt_conn_cb *, void *arg);

/* Borrowed buffers, valid until gt_conn_free(). */
struct evbuffer *gt_conn_input(struct gt_conn *);
struct evbuffer *gt_conn_output(struct gt_conn *);
/* Send what output holds, from the event loop (never inside this call). */
void	gt_conn_kick(struct gt_conn *);
/* DRAINED fires when output falls to <= lowat after having been above it. */
void	gt_conn_set_lowat(struct gt_conn *, size_t lowat);
/* Stop/resume reading the socket (input still holds what was read). */
void	gt_conn_read_enable(struct gt_conn *, int on);
/* Give up with ERROR if READY has not come within secs (0: never). */
void	gt_conn_set_handshake_timeout(struct gt_conn *, int secs);
/* Flush output, send TLS close_notify, then report EOF/ERROR; for clean stops. */
void	gt_conn_shutdown(struct gt_conn *);
void	gt_conn_free(struct gt_conn *);

int	gt_conn_is_tls(const struct gt_conn *);
/* Verified peer certificate's CN (TLS, after READY), else NULL. Borrowed. */
const char *gt_conn_peer_cn(const struct gt_conn *);
/* "ip:port" of the peer. Borrowed. */
const char *gt_conn_peer_addr(const struct gt_conn *);
/* Negotiated ciphersuite name, or "plain". Borrowed. */
const char *gt_conn_cipher(const struct gt_conn *);
/* Why the last ERROR happened. Borrowed. */
const char *gt_conn_error(const struct gt_conn *);

#endif
