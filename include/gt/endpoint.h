/*
 * endpoint.h: one byte stream over one socket, the only way gt does socket
 * I/O: public users, targets and tunnels alike (OpenSMTPD's struct io).
 * Plain TCP and mutual TLS (mbedTLS) are tables of functions behind it, so
 * callers see the same thing either way (redis's connection.h shape); an
 * in-memory table lets fuzzers and unit tests drive an owner with no socket.
 * An endpoint knows nothing of frames.
 *
 * Model: the owner reads plaintext from gt_ep_input() and appends plaintext
 * to gt_ep_output(), then calls gt_ep_kick(). The endpoint does all I/O from
 * the event loop and reports through one callback taking an event code.
 * Memory: input fills up to the read high-water mark (reading pauses there
 * and resumes by itself as the owner drains input); output is the owner's
 * to bound, helped by DRAINED at the low-water mark.
 */
#ifndef GT_ENDPOINT_H
#define GT_ENDPOINT_H

#include <stddef.h>
#include <event2/util.h>

struct event_base;
struct evbuffer;
struct gt_ep;
struct gt_rate;
struct gt_tls_ctx;

enum gt_ep_ev {
	GT_EP_EV_READY,		/* connected and, for TLS, handshake done and peer verified */
	GT_EP_EV_READ,		/* new plaintext appended to gt_ep_input() */
	GT_EP_EV_DRAINED,	/* output fell to or below the low-water mark */
	GT_EP_EV_EOF,		/* peer closed (after all its data was delivered) */
	GT_EP_EV_ERROR,		/* I/O, TLS or verification error, or timeout: gt_ep_error() */
};

/* The callback may call gt_ep_free() on c; the endpoint then touches c no more. */
typedef void gt_ep_cb(struct gt_ep *c, enum gt_ep_ev ev, void *arg);

/* A certificate serial's DER content octets, at most (RFC 5280: 20, + a 0x00). */
#define GT_EP_SERIAL_MAX	32

/*
 * TLS material, shared by connections, reference counted (SIGHUP swaps it).
 * A server context with client_ca NULL asks clients for no certificate.
 */
struct gt_tls_ctx *gt_tls_ctx_server(const char *cert, const char *key,
	    const char *client_ca, char *err, size_t errlen);
/*
 * The same with crl (NULL: none), a PEM CRL of client_ca: revoked client
 * certificates fail the handshake. Refused unless every CRL in it is
 * signed by a CA of client_ca and not past its nextUpdate, since mbedTLS
 * would then refuse every client.
 */
struct gt_tls_ctx *gt_tls_ctx_server_crl(const char *cert, const char *key,
	    const char *client_ca, const char *crl, char *err, size_t errlen);
/*
 * Whether a CRL of the context from issuer (its name, DER) lists serial
 * (DER content octets): 1 or 0.
 */
int	gt_tls_ctx_revoked(const struct gt_tls_ctx *, const unsigned char *issuer,
	    size_t issuer_len, const unsigned char *serial, size_t len);
/* How many certificates the context's CRL lists. */
size_t	gt_tls_ctx_crl_count(const struct gt_tls_ctx *);
struct gt_tls_ctx *gt_tls_ctx_client(const char *cert, const char *key,
	    const char *ca, char *err, size_t errlen);
void	gt_tls_ctx_ref(struct gt_tls_ctx *);
void	gt_tls_ctx_unref(struct gt_tls_ctx *);

/*
 * New endpoint on fd, which it owns from now on (closed at free, also on
 * failure). fd is non-blocking and may still be connecting: the endpoint
 * waits for the connect to finish, then reports READY. NULL on failure.
 */
struct gt_ep *gt_ep_plain(struct event_base *, evutil_socket_t fd,
	    gt_ep_cb *, void *arg);
/* A connected socket (accepted, or dialled already): open at once, no READY. */
struct gt_ep *gt_ep_plain_open(struct event_base *, evutil_socket_t fd,
	    gt_ep_cb *, void *arg);
struct gt_ep *gt_ep_tls_server(struct event_base *, evutil_socket_t fd,
	    struct gt_tls_ctx *, gt_ep_cb *, void *arg);
/* server_name: checked against the server certificate (CN/SAN). */
struct gt_ep *gt_ep_tls_client(struct event_base *, evutil_socket_t fd,
	    struct gt_tls_ctx *, const char *server_name, gt_ep_cb *, void *arg);
/*
 * In memory (no socket), open at once: what the owner writes is counted and
 * dropped (gt_ep_mem_written), input comes from gt_ep_mem_feed().
 */
struct gt_ep *gt_ep_mem(struct event_base *, gt_ep_cb *, void *arg);
/* Append len bytes to input and report READ (eof: then EOF). */
void	gt_ep_mem_feed(struct gt_ep *, const void *, size_t len, int eof);
/* Bytes written so far by a memory endpoint. */
size_t	gt_ep_mem_written(const struct gt_ep *);
/* Keep a memory endpoint's written bytes in dst (borrowed; NULL: drop them). */
void	gt_ep_mem_capture(struct gt_ep *, struct evbuffer *dst);
/* Let a memory endpoint refuse writes (the peer does not read) or take them. */
void	gt_ep_mem_block(struct gt_ep *, int blocked);

/* Change who hears the events (e.g. hand a READY connection to the mux). */
void	gt_ep_setcb(struct gt_ep *, gt_ep_cb *, void *arg);

/* Borrowed buffers, valid until gt_ep_free(). */
struct evbuffer *gt_ep_input(struct gt_ep *);
struct evbuffer *gt_ep_output(struct gt_ep *);
/* Send what output holds, from the event loop (never inside this call). */
void	gt_ep_kick(struct gt_ep *);
/* DRAINED fires when output falls to <= lowat after having been above it. */
void	gt_ep_set_lowat(struct gt_ep *, size_t lowat);
/* Read at most until input holds hiwat bytes (0: no cap, the default). */
void	gt_ep_set_read_hiwat(struct gt_ep *, size_t hiwat);
/* Stop/resume reading the socket (input still holds what was read). */
void	gt_ep_read_enable(struct gt_ep *, int on);
/*
 * Pace reading the socket by rd and writing it by wr (token buckets,
 * rate.h; referenced until changed or freed; NULL: unpaced). A paced
 * endpoint waits its turn instead of reading or writing: it is paused,
 * never failed, and backpressure does the rest. Writes are paced while
 * open; the flush of gt_ep_shutdown() is not.
 */
void	gt_ep_set_rate(struct gt_ep *, struct gt_rate *rd, struct gt_rate *wr);
/* The bucket reading is paced by, or NULL (a relay splicing reads by it). Borrowed. */
struct gt_rate *gt_ep_read_rate(const struct gt_ep *);
/* EOF leaves the endpoint open for writing (TCP half-close); off by default. */
void	gt_ep_set_halfclose(struct gt_ep *, int on);
/* Send our FIN once output is written; reading goes on. */
void	gt_ep_shutdown_write(struct gt_ep *);
/* Bytes given to output that the socket has not taken yet. */
size_t	gt_ep_out_pending(const struct gt_ep *);
/* The peer's EOF arrived; our FIN went out. */
int	gt_ep_is_eof(const struct gt_ep *);
int	gt_ep_write_done(const struct gt_ep *);
/* Give up with ERROR if READY has not come within secs (0: never). */
void	gt_ep_set_handshake_timeout(struct gt_ep *, int secs);
/* Flush output, send TLS close_notify, then report EOF/ERROR; for clean stops. */
void	gt_ep_shutdown(struct gt_ep *);
void	gt_ep_free(struct gt_ep *);

int	gt_ep_is_tls(const struct gt_ep *);
/* The event base it runs on. Borrowed. */
struct event_base *gt_ep_base(const struct gt_ep *);
/* The socket, for getsockname/getpeername/splice; -1 in memory. Borrowed. */
evutil_socket_t gt_ep_fd(const struct gt_ep *);
/* Verified peer certificate's CN (TLS, after READY), else NULL. Borrowed. */
const char *gt_ep_peer_cn(const struct gt_ep *);
/* Its serial number's DER content octets (*len 0 if none). Borrowed. */
const unsigned char *gt_ep_peer_serial(const struct gt_ep *, size_t *len);
/* Its issuer's name, DER (*len 0 if none). Borrowed. */
const unsigned char *gt_ep_peer_issuer(const struct gt_ep *, size_t *len);
/* "ip:port" of the peer. Borrowed. */
const char *gt_ep_peer_addr(const struct gt_ep *);
/* Negotiated ciphersuite name, or "plain". Borrowed. */
const char *gt_ep_cipher(const struct gt_ep *);
/* Why the last ERROR happened. Borrowed. */
const char *gt_ep_error(const struct gt_ep *);

#endif
