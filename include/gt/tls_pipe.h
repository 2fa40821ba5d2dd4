/*
 * tls_pipe.h: server-side TLS as a transformation between evbuffers, with
 * no socket of its own: ciphertext in, plaintext out, and back. The HTTPS
 * API stacks it under libevent's evhttp in a filter bufferevent (libevent
 * 2.1's bufferevent_ssl is OpenSSL-only). It knows nothing of HTTP.
 */
#ifndef GT_TLS_PIPE_H
#define GT_TLS_PIPE_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;
struct gt_tls_ctx;
struct gt_tls_pipe;

enum gt_tls_pipe_rc {
	GT_TLS_PIPE_ERROR = -1,	/* handshake or record error: gt_tls_pipe_error() */
	GT_TLS_PIPE_AGAIN = 0,	/* needs more ciphertext (or made progress) */
	GT_TLS_PIPE_EOF = 1,	/* the peer sent close_notify */
};

/* A server-side pipe using ctx (referenced until free). NULL on ENOMEM. */
struct gt_tls_pipe *gt_tls_pipe_server(struct gt_tls_ctx *ctx);
void	gt_tls_pipe_free(struct gt_tls_pipe *);

/*
 * Consume ciphertext from rx; append plaintext to plain, stopping once
 * room bytes were added (room < 0: no bound) and nothing decrypted is left
 * inside mbedTLS, so a caller never has to poll for it (it may overshoot
 * room by less than one record, 16 KiB). Handshake messages go to tx.
 */
enum gt_tls_pipe_rc gt_tls_pipe_in(struct gt_tls_pipe *, struct evbuffer *rx,
	    struct evbuffer *plain, struct evbuffer *tx, ssize_t room);
/* Seal up to max bytes of plain into tx; before the handshake leaves them be. */
enum gt_tls_pipe_rc gt_tls_pipe_out(struct gt_tls_pipe *, struct evbuffer *plain,
	    size_t max, struct evbuffer *tx);
/* Whether the handshake is done (and the peer verified when asked for). */
int	gt_tls_pipe_ready(const struct gt_tls_pipe *);
/* Why the pipe failed (borrowed, valid until free). */
const char *gt_tls_pipe_error(const struct gt_tls_pipe *);
/* The verified client certificate's CN, or NULL (borrowed). */
const char *gt_tls_pipe_peer_cn(const struct gt_tls_pipe *);

#endif
